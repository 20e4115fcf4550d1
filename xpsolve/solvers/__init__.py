"""Solver families and their front doors."""
from . import constrained, sliding  # noqa: F401  (minimize methods: "adasketch"; "gs", "m-sgs", "rf-sgs", "rf-asgs")
from ._minimize import as_scipy_method, minimize
from .bilevel import BilevelProblem, bilevel_minimize, check_oracles
from .calibration import calibrate_gains
from .completion import complete_matrix
from .ot import solve_ot
from .recovery import recover_low_rank

__all__ = ["minimize", "as_scipy_method", "solve_ot", "bilevel_minimize", "BilevelProblem",
           "check_oracles", "complete_matrix", "calibrate_gains", "recover_low_rank"]
