"""Validation of the observed entries: COO triplets, a SciPy sparse matrix, or a dense array + mask."""
from __future__ import annotations

import numbers

import numpy as np

from ...backends import as_float_array, device, get_namespace, to_numpy

__all__ = ["Observations", "as_observations"]


class Observations:
    """The observed entries of an ``m x n`` matrix, validated (what a completion method receives).

    Attributes
    ----------
    shape : tuple of int
        ``(m, n)``.
    rows, cols : numpy.ndarray of int64
        Host index arrays (index structure; set-up data).
    values : array
        Observed values in the caller's namespace, device and dtype.
    nnz : int
        Number of observations.
    xp, device
        Namespace and device of ``values``.
    """

    def __init__(self, values, rows, cols, shape, xp, dev):
        self.values, self.rows, self.cols = values, rows, cols
        self.shape, self.xp, self.device = shape, xp, dev
        self.nnz = int(rows.shape[0])

    def counts(self):
        """Observations per row and per column (host)."""
        m, n = self.shape
        return np.bincount(self.rows, minlength=m), np.bincount(self.cols, minlength=n)

    def check_truth(self, truth, xp):
        """``None``, an (m, n) array or a pair (L, R) of factors, in ``xp`` and the values' dtype."""
        if truth is None:
            return None
        m, n = self.shape
        dt = self.values.dtype
        if isinstance(truth, tuple):
            if len(truth) != 2:
                raise ValueError("Option 'truth' must be an (m, n) array or a pair (L, R)")
            L = as_float_array(truth[0], "truth[0]", xp, self.device, dt)
            R = as_float_array(truth[1], "truth[1]", xp, self.device, dt)
            if L.ndim != 2 or R.ndim != 2 or L.shape[0] != m or R.shape[0] != n \
                    or L.shape[1] != R.shape[1]:
                raise ValueError(f"Option 'truth' factors must have shapes ({m}, r) and ({n}, r); "
                                 f"got {tuple(L.shape)} and {tuple(R.shape)}")
            return (L, R)
        T = as_float_array(truth, "truth", xp, self.device, dt)
        if tuple(T.shape) != (m, n):
            raise ValueError(f"Option 'truth' must have shape {(m, n)}; got {tuple(T.shape)}")
        return T

    def check_test_set(self, test_set, xp):
        """``None`` or a held-out triple ``(rows, cols, values)`` moved to ``xp``."""
        if test_set is None:
            return None
        if len(test_set) != 3:
            raise ValueError("Option 'test_set' must be a triple (rows, cols, values)")
        r = _index_array(test_set[0], "test_set rows", self.shape[0])
        c = _index_array(test_set[1], "test_set cols", self.shape[1])
        v = as_float_array(test_set[2], "test_set values", xp, self.device, self.values.dtype)
        if v.ndim != 1 or v.shape[0] != r.shape[0] or c.shape[0] != r.shape[0]:
            raise ValueError("Option 'test_set': rows, cols and values must be 1-D of equal length")
        kw = {"device": self.device} if self.device is not None else {}
        return xp.asarray(r, **kw), xp.asarray(c, **kw), v


def _is_sparse(a):
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        return False
    return sp.issparse(a)


def _index_array(a, name, bound):
    """Host int64 1-D index array in [0, bound)."""
    h = to_numpy(a) if not isinstance(a, np.ndarray) else a
    try:
        h = np.asarray(h)
    except Exception as exc:
        raise TypeError(f"{name} must be an integer array; got {type(a).__name__}") from exc
    if h.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {h.shape}")
    if h.size and h.dtype.kind not in "iu":
        if h.dtype.kind == "f" and np.all(np.isfinite(h)) and np.all(h == np.round(h)):
            h = h.astype(np.int64)
        else:
            raise TypeError(f"{name} must be an integer array; got dtype {h.dtype}")
    h = h.astype(np.int64, copy=False)
    if h.size and (h.min() < 0 or h.max() >= bound):
        bad = h[(h < 0) | (h >= bound)][0]
        raise ValueError(f"{name} must lie in [0, {bound}); got index {int(bad)}")
    return h


