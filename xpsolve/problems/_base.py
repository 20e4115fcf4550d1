"""The benchmark-problem protocol: a frozen :class:`Problem` built on the host, moved to a namespace."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

__all__ = ["Problem"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One instance of a benchmark problem, in a given namespace and on a given device.

    Attributes
    ----------
    name, family, size, seed
        Registry name (``"ot/random_assignment"``), solver family (``"ot"``,
        ``"minimize"``, ``"bilevel"``, ...), named size and seed it was built from.
    params : dict
        The generator parameters actually used (size preset plus overrides).
    xp, device
        Namespace and device of every array in ``data``.
    data : dict
        The problem's arrays (in ``xp``) and scalars, as the family front door takes them.
    x0 : array or None
        Default starting point, where the family has one.
    f_opt, x_opt
        Known optimal value / solution (``None`` when unknown). ``x_opt`` is in ``xp``.
    fun, grad, hvp : callable or None
        The objective the family minimises and its derivatives, where defined
        (for OT: the negated entropic dual in the potentials ``z = (f, g)``).
    reference : dict
        Host-side reference values used by ``metrics`` (e.g. an LP optimum).
    description : str
        The mathematics and the source of the problem.

    Examples
    --------
    >>> from xpsolve.problems import get_problem
    >>> p = get_problem("constrained/hs28", size="tiny")
    >>> res = p.solve("adasketch", options={"seed": 0})
    >>> p.success_metric, p.success(res)
    ('kkt', True)
    """

    name: str
    family: str
    size: str
    seed: int
    params: dict
    xp: Any
    device: Any
    data: dict
    solve_fn: Callable = dataclasses.field(repr=False)
    metrics_fn: Callable = dataclasses.field(repr=False)
    x0: Any = None
    f_opt: float | None = None
    x_opt: Any = None
    fun: Callable | None = dataclasses.field(default=None, repr=False)
    grad: Callable | None = dataclasses.field(default=None, repr=False)
    hvp: Callable | None = dataclasses.field(default=None, repr=False)
    reference: dict = dataclasses.field(default_factory=dict, repr=False)
    description: str = dataclasses.field(default="", repr=False)
    success_metric: str = "marginal_err"
    success_tol: float = 1e-6

    def solve(self, method, *, options=None, callback=None):
        """Run the family front door on this instance with ``method`` and ``options``."""
        return self.solve_fn(self, method, options=options, callback=callback)

    def metrics(self, result) -> dict:
        """Verifiable metrics of a result (plain Python floats): errors, gaps, residuals."""
        return {k: float(v) for k, v in self.metrics_fn(self, result).items()}

    def success(self, result, tol: float | None = None) -> bool:
        """Whether ``result`` solves the instance: ``metrics[success_metric] <= tol``."""
        value = self.metrics(result).get(self.success_metric, math.inf)
        return bool(value <= (self.success_tol if tol is None else tol))
