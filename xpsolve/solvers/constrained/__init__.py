"""Equality-constrained optimization: AdaSketch-Newton (exact augmented Lagrangian + sketching).

Registered as the ``minimize`` method ``"adasketch"``; call it through
:func:`xpsolve.minimize` with ``constraints=`` (equality constraints only).
"""
from ._adasketch import ADASKETCH_OPTIONS, minimize_adasketch
from ._inner import SKETCHES, KKTOperator, krylov_solve, sketch_solve
from ._oracle import parse_constraints

__all__ = ["minimize_adasketch", "ADASKETCH_OPTIONS", "SKETCHES", "KKTOperator", "sketch_solve",
           "krylov_solve", "parse_constraints"]
