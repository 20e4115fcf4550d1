r"""The two inner loops, written once (generic Array-API reference implementations).

- :func:`prox_sliding`: Lan's prox-sliding procedure PS (GS, SGS, M-SGS, RF-SGS): ``T``
  cheap (stochastic) subgradient steps of :math:`h` with :math:`\nabla f` frozen.
- :func:`smoothed_apg`: the RF-ASGS inner loop, ``T`` strongly convex accelerated
  proximal-gradient steps on :math:`\langle g,u\rangle + h_\eta(u) + \chi(u) +
  \frac\beta2\|u - x\|^2` (inferred stand-in for Lan-Ouyang's ProxAG).

The fused Numba twins for the library's own oracles (:mod:`._numba_kernels`) compute the
same sequences; :mod:`._kernels` registers both.
"""
from __future__ import annotations

import math

__all__ = ["prox_sliding", "smoothed_apg"]


def prox_sliding(g, x, beta, T, *, h, chi, weights, draws=None, xp):
    r"""PS(g, x, beta, T): return ``(u_T, utilde_T)``, the new prox-centre and aggregated point.

    For ``t = 1..T``: :math:`G = h'(u_{t-1})` (or the stochastic estimate from ``draws[t-1]``),
    :math:`u_t = \arg\min_u \langle g + G, u\rangle + \chi(u) + \beta V(x, u) + \beta p_t
    V(u_{t-1}, u)` in closed form :math:`u_t = \operatorname{prox}_{\chi/(\beta(1+p_t))}(c)`,
    :math:`c = (\beta x + \beta p_t u_{t-1} - g - G)/(\beta(1+p_t))`, and
    :math:`\tilde u_t = (1-\theta_t)\tilde u_{t-1} + \theta_t u_t`.

    Parameters
    ----------
    g : array of shape (n,)
        The frozen gradient of :math:`f`.
    x : array of shape (n,)
        The prox-centre.
    beta : float
        Prox weight.
    T : int
        Number of inner steps.
    h : Subgradient or BoxBilinear
        The non-smooth term (its ``subgrad``).
    chi : Chi or CustomChi
        The strongly convex term (its ``prox``).
    weights : LanPSWeights
        The weights :math:`p_t`, :math:`\theta_t`.
    draws : sequence, optional
        Per-step randomness of a stochastic oracle (``h.draw(rng, T)``).
    xp : namespace
        The array namespace.

    Returns
    -------
    u : array of shape (n,)
        The last inner iterate (the new prox-centre).
    utilde : array of shape (n,)
        The aggregated point.

    Examples
    --------
    With :math:`h = 0` and :math:`\chi = \frac12\|\cdot\|^2` the iterates approach the
    minimiser :math:`-g/2` of :math:`\langle g, u\rangle + \chi(u) + \frac12\|u\|^2`:

    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import Chi, LanPSWeights, Subgradient, prox_sliding
    >>> h = Subgradient(lambda x: 0 * x, lambda x: 0.0, M=0.0)
    >>> u, ut = prox_sliding(np.array([1.0, -1.0]), np.zeros(2), 1.0, 5, h=h, chi=Chi(1.0),
    ...                      weights=LanPSWeights(), xp=np)
    >>> np.round(u, 2)
    array([-0.5,  0.5])
    """
    u = x
    ut = x
    for t in range(1, T + 1):
        G = h.subgrad(u, None if draws is None else draws[t - 1], xp=xp)
        p = weights.p(t)
        th = weights.theta(t)
        bp = beta * (1.0 + p)
        c = (beta * x + (beta * p) * u - g - G) / bp
        u = chi.prox(c, 1.0 / bp, xp=xp)
        ut = (1.0 - th) * ut + th * u
    return u, ut


def smoothed_apg(g, x, beta, eta, T, *, h, chi, xp):
    r"""``T`` accelerated proximal-gradient steps on the smoothed inner model; return ``u_T``.

    Smooth part :math:`h_\eta` (gradient :math:`K^\top y^*_\eta(u)`, Lipschitz
    :math:`L_\eta = \|K\|^2/\eta`), prox part :math:`\chi + \frac\beta2\|\cdot - x\|^2`
    (modulus :math:`\mu+\beta`), step :math:`1/L_\eta`, constant momentum
    :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)`, :math:`\kappa = (L_\eta+\mu+\beta)/(\mu+\beta)`,
    warm start at ``x``. With :math:`K = 0` it is one exact prox step.

    Parameters
    ----------
    g : array of shape (n,)
        The frozen gradient of :math:`f`.
    x : array of shape (n,)
        The prox-centre and warm start.
    beta : float
        Prox weight.
    eta : float
        Smoothing parameter :math:`\eta > 0`.
    T : int
        Number of accelerated steps.
    h : BoxBilinear or Bilinear
        The saddle-structured term (``norm_K``, ``KTy``, ``ystar_eta``).
    chi : Chi or CustomChi
        The strongly convex term (its ``prox`` and ``mu``).
    xp : namespace
        The array namespace.

    Returns
    -------
    array of shape (n,)
        The last iterate :math:`u_T`.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import Chi, TotalVariation1D, smoothed_apg
    >>> h = TotalVariation1D(0.0).bind(np.zeros(2), xp=np)    # K = 0: one exact prox step
    >>> smoothed_apg(np.array([1.0, -1.0]), np.zeros(2), 1.0, 0.1, 20, h=h, chi=Chi(1.0), xp=np)
    array([-0.5,  0.5])
    """
    Lk = h.norm_K ** 2 / eta
    if Lk == 0.0:
        return chi.prox(x - g / beta, 1.0 / beta, xp=xp)
    sk = math.sqrt((Lk + chi.mu + beta) / (chi.mu + beta))
    q = (sk - 1.0) / (sk + 1.0)
    a = Lk / (Lk + beta)
    u = x
    up = x
    for _ in range(T):
        v = u + q * (u - up)
        grad = g + h.KTy(h.ystar_eta(v, eta, xp=xp), xp=xp)
        w = v - grad / Lk
        up = u
        u = chi.prox(a * w + (1.0 - a) * x, 1.0 / (Lk + beta), xp=xp)
    return u
