r"""Hypergradient machinery shared by BO-REP and the reference bilevel methods.

Generic in the array namespace (every array operation goes through ``xp``); the
only host-side work is drawing minibatch indices from NumPy generators.

- :class:`Oracles`: the problem wrapped in a call counter, with one random stream
  per role (upper minibatches, lower minibatches, second-order products,
  refinement) spawned from the solver's ``seed``; full-batch (deterministic)
  oracles when a batch size is ``None`` or the problem is not a finite sum.
- :func:`neumann_solve`: the truncated Neumann series
  :math:`v = \eta_N \sum_{q<Q} (I - \eta_N H)^q b`, recursive (StocBiO form, Q - 1
  products) or with independent samples per term (O(Q^2) products).
- :func:`cg_solve`: conjugate gradients on the Hessian-vector oracle (AID).
- :func:`power_lambda_max`: largest eigenvalue of the lower Hessian by power
  iteration on the Hessian-vector oracle.
- :func:`bilevel_loop`: the check-point loop (:class:`xpsolve._monitor.Monitor`)
  every method of this family shares: metric = the exact hypergradient norm
  :math:`\|\nabla\Phi(x)\|` when the problem provides ``hypergrad``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..._monitor import Monitor, is_finite_array
from ...backends import device as _device
from ...backends import namespace_name
from ._protocol import CountingProblem

__all__ = ["Oracles", "neumann_solve", "cg_solve", "power_lambda_max", "bilevel_loop", "norm"]


def norm(v, xp) -> float:
    """Euclidean norm as a Python float, accumulated in float64 for float32 data."""
    if v.dtype == getattr(xp, "float32", None):
        v = xp.astype(v, xp.float64)
    return math.sqrt(float(xp.sum(v * v)))


FRESH = object()  # sentinel: draw a fresh second-order minibatch


class Oracles:
    """Counted oracles with separate minibatch streams (see module docstring).

    Parameters
    ----------
    problem : BilevelProblem
    xp : namespace
    like : array
        An iterate; fixes the device of the batch index arrays.
    seed : None, int, Generator or SeedSequence
        Seed of the streams (``numpy.random.default_rng(seed).spawn(4)``:
        upper, lower, second-order, refinement).
    batch_size_upper, batch_size_lower, batch_size_hvp : int or None
        Minibatch sizes (``None``: full objective). Only finite-sum problems
        (``n_upper`` / ``n_lower`` set) accept them.
    needs : sequence of str
        Oracles the method needs; missing ones raise ``ValueError`` now.
    method : str
        Name used in error messages.
    """

    def __init__(self, problem, xp, like, *, seed=None, batch_size_upper=None,
                 batch_size_lower=None, batch_size_hvp=None, needs=(), method="method"):
        self.P = CountingProblem(problem)
        self.problem = problem
        self.xp = xp
        missing = [n for n in needs if not self.P.provides(n)]
        if missing:
            raise ValueError(f"{method} needs the oracles {', '.join(missing)}, which the problem "
                             "lacks (BilevelProblem.from_callables fills Hessian-vector and mixed "
                             "products by finite differences of lower_grad)")
        if int(getattr(problem, "n_cons", 0) or 0):
            raise ValueError(f"{method} handles unconstrained lower levels only; the problem has "
                             f"{problem.n_cons} lower-level constraints (use method='lv-hba')")
        for name, bs, n in (("batch_size_upper", batch_size_upper, problem.n_upper),
                            ("batch_size_lower", batch_size_lower, problem.n_lower),
                            ("batch_size_hvp", batch_size_hvp, problem.n_lower)):
            if bs is not None and n is None:
                raise ValueError(f"option {name!r} needs a finite-sum problem (n_upper / n_lower "
                                 "set); this problem has deterministic oracles")
        dev = _device(like)
        self._on = {} if dev is None else {"device": dev}
        gen = np.random.default_rng(seed)
        self.rng_upper, self.rng_lower, self.rng_hvp, self.rng_refine = gen.spawn(4)
        self.bs = {"upper": batch_size_upper, "lower": batch_size_lower, "hvp": batch_size_hvp}
        self.n = {"upper": problem.n_upper, "lower": problem.n_lower, "hvp": problem.n_lower}
        self.rngs = {"upper": self.rng_upper, "lower": self.rng_lower, "hvp": self.rng_hvp,
                     "refine": self.rng_refine}
        self.stochastic = any(b is not None for b in self.bs.values())

    def batch(self, role, stream=None):
        """Fresh minibatch indices for ``role`` ("upper", "lower", "hvp") or None."""
        bs = self.bs[role]
        if bs is None:
            return None
        rng = self.rngs[stream or role]
        return self.xp.asarray(rng.integers(0, self.n[role], bs), **self._on)

    def upper_grad(self, x, y):
        return self.P.upper_grad(x, y, self.batch("upper"))

    def lower_grad_y(self, x, y, stream=None):
        return self.P.lower_grad(x, y, self.batch("lower", stream))[1]

    def hvp(self, x, y, v, batch=FRESH):
        return self.P.lower_hvp_yy(x, y, v, self.batch("hvp") if batch is FRESH else batch)

    def jvp(self, x, y, v, batch=FRESH):
        return self.P.lower_jvp_xy(x, y, v, self.batch("hvp") if batch is FRESH else batch)

    @property
    def counts(self):
        return dict(self.P.counts)


def neumann_solve(hvp, b, terms, step, xp, *, independent=False):
    r"""Truncated Neumann series :math:`v = \eta_N \sum_{q<Q} \prod_{j \le q}(I - \eta_N H_j) b`.

    ``hvp(v)`` applies a (fresh-sample) Hessian. Recursive form: ``terms - 1``
    products, the same sample-path for every term; ``independent=True``: every
    term has its own samples, ``terms (terms - 1) / 2`` products. Returns
    ``(v, growth)`` with ``growth = ||p_{Q-1}|| / ||b||`` (> 1 means the series
    diverges: ``step`` times the largest eigenvalue exceeds 2).
    """
    if independent:
        total = b
        p = b
        for q in range(1, terms):
            p = b
            for _ in range(q):
                p = p - step * hvp(p)
            total = total + p
    else:
        p = b
        total = b
        for _ in range(1, terms):
            p = p - step * hvp(p)
            total = total + p
    nb = norm(b, xp)
    growth = norm(p, xp) / nb if nb > 0 else 0.0
    return step * total, growth


def cg_solve(hvp, b, xp, *, tol=1e-10, maxiter=None, x0=None):
    """Conjugate gradients for ``H v = b`` (H symmetric positive definite via ``hvp``).

    Stops when ``||b - H v|| <= tol * ||b||`` or after ``maxiter`` (default
    ``10 * len(b)``) iterations. Returns ``(v, iterations, relative residual)``.
    """
    maxiter = 10 * b.shape[0] if maxiter is None else int(maxiter)
    v = xp.zeros_like(b) if x0 is None else x0
    r = b - hvp(v) if x0 is not None else b
    p = r
    rs = float(xp.sum(r * r))
    bb = float(xp.sum(b * b))
    if bb == 0.0:
        return xp.zeros_like(b), 0, 0.0
    stop = tol * tol * bb
    it = 0
    while rs > stop and it < maxiter:
        Hp = hvp(p)
        curv = float(xp.sum(p * Hp))
        if not curv > 0:  # not positive definite (or NaN): stop, the caller sees the residual
            break
        a = rs / curv
        v = v + a * p
        r = r - a * Hp
        rs_new = float(xp.sum(r * r))
        p = r + (rs_new / rs) * p
        rs = rs_new
        it += 1
    return v, it, math.sqrt(rs / bb)


def power_lambda_max(hvp, dim, xp, like, rng, iters=20):
    """Largest eigenvalue of the lower Hessian by ``iters`` power iterations (Rayleigh quotient)."""
    dev = _device(like)
    on = {} if dev is None else {"device": dev}
    v = xp.asarray(rng.standard_normal(dim), dtype=like.dtype, **on)
    v = v / norm(v, xp)
    lam = 0.0
    for _ in range(iters):
        w = hvp(v)
        lam = float(xp.sum(v * w))
        nw = norm(w, xp)
        if not nw > 0:
            break
        v = w / nw
    return abs(lam)


def lower_step_size(oracles, x, y, lower_L):
    """``(l_g1, source)``: the problem's ``lower_L`` or a 20-step power estimate at (x, y)."""
    if lower_L is not None:
        return float(lower_L), "problem.lower_L"
    # a fixed start vector: deterministic oracles give the same steps whatever the seed
    est = power_lambda_max(lambda v: oracles.hvp(x, y, v, batch=None), y.shape[0], oracles.xp,
                           y, np.random.default_rng(20240117))
    if not (est > 0 and math.isfinite(est)):
        raise ValueError("the power iteration on lower_hvp_yy at (x0, y0) gave a non-positive "
                         f"curvature estimate ({est}); the lower level must be strongly convex "
                         "(or pass the step options explicitly)")
    return est, "power iteration (20 Hessian-vector products at (x0, y0))"


