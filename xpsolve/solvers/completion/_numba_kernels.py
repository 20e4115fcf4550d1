"""Numba twins of the completion kernels: loops over the CSR rows of a :class:`~._data.Side`.

Same signatures and per-row rules as the generic kernels in ``_kernels.py``; the
k x k algebra (Cholesky, triangular solves, CG) is written out so nothing
allocates inside the row loop. Serial (``nogil``): on the project's 2-core CI
machine a ``prange`` version gave no measured gain, so none is shipped.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _chol_solve(G, h, k):
    """In-place Cholesky of G (lower) and solve G x = h into h; False on a tiny pivot."""
    for j in range(k):
        s = G[j, j]
        d0 = s
        for p in range(j):
            s -= G[j, p] * G[j, p]
        if not (s > 64.0 * 2.220446049250313e-16 * abs(d0)) or not math.isfinite(s):
            return False
        d = math.sqrt(s)
        G[j, j] = d
        for i in range(j + 1, k):
            t = G[i, j]
            for p in range(j):
                t -= G[i, p] * G[j, p]
            G[i, j] = t / d
    _apply_prec(G, h, h, k)  # the two triangular solves, in place
    return True


@njit(cache=True, nogil=True)
def _gram(indptr, idx, vals, F, i, lam, G, h, k):
    G[:, :] = 0.0
    h[:] = 0.0
    for l in range(indptr[i], indptr[i + 1]):
        r = idx[l]
        v = vals[l]
        for p in range(k):
            fp = F[r, p]
            h[p] += fp * v
            for q in range(p + 1):
                G[p, q] += fp * F[r, q]
    for p in range(k):
        G[p, p] += lam
        for q in range(p):
            G[q, p] = G[p, q]


@njit(cache=True, nogil=True)
def _gather(indptr, idx, vals, F, i, A, b):
    """Copy the rows F[idx[row i]] into A[:N] and the values into b[:N]; return N."""
    N = indptr[i + 1] - indptr[i]
    for t in range(N):
        l = indptr[i] + t
        A[t, :] = F[idx[l], :]
        b[t] = vals[l]
    return N


@njit(cache=True, nogil=True)
def _gram_blas(A, b, N, lam, G, h, k):
    """G = A[:N]^T A[:N] + lam I, h = A[:N]^T b[:N] (BLAS through np.dot)."""
    As = A[:N]
    G[:, :] = np.dot(As.T, As)
    h[:] = np.dot(As.T, b[:N])
    for p in range(k):
        G[p, p] += lam


@njit(cache=True, nogil=True)
def _exact_row(indptr, idx, vals, F, X0, i, lam, G, h, out, k):
    if k >= 8:   # BLAS pays off from moderate k; scalar loops below
        A = np.empty((indptr[i + 1] - indptr[i], k))
        b = np.empty(indptr[i + 1] - indptr[i])
        N = _gather(indptr, idx, vals, F, i, A, b)
        _gram_blas(A, b, N, lam, G, h, k)
    else:
        _gram(indptr, idx, vals, F, i, lam, G, h, k)
    if _chol_solve(G, h, k):
        out[i, :] = h
    else:
        out[i, :] = X0[i, :]


@njit(cache=True, nogil=True)
def _exact_nb(indptr, idx, vals, F, X0, lam, out):
    k = F.shape[1]
    G = np.empty((k, k))
    h = np.empty(k)
    for i in range(indptr.shape[0] - 1):
        N = indptr[i + 1] - indptr[i]
        if N == 0:
            out[i, :] = 0.0
        elif N < k and lam[i] == 0.0:
            out[i, :] = X0[i, :]
        else:
            _exact_row(indptr, idx, vals, F, X0, i, lam[i], G, h, out, k)


@njit(cache=True, nogil=True)
def _apply_prec(L, v, z, k):
    """z = (L L^T)^{-1} v (L lower triangular: a Cholesky factor); ``z`` may be ``v`` (in place)."""
    for i in range(k):
        t = v[i]
        for p in range(i):
            t -= L[i, p] * z[p]
        z[i] = t / L[i, i]
    for i in range(k - 1, -1, -1):
        t = z[i]
        for p in range(i + 1, k):
            t -= L[p, i] * z[p]
        z[i] = t / L[i, i]


@njit(cache=True, nogil=True)
def _pcg_row(A, b, N, lam, x, tol, maxit, L, use_prec, k, r, z, p, q):
    """(Preconditioned) CG on the normal equations of the gathered rows A[:N], b[:N].

    Matrix-free: each step costs two matrix-vector products with A (O(N k), BLAS).
    Stops when ||r|| <= tol ||A^T b||, after ``maxit`` steps, or on breakdown.
    ``L``: lower Cholesky factor of the preconditioner M = L L^T (used when ``use_prec``).
    """
    As = A[:N]
    bs = b[:N]
    h = np.dot(As.T, bs)
    thr = tol * math.sqrt(np.dot(h, h))
    r[:] = h - np.dot(As.T, np.dot(As, x)) - lam * x
    if use_prec:
        _apply_prec(L, r, z, k)
    else:
        z[:] = r
    p[:] = z
    rz = np.dot(r, z)
    it = 0
    while it < maxit:
        if not (math.sqrt(np.dot(r, r)) > thr):
            break
        q[:] = np.dot(As.T, np.dot(As, p)) + lam * p
        pq = np.dot(p, q)
        if not (pq > 0.0):
            break
        alpha = rz / pq
        x += alpha * p
        r -= alpha * q
        if use_prec:
            _apply_prec(L, r, z, k)
        else:
            z[:] = r
        rz_new = np.dot(r, z)
        beta = rz_new / rz
        p[:] = z + beta * p
        rz = rz_new
        it += 1
    return it


@njit(cache=True, nogil=True)
def _cg_nb(indptr, idx, vals, F, X0, lam, tol, maxit, out, iters):
    k = F.shape[1]
    x = np.empty(k)
    r = np.empty(k)
    z = np.empty(k)
    p = np.empty(k)
    q = np.empty(k)
    R = np.empty((1, 1))
    nmax = 0
    for i in range(indptr.shape[0] - 1):
        nmax = max(nmax, indptr[i + 1] - indptr[i])
    A = np.empty((nmax, k))
    b = np.empty(nmax)
    for i in range(indptr.shape[0] - 1):
        N = indptr[i + 1] - indptr[i]
        iters[i] = 0
        if N == 0:
            out[i, :] = 0.0
        elif N < k and lam[i] == 0.0:
            out[i, :] = X0[i, :]
        else:
            x[:] = X0[i, :]
            _gather(indptr, idx, vals, F, i, A, b)
            iters[i] = _pcg_row(A, b, N, lam[i], x, tol, maxit, R, False, k, r, z, p, q)
            out[i, :] = x


@njit(cache=True, nogil=True)
def _row_obj(indptr, idx, vals, F, i, lam, x, k):
    s = 0.0
    for l in range(indptr[i], indptr[i + 1]):
        rw = idx[l]
        t = 0.0
        for c in range(k):
            t += F[rw, c] * x[c]
        e = t - vals[l]
        s += e * e
    xx = 0.0
    for c in range(k):
        xx += x[c] * x[c]
    return s + lam * xx


@njit(cache=True, nogil=True)
def _chol_factor(G, k, rel):
    """In-place lower Cholesky of G; False when a pivot d_j^2 <= rel^2 * max_j G_jj or is not finite."""
    gmax = 0.0
    for j in range(k):
        gmax = max(gmax, G[j, j])
    floor = rel * rel * gmax
    for j in range(k):
        s = G[j, j]
        for p in range(j):
            s -= G[j, p] * G[j, p]
        if not (s > floor) or not math.isfinite(s):
            return False
        d = math.sqrt(s)
        G[j, j] = d
        for i in range(j + 1, k):
            t = G[i, j]
            for p in range(j):
                t -= G[i, p] * G[j, p]
            G[i, j] = t / d
    return True


# A sketched Gram whose Cholesky pivots fall below (SKETCH_REL * largest diagonal)^2 is
# rejected and the row solved exactly: cond(S A) up to ~1/SKETCH_REL is accepted (the
# Gram squares it; 1e-7 keeps cond(Gram) <~ 1e14, within double precision).
SKETCH_REL = 1e-7


@njit(cache=True, nogil=True)
def _sketch_gram(indptr, idx, vals, F, i, bucket, sign, s, lam, SA, Sb, G, h, k):
    """CountSketch of row i: SA = S A (s x k), Sb = S b; G = SA^T SA + lam I, h = SA^T Sb."""
    SA[:, :] = 0.0
    Sb[:] = 0.0
    for l in range(indptr[i], indptr[i + 1]):
        bk = bucket[l]
        sg = sign[l]
        rw = idx[l]
        for c in range(k):
            SA[bk, c] += sg * F[rw, c]
        Sb[bk] += sg * vals[l]
    G[:, :] = np.dot(SA.T, SA)
    h[:] = np.dot(SA.T, Sb)
    for c in range(k):
        G[c, c] += lam


@njit(cache=True, nogil=True)
def _sketch_qr(SA, Sb, lam, s, k, L, xs):
    """Fallback for a sketched Gram too ill-conditioned for Cholesky: QR of [S A; sqrt(lam) I].

    Writes L = R^T (lower) and the sketch-and-solve start xs = R^{-1} Q^T [S b; 0]; False
    when diag(R) has min/max ratio <= 1e-12 (the row is then solved exactly).
    """
    aug = np.zeros((s + k, k))
    aug[:s, :] = SA
    rl = math.sqrt(lam)
    for c in range(k):
        aug[s + c, c] = rl
    Q, R = np.linalg.qr(aug)
    dmin, dmax = np.inf, 0.0
    for c in range(k):
        d = abs(R[c, c])
        dmin = min(dmin, d)
        dmax = max(dmax, d)
    if not (dmin > 1e-12 * dmax):
        return False
    for c in range(k):
        t = 0.0
        for l in range(s):
            t += Q[l, c] * Sb[l]
        xs[c] = t
    for c in range(k - 1, -1, -1):
        t = xs[c]
        for d2 in range(c + 1, k):
            t -= R[c, d2] * xs[d2]
        xs[c] = t / R[c, c]
    for a in range(k):
        for c in range(k):
            L[a, c] = R[c, a] if c <= a else 0.0
    return True


@njit(cache=True, nogil=True)
def _sketch_nb(indptr, idx, vals, F, X0, lam, tol, maxit, bucket, sign, s, min_rows, out, iters):
    k = F.shape[1]
    G = np.empty((k, k))
    h = np.empty(k)
    x = np.empty(k)
    r = np.empty(k)
    z = np.empty(k)
    p = np.empty(k)
    q = np.empty(k)
    SA = np.empty((s, k))
    Sb = np.empty(s)
    nmax = 0
    for i in range(indptr.shape[0] - 1):
        nmax = max(nmax, indptr[i + 1] - indptr[i])
    Ag = np.empty((nmax, k))
    bg = np.empty(nmax)
    for i in range(indptr.shape[0] - 1):
        N = indptr[i + 1] - indptr[i]
        iters[i] = 0
        if N == 0:
            out[i, :] = 0.0
            continue
        if N < k and lam[i] == 0.0:
            out[i, :] = X0[i, :]
            continue
        if N < min_rows:
            _exact_row(indptr, idx, vals, F, X0, i, lam[i], G, h, out, k)
            continue
        # preconditioner: Cholesky L of the sketched Gram (S A)^T (S A) + lam I = R^T R
        # (L = R^T of the QR of [S A; sqrt(lam) I], up to signs); O(s k^2 + k^3/3)
        _sketch_gram(indptr, idx, vals, F, i, bucket, sign, s, lam[i], SA, Sb, G, h, k)
        if _chol_factor(G, k, SKETCH_REL):
            _apply_prec(G, h, z, k)      # sketch-and-solve start x_s = (R^T R)^{-1} (S A)^T S b
        elif not _sketch_qr(SA, Sb, lam[i], s, k, G, z):
            _exact_row(indptr, idx, vals, F, X0, i, lam[i], G, h, out, k)
            continue
        N = _gather(indptr, idx, vals, F, i, Ag, bg)
        x[:] = X0[i, :]
        if _row_obj(indptr, idx, vals, F, i, lam[i], z, k) < \
                _row_obj(indptr, idx, vals, F, i, lam[i], x, k):
            x[:] = z
        iters[i] = _pcg_row(Ag, bg, N, lam[i], x, tol, maxit, G, True, k, r, z, p, q)
        out[i, :] = x


@njit(cache=True, nogil=True)
def _spmm_nb(indptr, idx, vals, X, out):
    k = X.shape[1]
    for i in range(indptr.shape[0] - 1):
        for c in range(k):
            out[i, c] = 0.0
        for l in range(indptr[i], indptr[i + 1]):
            r = idx[l]
            v = vals[l]
            for c in range(k):
                out[i, c] += v * X[r, c]


@njit(cache=True, nogil=True)
def _residual_nb(indptr, idx, vals, U, V):
    k = U.shape[1]
    tot = 0.0
    for i in range(indptr.shape[0] - 1):
        for l in range(indptr[i], indptr[i + 1]):
            j = idx[l]
            t = 0.0
            for c in range(k):
                t += U[i, c] * V[j, c]
            e = t - vals[l]
            tot += e * e
    return tot


# ------------------------------------------------------------------ generic-signature wrappers
def _c(a):
    return np.ascontiguousarray(a, dtype=np.float64)


def _back(out, like):
    return out.astype(like.dtype, copy=False)


def rowsolve_exact(side, F, X0, lam, *, xp):
    out = np.empty((side.n_rows, F.shape[1]))
    _exact_nb(side.indptr, side.idx, _c(side.host_vals()), _c(F), _c(X0), _c(lam), out)
    return _back(out, F), np.zeros(side.n_rows, dtype=np.int64)


def rowsolve_cg(side, F, X0, lam, *, tol, maxit, xp):
    out = np.empty((side.n_rows, F.shape[1]))
    iters = np.zeros(side.n_rows, dtype=np.int64)
    _cg_nb(side.indptr, side.idx, _c(side.host_vals()), _c(F), _c(X0), _c(lam), float(tol),
           int(maxit), out, iters)
    return _back(out, F), iters


def rowsolve_sketch(side, F, X0, lam, *, tol, maxit, bucket, sign, s, min_rows, xp):
    out = np.empty((side.n_rows, F.shape[1]))
    iters = np.zeros(side.n_rows, dtype=np.int64)
    _sketch_nb(side.indptr, side.idx, _c(side.host_vals()), _c(F), _c(X0), _c(lam), float(tol),
               int(maxit), np.asarray(bucket, dtype=np.int64), _c(sign), int(s), int(min_rows),
               out, iters)
    return _back(out, F), iters


def spmm(side, X, *, xp):
    out = np.empty((side.n_rows, X.shape[1]))
    _spmm_nb(side.indptr, side.idx, _c(side.host_vals()), _c(X), out)
    return _back(out, X)


def residual_sq(side, U, V, *, xp):
    return np.asarray(_residual_nb(side.indptr, side.idx, _c(side.host_vals()), _c(U), _c(V)),
                      dtype=U.dtype)
