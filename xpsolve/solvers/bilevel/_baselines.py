r"""Reference bilevel methods with fixed steps (baselines for BO-REP; same oracles).

Registered as ``bilevel_minimize`` methods so that suite plans run them next to
``"bo-rep"``; each summary starts with "[reference baseline]". All four need the
lower level to be unconstrained and strongly convex, and use the oracles
``upper_grad``, ``lower_grad``, ``lower_hvp_yy``, ``lower_jvp_xy``.

- ``"aid-cg"``: approximate implicit differentiation - ``inner_steps`` warm-started
  lower gradient steps, then :math:`v` from conjugate gradients on
  :math:`\nabla^2_{yy} G\, v = \nabla_y F` to relative residual ``cg_tol`` (1e-10,
  warm-started), :math:`x \leftarrow x - \alpha(\nabla_x F - \nabla^2_{xy} G\, v)`.
  F. Pedregosa, "Hyperparameter optimization with approximate gradient", ICML 2016;
  S. Ghadimi, M. Wang, "Approximation methods for bilevel programming", arXiv:1802.02246.
- ``"stocbio"``: the same outer step with the truncated Neumann estimator (Q terms,
  recursive form) and ``inner_steps`` warm-started lower SGD steps. K. Ji, J. Yang,
  Y. Liang, "Bilevel Optimization: Convergence Analysis and Enhanced Design",
  ICML 2021, arXiv:2010.07962.
- ``"soba"``: single loop, one step on each of y, z (the linear-system variable) and
  x per iteration, all directions at the current point. M. Dagreou, P. Ablin,
  S. Vaiter, T. Moreau, "A framework for bilevel optimization that enables stochastic
  and global variance reduction algorithms", NeurIPS 2022, arXiv:2201.13409.
- ``"ma-soba"``: SOBA with a moving average of the x direction
  :math:`d \leftarrow (1 - \theta) d + \theta h` (and an optional ball constraint on
  z). X. Chen, T. Xu, Y. Zhang, "Optimal Algorithms for Stochastic Bilevel
  Optimization under Relaxed Smoothness Conditions", arXiv:2306.12067.

Options (``xpsolve.show_options(name)``): ``lr`` (upper step, fixed), ``gamma``
(lower step, default 1/l_g1 with l_g1 = ``problem.lower_L`` or a power estimate;
StocBiO: the Neumann step), ``inner_steps``, ``cg_tol``/``cg_maxiter`` (AID),
``neumann_terms``/``neumann_step`` (StocBiO), ``nu`` (z step, 1/l_g1), ``theta``
(MA-SOBA averaging weight, 0.1), ``z_radius`` (MA-SOBA ball on z, off), minibatch
sizes, and the standard ``maxiter``, ``tol`` (on the exact hypergradient norm, needs
``problem.hypergrad``), ``seed``, ``check_every``, ``history``, ``disp``. Results
carry the same keys as BO-REP's (``y``, ``hypergrad_norm``, ``n_calls``, ...).

Examples
--------
>>> import numpy as np
>>> from xpsolve import bilevel_minimize
>>> from xpsolve.problems.bilevel import Quadratic
>>> prob = Quadratic(d=10, mu=0.1)
>>> res = bilevel_minimize(prob, method="aid-cg", options={"lr": 0.08, "maxiter": 600,
...                                                         "tol": 1e-8})
>>> res.success, bool(np.linalg.norm(res.x - prob.solution()["x"]) < 1e-7)
(True, True)
"""
from __future__ import annotations

import math

from ..._options import Interval, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ._hypergrad import (NeumannWatch, Oracles, bilevel_loop, cg_solve, finish, lower_step_size,
                         neumann_solve, norm)

NEEDS = ("upper_grad", "lower_grad", "lower_hvp_yy", "lower_jvp_xy")


def _setup(method, problem, x0, y0, xp, seed, bsu, bsl, bsh, steps):
    """Oracles and the lower-level constant when a step defaults to 1/l_g1."""
    O = Oracles(problem, xp, x0, seed=seed, batch_size_upper=bsu, batch_size_lower=bsl,
                batch_size_hvp=bsh, needs=NEEDS, method=method)
    if any(s is None for s in steps):
        l_g1, _ = lower_step_size(O, x0, y0, problem.lower_L)
    else:
        l_g1 = float("nan")
    return O, l_g1


