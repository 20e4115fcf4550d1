"""Generic (array-API) kernels of robust alternating minimization: the batched per-row solves.

Every kernel works on one :class:`~._data.Side` (observations grouped by the factor
row being solved for) and a fixed factor ``F``; it processes the side's bucketed,
padded chunks (:meth:`Side.chunks`) with batched linear algebra, so the same code
runs on NumPy, array-api-strict, torch and CuPy. The Numba twins in
``_numba_kernels.py`` loop over the CSR rows instead and must agree with these
(tests/solvers/test_completion.py, parity tests).

Per-row rule shared by all solvers (row with ``N`` observations, ridge ``lam``):
``N == 0`` -> zero row; ``N < k`` and ``lam == 0`` -> the previous row is kept
(the least-squares problem is under-determined; flagged by the solver).
"""
from __future__ import annotations

from ...backends import register_kernel
from ._data import assemble, gather_rows

_NB = "xpsolve.solvers.completion._numba_kernels"

# a sketched Gram with a Cholesky pivot below SKETCH_REL * sqrt(max_j G_jj) (cond(S A) >~ 1e7)
# is replaced by a QR of [S A; sqrt(lam) I] for that row (same rule in the Numba twin)
SKETCH_REL = 1e-7


def _chunk_flags(side, ch, lam_c, k, xp):
    cnt = xp.sum(ch.mask, axis=1)
    empty = cnt == 0
    keep = (cnt < k) & (lam_c == 0) & ~empty
    return empty, keep


def _eye(k, xp, F):
    return xp.eye(k, dtype=F.dtype, device=getattr(F, "device", None)) if hasattr(F, "device") \
        else xp.eye(k, dtype=F.dtype)


def _exact_chunk(A, ch, x0, lam_c, empty, keep, k, xp, I):
    """Batched normal-equation solve for one chunk: (A^T A + lam I) x = A^T b."""
    G = xp.matmul(xp.matrix_transpose(A), A) + lam_c[:, None, None] * I
    h = xp.sum(A * ch.val[:, :, None], axis=1)
    bad = (empty | keep)[:, None, None]
    G = xp.where(bad, I, G)
    h = xp.where(keep[:, None], x0, xp.where(empty[:, None], 0.0 * h, h))
    try:
        x = xp.linalg.solve(G, h[:, :, None])[:, :, 0]
    except Exception:  # a singular Gram in the batch: pseudo-inverse for the whole chunk
        x = xp.matmul(xp.linalg.pinv(G), h[:, :, None])[:, :, 0]
    return x


def rowsolve_exact(side, F, X0, lam, *, xp):
    """Exact per-row least squares (batched Cholesky-class solve of the k x k Grams)."""
    k = F.shape[1]
    I = _eye(k, xp, F)
    parts = []
    for ch in side.chunks(k):
        x0 = xp.take(X0, ch.rows, axis=0)
        if ch.L == 0:
            parts.append(0.0 * x0)
            continue
        lam_c = xp.take(lam, ch.rows, axis=0)
        empty, keep = _chunk_flags(side, ch, lam_c, k, xp)
        A = gather_rows(F, ch, xp)
        parts.append(_exact_chunk(A, ch, x0, lam_c, empty, keep, k, xp, I))
    X = assemble(side, parts, k, xp, F.dtype)
    return X, xp.zeros((side.n_rows,), dtype=xp.int64, device=side.dev) if side.dev is not None \
        else xp.zeros((side.n_rows,), dtype=xp.int64)


def _normal_matvec(A, p, lam_c, xp):
    Ap = xp.sum(A * p[:, None, :], axis=2)
    return xp.sum(A * Ap[:, :, None], axis=1) + lam_c[:, None] * p


