"""Projected gradient descent for blind gain calibration (Cambareri & Jacques), plain and subspace.

The loop is written once over a *parametrisation* of the unknowns: plain PGD works on
``(xi, w)`` with ``x = xi``, ``g = 1 + w``, ``1^T w = 0``; the subspace variant on
``(zeta, beta)`` with ``x = Z zeta`` and ``g = 1 + B beta``. Per iteration: one batched
forward ``A_l x`` (reused for the objective, the gain gradient and the next step) and
one batched adjoint; backtracking adds one forward per rejected trial.
"""
from __future__ import annotations

import math
import warnings

from ..._monitor import Monitor, warn_unreachable_tol
from ..._options import Interval, IsArray, IsCallable, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ...backends import device as _device, get_kernel, register_kernel
from ._common import (check_basis, check_truth, fun_value, identifiability, normalize_scale,
                      not_identifiable_detail, project_gains, recovery_error, warn_nonpositive)

__all__ = ["PGD_OPTIONS", "SUBSPACE_OPTIONS"]


register_kernel("calibration_project_gains", generic=project_gains,
                numba="xpsolve.solvers.calibration._numba_kernels:project_gains_numba")


# ----------------------------------------------------------------------------- parametrisations
class _Plain:
    """x = xi, g = 1 + w with 1^T w = 0 (and ||w||_inf <= rho when rho is given)."""

    def __init__(self, n, m, rho, xp):
        self.n, self.m, self.rho, self.xp = n, m, rho, xp
        self.n_free, self.m_free = n, m - 1

    def init(self, xi0, dtype, dev):
        return xi0, self.xp.zeros((self.m,), dtype=dtype, **dev)

    def x_of(self, u):
        return u

    def g_of(self, b):
        return 1.0 + b

    def grad_u(self, gx):
        return gx

    def grad_b(self, gg):
        return gg - self.xp.mean(gg)          # projection onto 1-perp

    def project_b(self, b):
        xp = self.xp
        if self.rho is None:
            return b - xp.mean(b)               # exact hyperplane projection (removes drift)
        return get_kernel("calibration_project_gains", xp)(1.0 + b, self.rho, xp) - 1.0


class _Subspace:
    """x = Z zeta (or zeta when Z is None), g = 1 + B beta (or the plain gain block when B is None)."""

    def __init__(self, n, m, rho, xp, Z, B):
        self.xp, self.rho, self.Z, self.B, self.m = xp, rho, Z, B, m
        self.plain = _Plain(n, m, rho, xp)
        self.n_free = n if Z is None else Z.shape[1]
        self.m_free = m - 1 if B is None else B.shape[1]

    def init(self, xi0, dtype, dev):
        u = xi0 if self.Z is None else xi0 @ self.Z
        h = self.m if self.B is None else self.B.shape[1]
        return u, self.xp.zeros((h,), dtype=dtype, **dev)

    def x_of(self, u):
        return u if self.Z is None else self.Z @ u

    def g_of(self, b):
        return 1.0 + b if self.B is None else 1.0 + self.B @ b

    def grad_u(self, gx):
        return gx if self.Z is None else gx @ self.Z

    def grad_b(self, gg):
        return self.plain.grad_b(gg) if self.B is None else gg @ self.B   # B^T 1 = 0

    def project_b(self, b):
        if self.B is None:
            return self.plain.project_b(b)
        if self.rho is None:
            return b
        # (inferred) feasibility by radial scaling onto {||B beta||_inf <= rho}
        xp = self.xp
        s = xp.max(xp.abs(self.B @ b))
        return b * xp.where(s > self.rho, self.rho / xp.where(s > 0, s, 1.0), 1.0)


# ----------------------------------------------------------------------------- step rules
class _StepRule:
    """``mu`` per iteration; ``line_search`` rules also shrink on an increase of F."""

    def __init__(self, step, mu, shrink, grow, mu_min):
        self.callable = step if callable(step) else None
        self.line_search = step == "backtracking"
        if step == "theory" and mu is None:
            raise ValueError("option step='theory' needs option mu (the theorem's step constant)")
        default = 1.0 if self.line_search else 0.5
        self.mu = float(default if mu is None else mu)
        self.shrink, self.grow, self.mu_min = shrink, grow, mu_min

    def current(self, nit):
        if self.callable is not None:
            mu = float(self.callable(nit, self.mu))
            if not (math.isfinite(mu) and mu > 0):
                raise ValueError(f"the step callable returned mu = {mu!r}; it must be a positive float")
            self.mu = mu
        return self.mu


def _trial(op, y, param, u, b, gu, gb, mu, cg, xp):
    u1 = u - mu * gu
    b1 = param.project_b(b - (mu * cg) * gb)
    x1, g1 = param.x_of(u1), param.g_of(b1)
    z1 = op.forward(x1)
    return u1, b1, x1, g1, z1, fun_value(g1 * z1 - y, xp)


