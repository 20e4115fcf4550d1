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

from ...backends import is_numpy_namespace, register_kernel

_NUMBA = "xpsolve.solvers.constrained._numba_kernels"


import numpy as np

_BLOCK = 64  # sketch steps fused into one block by the generic kernels


def _dot(a, b, xp):
    return float(xp.sum(a * b))


def _matmat(K, X, xp):
    """``K X`` for an (N, q) block; matrix-free operators get one product per column."""
    if hasattr(K, "row"):
        return xp.stack([K @ X[:, j] for j in range(X.shape[1])], axis=1)
    return K @ X


def _host(a):
    from ...backends import to_numpy

    return np.asarray(to_numpy(a), dtype=np.float64)


def _fused_block(z, r, U, P, V, thresh, xp):
    """Run ``q`` successive sketch-and-project steps at once (BLAS-3 form).

    Step ``j`` projects with sketch column ``s_j`` (``u_j = K s_j`` is column ``j``
    of ``U``): ``a_j = s_j^T r_j / u_j^T u_j``, ``z <- z - a_j u_j``,
    ``r <- r - a_j K u_j``. Because ``r_j = r_0 - sum_{i<j} a_i K u_i`` and ``K`` is
    symmetric, ``s_j^T r_j = P_j - sum_{i<j} (u_j^T u_i) a_i`` with ``P = S^T r_0``:
    the step lengths solve the lower-triangular system ``tril(U^T U) a = P`` (a
    Gauss-Seidel sweep on the sketched normal equations). The iterates are the
    sequential ones in exact arithmetic, including the stop before the first step
    at which ``||r_j|| <= thresh`` (the residuals of every step are formed as one
    GEMM ``r_0 - V T``, ``V = K U``, ``T`` upper triangular). A zero column
    ``u_j`` is skipped (``a_j = 0``), as in the sequential loop. Returns ``(z, r, k)``.
    """
    q = U.shape[1]
    M = _host(U.T @ U)
    Ph = _host(P)
    d = np.diag(M).copy()
    a = np.zeros(q)
    if np.all(d > 0.0):
        from scipy.linalg import solve_triangular

        a = solve_triangular(M, Ph, lower=True, check_finite=False)
    else:
        for j in range(q):
            if d[j] > 0.0:
                a[j] = (Ph[j] - M[j, :j] @ a[:j]) / d[j]
    T = np.triu(np.ones((q, q))) * a[:, None]
    Tb = _on(T, z, xp)
    R = r[:, None] - V @ Tb  # column j: residual after steps 0..j
    norms = _host(xp.sum(R * R, axis=0))
    hit = np.flatnonzero(norms <= thresh * thresh)
    k = int(hit[0]) + 1 if hit.size else q
    ab = _on(a[:k], z, xp)
    z = z - U[:, :k] @ ab
    r = R[:, k - 1]
    return z, r, k


def _run_blocks(K, z, r, b, count, thresh, recompute_every, start, block, xp):
    """Drive ``count`` sketch steps in fused blocks; ``block(lo, q, r) -> (U, S^T r, K U)``.

    Blocks end at the residual recomputations (every ``recompute_every`` global steps,
    counted from ``start``) so that the iterates match the step-by-step Numba twins.
    """
    t2 = thresh * thresh
    steps = 0
    while steps < count:
        if _dot(r, r, xp) <= t2:
            break
        g = start + steps
        q = min(count - steps, _BLOCK, recompute_every - g % recompute_every)
        U, P, V = block(steps, q, r)
        z, r, k = _fused_block(z, r, U, P, V, thresh, xp)
        steps += k
        if (start + steps) % recompute_every == 0:
            r = K @ z - b
        if k < q:
            break
    return z, r, steps


def gv_steps(K, z, r, b, S, thresh, recompute_every, start, *, xp):
    """Gaussian-vector sketch: ``u = K s``, ``z <- z - (s^T r / u^T u) u``, ``r <- r - (s^T r / u^T u) K u``.

    ``S`` has shape ``(c, N)``: one Gaussian sketch vector per row. The steps run in
    fused blocks of up to 64 (:func:`_fused_block`; blocks end at the residual
    recomputations), which replaces about ten small device operations and a host
    synchronisation per step by a few GEMMs per block.
    """
    def block(lo, q, r):
        Sb = S[lo:lo + q, :]
        U = _matmat(K, Sb.T, xp)
        return U, Sb @ r, _matmat(K, U, xp)

    return _run_blocks(K, z, r, b, S.shape[0], thresh, recompute_every, start, block, xp)


