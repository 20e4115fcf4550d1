"""Sketch-and-project hot loops for the KKT system ``K z = b`` (generic Array-API references).

Each kernel runs up to ``S.shape[0]`` (or ``len(idx)``) projection steps on the pair
``(z, r)``, ``r = K z - b``, stopping before a step as soon as ``||r|| <= thresh``.
The residual is updated incrementally (``r <- r - a K u``), and recomputed as
``K z - b`` every ``recompute_every`` steps (counted globally from ``start``) to
control drift. The sketch draws come from the caller (one host NumPy generator),
so the generic kernels and their Numba twins in :mod:`._numba_kernels` follow the
same iterates.

Kernels return ``(z, r, steps)``. ``K`` may be any object supporting ``K @ v``
(a dense array, a SciPy sparse matrix for NumPy input, or a matrix-free operator);
the Numba twins accept a dense NumPy array (``*_dense``) or a SciPy CSR matrix
(``*_csr``).
"""
from __future__ import annotations

from ...backends import register_kernel

_NUMBA = "xpsolve.solvers.constrained._numba_kernels"


def _dot(a, b, xp):
    return float(xp.sum(a * b))


def gv_steps(K, z, r, b, S, thresh, recompute_every, start, *, xp):
    """Gaussian-vector sketch: ``u = K s``, ``z <- z - (s^T r / u^T u) u``, ``r <- r - (s^T r / u^T u) K u``.

    ``S`` has shape ``(c, N)``: one Gaussian sketch vector per row.
    """
    t2 = thresh * thresh
    steps = 0
    for j in range(S.shape[0]):
        if _dot(r, r, xp) <= t2:
            break
        s = S[j, :]
        u = K @ s
        uu = _dot(u, u, xp)
        if uu > 0.0:
            a = _dot(s, r, xp) / uu
            z = z - a * u
            r = r - a * (K @ u)
        steps += 1
        if (start + steps) % recompute_every == 0:
            r = K @ z - b
    return z, r, steps


def _row(K, i, xp, N):
    if hasattr(K, "row"):
        return K.row(i)
    if hasattr(K, "getrow"):  # SciPy sparse (NumPy input only)
        return xp.asarray(K.getrow(i).toarray()[0])
    return K[i, :]


def rk_steps(K, KK, rownorm2, z, r, b, idx, thresh, recompute_every, start, *, xp):
    """Randomized Kaczmarz: project on row ``i``: ``z <- z - (r_i / ||K_i||^2) K_i^T``.

    ``K`` is symmetric, so the residual update is ``r <- r - (r_i/||K_i||^2) K K_i^T``;
    ``KK`` (optional) holds ``K K`` so that this costs one column read. Zero rows
    (``rownorm2[i] == 0``) are skipped; ``rownorm2`` may be ``None`` (computed on the fly).
    """
    t2 = thresh * thresh
    N = int(z.shape[0])
    steps = 0
    for j in range(len(idx)):
        if _dot(r, r, xp) <= t2:
            break
        i = int(idx[j])
        row = None
        if rownorm2 is None:
            row = _row(K, i, xp, N)
            rn = _dot(row, row, xp)
        else:
            rn = float(rownorm2[i])
        if rn > 0.0:
            a = float(r[i]) / rn
            if row is None:
                row = _row(K, i, xp, N)
            z = z - a * row
            if KK is not None:
                r = r - a * KK[:, i]
            else:
                r = r - a * (K @ row)
        steps += 1
        if (start + steps) % recompute_every == 0:
            r = K @ z - b
    return z, r, steps


register_kernel("adasketch_gv_dense", generic=gv_steps, numba=f"{_NUMBA}:gv_steps_dense")
register_kernel("adasketch_gv_csr", generic=gv_steps, numba=f"{_NUMBA}:gv_steps_csr")
register_kernel("adasketch_rk_dense", generic=rk_steps, numba=f"{_NUMBA}:rk_steps_dense")
register_kernel("adasketch_rk_csr", generic=rk_steps, numba=f"{_NUMBA}:rk_steps_csr")
