r"""Gradient sliding: one outer loop (init / step / finish) for GS, M-SGS, RF-SGS and RF-ASGS.

Outer iteration ``k`` (Lan's GS loop, shared by every variant; the schedule decides
:math:`\gamma_k, \beta_k, T_k` and, for RF-ASGS, :math:`\eta_k`):

.. code-block:: text

    if restart: x_{k-1} = xbar_{k-1}                       (M-SGS phase boundary)
    xlow_k = (1 - gamma_k) xbar_{k-1} + gamma_k x_{k-1};   g_k = grad f(xlow_k)
    (x_k, xtilde_k) = PS(g_k, x_{k-1}, beta_k, T_k)         (RF-ASGS: x_k = xtilde_k = APG)
    xbar_k = (1 - gamma_k) xbar_{k-1} + gamma_k xtilde_k

The returned point is the aggregated ``xbar``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..._monitor import Monitor, to_float
from ..._options import Interval, IsInstance, OneOf, standard_options
from ...backends import device, get_kernel
from . import _kernels  # noqa: F401  (registers the kernels)
from ._chi import Chi
from ._inner import prox_sliding, smoothed_apg
from ._oracles import Bilinear
from ._problem import CompositeProblem
from ._schedules import LanPSWeights

__all__ = ["CompositeProblem"]  # the loop is private; methods live in _methods

_POS = [Interval(float, 0, None, closed="neither")]
_NONNEG = [Interval(float, 0, None)]


class _HasMethods:
    def __init__(self, *names, description):
        self.names, self.description = names, description

    def is_satisfied_by(self, value):
        return value is not None and all(callable(getattr(value, n, None)) for n in self.names)

    def __str__(self):
        return self.description


_SCHEDULE = [_HasMethods("start", "step", description="a schedule object with start() and step(k)"),
             OneOf(None)]
_COMMON = standard_options(
    "maxiter", "tol", "seed", "check_every", "history", "disp",
    composite=[IsInstance(CompositeProblem, description="a CompositeProblem")],
    L=_POS + [OneOf(None, "auto")], M=_NONNEG + [OneOf(None)], sigma2=_NONNEG + [OneOf(None)],
    Delta0=_POS + [OneOf(None)], schedule=_SCHEDULE,
    max_inner=[Interval(int, 1, None), OneOf(None)])
_PS = {"ps_weights": [_HasMethods("p", "theta", description="weights with p(t) and theta(t)"),
                      OneOf(None)],
       "T_max": [Interval(float, 1, None)]}


# ---------------------------------------------------------------------------- set-up
@dataclasses.dataclass
class _Setup:
    xp: object
    fun: object
    jac: object
    args: tuple
    chi: object
    h: object
    L: float
    mu: float
    M: float
    sigma2: float
    Delta0: float
    schedule: object
    weights: object
    rng: object
    comp: CompositeProblem
    max_inner: int | None
    smoothing: bool


@dataclasses.dataclass
class _State:
    x: object        # prox-centre x_k
    xbar: object     # aggregated point (returned)
    k: int = 0
    ngev: int = 0
    nhev: int = 0
    nkev: int = 0
    nprox: int = 0
    nfev: int = 0
    T: int = 0
    eta: float = math.nan
    lb: float = -math.inf


def _grad(S, st, x):
    g = S.jac(x, *S.args)
    st.ngev += 1
    if not hasattr(g, "shape") or tuple(g.shape) != tuple(x.shape):
        raise ValueError(f"jac must return an array of shape {tuple(x.shape)}; got "
                         f"{getattr(g, 'shape', type(g).__name__)}")
    return g


def _psi(S, st, x):
    """Psi(x) = f(x) + h(x) + chi(x) as a Python float (one host sync)."""
    xp = S.xp
    st.nfev += 1
    val = to_float(S.fun(x, *S.args)) + to_float(S.chi.value(x, xp=xp))
    if S.h is not None:
        val += to_float(S.h.value(x, xp=xp))
    return val


def _lower_bound(S, st, x):
    """Best certified lower bound on Psi* so far (-inf without a certificate)."""
    if S.comp.f_opt is not None:
        st.lb = S.comp.f_opt
    elif S.comp.lower_bound is not None:
        v = to_float(S.comp.lower_bound(x))
        if math.isfinite(v):
            st.lb = max(st.lb, v)
    return st.lb


def _estimate_sigma2(h, x0, rng, xp, draws=200):
    """Variance of the stochastic oracle from ``draws`` samples (set-up, inferred rule).

    Sampled at ``x0`` and at a random point ``x0 + N(0, s^2 I)``, ``s = max(rms(x0), 1)``
    (at a structured ``x0`` such as 0 the oracle may be exact); the larger value is used.
    """
    s = max(math.sqrt(to_float(xp.sum(x0 * x0)) / max(x0.shape[0], 1)), 1.0)
    noise = xp.asarray(rng.standard_normal(x0.shape[0]), dtype=x0.dtype, device=device(x0))
    best = 0.0
    for x in (x0, x0 + s * noise):
        samples = [h.subgrad(x, h.draw(rng, 1)[0], xp=xp) for _ in range(draws)]
        full = h.subgrad_full(x, xp=xp)
        if full is None:
            full = sum(samples[1:], samples[0]) / draws
        best = max(best, sum(to_float(xp.sum((v - full) ** 2)) for v in samples) / draws)
    return float(best)


def _setup(fun, x0, args, xp, jac, composite, L, M, sigma2, Delta0, schedule, weights, seed,
           max_inner, smoothing, st):
    comp = composite
    chi, h = comp.chi, comp.h
    if h is not None:
        h.bind(x0, xp=xp)
    if smoothing and not (h is None or getattr(h, "saddle", False)):
        raise ValueError("rf-asgs needs the saddle structure h(x) = max_y <Kx, y> - J(y): "
                         "pass h=BoxBilinear/TotalVariation1D/Hinge/Bilinear (K and prox_J)")
    if not smoothing and isinstance(h, Bilinear):
        raise ValueError("a general Bilinear h (prox_J) has no subgradient oracle; use rf-asgs")
    L = L if L is not None else comp.L
    if L is None:
        raise ValueError("the Lipschitz constant L of grad f is required: options['L'] (a float "
                         "or 'auto') or CompositeProblem(L=...)")
    rng = np.random.default_rng(seed)
    if L == "auto":
        L = _estimate_L(jac, args, x0, rng, xp, st)
    M = M if M is not None else (0.0 if h is None or h.M is None else float(h.M))
    if sigma2 is None:
        sigma2 = 0.0
        if h is not None and h.stochastic:
            sigma2 = h.sigma2 if h.sigma2 is not None else _estimate_sigma2(h, x0, rng, xp)
    S = _Setup(xp, fun, jac, tuple(args), chi, h, float(L), chi.mu, M, float(sigma2), math.nan,
               schedule, weights or LanPSWeights(), rng, comp, max_inner, smoothing)
    S.Delta0 = Delta0 if Delta0 is not None else _estimate_delta0(S, st, x0)
    return S


def _estimate_L(jac, args, x0, rng, xp, st, iters=30, safety=1.05):
    """Power iteration on finite differences of ``jac`` at ``x0`` (set-up, inferred rule).

    ``||grad f(x0 + s v) - grad f(x0)|| / s`` for the current unit direction ``v``; exact for
    quadratic ``f`` (the largest Hessian eigenvalue), then times ``safety``. Costs
    ``iters + 1`` gradient calls, counted in ``ngev``.
    """
    S = _Setup(xp, None, jac, tuple(args), None, None, 1.0, 1.0, 0.0, 0.0, 1.0, None, None,
               rng, None, None, False)
    g0 = _grad(S, st, x0)
    v = xp.asarray(rng.standard_normal(x0.shape[0]), dtype=x0.dtype, device=device(x0))
    v = v / math.sqrt(to_float(xp.sum(v * v)))
    scale = max(math.sqrt(to_float(xp.sum(x0 * x0))), 1.0)
    lam = 0.0
    for _ in range(iters):
        s = 1e-4 * scale
        w = (_grad(S, st, x0 + s * v) - g0) / s
        lam = math.sqrt(to_float(xp.sum(w * w)))
        if not math.isfinite(lam) or lam == 0.0:
            break
        v = w / lam
    if not (math.isfinite(lam) and lam > 0):
        raise ValueError("L='auto': the power iteration on jac gave no positive finite "
                         "curvature; pass L explicitly")
    return safety * lam


def _estimate_delta0(S, st, x0):
    r"""Psi(x0) - certified bound; without a certificate, :math:`\|G\|^2/(2\mu)` with the
    prox-gradient mapping :math:`G = L(x_0 - \mathrm{prox}_{\chi/L}(x_0 - s/L))`, ``s`` the
    gradient of f plus a subgradient of h (inferred estimate, one extra grad-f call)."""
    xp = S.xp
    psi0 = _psi(S, st, x0)
    lb = _lower_bound(S, st, x0)
    if math.isfinite(lb):
        return max(psi0 - lb, 1e-300 + 1e-16 * abs(psi0))
    s = _grad(S, st, x0)
    if S.h is not None and not isinstance(S.h, Bilinear):
        hs = S.h.subgrad_full(x0, xp=xp)
        if hs is None:
            d = S.h.draw(S.rng, 1)
            hs = S.h.subgrad(x0, None if d is None else d[0], xp=xp)
        s = s + hs
    G = S.L * (x0 - S.chi.prox(x0 - s / S.L, 1.0 / S.L, xp=xp))
    # floored at the rounding level of Psi(x0): x0 may already be optimal
    return max(to_float(xp.sum(G * G)) / (2.0 * S.mu), 1e-16 * max(1.0, abs(psi0)))


# ---------------------------------------------------------------------------- one step
def _inner_ps(S, st, g, x, beta, T):
    h, chi, xp = S.h, S.chi, S.xp
    draws = None if h is None else h.draw(S.rng, T)
    fused = (isinstance(chi, Chi) and type(S.weights) is LanPSWeights
             and getattr(h, "structure", None) in ("tv", "dense"))
    if h is None:
        # h = 0: PS reduces to T prox steps on the model (T = 1 by the schedules when M = 0)
        h = _Zero()
    if fused:
        if h.structure == "tv":
            k = get_kernel("sliding_ps_tv", xp)
            u, ut = k(x, g, beta, T, h.lam, chi.params(), draws, xp=xp)
        else:
            K, b, lo, hi = h.kernel_args()
            k = get_kernel("sliding_ps_dense", xp)
            u, ut = k(x, g, beta, T, K, b, lo, hi, chi.params(), draws, xp=xp)
    else:
        u, ut = prox_sliding(g, x, beta, T, h=h, chi=chi, weights=S.weights, draws=draws, xp=xp)
    st.nhev += T if S.h is not None else 0
    st.nprox += T
    return u, ut


def _inner_apg(S, st, g, x, beta, eta, T):
    h, chi, xp = S.h, S.chi, S.xp
    if h is None or h.norm_K == 0:
        st.nprox += 1
        return chi.prox(x - g / beta, 1.0 / beta, xp=xp)
    if isinstance(chi, Chi) and getattr(h, "structure", None) == "tv":
        u = get_kernel("sliding_apg_tv", xp)(x, g, beta, eta, T, h.lam, chi.params(), xp=xp)
    elif isinstance(chi, Chi) and getattr(h, "structure", None) == "dense":
        K, b, lo, hi = h.kernel_args()
        u = get_kernel("sliding_apg_dense", xp)(x, g, beta, eta, T, K, b, lo, hi, h.norm_K,
                                                chi.params(), xp=xp)
    else:
        u = smoothed_apg(g, x, beta, eta, T, h=h, chi=chi, xp=xp)
    st.nkev += T
    st.nprox += T
    return u


class _Zero:
    stochastic = False

    def subgrad(self, x, draw=None, *, xp):
        return 0.0 * x


def _step(S, st):
    k = st.k + 1
    par = S.schedule.step(k)
    if par.restart:
        st.x = st.xbar
    gam = par.gamma
    xlow = (1.0 - gam) * st.xbar + gam * st.x
    g = _grad(S, st, xlow)
    T = par.T
    if S.max_inner is not None:  # the last inner loop is truncated to the budget
        T = max(1, min(T, S.max_inner - st.nhev - st.nkev))
    if S.smoothing:
        x_new = _inner_apg(S, st, g, st.x, par.beta, par.eta, T)
        xt = x_new
    else:
        x_new, xt = _inner_ps(S, st, g, st.x, par.beta, T)
    st.xbar = (1.0 - gam) * st.xbar + gam * xt
    st.x = x_new
    st.k = k
    st.T = T
    st.eta = math.nan if par.eta is None else par.eta
    return st


# ---------------------------------------------------------------------------- the loop
def _run(method, fun, x0, *, args, xp, callback, jac, composite, schedule, tol, maxiter, seed,
         check_every, history, disp, L, M, sigma2, Delta0, max_inner, ps_weights=None,
         smoothing=False, configure=None, default_maxiter=None):
    if composite is None:
        raise ValueError("gradient sliding needs options['composite'] = CompositeProblem(chi=..., "
                         "h=..., L=...) describing h and chi")
    if not callable(jac):
        raise ValueError(f"Method {method!r} requires jac (the gradient of f); pass jac=callable.")
    x0 = composite.chi.project(x0, xp=xp)
    st = _State(x=x0, xbar=x0)
    S = _setup(fun, x0, args, xp, jac, composite, L, M, sigma2, Delta0, schedule, ps_weights,
               seed, max_inner, smoothing, st)
    if tol is not None and not composite.certified:
        raise ValueError("tol needs a certified metric: give CompositeProblem(lower_bound=...) "
                         "or CompositeProblem(f_opt=...)")
    if maxiter is None:  # the method's default, once L and mu are known (gs, m-sgs)
        maxiter = default_maxiter(S)
    S.schedule = configure(S, maxiter) if S.schedule is None else S.schedule
    S.schedule.start(L=S.L, mu=S.mu, M2=S.M ** 2 + S.sigma2, Delta0=S.Delta0, maxiter=maxiter,
                     D_Y2=getattr(S.h, "D_Y2", None), norm_K=getattr(S.h, "norm_K", 0.0) or 0.0)
    mon = Monitor(method, xp=xp, maxiter=maxiter, tol=tol, metric="gap", check_every=check_every,
                  history=history, disp=disp, callback=callback,
                  columns=("ngev", "nhev" if not smoothing else "nkev", "T"))
    fval, gap = math.nan, None
    while True:
        if mon.due(st.k):
            fval = _psi(S, st, st.xbar)
            gap = _gap(S, st, fval)
            if mon.check(st.k, x=st.xbar, fun=fval, metric=gap, check_x=True, ngev=st.ngev,
                         nhev=st.nhev, nkev=st.nkev, nprox=st.nprox, T=st.T, eta=st.eta,
                         rel_gap=_rel(gap, S)):
                break
            if S.max_inner is not None and st.nhev + st.nkev >= S.max_inner:
                mon.stop(1, f"(inner-oracle budget max_inner={S.max_inner} spent)")
                break
        st = _step(S, st)
    return _finish(mon, S, st, fval, gap)


def _gap(S, st, fval):
    lb = _lower_bound(S, st, st.xbar)
    return max(fval - lb, 0.0) if math.isfinite(lb) else None


def _rel(gap, S):
    return math.nan if gap is None else gap / S.Delta0


def _finish(mon, S, st, fval, gap):
    x = st.xbar
    if mon.status == 3 and mon.last_finite is not None:
        last = mon.last_finite
        x, fval, gap = last["x"], last["fun"], last["metric"]
    return mon.finish(x=x, fun=fval, nit=st.k, metric=math.nan if gap is None else gap,
                      nfev=st.nfev, njev=st.ngev, ngev=st.ngev, nhev=st.nhev, nkev=st.nkev,
                      nprox=st.nprox,
                      rel_gap=_rel(gap, S), Delta0=S.Delta0, L=S.L, mu=S.mu, M=S.M,
                      sigma2=S.sigma2)
