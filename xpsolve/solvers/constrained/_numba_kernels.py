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


_BLOCK = 256  # GV steps whose products K s and K K s are formed together (N <= 64)


@njit(cache=True, nogil=True)
def _gv_block_products(K, St, j0, q, Sb, U, W, uu):
    """``U = K S_b``, ``W = K U`` and ``uu_j = ||u_j||^2`` for sketches ``j0 .. j0+q-1``.

    The products of a GV step do not depend on the iterate (``u = K s``, ``w = K u``),
    so a block of them is formed at once: each entry is the same sum, in the same order,
    as in the step-by-step loop (bitwise equal), but the loops over the block's columns
    are independent and vectorise, where one step's dot products are a chain of
    dependent additions.
    """
    N = K.shape[0]
    for k in range(N):
        for j in range(q):
            Sb[k, j] = St[k, j0 + j]
    for i in range(N):
        for j in range(q):
            U[i, j] = 0.0
        for k in range(N):
            kik = K[i, k]
            for j in range(q):
                U[i, j] += kik * Sb[k, j]
    for i in range(N):
        for j in range(q):
            W[i, j] = 0.0
        for k in range(N):
            kik = K[i, k]
            for j in range(q):
                W[i, j] += kik * U[k, j]
    for j in range(q):
        uu[j] = 0.0
    for i in range(N):
        for j in range(q):
            uu[j] += U[i, j] * U[i, j]


@njit(cache=True, nogil=True)
def _nb_gv_dense(K, Kt, z, r, b, St, thresh2, recompute_every, start):
    """Gaussian-vector steps on a small dense K (N <= 64), sketches as the columns of ``St``.

    Per block of :data:`_BLOCK` steps, :func:`_gv_block_products` forms the
    iterate-independent products; the sequential part of a step is then
    ``a = s^T r / ||u||^2``, ``z -= a u``, ``r -= a K u`` and ``||r||^2`` (accumulated
    while ``r`` is updated: the same sums as a separate pass). A step that ends on a
    periodic recomputation ``r = K z - b`` (:func:`_mv_t` on ``Kt = K^T``) skips the
    incremental update it overwrites. Bitwise the iterates of :func:`_nb_gv_dense_big`
    (the row-loop kernel) for N <= 64; products past the stopping step are wasted
    (at most one block per call).
    """
    N = K.shape[0]
    count = St.shape[1]
    U = np.empty((N, _BLOCK))
    W = np.empty((N, _BLOCK))
    Sb = np.empty((N, _BLOCK))
    uu = np.empty(_BLOCK)
    w = np.empty(N)
    rr = _sumsq(r)
    g = start % recompute_every
    steps = 0
    j0 = 0
    while j0 < count and rr > thresh2:
        q = min(_BLOCK, count - j0)
        _gv_block_products(K, St, j0, q, Sb, U, W, uu)
        for jj in range(q):
            if rr <= thresh2:
                break
            sr = 0.0
            for i in range(N):
                sr += Sb[i, jj] * r[i]
            steps += 1
            g += 1
            uj = uu[jj]
            if g == recompute_every:
                g = 0
                if uj > 0.0:
                    a = sr / uj
                    for i in range(N):
                        z[i] -= a * U[i, jj]
                _mv_t(Kt, z, w)
                rr = 0.0
                for i in range(N):
                    r[i] = w[i] - b[i]
                    rr += r[i] * r[i]
            elif uj > 0.0:
                a = sr / uj
                rr = 0.0
                for i in range(N):
                    z[i] -= a * U[i, jj]
                    r[i] -= a * W[i, jj]
                    rr += r[i] * r[i]
        j0 += q
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
def _nb_normals(rng, count, N, transposed):
    """``rng.standard_normal((count, N))`` drawn in compiled code (its transpose, C order,
    when ``transposed``).

    Numba's ``Generator.standard_normal`` runs NumPy's ziggurat on the same bit
    generator state: the values and the final state are NumPy's (checked in the
    tests), about three times faster for small draws.
    """
    if transposed:
        St = np.empty((N, count))
        for j in range(count):
            for i in range(N):
                St[i, j] = rng.standard_normal()
        return St
    S = np.empty((count, N))
    for j in range(count):
        for i in range(N):
            S[j, i] = rng.standard_normal()
    return S


@njit(cache=True, nogil=True)
def _nb_gv_dense_rng(K, Kt, z, r, b, rng, count, thresh2, recompute_every, start):
    N = K.shape[0]
    if N <= 64:
        return _nb_gv_dense(K, Kt, z, r, b, _nb_normals(rng, count, N, True), thresh2,
                            recompute_every, start)
    return _nb_gv_dense_big(K, z, r, b, _nb_normals(rng, count, N, False), thresh2,
                            recompute_every, start)


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
    S = _nb_normals(rng, count, indptr.shape[0] - 1, False)
    return _nb_gv_csr(indptr, indices, data, z, r, b, S, thresh2, recompute_every, start)


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
        steps = _nb_gv_dense(K, np.ascontiguousarray(K.T), z, r, b, np.ascontiguousarray(S.T),
                             float(thresh) ** 2, int(recompute_every), int(start))
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
    with rng.bit_generator.lock:  # as NumPy's own draws (the compiled loop holds no GIL)
        steps = _nb_gv_dense_rng(K, Kt, z, r, np.ascontiguousarray(b, dtype=np.float64), rng,
                                 int(count), float(thresh) ** 2, int(recompute_every),
                                 int(start))
    return z, r, int(steps)


def gv_steps_csr_rng(K, z, r, b, rng, count, thresh, recompute_every, start, *, xp=None):
    """:func:`gv_steps_csr` on ``count`` sketches drawn from ``rng``.

    See :func:`gv_steps_dense_rng`.
    """
    N = K.shape[0]
    if not _rng_ok(rng):
        return gv_steps_csr(K, z, r, b, rng.standard_normal((int(count), N)), thresh,
                            recompute_every, start)
    z = np.array(z, dtype=np.float64)
    r = np.array(r, dtype=np.float64)
    with rng.bit_generator.lock:
        steps = _nb_gv_csr_rng(K.indptr.astype(np.int64), K.indices.astype(np.int64),
                               K.data.astype(np.float64), z, r,
                               np.ascontiguousarray(b, dtype=np.float64), rng, int(count),
                               float(thresh) ** 2, int(recompute_every), int(start))
    return z, r, int(steps)
