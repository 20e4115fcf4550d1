r"""The simple, strongly convex term :math:`\chi` and its proximal operator.

Every gradient-sliding method needs :math:`\chi` through one operation,
:math:`\operatorname{prox}_{t\chi}(v) = \arg\min_u \chi(u) + \|u - v\|^2/(2t)`, and its
strong-convexity modulus :math:`\mu > 0`. :class:`Chi` covers the common cases

.. math::

    \chi(x) = \tfrac{\mu}{2}\|x\|^2 + \lambda_1 \|x\|_1 + \iota_C(x),

with :math:`C` all of :math:`\mathbb R^n`, a box :math:`[lo, hi]^n` or the scaled simplex
:math:`\{x \ge 0, \sum_i x_i = r\}`; :class:`CustomChi` adapts a user prox.
"""
from __future__ import annotations

import math
import numbers

__all__ = ["Chi", "CustomChi", "ridge", "ridge_l1", "ridge_box", "ridge_simplex", "as_chi"]


def _pos(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite float; got {v!r}")
    return float(v)


def project_simplex(v, radius, *, xp):
    """Euclidean projection of ``v`` onto ``{x >= 0, sum(x) = radius}`` (sort-based, no host sync).

    Uses the characterisation ``tau = max_j (sum_{i<=j} v_(i) - radius) / j`` over the
    entries sorted in decreasing order; the projection is ``max(v - tau, 0)``.

    Parameters
    ----------
    v : array of shape (n,)
        The point to project, in any array-API namespace.
    radius : float
        Radius ``r > 0`` of the simplex.
    xp : namespace
        The array namespace of ``v``.

    Returns
    -------
    array of shape (n,)
        The projection, in the namespace, device and dtype of ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import project_simplex
    >>> project_simplex(np.array([0.5, 1.5, -1.0]), 1.0, xp=np)
    array([0., 1., 0.])
    """
    n = v.shape[0]
    s = xp.flip(xp.sort(v))
    css = xp.cumulative_sum(s)
    j = xp.arange(1, n + 1, dtype=v.dtype, device=_dev(v))
    tau = xp.max((css - radius) / j)
    return xp.clip(v - tau, 0.0, None)


def _dev(a):
    from ...backends import device

    return device(a)


class Chi:
    r""":math:`\chi(x) = \frac{\mu}{2}\|x\|^2 + \lambda_1\|x\|_1 + \iota_C(x)`, closed-form prox.

    Parameters
    ----------
    mu : float
        Strong-convexity modulus, ``> 0``.
    l1 : float
        Weight :math:`\lambda_1 \ge 0` of the l1 term.
    lower, upper : float or None
        Box bounds (``None``: unbounded on that side).
    simplex : float or None
        Radius ``r > 0`` of the simplex constraint :math:`x \ge 0, \sum x = r` (exclusive
        with a box).

    Notes
    -----
    :math:`\operatorname{prox}_{t\chi}(v)` is :math:`\operatorname{prox}_{s(\lambda_1\|\cdot\|_1
    + \iota_C)}(v / (1 + t\mu))` with :math:`s = t/(1+t\mu)`: soft-thresholding then
    clipping for a box (exact: the problem is separable), a simplex projection for the
    simplex (on which :math:`\|x\|_1 = r` is constant).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import Chi
    >>> chi = Chi(1.0, l1=0.5, lower=-1.0, upper=1.0)
    >>> chi.prox(np.array([3.0, 0.2, -4.0]), 1.0, xp=np)
    array([ 1.,  0., -1.])
    """

    kind = "builtin"

    def __init__(self, mu, *, l1=0.0, lower=None, upper=None, simplex=None):
        self.mu = _pos("mu", mu)
        if isinstance(l1, bool) or not isinstance(l1, numbers.Real) or not (l1 >= 0) \
                or not math.isfinite(l1):
            raise ValueError(f"l1 must be a finite float >= 0; got {l1!r}")
        self.l1 = float(l1)
        lo = -math.inf if lower is None else float(lower)
        hi = math.inf if upper is None else float(upper)
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise ValueError(f"box bounds must satisfy lower <= upper; got [{lower}, {upper}]")
        if simplex is not None and (lower is not None or upper is not None):
            raise ValueError("simplex and box constraints cannot be combined")
        self.lower, self.upper = lo, hi
        self.simplex = None if simplex is None else _pos("simplex", simplex)

    @property
    def boxed(self) -> bool:
        return math.isfinite(self.lower) or math.isfinite(self.upper)

    def prox(self, v, t, *, xp):
        r""":math:`\arg\min_u \chi(u) + \|u - v\|^2 / (2t)`."""
        w = v / (1.0 + t * self.mu)
        if self.simplex is not None:
            return project_simplex(w, self.simplex, xp=xp)
        if self.l1 > 0:
            s = t / (1.0 + t * self.mu) * self.l1
            w = xp.sign(w) * xp.clip(xp.abs(w) - s, 0.0, None)
        if self.boxed:
            w = xp.clip(w, None if math.isinf(self.lower) else self.lower,
                        None if math.isinf(self.upper) else self.upper)
        return w

    def project(self, x, *, xp):
        """Projection onto the domain :math:`C` (used once on ``x0``)."""
        if self.simplex is not None:
            return project_simplex(x, self.simplex, xp=xp)
        if self.boxed:
            return xp.clip(x, None if math.isinf(self.lower) else self.lower,
                           None if math.isinf(self.upper) else self.upper)
        return x

    def value(self, x, *, xp):
        r""":math:`\chi(x)` for ``x`` in the domain (the indicator is taken as 0 there)."""
        val = 0.5 * self.mu * xp.sum(x * x)
        if self.l1 > 0:
            val = val + self.l1 * xp.sum(xp.abs(x))
        return val

    def params(self):
        """Scalars for the fused Numba kernels: (code, mu, l1, lower, upper, radius)."""
        code = 1 if self.simplex is not None else 0
        return (code, self.mu, self.l1, self.lower, self.upper,
                0.0 if self.simplex is None else self.simplex)

    def __repr__(self):
        parts = [f"mu={self.mu:g}"]
        if self.l1:
            parts.append(f"l1={self.l1:g}")
        if self.boxed:
            parts.append(f"lower={self.lower:g}, upper={self.upper:g}")
        if self.simplex is not None:
            parts.append(f"simplex={self.simplex:g}")
        return f"Chi({', '.join(parts)})"


class CustomChi:
    r"""A user's :math:`\chi`: ``prox(v, t)`` and ``value(x)`` callables and the modulus ``mu``.

    Parameters
    ----------
    mu : float
        Strong-convexity modulus of :math:`\chi`, ``> 0``.
    prox : callable
        ``prox(v, t) -> array``: :math:`\arg\min_u \chi(u) + \|u - v\|^2/(2t)`.
    value : callable
        ``value(x) -> float``: :math:`\chi(x)` on the domain.
    project : callable, optional
        Projection onto the domain, applied once to ``x0`` (default: identity).

    Examples
    --------
    :math:`\chi(x) = \frac12\|x\|^2`, whose prox is :math:`v / (1 + t)`:

    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import CustomChi
    >>> chi = CustomChi(1.0, prox=lambda v, t: v / (1 + t), value=lambda x: 0.5 * float(x @ x))
    >>> chi.prox(np.array([2.0, -4.0]), 1.0, xp=np)
    array([ 1., -2.])
    """

    kind = "custom"

    def __init__(self, mu, prox, value, project=None):
        self.mu = _pos("mu", mu)
        for name, f in (("prox", prox), ("value", value)):
            if not callable(f):
                raise TypeError(f"CustomChi.{name} must be callable; got {type(f).__name__}")
        if project is not None and not callable(project):
            raise TypeError("CustomChi.project must be callable or None")
        self._prox, self._value, self._project = prox, value, project

    def prox(self, v, t, *, xp):
        return self._prox(v, t)

    def value(self, x, *, xp):
        return self._value(x)

    def project(self, x, *, xp):
        return x if self._project is None else self._project(x)


def ridge(mu):
    r""":math:`\chi(x) = \frac{\mu}{2}\|x\|^2`.

    Parameters
    ----------
    mu : float
        Strong-convexity modulus, ``> 0``.

    Returns
    -------
    Chi
        ``Chi(mu)``.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import ridge
    >>> ridge(0.5)
    Chi(mu=0.5)
    """
    return Chi(mu)


def ridge_l1(mu, l1):
    r""":math:`\chi(x) = \frac{\mu}{2}\|x\|^2 + \lambda_1\|x\|_1` (elastic net).

    Parameters
    ----------
    mu : float
        Strong-convexity modulus, ``> 0``.
    l1 : float
        Weight :math:`\lambda_1 \ge 0` of the l1 term.

    Returns
    -------
    Chi
        ``Chi(mu, l1=l1)``.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import ridge_l1
    >>> ridge_l1(1.0, 0.1)
    Chi(mu=1, l1=0.1)
    """
    return Chi(mu, l1=l1)


def ridge_box(mu, lower, upper, l1=0.0):
    r""":math:`\chi(x) = \frac{\mu}{2}\|x\|^2 (+ \lambda_1\|x\|_1) + \iota_{[lower, upper]^n}`.

    Parameters
    ----------
    mu : float
        Strong-convexity modulus, ``> 0``.
    lower, upper : float
        Box bounds.
    l1 : float, default 0
        Weight :math:`\lambda_1 \ge 0` of the l1 term.

    Returns
    -------
    Chi
        ``Chi(mu, l1=l1, lower=lower, upper=upper)``.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import ridge_box
    >>> ridge_box(1.0, -1.0, 1.0)
    Chi(mu=1, lower=-1, upper=1)
    """
    return Chi(mu, l1=l1, lower=lower, upper=upper)


def ridge_simplex(mu, radius=1.0):
    r""":math:`\chi(x) = \frac{\mu}{2}\|x\|^2 + \iota_{\{x \ge 0, \sum x = r\}}`.

    Parameters
    ----------
    mu : float
        Strong-convexity modulus, ``> 0``.
    radius : float, default 1
        Radius ``r > 0`` of the simplex.

    Returns
    -------
    Chi
        ``Chi(mu, simplex=radius)``.

    Examples
    --------
    >>> from xpsolve.solvers.sliding import ridge_simplex
    >>> ridge_simplex(1.0)
    Chi(mu=1, simplex=1)
    """
    return Chi(mu, simplex=radius)


def as_chi(chi):
    """Validate / adapt the ``chi`` of a composite problem."""
    if chi is None:
        raise ValueError("the composite problem needs chi (a strongly convex simple term with a "
                         "prox): pass chi=Chi(mu, ...) or CustomChi(mu, prox, value)")
    if isinstance(chi, (Chi, CustomChi)):
        return chi
    raise TypeError(f"chi must be a Chi or CustomChi; got {type(chi).__name__}")
