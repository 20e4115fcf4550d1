"""Hot loops of the recovery family: one fused residual / weighted-adjoint pass per iteration.

Each kernel evaluates the residuals ``res = A(U U^T) - y`` and, in the same pass over
the measurement data, the weighted adjoint ``A*(w)`` with ``w = sign(res)`` (l1 loss,
``l1=True``) or ``w = res`` (least squares, ``l1=False``). The generic versions below
use only the array API (two matrix products, BLAS / cuBLAS); the Numba twins in
:mod:`._numba_kernels` read the measurement data once instead of twice.
"""
from __future__ import annotations

from ...backends import register_kernel

_NUMBA = "xpsolve.solvers.recovery._numba_kernels"


def dense_fused(Af, y, x, l1, *, xp):
    """Dense stack: ``Af`` (m, d*d) symmetrised, ``x = vec(U U^T)``; returns ``(res, g)``.

    ``res = Af @ x - y`` and ``g = w @ Af`` (the flattened ``A*(w)``, shape (d*d,)).
    """
    res = Af @ x - y
    w = xp.sign(res) if l1 else res
    return res, w @ Af


def rank1_fused(Ad, y, U, l1, *, xp):
    """Rank-one operator ``A_i = a_i a_i^T``: ``Ad`` (m, d), ``U`` (d, r); returns ``(res, G)``.

    ``res_i = ||U^T a_i||^2 - y_i`` and ``G = A*(w) U = Ad^T (w * (Ad U))`` (shape (d, r)),
    without forming any d x d matrix.
    """
    V = Ad @ U
    res = xp.sum(V * V, axis=1) - y
    w = xp.sign(res) if l1 else res
    return res, Ad.T @ (w[:, None] * V)


register_kernel("recovery_dense_fused", generic=dense_fused, numba=f"{_NUMBA}:dense_fused")
register_kernel("recovery_rank1_fused", generic=rank1_fused, numba=f"{_NUMBA}:rank1_fused")
