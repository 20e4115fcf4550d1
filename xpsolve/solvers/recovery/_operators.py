"""Measurement operators of the recovery family and the checks of ``(A, y, rank)``.

Three input forms, one protocol. An operator has integer attributes ``m`` (number of
measurements) and ``d`` (matrix size) and two methods:

- ``apply(U)``: the measurements of :math:`X = U U^\\top`, i.e. the ``(m,)`` vector
  :math:`(\\langle A_i, U U^\\top\\rangle)_i`, for ``U`` of shape ``(d, k)``;
- ``adjoint(w, U)``: :math:`\\mathrm{sym}(\\mathcal A^*(w))\\, U` with
  :math:`\\mathcal A^*(w) = \\sum_i w_i A_i` and
  :math:`\\mathrm{sym}(M) = (M + M^\\top)/2`, shape ``(d, k)``.

The built-in :class:`DenseOperator` (a stack of ``m`` matrices, shape ``(m, d, d)``)
and :class:`RankOneOperator` (vectors ``a_i``, shape ``(m, d)``, with
:math:`A_i = a_i a_i^\\top`) implement it with fused kernels; any user object with
``m``, ``d``, ``apply`` and ``adjoint`` works as well (e.g. a structured or
matrix-free operator).
"""
from __future__ import annotations

import numbers

from ...backends import as_float_array, check_finite, device, get_kernel, get_namespace
from . import _kernels  # noqa: F401  (registers the kernels)

__all__ = ["DenseOperator", "RankOneOperator", "as_operator", "validate_recovery_inputs"]


class DenseOperator:
    """Dense stack of measurement matrices ``A`` of shape ``(m, d, d)``.

    Only the symmetric part of each :math:`A_i` matters (:math:`U U^\\top` is
    symmetric), so the stack is symmetrised once and stored flattened, ``(m, d*d)``.
    Cost per iteration: :math:`O(m d^2)` flops, memory :math:`m d^2` numbers.

    Parameters
    ----------
    A : array of shape (m, d, d)
        The measurement matrices, in any array-API namespace.
    xp : namespace, optional
        The array namespace (default: that of ``A``).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.recovery import DenseOperator
    >>> rng = np.random.default_rng(0)
    >>> A, U = rng.standard_normal((5, 3, 3)), rng.standard_normal((3, 1))
    >>> op = DenseOperator(A)
    >>> op.m, op.d, bool(np.allclose(op.apply(U), np.einsum("ijk,jk->i", A, U @ U.T)))
    (5, 3, True)
    """

    kind = "dense"

    def __init__(self, A, *, xp=None):
        xp = get_namespace(A, xp=xp)
        self.xp = xp
        self.m, self.d = int(A.shape[0]), int(A.shape[1])
        sym = (A + xp.permute_dims(A, (0, 2, 1))) / 2
        self.Af = xp.reshape(sym, (self.m, self.d * self.d))
        self.dtype = A.dtype

    def apply(self, U):
        xp = self.xp
        return self.Af @ xp.reshape(U @ U.T, (self.d * self.d,))

    def adjoint(self, w, U):
        return self.xp.reshape(w @ self.Af, (self.d, self.d)) @ U

    def prepare(self):
        """Fetch the kernel once per solve (Numba twin or generic, per the current config)."""
        self._kern = get_kernel("recovery_dense_fused", self.xp)

    def fused(self, U, y, l1):
        """``(res, sym(A*(w)) U)`` with ``w = sign(res)`` (l1) or ``res`` (l2)."""
        xp = self.xp
        kern = getattr(self, "_kern", None) or get_kernel("recovery_dense_fused", xp)
        res, g = kern(self.Af, y, xp.reshape(U @ U.T, (self.d * self.d,)), l1, xp=xp)
        return xp.asarray(res), xp.reshape(xp.asarray(g), (self.d, self.d)) @ U

    def matrix_adjoint(self, w):
        """:math:`\\mathrm{sym}(\\mathcal A^*(w))` as a ``(d, d)`` matrix (spectral init, tests)."""
        return self.xp.reshape(w @ self.Af, (self.d, self.d))


class RankOneOperator:
    """Rank-one (quadratic-sensing) measurements :math:`A_i = a_i a_i^\\top`, ``a`` of shape ``(m, d)``.

    :math:`\\langle A_i, U U^\\top\\rangle = \\|U^\\top a_i\\|^2`; the adjoint times ``U``
    is :math:`a^\\top \\mathrm{diag}(w)\\, a U`. Cost :math:`O(m d k)` per iteration, no
    ``d x d`` matrix. Not covered by the SubGM paper's analysis (see the docs page).

    Parameters
    ----------
    a : array of shape (m, d)
        The measurement vectors :math:`a_i` (rows), in any array-API namespace.
    xp : namespace, optional
        The array namespace (default: that of ``a``).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.recovery import RankOneOperator
    >>> rng = np.random.default_rng(0)
    >>> a, U = rng.standard_normal((5, 3)), rng.standard_normal((3, 1))
    >>> op = RankOneOperator(a)
    >>> bool(np.allclose(op.apply(U), ((a @ U) ** 2).sum(axis=1)))      # ||U^T a_i||^2
    True
    """

    kind = "rank1"

    def __init__(self, a, *, xp=None):
        xp = get_namespace(a, xp=xp)
        self.xp = xp
        self.Ad = a
        self.m, self.d = int(a.shape[0]), int(a.shape[1])
        self.dtype = a.dtype

    def apply(self, U):
        V = self.Ad @ U
        return self.xp.sum(V * V, axis=1)

    def adjoint(self, w, U):
        return self.Ad.T @ (w[:, None] * (self.Ad @ U))

    def prepare(self):
        self._kern = get_kernel("recovery_rank1_fused", self.xp)

    def fused(self, U, y, l1):
        xp = self.xp
        kern = getattr(self, "_kern", None) or get_kernel("recovery_rank1_fused", xp)
        res, G = kern(self.Ad, y, U, l1, xp=xp)
        return xp.asarray(res), xp.asarray(G)

    def matrix_adjoint(self, w):
        return self.Ad.T @ (w[:, None] * self.Ad)


