"""Equality-constrained optimization: AdaSketch-Newton (exact augmented Lagrangian + sketching).

Registered as the ``minimize`` method ``"adasketch"``; call it through
:func:`xpsolve.minimize` with ``constraints=`` (equality constraints only).
"""
from ._adasketch import ADASKETCH_OPTIONS, minimize_adasketch
from ._inner import SKETCHES

__all__ = ["minimize_adasketch", "ADASKETCH_OPTIONS", "SKETCHES"]