def gv_steps_rng(K, z, r, b, rng, count, thresh, recompute_every, start, *, xp):
    """:func:`gv_steps` on ``count`` sketches drawn as ``rng.standard_normal((count, N))``.

    ``rng`` is the host NumPy generator; the draws are moved to ``z``'s namespace and
    device. The Numba twins draw the same rows inside their compiled loop.
    """
    S = rng.standard_normal((int(count), int(z.shape[0])))
    if not is_numpy_namespace(xp):
        S = _on(S, z, xp)
    return gv_steps(K, z, r, b, S, thresh, recompute_every, start, xp=xp)


def _rows(K, idx, xp):
    """Rows ``idx`` of the symmetric ``K`` as the columns of an (N, q) block."""
    if hasattr(K, "row"):
        return xp.stack([K.row(int(i)) for i in idx], axis=1)
    if hasattr(K, "getrow"):  # SciPy sparse (NumPy input only)
        return xp.asarray(K[np.asarray(idx), :].toarray().T)
    return xp.take(K, _index(idx, K, xp), axis=1)


def _on(a, like, xp, dtype=None):
    """Host array ``a`` in ``like``'s namespace, on its device (``like``'s dtype by default)."""
    dev = getattr(like, "device", None)
    return xp.asarray(a, dtype=like.dtype if dtype is None else dtype,
                      **({"device": dev} if dev is not None else {}))


def _index(idx, like, xp):
    return _on(np.asarray(idx, dtype=np.int64), like, xp, dtype=xp.int64)


def rk_steps(K, KK, rownorm2, z, r, b, idx, thresh, recompute_every, start, *, xp):
    """Randomized Kaczmarz: project on row ``i``: ``z <- z - (r_i / ||K_i||^2) K_i^T``.

    ``K`` is symmetric, so the residual update is ``r <- r - (r_i/||K_i||^2) K K_i^T``;
    ``KK`` (optional) holds ``K K`` so that this costs one column read. Zero rows are
    skipped. The steps run in fused blocks as in :func:`gv_steps` (the sketch is
    ``S = [e_i1, e_i2, ...]``, so ``U`` holds the sampled rows and ``U^T U`` their
    Gram matrix). ``rownorm2`` is accepted for the Numba twins' signature; the
    block form reads the squared norms off the Gram diagonal.
    """
    idx = np.asarray(idx)

    def block(lo, q, r):
        ib = idx[lo:lo + q]
        U = _rows(K, ib, xp)
        V = _rows(KK, ib, xp) if KK is not None else _matmat(K, U, xp)
        return U, xp.take(r, _index(ib, r, xp), axis=0), V

    return _run_blocks(K, z, r, b, len(idx), thresh, recompute_every, start, block, xp)


register_kernel("adasketch_gv", generic=gv_steps)  # matrix-free operators (no twin)
register_kernel("adasketch_rk", generic=rk_steps)
register_kernel("adasketch_gv_rng", generic=gv_steps_rng)  # matrix-free operators (no twin)
register_kernel("adasketch_gv_dense_rng", generic=gv_steps_rng,
                numba=f"{_NUMBA}:gv_steps_dense_rng")
register_kernel("adasketch_gv_csr_rng", generic=gv_steps_rng, numba=f"{_NUMBA}:gv_steps_csr_rng")
register_kernel("adasketch_gv_dense", generic=gv_steps, numba=f"{_NUMBA}:gv_steps_dense")
register_kernel("adasketch_gv_csr", generic=gv_steps, numba=f"{_NUMBA}:gv_steps_csr")
register_kernel("adasketch_rk_dense", generic=rk_steps, numba=f"{_NUMBA}:rk_steps_dense")
register_kernel("adasketch_rk_csr", generic=rk_steps, numba=f"{_NUMBA}:rk_steps_csr")
