"""Hot loops of the entropic-OT solvers: generic Array-API references.

Numba twins live in :mod:`xpsolve.solvers.ot._numba_kernels` and are registered
here by dotted path, so Numba is imported only when a kernel is first requested.

Conventions: potentials ``f`` (rows) and ``g`` (columns) in cost units, plan
``P_ij = exp((f_i + g_j - C_ij) / reg)``.
"""
from __future__ import annotations

from ...backends import register_kernel

_NUMBA = "xpsolve.solvers.ot._numba_kernels"


def lse_update_rows(C, g, log_a, reg, *, xp):
    """Row potential update ``f_i = reg * log a_i - reg * LSE_j((g_j - C_ij) / reg)``.

    This is the exact maximiser of the entropic dual in ``f`` for fixed ``g``
    (one Sinkhorn half-step in the log domain), computed with a max shift so
    that it neither overflows nor underflows.
    """
    Z = g[None, :] - C
    mx = xp.max(Z, axis=1)
    s = xp.sum(xp.exp((Z - mx[:, None]) / reg), axis=1)
    return reg * log_a - mx - reg * xp.log(s)


def lse_update_cols(C, f, log_b, reg, *, xp):
    """Column potential update ``g_j = reg * log b_j - reg * LSE_i((f_i - C_ij) / reg)``."""
    Z = f[:, None] - C
    mx = xp.max(Z, axis=0)
    s = xp.sum(xp.exp((Z - mx[None, :]) / reg), axis=0)
    return reg * log_b - mx - reg * xp.log(s)


def gibbs(C, f, g, reg, *, xp):
    """Absorbed Gibbs kernel ``exp((f_i + g_j - C_ij) / reg)`` (the plan at ``(f, g)``)."""
    return xp.exp((f[:, None] + g[None, :] - C) / reg)


register_kernel("ot_lse_update_rows", generic=lse_update_rows, numba=f"{_NUMBA}:lse_update_rows")
register_kernel("ot_lse_update_cols", generic=lse_update_cols, numba=f"{_NUMBA}:lse_update_cols")
register_kernel("ot_gibbs", generic=gibbs, numba=f"{_NUMBA}:gibbs")
