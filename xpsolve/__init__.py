"""xpsolve: faithful, fast, array-API generic solvers from recent optimization papers.

Front doors: :func:`minimize` (single-level problems), :func:`solve_ot` (entropic
optimal transport), :func:`bilevel_minimize` (bilevel problems); more families arrive with their solvers. Results are
:class:`OptimizeResult` objects. The benchmark suite lives in :mod:`xpsolve.suite`
(``python -m xpsolve suite``) and the problem library in :mod:`xpsolve.problems`.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from ._config import config_context, get_config, set_config
from ._registry import SolverSpec, get_solver, list_solvers, register_solver, show_options
from ._result import STATUS_MESSAGES, LazyOptimizeResult, OptimizeResult
from .solvers import (BilevelProblem, as_scipy_method, bilevel_minimize, calibrate_gains,
                      check_oracles, complete_matrix, minimize, recover_low_rank, solve_ot)
from .solvers._scipy_methods import HostRoundTripWarning

try:
    __version__ = _version("xpsolve")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BilevelProblem", "HostRoundTripWarning", "LazyOptimizeResult", "OptimizeResult",
    "STATUS_MESSAGES", "SolverSpec",
    "as_scipy_method", "bilevel_minimize", "calibrate_gains", "check_oracles", "complete_matrix",
    "config_context", "get_config", "get_solver", "list_solvers", "minimize", "recover_low_rank",
    "register_solver", "set_config", "show_options", "solve_ot",
]


def __getattr__(name):
    # The suite and the problem library are imported lazily (they are not needed to solve).
    if name in ("suite", "problems", "testing"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'xpsolve' has no attribute {name!r}")
