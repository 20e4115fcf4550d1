r"""BO-REP: bilevel optimisation with lower-level initialisation REfinement and Periodic updates.

Reference: J. Hao, X. Gong, M. Liu, "Bilevel Optimization under Unbounded Smoothness:
A New Algorithm and Convergence Analysis", ICLR 2024, arXiv:2401.09587.

Upper variable: normalised momentum. Lower variable: refined once at x_0, then
``lower_steps`` SGD steps every ``period`` iterations (frozen in between).
Hypergradient: truncated Neumann series (``hypergrad="neumann"``) or one
warm-started linear-system variable z (``hypergrad="linear_sgd"``, the variant of the
authors' code). See :func:`xpsolve.bilevel_minimize` and ``docs/methods/bo-rep.md``.
"""
from __future__ import annotations

import math

from ..._options import Interval, IsArray, IsCallable, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ...backends import as_float_array
from ._hypergrad import (NeumannWatch, Oracles, bilevel_loop, cg_solve, finish, lower_step_size,
                         neumann_solve, norm)

NEEDS = ("upper_grad", "lower_grad", "lower_hvp_yy", "lower_jvp_xy")


def _schedule(eta):
    if callable(eta):
        def f(t):
            v = float(eta(t))
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"the eta schedule returned {v!r} at iteration {t}; it must be a "
                                 "positive finite float")
            return v
        return f
    v = float(eta)
    return lambda t: v


