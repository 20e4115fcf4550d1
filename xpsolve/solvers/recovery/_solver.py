"""SubGM (sub-gradient method with small initialization) and its factored baselines.

One loop, :func:`_run`, written as ``_init`` / ``_evaluate`` / ``_step`` / ``_finish``;
the three registered methods differ in the loss (l1 or least squares) and the step rule.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import warnings

from ..._monitor import Monitor
from ..._options import Interval, OneOf
from ..._registry import SolverSpec, register_solver
from ...backends._kernels import kernel_uses_numba
from ._common import COMMON_OPTIONS, LowRankResult, Truth, data_scale, initial_factor

STEPS = ("warmup_geometric", "geometric", "polyak", "constant")
#: number of consecutive steps the relative-change test looks at
WINDOW = 10
#: step-size underflow: schedules stop once eta_t < ETA_TOL * eta0
ETA_TOL = 1e-14
#: the "U never grew" test: by the warm-up budget ||U||_F^2 (the trace of U U^T, at least
#: ||X*||_F at a solution) must reach GROWTH_FRACTION times the data scale ||X*||_F (estimated)
GROWTH_FRACTION = 0.05


@dataclasses.dataclass
class _Rule:
    """A step-size rule (``kind`` in :data:`STEPS`) with its constants."""

    kind: str
    eta0: float = 0.2
    rho: float = 0.98
    warmup: int | None = 0   # None: adaptive warm-up still running (see _end_warmup)
    eta_min: float = 0.0
    f_star: float = 0.0
    adaptive: bool = False
    cap: int = 0             # adaptive warm-up: longest warm-up allowed

    def eta(self, ts, f, dnorm2, xp):
        """Step size at schedule counter ``ts`` (a float, or a 0-d array for Polyak)."""
        if self.kind == "polyak":
            gap = f - self.f_star
            safe = xp.where(dnorm2 > 0, dnorm2, xp.ones_like(dnorm2))
            return xp.where((gap > 0) & (dnorm2 > 0), gap / safe, xp.zeros_like(gap))
        if self.kind == "constant":
            return self.eta0
        if self.kind == "warmup_geometric" and self.warmup is None:
            return self.eta0
        k = ts if self.kind == "geometric" else ts - self.warmup
        if k <= 0:
            return self.eta0
        return max(self.eta0 * self.rho ** k, self.eta_min)


@dataclasses.dataclass
class _State:
    U: object
    nit: int = 0
    ts: int = 0            # schedule counter (reset by a restart)
    restarts: int = 0
    nfev: int = 0
    res: object = None
    f: object = None
    D: object = None
    eta: object = None
    step: object = None    # eta * ||D|| / ||U||: the relative change of the coming update
    U_best: object = None
    f_best: object = None
    steps: collections.deque = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=WINDOW))


def _evaluate(op, y, st, l1, rule, xp):
    """Residuals, loss, (sub)gradient, step size and relative step at ``st.U``."""
    res, G = op.fused(st.U, y, l1)
    st.res, st.nfev = res, st.nfev + 1
    st.f = xp.sum(xp.abs(res)) / op.m if l1 else xp.sum(res * res) / (2 * op.m)
    st.D = (2.0 / op.m) * G
    dnorm2 = xp.sum(st.D * st.D)
    st.eta = rule.eta(st.ts, st.f, dnorm2, xp)
    st.step = st.eta * xp.sqrt(dnorm2 / xp.sum(st.U * st.U))
    if st.f_best is None:
        st.U_best, st.f_best = st.U, st.f
    else:
        better = st.f < st.f_best
        st.U_best = xp.where(better, st.U, st.U_best)
        st.f_best = xp.where(better, st.f, st.f_best)


def _rel_change(st, xp):
    """Largest relative update over the last WINDOW steps (None, i.e. undefined, before
    WINDOW steps; 0 at a fixed point, where the update vanishes)."""
    if float(st.step) == 0.0:
        return 0.0
    if len(st.steps) < WINDOW:
        return None
    return float(xp.max(xp.stack(list(st.steps))))


def _step(st):
    st.U = st.U - st.eta * st.D
    st.nit += 1
    st.ts += 1


def _diverged(st, f0, u_cap, xp):
    f = float(st.f)
    return not (f <= 10.0 * f0) or not (float(xp.linalg.vector_norm(st.U)) <= u_cap)


def _run(op, y, rank, *, xp, callback, method, l1, rule, maxiter, tol, seed, check_every,
         history, disp, alpha, init, x0, scale, truth, max_restarts=0):
    """The shared loop of the recovery methods (see :func:`xpsolve.recover_low_rank`)."""
    op.prepare()
    s_hat = data_scale(op, y, scale)
    U0, small_start = initial_factor(op, y, rank, xp, alpha=alpha, init=init, x0=x0, seed=seed,
                                     s_hat=s_hat)
    if op.kind == "user":
        op.check(U0, y)
    u0_norm = float(xp.linalg.vector_norm(U0))
    if rule.kind == "warmup_geometric" and rule.warmup in (None, "fixed", "adaptive"):
        a_eff = min(max(u0_norm / math.sqrt(s_hat * rank), 1e-300), 1.0)
        t0 = math.ceil(3.0 * math.log(1.0 / a_eff) / rule.eta0)
        if rule.warmup == "adaptive":
            rule.adaptive, rule.cap, rule.warmup = True, t0, None
        else:
            rule.warmup = t0
    if rule.kind == "warmup_geometric":
        check_at = rule.cap if rule.adaptive else rule.warmup
    else:
        check_at = math.ceil(3.0 * math.log(1.0 / max(alpha, 1e-300)) / max(rule.eta0, 1e-12))
    tr = Truth(truth, op.d, xp, y) if truth is not None else None
    metric_name = "rel_err" if tr is not None else "rel_change"
    if tol is None:
        eps = float(xp.finfo(y.dtype).eps)
        tol = max(1e-10, 100 * eps) if tr is not None else 1e-12
    mon = Monitor(method, xp=xp, maxiter=maxiter, tol=tol, metric=metric_name,
                  check_every=check_every, history=history, disp=disp, callback=callback,
                  columns=("eta",), record=("eta",))
    st = _State(U=U0)
    eta0_start = rule.eta0
    f0 = None
    warned = False
    while True:
        if rule.adaptive and rule.warmup is None:
            _end_warmup(st, rule, s_hat, xp)
        _evaluate(op, y, st, l1, rule, xp)
        if f0 is None:
            f0 = float(st.f)
        underflow = rule.kind != "polyak" and float(st.eta) < ETA_TOL * eta0_start
        st.steps.append(st.step)
        if mon.due(st.nit) or underflow:
            if (rule.kind != "polyak" and st.restarts < max_restarts
                    and _diverged(st, f0, 1e3 * math.sqrt(s_hat) + 10 * u0_norm, xp)):
                st = _State(U=U0, nit=st.nit, restarts=st.restarts + 1, nfev=st.nfev)
                rule.eta0 /= 2
                if rule.adaptive:
                    rule.warmup = None
                continue
            metric = tr.rel_err(st.U) if tr is not None else _rel_change(st, xp)
            if mon.check(st.nit, x=st.U, fun=st.f, metric=metric, eta=st.eta, U=st.U):
                break
            if underflow:
                mon.stop(2, f"(step size {float(st.eta):.2g} below {ETA_TOL:g} * eta0)")
                break
        if small_start and st.ts == check_at and not warned:
            warned = _growth_warning(st, u0_norm, check_at, s_hat, xp)
        _step(st)
    return _finish(mon, st, xp, op, tr, rule, small_start, warned, u0_norm, check_at, s_hat)


#: adaptive warm-up: the constant step ends once ||U||_F^2 reaches this fraction of the scale
WARMUP_FRACTION = 0.05


def _end_warmup(st, rule, s_hat, xp):
    """Adaptive warm-up: keep eta0 until ||U||_F^2 >= WARMUP_FRACTION * scale (the signal has
    reached the data scale) or the budget ``rule.cap`` is spent, then start the decay."""
    if st.ts >= rule.cap or float(xp.linalg.vector_norm(st.U)) ** 2 >= WARMUP_FRACTION * s_hat:
        rule.warmup = st.ts


def _never_grew(U, s_hat, xp):
    return float(xp.linalg.vector_norm(U)) ** 2 < GROWTH_FRACTION * s_hat


def _growth_warning(st, u0_norm, check_at, s_hat, xp):
    if _never_grew(st.U, s_hat, xp):
        grew = float(xp.linalg.vector_norm(st.U)) / u0_norm
        warnings.warn(f"initialization too small for schedule: after {check_at} iterations "
                      f"||U||_F grew {grew:.3g}x but ||U||_F^2 is still below "
                      f"{GROWTH_FRACTION:g} x the data scale; the iterate may never leave the "
                      "origin. Use "
                      "step='warmup_geometric', a larger rho, a larger warmup or a larger alpha.",
                      RuntimeWarning, stacklevel=6)
        return True
    return False


def _finish(mon, st, xp, op, tr, rule, small_start, warned, u0_norm, check_at, s_hat):
    U, f = st.U, st.f
    if mon.status == 3 and mon.last_finite is not None:
        U, f = mon.last_finite["x"], mon.last_finite["fun"]
    metric = None
    if tr is not None:
        metric = float(tr.rel_err(U)) if mon.status != 3 else mon.last_metric
    else:
        metric = mon.last_metric
    growth = float(xp.linalg.vector_norm(U)) / u0_norm
    if small_start and st.nit >= check_at and _never_grew(U, s_hat, xp) and mon.status in (0, None):
        mon.status, mon.detail = 2, (f"(U never grew: ||U||_F^2 stayed below {GROWTH_FRACTION:g} "
                                     f"x the data scale ({growth:.3g}x its initial norm); "
                                     "initialization too small for the step schedule)")
    kernel = "recovery_dense_fused" if op.kind == "dense" else "recovery_rank1_fused"
    res = mon.finish(x=U, fun=f, nit=st.nit, metric=metric, nfev=st.nfev,
                     U=U, U_best=st.U_best, fun_best=float(st.f_best), eta=float(st.eta),
                     restarts=st.restarts, growth=growth, scale=s_hat,
                     warmup=rule.warmup if rule.kind == "warmup_geometric" else None,
                     numba=op.kind != "user" and kernel_uses_numba(kernel, xp))
    return LowRankResult(res)


# ----------------------------------------------------------------------------- the methods

SUBGM_OPTIONS = {
    **COMMON_OPTIONS,
    "step": [OneOf(*STEPS)],
    "eta0": [Interval(float, 0, None, closed="neither")],
    "rho": [Interval(float, 0, 1, closed="neither")],
    "warmup": [OneOf(None, "fixed", "adaptive"), Interval(int, 0, None)],
    "eta_min": [Interval(float, 0, None)],
    "f_star": [OneOf(None), Interval(float, 0, None)],
    "max_restarts": [Interval(int, 0, None)],
}


def _solve_subgm(A, y, rank, *, xp, callback=None, maxiter=2000, tol=None, seed=None,
                 check_every=1, history=False, disp=False, alpha=1e-3, init="gaussian", x0=None,
                 scale=None, truth=None, step="warmup_geometric", eta0=0.2, rho=0.98,
                 warmup=None, eta_min=0.0, f_star=None, max_restarts=3):
    """SubGM (see :func:`xpsolve.recover_low_rank`, ``method="subgm"``)."""
    if step == "polyak" and f_star is None:
        raise ValueError("step='polyak' needs the optimal value: pass option 'f_star' "
                         "(0.0 for noiseless measurements)")
    rule = _Rule(step, eta0=eta0, rho=rho, warmup=warmup, eta_min=eta_min,
                 f_star=0.0 if f_star is None else f_star)
    return _run(A, y, rank, xp=xp, callback=callback, method="subgm", l1=True, rule=rule,
                maxiter=maxiter, tol=tol, seed=seed, check_every=check_every, history=history,
                disp=disp, alpha=alpha, init=init, x0=x0, scale=scale, truth=truth,
                max_restarts=max_restarts)


POLYAK_OPTIONS = {**COMMON_OPTIONS, "f_star": [Interval(float, 0, None)]}


def _solve_polyak(A, y, rank, *, xp, callback=None, maxiter=2000, tol=None, seed=None,
                  check_every=1, history=False, disp=False, alpha=1e-3, init="gaussian",
                  x0=None, scale=None, truth=None, f_star=0.0):
    """Polyak sub-gradient method on the l1 loss (``method="polyak-subgradient"``)."""
    rule = _Rule("polyak", f_star=f_star)
    return _run(A, y, rank, xp=xp, callback=callback, method="polyak-subgradient", l1=True,
                rule=rule, maxiter=maxiter, tol=tol, seed=seed, check_every=check_every,
                history=history, disp=disp, alpha=alpha, init=init, x0=x0, scale=scale,
                truth=truth)


GD_OPTIONS = {**COMMON_OPTIONS, "eta": [Interval(float, 0, None, closed="neither")]}


def _solve_factored_gd(A, y, rank, *, xp, callback=None, maxiter=2000, tol=None, seed=None,
                       check_every=1, history=False, disp=False, alpha=1e-3, init="gaussian",
                       x0=None, scale=None, truth=None, eta=0.1):
    """Factored least-squares gradient descent (``method="factored-gd"``), step ``eta / scale``."""
    s_hat = data_scale(A, y, scale)
    rule = _Rule("constant", eta0=eta / s_hat)
    return _run(A, y, rank, xp=xp, callback=callback, method="factored-gd", l1=False,
                rule=rule, maxiter=maxiter, tol=tol, seed=seed, check_every=check_every,
                history=history, disp=disp, alpha=alpha, init=init, x0=x0, scale=s_hat,
                truth=truth)


_NS = ("numpy", "array_api_strict", "torch", "cupy")
register_solver(SolverSpec(
    metric=("rel_err", "rel_change"),
    name="subgm", family="recovery", func=_solve_subgm, options=SUBGM_OPTIONS, namespaces=_NS,
    kernels=("recovery_dense_fused", "recovery_rank1_fused"), summary="sub-gradient method with small initialization on the l1 loss "
                        "(Ma & Fattahi, JMLR 2023); warm-up then geometric steps"))
register_solver(SolverSpec(
    metric=("rel_err", "rel_change"),
    name="polyak-subgradient", family="recovery", func=_solve_polyak, options=POLYAK_OPTIONS,
    namespaces=_NS, kernels=("recovery_dense_fused", "recovery_rank1_fused"),
    summary="sub-gradient method on the l1 loss with Polyak steps (needs f_star)"))
register_solver(SolverSpec(
    metric=("rel_err", "rel_change"),
    name="factored-gd", family="recovery", func=_solve_factored_gd, options=GD_OPTIONS,
    namespaces=_NS, kernels=("recovery_dense_fused", "recovery_rank1_fused"),
    summary="factored least-squares gradient descent (non-robust baseline)"))
