r"""LV-HBA: proximal Lagrangian value-function based Hessian-free bilevel algorithm.

Reference: W. Yao, C. Yu, S. Zeng, J. Zhang, "Constrained Bi-Level Optimization:
Proximal Lagrangian Value function Approach and Hessian-free Algorithm", ICLR 2024,
arXiv:2401.16164. The method, its options and deviations are documented in
:func:`xpsolve.bilevel_minimize` and on the "LV-HBA" page of the documentation.

Written as ``init`` (:func:`_setup`), ``step`` (:func:`_step`, one iteration of the
paper's algorithm) and ``terminate`` (:func:`_finish`) around the shared check-point
loop :class:`xpsolve._monitor.Monitor`. The reported metric is ``residual``, the step
residual of the penalised problem (what the optional stopping test measures); the
lower-level gap estimate ``ll_gap`` and the constraint violation ``maxcv`` are reported
with it.
"""
from __future__ import annotations

import collections
import math
import types
import warnings

import numpy as np

from ..._monitor import Monitor
from ..._options import Interval, IsArray, IsCallable, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ...backends import device as _device
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
        return f
    v = float(value)
    return lambda k: v


def _solve_lvhba(problem, x0, y0, *, xp, callback=None, maxiter=1000, alpha=0.01, beta=None,
                 eta=0.01, gamma1=10.0, gamma2=10.0, c0=1.0, p=0.3, penalty=None, r=10.0,
                 cap_multiplier=True, theta0=None, lam0=None, z0=None, tol_stat=None,
                 tol_gap=None, patience=10, feas_tol=1e-4, proj_tol=1e-6, proj_maxiter=100,
                 check_every=1, history=False, disp=False, stochastic=False, batch_size=32,
                 seed=None):
    r"""LV-HBA for constrained bilevel problems (see :func:`xpsolve.bilevel_minimize`)."""
    cfg, st = _setup(problem, x0, y0, xp, alpha=alpha, beta=beta, eta=eta, gamma1=gamma1,
                     gamma2=gamma2, c0=c0, p=p, penalty=penalty, r=r,
                     cap_multiplier=cap_multiplier, theta0=theta0, lam0=lam0, z0=z0,
                     tol_stat=tol_stat, tol_gap=tol_gap, feas_tol=feas_tol, proj_tol=proj_tol,
                     proj_maxiter=proj_maxiter, stochastic=stochastic,
                     batch_size=batch_size, seed=seed)
    mon = Monitor("lv-hba", xp=xp, maxiter=maxiter, tol=None, metric="residual",
                  check_every=check_every, history=history, disp=disp, callback=callback,
                  columns=("ll_gap", "c_k"), record=("ll_gap", "maxcv", "c_k"))
    keep, streak, resid = st, 0, math.nan
    for k in range(maxiter):
        new = _step(cfg, st, k)
        nit = k + 1
        if mon.due(nit):
            resid = _residual(cfg, st, new, k)
            if math.isfinite(resid):
                if cfg.tol_stat is not None:
                    ok = resid <= cfg.tol_stat and abs(_gap(cfg, new, new.lb)) <= cfg.tol_gap
                    streak = streak + 1 if ok else 0
                    if streak >= patience:
                        mon.stop(0, f"(step residual and gap tolerances met for {patience} "
                                    "check points)")
                keep = new
                cfg.watch_cap(new)
            st = new
            if mon.check(nit, x=new.x, fun=lambda s=new: cfg.P.upper_value(s.x, s.y),
                         metric=resid, n_calls=dict(cfg.P.counts), y=new.y, z=new.z,
                         theta=new.theta,
                         multipliers=new.lam, c_k=new.c,
                         ll_gap=lambda s=new: _gap(cfg, s, s.lb),
                         maxcv=lambda s=new: _maxcv(cfg, s)) or mon.stopped:
                break
        else:
            st = new
    return _finish(cfg, mon, keep if mon.status == 3 else st, resid)


