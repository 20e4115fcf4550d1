"""Solver families and their front doors."""
from ._minimize import as_scipy_method, minimize
from .bilevel import BilevelProblem, bilevel_minimize, check_oracles
from .ot import solve_ot
from . import constrained  # noqa: F401  (registers "adasketch")
from .recovery import recover_low_rank

__all__ = ["minimize", "as_scipy_method", "solve_ot", "bilevel_minimize", "BilevelProblem",
           "check_oracles", "recover_low_rank"]