def _rel(num, den, xp):
    """``num / den``, or ``num`` when ``den`` is 0 (a zero iterate, e.g. ``y = 0``)."""
    return xp.where(den > 0, num / xp.where(den > 0, den, 1.0), num)


def _step(state, op, y, param, rule, cg, xp):
    """One PGD iteration; ``state`` = dict(u, b, x, g, z, F, rel, nit)."""
    p, m = y.shape
    u, b, x, g, z, F = (state[k] for k in ("u", "b", "x", "g", "z", "F"))
    r = g * z - y
    gu = param.grad_u(op.adjoint(g * r) / (m * p))
    gb = param.grad_b(xp.sum(z * r, axis=0) / (m * p))
    mu = rule.current(state["nit"])
    u1, b1, x1, g1, z1, F1 = _trial(op, y, param, u, b, gu, gb, mu, cg, xp)
    if rule.line_search:
        while not bool(F1 <= F) and mu > rule.mu_min:     # one host sync per trial
            mu = max(mu * rule.shrink, rule.mu_min)
            u1, b1, x1, g1, z1, F1 = _trial(op, y, param, u, b, gu, gb, mu, cg, xp)
        rule.mu = mu * rule.grow
    dx = _rel(xp.linalg.vector_norm(x1 - x), xp.linalg.vector_norm(x1), xp)
    dg = _rel(xp.linalg.vector_norm(g1 - g), xp.linalg.vector_norm(g1), xp)
    return dict(u=u1, b=b1, x=x1, g=g1, z=z1, F=F1, rel=xp.maximum(dx, dg),
                nit=state["nit"] + 1, mu=mu)


def _init(y, op, param, xp, gain_scale):
    p, m = y.shape
    dtype, dev = y.dtype, _device(y)
    devkw = {} if dev is None else {"device": dev}
    xi0 = op.adjoint(y) / (m * p)                        # back-projection, unit gains
    u, b = param.init(xi0, dtype, devkw)
    x, g = param.x_of(u), param.g_of(b)
    nx2 = float(xp.sum(x * x))
    if gain_scale is not None:
        cg = float(gain_scale)
    elif nx2 > 0 and math.isfinite(nx2):
        cg = m / nx2                                     # paper: mu_g = mu m / ||x||^2, ||x|| ~ ||xi_0||
    else:
        warnings.warn("the back-projection of y is zero; the gain step uses mu_g = mu * m",
                      RuntimeWarning, stacklevel=6)
        cg = float(m)
    z = op.forward(x)
    state = dict(u=u, b=b, x=x, g=g, z=z, F=fun_value(g * z - y, xp),
                 rel=xp.asarray(1.0, dtype=dtype, **devkw), nit=0, mu=None)
    return state, cg


def _run(method, y, op, param, *, xp, callback, maxiter, tol, step, mu, rho, gain_scale,
         backtrack, mu_grow, mu_min, x_true, d_true, check_every, history, disp):
    p, m = y.shape
    n = op.shape[2]
    x_true, d_true = check_truth(x_true, d_true, n, m, xp, y.dtype, _device(y))
    truth = x_true is not None or d_true is not None
    warn_unreachable_tol(tol, float(xp.finfo(y.dtype).eps), 10.0, stacklevel=6)
    rule = _StepRule(step, mu, backtrack, mu_grow, mu_min)
    ok, needed = identifiability(p, m, param.n_free, param.m_free)
    if not ok:
        warnings.warn(not_identifiable_detail(p, m, needed)[1:-1], RuntimeWarning, stacklevel=5)
    state, cg = _init(y, op, param, xp, gain_scale)
    mon = Monitor(method, xp=xp, maxiter=maxiter, tol=tol, metric="rel_change",
                  check_every=check_every, history=history, disp=disp, callback=callback,
                  columns=("err",) if truth else ())
    while True:
        if mon.due(state["nit"]):
            x, g = state["x"], state["g"]
            extras = dict(gains=g, mu=rule.mu)
            if truth:
                extras["err"] = (lambda x=x, g=g: recovery_error(x, g, x_true, d_true, xp)[0])
            if state["nit"] > 0 and float(state["rel"]) == 0.0 and float(state["F"]) > 0.0:
                mon.stop(2, "(the step no longer changes the iterate at this precision)")
            if mon.check(state["nit"], x=x, fun=state["F"], metric=state["rel"], **extras):
                break
        state = _step(state, op, y, param, rule, cg, xp)
    return _finish(mon, state, op, xp, rho, truth, x_true, d_true, ok, needed, p, m)


