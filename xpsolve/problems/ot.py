r"""Entropic optimal-transport benchmark problems (the instances of the Sinkhorn-Newton-Sparse paper).

Every instance is a balanced entropic OT problem

.. math::

    \min_{P \ge 0} \langle C, P\rangle + \varepsilon \sum_{ij} P_{ij}\log P_{ij}
    \quad\text{s.t.}\quad P1 = a,\; P^\top 1 = b,

solved through :func:`xpsolve.solve_ot`. ``data`` holds ``a``, ``b``, ``C`` and
``reg`` (:math:`\varepsilon`). The generic objective ``fun`` is the negated entropic
dual in ``z = (f, g)``, with ``grad`` and ``hvp`` (used by tests and Newton methods).
"""
from __future__ import annotations

import math

import numpy as np

from ..solvers import solve_ot
from ..backends import to_numpy
from ._base import Problem
from ._registry import move, register_problem

__all__ = ["random_assignment", "uniform_point_clouds", "grid_densities", "additive_cost"]


def _dual_oracles(a, b, C, reg, xp):
    n = C.shape[0]

    def plan(z):
        return xp.exp((z[:n, None] + z[None, n:] - C) / reg)

    def fun(z):
        P = plan(z)
        return -(xp.sum(a * z[:n]) + xp.sum(b * z[n:]) - reg * xp.sum(P) + reg * xp.sum(a))

    def grad(z):
        P = plan(z)
        return -xp.concat([a - xp.sum(P, axis=1), b - xp.sum(P, axis=0)])

    def hvp(z, v):
        P = plan(z)
        vx, vy = v[:n], v[n:]
        top = xp.sum(P, axis=1) * vx + P @ vy
        bot = P.T @ vx + xp.sum(P, axis=0) * vy
        return xp.concat([top, bot]) / reg

    return fun, grad, hvp


def _solve(problem, method, *, options=None, callback=None):
    d = problem.data
    return solve_ot(d["a"], d["b"], d["C"], d["reg"], method=method, options=options,
                    callback=callback)


def _metrics(problem, result):
    """Metrics recomputed on the host from the returned plan (independent of the solver)."""
    d = problem.reference
    P = to_numpy(result.plan).astype(np.float64)
    a, b, C = d["a"], d["b"], d["C"]
    out = {
        "marginal_err": np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum(),
        "cost": float((P * C).sum()),
    }
    if "lp_value" in d:
        # 0 <= <C, P_eps> - OT(a, b) <= eps * min(H(a), H(b)) at the exact entropic optimum
        out["entropic_gap"] = out["cost"] - d["lp_value"]
        out["entropic_gap_bound"] = problem.data["reg"] * d["entropy_bound"]
    if problem.x_opt is not None:
        out["plan_err"] = float(np.abs(P - to_numpy(problem.x_opt)).max())
    return out


def _entropy(w):
    w = w[w > 0]
    return float(-(w * np.log(w)).sum())


def _build(spec, host, *, size, seed, params, xp, device, dtype):
    data = move({k: host[k] for k in ("a", "b", "C")}, xp, device, dtype)
    data["reg"] = float(params["reg"])
    fun, grad, hvp = _dual_oracles(data["a"], data["b"], data["C"], data["reg"], xp)
    n, m = host["C"].shape
    x0 = xp.zeros((n + m,), dtype=dtype, device=device) if device is not None else xp.zeros((n + m,), dtype=dtype)
    reference = {k: host[k] for k in ("a", "b", "C")}
    reference.update(host.get("reference", {}))
    x_opt = host.get("x_opt")
    if x_opt is not None:
        x_opt = move({"x": x_opt}, xp, device, dtype)["x"]
    return Problem(name=spec.name, family=spec.family, size=size, seed=seed, params=params, xp=xp,
                   device=device, data=data, solve_fn=_solve, metrics_fn=_metrics, x0=x0,
                   f_opt=host.get("f_opt"), x_opt=x_opt, fun=fun, grad=grad, hvp=hvp,
                   reference=reference, description=spec.make.__doc__ or "",
                   success_metric="marginal_err", success_tol=1e-8)


def _lap_reference(C):
    # For uniform weights the unregularised OT optimum is an assignment / n.
    from scipy.optimize import linear_sum_assignment

    n = C.shape[0]
    rows, cols = linear_sum_assignment(C)
    return {"lp_value": float(C[rows, cols].sum() / n), "entropy_bound": math.log(n)}


@register_problem("ot/random_assignment", family="ot",
                  sizes={"tiny": {"n": 20}, "small": {"n": 250}, "medium": {"n": 500},
                         "large": {"n": 1000}},
                  defaults={"reg": 1.0 / 1200}, tags=("sns-paper",), build=_build)