class NeumannWatch:
    """Warn once when the Neumann series grows (``step * lambda_max`` above 2)."""

    def __init__(self, method):
        self.method, self.warned = method, False

    def __call__(self, growth):
        if growth > 10.0 and not self.warned:
            self.warned = True
            warnings.warn(f"{self.method}: the Neumann terms grew by {growth:.3g}x; the Neumann "
                          "step times the largest lower-level curvature exceeds 2 (lower "
                          "'neumann_step' or declare problem.lower_L)", RuntimeWarning, stacklevel=4)


def bilevel_loop(method, oracles, state, step, *, xp, maxiter, tol, check_every, history, disp,
                 callback, public, extras_fn=None):
    r"""Run ``state = step(state, t)`` for t = 0..maxiter-1 with check points.

    ``public(state) -> (x, y)``. At each check point: non-finite ``x`` or ``y``
    (or a step that set ``state["bad"]`` to a description) stops the run with
    status 3 (the last finite check point is returned); the metric is the exact hypergradient norm :math:`\|\nabla\Phi(x)\|` when the
    problem provides ``hypergrad`` (else none, and ``tol`` must be None); the
    callback receives ``x``, ``y``, ``fun`` = :math:`F(x, y)`, ``nit``,
    ``hypergrad_norm``, ``n_calls`` (oracle calls so far) and ``extras_fn(state)``.

    Returns ``(state, monitor, final_metric)``.
    """
    P = oracles.P
    exact = oracles.problem.provides("hypergrad")
    if tol is not None and not exact:
        raise ValueError(f"{method}: tol needs an exact hypergradient (problem.hypergrad), the "
                         "only stationarity certificate; without it the method runs a fixed "
                         "budget of maxiter iterations")

    def metric_of(x):
        return norm(oracles.problem.hypergrad(x), xp) if exact else None

    # the exact hypergradient is a reference computation, not part of the method's cost: it is
    # evaluated at check points only when tol, history or disp needs it (a callback alone
    # sees NaN, so that timing callbacks do not charge it to the method)
    need_metric = exact and (tol is not None or history or disp)
    mon = Monitor(method, xp=xp, maxiter=maxiter, tol=tol, metric="hypergrad_norm",
                  check_every=check_every, history=history, disp=disp, callback=callback,
                  columns=("m_norm",) if extras_fn else ())
    kept = state
    nit = 0
    while True:
        if mon.due(nit):
            x, y = public(state)
            if state.get("bad") or not (is_finite_array(x, xp) and is_finite_array(y, xp)):
                mon.stop(3, f"(non-finite {state.get('bad') or 'iterate'} at iteration {nit})")
                break
            extras = extras_fn(state) if extras_fn else {}
            ok_metric = metric_of(x) if need_metric else None
            # oracle counts are taken before the check point evaluates F for the callback
            stop = mon.check(nit, x=x, fun=lambda x=x, y=y: P.upper_value(x, y), y=y,
                             metric=ok_metric, n_calls=dict(oracles.counts), **extras)
            if mon.status != 3:
                kept = state
            if stop:
                break
        state = step(state, nit)
        nit += 1
    if mon.status == 3:
        state = kept
    x, _ = public(state)
    return state, mon, (metric_of(x) if exact else None)


def finish(mon, oracles, state, public, metric, xp, **extra):
    """Final :class:`OptimizeResult` of a bilevel method (see :func:`bilevel_loop`)."""
    x, y = public(state)
    P = oracles.P
    fun = float(P.upper_value(x, y))
    counts = oracles.counts
    nit = state["t"]
    res = mon.finish(
        x=x, fun=fun, nit=int(nit), metric=metric, backend=namespace_name(xp),
        nfev=counts.get("upper_value", 0) + counts.get("lower_value", 0),
        detail=None if mon.status != 1 or mon.tol is not None else
        "(fixed budget; no stationarity test without tol and an exact problem.hypergrad)",
        y=y, njev=counts.get("upper_grad", 0) + counts.get("lower_grad", 0),
        n_calls=counts,
        approximate_oracles=tuple(n for n in oracles.problem.approximate_oracles
                                  if counts.get(n, 0)),
        **extra)
    if metric is None:
        res["hypergrad_norm"] = math.nan
    return res
