"""Sensing operators of the blind-calibration model y_l = diag(d) A_l x, l = 1..p.

Every operator the solvers see has ``shape = (p, m, n)`` and two batched products:

- ``forward(x)``: ``(n,) -> (p, m)``, all snapshots ``A_l x`` at once;
- ``adjoint(R)``: ``(p, m) -> (n,)``, the sum over snapshots ``sum_l A_l^T r_l``.

:func:`as_sensing_operator` wraps what users pass (a dense ``(p, m, n)`` stack, a SciPy
``LinearOperator`` or a PyLops operator of shape ``(p*m, n)``, a sequence of ``p``
operators of shape ``(m, n)``, or an object with ``forward``/``adjoint``) into a
:class:`CountingOperator` that also counts the batched products.
"""
from __future__ import annotations

import math

import numpy as np

from ...backends import to_numpy

__all__ = ["DenseSensing", "RandomConvolution", "CountingOperator", "as_sensing_operator"]


class DenseSensing:
    """A dense stack ``A`` of shape ``(p, m, n)`` stored as ``(p*m, n)``: one GEMV per product."""

    def __init__(self, A, xp):
        p, m, n = A.shape
        self.shape = (p, m, n)
        self.xp = xp
        self.A2 = xp.reshape(A, (p * m, n))
        self.dense = A

    def forward(self, x):
        p, m, _ = self.shape
        return self.xp.reshape(self.A2 @ x, (p, m))

    def adjoint(self, R):
        p, m, _ = self.shape
        return self.xp.reshape(R, (p * m,)) @ self.A2


class RandomConvolution:
    r"""Random circular convolutions ``A_l x = c_l \circledast x`` computed with the namespace's FFT.

    Matrix-free sensing for imaging: ``filters`` has shape ``(p, *signal_shape)``
    (1-D signals: ``(p, n)``; images: ``(p, H, W)``); the signal ``x`` is the flattened
    ``signal_shape`` array, so ``m = n = prod(signal_shape)``. Each product costs
    ``O(p n log n)`` through ``xp.fft.rfftn`` / ``irfftn`` (CuPy's cuFFT on a GPU,
    ``torch.fft`` for torch).

    Parameters
    ----------
    filters : array of shape ``(p, *signal_shape)``
        Real filters (i.i.d. +-1 entries give isotropic rows, E[a a^T] = I).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.calibration import RandomConvolution
    >>> c = np.sign(np.random.default_rng(0).standard_normal((2, 4, 4)))
    >>> op = RandomConvolution(c)
    >>> op.shape
    (2, 16, 16)
    >>> op.forward(np.ones(16)).shape
    (2, 16)
    """

    def __init__(self, filters, *, xp=None):
        from ...backends import get_namespace

        self.xp = xp = get_namespace(filters, xp=xp)
        if not hasattr(filters, "shape") or len(filters.shape) < 2:
            raise ValueError("filters must have shape (p, *signal_shape)")
        self.signal_shape = tuple(int(s) for s in filters.shape[1:])
        p = int(filters.shape[0])
        n = math.prod(self.signal_shape)
        self.shape = (p, n, n)
        self.axes = tuple(range(1, 1 + len(self.signal_shape)))
        self.filters = filters
        self.F = xp.fft.rfftn(filters, axes=self.axes)

    def forward(self, x):
        xp = self.xp
        p, m, _ = self.shape
        X = xp.fft.rfftn(xp.reshape(x, (1, *self.signal_shape)), axes=self.axes)
        out = xp.fft.irfftn(self.F * X, s=self.signal_shape, axes=self.axes)
        return xp.reshape(out, (p, m))

    def adjoint(self, R):
        xp = self.xp
        p = self.shape[0]
        Rf = xp.fft.rfftn(xp.reshape(R, (p, *self.signal_shape)), axes=self.axes)
        S = xp.sum(xp.conj(self.F) * Rf, axis=0)
        out = xp.fft.irfftn(S, s=self.signal_shape, axes=tuple(a - 1 for a in self.axes))
        return xp.reshape(out, (self.shape[2],))

    def todense(self):
        """The dense ``(p, m, n)`` stack (host NumPy; for tests and small sizes)."""
        p, m, n = self.shape
        eye = np.eye(n)
        cols = [to_numpy(self.forward(self.xp.asarray(eye[:, j]))) for j in range(n)]
        return np.stack(cols, axis=-1)