def _run(method, O, state, step, xp, kw, extra_fn=None, **extra):
    public = lambda s: (s["x"], s["y"])  # noqa: E731
    state, mon, metric = bilevel_loop(method, O, state, step, xp=xp, public=public, **kw)
    if extra_fn is not None:
        extra.update(extra_fn(state))
    return finish(mon, O, state, public, metric, xp, **extra)


def _solve_aid(problem, x0, y0, *, xp, callback=None, maxiter=1000, tol=None, seed=None,
               check_every=1, history=False, disp=False, lr=0.1, inner_steps=10, gamma=None,
               cg_tol=1e-10, cg_maxiter=None, batch_size_upper=None, batch_size_lower=None,
               batch_size_hvp=None):
    """AID hypergradient descent with conjugate gradients (reference baseline)."""
    O, l_g1 = _setup("aid-cg", problem, x0, y0, xp, seed, batch_size_upper, batch_size_lower,
                     batch_size_hvp, (gamma,))
    gamma = 1.0 / l_g1 if gamma is None else float(gamma)
    state = {"t": 0, "x": x0, "y": y0, "v": xp.zeros_like(y0), "cg_resid": 0.0}

    def step(s, t):
        x, y = s["x"], s["y"]
        for _ in range(inner_steps):
            y = y - gamma * O.lower_grad_y(x, y)
        Fx, Fy = O.upper_grad(x, y)
        hb = O.batch("hvp")
        v, _, res = cg_solve(lambda p: O.hvp(x, y, p, batch=hb), Fy, xp, tol=cg_tol,
                             maxiter=cg_maxiter, x0=s["v"])
        h = Fx - O.jvp(x, y, v, batch=hb)
        bad = None if math.isfinite(res) else "conjugate-gradient residual"
        return {"t": t + 1, "x": x - lr * h, "y": y, "v": v, "cg_resid": res, "bad": bad}

    kw = dict(maxiter=maxiter, tol=tol, check_every=check_every, history=history, disp=disp,
              callback=callback)
    return _run("aid-cg", O, state, step, xp, kw,
                extra_fn=lambda s: {"v": s["v"], "cg_resid": s["cg_resid"]}, lower_step=gamma)


def _solve_stocbio(problem, x0, y0, *, xp, callback=None, maxiter=1000, tol=None, seed=None,
                   check_every=1, history=False, disp=False, lr=0.01, inner_steps=5, gamma=None,
                   neumann_terms=20, neumann_step=None, batch_size_upper=None,
                   batch_size_lower=None, batch_size_hvp=None):
    """StocBiO-type Neumann hypergradient SGD (reference baseline)."""
    O, l_g1 = _setup("stocbio", problem, x0, y0, xp, seed, batch_size_upper, batch_size_lower,
                     batch_size_hvp, (gamma, neumann_step))
    eta_N = 1.0 / (1.1 * l_g1) if neumann_step is None else float(neumann_step)
    gamma = eta_N if gamma is None else float(gamma)
    watch = NeumannWatch("stocbio")
    state = {"t": 0, "x": x0, "y": y0}

    def step(s, t):
        x, y = s["x"], s["y"]
        for _ in range(inner_steps):
            y = y - gamma * O.lower_grad_y(x, y)
        Fx, Fy = O.upper_grad(x, y)
        v, growth = neumann_solve(lambda p: O.hvp(x, y, p), Fy, neumann_terms, eta_N, xp)
        watch(growth)
        return {"t": t + 1, "x": x - lr * (Fx - O.jvp(x, y, v)), "y": y}

    kw = dict(maxiter=maxiter, tol=tol, check_every=check_every, history=history, disp=disp,
              callback=callback)
    return _run("stocbio", O, state, step, xp, kw, lower_step=gamma, neumann_step=eta_N)