class _UserOperator:
    """Adapter giving a user object (``m``, ``d``, ``apply``, ``adjoint``) the fused method."""

    kind = "user"

    def __init__(self, op, xp, dtype):
        self.op, self.xp, self.dtype = op, xp, dtype
        self.m, self.d = int(op.m), int(op.d)

    def prepare(self):
        pass

    def check(self, U, y):
        """Validate the object's output shapes once, on the starting factor."""
        r = self.op.apply(U)
        if tuple(getattr(r, "shape", ())) != (self.m,):
            raise ValueError(f"A.apply(U) must return an array of shape ({self.m},); "
                             f"got {getattr(r, 'shape', type(r).__name__)}")
        g = self.op.adjoint(self.xp.ones_like(y), U)
        if tuple(getattr(g, "shape", ())) != tuple(U.shape):
            raise ValueError(f"A.adjoint(w, U) must return an array of the shape of U "
                             f"{tuple(U.shape)}; got {getattr(g, 'shape', type(g).__name__)}")

    def apply(self, U):
        return self.op.apply(U)

    def adjoint(self, w, U):
        return self.op.adjoint(w, U)

    def fused(self, U, y, l1):
        res = self.op.apply(U) - y
        w = self.xp.sign(res) if l1 else res
        return res, self.op.adjoint(w, U)

    def matrix_adjoint(self, w):
        xp = self.xp
        return self.op.adjoint(w, xp.eye(self.d, dtype=self.dtype))


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def as_operator(A, *, xp=None, dtype=None):
    """Wrap ``A`` (a ``(m, d, d)`` stack, ``(m, d)`` rank-one vectors, or an operator object)."""
    if hasattr(A, "apply") and hasattr(A, "adjoint") and not hasattr(A, "shape"):
        if isinstance(A, (DenseOperator, RankOneOperator, _UserOperator)):
            return A
        if not (callable(A.apply) and callable(A.adjoint)):
            raise TypeError("A.apply and A.adjoint must be callable")
        m, d = getattr(A, "m", None), getattr(A, "d", None)
        if not (_is_int(m) and _is_int(d) and m >= 1 and d >= 1):
            raise TypeError("an operator object A must have positive integer attributes "
                            f"'m' and 'd'; got m={m!r}, d={d!r}")
        if xp is None:
            raise TypeError("an operator object A needs the namespace of y")
        return _UserOperator(A, xp, dtype)
    if isinstance(A, (str, bytes, dict, set)) or A is None:
        raise TypeError("A must be an array of shape (m, d, d) or (m, d), or an object with "
                        f"'m', 'd', 'apply' and 'adjoint'; got {type(A).__name__}")
    xp = get_namespace(A, xp=xp)
    A = as_float_array(A, "A", xp, device(A) if hasattr(A, "shape") else None, dtype=dtype)
    if A.ndim == 3:
        if A.shape[1] != A.shape[2]:
            raise ValueError(f"A must have shape (m, d, d) (square matrices); got {tuple(A.shape)}")
        kind = DenseOperator
    elif A.ndim == 2:
        kind = RankOneOperator
    else:
        raise ValueError("A must be a stack of matrices of shape (m, d, d) or rank-one vectors "
                         f"of shape (m, d); got an array with shape {tuple(A.shape)}")
    if A.shape[0] < 1 or A.shape[1] < 1:
        raise ValueError(f"A must have at least one measurement and d >= 1; got shape {tuple(A.shape)}")
    check_finite(A, "A", xp)
    return kind(A, xp=xp)


def validate_recovery_inputs(A, y, rank):
    """Check ``(A, y, rank)``; return ``(op, y, rank, xp)`` with ``y`` a float vector in ``xp``."""
    if hasattr(A, "shape"):
        xp = get_namespace(A, y)
        device(A, y)
    else:
        xp = get_namespace(y)
    if y is None or isinstance(y, (str, bytes, dict)):
        raise TypeError(f"y must be a 1-D array of measurements; got {type(y).__name__}")
    dtype = None
    if hasattr(A, "shape") and hasattr(A, "dtype"):
        a_arr = as_float_array(A, "A", xp, device(A))
        y_arr = as_float_array(y, "y", xp, device(A))
        dtype = xp.result_type(a_arr.dtype, y_arr.dtype)
        A = a_arr
    y = as_float_array(y, "y", xp, device(y) if hasattr(y, "shape") else None, dtype=dtype)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one value per measurement); got shape {tuple(y.shape)}")
    check_finite(y, "y", xp)
    op = as_operator(A, xp=xp, dtype=y.dtype)
    if op.m != y.shape[0]:
        raise ValueError(f"A has {op.m} measurements but y has {y.shape[0]} entries")
    if not _is_int(rank):
        raise TypeError(f"rank must be an int; got {type(rank).__name__}")
    if not 1 <= rank <= op.d:
        raise ValueError(f"rank must be in [1, d] = [1, {op.d}]; got {rank}")
    return op, y, int(rank), xp