def random_assignment(*, rng, n, reg):
    r"""Random assignment: :math:`C_{ij} \sim U[0, 1]` i.i.d., uniform weights, :math:`\eta = 1/\varepsilon = 1200`.

    The paper's main experiment (Tang et al., ICLR 2024, section 5; n = 500).
    Verifiable metric: the entropic gap :math:`0 \le \langle C, P_\varepsilon\rangle - OT
    \le \varepsilon \log n`, with OT from :func:`scipy.optimize.linear_sum_assignment`.
    """
    C = rng.random((n, n))
    w = np.full(n, 1.0 / n)
    return {"a": w, "b": w.copy(), "C": C, "reference": _lap_reference(C)}


@register_problem("ot/uniform_point_clouds", family="ot",
                  sizes={"tiny": {"n": 30}, "small": {"n": 200}, "medium": {"n": 1000},
                         "large": {"n": 2000}},
                  defaults={"reg": 1e-2, "d": 2}, tags=("contract",), build=_build)
def uniform_point_clouds(*, rng, n, reg, d):
    r"""Two clouds of ``n`` points uniform in :math:`[0,1]^d`, squared-Euclidean cost, uniform weights.

    ``X = rng.random((n, d))``, ``Y = rng.random((n, d))``, :math:`C_{ij} = \|X_i - Y_j\|^2`
    (no rescaling); ``reg`` in {1e-2, 1e-3} in the benchmark protocol (SNS spec, P2).
    Verifiable metric: the entropic gap against the exact assignment (uniform weights).
    """
    X = rng.random((n, d))
    Y = rng.random((n, d))
    C = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    w = np.full(n, 1.0 / n)
    return {"a": w, "b": w.copy(), "C": C, "reference": _lap_reference(C)}


def _mixture_density(rng, grid):
    centres = rng.random((3, 2))
    widths = rng.uniform(0.05, 0.2, size=3)
    weights = rng.uniform(0.5, 1.5, size=3)
    dens = np.zeros(len(grid))
    for c, w, s in zip(centres, widths, weights):
        dens += s * np.exp(-((grid - c) ** 2).sum(1) / (2 * w * w))
    dens += 1e-3 * dens.max()
    return dens / dens.sum()


@register_problem("ot/grid_densities", family="ot",
                  sizes={"tiny": {"side": 6}, "small": {"side": 16}, "medium": {"side": 28},
                         "large": {"side": 40}},
                  defaults={"reg": 1.0 / 1200, "cost": "sqeuclidean"}, tags=("sns-paper",),
                  build=_build)
def grid_densities(*, rng, side, reg, cost):
    r"""Two 3-component Gaussian mixtures on a ``side x side`` grid of :math:`[0,1]^2`.

    Widths in [0.05, 0.2], centres :math:`U[0,1]^2`, plus a floor of 1e-3 times the
    maximum before normalising; ``cost`` is ``"sqeuclidean"`` or ``"l1"``. A synthetic
    stand-in for the paper's MNIST pairs (28 x 28 grid, :math:`\eta` = 1200).
    """
    if cost not in ("sqeuclidean", "l1"):
        raise ValueError(f"cost must be 'sqeuclidean' or 'l1'; got {cost!r}")
    t = (np.arange(side) + 0.5) / side
    grid = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    diff = grid[:, None, :] - grid[None, :, :]
    C = (diff ** 2).sum(-1) if cost == "sqeuclidean" else np.abs(diff).sum(-1)
    return {"a": _mixture_density(rng, grid), "b": _mixture_density(rng, grid), "C": C}


@register_problem("ot/additive_cost", family="ot",
                  sizes={"tiny": {"n": 7, "m": 5}, "small": {"n": 100, "m": 80},
                         "medium": {"n": 500, "m": 400}},
                  defaults={"reg": 0.1}, build=_build)
def additive_cost(*, rng, n, m, reg):
    r"""Additive cost :math:`C_{ij} = \alpha_i + \beta_j`: the optimal plan is :math:`a b^\top` for every reg.

    A rectangular instance with a closed-form solution (SNS spec, check 2); random
    positive weights. ``x_opt`` is the plan and ``f_opt`` the regularised objective.
    """
    alpha, beta = rng.random(n), rng.random(m)
    a = rng.uniform(0.5, 1.5, n)
    b = rng.uniform(0.5, 1.5, m)
    a /= a.sum()
    b /= b.sum()
    C = alpha[:, None] + beta[None, :]
    P = np.outer(a, b)
    f_opt = float((P * C).sum() + reg * (P * np.log(P)).sum())
    return {"a": a, "b": b, "C": C, "x_opt": P, "f_opt": f_opt}
