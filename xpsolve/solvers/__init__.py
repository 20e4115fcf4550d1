"""Solver families and their front doors."""
from ._minimize import as_scipy_method, minimize
from .bilevel import BilevelProblem, bilevel_minimize, check_oracles
from .ot import solve_ot
from . import constrained  # noqa: F401  (registers "adasketch")
from . import sliding  # noqa: F401  (registers "gs", "m-sgs", "rf-sgs", "rf-asgs")

__all__ = ["minimize", "as_scipy_method", "solve_ot", "bilevel_minimize", "BilevelProblem",
           "check_oracles"]