def _finish(mon, state, op, xp, rho, truth, x_true, d_true, ok, needed, p, m):
    if mon.status == 3 and mon.last_finite is not None:     # return the last finite iterate
        lf = mon.last_finite
        x, g, F, nit, rel = lf["x"], lf["gains"], lf["fun"], lf["nit"], lf["metric"]
    else:
        x, g, F, nit, rel = state["x"], state["g"], state["F"], state["nit"], state["rel"]
    if not ok and mon.status == 0:
        mon.status, mon.detail = 4, not_identifiable_detail(p, m, needed)
    xn, gn = normalize_scale(x, g, xp)
    if mon.status != 3 or bool(xp.all(xp.isfinite(gn))) and bool(xp.all(xp.isfinite(xn))):
        x, g = xn, gn                 # a diverged run (status 3) may overflow the rescaling
    if rho is None and mon.status != 3:
        warn_nonpositive(g, xp, stacklevel=7)
    extra = {}
    if truth:
        err, ex, ed = recovery_error(x, g, x_true, d_true, xp)
        extra = dict(err=float(err), err_x=None if ex is None else float(ex),
                     err_d=None if ed is None else float(ed))
    return mon.finish(x=x, fun=F, nit=nit, metric=rel, nfev=op.n_forward, gains=g,
                      n_forward=op.n_forward, n_adjoint=op.n_adjoint,
                      mu=state.get("mu"),
                      identifiable=bool(ok), **extra)


# ----------------------------------------------------------------------------- registered solvers
_STEP_OPTIONS = dict(
    step=[OneOf("backtracking", "fixed", "theory"), IsCallable()],
    mu=[Interval(float, 0, None, closed="neither"), OneOf(None)],
    rho=[Interval(float, 0, 1, closed="neither"), OneOf(None)],
    gain_scale=[Interval(float, 0, None, closed="neither"), OneOf(None)],
    backtrack=[Interval(float, 0, 1, closed="neither")],
    mu_grow=[Interval(float, 1, None)],
    mu_min=[Interval(float, 0, None, closed="neither")],
    x_true=[IsArray("an array of shape (n,)"), OneOf(None)],
    d_true=[IsArray("an array of shape (m,)"), OneOf(None)],
)
PGD_OPTIONS = standard_options("maxiter", "tol", "check_every", "history", "disp", **_STEP_OPTIONS)
SUBSPACE_OPTIONS = {**PGD_OPTIONS, "Z": [IsArray("an (n, k) array"), OneOf(None)],
                    "B": [IsArray("an (m, h) array"), OneOf(None)]}


def _solve_pgd(y, op, *, xp, callback=None, maxiter=10000, tol=1e-10, step="backtracking",
               mu=None, rho=None, gain_scale=None, backtrack=0.5, mu_grow=1.1, mu_min=1e-8,
               x_true=None, d_true=None, check_every=1, history=False, disp=False):
    """PGD of Cambareri & Jacques on (x, g); see :func:`xpsolve.calibrate_gains`."""
    param = _Plain(op.shape[2], y.shape[1], rho, xp)
    return _run("pgd", y, op, param, xp=xp, callback=callback, maxiter=maxiter, tol=tol,
                step=step, mu=mu, rho=rho, gain_scale=gain_scale, backtrack=backtrack,
                mu_grow=mu_grow, mu_min=mu_min, x_true=x_true, d_true=d_true,
                check_every=check_every, history=history, disp=disp)


def _solve_pgd_subspace(y, op, *, xp, callback=None, maxiter=10000, tol=1e-10,
                        step="backtracking", mu=None, rho=None, gain_scale=None, backtrack=0.5,
                        mu_grow=1.1, mu_min=1e-8, x_true=None, d_true=None, Z=None, B=None,
                        check_every=1, history=False, disp=False):
    """PGD with subspace priors x = Z zeta, d = 1 + B beta; see :func:`xpsolve.calibrate_gains`."""
    n, m, dev = op.shape[2], y.shape[1], _device(y)
    if Z is not None:
        Z = check_basis(Z, "Z", n, xp, y.dtype, dev)
    if B is not None:
        B = check_basis(B, "B", m, xp, y.dtype, dev, ones_perp=True)
        if B.shape[1] > m - 1:
            raise ValueError(f"option B must have at most m - 1 = {m - 1} columns")
    param = _Subspace(n, m, rho, xp, Z, B)
    return _run("pgd-subspace", y, op, param, xp=xp, callback=callback, maxiter=maxiter,
                tol=tol, step=step, mu=mu, rho=rho, gain_scale=gain_scale, backtrack=backtrack,
                mu_grow=mu_grow, mu_min=mu_min, x_true=x_true, d_true=d_true,
                check_every=check_every, history=history, disp=disp)


register_solver(SolverSpec(
    metric="rel_change",
    name="pgd", family="calibration", func=_solve_pgd, options=PGD_OPTIONS,
    kernels=("calibration_project_gains",),
    summary="Blind gain calibration by projected gradient descent (Cambareri & Jacques)"))
register_solver(SolverSpec(
    metric="rel_change",
    name="pgd-subspace", family="calibration", func=_solve_pgd_subspace, options=SUBSPACE_OPTIONS,
    kernels=("calibration_project_gains",),
    summary="Blind gain calibration PGD with known subspaces x = Z z, d = 1 + B b"))