class _StackedLinearOperator:
    """A SciPy ``LinearOperator`` / PyLops operator of shape ``(p*m, n)`` (``matvec``/``rmatvec``).

    SciPy operators act on NumPy arrays: for another namespace the vectors make one host
    round-trip per product (documented; use :class:`RandomConvolution` or a PyLops
    operator built on the namespace's arrays to stay on the device).
    """

    def __init__(self, op, p, m, xp, host):
        self.op, self.xp, self.host = op, xp, host
        self.shape = (p, m, int(op.shape[1]))

    def _in(self, v):
        return to_numpy(v) if self.host else v

    def _out(self, v, like):
        if self.host:                               # host round-trip (SciPy operators)
            from ...backends import asarray_on, device

            v = asarray_on(np.asarray(v, dtype=np.float64), self.xp, device(like), like.dtype)
        return v

    def forward(self, x):
        p, m, _ = self.shape
        z = self._out(self.op.matvec(self._in(x)), x)
        return self.xp.reshape(self.xp.asarray(z), (p, m))

    def adjoint(self, R):
        p, m, n = self.shape
        r = self._in(self.xp.reshape(R, (p * m,)))
        return self.xp.reshape(self.xp.asarray(self._out(self.op.rmatvec(r), R)), (n,))


class _OperatorList:
    """A sequence of ``p`` operators of shape ``(m, n)`` (``matvec``/``rmatvec`` or dense)."""

    def __init__(self, ops, m, xp, host):
        self.ops = [_StackedLinearOperator(op, 1, m, xp, host) for op in ops]
        self.xp = xp
        self.shape = (len(ops), m, self.ops[0].shape[2])

    def forward(self, x):
        return self.xp.concat([op.forward(x) for op in self.ops], axis=0)

    def adjoint(self, R):
        out = self.ops[0].adjoint(R[0:1, :])
        for i, op in enumerate(self.ops[1:], start=1):
            out = out + op.adjoint(R[i:i + 1, :])
        return out


class CountingOperator:
    """Wraps a sensing operator and counts batched forward/adjoint products."""

    def __init__(self, op):
        self.op = op
        self.shape = tuple(op.shape)
        self.n_forward = 0
        self.n_adjoint = 0

    @property
    def dense(self):
        return getattr(self.op, "dense", None)

    def forward(self, x):
        self.n_forward += 1
        return self.op.forward(x)

    def adjoint(self, R):
        self.n_adjoint += 1
        return self.op.adjoint(R)


def _is_matvec_op(obj) -> bool:
    return all(hasattr(obj, a) for a in ("matvec", "rmatvec", "shape"))


def _needs_host(op, xp) -> bool:
    from scipy.sparse.linalg import LinearOperator

    from ...backends import is_numpy_namespace

    return isinstance(op, LinearOperator) and not is_numpy_namespace(xp)


def as_sensing_operator(A, p, m, xp, dtype):
    """Wrap the user's sensing argument ``A`` for ``p`` snapshots of ``m`` sensors.

    Returns ``(op, n)``; ``op`` is a :class:`CountingOperator`. Raises ``ValueError``
    / ``TypeError`` naming ``A`` when its shape or type does not fit ``y``.
    """
    from ...backends import as_float_array, check_finite

    if hasattr(A, "forward") and hasattr(A, "adjoint"):
        shape = tuple(getattr(A, "shape", ()))
        if len(shape) != 3:
            raise ValueError("A: an operator object with forward/adjoint needs shape = (p, m, n); "
                             f"got {shape!r}")
        if shape[:2] != (p, m):
            raise ValueError(f"A has shape {shape} but y has shape ({p}, {m}): (p, m) must agree")
        return CountingOperator(A), int(shape[2])
    if _is_matvec_op(A):
        if len(A.shape) != 2:
            raise ValueError(f"A: a linear operator must be 2-D (p*m, n); got shape {tuple(A.shape)}")
        rows, n = (int(s) for s in A.shape)
        if rows != p * m:
            raise ValueError(f"A: a linear operator must have shape (p*m, n) = ({p * m}, n) "
                             f"for y of shape ({p}, {m}); got {tuple(A.shape)}")
        return CountingOperator(_StackedLinearOperator(A, p, m, xp, _needs_host(A, xp))), n
    if isinstance(A, (list, tuple)) and A and all(_is_matvec_op(a) for a in A):
        if len(A) != p:
            raise ValueError(f"A: a sequence of operators needs one per snapshot (p = {p}); got {len(A)}")
        shapes = {tuple(int(s) for s in a.shape) for a in A}
        if len(shapes) != 1 or next(iter(shapes))[0] != m:
            raise ValueError(f"A: every operator of the sequence must have shape (m, n) with m = {m}; "
                             f"got {sorted(shapes)}")
        op = _OperatorList(list(A), m, xp, any(_needs_host(a, xp) for a in A))
        return CountingOperator(op), op.shape[2]
    A = as_float_array(A, "A", xp, dtype=dtype)
    if A.ndim != 3:
        raise ValueError(f"A must be a (p, m, n) array or a linear operator; got shape {tuple(A.shape)}")
    if tuple(A.shape[:2]) != (p, m):
        raise ValueError(f"A has shape {tuple(A.shape)} but y has shape ({p}, {m}): (p, m) must agree")
    if A.shape[2] < 1:
        raise ValueError("A must have n >= 1 columns")
    check_finite(A, "A", xp)
    return CountingOperator(DenseSensing(A, xp)), int(A.shape[2])
