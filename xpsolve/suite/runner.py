"""Run one benchmark: build the problem on the worker, warm up, time, record the curve.

:func:`run_one` is what executors ship to workers. It takes a :class:`RunSpec`
(or its dict), never raises for a solver failure, and returns plain Python
values only (str, int, float, bool, None, lists and dicts of them), so results
pickle anywhere and go straight into the store.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import socket
import time
import traceback
import warnings

from ..backends import synchronize
from .plan import RunSpec

__all__ = ["run_one", "Recorder", "namespace_for", "error_record", "oracle_calls"]

# (family, solver, problem, backend, options) already warmed up in this process
_WARMED: set = set()
#: Wall-clock budget of a warm-up solve in seconds (also capped by the run's timeout).
WARMUP_BUDGET = 5.0


def namespace_for(backend: str):
    """Return ``(xp, device)`` for a backend name such as ``"numpy"`` or ``"torch:cuda"``."""
    name, _, dev = backend.partition(":")
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "array_api_strict":
        import array_api_strict as xp
    elif name == "torch":
        import array_api_compat.torch as xp
    elif name == "cupy":
        import array_api_compat.cupy as xp
    else:
        raise ValueError(f"unknown backend {backend!r}")
    return xp, (dev or None)


def _solver_options(spec) -> dict:
    """The run's solver options; a randomized solver (one with a ``seed`` option) gets
    the run's seed unless the plan sets one, so that a stored run can be reproduced."""
    from .._registry import get_solver

    opts = dict(spec.options)
    if "seed" not in opts:
        try:
            if "seed" in get_solver(spec.solver, family=spec.family).options:
                opts["seed"] = int(spec.seed)
        except (KeyError, ValueError, TypeError):  # peers are not in the registry
            pass
    return opts


#: Evaluation counters that solvers and peers report (SciPy names plus ``ngev``/``nkev``).
ORACLE_COUNTERS = ("nfev", "njev", "nhev", "ngev", "nkev", "ncev", "ncjev")


def oracle_calls(res):
    """Oracle calls a (intermediate or final) result reports, or ``None`` without counters.

    The sum of the per-oracle counts in ``n_calls`` (bilevel solvers) when present, else
    the sum of the SciPy-style counters among :data:`ORACLE_COUNTERS`; a total of 0 (a
    solver that counts nothing reports ``nfev=0``) is ``None``. Solvers whose iteration
    costs a fixed number of oracle calls (Sinkhorn sweeps, AltMin, PGD, SubGM) report no
    counters: their curve against iterations is their curve against calls.

    Examples
    --------
    >>> oracle_calls({"nfev": 3, "njev": 2}), oracle_calls({"n_calls": {"upper_grad": 4}})
    (5, 4)
    >>> oracle_calls({"nit": 10}) is None, oracle_calls({"nfev": 0}) is None
    (True, True)
    """
    try:
        calls = res.get("n_calls")
        if isinstance(calls, dict) and calls:
            total = sum(int(v) for v in calls.values())
        else:
            total = sum(int(res[k]) for k in ORACLE_COUNTERS if res.get(k) is not None)
        return int(total) if total > 0 else None
    except (AttributeError, TypeError, ValueError):
        return None


