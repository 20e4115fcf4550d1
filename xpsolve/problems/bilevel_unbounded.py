r"""Bilevel problems with an unbounded-smooth upper level (for BO-REP, arXiv:2401.09587).

- :class:`DoubleWell`: quartic double-well upper level on a quadratic lower
  level; closed-form optimum :math:`\Phi^* = -d/4`; optional bounded oracle noise.
- :class:`TinyRNNHyperRep`: a 4-unit tanh RNN (upper variable) feeding a
  ridge-regression head (lower variable, closed-form lower solve) on synthetic
  binary sequences; hand-written back-propagation-through-time derivatives.

Both are :class:`xpsolve.BilevelProblem` instances written with the array-API
namespace of their data, built on the host from seeded NumPy generators and
registered as ``bilevel/p4_double_well`` and ``bilevel/p9_tiny_rnn_hyperrep``.
"""
from __future__ import annotations

import math

import numpy as np

from .bilevel import _LibraryProblem, get as _get, register_bilevel

__all__ = ["DoubleWell", "TinyRNNHyperRep", "get"]


def _psi(xp, t):
    return 0.25 * t ** 4 - 0.5 * t ** 2


def _dpsi(xp, t):
    return t ** 3 - t


class DoubleWell(_LibraryProblem):
    r"""Double-well upper level, quadratic lower level (unbounded smoothness).

    .. math::

        G(x, y) = \tfrac12 (y - Ax - c)^\top Q (y - Ax - c),\qquad
        F(x, y) = \sum_j \psi(y_j),\quad \psi(t) = t^4/4 - t^2/2,

    with :math:`A = I + 0.5 S` (S: ones on the first superdiagonal),
    :math:`c_j = 0.1 j / d`, :math:`Q = \mathrm{diag}(\mathrm{linspace}(0.05, 1, d))`.
    :math:`y^*(x) = Ax + c` (:math:`\mu = 0.05`, ``lower_L`` = 1),
    :math:`\Phi(x) = \sum_j \psi((Ax + c)_j)`,
    :math:`\nabla\Phi = A^\top \psi'(Ax + c)`, :math:`\Phi^* = -d/4` at the
    :math:`2^d` points with :math:`Ax + c \in \{-1, 1\}^d`. :math:`|\psi''| \le 11
    + 3|\psi'|`: (L0, L1)-smooth, not L-smooth.

    ``sigma > 0``: every derivative oracle output (``upper_grad``, ``lower_grad``,
    ``lower_hvp_yy``, ``lower_jvp_xy``; values stay exact) gets independent noise
    drawn uniformly from the ball of radius ``sigma``, from the problem's own stream
    (seeded by ``seed``; rebuild the problem or call :meth:`reset_noise` to replay
    it). ``scale``: default start :math:`x_0 = s \cdot 1`.

    Parameters
    ----------
    d : int, default 10
        Dimension of :math:`x` and :math:`y`.
    sigma : float, default 0
        Radius of the bounded oracle noise (0: exact oracles).
    scale : float, default 1
        Default start :math:`x_0 = s \cdot 1` (``scale = 10``: :math:`\|\nabla\Phi(x_0)\|`
        about :math:`1.5 \cdot 10^4` for ``d = 10``).
    seed : int, default 0
        Seed of the noise stream.
    xp, device, dtype : optional
        Array namespace, device and dtype of the problem's arrays (default NumPy float64).

    Examples
    --------
    >>> from xpsolve.problems.bilevel_unbounded import DoubleWell
    >>> prob = DoubleWell(d=3)
    >>> prob.dim_x, prob.solution()["fun"], round(float(prob.phi(prob.x0())), 4)
    (3, -0.75, 0.2463)
    """

    tags = ("closed-form", "unbounded-smooth", "stochastic")

    def __init__(self, d=10, sigma=0.0, scale=1.0, seed=0, *, xp=None, device=None, dtype=None):
        self._setup(xp, device, dtype)
        d = int(d)
        if d < 1:
            raise ValueError(f"d must be a positive int; got {d}")
        if not (sigma >= 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma must be a finite float >= 0; got {sigma!r}")
        if not math.isfinite(scale):
            raise ValueError(f"scale must be finite; got {scale!r}")
        self.dim_x = self.dim_y = d
        self.sigma, self.scale, self.seed = float(sigma), float(scale), int(seed or 0)
        A = np.eye(d) + 0.5 * np.eye(d, k=1)
        c = 0.1 * np.arange(1, d + 1) / d
        q = np.linspace(0.05, 1.0, d) if d > 1 else np.array([0.05])
        self._Ah, self._ch, self._qh = A, c, q
        self._A, self._c, self._q = self._a(A), self._a(c), self._a(q)
        self.lower_mu, self.lower_L = float(q.min()), float(q.max())
        self.upper_L0, self.upper_L1 = 11.0, 3.0
        self.reset_noise()

    def reset_noise(self):
        """Restart the noise stream (the same noise sequence as a freshly built problem)."""
        self._rng = np.random.default_rng([self.seed, 4])

    def _noisy(self, v):
        if self.sigma == 0.0:
            return v
        k = int(v.shape[0])
        g = self._rng.standard_normal(k)
        g *= self.sigma * self._rng.random() ** (1.0 / k) / np.linalg.norm(g)
        return v + self._a(g, dtype=v.dtype)

    def _r(self, x, y):
        return y - x @ self._A.T - self._c

    def upper_value(self, x, y, batch=None):
        return self.xp.sum(_psi(self.xp, y))

    def upper_grad(self, x, y, batch=None):
        return self._noisy(self.xp.zeros_like(x)), self._noisy(_dpsi(self.xp, y))

    def lower_value(self, x, y, batch=None):
        r = self._r(x, y)
        return 0.5 * self.xp.sum(self._q * r * r)

    def lower_grad(self, x, y, batch=None):
        qr = self._q * self._r(x, y)
        return self._noisy(-(qr @ self._A)), self._noisy(qr)

    def lower_hvp_yy(self, x, y, v, batch=None):
        return self._noisy(self._q * v)

    def lower_jvp_xy(self, x, y, v, batch=None):
        return self._noisy(-((self._q * v) @ self._A))

    def x0(self):
        return self._a(np.full(self.dim_x, self.scale))

    def y0(self):
        return self._a(np.zeros(self.dim_y))

    def lower_solve(self, x):
        return x @ self._A.T + self._c

    def phi(self, x):
        return self.upper_value(x, self.lower_solve(x))

    def hypergrad(self, x):
        return _dpsi(self.xp, self.lower_solve(x)) @ self._A

    def solution(self):
        # one of the 2^d global minimisers: A x + c = 1
        x = np.linalg.solve(self._Ah, 1.0 - self._ch)
        return {"x": self._a(x), "y": self._a(np.ones(self.dim_y)), "fun": -self.dim_x / 4.0,
                "lam": None, "unique": False}

    def metrics(self, x, y):
        xp = self.xp
        return {"phi_gap": float(self.phi(x)) + self.dim_x / 4.0,
                "hypergrad_norm": math.sqrt(float(xp.sum(self.hypergrad(x) ** 2))),
                "lower_err": math.sqrt(float(xp.sum((y - self.lower_solve(x)) ** 2))),
                "upper": float(self.upper_value(x, y))}


class TinyRNNHyperRep(_LibraryProblem):
    r"""Hyper-representation with a tiny tanh RNN and a ridge head (closed-form lower level).

    Synthetic binary sequences :math:`u_i \in \{-1, 1\}^T` (length ``T`` = 10,
    1-d inputs), target :math:`t_i = u_{i,1}` (recall the first input after T
    steps). Upper variable :math:`x = (W, w, b)` of the RNN
    :math:`h_k = \tanh(W h_{k-1} + w u_k + b)`, :math:`h_0 = 0`, with ``hidden``
    = 4 units (``dim_x`` = H^2 + 2H = 24); lower variable :math:`y \in
    \mathbb{R}^{H+1}` the ridge head on the features
    :math:`\phi_i = (h_{i,T}, 1)`:

    .. math::

        G(x, y) = \frac{1}{2 n_{tr}} \sum_i (\phi_i^\top y - t_i)^2 + \frac{\lambda}{2}\|y\|^2,
        \qquad F(x, y) = \frac{1}{2 n_{val}} \sum_j (\phi_j^\top y - t_j)^2.

    All derivatives (upper/lower gradients, :math:`\nabla^2_{yy} G v`,
    :math:`\nabla^2_{xy} G v`) are exact, by hand-written batched
    back-propagation through time; the lower problem is solved exactly by an
    (H+1) x (H+1) linear solve, so ``phi`` and ``hypergrad`` are exact. The
    recurrent weight makes the curvature of :math:`\Phi` grow with its gradient
    (exploding-gradient regime), a miniature of BO-REP's RNN experiments.
    Finite sums: ``n_lower = n_train``, ``n_upper = n_val``.

    Parameters
    ----------
    n_train, n_val, n_test : int, default 64
        Numbers of training (lower level), validation (upper level) and test sequences.
    T : int, default 10
        Sequence length.
    hidden : int, default 4
        Number of hidden units H.
    reg : float, default 0.1
        Ridge weight :math:`\lambda` of the lower level.
    seed : int, default 0
        Seed of the synthetic data.
    xp, device, dtype : optional
        Array namespace, device and dtype of the problem's arrays (default NumPy float64).

    Examples
    --------
    >>> from xpsolve.problems.bilevel_unbounded import TinyRNNHyperRep
    >>> prob = TinyRNNHyperRep()
    >>> prob.dim_x, prob.dim_y             # (W, w, b) of the RNN; the ridge head
    (24, 5)
    """

    tags = ("unbounded-smooth", "stochastic")

    def __init__(self, n_train=64, n_val=64, n_test=64, T=10, hidden=4, reg=0.1, seed=0, *,
                 xp=None, device=None, dtype=None):
        self._setup(xp, device, dtype)
        for name, v in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("T", T),
                        ("hidden", hidden)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive int; got {v}")
        if not reg > 0:
            raise ValueError(f"reg must be > 0 (strongly convex lower level); got {reg}")
        H, self.T, self.reg = int(hidden), int(T), float(reg)
        self.H = H
        rng = np.random.default_rng([int(seed or 0), 9])
        n = int(n_train) + int(n_val) + int(n_test)
        U = rng.choice([-1.0, 1.0], size=(n, self.T))
        t = U[:, 0].copy()
        parts = np.split(np.arange(n), [int(n_train), int(n_train) + int(n_val)])
        self._U = [self._a(U[p]) for p in parts]
        self._t = [self._a(t[p]) for p in parts]
        self.dim_x, self.dim_y = H * H + 2 * H, H + 1
        self.n_lower, self.n_upper = int(n_train), int(n_val)
        self.lower_mu = self.reg
        # |phi_i|^2 <= H + 1 (tanh features and a bias): a global bound on the lower curvature
        # (the curvature at a given x is often several times smaller)
        self.lower_L = float(H + 1) + self.reg
        W0 = 0.5 * np.eye(H) + 0.2 * rng.standard_normal((H, H)) / math.sqrt(H)
        self._x0 = np.r_[W0.ravel(), 0.5 * rng.standard_normal(H), np.zeros(H)]

    # -- the network ---------------------------------------------------------------------
    def _unpack(self, x):
        H, xp = self.H, self.xp
        return xp.reshape(x[:H * H], (H, H)), x[H * H:H * H + H], x[H * H + H:]

    def _data(self, split, batch):
        U, t = self._U[split], self._t[split]
        if batch is None:
            return U, t
        return self.xp.take(U, batch, axis=0), self.xp.take(t, batch, axis=0)

    def _forward(self, x, U):
        xp = self.xp
        W, w, b = self._unpack(x)
        h = xp.zeros((U.shape[0], self.H), dtype=x.dtype)
        hs = [h]
        for k in range(self.T):
            h = xp.tanh(h @ W.T + U[:, k:k + 1] * w[None, :] + b[None, :])
            hs.append(h)
        return hs

    def _features(self, hs):
        xp = self.xp
        hT = hs[-1]
        return xp.concat([hT, xp.ones((hT.shape[0], 1), dtype=hT.dtype)], axis=1)

    def _bptt(self, x, U, hs, C):
        """Gradient w.r.t. x of sum_i C_i . h_{i,T} (batched back-propagation through time)."""
        xp = self.xp
        W, _, _ = self._unpack(x)
        gW = xp.zeros_like(W)
        gw = xp.zeros((self.H,), dtype=x.dtype)
        gb = xp.zeros((self.H,), dtype=x.dtype)
        dh = C
        for k in range(self.T - 1, -1, -1):
            h = hs[k + 1]
            da = dh * (1.0 - h * h)
            gW = gW + da.T @ hs[k]
            gw = gw + xp.sum(da * U[:, k:k + 1], axis=0)
            gb = gb + xp.sum(da, axis=0)
            dh = da @ W
        return xp.concat([xp.reshape(gW, (-1,)), gw, gb])

    def _pass(self, x, y, split, batch):
        U, t = self._data(split, batch)
        hs = self._forward(x, U)
        Phi = self._features(hs)
        return U, t, hs, Phi, Phi @ y - t

    # -- oracles ---------------------------------------------------------------------------
    def upper_value(self, x, y, batch=None):
        r = self._pass(x, y, 1, batch)[-1]
        return 0.5 * self.xp.mean(r * r)

    def upper_grad(self, x, y, batch=None):
        U, t, hs, Phi, r = self._pass(x, y, 1, batch)
        n = r.shape[0]
        gx = self._bptt(x, U, hs, r[:, None] * y[None, :self.H] / n)
        return gx, r @ Phi / n

    def lower_value(self, x, y, batch=None):
        r = self._pass(x, y, 0, batch)[-1]
        return 0.5 * self.xp.mean(r * r) + 0.5 * self.reg * self.xp.sum(y * y)

    def lower_grad(self, x, y, batch=None):
        U, t, hs, Phi, r = self._pass(x, y, 0, batch)
        n = r.shape[0]
        gx = self._bptt(x, U, hs, r[:, None] * y[None, :self.H] / n)
        return gx, r @ Phi / n + self.reg * y

    def lower_hvp_yy(self, x, y, v, batch=None):
        U, t = self._data(0, batch)
        Phi = self._features(self._forward(x, U))
        return (Phi @ v) @ Phi / Phi.shape[0] + self.reg * v

    def lower_jvp_xy(self, x, y, v, batch=None):
        U, t, hs, Phi, r = self._pass(x, y, 0, batch)
        n = r.shape[0]
        C = ((Phi @ v)[:, None] * y[None, :self.H] + r[:, None] * v[None, :self.H]) / n
        return self._bptt(x, U, hs, C)

    # -- reference information -------------------------------------------------------------
    def x0(self):
        return self._a(self._x0)

    def y0(self):
        return self._a(np.zeros(self.dim_y))

    def _lower_system(self, x):
        xp = self.xp
        U, t = self._data(0, None)
        Phi = self._features(self._forward(x, U))
        n = Phi.shape[0]
        eye = xp.eye(self.dim_y, dtype=x.dtype)
        if self._device is not None:
            eye = xp.asarray(eye, device=self._device)
        return Phi.T @ Phi / n + self.reg * eye, t @ Phi / n

    def lower_solve(self, x):
        M, rhs = self._lower_system(x)
        return self.xp.linalg.solve(M, rhs[:, None])[:, 0]

    def phi(self, x):
        return self.upper_value(x, self.lower_solve(x))

    def hypergrad(self, x):
        M, rhs = self._lower_system(x)
        xp = self.xp
        y = xp.linalg.solve(M, rhs[:, None])[:, 0]
        Fx, Fy = self.upper_grad(x, y)
        v = xp.linalg.solve(M, Fy[:, None])[:, 0]
        return Fx - self.lower_jvp_xy(x, y, v)

    def solution(self):
        return None

    def metrics(self, x, y):
        xp = self.xp
        U, t = self._U[2], self._t[2]
        r = self._features(self._forward(x, U)) @ y - t
        return {"phi": float(self.phi(x)), "upper": float(self.upper_value(x, y)),
                "hypergrad_norm": math.sqrt(float(xp.sum(self.hypergrad(x) ** 2))),
                "test_mse": float(xp.mean(r * r)),
                "lower_err": math.sqrt(float(xp.sum((y - self.lower_solve(x)) ** 2)))}


def get(name, *, xp=None, device=None, dtype=None, **params):
    """Build problem ``name`` (``"double_well"`` or ``"tiny_rnn_hyperrep"``).

    The same as :func:`xpsolve.problems.bilevel.get`, which reads the one problem registry.

    Examples
    --------
    >>> from xpsolve.problems.bilevel_unbounded import get
    >>> prob = get("double_well", d=10, scale=3.0)
    >>> prob.dim_x, prob.solution()["fun"], round(float(prob.phi(prob.x0())), 1)
    (10, -2.5, 889.6)
    """
    return _get(name, xp=xp, device=device, dtype=dtype, **params)


register_bilevel("bilevel/p4_double_well", DoubleWell,
                 sizes={"tiny": {"d": 10}, "small": {"d": 10}, "medium": {"d": 100}},
                 defaults={"sigma": 0.0, "scale": 1.0, "seed": None},
                 success=("phi_gap", 1e-2), closed_form=True)
register_bilevel("bilevel/p9_tiny_rnn_hyperrep", TinyRNNHyperRep,
                 sizes={"tiny": {"n_train": 32, "n_val": 32, "n_test": 32},
                        "small": {"n_train": 128, "n_val": 128, "n_test": 128}},
                 defaults={"T": 10, "hidden": 4, "reg": 0.1, "seed": None},
                 success=("hypergrad_norm", 1e-3), closed_form=True)
