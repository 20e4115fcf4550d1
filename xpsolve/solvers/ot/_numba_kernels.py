"""Numba twins of :mod:`xpsolve.solvers.ot._kernels` (NumPy inputs only).

Each public function has the generic signature (``xp`` keyword ignored) and
returns NumPy arrays; the ``_nb_*`` functions are the compiled loops. The
generic versions make several full passes and temporaries of size ``n * m``;
these fuse them into one or two passes.

Serial below :data:`PARALLEL_MIN_SIZE` entries of ``C``. A ``parallel=True``
loop pays a thread barrier per call; on a loaded machine a worker that is
descheduled stalls every barrier (``sinkhorn-log`` on 36 x 36 took 5.5 s with 2
Numba threads against 0.04 s with 1 while another process ran), and for small
problems the parallel speed-up is small anyway. The crossover was measured once
(``docs/methods/sinkhorn.md``, "Parallel kernels"). The body of each kernel is
one compiled block function, called on the whole range by the serial driver and
on chunks by the parallel driver, so both give bit-identical results.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_COL_BLOCK = 64
#: ``n * m`` from which the parallel drivers run (when more than one Numba thread is set).
PARALLEL_MIN_SIZE = 1 << 20


@njit(cache=True, nogil=True)
def _lse_rows_block(C, g, log_a, reg, out, i0, i1):
    m = C.shape[1]
    inv = 1.0 / reg
    for i in range(i0, i1):
        mx = -np.inf
        for j in range(m):
            v = g[j] - C[i, j]
            if v > mx:
                mx = v
        s = 0.0
        for j in range(m):
            s += math.exp((g[j] - C[i, j] - mx) * inv)
        out[i] = reg * log_a[i] - mx - reg * math.log(s)


@njit(cache=True, nogil=True)
def _lse_cols_block(C, f, log_b, reg, out, j0, j1):
    n = C.shape[0]
    inv = 1.0 / reg
    w = j1 - j0
    mx = np.full(w, -np.inf)
    for i in range(n):
        fi = f[i]
        for jj in range(w):
            v = fi - C[i, j0 + jj]
            if v > mx[jj]:
                mx[jj] = v
    s = np.zeros(w)
    for i in range(n):
        fi = f[i]
        for jj in range(w):
            s[jj] += math.exp((fi - C[i, j0 + jj] - mx[jj]) * inv)
    for jj in range(w):
        out[j0 + jj] = reg * log_b[j0 + jj] - mx[jj] - reg * math.log(s[jj])


@njit(cache=True, nogil=True)
def _gibbs_block(C, f, g, reg, out, i0, i1):
    m = C.shape[1]
    inv = 1.0 / reg
    for i in range(i0, i1):
        fi = f[i]
        for j in range(m):
            out[i, j] = math.exp((fi + g[j] - C[i, j]) * inv)


# ---------------------------------------------------------------- serial drivers
@njit(cache=True, nogil=True)
def _nb_lse_rows_serial(C, g, log_a, reg):
    out = np.empty(C.shape[0], dtype=C.dtype)
    _lse_rows_block(C, g, log_a, reg, out, 0, C.shape[0])
    return out


@njit(cache=True, nogil=True)
def _nb_lse_cols_serial(C, f, log_b, reg):
    m = C.shape[1]
    out = np.empty(m, dtype=C.dtype)
    # column blocks of the same width as the parallel driver: identical sums, cache-sized buffers
    for j0 in range(0, m, _COL_BLOCK):
        _lse_cols_block(C, f, log_b, reg, out, j0, min(m, j0 + _COL_BLOCK))
    return out


@njit(cache=True, nogil=True)
def _nb_gibbs_serial(C, f, g, reg):
    out = np.empty(C.shape, dtype=C.dtype)
    _gibbs_block(C, f, g, reg, out, 0, C.shape[0])
    return out


# ---------------------------------------------------------------- parallel drivers
@njit(cache=True, nogil=True, parallel=True)
def _nb_lse_rows(C, g, log_a, reg):
    n = C.shape[0]
    out = np.empty(n, dtype=C.dtype)
    nch = min(n, 64)
    for c in prange(nch):
        _lse_rows_block(C, g, log_a, reg, out, (c * n) // nch, ((c + 1) * n) // nch)
    return out


@njit(cache=True, nogil=True, parallel=True)
def _nb_lse_cols(C, f, log_b, reg):
    m = C.shape[1]
    out = np.empty(m, dtype=C.dtype)
    nblocks = (m + _COL_BLOCK - 1) // _COL_BLOCK
    for blk in prange(nblocks):
        j0 = blk * _COL_BLOCK
        _lse_cols_block(C, f, log_b, reg, out, j0, min(m, j0 + _COL_BLOCK))
    return out


@njit(cache=True, nogil=True, parallel=True)
def _nb_gibbs(C, f, g, reg):
    n = C.shape[0]
    out = np.empty(C.shape, dtype=C.dtype)
    nch = min(n, 64)
    for c in prange(nch):
        _gibbs_block(C, f, g, reg, out, (c * n) // nch, ((c + 1) * n) // nch)
    return out


def _c(a):
    return np.ascontiguousarray(a)


def use_parallel(C) -> bool:
    """Whether the parallel drivers run for cost ``C``: ``C.size >= PARALLEL_MIN_SIZE`` and more
    than one Numba thread is configured."""
    if C.shape[0] * C.shape[1] < PARALLEL_MIN_SIZE:
        return False
    import numba

    return numba.get_num_threads() > 1


def lse_update_rows(C, g, log_a, reg, *, xp=None):
    C = _c(C)
    k = _nb_lse_rows if use_parallel(C) else _nb_lse_rows_serial
    return k(C, _c(g), _c(log_a), float(reg))


def lse_update_cols(C, f, log_b, reg, *, xp=None):
    C = _c(C)
    k = _nb_lse_cols if use_parallel(C) else _nb_lse_cols_serial
    return k(C, _c(f), _c(log_b), float(reg))


def gibbs(C, f, g, reg, *, xp=None):
    C = _c(C)
    k = _nb_gibbs if use_parallel(C) else _nb_gibbs_serial
    return k(C, _c(f), _c(g), float(reg))