class Recorder:
    """Callback that records the convergence curve on a clock paused while it records.

    ``time_s`` accumulates only the time spent in the solver between callback
    invocations (plus the stretch after the last one, see :meth:`stop`). Each call
    appends ``[nit, time_s, value, calls]``, where ``value`` is the first of ``metrics``
    that the first (intermediate or final) result reports; ``"subopt"`` means
    ``fun - f_opt``; each point gets a fourth entry, :func:`oracle_calls` of the result
    (``None`` when the solver reports no counters). Past ``timeout`` seconds of wall time
    it raises :class:`StopIteration` and sets ``timed_out``.
    """

    def __init__(self, xp, metrics=("fun",), *, f_opt=None, timeout=None, key_metric=None):
        self.xp, self.f_opt, self.timeout = xp, f_opt, timeout
        self.candidates = [m for m in metrics if m != "subopt" or f_opt is not None]
        self.metric = None
        self.key_metric = key_metric  # (name, fn(result) -> float): the problem's success metric
        self.curve, self.time_s, self.timed_out = [], 0.0, False

    def value(self, res) -> float:
        """The curve metric of an (intermediate or final) result, as a float.

        The problem's success metric (``key_metric``, computed by the problem from the
        result, e.g. a recovery error or a test accuracy) when it can be computed from
        the first result seen; otherwise the first of ``metrics`` the result reports.
        """
        if self.metric is None and self.key_metric is not None:
            name, fn = self.key_metric
            try:
                v = float(fn(res))
                self.metric = name
                return v
            except Exception:  # the intermediate result lacks what the metric needs
                self.key_metric = None
        if self.key_metric is not None and self.metric == self.key_metric[0]:
            try:
                return float(self.key_metric[1](res))
            except Exception:
                return math.nan
        if self.metric is None:
            keys = set(res)
            self.metric = next((m for m in self.candidates
                                if (m == "subopt" and "fun" in keys) or m in keys), None)
        try:
            if self.metric == "subopt":
                return float(res["fun"]) - self.f_opt
            return float(res[self.metric])
        except (KeyError, TypeError, ValueError):
            return math.nan

    def start(self):
        synchronize(self.xp)
        self._t0 = self._mark = time.perf_counter()

    def stop(self):
        synchronize(self.xp)
        self.time_s += time.perf_counter() - self._mark

    def __call__(self, intermediate_result):
        synchronize(self.xp)
        now = time.perf_counter()
        self.time_s += now - self._mark
        try:
            nit = int(intermediate_result.get("nit", len(self.curve)))
            self.curve.append([nit, self.time_s, self.value(intermediate_result),
                               oracle_calls(intermediate_result)])
            if self.timeout is not None and now - self._t0 > self.timeout:
                self.timed_out = True
                raise StopIteration
        finally:
            self._mark = time.perf_counter()


def _curve_metrics(problem) -> tuple:
    # Preference order: the problem's success metric (OT: marginal_err), the known
    # suboptimality, the objective.
    return (problem.success_metric, "subopt", "fun")


def _warm_up(spec: RunSpec, method, xp, device) -> float | None:
    """One solve of the same method on the tiny instance (JIT compilation, caches).

    The solve is stopped through its callback after :data:`WARMUP_BUDGET` seconds
    (or the run's timeout, if smaller), so options such as a huge ``maxiter`` do
    not make the warm-up run for long.
    """
    from ..problems import get_problem

    tag = (spec.family, spec.solver, spec.problem, spec.backend,
           json.dumps(spec.options, sort_keys=True, default=repr))
    if tag in _WARMED:
        return None
    t0 = time.perf_counter()
    budget = min(WARMUP_BUDGET, spec.timeout or math.inf)

    def stop_when_over_budget(intermediate_result):
        if time.perf_counter() - t0 > budget:
            raise StopIteration

    try:
        tiny = get_problem(spec.problem, "tiny", spec.seed, xp=xp, device=device, **spec.params)
        tiny.solve(method, options=_solver_options(spec), callback=stop_when_over_budget)
    except Exception:  # the timed run reports the error
        pass
    _WARMED.add(tag)
    return time.perf_counter() - t0


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _base(spec: RunSpec) -> dict:
    rec = spec.to_dict()
    rec.update(key=spec.key, status="error", solver_status=None, success=False,
               solver_success=False, message="", nit=None, fun=None, time_s=None, wall_s=None,
               warmup_s=None, metrics={}, key_metric=None, key_value=None, target=None,
               curve_metric=None, curve=[], timed_out=False, error=None, warnings=[],
               pid=os.getpid(), host=socket.gethostname(),
               threads=os.environ.get("NUMBA_NUM_THREADS"), started_at=_now(), finished_at=None)
    return rec


def error_record(spec, exc: BaseException) -> dict:
    """The record of a run that could not run at all (e.g. its worker died)."""
    spec = spec if isinstance(spec, RunSpec) else RunSpec(**spec)
    rec = _base(spec)
    rec.update(message=f"{type(exc).__name__}: {exc}", error=repr(exc), finished_at=_now())
    return rec