def _setup(problem, x0, y0, xp, **o):
    """Oracles, projection, schedules and the first iterate (``init``)."""
    cfg = types.SimpleNamespace(**o)
    cfg.problem, cfg.xp = problem, xp
    cfg.P = P = CountingProblem(problem)
    cfg.n_cons = n_cons = int(getattr(problem, "n_cons", 0) or 0)
    dt = problem.dtype
    dev = _device(x0)
    on = {} if dev is None else {"device": dev}
    need = ["upper_grad", "lower_grad"] + (["lower_cons", "lower_cons_vjp"] if n_cons else [])
    missing = [n for n in need if not P.provides(n)]
    if missing:
        raise ValueError(f"LV-HBA needs the oracles {', '.join(missing)}, which the problem lacks")
    cfg.proj = proj = Projector(P, xp, proj_tol=o["proj_tol"], proj_maxiter=o["proj_maxiter"],
                                device=dev)
    if (o["tol_stat"] is None) != (o["tol_gap"] is None):
        raise ValueError("options 'tol_stat' and 'tol_gap' must be given together (or neither)")
    cfg.rng_u = cfg.rng_l = None
    if o["stochastic"]:
        if problem.n_upper is None or problem.n_lower is None:
            raise ValueError("stochastic=True needs a finite-sum problem (n_upper, n_lower set)")
        seed = o["seed"]
        gen = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        cfg.rng_u, cfg.rng_l = gen.spawn(2)
    cfg.on = on
    cfg.alpha_k = _schedule(o["alpha"], "alpha")
    cfg.beta_k = _schedule(o["alpha"] if o["beta"] is None else o["beta"], "beta")
    cfg.eta_k = _schedule(o["eta"], "eta")
    c0, p = o["c0"], o["p"]
    cfg.c_k = _schedule(o["penalty"], "penalty") if o["penalty"] is not None else \
        (lambda k: c0 * (k + 1.0) ** p)
    cfg.g1, cfg.g2 = float(o["gamma1"]), float(o["gamma2"])
    # initialisation (all author codes): (x, y) projected onto C, theta = y, lam = z = min(1, r)
    x, y = proj.initial(x0, y0)
    r = o["r"]
    eq = np.zeros(n_cons, dtype=bool)
    eq[list(getattr(problem, "equality_rows", ()) or ())] = True
    cfg.lo = xp.asarray(np.where(eq, -r, 0.0), dtype=dt, **on)
    cfg.hi_lam = xp.asarray(np.where(eq, r, r if o["cap_multiplier"] else math.inf), dtype=dt,
                            **on)
    cfg.hi_z = xp.asarray(np.full(n_cons, r), dtype=dt, **on)
    start = min(1.0, r)
    theta = proj.proj_y(y) if o["theta0"] is None else o["theta0"]
    lam = xp.full((n_cons,), start, dtype=dt, **on) if o["lam0"] is None else o["lam0"]
    z = xp.full((n_cons,), start, dtype=dt, **on) if o["z0"] is None else o["z0"]
    for name, v, d in (("theta0", theta, problem.dim_y), ("lam0", lam, n_cons),
                       ("z0", z, n_cons)):
        if tuple(v.shape) != (d,):
            raise ValueError(f"Option {name!r} must have shape ({d},); got {tuple(v.shape)}")
    if n_cons:
        lam = xp.minimum(xp.maximum(lam, cfg.lo), cfg.hi_lam)
        z = xp.minimum(xp.maximum(z, cfg.lo), cfg.hi_z)
    cap_hits = collections.deque(maxlen=100)
    cfg.cap_hits = cap_hits

    def watch_cap(s):  # the multiplier at the cap r: r too small, or divergence
        if n_cons:
            cap_hits.append(float(xp.max(xp.abs(s.lam))) >= r * (1 - 1e-12))
    cfg.watch_cap = watch_cap
    return cfg, _It(x, y, theta, lam, z, c=math.nan, lb=None)


class _It:
    """One LV-HBA iterate ``(x, y, theta, lam, z)`` with the penalty and minibatch that made it."""

    __slots__ = ("x", "y", "theta", "lam", "z", "c", "lb")

    def __init__(self, x, y, theta, lam, z, *, c, lb):
        self.x, self.y, self.theta, self.lam, self.z, self.c, self.lb = x, y, theta, lam, z, c, lb


def _check_grad(g, ref, name):
    """Oracle outputs must have the shape of the variable (no silent broadcasting)."""
    if tuple(g.shape) != tuple(ref.shape):
        raise ValueError(f"oracle {name} returned shape {tuple(g.shape)}; expected "
                         f"{tuple(ref.shape)} (the shape of the variable it differentiates)")
    return g