def _pcg_chunk(A, ch, x, lam_c, active0, tol, maxit, xp, Rinv=None):
    """Batched (preconditioned) CG on the normal equations, rows stopping individually.

    A row stops when ||r|| <= tol * ||A^T b|| (tol = 0: exactly ``maxit`` steps, the
    fixed-step mode), when ``maxit`` steps are done, or on a non-positive curvature
    (breakdown). ``Rinv`` (B, k, k): preconditioner M^{-1} = Rinv Rinv^T.
    """
    h = xp.sum(A * ch.val[:, :, None], axis=1)
    r = h - _normal_matvec(A, x, lam_c, xp)
    thr = tol * xp.sqrt(xp.sum(h * h, axis=1))

    def prec(v):
        if Rinv is None:
            return v
        w = xp.matmul(xp.matrix_transpose(Rinv), v[:, :, None])
        return xp.matmul(Rinv, w)[:, :, 0]

    z = prec(r)
    p = z
    rz = xp.sum(r * z, axis=1)
    done = ~active0
    iters = xp.zeros(x.shape[:1], dtype=xp.int64, device=getattr(x, "device", None)) \
        if hasattr(x, "device") else xp.zeros(x.shape[:1], dtype=xp.int64)
    for step in range(maxit):
        rn = xp.sqrt(xp.sum(r * r, axis=1))
        done = done | ~(rn > thr)
        if step % 4 == 0 and bool(xp.all(done)):
            break
        q = _normal_matvec(A, p, lam_c, xp)
        pq = xp.sum(p * q, axis=1)
        done = done | ~(pq > 0)
        act = ~done
        alpha = xp.where(act, rz / xp.where(act, pq, 1.0), 0.0)
        x = x + alpha[:, None] * p
        r = r - alpha[:, None] * q
        z = prec(r)
        rz_new = xp.sum(r * z, axis=1)
        beta = xp.where(act, rz_new / xp.where(act, rz, 1.0), 0.0)
        p = xp.where(act[:, None], z + beta[:, None] * p, p)
        rz = xp.where(act, rz_new, rz)
        iters = iters + xp.astype(act, xp.int64)
    return x, iters


def rowsolve_cg(side, F, X0, lam, *, tol, maxit, xp):
    """Warm-started CG per row on the normal equations (matvec O(N k) via gathered rows)."""
    k = F.shape[1]
    xs, its = [], []
    for ch in side.chunks(k):
        x0 = xp.take(X0, ch.rows, axis=0)
        if ch.L == 0:
            xs.append(0.0 * x0)
            its.append(xp.astype(xp.sum(0.0 * x0, axis=1), xp.int64))
            continue
        lam_c = xp.take(lam, ch.rows, axis=0)
        empty, keep = _chunk_flags(side, ch, lam_c, k, xp)
        A = gather_rows(F, ch, xp)
        x, it = _pcg_chunk(A, ch, x0, lam_c, ~(empty | keep), tol, maxit, xp)
        xs.append(xp.where(empty[:, None], 0.0 * x, x))
        its.append(it)
    X = assemble(side, xs, k, xp, F.dtype)
    it = xp.take(xp.concat(its, axis=0), side.inverse_order(), axis=0)
    return X, it


def _sketch_chunk(A, ch, x0, lam_c, bucket, sign, s, k, tol, maxit, xp, I):
    """CountSketch preconditioner per row, sketch-and-solve start, then PCG."""
    B, L = ch.B, ch.L
    dev = getattr(A, "device", None)
    ar = xp.arange(s, device=dev) if dev is not None else xp.arange(s)
    bk = xp.take(bucket, xp.reshape(ch.pos, (-1,)), axis=0)
    sg = xp.take(sign, xp.reshape(ch.pos, (-1,)), axis=0)
    bk = xp.reshape(bk, (B, L))
    sg = xp.reshape(sg, (B, L)) * ch.mask
    H = xp.astype(bk[:, None, :] == ar[None, :, None], A.dtype) * sg[:, None, :]   # (B, s, L)
    SA = xp.matmul(H, A)
    Sb = xp.matmul(H, ch.val[:, :, None])[:, :, 0]
    # preconditioner R^T R = (S A)^T (S A) + lam I: Cholesky of the k x k sketched Gram,
    # O(s k^2 + k^3) per row, instead of a QR of the (s + k) x k matrix [S A; sqrt(lam) I]
    # (same R up to signs; the Gram squares cond(S A), so rows with a Cholesky pivot ratio
    # below SKETCH_REL are solved exactly, as in the Numba twin)
    G = xp.matmul(xp.matrix_transpose(SA), SA) + lam_c[:, None, None] * I
    h_s = xp.matmul(xp.matrix_transpose(SA), Sb[:, :, None])[:, :, 0]
    floor = SKETCH_REL * xp.sqrt(xp.max(xp.linalg.diagonal(G), axis=1))
    try:
        Lc = xp.linalg.cholesky(G)
        d = xp.linalg.diagonal(Lc)
        ok = (xp.min(d, axis=1) > floor) & xp.all(xp.isfinite(d), axis=1)
    except Exception:   # a non-positive-definite Gram in the batch
        Lc, ok = I + 0.0 * G, floor < floor
    Ls = xp.where(ok[:, None, None], Lc, I)
    Rinv = xp.matrix_transpose(xp.linalg.inv(Ls))          # M^{-1} = Rinv Rinv^T, R = L^T
    x_ss = xp.matmul(Rinv, xp.matmul(xp.matrix_transpose(Rinv), h_s[:, :, None]))[:, :, 0]
    if not bool(xp.all(ok)):   # too ill-conditioned for the Gram: QR of [S A; sqrt(lam) I]
        root = xp.sqrt(lam_c)[:, None, None] * I
        Q, R = xp.linalg.qr(xp.concat([SA, root], axis=1))
        dq = xp.abs(xp.linalg.diagonal(R))
        okq = xp.min(dq, axis=1) > 1e-12 * xp.max(dq, axis=1)
        use = okq & ~ok
        Rs = xp.where(use[:, None, None], R, I)
        Sb0 = xp.concat([Sb, 0.0 * Sb[:, :k]], axis=1)
        xq = xp.linalg.solve(Rs, xp.matmul(xp.matrix_transpose(Q), Sb0[:, :, None]))[:, :, 0]
        Rinv = xp.where(use[:, None, None], xp.linalg.inv(Rs), Rinv)
        x_ss = xp.where(use[:, None], xq, x_ss)
        ok = ok | okq

    def obj(x):
        res = xp.sum(A * x[:, None, :], axis=2) - ch.val
        return xp.sum(res * res, axis=1) + lam_c * xp.sum(x * x, axis=1)

    x = xp.where((obj(x_ss) < obj(x0))[:, None], x_ss, x0)
    x, it = _pcg_chunk(A, ch, x, lam_c, ok, tol, maxit, xp, Rinv=Rinv)
    if not bool(xp.all(ok)):   # degenerate sketch: exact solve for those rows
        none = ok & ~ok
        xe = _exact_chunk(A, ch, x0, lam_c, none, none, k, xp, I)
        x = xp.where(ok[:, None], x, xe)
    return x, it