def _clean(v):
    # floats that JSON and SQLite keep (nan/inf stay floats; json writes NaN/Infinity)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def run_one(spec) -> dict:
    """Run one benchmark and return its record (plain Python values only).

    Parameters
    ----------
    spec : RunSpec or dict
        The run. Its ``timeout`` (seconds, wall clock) is enforced through the
        callback, so only solvers that call back can be stopped; ``warmup``
        runs the same method once on the problem's ``"tiny"`` instance first
        (once per process and combination).

    Returns
    -------
    dict
        The spec fields plus ``key``; ``status`` (the solver's status code as a
        string, ``"timed_out"`` or ``"error"``); ``solver_status`` (int or None);
        ``success`` (verified by ``problem.success``); ``solver_success``;
        ``message``; ``nit``; ``fun``; ``time_s`` (solver time, callback time
        excluded); ``wall_s``; ``warmup_s``; ``metrics`` (dict of floats);
        ``key_metric``/``key_value``/``target`` (the problem's success metric,
        its value and tolerance); ``curve_metric`` and ``curve`` (list of
        ``[nit, time_s, value, calls]``, ``calls`` as ``oracle_calls`` counts
        them); ``timed_out``; ``error`` (traceback text); ``warnings``; worker
        ``pid``, ``host``, ``threads``; timestamps.

    Examples
    --------
    >>> from xpsolve.suite import RunSpec, run_one
    >>> rec = run_one(RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot", warmup=False))
    >>> rec["status"], rec["success"], rec["curve_metric"]
    ('0', True, 'marginal_err')
    """
    from ..problems import get_problem
    from .solvers import resolve_method

    spec = spec if isinstance(spec, RunSpec) else RunSpec(**spec)
    rec = _base(spec)
    wall0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            xp, device = namespace_for(spec.backend)
            method = resolve_method(spec.family, spec.solver)
            problem = get_problem(spec.problem, spec.size, spec.seed, xp=xp, device=device,
                                  **spec.params)
            if spec.warmup:
                rec["warmup_s"] = _warm_up(spec, method, xp, device)
            key = problem.success_metric
            recorder = Recorder(xp, _curve_metrics(problem), f_opt=problem.f_opt,
                                timeout=spec.timeout,
                                key_metric=(key, lambda r: problem.metrics(r)[key]))
            recorder.start()
            result = problem.solve(method, options=_solver_options(spec), callback=recorder)
            recorder.stop()
            curve = recorder.curve
            metrics = problem.metrics(result)
            # the curve ends at the returned result: its last point is the reported value, so a
            # run that succeeds has reached its target on its curve (report consistency)
            if recorder.metric is None:
                recorder.metric = key if key in metrics else None
            last = (metrics[key] if recorder.metric == key and key in metrics
                    else recorder.value(result))
            calls = oracle_calls(result)
            if curve and curve[-1][0] == int(result.nit):
                curve[-1] = [int(result.nit), curve[-1][1], last,
                             calls if calls is not None else curve[-1][3]]
            else:
                curve.append([int(result.nit), recorder.time_s, last, calls])
            rec["curve_metric"] = recorder.metric
            timed_out = recorder.timed_out and int(result.status) == 99
            rec.update(
                status="timed_out" if timed_out else str(int(result.status)),
                solver_status=int(result.status), success=bool(problem.success(result)),
                solver_success=bool(result.success),
                message=(f"Timed out after {spec.timeout:g} s. " if timed_out else "")
                + str(result.message),
                nit=int(result.nit), fun=_clean(float(result.fun)), time_s=recorder.time_s,
                metrics={k: _clean(v) for k, v in metrics.items()},
                key_metric=problem.success_metric,
                key_value=_clean(metrics.get(problem.success_metric, math.nan)),
                target=float(problem.success_tol), timed_out=timed_out,
                curve=[[int(n), float(t), _clean(v), None if c is None else int(c)]
                       for n, t, v, c in curve])
        except Exception as exc:  # a failing run is data, not a crash
            rec.update(status="error", message=f"{type(exc).__name__}: {exc}",
                       error=traceback.format_exc()[-4000:])
    rec["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:10]
    rec["wall_s"] = time.perf_counter() - wall0
    rec["finished_at"] = _now()
    return rec
