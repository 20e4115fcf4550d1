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
    fused = getattr(oracles.problem, "lower_neumann", None)
    if kind == "neumann" and callable(fused) and not independent and oracles.bs["hvp"] is None:
        counts = oracles.P.counts
        counts["lower_neumann"] = 0

        def h(x, y, z):      # the problem's fused series (deterministic oracles only)
            Fx, Fy = oracles.upper_grad(x, y)
            counts["lower_neumann"] += 1
            v = fused(x, y, Fy, terms, step)
            return Fx - oracles.jvp(x, y, v), z
    elif kind == "neumann":
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
    r"""BO-REP for bilevel problems with an unbounded-smooth upper level.

    Called through ``xpsolve.bilevel_minimize(problem, x0, y0, method="bo-rep",
    options=...)``. Solves :math:`\min_x \Phi(x) = F(x, y^*(x))`,
    :math:`y^*(x) = \operatorname{argmin}_y G(x, y)` with :math:`G(x, \cdot)`
    strongly convex and no constraints, for an upper level :math:`F` that may be
    (L0, L1)-smooth (curvature growing with the gradient, as in RNN losses).

    Algorithm (Hao, Gong, Liu 2024): refine :math:`y_0` by ``refine_steps``
    lower-level (S)GD steps at :math:`x_0`; then for :math:`t = 0, \dots, T-1`:
    every ``period`` iterations (t >= 1) take ``lower_steps`` lower (S)GD steps
    with step ``gamma`` (y frozen in between); form the surrogate hypergradient
    :math:`h_t = \nabla_x F - \nabla^2_{xy} G\, v` at :math:`(x_t, y_t)` (fresh
    samples), :math:`m_t = \beta m_{t-1} + (1 - \beta) h_t`, and move
    :math:`x_{t+1} = x_t - \eta\, m_t / \|m_t\|` (no move when
    :math:`m_t = 0`). ``hypergrad="neumann"``: :math:`v = \eta_N
    \sum_{q<Q} (I - \eta_N \nabla^2_{yy} G)^q \nabla_y F` (Q - 1
    Hessian-vector products); ``"linear_sgd"``: one warm-started step
    :math:`z \leftarrow z - \nu(\nabla^2_{yy} G\, z - \nabla_y F)`,
    :math:`v = z` (the authors' code).

    Parameters
    ----------
    problem : BilevelProblem
        Needs ``upper_grad``, ``lower_grad``, ``lower_hvp_yy``, ``lower_jvp_xy``
        (:meth:`xpsolve.BilevelProblem.from_callables` fills the last two by finite
        differences, flagged in ``approximate_oracles``).
    x0, y0 : array
        Starts (validated by the front door).
    maxiter : int
        T, number of upper iterations (default 1000; the budget is the primary stop).
    tol : float, optional
        Stop when the exact :math:`\|\nabla\Phi(x_t)\|` (``problem.hypergrad``)
        is <= tol at a check point; refused without ``problem.hypergrad``.
    seed : None, int or Generator
        Seeds four independent streams (upper minibatches, lower minibatches,
        second-order products, refinement).
    eta : float or callable
        Normalised upper step :math:`\eta` (default 0.01; no universal safe
        value, tune it on an easy start, see the docs' tuning protocol) or a
        schedule ``t -> eta_t`` (e.g. ``lambda t: 0.05 / (t + 1) ** 0.5``).
    beta : float
        Momentum :math:`\beta` (0.9).
    gamma : float, optional
        Lower (S)GD step; default :math:`\eta_N`.
    period, lower_steps : int
        I (2) and N (5): N lower steps every I iterations.
    neumann_terms : int
        Q (20). A problem may supply the whole series as
        ``lower_neumann(x, y, b, Q, eta_N)`` (used with deterministic oracles and
        the recursive form; counted as ``n_calls["lower_neumann"]``).
        ``neumann_step`` :math:`\eta_N`, default
        :math:`1 / (1.1\, l_{g1})` with :math:`l_{g1}` = ``problem.lower_L`` or
        a 20-step power iteration on ``lower_hvp_yy`` at :math:`(x_0, y_0)`.
    neumann : {"recursive", "independent"}
        Recursive series (Q - 1 products, default) or independent samples per
        term (Q (Q - 1) / 2 products).
    hypergrad : {"neumann", "linear_sgd", "exact"}
        Estimator; ``"exact"`` (tests only) uses ``problem.lower_solve`` and a
        conjugate-gradient solve to 1e-14.
    nu : float, optional
        Step of z for ``"linear_sgd"`` (default :math:`\eta_N`; the authors'
        code uses 1e-2 for its networks). ``z0``: start of z (zeros).
    refine_steps, refine_tol, refine_step : int, float, float
        K0 (200), optional early stop on :math:`\|\nabla_y G\|`, step (1/l_g1).
        With minibatches the refinement is epoch SGD (four epochs, step halved
        each epoch, restarted from the epoch average).
    normalize : bool
        Normalised step (True) or plain momentum step :math:`x - \eta m`.
    batch_size_upper, batch_size_lower, batch_size_hvp : int, optional
        Minibatch sizes for finite-sum problems (None: full objectives).
    check_every, history, disp, callback
        Check points (the shared check-point helper): non-finite ``x`` or
        ``y`` stops with status 3 and returns the last finite check point;
        ``callback(intermediate_result)`` gets ``x``, ``y``, ``fun`` =
        :math:`F(x, y)`, ``nit``, ``hypergrad_norm`` (exact, when the problem
        provides ``hypergrad`` and ``tol``, ``history`` or ``disp`` asks for it -
        a reference computation kept out of the method's cost - else NaN),
        ``m`` and ``m_norm``.

    Returns
    -------
    OptimizeResult
        ``x``, ``y``, ``fun`` (:math:`F(x, y)`), ``hypergrad_norm`` (exact
        :math:`\|\nabla\Phi(x)\|` or NaN: the metric ``success`` is decided
        on, only when ``tol`` is given; otherwise a fixed budget ends with
        status 1), ``m``, ``m_norm``, ``z`` (linear_sgd), ``n_calls`` per oracle,
        ``approximate_oracles``, ``neumann_step``, ``lower_step``,
        ``lower_L_est`` and its source, ``refine_steps_taken``,
        ``neumann_diverged``, ``nit``, ``status``, ``message``, ``history``.

    References
    ----------
    .. [1] J. Hao, X. Gong, M. Liu, "Bilevel Optimization under Unbounded
       Smoothness: A New Algorithm and Convergence Analysis", ICLR 2024,
       arXiv:2401.09587.

    Examples
    --------
    The double-well problem: :math:`\Phi(x) = \sum_j \psi((Ax + c)_j)`,
    :math:`\psi(t) = t^4/4 - t^2/2`, started where
    :math:`\|\nabla\Phi(x_0)\| \approx 1.5 \cdot 10^4`:

    >>> from xpsolve import bilevel_minimize
    >>> from xpsolve.problems.bilevel_unbounded import DoubleWell
    >>> prob = DoubleWell(d=10, scale=10.0)
    >>> res = bilevel_minimize(prob, method="bo-rep", options={
    ...     "eta": lambda t: 0.05 * 0.999 ** t, "gamma": 1.0, "neumann_terms": 60,
    ...     "maxiter": 5000, "tol": 1e-2})
    >>> res.success, res.nit < 5000, prob.metrics(res.x, res.y)["phi_gap"] < 1e-3
    (True, True, True)
    """
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
    metric="hypergrad_norm",
    name="bo-rep", family="bilevel", func=_solve_borep, options=OPTIONS, numba=False,
    needs=frozenset(NEEDS),
    summary="BO-REP (Hao, Gong, Liu, ICLR 2024): normalised momentum, lower-level refinement and "
            "periodic updates, Neumann / linear-system hypergradients; unbounded smoothness"))
