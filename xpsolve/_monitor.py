"""The one check-point loop helper every solver uses (counts, history, disp, callback, status).

A solver owns its mathematics; :class:`Monitor` owns what every solver repeats:

- the ``maxiter`` / ``tol`` tests and the final status (0 converged, 1 iteration limit,
  2 stalled, 3 non-finite, 4 infeasible, 99 callback stop), with messages from
  :data:`xpsolve.STATUS_MESSAGES`;
- ``history`` (Python floats gathered only at check points), ``disp`` (an aligned
  iteration table), the callback with :class:`StopIteration`;
- honesty: ``success`` is decided on the *reported* metric (the quantity the final
  result carries, e.g. the returned plan's marginal error, the KKT residual), never on
  an internal proxy. :meth:`Monitor.finish` re-tests the final metric against ``tol``.

Shape of a solver::

    mon = Monitor("my-method", xp=xp, maxiter=maxiter, tol=tol, metric="kkt",
                  check_every=check_every, history=history, disp=disp, callback=callback)
    state = init(...)
    while True:
        if mon.due(state.nit):
            if mon.check(state.nit, x=state.x, fun=state.fun, metric=kkt(state)):
                break
        state = step(state)
    return mon.finish(x=state.x, fun=state.fun, nit=state.nit, metric=kkt(state),
                      nfev=..., **family_keys)

Values passed to :meth:`Monitor.check` may be zero-argument callables: they are
evaluated only when something needs them (a callback, the history, ``disp``), so
an expensive public iterate (the OT plan) costs nothing when nobody looks.
"""
from __future__ import annotations

import math
import time
import warnings

from ._result import (SUCCESS_STATUSES, IterationReport, LazyOptimizeResult, OptimizeResult,
                      status_message)

__all__ = ["Monitor", "to_float", "is_finite_array", "warn_unreachable_tol"]


def to_float(v) -> float:
    """A 0-d array, NumPy scalar or Python number as a Python float (NaN for None)."""
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def is_finite_array(x, xp) -> bool:
    """Whether every entry of ``x`` is finite (one reduction, one host sync)."""
    if x is None:
        return True
    return bool(xp.all(xp.isfinite(x)))


def _value(v):
    return v() if callable(v) and not hasattr(v, "shape") else v


