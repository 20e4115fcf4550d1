r"""LV-HBA: proximal Lagrangian value-function based Hessian-free bilevel algorithm.

Reference: W. Yao, C. Yu, S. Zeng, J. Zhang, "Constrained Bi-Level Optimization:
Proximal Lagrangian Value function Approach and Hessian-free Algorithm", ICLR 2024,
arXiv:2401.16164. Specification: ``lv-hba.md`` (xpsolve specs).
"""
from __future__ import annotations

import collections
import math
import time
import warnings

import numpy as np

from ..._options import Interval, IsArray, IsCallable, IsInstance, OneOf
from ..._registry import SolverSpec, register_solver
from ..._result import IterationReport, OptimizeResult, make_result, notify
from ...backends import device as _device
from ...backends import namespace_name
from ._projections import Projector
from ._protocol import CountingProblem


def _schedule(value, name):
    if callable(value):
        def f(k, _v=value):
            out = float(_v(k))
            if not out > 0 or not math.isfinite(out):
                raise ValueError(f"schedule {name!r} returned {out!r} at iteration {k}; "
                                 "it must be a positive finite float")
            return out
        return f, False
    v = float(value)
    return (lambda k: v), True


def _solve_lvhba(problem, x0, y0, *, xp, callback=None, maxiter=1000, alpha=0.01, beta=None,
                 eta=0.01, gamma1=10.0, gamma2=10.0, c0=1.0, p=0.3, penalty=None, r=10.0,
                 cap_multiplier=True, theta0=None, lam0=None, z0=None, tol_stat=None,
                 tol_gap=None, patience=10, proj_tol=1e-6, proj_maxiter=100, check_every=1,
                 history=False, record_every=10, disp=False, stochastic=False, batch_size=32,
                 rng=None):
    r"""LV-HBA for constrained bilevel problems (see :func:`xpsolve.bilevel_minimize`)."""
    P = CountingProblem(problem)
    n_cons = int(getattr(problem, "n_cons", 0) or 0)
    dt = problem.dtype
    dev = _device(x0)
    on = {} if dev is None else {"device": dev}
    # --- what the method needs, checked before iterating --------------------------------
    need = ["upper_grad", "lower_grad"]
    if n_cons:
        need += ["lower_cons", "lower_cons_vjp"]
    missing = [n for n in need if not P.provides(n)]
    if missing:
        raise ValueError(f"LV-HBA needs the oracles {', '.join(missing)}, which the problem lacks")
    proj = Projector(P, xp, proj_tol=proj_tol, proj_maxiter=proj_maxiter, device=dev)
    if (tol_stat is None) != (tol_gap is None):
        raise ValueError("options 'tol_stat' and 'tol_gap' must be given together (or neither)")
    if stochastic:
        if problem.n_upper is None or problem.n_lower is None:
            raise ValueError("stochastic=True needs a finite-sum problem (n_upper, n_lower set)")
        gen = np.random.default_rng(rng)
        rng_u, rng_l = gen.spawn(2)
    alpha_k, _ = _schedule(alpha, "alpha")
    beta_k, _ = _schedule(alpha if beta is None else beta, "beta")
    eta_k, _ = _schedule(eta, "eta")
    if penalty is not None:
        c_k, _ = _schedule(penalty, "penalty")
    else:
        c_k = lambda k: c0 * (k + 1.0) ** p  # noqa: E731
    g1, g2 = float(gamma1), float(gamma2)

    # --- initialisation (all author codes) ------------------------------------------------
    x, y = proj.initial(x0, y0)
    theta = proj.proj_y(y) if theta0 is None else theta0
    eq = np.zeros(n_cons, dtype=bool)
    eq[list(getattr(problem, "equality_rows", ()) or ())] = True
    lam_hi = r if cap_multiplier else math.inf
    lo = xp.asarray(np.where(eq, -r, 0.0), dtype=dt, **on)
    hi_lam = xp.asarray(np.where(eq, r, lam_hi), dtype=dt, **on)
    hi_z = xp.asarray(np.full(n_cons, r), dtype=dt, **on)
    start = min(1.0, r)
    lam = xp.full((n_cons,), start, dtype=dt, **on) if lam0 is None else lam0
    z = xp.full((n_cons,), start, dtype=dt, **on) if z0 is None else z0
    for name, v, d in (("theta0", theta, problem.dim_y), ("lam0", lam, n_cons), ("z0", z, n_cons)):
        if tuple(v.shape) != (d,):
            raise ValueError(f"Option {name!r} must have shape ({d},); got {tuple(v.shape)}")
    if n_cons:
        lam = xp.minimum(xp.maximum(lam, lo), hi_lam)
        z = xp.minimum(xp.maximum(z, lo), hi_z)

    keep, keep_nit = (x, y, theta, lam, z), 0
    hist = {"nit": [], "fun": [], "ll_gap": [], "residual": [], "max_constr": [], "c_k": [],
            "time": []} if history else {}
    report = IterationReport(["nit", "fun", "ll_gap", "residual", "c_k"]) if disp else None
    cap_hits = collections.deque(maxlen=100)
    t0 = time.perf_counter()
    status, detail = (1, f"({maxiter} iterations; stopping tolerances not met)") \
        if tol_stat is not None else (0, f"(fixed budget of {maxiter} iterations)")
    nit, streak, resid = 0, 0, math.nan
    ub = lb = None

    def gap_estimate(x, y, theta, lam, z, lb=None):
        v = P.lower_value(x, theta, lb) + float(xp.sum((theta - y) ** 2)) / (2 * g1)
        if n_cons:
            v = v + xp.sum(lam * P.lower_cons(x, theta)) - float(xp.sum((lam - z) ** 2)) / (2 * g2)
        return float(P.lower_value(x, y, lb) - v)

    for k in range(maxiter):
        c = c_k(k)
        a_, b_, e_ = alpha_k(k), beta_k(k), eta_k(k)
        if stochastic:
            ub = xp.asarray(rng_u.integers(0, problem.n_upper, batch_size), **on)
            lb = xp.asarray(rng_l.integers(0, problem.n_lower, batch_size), **on)
        # step 2: projected descent-ascent on the proximal Lagrangian (Jacobi order)
        _, gy_t = P.lower_grad(x, theta, lb)
        d_theta = gy_t + (theta - y) / g1
        if n_cons:
            _, jy = P.lower_cons_vjp(x, theta, lam)
            d_theta = d_theta + jy
            d_lam = (lam - z) / g2 - P.lower_cons(x, theta)
            lam_n = xp.minimum(xp.maximum(lam - e_ * d_lam, lo), hi_lam)
        else:
            lam_n = lam
        theta_n = proj.proj_y(theta - e_ * d_theta)
        # step 3: directions for (x, y, z) at (x^k, y^k, z^k) with the new theta, lam
        Fx, Fy = P.upper_grad(x, y, ub)
        fx, fy = P.lower_grad(x, y, lb)
        ftx, _ = P.lower_grad(x, theta_n, lb)
        d_x = Fx / c + fx - ftx
        if n_cons:
            jx, _ = P.lower_cons_vjp(x, theta_n, lam_n)
            d_x = d_x - jx
        d_y = Fy / c + fy - (y - theta_n) / g1
        # step 4: one joint projection, box clip of z
        x_n, y_n = proj(x - a_ * d_x, y - a_ * d_y)
        if n_cons:
            d_z = (z - lam_n) / g2
            z_n = xp.minimum(xp.maximum(z - b_ * d_z, lo), hi_z)
        else:
            z_n = z
        nit = k + 1
        stop_test = tol_stat is not None
        record = (history or disp) and (nit % record_every == 0 or nit == maxiter)
        if stop_test or record:
            # projected-gradient residual of phi_k with the steps just taken
            sq = float(xp.sum((x_n - x) ** 2) + xp.sum((y_n - y) ** 2)) / a_ ** 2
            if n_cons:
                sq += float(xp.sum((z_n - z) ** 2)) / b_ ** 2
            resid = math.sqrt(sq)
        if nit % check_every == 0 or nit == maxiter:
            # x^{k+1} depends on theta^{k+1} and lam^{k+1} (and y^{k+1} on theta^{k+1}), and z on
            # lam: a non-finite value anywhere shows up in x or y within the same iteration
            if not math.isfinite(float(xp.sum(x_n) + xp.sum(y_n))):
                status, detail = 3, f"(non-finite iterate at iteration {nit})"
                nit = keep_nit
                break
            keep, keep_nit = (x_n, y_n, theta_n, lam_n, z_n), nit
            if n_cons:
                cap_hits.append(float(xp.max(xp.abs(lam_n))) >= r * (1 - 1e-12))
        x, y, theta, lam, z = x_n, y_n, theta_n, lam_n, z_n
        if stop_test or record:
            gap = gap_estimate(x, y, theta, lam, z, lb)
            if record:
                fval = float(P.upper_value(x, y))
                mc = float(xp.max(P.lower_cons(x, y))) if n_cons else 0.0
                if history:
                    for key, val in (("nit", nit), ("fun", fval), ("ll_gap", gap),
                                     ("residual", resid), ("max_constr", mc), ("c_k", c),
                                     ("time", time.perf_counter() - t0)):
                        hist[key].append(val)
                if report is not None:
                    report.row(nit=nit, fun=fval, ll_gap=gap, residual=resid, c_k=c)
            if stop_test:
                streak = streak + 1 if (resid <= tol_stat and abs(gap) <= tol_gap) else 0
                if streak >= patience:
                    status, detail = 0, f"(stationarity and gap tolerances met for {patience} iterations)"
                    break
        if callback is not None and (nit % check_every == 0 or nit == maxiter):
            inter = OptimizeResult(x=x, y=y, z=z, theta=theta, lam=lam, nit=nit,
                                   fun=P.upper_value(x, y), c_k=c)
            if notify(callback, inter):
                status, detail = 99, None
                break

    x, y, theta, lam, z = keep if status == 3 else (x, y, theta, lam, z)
    if n_cons and len(cap_hits) >= 10 and sum(cap_hits) > 0.1 * len(cap_hits):
        warnings.warn(f"LV-HBA: the multiplier hit the cap r = {r} in {sum(cap_hits)} of the last "
                      f"{len(cap_hits)} checks; r may be too small or the iteration diverges",
                      RuntimeWarning, stacklevel=4)
    fun = float(P.upper_value(x, y))
    ll_gap = gap_estimate(x, y, theta, lam, z) if math.isfinite(fun) else math.nan
    max_constr = float(xp.max(P.lower_cons(x, y))) if n_cons else 0.0
    counts = dict(P.counts)
    return make_result(
        x=x, fun=fun, nit=nit, status=status, detail=detail, backend=namespace_name(xp),
        nfev=counts.get("upper_value", 0) + counts.get("lower_value", 0),
        njev=counts.get("upper_grad", 0) + counts.get("lower_grad", 0), history=hist,
        y=y, z=z, theta=theta, lam=lam, multipliers=lam, ll_gap=ll_gap, max_constr=max_constr,
        maxcv=max(max_constr, 0.0), residual=resid, c_final=c_k(max(nit - 1, 0)),
        n_calls=counts,
        approximate_oracles=tuple(n for n in problem.approximate_oracles if counts.get(n, 0)),
        projection=proj.kind, proj_resid=proj.last_resid, proj_dual_iters=proj.dual_iters)


