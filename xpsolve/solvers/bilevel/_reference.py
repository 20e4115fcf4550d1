r"""Reference solvers for bilevel benchmarks (private; not part of the public API).

- :func:`kkt_trust_constr`: the single-level KKT reformulation of a bilevel problem
  with a linear joint feasible set (``cons_structure``) or no lower constraints,
  solved by :func:`scipy.optimize.minimize` with ``method="trust-constr"``
  (the LV-HBA benchmark's KKT peer). Variables :math:`(x, y, \lambda)`:

  .. math::

      \min F(x, y) \;\text{s.t.}\; \nabla_y G(x, y) + J_{g,y}(x, y)^\top \lambda = 0,\;
      (x, y) \in C,\; \lambda_i \ge 0,\; \lambda_i g_i(x, y) = 0 \;(\text{inequality rows}).

  It is smooth when the active set is stable (e.g. the coupled toy, where the
  multiplier at the solution is 1 > 0). Constraint Jacobians by SciPy's finite
  differences, Hessians by BFGS. NumPy on the host.
- :func:`implicit_hypergradient_descent`: for unconstrained lower levels, gradient
  descent on :math:`\Phi(x) = F(x, y^*(x))` with the implicit hypergradient
  :math:`\nabla_x F - \nabla^2_{xy} G\, v`, :math:`v` from conjugate gradients on
  :math:`\nabla^2_{yy} G\, v = \nabla_y F`, and :math:`y^*(x)` approximated by
  warm-started gradient steps on the lower objective. Generic in ``xp``.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..._result import make_result
from ...backends import namespace_name, to_numpy
from ._protocol import CountingProblem


def kkt_trust_constr(problem, x0=None, y0=None, *, maxiter=1000, gtol=1e-10, xtol=1e-12,
                     lam0=1.0, time_limit=None, callback=None):
    """KKT reformulation solved by SciPy ``trust-constr`` (NumPy problems only).

    ``time_limit`` (seconds) stops the solve at the first iteration past it (status 1).
    """
    from scipy.optimize import BFGS, LinearConstraint, NonlinearConstraint, minimize

    P = CountingProblem(problem)
    xp = problem.xp
    if namespace_name(xp) != "numpy":
        raise ValueError("kkt_trust_constr runs on NumPy problems only")
    n, m, l = problem.dim_x, problem.dim_y, int(problem.n_cons or 0)
    if l and problem.cons_matrices is None:
        raise ValueError("kkt_trust_constr needs a linear feasible set (cons_structure)")
    x0 = np.asarray(problem.x0() if x0 is None else x0, dtype=float)
    y0 = np.asarray(problem.y0() if y0 is None else y0, dtype=float)
    eq = set(problem.equality_rows or ())
    if problem.cons_structure == "affine":
        eq = set(range(l))

    def split(v):
        return v[:n], v[n:n + m], v[n + m:]

    def fun(v):
        x, y, _ = split(v)
        gx, gy = P.upper_grad(x, y)
        return float(P.upper_value(x, y)), np.r_[gx, gy, np.zeros(l)]

    def stat(v):
        x, y, lam = split(v)
        _, gy = P.lower_grad(x, y)
        if l:
            gy = gy + P.lower_cons_vjp(x, y, lam)[1]
        return gy

    cons = [NonlinearConstraint(stat, 0.0, 0.0, jac="2-point", hess=BFGS())]
    ineq = [i for i in range(l) if i not in eq]
    lb = np.full(n + m + l, -np.inf)
    if l:
        Gx, Gy, h = (np.asarray(a, dtype=float) for a in problem.cons_matrices)
        A = np.c_[Gx, Gy, np.zeros((Gx.shape[0], l))]
        kinds = problem.cons_structure
        lo = h.copy() if kinds == "affine" else np.full(h.shape, -np.inf)
        if kinds == "polyhedral":
            for i in problem.equality_rows or ():
                lo[i] = h[i]
        cons.append(LinearConstraint(A, lo, h))
        if ineq:
            idx = np.array(ineq)

            def comp(v):
                x, y, lam = split(v)
                return lam[idx] * P.lower_cons(x, y)[idx]
            cons.append(NonlinearConstraint(comp, 0.0, 0.0, jac="2-point", hess=BFGS()))
            lb[n + m + idx] = 0.0
    bounds = None
    if np.isfinite(lb).any():
        from scipy.optimize import Bounds

        bounds = Bounds(lb, np.full(n + m + l, np.inf))
    v0 = np.r_[x0, y0, np.full(l, float(lam0))]
    t0 = time.perf_counter()

    def cb(intermediate_result):
        if callback is not None:
            callback(intermediate_result)
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            raise StopIteration

    res = minimize(fun, v0, jac=True, method="trust-constr", constraints=cons, bounds=bounds,
                   hess=BFGS(), callback=cb,
                   options={"maxiter": maxiter, "gtol": gtol, "xtol": xtol, "verbose": 0})
    x, y, lam = split(res.x)
    status = 0 if res.status in (1, 2) else (1 if res.status in (0, 3) else 4)  # 3: time limit
    return make_result(x=x, fun=res.fun, nit=res.nit, status=status, backend="numpy",
                       detail=f"(trust-constr: {res.message})", y=y, multipliers=lam,
                       maxcv=float(res.constr_violation), n_calls=dict(P.counts),
                       approximate_oracles=(), time=time.perf_counter() - t0)


def _cg(hvp, b, xp, maxiter, tol):
    x = xp.zeros_like(b)
    r = b
    p = r
    rs = float(xp.sum(r * r))
    stop = tol * tol * max(rs, 1e-300)
    for _ in range(maxiter):
        if rs <= stop:
            break
        Ap = hvp(p)
        a = rs / float(xp.sum(p * Ap))
        x = x + a * p
        r = r - a * Ap
        rs_new = float(xp.sum(r * r))
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def implicit_hypergradient_descent(problem, x0=None, y0=None, *, maxiter=200, lr=0.1,
                                   inner_steps=50, inner_lr=None, cg_iters=50, cg_tol=1e-10,
                                   callback=None):
    """Approximate implicit-differentiation hypergradient descent (lower level without constraints)."""
    if int(problem.n_cons or 0):
        raise ValueError("implicit_hypergradient_descent needs an unconstrained lower level")
    P = CountingProblem(problem)
    for name in ("upper_grad", "lower_grad", "lower_hvp_yy", "lower_jvp_xy"):
        if not P.provides(name):
            raise ValueError(f"implicit_hypergradient_descent needs the oracle {name}")
    xp = problem.xp
    x = problem.x0() if x0 is None else x0
    y = problem.y0() if y0 is None else y0
    step = inner_lr if inner_lr is not None else 1.0 / float(problem.lower_L or 1.0)
    status, nit = 1, 0
    for k in range(maxiter):
        for _ in range(inner_steps):
            y = y - step * P.lower_grad(x, y)[1]
        Fx, Fy = P.upper_grad(x, y)
        v = _cg(lambda u: P.lower_hvp_yy(x, y, u), Fy, xp, cg_iters, cg_tol)
        hg = Fx - P.lower_jvp_xy(x, y, v)
        x_new = x - lr * hg
        if not math.isfinite(float(xp.sum(x_new))):
            status = 3
            break
        x, nit = x_new, k + 1
        if callback is not None:
            callback(x, y)
    return make_result(x=x, fun=float(P.upper_value(x, y)), nit=nit, status=status,
                       backend=namespace_name(xp), y=y, n_calls=dict(P.counts),
                       approximate_oracles=tuple(problem.approximate_oracles),
                       hypergrad_norm=float(np.linalg.norm(to_numpy(hg))) if nit else math.nan)