def _soba_family(method, problem, x0, y0, xp, *, lr, gamma, nu, theta, z_radius, seed, bs, kw):
    O, l_g1 = _setup(method, problem, x0, y0, xp, seed, *bs, (gamma, nu))
    gamma = 1.0 / l_g1 if gamma is None else float(gamma)
    nu = 1.0 / l_g1 if nu is None else float(nu)
    state = {"t": 0, "x": x0, "y": y0, "z": xp.zeros_like(y0), "d": xp.zeros_like(x0)}

    def step(s, t):
        x, y, z = s["x"], s["y"], s["z"]
        gy = O.lower_grad_y(x, y)
        Fx, Fy = O.upper_grad(x, y)
        hb = O.batch("hvp")
        h = Fx - O.jvp(x, y, z, batch=hb)
        z_new = z - nu * (O.hvp(x, y, z, batch=hb) - Fy)
        if z_radius is not None:
            nz = norm(z_new, xp)
            if nz > z_radius:
                z_new = (z_radius / nz) * z_new
        d = h if theta is None else (1.0 - theta) * s["d"] + theta * h
        return {"t": t + 1, "x": x - lr * d, "y": y - gamma * gy, "z": z_new, "d": d}

    return _run(method, O, state, step, xp, kw, extra_fn=lambda s: {"z": s["z"], "d": s["d"]},
                lower_step=gamma, nu=nu)


def _solve_soba(problem, x0, y0, *, xp, callback=None, maxiter=1000, tol=None, seed=None,
                check_every=1, history=False, disp=False, lr=0.01, gamma=None, nu=None,
                batch_size_upper=None, batch_size_lower=None, batch_size_hvp=None):
    """SOBA single-loop method (reference baseline)."""
    kw = dict(maxiter=maxiter, tol=tol, check_every=check_every, history=history, disp=disp,
              callback=callback)
    return _soba_family("soba", problem, x0, y0, xp, lr=lr, gamma=gamma, nu=nu, theta=None,
                        z_radius=None, seed=seed,
                        bs=(batch_size_upper, batch_size_lower, batch_size_hvp), kw=kw)


def _solve_masoba(problem, x0, y0, *, xp, callback=None, maxiter=1000, tol=None, seed=None,
                  check_every=1, history=False, disp=False, lr=0.01, gamma=None, nu=None,
                  theta=0.1, z_radius=None, batch_size_upper=None, batch_size_lower=None,
                  batch_size_hvp=None):
    """MA-SOBA: SOBA with a moving-average x direction (reference baseline)."""
    kw = dict(maxiter=maxiter, tol=tol, check_every=check_every, history=history, disp=disp,
              callback=callback)
    return _soba_family("ma-soba", problem, x0, y0, xp, lr=lr, gamma=gamma, nu=nu, theta=theta,
                        z_radius=z_radius, seed=seed,
                        bs=(batch_size_upper, batch_size_lower, batch_size_hvp), kw=kw)


_POS = Interval(float, 0, None, closed="neither")
_STEP = [OneOf(None), _POS]
_BATCH = {f"batch_size_{k}": [OneOf(None), Interval(int, 1, None)] for k in ("upper", "lower", "hvp")}
_STD = ("maxiter", "tol", "seed", "check_every", "history", "disp")

for _name, _func, _own, _summary in (
    ("aid-cg", _solve_aid,
     dict(lr=[_POS], inner_steps=[Interval(int, 0, None)], gamma=_STEP, cg_tol=[_POS],
          cg_maxiter=[OneOf(None), Interval(int, 1, None)]),
     "[reference baseline] AID: hypergradient descent, conjugate gradients to cg_tol, "
     "warm-started lower GD (fixed step)"),
    ("stocbio", _solve_stocbio,
     dict(lr=[_POS], inner_steps=[Interval(int, 0, None)], gamma=_STEP,
          neumann_terms=[Interval(int, 1, None)], neumann_step=_STEP),
     "[reference baseline] StocBiO (Ji, Yang, Liang, ICML 2021): Neumann hypergradient SGD "
     "(fixed step)"),
    ("soba", _solve_soba, dict(lr=[_POS], gamma=_STEP, nu=_STEP),
     "[reference baseline] SOBA (Dagreou et al., NeurIPS 2022): single loop on (x, y, z), "
     "fixed steps"),
    ("ma-soba", _solve_masoba,
     dict(lr=[_POS], gamma=_STEP, nu=_STEP, theta=[Interval(float, 0, 1, closed="right")],
          z_radius=[OneOf(None), _POS]),
     "[reference baseline] MA-SOBA (Chen, Xu, Zhang, 2023): SOBA with a moving-average "
     "direction, fixed steps"),
):
    register_solver(SolverSpec(name=_name, family="bilevel", func=_func, metric="hypergrad_norm",
                               options=standard_options(*_STD, **_own, **_BATCH), numba=False,
                               needs=frozenset(NEEDS), summary=_summary))
