"""Numba twins of :mod:`xpsolve.solvers.recovery._kernels` (NumPy inputs only).

The public functions have the generic signatures (``xp`` ignored) and return new
NumPy arrays. The compiled loops walk the measurements in blocks of about 256 KiB:
a block's residuals (one BLAS product), their signs, and the block's contribution
to the adjoint (a second BLAS product on the block, still in cache), so the
measurement data are read from memory once per iteration instead of twice, and the
small-size case pays one call instead of five NumPy calls. A plain scalar loop was
measured 2-3x slower than BLAS here, so the blocks use ``np.dot``. Serial: the
recovery benchmarks run one solve per core.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: block size target, in matrix entries (32768 float64 = 256 KiB)
_BLOCK_ENTRIES = 32768


@njit(cache=True, nogil=True)
def _nb_dense_fused(Af, y, x, l1, res, g, B):
    m = Af.shape[0]
    g[:] = 0.0
    for s in range(0, m, B):
        e = min(s + B, m)
        blk = Af[s:e]
        r = np.dot(blk, x) - y[s:e]
        res[s:e] = r
        w = np.sign(r) if l1 else r
        g += np.dot(w, blk)


@njit(cache=True, nogil=True)
def _nb_rank1_fused(Ad, y, U, l1, res, G, B):
    m = Ad.shape[0]
    G[:, :] = 0.0
    for s in range(0, m, B):
        e = min(s + B, m)
        blk = Ad[s:e]
        V = np.dot(blk, U)
        r = (V * V).sum(axis=1) - y[s:e]
        res[s:e] = r
        w = np.sign(r) if l1 else r
        G += np.dot(blk.T, V * w.reshape((-1, 1)))


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def dense_fused(Af, y, x, l1, *, xp=None):
    """Numba twin of :func:`._kernels.dense_fused`."""
    dt = Af.dtype
    Af, y, x = _c(Af, dt), _c(y, dt), _c(x, dt)
    res = np.empty(Af.shape[0], dtype=dt)
    g = np.empty(Af.shape[1], dtype=dt)
    _nb_dense_fused(Af, y, x, bool(l1), res, g, max(1, _BLOCK_ENTRIES // max(Af.shape[1], 1)))
    return res, g


def rank1_fused(Ad, y, U, l1, *, xp=None):
    """Numba twin of :func:`._kernels.rank1_fused`."""
    dt = Ad.dtype
    Ad, y, U = _c(Ad, dt), _c(y, dt), _c(U, dt)
    res = np.empty(Ad.shape[0], dtype=dt)
    G = np.empty((Ad.shape[1], U.shape[1]), dtype=dt)
    _nb_rank1_fused(Ad, y, U, bool(l1), res, G, max(8, _BLOCK_ENTRIES // max(Ad.shape[1], 1)))
    return res, G
