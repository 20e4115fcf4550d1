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
    for i in range(k):
        t = h[i]
        for p in range(i):
            t -= G[i, p] * h[p]
        h[i] = t / G[i, i]
    for i in range(k - 1, -1, -1):
        t = h[i]
        for p in range(i + 1, k):
            t -= G[p, i] * h[p]
        h[i] = t / G[i, i]
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
def _exact_row(indptr, idx, vals, F, X0, i, lam, G, h, out, k):
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
def _normal_mv(indptr, idx, F, i, lam, p, q, k):
    """q = (A^T A + lam I) p for A = F[idx[row i]]: O(N k)."""
    for c in range(k):
        q[c] = lam * p[c]
    for l in range(indptr[i], indptr[i + 1]):
        r = idx[l]
        t = 0.0
        for c in range(k):
            t += F[r, c] * p[c]
        for c in range(k):
            q[c] += F[r, c] * t


@njit(cache=True, nogil=True)
def _apply_prec(R, v, z, k):
    """z = R^{-1} R^{-T} v (R upper triangular)."""
    for i in range(k):
        t = v[i]
        for p in range(i):
            t -= R[p, i] * z[p]
        z[i] = t / R[i, i]
    for i in range(k - 1, -1, -1):
        t = z[i]
        for p in range(i + 1, k):
            t -= R[i, p] * z[p]
        z[i] = t / R[i, i]


@njit(cache=True, nogil=True)
def _pcg_row(indptr, idx, vals, F, i, lam, x, tol, maxit, R, use_prec, k, r, z, p, q):
    """(Preconditioned) CG on row i's normal equations from x (updated in place)."""
    hn = 0.0
    for c in range(k):
        r[c] = 0.0
    for l in range(indptr[i], indptr[i + 1]):
        rw = idx[l]
        t = 0.0
        for c in range(k):
            t += F[rw, c] * x[c]
        e = vals[l] - t
        for c in range(k):
            r[c] += F[rw, c] * e
    # ||A^T b|| for the stopping threshold
    for c in range(k):
        p[c] = 0.0
    for l in range(indptr[i], indptr[i + 1]):
        rw = idx[l]
        for c in range(k):
            p[c] += F[rw, c] * vals[l]
    for c in range(k):
        hn += p[c] * p[c]
        r[c] -= lam * x[c]
    thr = tol * math.sqrt(hn)
    if use_prec:
        _apply_prec(R, r, z, k)
    else:
        z[:] = r
    rz = 0.0
    for c in range(k):
        p[c] = z[c]
        rz += r[c] * z[c]
    it = 0
    while it < maxit:
        rn = 0.0
        for c in range(k):
            rn += r[c] * r[c]
        if not (math.sqrt(rn) > thr):
            break
        _normal_mv(indptr, idx, F, i, lam, p, q, k)
        pq = 0.0
        for c in range(k):
            pq += p[c] * q[c]
        if not (pq > 0.0):
            break
        alpha = rz / pq
        for c in range(k):
            x[c] += alpha * p[c]
            r[c] -= alpha * q[c]
        if use_prec:
            _apply_prec(R, r, z, k)
        else:
            z[:] = r
        rz_new = 0.0
        for c in range(k):
            rz_new += r[c] * z[c]
        beta = rz_new / rz
        for c in range(k):
            p[c] = z[c] + beta * p[c]
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
    for i in range(indptr.shape[0] - 1):
        N = indptr[i + 1] - indptr[i]
        iters[i] = 0
        if N == 0:
            out[i, :] = 0.0
        elif N < k and lam[i] == 0.0:
            out[i, :] = X0[i, :]
        else:
            x[:] = X0[i, :]
            iters[i] = _pcg_row(indptr, idx, vals, F, i, lam[i], x, tol, maxit, R, False, k,
                                r, z, p, q)
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
def _sketch_nb(indptr, idx, vals, F, X0, lam, tol, maxit, bucket, sign, s, min_rows, out, iters):
    k = F.shape[1]
    G = np.empty((k, k))
    h = np.empty(k)
    x = np.empty(k)
    r = np.empty(k)
    z = np.empty(k)
    p = np.empty(k)
    q = np.empty(k)
    aug = np.empty((s + k, k))
    sb = np.empty(s + k)
    xs = np.empty(k)
    for i in range(indptr.shape[0] - 1):
        N = indptr[i + 1] - indptr[i]
        iters[i] = 0
        if N == 0:
            out[i, :] = 0.0
            continue
        if N < min_rows:
            if N < k and lam[i] == 0.0:
                out[i, :] = X0[i, :]
            else:
                _exact_row(indptr, idx, vals, F, X0, i, lam[i], G, h, out, k)
            continue
        aug[:, :] = 0.0
        sb[:] = 0.0
        for l in range(indptr[i], indptr[i + 1]):
            b = bucket[l]
            sg = sign[l]
            rw = idx[l]
            for c in range(k):
                aug[b, c] += sg * F[rw, c]
            sb[b] += sg * vals[l]
        rl = math.sqrt(lam[i])
        for c in range(k):
            aug[s + c, c] = rl
        Q, R = np.linalg.qr(aug)
        dmin, dmax = np.inf, 0.0
        for c in range(k):
            d = abs(R[c, c])
            dmin = min(dmin, d)
            dmax = max(dmax, d)
        if not (dmin > 1e-12 * dmax):
            _exact_row(indptr, idx, vals, F, X0, i, lam[i], G, h, out, k)
            continue
        # sketch-and-solve start: R x = Q^T S b
        for c in range(k):
            t = 0.0
            for l in range(s + k):
                t += Q[l, c] * sb[l]
            xs[c] = t
        for c in range(k - 1, -1, -1):
            t = xs[c]
            for d2 in range(c + 1, k):
                t -= R[c, d2] * xs[d2]
            xs[c] = t / R[c, c]
        x[:] = X0[i, :]
        if _row_obj(indptr, idx, vals, F, i, lam[i], xs, k) < \
                _row_obj(indptr, idx, vals, F, i, lam[i], x, k):
            x[:] = xs
        Rc = np.ascontiguousarray(R)
        iters[i] = _pcg_row(indptr, idx, vals, F, i, lam[i], x, tol, maxit, Rc, True, k,
                            r, z, p, q)
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