OPTIONS = {
    "maxiter": [Interval(int, 0, None)],
    "alpha": [Interval(float, 0, None, closed="neither"), IsCallable()],
    "beta": [OneOf(None), Interval(float, 0, None, closed="neither"), IsCallable()],
    "eta": [Interval(float, 0, None, closed="neither"), IsCallable()],
    "gamma1": [Interval(float, 0, None, closed="neither")],
    "gamma2": [Interval(float, 0, None, closed="neither")],
    "c0": [Interval(float, 0, None, closed="neither")],
    "p": [Interval(float, 0, 1, closed="left")],
    "penalty": [OneOf(None), IsCallable()],
    "r": [Interval(float, 0, None, closed="neither")],
    "cap_multiplier": [OneOf(True, False)],
    "theta0": [OneOf(None), IsArray("an array of shape (dim_y,)")],
    "lam0": [OneOf(None), IsArray("an array of shape (n_cons,)")],
    "z0": [OneOf(None), IsArray("an array of shape (n_cons,)")],
    "tol_stat": [OneOf(None), Interval(float, 0, None, closed="neither")],
    "tol_gap": [OneOf(None), Interval(float, 0, None, closed="neither")],
    "patience": [Interval(int, 1, None)],
    "proj_tol": [Interval(float, 0, None, closed="neither")],
    "proj_maxiter": [Interval(int, 1, None)],
    "check_every": [Interval(int, 1, None)],
    "history": [OneOf(True, False)],
    "record_every": [Interval(int, 1, None)],
    "disp": [OneOf(True, False)],
    "stochastic": [OneOf(True, False)],
    "batch_size": [Interval(int, 1, None)],
    "rng": [OneOf(None), Interval(int, 0, None), IsInstance(np.random.Generator)],
}

