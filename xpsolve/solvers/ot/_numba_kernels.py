"""Numba twins of :mod:`xpsolve.solvers.ot._kernels` (NumPy inputs only).

Each public function has the generic signature (``xp`` keyword ignored) and
returns NumPy arrays; the ``_nb_*`` functions are the compiled loops. The
generic versions make several full passes and temporaries of size ``n * m``;
these fuse them into one or two passes, parallel over rows (or column blocks).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_COL_BLOCK = 64


@njit(cache=True, nogil=True, parallel=True)
def _nb_lse_rows(C, g, log_a, reg):
    n, m = C.shape
    out = np.empty(n, dtype=C.dtype)
    inv = 1.0 / reg
    for i in prange(n):
        mx = -np.inf
        for j in range(m):
            v = g[j] - C[i, j]
            if v > mx:
                mx = v
        s = 0.0
        for j in range(m):
            s += math.exp((g[j] - C[i, j] - mx) * inv)
        out[i] = reg * log_a[i] - mx - reg * math.log(s)
    return out


@njit(cache=True, nogil=True, parallel=True)
def _nb_lse_cols(C, f, log_b, reg):
    n, m = C.shape
    out = np.empty(m, dtype=C.dtype)
    inv = 1.0 / reg
    nblocks = (m + _COL_BLOCK - 1) // _COL_BLOCK
    for blk in prange(nblocks):
        j0 = blk * _COL_BLOCK
        j1 = min(m, j0 + _COL_BLOCK)
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
    return out


@njit(cache=True, nogil=True, parallel=True)
def _nb_gibbs(C, f, g, reg):
    n, m = C.shape
    out = np.empty((n, m), dtype=C.dtype)
    inv = 1.0 / reg
    for i in prange(n):
        fi = f[i]
        for j in range(m):
            out[i, j] = math.exp((fi + g[j] - C[i, j]) * inv)
    return out


def _c(a):
    return np.ascontiguousarray(a)


def lse_update_rows(C, g, log_a, reg, *, xp=None):
    return _nb_lse_rows(_c(C), _c(g), _c(log_a), float(reg))


def lse_update_cols(C, f, log_b, reg, *, xp=None):
    return _nb_lse_cols(_c(C), _c(f), _c(log_b), float(reg))


def gibbs(C, f, g, reg, *, xp=None):
    return _nb_gibbs(_c(C), _c(f), _c(g), float(reg))