def rowsolve_sketch(side, F, X0, lam, *, tol, maxit, bucket, sign, s, min_rows, xp):
    """Sketch-preconditioned solves on rows with >= ``min_rows`` observations, exact below."""
    k = F.shape[1]
    I = _eye(k, xp, F)
    xs, its = [], []
    for ch in side.chunks(s + k, split=min_rows):
        x0 = xp.take(X0, ch.rows, axis=0)
        if ch.L == 0:
            xs.append(0.0 * x0)
            its.append(xp.astype(xp.sum(0.0 * x0, axis=1), xp.int64))
            continue
        lam_c = xp.take(lam, ch.rows, axis=0)
        A = gather_rows(F, ch, xp)
        if ch.min_count >= min_rows:
            x, it = _sketch_chunk(A, ch, x0, lam_c, bucket, sign, s, k, tol, maxit, xp, I)
        else:
            empty, keep = _chunk_flags(side, ch, lam_c, k, xp)
            x = _exact_chunk(A, ch, x0, lam_c, empty, keep, k, xp, I)
            it = xp.astype(xp.sum(0.0 * x, axis=1), xp.int64)
        xs.append(x)
        its.append(it)
    X = assemble(side, xs, k, xp, F.dtype)
    it = xp.take(xp.concat(its, axis=0), side.inverse_order(), axis=0)
    return X, it


def spmm(side, X, *, xp):
    """``P_Omega(M) @ X`` on this side: row ``i`` of the output is sum_l val_l X[idx_l]."""
    k = X.shape[1]
    parts = []
    for ch in side.chunks(k):
        if ch.L == 0:
            parts.append(xp.zeros((ch.B, k), dtype=X.dtype, device=side.dev) if side.dev
                         is not None else xp.zeros((ch.B, k), dtype=X.dtype))
            continue
        A = gather_rows(X, ch, xp)
        parts.append(xp.sum(A * ch.val[:, :, None], axis=1))
    return assemble(side, parts, k, xp, X.dtype)


def residual_sq(side, U, V, *, xp):
    """Sum over observed entries of (U_i . V_j - M_ij)^2 (``side`` = the row side)."""
    total = xp.sum(0.0 * U[:1, 0])
    for ch in side.chunks(V.shape[1]):
        if ch.L == 0:
            continue
        A = gather_rows(V, ch, xp)
        u = xp.take(U, ch.rows, axis=0)
        res = (xp.sum(A * u[:, None, :], axis=2) - ch.val) * ch.mask
        total = total + xp.sum(res * res)
    return total


register_kernel("completion_rowsolve_exact", generic=rowsolve_exact,
                numba=f"{_NB}:rowsolve_exact")
register_kernel("completion_rowsolve_cg", generic=rowsolve_cg, numba=f"{_NB}:rowsolve_cg")
register_kernel("completion_rowsolve_sketch", generic=rowsolve_sketch,
                numba=f"{_NB}:rowsolve_sketch")
register_kernel("completion_spmm", generic=spmm, numba=f"{_NB}:spmm")
register_kernel("completion_residual_sq", generic=residual_sq, numba=f"{_NB}:residual_sq")
