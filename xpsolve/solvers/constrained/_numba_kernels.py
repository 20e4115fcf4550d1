"""Numba twins of :mod:`xpsolve.solvers.constrained._kernels` (NumPy inputs only).

The public functions have the generic signatures (``xp`` ignored) and return
``(z, r, steps)`` as new NumPy arrays; the ``_nb_*`` loops are compiled. One step
of the generic Gaussian-vector kernel makes about ten NumPy calls (tens of
microseconds for small K); a compiled step costs O(nnz(K)) flops and no call overhead.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _dense_mv(K, v, out):
    N = K.shape[0]
    if N > 64:  # BLAS gemv beats the plain loop beyond small sizes
        out[:] = np.dot(K, v)
        return
    M = K.shape[1]
    for i in range(N):
        acc = 0.0
        for k in range(M):
            acc += K[i, k] * v[k]
        out[i] = acc


@njit(cache=True, nogil=True)
def _csr_mv(indptr, indices, data, v, out):
    N = indptr.shape[0] - 1
    for i in range(N):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            acc += data[p] * v[indices[p]]
        out[i] = acc


@njit(cache=True, nogil=True)
def _nb_gv_dense(K, z, r, b, S, thresh2, recompute_every, start):
    N = K.shape[0]
    u = np.empty(N)
    w = np.empty(N)
    steps = 0
    for j in range(S.shape[0]):
        rr = 0.0
        for i in range(N):
            rr += r[i] * r[i]
        if rr <= thresh2:
            break
        s = np.ascontiguousarray(S[j])
        _dense_mv(K, s, u)
        uu = 0.0
        sr = 0.0
        for i in range(N):
            uu += u[i] * u[i]
            sr += s[i] * r[i]
        if uu > 0.0:
            a = sr / uu
            _dense_mv(K, u, w)
            for i in range(N):
                z[i] -= a * u[i]
                r[i] -= a * w[i]
        steps += 1
        if (start + steps) % recompute_every == 0:
            _dense_mv(K, z, w)
            for i in range(N):
                r[i] = w[i] - b[i]
    return steps


@njit(cache=True, nogil=True)
def _nb_gv_csr(indptr, indices, data, z, r, b, S, thresh2, recompute_every, start):
    N = indptr.shape[0] - 1
    u = np.empty(N)
    w = np.empty(N)
    steps = 0
    for j in range(S.shape[0]):
        rr = 0.0
        for i in range(N):
            rr += r[i] * r[i]
        if rr <= thresh2:
            break
        s = S[j]
        _csr_mv(indptr, indices, data, s, u)
        uu = 0.0
        sr = 0.0
        for i in range(N):
            uu += u[i] * u[i]
            sr += s[i] * r[i]
        if uu > 0.0:
            a = sr / uu
            _csr_mv(indptr, indices, data, u, w)
            for i in range(N):
                z[i] -= a * u[i]
                r[i] -= a * w[i]
        steps += 1
        if (start + steps) % recompute_every == 0:
            _csr_mv(indptr, indices, data, z, w)
            for i in range(N):
                r[i] = w[i] - b[i]
    return steps


@njit(cache=True, nogil=True)
def _nb_rk_dense(K, KK, rownorm2, z, r, b, idx, thresh2, recompute_every, start):
    N = K.shape[0]
    w = np.empty(N)
    steps = 0
    for j in range(idx.shape[0]):
        rr = 0.0
        for i in range(N):
            rr += r[i] * r[i]
        if rr <= thresh2:
            break
        i = idx[j]
        rn = rownorm2[i]
        if rn > 0.0:
            a = r[i] / rn
            for k in range(N):
                z[k] -= a * K[i, k]
                r[k] -= a * KK[i, k]  # K K is symmetric: row i == column i
        steps += 1
        if (start + steps) % recompute_every == 0:
            _dense_mv(K, z, w)
            for k in range(N):
                r[k] = w[k] - b[k]
    return steps


@njit(cache=True, nogil=True)
def _nb_rk_csr(indptr, indices, data, rownorm2, z, r, b, idx, thresh2, recompute_every, start):
    N = indptr.shape[0] - 1
    w = np.empty(N)
    steps = 0
    for j in range(idx.shape[0]):
        rr = 0.0
        for i in range(N):
            rr += r[i] * r[i]
        if rr <= thresh2:
            break
        i = idx[j]
        rn = rownorm2[i]
        if rn > 0.0:
            a = r[i] / rn
            for p in range(indptr[i], indptr[i + 1]):
                k = indices[p]
                v = data[p]
                z[k] -= a * v
                # K symmetric: column k of K equals row k
                for q in range(indptr[k], indptr[k + 1]):
                    r[indices[q]] -= a * v * data[q]
        steps += 1
        if (start + steps) % recompute_every == 0:
            _csr_mv(indptr, indices, data, z, w)
            for k in range(N):
                r[k] = w[k] - b[k]
    return steps


def gv_steps_dense(K, z, r, b, S, thresh, recompute_every, start, *, xp=None):
    z = np.array(z, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    steps = _nb_gv_dense(np.ascontiguousarray(K, dtype=np.float64), z, r,
                         np.ascontiguousarray(b, dtype=np.float64),
                         np.ascontiguousarray(S, dtype=np.float64), float(thresh) ** 2,
                         int(recompute_every), int(start))
    return z, r, int(steps)


def gv_steps_csr(K, z, r, b, S, thresh, recompute_every, start, *, xp=None):
    z = np.array(z, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    steps = _nb_gv_csr(K.indptr.astype(np.int64), K.indices.astype(np.int64),
                       K.data.astype(np.float64), z, r, np.ascontiguousarray(b, dtype=np.float64),
                       np.ascontiguousarray(S, dtype=np.float64), float(thresh) ** 2,
                       int(recompute_every), int(start))
    return z, r, int(steps)


def rk_steps_dense(K, KK, rownorm2, z, r, b, idx, thresh, recompute_every, start, *, xp=None):
    z = np.array(z, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    K = np.ascontiguousarray(K, dtype=np.float64)
    if KK is None:
        KK = K @ K
    steps = _nb_rk_dense(K, np.ascontiguousarray(KK, dtype=np.float64),
                         np.asarray(rownorm2, dtype=np.float64), z, r,
                         np.ascontiguousarray(b, dtype=np.float64), np.asarray(idx, dtype=np.int64),
                         float(thresh) ** 2, int(recompute_every), int(start))
    return z, r, int(steps)


def rk_steps_csr(K, KK, rownorm2, z, r, b, idx, thresh, recompute_every, start, *, xp=None):
    z = np.array(z, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    steps = _nb_rk_csr(K.indptr.astype(np.int64), K.indices.astype(np.int64),
                       K.data.astype(np.float64), np.asarray(rownorm2, dtype=np.float64), z, r,
                       np.ascontiguousarray(b, dtype=np.float64), np.asarray(idx, dtype=np.int64),
                       float(thresh) ** 2, int(recompute_every), int(start))
    return z, r, int(steps)