def refine(oracles, x0, y, *, steps, step, tol=None):
    r"""Initialisation refinement: ``steps`` lower-level (S)GD steps at the fixed ``x0``.

    Deterministic oracles: gradient descent with ``step`` (default 1/l_g1), stopped
    early when :math:`\|\nabla_y G\| \le` ``tol``. Stochastic oracles
    (``batch_size_lower`` set): epoch SGD (inferred details) - four epochs of
    lengths proportional to 1, 2, 4, 8 (summing to ``steps``), the step halved
    each epoch, each epoch restarted from the previous epoch's averaged iterate;
    samples come from the refinement stream. Returns ``(y, steps_taken)``.
    """
    xp = oracles.xp
    if not oracles.stochastic or oracles.bs["lower"] is None:
        for k in range(steps):
            g = oracles.lower_grad_y(x0, y)
            if tol is not None and norm(g, xp) <= tol:
                return y, k + 1
            y = y - step * g
        return y, steps
    lengths = [steps * w // 15 for w in (1, 2, 4, 8)]
    lengths[-1] += steps - sum(lengths)
    lr = step
    for n in lengths:
        if n <= 0:
            continue
        avg = xp.zeros_like(y)
        for _ in range(n):
            y = y - lr * oracles.lower_grad_y(x0, y, stream="refine")
            avg = avg + y
        y = avg / n
        lr = 0.5 * lr
    return y, steps


def _estimator(kind, oracles, *, terms, step, independent, nu, watch):
    """``h(x, y, z) -> (h, z)``: the surrogate hypergradient of the chosen kind."""
    xp = oracles.xp
    if kind == "neumann":
        def h(x, y, z):
            Fx, Fy = oracles.upper_grad(x, y)
            v, growth = neumann_solve(lambda p: oracles.hvp(x, y, p), Fy, terms, step, xp,
                                      independent=independent)
            watch(growth)
            return Fx - oracles.jvp(x, y, v), z
    elif kind == "linear_sgd":
        def h(x, y, z):
            Fx, Fy = oracles.upper_grad(x, y)
            z = z - nu * (oracles.hvp(x, y, z) - Fy)
            return Fx - oracles.jvp(x, y, z), z
    else:  # "exact": test-only reduction (uses the problem's lower_solve)
        prob = oracles.problem

        def h(x, y, z):
            ys = prob.lower_solve(x)
            Fx, Fy = prob.upper_grad(x, ys)
            v, _, _ = cg_solve(lambda p: prob.lower_hvp_yy(x, ys, p), Fy, xp, tol=1e-14,
                               maxiter=20 * Fy.shape[0])
            return Fx - prob.lower_jvp_xy(x, ys, v), z
    return h


def _solve_borep(problem, x0, y0, *, xp, callback=None, maxiter=1000, tol=None, seed=None,
                 check_every=1, history=False, disp=False, eta=0.01, beta=0.9, gamma=None,
                 period=2, lower_steps=5, neumann_terms=20, neumann_step=None,
                 neumann="recursive", hypergrad="neumann", nu=None, z0=None, refine_steps=200,
                 refine_tol=None, refine_step=None, normalize=True, batch_size_upper=None,
                 batch_size_lower=None, batch_size_hvp=None):
    r"""BO-REP (see :func:`xpsolve.bilevel_minimize`)."""
    O = Oracles(problem, xp, x0, seed=seed, batch_size_upper=batch_size_upper,
                batch_size_lower=batch_size_lower, batch_size_hvp=batch_size_hvp, needs=NEEDS,
                method="bo-rep")
    if hypergrad == "exact" and not (problem.provides("lower_solve")):
        raise ValueError("hypergrad='exact' needs problem.lower_solve (a test-only reduction)")
    if z0 is not None:
        z0 = as_float_array(z0, "z0", xp, dtype=x0.dtype)
    if z0 is not None and tuple(z0.shape) != (problem.dim_y,):
        raise ValueError(f"Option 'z0' must have shape ({problem.dim_y},); got {tuple(z0.shape)}")
    need_L = neumann_step is None or gamma is None or refine_step is None or \
        (hypergrad == "linear_sgd" and nu is None)
    l_g1, l_source = (lower_step_size(O, x0, y0, problem.lower_L) if need_L
                      else (math.nan, "not needed (all steps given)"))
    eta_N = 1.0 / (1.1 * l_g1) if neumann_step is None else float(neumann_step)
    gamma = eta_N if gamma is None else float(gamma)
    nu = eta_N if nu is None else float(nu)
    r_step = 1.0 / l_g1 if refine_step is None else float(refine_step)
    eta_t = _schedule(eta)
    watch = NeumannWatch("bo-rep")
    est = _estimator(hypergrad, O, terms=int(neumann_terms), step=eta_N,
                     independent=neumann == "independent", nu=nu, watch=watch)

    y, k0 = refine(O, x0, y0, steps=int(refine_steps), step=r_step, tol=refine_tol)
    state = {"t": 0, "x": x0, "y": y, "m": xp.zeros_like(x0),
             "z": xp.zeros_like(y0) if z0 is None else z0, "m_norm": 0.0}

    def step(s, t):
        x, y = s["x"], s["y"]
        if t >= 1 and t % period == 0:          # periodic lower-level updates
            for _ in range(lower_steps):
                y = y - gamma * O.lower_grad_y(x, y)
        h, z = est(x, y, s["z"])
        m = beta * s["m"] + (1.0 - beta) * h
        nm = norm(m, xp)
        if normalize:
            x_new = x - (eta_t(t) / nm) * m if nm > 0 else x
        else:
            x_new = x - eta_t(t) * m
        return {"t": t + 1, "x": x_new, "y": y, "m": m, "z": z, "m_norm": nm}

    state, mon, metric = bilevel_loop(
        "bo-rep", O, state, step, xp=xp, maxiter=maxiter, tol=tol, check_every=check_every,
        history=history, disp=disp, callback=callback, public=lambda s: (s["x"], s["y"]),
        extras_fn=lambda s: {"m": s["m"], "m_norm": s["m_norm"]})
    extra = {"z": state["z"]} if hypergrad == "linear_sgd" else {}
    return finish(mon, O, state, lambda s: (s["x"], s["y"]), metric, xp, m=state["m"],
                  m_norm=state["m_norm"], hypergrad_kind=hypergrad, neumann_step=eta_N,
                  lower_step=gamma, nu=nu if hypergrad == "linear_sgd" else None,
                  lower_L_est=l_g1, lower_L_source=l_source, refine_steps_taken=k0,
                  neumann_diverged=watch.warned, **extra)


_POS = Interval(float, 0, None, closed="neither")

OPTIONS = standard_options(
    "maxiter", "tol", "seed", "check_every", "history", "disp",
    eta=[_POS, IsCallable()],
    beta=[Interval(float, 0, 1, closed="left")],
    gamma=[OneOf(None), _POS],
    period=[Interval(int, 1, None)],
    lower_steps=[Interval(int, 0, None)],
    neumann_terms=[Interval(int, 1, None)],
    neumann_step=[OneOf(None), _POS],
    neumann=[OneOf("recursive", "independent")],
    hypergrad=[OneOf("neumann", "linear_sgd", "exact")],
    nu=[OneOf(None), _POS],
    z0=[OneOf(None), IsArray("an array of shape (dim_y,)")],
    refine_steps=[Interval(int, 0, None)],
    refine_tol=[OneOf(None), _POS],
    refine_step=[OneOf(None), _POS],
    normalize=[OneOf(True, False)],
    batch_size_upper=[OneOf(None), Interval(int, 1, None)],
    batch_size_lower=[OneOf(None), Interval(int, 1, None)],
    batch_size_hvp=[OneOf(None), Interval(int, 1, None)],
)

register_solver(SolverSpec(
    name="bo-rep", family="bilevel", func=_solve_borep, options=OPTIONS, numba=False,
    needs=frozenset(NEEDS),
    summary="BO-REP (Hao, Gong, Liu, ICLR 2024): normalised momentum, lower-level refinement and "
            "periodic updates, Neumann / linear-system hypergradients; unbounded smoothness"))
