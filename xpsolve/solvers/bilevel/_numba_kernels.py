"""Numba twin of the polyhedral projection dual (NumPy inputs only).

Hildreth's cyclic coordinate ascent on ``min_{mu_i >= 0 (ineq rows)} 0.5 mu^T Q mu - b^T mu``
(Q = G G^T with unit diagonal after row normalisation), warm-started from ``mu0``: the
compiled version of :func:`xpsolve.solvers.bilevel._projections.polyhedral_dual_generic`
(kernel ``"bilevel_polyhedral_dual"``), with the same signature, the same sweeps in the
same coordinate order and the same stopping test, so both return the same iterates up
to rounding (``tests/solvers/test_bilevel_projections.py`` checks it). The residual
``r = b - Q mu`` is recomputed at the start of every sweep (no drift) and updated by
rank-one steps within it. Serial: one sweep is sequential by nature.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _hildreth(Q, b, mu0, ineq, tol, maxiter):
    m = b.shape[0]
    mu = mu0.copy()
    r = np.empty(m)
    resid = np.inf
    nit = 0
    for sweep in range(maxiter):
        nit = sweep + 1
        # residual r = b - Q mu recomputed once per sweep (no drift), then kept incrementally
        for i in range(m):
            s = b[i]
            for j in range(m):
                s -= Q[i, j] * mu[j]
            r[i] = s
        resid = 0.0
        for i in range(m):
            if ineq[i] > 0.5:
                v = mu[i] + r[i]
                e = abs(mu[i] - (v if v > 0.0 else 0.0))
            else:
                e = abs(r[i])
            if e > resid:
                resid = e
        if resid <= tol:
            nit = sweep
            break
        for i in range(m):
            qii = Q[i, i]
            new = mu[i] + r[i] / qii
            if ineq[i] > 0.5 and new < 0.0:
                new = 0.0
            delta = new - mu[i]
            if delta != 0.0:
                mu[i] = new
                for j in range(m):
                    r[j] -= delta * Q[j, i]
    return mu, nit, resid


def polyhedral_dual(Q, b, mu0, ineq, L, tol, maxiter, *, xp=None):
    """Numba twin of ``polyhedral_dual_generic`` (``L`` and ``xp`` unused); NumPy arrays."""
    mu, nit, resid = _hildreth(np.ascontiguousarray(Q), np.ascontiguousarray(b),
                               np.ascontiguousarray(mu0), np.ascontiguousarray(ineq),
                               float(tol), int(maxiter))
    return mu, int(nit), float(resid)
