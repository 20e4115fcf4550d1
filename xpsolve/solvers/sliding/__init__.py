r"""Gradient sliding for composite problems :math:`\min_x f(x) + h(x) + \chi(x)`.

Registered ``minimize`` methods (call them through :func:`xpsolve.minimize` with
``jac=grad_f`` and ``options={"composite": CompositeProblem(...)}``):

- ``"rf-sgs"``: restart-free stochastic gradient sliding (Wu, Xu, Zhang, arXiv:2602.04161;
  reconstructed schedule);
- ``"rf-asgs"``: restart-free accelerated sliding with smoothing of a bilinear :math:`h`
  (same paper; reconstructed schedule and inner loop);
- ``"gs"``: Lan's gradient sliding GS / SGS (parameter sets A and B);
- ``"m-sgs"``: Lan's multi-phase (restarted) GS/SGS for strongly convex problems.

Pieces: :class:`CompositeProblem`; :math:`\chi` terms :class:`Chi` (ridge, + l1, + box, +
simplex) and :class:`CustomChi`; :math:`h` terms :class:`Subgradient` (callables),
:class:`BoxBilinear`, :class:`TotalVariation1D`, :class:`Hinge`, :class:`Bilinear`;
schedules :class:`LanSetA`, :class:`LanSetB`, :class:`MultiPhase`, :class:`RestartFree`,
:class:`RestartFreeSmoothing` and the inner weights :class:`LanPSWeights`.
"""
from ._chi import Chi, CustomChi, project_simplex, ridge, ridge_box, ridge_l1, ridge_simplex
from ._inner import prox_sliding, smoothed_apg
from ._methods import minimize_gs, minimize_msgs, minimize_rfasgs, minimize_rfsgs
from ._oracles import Bilinear, BoxBilinear, Hinge, Subgradient, TotalVariation1D
from ._problem import CompositeProblem
from ._schedules import (LanPSWeights, LanSetA, LanSetB, MultiPhase, RestartFree,
                         RestartFreeSmoothing, Step)

__all__ = [
    "CompositeProblem", "Chi", "CustomChi", "ridge", "ridge_l1", "ridge_box", "ridge_simplex",
    "project_simplex", "Subgradient", "BoxBilinear", "Bilinear", "TotalVariation1D", "Hinge",
    "LanPSWeights", "LanSetA", "LanSetB", "MultiPhase", "RestartFree", "RestartFreeSmoothing",
    "Step", "prox_sliding", "smoothed_apg", "minimize_gs", "minimize_msgs", "minimize_rfsgs",
    "minimize_rfasgs",
]
