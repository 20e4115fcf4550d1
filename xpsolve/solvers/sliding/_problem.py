r"""The composite-problem object carrying :math:`h`, :math:`\chi` and the constants."""
from __future__ import annotations

import math
import numbers

from ._chi import as_chi
from ._oracles import Bilinear, BoxBilinear, Subgradient

__all__ = ["CompositeProblem"]


class CompositeProblem:
    r"""The non-smooth and simple parts of :math:`\min_x f(x) + h(x) + \chi(x)`.

    The smooth :math:`f` is the ``fun`` / ``jac`` pair given to :func:`xpsolve.minimize`;
    this object is passed as ``options={"composite": CompositeProblem(...)}``.

    Parameters
    ----------
    chi : Chi or CustomChi
        The simple, :math:`\mu`-strongly convex term with its prox (required).
    h : Subgradient, BoxBilinear, TotalVariation1D, Hinge, Bilinear or None
        The non-smooth term; ``None`` for :math:`h = 0`. A plain callable is adapted as
        ``Subgradient(h_subgrad, h_value, M=M)`` when given as ``h_subgrad`` / ``h_value``.
    L : float, optional
        Lipschitz constant of :math:`\nabla f` (the ``L`` option overrides it).
    lower_bound : callable, optional
        ``lower_bound(x) -> float``: a *certified* lower bound on :math:`\Psi^*` (e.g. a
        dual objective built from ``x``); the solvers report ``gap = Psi(x) - best bound``.
    f_opt : float, optional
        The known optimal value :math:`\Psi^*` (then ``gap = Psi(x) - f_opt``).
    h_subgrad, h_value : callable, optional
        Shortcut for a generic :class:`Subgradient` ``h`` (with ``M``).
    M : float, optional
        Lan's constant of ``h`` for the ``h_subgrad`` shortcut.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import Chi, CompositeProblem, TotalVariation1D
    >>> cp = CompositeProblem(chi=Chi(0.1), h=TotalVariation1D(0.5), L=1.0)
    >>> cp.mu
    0.1
    """

    def __init__(self, chi, h=None, *, L=None, lower_bound=None, f_opt=None, h_subgrad=None,
                 h_value=None, M=None):
        self.chi = as_chi(chi)
        if h_subgrad is not None or h_value is not None:
            if h is not None:
                raise ValueError("pass either h or h_subgrad/h_value, not both")
            if h_subgrad is None or h_value is None or M is None:
                raise ValueError("h_subgrad needs h_value and M")
            h = Subgradient(h_subgrad, h_value, M=M)
        if h is not None and not isinstance(h, (Subgradient, BoxBilinear, Bilinear)):
            raise TypeError("h must be a Subgradient, BoxBilinear (TotalVariation1D, Hinge), "
                            f"Bilinear or None; got {type(h).__name__}")
        self.h = h
        if L is not None and (isinstance(L, bool) or not isinstance(L, numbers.Real)
                              or not math.isfinite(L) or L <= 0):
            raise ValueError(f"L must be a positive finite float; got {L!r}")
        self.L = None if L is None else float(L)
        if lower_bound is not None and not callable(lower_bound):
            raise TypeError("lower_bound must be callable or None")
        self.lower_bound = lower_bound
        if f_opt is not None and (isinstance(f_opt, bool) or not isinstance(f_opt, numbers.Real)
                                  or not math.isfinite(f_opt)):
            raise ValueError(f"f_opt must be a finite float; got {f_opt!r}")
        self.f_opt = None if f_opt is None else float(f_opt)

    @property
    def mu(self):
        return self.chi.mu

    @property
    def certified(self) -> bool:
        return self.lower_bound is not None or self.f_opt is not None

    def __repr__(self):
        return f"CompositeProblem(chi={self.chi!r}, h={type(self.h).__name__}, L={self.L})"