def _shape(shape):
    if (not isinstance(shape, (tuple, list)) or len(shape) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)):
        raise TypeError(f"shape must be a pair of ints (m, n); got {shape!r}")
    m, n = int(shape[0]), int(shape[1])
    if m < 1 or n < 1:
        raise ValueError(f"shape must be positive; got {(m, n)}")
    return m, n


def as_observations(values, rows, cols, shape, rank, mask=None):
    """Validate the three call forms and the rank; return ``(Observations, rank)``."""
    if _is_sparse(values):
        if rows is not None or cols is not None or mask is not None:
            raise TypeError("with a SciPy sparse matrix, do not pass rows, cols or mask")
        S = values.tocoo()
        S.sum_duplicates()
        if shape is not None and tuple(shape) != S.shape:
            raise ValueError(f"shape {tuple(shape)} differs from the sparse matrix's {S.shape}")
        shape = S.shape
        values, rows, cols = np.asarray(S.data), np.asarray(S.row), np.asarray(S.col)
    xp = get_namespace(values)
    dev = device(values)
    if getattr(values, "ndim", np.ndim(values)) == 2:
        if mask is None and rows is not None and getattr(rows, "ndim", np.ndim(rows)) == 2:
            mask, rows = rows, None
        if mask is None:
            raise TypeError("a 2-D values array needs mask= (boolean, same shape: True = observed)")
        if rows is not None or cols is not None:
            raise TypeError("with a dense values array and a mask, do not pass rows or cols")
        M = as_float_array(values, "values", xp, dev)
        W = np.asarray(to_numpy(mask))
        if W.shape != tuple(M.shape):
            raise ValueError(f"mask must have the shape of values {tuple(M.shape)}; got {W.shape}")
        if W.dtype != bool:
            raise TypeError(f"mask must be a boolean array; got dtype {W.dtype}")
        if shape is not None and tuple(shape) != tuple(M.shape):
            raise ValueError(f"shape {tuple(shape)} differs from values' {tuple(M.shape)}")
        shape = tuple(M.shape)
        flat = np.flatnonzero(W)
        rows, cols = flat // shape[1], flat % shape[1]
        kw = {"device": dev} if dev is not None else {}
        values = xp.take(xp.reshape(M, (-1,)), xp.asarray(flat, **kw), axis=0)
    elif mask is not None:
        raise TypeError("mask= is only for a 2-D values array")
    if shape is None:
        raise TypeError("shape=(m, n) is required with COO triplets (values, rows, cols)")
    if rows is None or cols is None:
        raise TypeError("rows and cols are required with 1-D values (COO triplets)")
    m, n = _shape(shape)
    v = as_float_array(values, "values", xp, dev)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D (COO) or 2-D with a mask; got shape {tuple(v.shape)}")
    r = _index_array(rows, "rows", m)
    c = _index_array(cols, "cols", n)
    if not (r.shape[0] == c.shape[0] == v.shape[0]):
        raise ValueError(f"values, rows and cols must have equal lengths; got {v.shape[0]}, "
                         f"{r.shape[0]} and {c.shape[0]}")
    if v.shape[0] == 0:
        raise ValueError("values must contain at least one observation")
    if not bool(xp.all(xp.isfinite(v))):
        raise ValueError("values must not contain inf or NaN (observed entries)")
    lin = np.sort(r * n + c)
    same = lin[1:] == lin[:-1]
    if same.any():
        d = lin[1:][same][0]
        raise ValueError(f"(rows, cols) contain duplicated entries, e.g. ({d // n}, {d % n}); "
                         "aggregate them first (a SciPy sparse matrix input sums duplicates)")
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral):
        raise TypeError(f"rank must be an int; got {type(rank).__name__}")
    if not 1 <= rank <= min(m, n):
        raise ValueError(f"rank must lie in [1, min(m, n)] = [1, {min(m, n)}]; got {rank}")
    return Observations(v, r, c, (m, n), xp, dev), int(rank)
