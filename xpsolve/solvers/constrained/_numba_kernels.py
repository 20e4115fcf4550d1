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
def _mv_t(Kt, v, out):
    """``out = K v`` from ``Kt = K^T`` (C order), each ``out[i]`` summed in column order.

    The same sums, in the same order, as the row loop of :func:`_dense_mv` (so the
    results are bitwise equal), but the inner loop runs over independent rows:
    it vectorises, which the strict-order dot product of one row cannot.
    """
    N = Kt.shape[1]
    for i in range(N):
        out[i] = 0.0
    for k in range(Kt.shape[0]):
        vk = v[k]
        for i in range(N):
            out[i] += Kt[k, i] * vk


@njit(cache=True, nogil=True)
def _sumsq(r):
    rr = 0.0
    for i in range(r.shape[0]):
        rr += r[i] * r[i]
    return rr


@njit(cache=True, nogil=True)
def _nb_gv_dense(K, Kt, z, r, b, S, thresh2, recompute_every, start):
    """Gaussian-vector steps on a small dense K (N <= 64; ``Kt = K^T`` in C order).

    The products go through :func:`_mv_t` (bitwise the sums of the row loop of
    :func:`_dense_mv`; larger K use :func:`_nb_gv_dense_big` and BLAS).
    ``||r||^2`` is accumulated while ``r`` is updated (the same sums as a separate
    pass before each step), and a step that ends on a periodic recomputation
    ``r = K z - b`` skips the incremental update it overwrites.
    """
    N = K.shape[0]
    u = np.empty(N)
    w = np.empty(N)
    s = np.empty(N)
    rr = _sumsq(r)
    g = start % recompute_every
    steps = 0
    for j in range(S.shape[0]):
        if rr <= thresh2:
            break
        for i in range(N):
            s[i] = S[j, i]
        _mv_t(Kt, s, u)
        uu = 0.0
        sr = 0.0
        for i in range(N):
            uu += u[i] * u[i]
            sr += s[i] * r[i]
        steps += 1
        g += 1
        if g == recompute_every:
            g = 0
            if uu > 0.0:
                a = sr / uu
                for i in range(N):
                    z[i] -= a * u[i]
            _mv_t(Kt, z, w)
            rr = 0.0
            for i in range(N):
                r[i] = w[i] - b[i]
                rr += r[i] * r[i]
        elif uu > 0.0:
            a = sr / uu
            _mv_t(Kt, u, w)
            rr = 0.0
            for i in range(N):
                z[i] -= a * u[i]
                r[i] -= a * w[i]
                rr += r[i] * r[i]
    return steps


@njit(cache=True, nogil=True)
def _nb_gv_dense_big(K, z, r, b, S, thresh2, recompute_every, start):
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
def _nb_normals(rng, count, N):
    """``rng.standard_normal((count, N))`` drawn in compiled code.

    Numba's ``Generator.standard_normal`` runs NumPy's ziggurat on the same bit
    generator state: the values and the final state are NumPy's (checked in the
    tests), about three times faster for small draws.
    """
    S = np.empty((count, N))
    for j in range(count):
        for i in range(N):
            S[j, i] = rng.standard_normal()
    return S


@njit(cache=True, nogil=True)
def _nb_gv_dense_rng(K, Kt, z, r, b, rng, count, thresh2, recompute_every, start):
    S = _nb_normals(rng, count, K.shape[0])
    if K.shape[0] <= 64:
        return _nb_gv_dense(K, Kt, z, r, b, S, thresh2, recompute_every, start)
    return _nb_gv_dense_big(K, z, r, b, S, thresh2, recompute_every, start)


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
def _nb_gv_csr_rng(indptr, indices, data, z, r, b, rng, count, thresh2, recompute_every, start):
    return _nb_gv_csr(indptr, indices, data, z, r, b,
                      _nb_normals(rng, count, indptr.shape[0] - 1), thresh2, recompute_every,
                      start)


@njit(cache=True, nogil=True)
def _nb_rk_dense(K, KK, rownorm2, z, r, b, idx, thresh2, recompute_every, start):
    N = K.shape[0]
    w = np.empty(N)
    rr = _sumsq(r)  # kept up to date as r changes (same sums as a fresh pass)
    g = start % recompute_every
    steps = 0
    for j in range(idx.shape[0]):
        if rr <= thresh2:
            break
        i = idx[j]
        rn = rownorm2[i]
        steps += 1
        g += 1
        if g == recompute_every:  # r = K z - b replaces the incremental update
            g = 0
            if rn > 0.0:
                a = r[i] / rn
                for k in range(N):
                    z[k] -= a * K[i, k]
            _dense_mv(K, z, w)
            rr = 0.0
            for k in range(N):
                r[k] = w[k] - b[k]
                rr += r[k] * r[k]
        elif rn > 0.0:
            a = r[i] / rn
            rr = 0.0
            for k in range(N):
                z[k] -= a * K[i, k]
                r[k] -= a * KK[i, k]  # K K is symmetric: row i == column i
                rr += r[k] * r[k]
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
    K = np.ascontiguousarray(K, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    S = np.ascontiguousarray(S, dtype=np.float64)
    if K.shape[0] <= 64:
        steps = _nb_gv_dense(K, np.ascontiguousarray(K.T), z, r, b, S, float(thresh) ** 2,
                             int(recompute_every), int(start))
    else:
        steps = _nb_gv_dense_big(K, z, r, b, S, float(thresh) ** 2, int(recompute_every),
                                 int(start))
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



def _rng_ok(rng):
    """Whether the compiled kernels can draw from ``rng`` (NumPy's default PCG64 generator)."""
    return type(rng) is np.random.Generator and type(rng.bit_generator) is np.random.PCG64


def gv_steps_dense_rng(K, z, r, b, rng, count, thresh, recompute_every, start, *, xp=None):
    """:func:`gv_steps_dense` on ``count`` sketches drawn as ``rng.standard_normal((count, N))``.

    The sketches are drawn in compiled code (:func:`_nb_normals`: NumPy's values and
    final generator state); other generators than NumPy's default are drawn by NumPy.
    """
    K = np.ascontiguousarray(K, dtype=np.float64)
    N = K.shape[0]
    if not _rng_ok(rng):
        return gv_steps_dense(K, z, r, b, rng.standard_normal((int(count), N)), thresh,
                              recompute_every, start)
    z = np.array(z, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    Kt = np.ascontiguousarray(K.T) if N <= 64 else K  # K^T: used for N <= 64 only
    steps = _nb_gv_dense_rng(K, Kt, z, r, np.ascontiguousarray(b, dtype=np.float64), rng,
                             int(count), float(thresh) ** 2, int(recompute_every), int(start))
    return z, r, int(steps)


def gv_steps_csr_rng(K, z, r, b, rng, count, thresh, recompute_every, start, *, xp=None):
    """:func:`gv_steps_csr` on ``count`` sketches drawn from ``rng`` (see :func:`gv_steps_dense_rng`)."""
    N = K.shape[0]
    if not _rng_ok(rng):
        return gv_steps_csr(K, z, r, b, rng.standard_normal((int(count), N)), thresh,
                            recompute_every, start)
    z = np.array(z, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    steps = _nb_gv_csr_rng(K.indptr.astype(np.int64), K.indices.astype(np.int64),
                           K.data.astype(np.float64), z, r,
                           np.ascontiguousarray(b, dtype=np.float64), rng, int(count),
                           float(thresh) ** 2, int(recompute_every), int(start))
    return z, r, int(steps)