def _step(cfg, s, k):
    """One iteration of LV-HBA (steps 2-4 of the paper's algorithm)."""
    xp, P, n_cons = cfg.xp, cfg.P, cfg.n_cons
    x, y, theta, lam, z = s.x, s.y, s.theta, s.lam, s.z
    c = cfg.c_k(k)
    a_, b_, e_ = cfg.alpha_k(k), cfg.beta_k(k), cfg.eta_k(k)
    ub = lb = None
    if cfg.rng_u is not None:
        ub = xp.asarray(cfg.rng_u.integers(0, cfg.problem.n_upper, cfg.batch_size), **cfg.on)
        lb = xp.asarray(cfg.rng_l.integers(0, cfg.problem.n_lower, cfg.batch_size), **cfg.on)
    # step 2: projected descent-ascent on the proximal Lagrangian (Jacobi order)
    _, gy_t = P.lower_grad(x, theta, lb)
    d_theta = _check_grad(gy_t, y, "lower_grad (y part)") + (theta - y) / cfg.g1
    if n_cons:
        _, jy = P.lower_cons_vjp(x, theta, lam)
        d_theta = d_theta + _check_grad(jy, y, "lower_cons_vjp (y part)")
        d_lam = (lam - z) / cfg.g2 - P.lower_cons(x, theta)
        lam_n = xp.minimum(xp.maximum(lam - e_ * d_lam, cfg.lo), cfg.hi_lam)
    else:
        lam_n = lam
    theta_n = cfg.proj.proj_y(theta - e_ * d_theta)
    # step 3: directions for (x, y, z) at (x^k, y^k, z^k) with the new theta, lam
    Fx, Fy = P.upper_grad(x, y, ub)
    fx, fy = P.lower_grad(x, y, lb)
    ftx, _ = P.lower_grad(x, theta_n, lb)
    _check_grad(Fx, x, "upper_grad (x part)")
    _check_grad(Fy, y, "upper_grad (y part)")
    _check_grad(fx, x, "lower_grad (x part)")
    d_x = Fx / c + fx - ftx
    if n_cons:
        jx, _ = P.lower_cons_vjp(x, theta_n, lam_n)
        d_x = d_x - _check_grad(jx, x, "lower_cons_vjp (x part)")
    d_y = Fy / c + fy - (y - theta_n) / cfg.g1
    # step 4: one joint projection, box clip of z
    x_n, y_n = cfg.proj(x - a_ * d_x, y - a_ * d_y)
    if n_cons:
        z_n = xp.minimum(xp.maximum(z - b_ * (z - lam_n) / cfg.g2, cfg.lo), cfg.hi_z)
    else:
        z_n = z
    return _It(x_n, y_n, theta_n, lam_n, z_n, c=c, lb=lb)


def _residual(cfg, s, new, k):
    """Step residual of the penalised problem, ``||(x, y, z)^{k+1} - (x, y, z)^k|| / step``.

    It is the projected-gradient residual of :math:`\\phi_k` with the one-step saddle
    estimates; non-finite iterates make it non-finite (x depends on theta and lam, y on
    theta, z on lam within the same iteration).
    """
    xp = cfg.xp
    a_ = cfg.alpha_k(k)
    sq = (xp.sum((new.x - s.x) ** 2) + xp.sum((new.y - s.y) ** 2)) / a_ ** 2
    if cfg.n_cons:
        sq = sq + xp.sum((new.z - s.z) ** 2) / cfg.beta_k(k) ** 2
    sq = float(sq)  # one host synchronisation per check point
    return math.sqrt(sq) if math.isfinite(sq) else math.nan


def _gap(cfg, s, lb=None):
    """Lower-level gap estimate :math:`G(x, y) - \\hat v_\\gamma` at the iterate's (theta, lam)."""
    xp, P = cfg.xp, cfg.P
    v = P.lower_value(s.x, s.theta, lb) + float(xp.sum((s.theta - s.y) ** 2)) / (2 * cfg.g1)
    if cfg.n_cons:
        v = v + xp.sum(s.lam * P.lower_cons(s.x, s.theta)) \
            - float(xp.sum((s.lam - s.z) ** 2)) / (2 * cfg.g2)
    return float(P.lower_value(s.x, s.y, lb) - v)


def _maxcv(cfg, s):
    """Largest lower-level constraint violation :math:`\\max(0, \\max_i g_i(x, y))`."""
    if not cfg.n_cons:
        return 0.0
    return max(float(cfg.xp.max(cfg.P.lower_cons(s.x, s.y))), 0.0)


