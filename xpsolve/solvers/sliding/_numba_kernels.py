"""Numba twins of :mod:`xpsolve.solvers.sliding._kernels` (fused inner loops, NumPy only).

Each twin computes the same sequence as the generic reference (same weights, same
minibatch rows, same prox), in one compiled loop without temporaries per step.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _prox_chi(c, t, code, mu, l1, lo, hi, radius, out):
    """out = prox_{t chi}(c) for the built-in chi (code 0: separable, 1: simplex)."""
    n = c.shape[0]
    sc = 1.0 / (1.0 + t * mu)
    if code == 1:
        w = np.empty(n)
        for i in range(n):
            w[i] = c[i] * sc
        s = np.sort(w)[::-1]
        css = 0.0
        tau = -np.inf
        for j in range(n):
            css += s[j]
            v = (css - radius) / (j + 1)
            if v > tau:
                tau = v
        for i in range(n):
            out[i] = max(w[i] - tau, 0.0)
        return
    thr = t * sc * l1
    for i in range(n):
        w = c[i] * sc
        if thr > 0.0:
            a = abs(w) - thr
            w = math.copysign(a, w) if a > 0.0 else 0.0
        if w < lo:
            w = lo
        elif w > hi:
            w = hi
        out[i] = w


@njit(cache=True, nogil=True)
def _sgn(v):
    return 1.0 if v > 0.0 else (-1.0 if v < 0.0 else 0.0)


@njit(cache=True, nogil=True)
def _tv_subgrad(u, lam, idx, t, G):
    n = u.shape[0]
    for i in range(n):
        G[i] = 0.0
    if idx.shape[0] == 0:
        for j in range(n - 1):
            s = lam * _sgn(u[j + 1] - u[j])
            G[j + 1] += s
            G[j] -= s
    else:
        b = idx.shape[1]
        sc = lam * (n - 1) / b
        for r in range(b):
            j = idx[t, r]
            s = sc * _sgn(u[j + 1] - u[j])
            G[j + 1] += s
            G[j] -= s


@njit(cache=True, nogil=True)
def _dense_subgrad(u, K, b, lo, hi, idx, t, G):
    m, n = K.shape
    for i in range(n):
        G[i] = 0.0
    full = idx.shape[0] == 0
    nb = m if full else idx.shape[1]
    sc = 1.0 if full else m / nb
    for r in range(nb):
        i = r if full else idx[t, r]
        z = b[i]
        for j in range(n):
            z += K[i, j] * u[j]
        y = hi if z > 0.0 else lo
        if y != 0.0:
            y *= sc
            for j in range(n):
                G[j] += y * K[i, j]


@njit(cache=True, nogil=True)
def _ps_loop(x, g, beta, T, kind, lam, K, b, lo_y, hi_y, code, mu, l1, lo, hi, radius, idx):
    n = x.shape[0]
    u = x.copy()
    ut = x.copy()
    G = np.empty(n)
    c = np.empty(n)
    for t in range(1, T + 1):
        if kind == 0:
            _tv_subgrad(u, lam, idx, t - 1, G)
        else:
            _dense_subgrad(u, K, b, lo_y, hi_y, idx, t - 1, G)
        p = 0.5 * t
        th = 2.0 * (t + 1) / (t * (t + 3.0))
        bp = beta * (1.0 + p)
        for i in range(n):
            c[i] = (beta * x[i] + beta * p * u[i] - g[i] - G[i]) / bp
        _prox_chi(c, 1.0 / bp, code, mu, l1, lo, hi, radius, u)
        for i in range(n):
            ut[i] = (1.0 - th) * ut[i] + th * u[i]
    return u, ut


@njit(cache=True, nogil=True)
def _apg_loop(x, g, beta, eta, T, kind, lam, K, b, lo_y, hi_y, norm_K, code, mu, l1, lo, hi,
              radius):
    n = x.shape[0]
    Lk = norm_K * norm_K / eta
    out = np.empty_like(x)
    if Lk == 0.0:
        c = np.empty(n)
        for i in range(n):
            c[i] = x[i] - g[i] / beta
        _prox_chi(c, 1.0 / beta, code, mu, l1, lo, hi, radius, out)
        return out
    sk = math.sqrt((Lk + mu + beta) / (mu + beta))
    q = (sk - 1.0) / (sk + 1.0)
    a = Lk / (Lk + beta)
    u = x.copy()
    up = x.copy()
    v = np.empty(n)
    gr = np.empty(n)
    w = np.empty(n)
    y0 = 0.5 * (lo_y + hi_y)
    for _ in range(T):
        for i in range(n):
            v[i] = u[i] + q * (u[i] - up[i])
        for i in range(n):
            gr[i] = g[i]
        if kind == 0:
            for j in range(n - 1):
                z = y0 + lam * (v[j + 1] - v[j]) / eta
                z = min(max(z, lo_y), hi_y)
                gr[j + 1] += lam * z
                gr[j] -= lam * z
        else:
            m = K.shape[0]
            for r in range(m):
                z = b[r]
                for j in range(n):
                    z += K[r, j] * v[j]
                z = min(max(y0 + z / eta, lo_y), hi_y)
                if z != 0.0:
                    for j in range(n):
                        gr[j] += z * K[r, j]
        for i in range(n):
            w[i] = a * (v[i] - gr[i] / Lk) + (1.0 - a) * x[i]
        for i in range(n):
            up[i] = u[i]
        _prox_chi(w, 1.0 / (Lk + beta), code, mu, l1, lo, hi, radius, u)
    return u


_EMPTY_K = np.zeros((0, 0))
_EMPTY_B = np.zeros(0)


def _idx(idx):
    return np.zeros((0, 1), dtype=np.int64) if idx is None else np.ascontiguousarray(idx, np.int64)


def _b(b, m):
    return np.full(m, float(b)) if np.ndim(b) == 0 else np.ascontiguousarray(b, np.float64)


def ps_tv(x, g, beta, T, lam, chi_params, idx, *, xp=None):
    return _ps_loop(x, g, float(beta), int(T), 0, float(lam), _EMPTY_K, _EMPTY_B, -1.0, 1.0,
                    *_chi(chi_params), _idx(idx))


def ps_dense(x, g, beta, T, K, b, lo, hi, chi_params, idx, *, xp=None):
    K = np.ascontiguousarray(K)
    return _ps_loop(x, g, float(beta), int(T), 1, 0.0, K, _b(b, K.shape[0]), float(lo), float(hi),
                    *_chi(chi_params), _idx(idx))


def apg_tv(x, g, beta, eta, T, lam, chi_params, *, xp=None):
    norm_K = 2.0 * lam * math.cos(math.pi / (2 * x.shape[0]))
    return _apg_loop(x, g, float(beta), float(eta), int(T), 0, float(lam), _EMPTY_K, _EMPTY_B,
                     -1.0, 1.0, norm_K, *_chi(chi_params))


def apg_dense(x, g, beta, eta, T, K, b, lo, hi, norm_K, chi_params, *, xp=None):
    K = np.ascontiguousarray(K)
    return _apg_loop(x, g, float(beta), float(eta), int(T), 1, 0.0, K, _b(b, K.shape[0]),
                     float(lo), float(hi), float(norm_K), *_chi(chi_params))


def _chi(p):
    code, mu, l1, lo, hi, radius = p
    return int(code), float(mu), float(l1), float(lo), float(hi), float(radius)