class Monitor:
    """Check-point bookkeeping and the final status of an iterative solver.

    Parameters
    ----------
    method : str
        Method name (messages, ``disp`` header).
    xp : namespace
        The solver's array namespace.
    maxiter : int
        Iteration limit: reaching it ends the run with status 1 unless the metric
        meets ``tol`` at that check point.
    tol : float or None
        Success threshold on the reported ``metric`` (``metric <= tol``). ``None``
        means the solver runs a fixed budget: the run ends with status 1 at
        ``maxiter`` (a budget is not a convergence proof) unless the solver decides
        otherwise through :meth:`stop`.
    metric : str
        Name of the reported metric (a result key, e.g. ``"marginal_err"``,
        ``"kkt"``, ``"rel_change"``). The final result carries it under this name.
    check_every : int
        Check points every ``check_every`` iterations (and always at ``maxiter``).
    history : bool
        Record ``nit``, ``fun``, the metric, ``time`` and any scalar extras passed
        to :meth:`check` at each check point.
    disp : bool
        Print an aligned row per check point.
    callback : callable or None
        ``callback(intermediate_result)``; an :class:`xpsolve.OptimizeResult` with ``x``,
        ``fun``, ``nit``, the metric and the extras, each meaning what the final
        result's keys mean. :class:`StopIteration` stops the run (status 99).
    columns : sequence of str
        Extra scalar columns for ``disp`` (names of extras passed to ``check``).
    record : sequence of str, optional
        Extras recorded in ``history`` (default: every scalar extra).
    """

    def __init__(self, method, *, xp, maxiter, tol=None, metric="metric", check_every=1,
                 history=False, disp=False, callback=None, columns=(), record=None):
        self.method = method
        self.xp = xp
        self.maxiter = int(maxiter)
        self.tol = None if tol is None else float(tol)
        self.metric_name = metric
        self.check_every = max(int(check_every), 1)
        self.keep_history = bool(history)
        self.history = {} if not history else {"nit": [], "fun": [], metric: [], "time": []}
        self.report = IterationReport(["nit", "fun", metric, *columns]) if disp else None
        self.columns = tuple(columns)
        self.record = None if record is None else tuple(record)
        self.callback = callback
        self.status = None
        self.detail = None
        self.nit = 0
        self.last_metric = math.nan  # the metric at the last check point (finite or not)
        self.last_finite = None   # kwargs of the last check point whose values were finite
        self.t0 = time.perf_counter()

    # ------------------------------------------------------------------ loop control
    @property
    def stopped(self) -> bool:
        return self.status is not None

    def due(self, nit: int) -> bool:
        """Whether iteration count ``nit`` is a check point (every ``check_every``, and maxiter)."""
        return nit % self.check_every == 0 or nit >= self.maxiter

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def stop(self, status: int, detail: str | None = None) -> bool:
        """Record a solver-decided stop (2 stalled, 3 non-finite, 4 infeasible, 0 converged
        on a solver-specific certificate); returns True so ``if mon.stop(...): break`` reads."""
        if self.status is None:
            self.status, self.detail = int(status), detail
        return True

    def check(self, nit, *, x=None, fun=None, metric=None, check_x=False, **extras) -> bool:
        """One check point; return True when the run must end.

        Order: non-finite ``metric`` / ``fun`` (and ``x`` with ``check_x=True``) gives
        status 3 (the callback is not called with non-finite values; a ``fun`` given as
        a callable is evaluated when the history, ``disp`` or a callback needs it);
        otherwise the history and ``disp`` row are recorded and the callback is called
        (at ``nit > 0``: as in SciPy, the starting point is not reported) with a
        :class:`xpsolve.LazyOptimizeResult`, whose ``x`` and extras given as callables
        (the OT plan) are evaluated when read; then
        ``metric <= tol`` gives 0 (even if the callback raised :class:`StopIteration`),
        the callback's :class:`StopIteration` gives 99, ``nit >= maxiter`` gives 1.
        """
        self.nit = int(nit)
        m = to_float(_value(metric)) if metric is not None else math.nan
        self.last_metric = m
        # fun is evaluated for the history, disp and a callback: a non-finite value stops the
        # run here (status 3) and never reaches the callback; x and the extras stay lazy
        need_fun = (self.keep_history or self.report is not None
                    or (self.callback is not None and nit > 0))  # no callback at x0
        fval = _value(fun) if (need_fun or fun is not None and not callable(fun)) else None
        f = to_float(fval) if fval is not None else math.nan
        bad = []
        if metric is not None and not math.isfinite(m):
            bad.append(f"{self.metric_name} = {m}")
        if fval is not None and not math.isfinite(f):
            bad.append(f"fun = {f}")
        if check_x and x is not None and not is_finite_array(_value(x), self.xp):
            bad.append("non-finite entries in x")
        if bad:
            return self.stop(3, f"({', '.join(bad)} at iteration {nit})")
        self.last_finite = dict(nit=nit, x=x, fun=fun, metric=metric, **extras)
        if self.keep_history or self.report is not None:
            scal = {}
            for k, v in extras.items():
                if self.record is not None and k not in self.record and k not in self.columns:
                    continue
                v = _value(v)
                if isinstance(v, (int, float)) or getattr(v, "shape", None) == ():
                    scal[k] = to_float(v)
            t = self.elapsed()
            if self.keep_history:
                h = self.history
                h["nit"].append(int(nit))
                h["fun"].append(f)
                h[self.metric_name].append(m)
                h["time"].append(t)
                for k, v in scal.items():
                    h.setdefault(k, []).append(v)
            if self.report is not None:
                self.report.row(nit=int(nit), fun=f, **{self.metric_name: m},
                                **{k: scal.get(k, "") for k in self.columns})
        converged = self.tol is not None and metric is not None and m <= self.tol
        asked_stop = False
        if self.callback is not None and nit > 0:
            # every check point after an iteration reaches the callback, the converged one
            # included (SciPy calls back after each iteration, not at x0, then tests convergence)
            # lazy: x and the extras given as callables (the OT plan) are computed only if
            # the callback reads them, so a timing callback does not charge them to the solver
            inter = LazyOptimizeResult(x=x, fun=fval, nit=int(nit), **{self.metric_name: m},
                                       **extras)
            try:
                self.callback(inter)
            except StopIteration:
                asked_stop = True
        if converged:  # a converged point stays a success even if the callback asked to stop
            return self.stop(0)
        if asked_stop:
            return self.stop(99)
        if nit >= self.maxiter:
            return self.stop(1, f"({self.maxiter} iterations)")
        return False

    # ------------------------------------------------------------------ the result
    def finish(self, *, x, fun, nit, metric=None, backend=None, nfev=0, detail=None,
               **extra) -> OptimizeResult:
        """Assemble the final :class:`xpsolve.OptimizeResult`; ``success`` iff status 0.

        The status is the one decided in the loop, then made honest against the
        *reported* values: a status-0 run whose final ``metric`` is not finite or
        exceeds ``tol`` becomes status 2 (the solver's internal test passed but
        the returned quantity does not meet the tolerance); a non-finite ``fun``
        or metric gives status 3; a loop left without a decision (no check point
        reached, e.g. ``maxiter=0``) is status 1.
        """
        from .backends import namespace_name

        status, why = self.status, self.detail
        if status is None:
            status, why = 1, f"({self.maxiter} iterations)"
        m = to_float(metric) if metric is not None else math.nan
        f = to_float(fun) if fun is not None else math.nan
        if status in SUCCESS_STATUSES:
            if metric is not None and self.tol is not None and not (m <= self.tol):
                status = 2 if math.isfinite(m) else 3
                why = (f"(the internal test passed but the returned {self.metric_name} "
                       f"{m:.3g} does not meet tol {self.tol:.3g}; the tolerance may be "
                       "below what this dtype/problem scale can reach)")
            elif fun is not None and not math.isfinite(f):
                status, why = 3, f"(fun = {f})"
        if detail:
            why = f"{why} {detail}" if why else detail
        res = OptimizeResult(
            x=x, fun=f, nit=int(nit), nfev=int(nfev), success=status in SUCCESS_STATUSES,
            status=int(status), message=status_message(status, why), history=self.history,
            backend=backend if backend is not None else namespace_name(self.xp))
        if metric is not None:
            res[self.metric_name] = m
        res.update(extra)
        return res


def warn_unreachable_tol(tol, dtype_eps, scale=1.0, *, name="tol", stacklevel=3):
    """Warn when ``tol`` is below ``dtype_eps * scale``: it cannot be met, the run will end
    with an honest status (2) instead of success. Returns whether the warning fired."""
    if tol is not None and tol < dtype_eps * scale:
        warnings.warn(f"{name}={tol:g} is below the attainable precision ~{dtype_eps * scale:.1e} "
                      "of this dtype and problem scale; the run cannot report success",
                      RuntimeWarning, stacklevel=stacklevel)
        return True
    return False