def _finish(cfg, mon, s, resid):
    """Final status (made honest on the returned iterate) and the result (``terminate``)."""
    P, hits = cfg.P, cfg.cap_hits
    if len(hits) >= 10 and sum(hits) > 0.1 * len(hits):
        warnings.warn(f"LV-HBA: the multiplier hit the cap r = {cfg.r} in {sum(hits)} of the "
                      f"last {len(hits)} checks; r may be too small or the iteration diverges",
                      RuntimeWarning, stacklevel=4)
    fun = float(P.upper_value(s.x, s.y))
    ll_gap = _gap(cfg, s) if math.isfinite(fun) else math.nan
    maxcv = _maxcv(cfg, s)
    if not (math.isfinite(fun) and math.isfinite(ll_gap) and math.isfinite(maxcv)):
        if mon.status != 3:
            mon.status, mon.detail = 3, (f"(fun = {fun}, ll_gap = {ll_gap}, maxcv = {maxcv} "
                                         "at the returned iterate)")
    elif not maxcv <= cfg.feas_tol:
        mon.status, mon.detail = 4, (
            f"(lower-level constraint violation maxcv = {maxcv:.3g} > feas_tol = "
            f"{cfg.feas_tol:g} at the returned iterate: the joint set C may be empty, or the "
            f"projection did not converge (projection residual {cfg.proj.last_resid:.3g}; "
            "raise proj_maxiter))")
    elif mon.status == 0 and not (resid <= cfg.tol_stat and abs(ll_gap) <= cfg.tol_gap):
        mon.status, mon.detail = 2, (
            f"(the minibatch test passed but the full lower-level gap {ll_gap:.3g} or the "
            f"residual {resid:.3g} does not meet tol_gap / tol_stat)")
    counts = dict(P.counts)
    nit = mon.nit if mon.status != 3 else mon.last_finite["nit"] if mon.last_finite else 0
    return mon.finish(
        x=s.x, fun=fun, nit=nit, metric=resid,
        nfev=counts.get("upper_value", 0) + counts.get("lower_value", 0),
        njev=counts.get("upper_grad", 0) + counts.get("lower_grad", 0),
        y=s.y, z=s.z, theta=s.theta, multipliers=s.lam, ll_gap=ll_gap, maxcv=maxcv,
        c_final=cfg.c_k(max(nit - 1, 0)), n_calls=counts,
        approximate_oracles=tuple(n for n in cfg.problem.approximate_oracles
                                  if counts.get(n, 0)),
        projection=cfg.proj.kind, proj_resid=cfg.proj.last_resid,
        proj_dual_iters=cfg.proj.dual_iters)


OPTIONS = standard_options(
    "maxiter", "seed", "check_every", "history", "disp",
    alpha=[Interval(float, 0, None, closed="neither"), IsCallable()],
    beta=[OneOf(None), Interval(float, 0, None, closed="neither"), IsCallable()],
    eta=[Interval(float, 0, None, closed="neither"), IsCallable()],
    gamma1=[Interval(float, 0, None, closed="neither")],
    gamma2=[Interval(float, 0, None, closed="neither")],
    c0=[Interval(float, 0, None, closed="neither")],
    p=[Interval(float, 0, 1, closed="left")],
    penalty=[OneOf(None), IsCallable()],
    r=[Interval(float, 0, None, closed="neither")],
    cap_multiplier=[OneOf(True, False)],
    theta0=[OneOf(None), IsArray("an array of shape (dim_y,)")],
    lam0=[OneOf(None), IsArray("an array of shape (n_cons,)")],
    z0=[OneOf(None), IsArray("an array of shape (n_cons,)")],
    tol_stat=[OneOf(None), Interval(float, 0, None, closed="neither")],
    tol_gap=[OneOf(None), Interval(float, 0, None, closed="neither")],
    patience=[Interval(int, 1, None)],
    feas_tol=[Interval(float, 0, None, closed="neither")],
    proj_tol=[Interval(float, 0, None, closed="neither")],
    proj_maxiter=[Interval(int, 1, None)],
    stochastic=[OneOf(True, False)],
    batch_size=[Interval(int, 1, None)],
)

register_solver(SolverSpec(
    metric="residual",
    name="lv-hba", family="bilevel", func=_solve_lvhba, options=OPTIONS,
    # numba is derived from the kernels; the one kernel runs only for "polyhedral" sets
    kernels=("bilevel_polyhedral_dual",), needs=frozenset({"upper_grad", "lower_grad"}),
    accepts=frozenset({"lower_cons", "lower_cons_vjp", "proj_x", "proj_y", "proj_xy",
                       "cons_structure"}),
    summary="LV-HBA (Yao et al., ICLR 2024): single-loop, Hessian-free, coupled LL constraints"))


def prox_lagrangian_saddle(problem, x, y, z, *, gamma1=10.0, gamma2=10.0, eta=0.01, iters=10000,
                           theta=None, lam=None):
    r"""Run LV-HBA's step 2 alone (fixed x, y, z) to approximate the inner saddle point.

    Returns ``(theta, lam, v)`` with ``v`` the proximal Lagrangian value
    :math:`v_\gamma(x, y, z)` evaluated at the final ``(theta, lam)`` (Lambda = R_+;
    equality rows free). Used to check the value-function gradient formulas
    (a check of the value-function gradient formulas in the tests); not needed by the solver.
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
