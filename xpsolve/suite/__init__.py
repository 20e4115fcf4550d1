"""The xpsolve benchmark suite: plans, a runner, executors, a results store and reports.

Command line: ``python -m xpsolve suite --help`` (see ``docs/suite.md``).
From Python::

    from xpsolve.suite import load_plan, expand, run_one
    specs, skips = expand(load_plan("tiny"))
    records = [run_one(s) for s in specs]
"""
from .executors import DaskExecutor, ProcessExecutor, SerialExecutor, make_executor
from .peers import Peer, list_peers, register_peer
from .plan import Plan, PlanError, RunSpec, Skip, expand, list_plans, load_plan, parse_seeds
from ._guard import run_guarded
from .runner import run_one
from .solvers import SolverEntry, list_entries
from .store import Store

__all__ = [
    "DaskExecutor", "Peer", "Plan", "PlanError", "ProcessExecutor", "RunSpec", "SerialExecutor",
    "Skip", "SolverEntry", "Store", "expand", "list_entries", "list_peers", "list_plans",
    "load_plan", "make_executor", "parse_seeds", "register_peer", "run_guarded", "run_one",
]