register_solver(SolverSpec(
    name="lv-hba", family="bilevel", func=_solve_lvhba, options=OPTIONS,
    numba=True, needs=frozenset({"upper_grad", "lower_grad"}),
    accepts=frozenset({"lower_cons", "lower_cons_vjp", "proj_x", "proj_y", "proj_xy",
                       "cons_structure"}),
    summary="LV-HBA (Yao et al., ICLR 2024): single-loop, Hessian-free, coupled LL constraints"))


def prox_lagrangian_saddle(problem, x, y, z, *, gamma1=10.0, gamma2=10.0, eta=0.01, iters=10000,
                           theta=None, lam=None):
    r"""Run LV-HBA's step 2 alone (fixed x, y, z) to approximate the inner saddle point.

    Returns ``(theta, lam, v)`` with ``v`` the proximal Lagrangian value
    :math:`v_\gamma(x, y, z)` evaluated at the final ``(theta, lam)`` (Lambda = R_+;
    equality rows free). Used to check the value-function gradient formulas
    (LV-HBA spec, check T3); not needed by the solver.
    """
    xp = problem.xp
    n_cons = int(problem.n_cons or 0)
    eq = np.zeros(n_cons, dtype=bool)
    eq[list(problem.equality_rows or ())] = True
    lo = xp.asarray(np.where(eq, -np.inf, 0.0), dtype=problem.dtype)
    theta = y if theta is None else theta
    lam = z if lam is None else lam
    proj_y = problem.proj_y if problem.provides("proj_y") else (lambda t: t)
    for _ in range(iters):
        _, gy = problem.lower_grad(x, theta)
        d_theta = gy + (theta - y) / gamma1
        if n_cons:
            d_theta = d_theta + problem.lower_cons_vjp(x, theta, lam)[1]
            d_lam = (lam - z) / gamma2 - problem.lower_cons(x, theta)
            lam = xp.maximum(lam - eta * d_lam, lo)
        theta = proj_y(theta - eta * d_theta)
    v = problem.lower_value(x, theta) + xp.sum((theta - y) ** 2) / (2 * gamma1)
    if n_cons:
        v = v + xp.sum(lam * problem.lower_cons(x, theta)) - xp.sum((lam - z) ** 2) / (2 * gamma2)
    return theta, lam, float(v)
