"""Registered hot loops of the sliding methods: generic references and Numba twins.

The fused kernels apply when :math:`h` is one of the library's own oracles (1-D total
variation, a dense box-bilinear term such as the hinge loss), :math:`\\chi` a built-in
:class:`~xpsolve.solvers.sliding.Chi` and the inner weights Lan's. Scalars of ``chi``
travel as ``chi_params = (code, mu, l1, lower, upper, radius)`` (code 0: separable,
1: simplex). ``idx`` holds the minibatch rows, shape ``(T, batch)``, or is ``None``.
The generic versions call the one implementation in :mod:`._inner`.
"""
from __future__ import annotations

from ...backends import register_kernel
from ._chi import Chi
from ._inner import prox_sliding, smoothed_apg
from ._oracles import BoxBilinear, TotalVariation1D
from ._schedules import LanPSWeights

_NUMBA = "xpsolve.solvers.sliding._numba_kernels"
_WEIGHTS = LanPSWeights()


def chi_from_params(params):
    code, mu, l1, lo, hi, radius = params
    if code == 1:
        return Chi(mu, simplex=radius)
    return Chi(mu, l1=l1, lower=None if lo == float("-inf") else lo,
               upper=None if hi == float("inf") else hi)


def _tv(lam, n):
    return TotalVariation1D(lam).bind(_Shape(n), xp=None)


class _Shape:
    def __init__(self, n):
        self.shape = (n,)


def _dense(K, b, lo, hi):
    h = BoxBilinear(K, None if isinstance(b, float) and b == 0.0 else b, lower=lo, upper=hi,
                    norm_K=0.0)
    return h


def ps_tv(x, g, beta, T, lam, chi_params, idx, *, xp):
    """PS with :math:`h = \\lambda\\|Dx\\|_1` (full or row-minibatch subgradients)."""
    h = _tv(lam, x.shape[0])
    return prox_sliding(g, x, beta, T, h=h, chi=chi_from_params(chi_params), weights=_WEIGHTS,
                        draws=idx, xp=xp)


def ps_dense(x, g, beta, T, K, b, lo, hi, chi_params, idx, *, xp):
    """PS with :math:`h(x) = \\max_{y\\in[lo,hi]^m}\\langle Kx + b, y\\rangle`, dense ``K``."""
    return prox_sliding(g, x, beta, T, h=_dense(K, b, lo, hi), chi=chi_from_params(chi_params),
                        weights=_WEIGHTS, draws=idx, xp=xp)


def apg_tv(x, g, beta, eta, T, lam, chi_params, *, xp):
    """RF-ASGS inner loop with :math:`h = \\lambda\\|Dx\\|_1` smoothed."""
    return smoothed_apg(g, x, beta, eta, T, h=_tv(lam, x.shape[0]),
                        chi=chi_from_params(chi_params), xp=xp)


def apg_dense(x, g, beta, eta, T, K, b, lo, hi, norm_K, chi_params, *, xp):
    """RF-ASGS inner loop with a dense box-bilinear :math:`h` smoothed."""
    h = _dense(K, b, lo, hi)
    h.norm_K = norm_K
    return smoothed_apg(g, x, beta, eta, T, h=h, chi=chi_from_params(chi_params), xp=xp)


register_kernel("sliding_ps_tv", generic=ps_tv, numba=f"{_NUMBA}:ps_tv")
register_kernel("sliding_ps_dense", generic=ps_dense, numba=f"{_NUMBA}:ps_dense")
register_kernel("sliding_apg_tv", generic=apg_tv, numba=f"{_NUMBA}:apg_tv")
register_kernel("sliding_apg_dense", generic=apg_dense, numba=f"{_NUMBA}:apg_dense")
