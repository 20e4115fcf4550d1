r"""The nonsmooth term :math:`h`: subgradient oracles and the bilinear saddle structure.

Two kinds of :math:`h`:

- :class:`Subgradient`: user callables ``subgrad(x)`` (or ``subgrad(x, rng)`` for a
  stochastic oracle) and ``value(x)``, with the Lipschitz-type constant ``M``. Usable by
  GS, M-SGS and RF-SGS (the generic, pure-Python inner loop).
- :class:`BoxBilinear`: :math:`h(x) = \max_{y \in [lo, hi]^m} \langle Kx + b, y\rangle`
  (:math:`J(y) = -\langle b, y\rangle` linear, :math:`Y` a box). It gives an exact
  subgradient :math:`K^\top y^*(x)`, unbiased row-minibatch subgradients, the smoothed
  maximiser :math:`y^*_\eta(x) = \mathrm{clip}(y_0 + (Kx + b)/\eta, lo, hi)` used by
  RF-ASGS, and a closed-form value. :class:`TotalVariation1D` (:math:`\lambda\|Dx\|_1`) and
  :class:`Hinge` (mean hinge loss) are the library's own instances with fused Numba
  inner loops. :class:`Bilinear` takes a general :math:`J` through ``prox_J``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["Subgradient", "BoxBilinear", "Bilinear", "TotalVariation1D", "Hinge"]


def _nonneg(name, v, allow_none=True):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite float >= 0; got {v!r}")
    return float(v)


def _batch(batch):
    if batch is None:
        return None
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
        raise ValueError(f"batch must be a positive int or None; got {batch!r}")
    return int(batch)


class Subgradient:
    r"""Generic :math:`h` given by callables (the pure-Python inner loop).

    Parameters
    ----------
    subgrad : callable
        ``subgrad(x) -> array``: a subgradient :math:`h'(x)`; with ``stochastic=True``,
        ``subgrad(x, rng)`` returning an unbiased estimate (``rng`` a
        :class:`numpy.random.Generator` seeded from the solver's ``seed``).
    value : callable
        ``value(x) -> float``: :math:`h(x)` (used for the reported objective only).
    M : float
        Lan's constant: :math:`h(x) \le h(y) + \langle h'(y), x - y\rangle + M\|x - y\|`
        (twice a bound on the subgradient norms suffices).
    stochastic : bool
        Whether ``subgrad`` takes ``rng`` and is random.
    sigma2 : float, optional
        Variance bound :math:`\sigma^2` of the stochastic oracle (estimated from 200 draws at
        ``x0`` when ``None`` and ``stochastic``).

    Examples
    --------
    :math:`h(x) = \|x\|_1` with the subgradient :math:`\mathrm{sign}(x)` (norm at most
    :math:`\sqrt n`, so :math:`M = 2\sqrt n`):

    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import Chi, CompositeProblem, Subgradient
    >>> h = Subgradient(np.sign, lambda x: float(np.abs(x).sum()), M=2 * np.sqrt(3))
    >>> h.subgrad(np.array([1.0, -2.0, 0.0]), xp=np)
    array([ 1., -1.,  0.])
    >>> cp = CompositeProblem(chi=Chi(1.0), h=h, L=1.0)   # options={"composite": cp}
    """

    structure = None  # no fused kernel

    def __init__(self, subgrad, value, *, M, stochastic=False, sigma2=None):
        for name, f in (("subgrad", subgrad), ("value", value)):
            if not callable(f):
                raise TypeError(f"Subgradient.{name} must be callable; got {type(f).__name__}")
        self._subgrad, self._value = subgrad, value
        self.M = _nonneg("M", M, allow_none=False)
        self.stochastic = bool(stochastic)
        self.sigma2 = _nonneg("sigma2", sigma2)
        self.saddle = False

    def bind(self, x0, *, xp):
        return self

    def value(self, x, *, xp):
        return self._value(x)

    def draw(self, rng, T):
        """Randomness for ``T`` inner steps (passed back to ``subgrad``)."""
        return [rng] * T if self.stochastic else None

    def subgrad(self, x, draw=None, *, xp):
        return self._subgrad(x, draw) if self.stochastic else self._subgrad(x)

    def subgrad_full(self, x, *, xp):
        return None  # unknown: sigma2 estimates use the sample mean instead


class BoxBilinear:
    r""":math:`h(x) = \max_{y\in[lo,hi]^m} \langle Kx + b, y\rangle` (a polyhedral :math:`h`).

    Parameters
    ----------
    K : array of shape (m, n)
        In the namespace of ``x0`` (dense matrix).
    b : array of shape (m,), float or None
        Offset (:math:`J(y) = -\langle b, y\rangle`); ``None`` for 0.
    lower, upper : float
        The box :math:`Y = [lower, upper]^m` (bounded).
    batch : int or None
        Minibatch size of the stochastic oracle (``None``: exact subgradients). Rows are
        drawn uniformly with replacement: :math:`H = \frac{m}{|S|}\sum_{i\in S} K_i^\top y^*_i(x)`.
    norm_K : float, optional
        :math:`\|K\|_2` (computed on the host by an SVD / power iteration when ``None``).
    M : float, optional
        Lan's constant (default ``2 ||K||_2 max_{y in Y} ||y||``, the structural bound).
    sigma2 : float, optional
        Variance of the minibatch oracle (estimated from 200 draws at ``x0`` when ``None``).

    Notes
    -----
    Prox function :math:`W(y) = \|y - y_0\|^2/2` with :math:`y_0` the box centre, so
    :math:`D_Y^2 = m (hi - lo)^2 / 8`.

    Examples
    --------
    :math:`h(x) = \|Kx\|_1 = \max_{y \in [-1, 1]^m} \langle Kx, y\rangle`:

    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import BoxBilinear
    >>> K = np.array([[1.0, -1.0], [0.0, 2.0]])
    >>> h = BoxBilinear(K, lower=-1.0, upper=1.0).bind(np.zeros(2), xp=np)
    >>> x = np.array([1.0, 1.0])
    >>> float(h.value(x, xp=np)), h.subgrad(x, xp=np)      # ||Kx||_1 and K^T y*(x)
    (2.0, array([-1.,  3.]))
    """

    structure = "dense"

    def __init__(self, K, b=None, *, lower, upper, batch=None, norm_K=None, M=None, sigma2=None):
        lo, hi = float(lower), float(upper)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError("the box Y must be bounded with lower <= upper; "
                             f"got [{lower}, {upper}]")
        self.lower, self.upper = lo, hi
        self.K, self.b = K, b
        self.batch = _batch(batch)
        self.stochastic = self.batch is not None
        self.norm_K = _nonneg("norm_K", norm_K)
        self._M = _nonneg("M", M)
        self.sigma2 = _nonneg("sigma2", sigma2)
        self.saddle = True
        self.y0 = 0.5 * (lo + hi)

    # ------------------------------------------------------------------ set-up
    @property
    def m(self):
        return self.K.shape[0]

    def bind(self, x0, *, xp):
        """Check shapes against ``x0`` and fill the host-side constants (set-up, host)."""
        n = x0.shape[0]
        K = self.K
        if not (hasattr(K, "shape") and len(K.shape) == 2):
            raise TypeError("K must be a 2-D array")
        if K.shape[1] != n:
            raise ValueError(f"K has shape {tuple(K.shape)}, inconsistent with x0 of shape ({n},)")
        if self.b is not None and not isinstance(self.b, numbers.Real):
            if tuple(self.b.shape) != (K.shape[0],):
                raise ValueError(f"b must have shape ({K.shape[0]},); got {tuple(self.b.shape)}")
        if self.norm_K is None:
            from ...backends import to_numpy

            self.norm_K = float(np.linalg.norm(to_numpy(K), 2))  # host set-up, once
        return self

    @property
    def D_Y2(self):
        return self.m * (self.upper - self.lower) ** 2 / 8.0

    @property
    def M(self):
        if self._M is not None:
            return self._M
        ymax = math.sqrt(self.m) * max(abs(self.lower), abs(self.upper))
        return 2.0 * self.norm_K * ymax

    # ------------------------------------------------------------------ operators
    def Kx(self, x, *, xp):
        z = self.K @ x
        return z if self.b is None else z + self.b

    def KTy(self, y, *, xp):
        return y @ self.K

    def _ystar(self, z, *, xp):
        # maximiser of <z, y> over the box: hi where z > 0, lo elsewhere (a valid choice at 0)
        return self.lower + (self.upper - self.lower) * xp.astype(z > 0, z.dtype)

    def value(self, x, *, xp):
        z = self.Kx(x, xp=xp)
        return xp.sum(xp.where(z > 0, self.upper * z, self.lower * z))

    def subgrad_full(self, x, *, xp):
        return self.KTy(self._ystar(self.Kx(x, xp=xp), xp=xp), xp=xp)

    def draw(self, rng, T):
        if not self.stochastic:
            return None
        return rng.integers(0, self.m, size=(T, self.batch))

    def subgrad(self, x, draw=None, *, xp):
        if draw is None:
            return self.subgrad_full(x, xp=xp)
        return self.subgrad_rows(x, draw, xp=xp)

    def subgrad_rows(self, x, idx, *, xp):
        from ...backends import device

        ii = xp.asarray(np.asarray(idx, dtype=np.int64), device=device(x))
        Ks = xp.take(self.K, ii, axis=0)
        z = Ks @ x
        if self.b is not None:
            z = z + (self.b if isinstance(self.b, numbers.Real) else xp.take(self.b, ii))
        return (self.m / len(idx)) * (self._ystar(z, xp=xp) @ Ks)

    def ystar_eta(self, x, eta, *, xp):
        r""":math:`y^*_\eta(x) = \mathrm{clip}(y_0 + (Kx + b)/\eta, lo, hi)`."""
        return xp.clip(self.y0 + self.Kx(x, xp=xp) / eta, self.lower, self.upper)

    def kernel_args(self):
        return (self.K, 0.0 if self.b is None else self.b, self.lower, self.upper)


class TotalVariation1D(BoxBilinear):
    r""":math:`h(x) = \lambda\|Dx\|_1 = \lambda\sum_{i} |x_{i+1} - x_i|` (1-D total variation).

    :math:`K = \lambda D` (first differences, never formed), :math:`Y = [-1, 1]^{n-1}`,
    :math:`\|K\|_2 = 2\lambda\cos(\pi/(2n))`, :math:`D_Y^2 = (n-1)/2`. Default ``M`` is
    :math:`2\lambda\sqrt n` (a safe bound). Minibatches sample difference rows:
    :math:`H = \lambda\frac{n-1}{|S|}\sum_{j\in S} D_j^\top \mathrm{sign}(D_j x)`.

    Parameters
    ----------
    lam : float
        Weight :math:`\lambda \ge 0`.
    batch : int or None
        Minibatch size of the stochastic oracle (``None``: exact subgradients).
    M, sigma2 : float, optional
        As in :class:`BoxBilinear`.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import TotalVariation1D
    >>> tv = TotalVariation1D(0.5).bind(np.zeros(4), xp=np)
    >>> float(tv.value(np.array([0.0, 1.0, 1.0, -1.0]), xp=np))
    1.5
    """

    structure = "tv"

    def __init__(self, lam, *, batch=None, M=None, sigma2=None):
        lam = _nonneg("lam", lam, allow_none=False)
        super().__init__(None, None, lower=-1.0, upper=1.0, batch=batch, M=M, sigma2=sigma2)
        self.lam = lam
        self.n = None

    @property
    def m(self):
        return self.n - 1

    def bind(self, x0, *, xp):
        n = x0.shape[0]
        if n < 2:
            raise ValueError(f"total variation needs x0 with at least 2 entries; got shape ({n},)")
        self.n = n
        self.norm_K = 2.0 * self.lam * math.cos(math.pi / (2 * n))
        return self

    @property
    def M(self):
        return self._M if self._M is not None else 2.0 * self.lam * math.sqrt(self.n)

    def Kx(self, x, *, xp):
        return self.lam * (x[1:] - x[:-1])

    def KTy(self, y, *, xp):
        z = xp.zeros((1,), dtype=y.dtype, device=_device(y))
        return self.lam * (xp.concat((z, y)) - xp.concat((y, z)))

    def value(self, x, *, xp):
        return self.lam * xp.sum(xp.abs(x[1:] - x[:-1]))

    def _ystar(self, z, *, xp):
        return xp.sign(z)

    def subgrad_rows(self, x, idx, *, xp):
        dev = _device(x)
        ii = xp.asarray(np.asarray(idx, dtype=np.int64), device=dev)
        s = xp.sign(xp.take(x, ii + 1) - xp.take(x, ii))
        # scatter D_j^T s_j through a (batch x n) one-hot matrix (no scatter-add in the standard)
        cols = xp.arange(self.n, device=dev)
        onehot_hi = xp.astype(cols[None, :] == (ii[:, None] + 1), x.dtype)
        onehot_lo = xp.astype(cols[None, :] == ii[:, None], x.dtype)
        return (self.lam * self.m / len(idx)) * (s @ (onehot_hi - onehot_lo))

    def kernel_args(self):
        return (self.lam,)


class Hinge(BoxBilinear):
    r"""Mean hinge loss :math:`h(x) = \frac1N\sum_i \max(0, 1 - c_i w_i^\top x)`.

    The box-bilinear form with :math:`K = -\frac1N \mathrm{diag}(c) W`, :math:`b = \frac1N
    \mathbf 1`, :math:`Y = [0, 1]^N`. Minibatches sample examples:
    :math:`H = -\frac1{|S|}\sum_{i\in S} c_i w_i [c_i w_i^\top x < 1]`.

    Parameters
    ----------
    W : array of shape (N, n)
        Features (one example per row), in the namespace of ``x0``.
    c : array of shape (N,)
        Labels in {-1, +1}.
    batch, norm_K, M, sigma2 : int or float, optional
        As in :class:`BoxBilinear`; default ``M = 2 max_i ||w_i||`` (a bound on every
        (minibatch) subgradient's norm, times 2).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import Hinge
    >>> W, c = np.eye(2), np.array([1.0, -1.0])
    >>> h = Hinge(W, c).bind(np.zeros(2), xp=np)
    >>> float(h.value(np.array([2.0, 0.0]), xp=np))   # (max(0, 1 - 2) + max(0, 1 - 0)) / 2
    0.5
    """

    def __init__(self, W, c, *, batch=None, norm_K=None, M=None, sigma2=None):
        if not (hasattr(W, "shape") and len(W.shape) == 2):
            raise TypeError("W must be a 2-D array")
        if not (hasattr(c, "shape") and tuple(c.shape) == (W.shape[0],)):
            raise ValueError(f"c must have shape ({W.shape[0]},)")
        N = W.shape[0]
        K = -(c[:, None] * W) / N
        super().__init__(K, 1.0 / N, lower=0.0, upper=1.0, batch=batch, norm_K=norm_K, M=M,
                         sigma2=sigma2)
        self.W, self.c = W, c

    @property
    def M(self):
        if self._M is not None:
            return self._M
        from ...backends import to_numpy

        return 2.0 * float(np.max(np.linalg.norm(to_numpy(self.W), axis=1)))


class Bilinear:
    r"""General structured :math:`h(x) = \max_{y\in Y}\langle Kx, y\rangle - J(y)` (RF-ASGS only).

    Parameters
    ----------
    K : array of shape (m, n) or object with ``matvec`` / ``rmatvec``
        The linear map (one product each way per inner step).
    prox_J : callable
        ``prox_J(v, t) -> array``: :math:`\arg\min_{y\in Y} J(y) + \|y - v\|^2/(2t)`
        (the constraint :math:`Y` folded into :math:`J`).
    value : callable
        ``value(x) -> float``: :math:`h(x)` (reported objective only).
    D_Y2 : float
        :math:`\max_{y\in Y}\|y - y_0\|^2/2`.
    norm_K : float
        :math:`\|K\|_2` (or an upper bound).
    y0 : array or None
        Prox centre of :math:`W(y) = \|y - y_0\|^2/2` (default 0).

    Notes
    -----
    :math:`y^*_\eta(x) = \operatorname{prox}_{J/\eta}(y_0 + Kx/\eta)`.

    Examples
    --------
    :math:`h(x) = \|x\|_1 = \max_{y \in [-1, 1]^n} \langle x, y\rangle` (:math:`K = I`,
    :math:`J` the indicator of the box, whose prox is a clip):

    >>> import numpy as np
    >>> from xpsolve.solvers.sliding import Bilinear
    >>> h = Bilinear(np.eye(3), lambda v, t: np.clip(v, -1.0, 1.0),
    ...              lambda x: float(np.abs(x).sum()), D_Y2=1.5, norm_K=1.0)
    >>> h.ystar_eta(np.array([0.05, -2.0, 0.0]), 0.1, xp=np)   # smoothed maximiser
    array([ 0.5, -1. ,  0. ])
    """

    structure = None
    stochastic = False

    def __init__(self, K, prox_J, value, *, D_Y2, norm_K, y0=None):
        if not callable(prox_J):
            raise TypeError("prox_J must be callable (prox of J with Y folded in)")
        if not callable(value):
            raise TypeError("value must be callable")
        self.K, self.prox_J, self._value = K, prox_J, value
        self.D_Y2 = _nonneg("D_Y2", D_Y2, allow_none=False)
        self.norm_K = _nonneg("norm_K", norm_K, allow_none=False)
        self.y0 = y0
        self.saddle = True
        self.sigma2 = 0.0
        self.M = None

    def bind(self, x0, *, xp):
        n = x0.shape[0]
        shape = getattr(self.K, "shape", None)
        if shape is not None and (len(shape) != 2 or shape[1] != n):
            raise ValueError(f"K has shape {tuple(shape)}, inconsistent with x0 of shape ({n},)")
        return self

    def Kx(self, x, *, xp):
        return self.K.matvec(x) if hasattr(self.K, "matvec") else self.K @ x

    def KTy(self, y, *, xp):
        return self.K.rmatvec(y) if hasattr(self.K, "rmatvec") else y @ self.K

    def value(self, x, *, xp):
        return self._value(x)

    def ystar_eta(self, x, eta, *, xp):
        v = self.Kx(x, xp=xp) / eta
        if self.y0 is not None:
            v = v + self.y0
        return self.prox_J(v, 1.0 / eta)

    def draw(self, rng, T):
        return None


def _device(a):
    from ...backends import device

    return device(a)
