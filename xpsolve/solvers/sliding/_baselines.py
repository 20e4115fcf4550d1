r"""Baselines for the sliding benchmark (suite peers, not registered methods).

:func:`condat_vu`: the Condat-Vu primal-dual splitting for
:math:`\min_x f(x) + \chi(x) + h(x)`, :math:`h(x) = \max_{y\in[lo,hi]^m}\langle Kx + b, y\rangle`
(one gradient of f and one K / K^T pair per iteration), on the composite pieces of a
:class:`~xpsolve.solvers.sliding.CompositeProblem`:

.. math::

    x_{k+1} = \mathrm{prox}_{\tau\chi}(x_k - \tau(\nabla f(x_k) + K^\top y_k)), \quad
    y_{k+1} = \mathrm{clip}(y_k + \sigma(K(2x_{k+1} - x_k) + b), lo, hi),

with :math:`\sigma = c_\sigma L/\|K\|^2` (``sigma_factor`` :math:`c_\sigma`, default 1/2) and
:math:`\tau = 1/(L/2 + \sigma\|K\|^2)`
(the step condition :math:`1/\tau - \sigma\|K\|^2 \ge L/2`; L. Condat, JOTA 158 (2013);
B. C. Vu, Adv. Comput. Math. 38 (2013)). It reports the same ``gap`` / ``rel_gap`` as the
sliding methods, from the same certificate.
"""
from __future__ import annotations

import math

from ..._monitor import Monitor
from ...backends import get_namespace
from ._oracles import BoxBilinear
from ._solvers import _lower_bound, _psi, _Setup, _State

__all__ = ["condat_vu", "prox_sgd"]


def _certified_gap(S, st, x, Delta0):
    """Psi(x), its certified gap (None without a lower bound) and the gap relative to Delta0."""
    fval = _psi(S, st, x)
    lb = _lower_bound(S, st, x)
    gap = max(fval - lb, 0.0) if math.isfinite(lb) else None
    rel = math.nan if gap is None or not Delta0 else gap / Delta0
    return fval, gap, rel


def condat_vu(fun, x0, *, args=(), jac=None, hess=None, hessp=None, constraints=(),
              callback=None, composite=None, maxiter=10000, tol=None, Delta0=None,
              check_every=1, history=False, sigma_factor=0.5, **ignored):
    """Condat-Vu on ``composite`` (custom-method signature of :func:`xpsolve.minimize`)."""
    xp = get_namespace(x0)
    h, chi = composite.h, composite.chi
    if not isinstance(h, BoxBilinear):
        raise ValueError("condat-vu needs a box-bilinear h (TotalVariation1D, Hinge, BoxBilinear)")
    h.bind(x0, xp=xp)
    L = composite.L
    nK2 = max(h.norm_K ** 2, 1e-300)
    # sigma ||K||^2 = sigma_factor * L, then the largest tau of the step condition
    sigma = sigma_factor * L / nK2
    tau = 1.0 / (L / 2.0 + sigma * nK2)
    st = _State(x=chi.project(x0, xp=xp), xbar=None)
    S = _Setup(xp, fun, jac, tuple(args), chi, h, L, chi.mu, 0.0, 0.0, Delta0 or math.nan, None,
               None, None, composite, None, False)
    x = st.x
    y = xp.zeros_like(h.Kx(x, xp=xp))
    if tol is not None and not composite.certified:
        tol = None
    mon = Monitor("condat-vu", xp=xp, maxiter=maxiter, tol=tol, metric="gap",
                  check_every=check_every, history=history, callback=callback)
    fval = gap = math.nan
    k = 0
    while True:
        if mon.due(k):
            fval, gap, rel = _certified_gap(S, st, x, Delta0)
            if mon.check(k, x=x, fun=fval, metric=gap, ngev=st.ngev, nkev=st.nkev, rel_gap=rel):
                break
        g = jac(x, *args)
        st.ngev += 1
        xn = chi.prox(x - tau * (g + h.KTy(y, xp=xp)), tau, xp=xp)
        y = xp.clip(y + sigma * h.Kx(2.0 * xn - x, xp=xp), h.lower, h.upper)
        st.nkev += 1
        x = xn
        k += 1
    rel = math.nan if gap is None or not Delta0 else gap / Delta0
    return mon.finish(x=x, fun=fval, nit=k, metric=math.nan if gap is None else gap,
                      nfev=st.nfev, ngev=st.ngev, njev=st.ngev, nkev=st.nkev, nhev=0,
                      rel_gap=rel)


def prox_sgd(fun, x0, *, args=(), jac=None, hess=None, hessp=None, constraints=(),
             callback=None, composite=None, maxiter=100000, tol=None, Delta0=None, seed=None,
             check_every=50, history=False, **ignored):
    r"""Proximal stochastic subgradient baseline for strongly convex :math:`\Psi` (SGD-type).

    :math:`x_{t+1} = \mathrm{prox}_{\eta_t\chi}(x_t - \eta_t(\nabla f(x_t) + H(x_t, \xi_t)))`,
    :math:`\eta_t = 2/(\mu(t+1) + 2L)` (at most :math:`1/L`), returning the weighted average
    :math:`\bar x_t \propto
    \sum_s s\,x_s` (S. Lacoste-Julien, M. Schmidt, F. Bach, arXiv:1212.2002). One gradient of
    f and one (minibatch) subgradient of h per iteration: the baseline sliding improves on.
    """
    import numpy as np

    xp = get_namespace(x0)
    h, chi = composite.h, composite.chi
    h.bind(x0, xp=xp)
    rng = np.random.default_rng(seed)
    st = _State(x=chi.project(x0, xp=xp), xbar=None)
    S = _Setup(xp, fun, jac, tuple(args), chi, h, composite.L, chi.mu, 0.0, 0.0,
               Delta0 or math.nan, None, None, rng, composite, None, False)
    x = xbar = st.x
    wsum = 0.0
    if tol is not None and not composite.certified:
        tol = None
    mon = Monitor("prox-sgd", xp=xp, maxiter=maxiter, tol=tol, metric="gap",
                  check_every=check_every, history=history, callback=callback)
    fval = gap = math.nan
    k = 0
    while True:
        if mon.due(k):
            fval, gap, rel = _certified_gap(S, st, xbar, Delta0)
            if mon.check(k, x=xbar, fun=fval, metric=gap, ngev=st.ngev, nhev=st.nhev,
                         rel_gap=rel):
                break
        eta = 2.0 / (chi.mu * (k + 1) + 2.0 * composite.L)
        d = h.draw(rng, 1)
        G = jac(x, *args) + h.subgrad(x, None if d is None else d[0], xp=xp)
        st.ngev += 1
        st.nhev += 1
        x = chi.prox(x - eta * G, eta, xp=xp)
        k += 1
        wsum += k
        xbar = xbar + (k / wsum) * (x - xbar)
    rel = math.nan if gap is None or not Delta0 else gap / Delta0
    return mon.finish(x=xbar, fun=fval, nit=k, metric=math.nan if gap is None else gap,
                      nfev=st.nfev, ngev=st.ngev, njev=st.ngev, nhev=st.nhev, nkev=0,
                      rel_gap=rel)
