r"""Projections onto the joint feasible set C of a bilevel problem.

Built-ins, chosen from ``problem.cons_structure`` and ``problem.cons_matrices =
(G_x, G_y, h)`` describing :math:`C = \{(x, y): G_x x + G_y y \le h\}` (``= h`` for
``"affine"``; equality rows of ``"polyhedral"`` are ``problem.equality_rows``):

- ``"halfspace"`` (one row): closed form :math:`w - \max(0, a^\top w - h) a / \|a\|^2`;
- ``"affine"``: closed form :math:`w - Q (Q^\top w) + w_0` with :math:`Q` an
  orthonormal basis of the row space and :math:`w_0 = G^+ h`, both computed once on
  the host (a cached factorisation: an SVD, rank-revealing); two matrix-vector
  products per projection;
- ``"polyhedral"``: the dual box-QP
  :math:`\max_{\mu \ge 0} -\tfrac12 \|G^\top \mu\|^2 + \mu^\top (G v - h)`, rows
  normalised to unit norm, with :math:`Q = G G^\top` formed once and the dual
  warm-started from the previous call. NumPy + Numba: cyclic coordinate ascent
  (Hildreth); other namespaces: accelerated projected gradient (FISTA) with step
  :math:`1/\lambda_{\max}(Q)` (``lambda_max`` computed once). Both stop when the
  KKT residual of the dual, :math:`\max_i |\mu_i - \max(0, \mu_i + (Gw - h)_i)|`
  (rows normalised, so it bounds the violation in distance units), is below
  ``proj_tol`` or after ``proj_maxiter`` sweeps.

No modelling language is called per iteration.
"""
from __future__ import annotations

import numpy as np

from ...backends import get_kernel, register_kernel, to_numpy
from ...backends._kernels import kernel_uses_numba

_NUMBA = "xpsolve.solvers.bilevel._numba_kernels"


def polyhedral_dual_generic(Q, b, mu0, ineq, L, tol, maxiter, *, xp, check_every=10):
    """FISTA on ``min_{mu_i >= 0 (ineq rows)} 0.5 mu^T Q mu - b^T mu``; returns (mu, nit, resid)."""
    mu = mu0
    nu = mu0
    t = 1.0
    zero = xp.zeros_like(mu0)
    eq = 1.0 - ineq
    resid = float("inf")
    nit = 0
    for nit in range(1, maxiter + 1):
        g = Q @ nu - b
        step = nu - g / L
        new = ineq * xp.maximum(step, zero) + eq * step
        t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        nu = new + ((t - 1.0) / t_new) * (new - mu)
        mu, t = new, t_new
        if nit % check_every == 0 or nit == maxiter:
            r = b - Q @ mu
            res = ineq * xp.abs(mu - xp.maximum(mu + r, zero)) + eq * xp.abs(r)
            resid = float(xp.max(res)) if res.shape[0] else 0.0
            if resid <= tol:
                break
    return mu, nit, resid


register_kernel("bilevel_polyhedral_dual", generic=polyhedral_dual_generic,
                numba=f"{_NUMBA}:polyhedral_dual")


class Projector:
    """Projection onto C (and Y for the proximal copy theta) for one problem.

    ``proj(x, y) -> (x, y)``; ``proj_y(theta)``; ``last_resid`` and
    ``dual_iters`` report the state of the iterative polyhedral projection.
    """

    def __init__(self, problem, xp, *, proj_tol=1e-6, proj_maxiter=100, device=None):
        self.xp = xp
        self._on = {} if device is None else {"device": device}
        self.tol = float(proj_tol)
        self.maxiter = int(proj_maxiter)
        self.last_resid = 0.0
        self.dual_iters = 0
        self.kind = None
        has = problem.provides
        self.proj_y = problem.proj_y if has("proj_y") else (lambda y: y)
        n_cons = int(getattr(problem, "n_cons", 0) or 0)
        structure = getattr(problem, "cons_structure", None)
        if has("proj_xy"):
            self.kind = "user"
            self._proj = problem.proj_xy
        elif structure is not None:
            if has("proj_x") or has("proj_y"):
                raise ValueError("the problem declares cons_structure together with proj_x/proj_y; "
                                 "the projection onto their intersection is not built in - pass "
                                 "proj_xy")
            self._setup_structure(problem, structure, xp)
        elif n_cons > 0:
            raise ValueError("the problem has coupled lower-level constraints (n_cons = "
                             f"{n_cons}) but neither proj_xy nor cons_structure: the method needs "
                             "the projection onto C = {(x, y): g(x, y) <= 0}")
        else:
            self.kind = "product"
            px = problem.proj_x if has("proj_x") else (lambda x: x)
            py = self.proj_y
            self._proj = lambda x, y: (px(x), py(y))

    # ----------------------------------------------------------------------------------
    def _setup_structure(self, problem, structure, xp):
        Gx, Gy, h = problem.cons_matrices
        Gx_h, Gy_h, h_h = (np.asarray(to_numpy(a), dtype=np.float64) for a in (Gx, Gy, h))
        G = np.concatenate([np.atleast_2d(Gx_h), np.atleast_2d(Gy_h)], axis=1)
        h_h = np.reshape(h_h, (-1,))
        nx = Gx_h.shape[-1]
        dt = problem.dtype
        self.kind = structure
        norms = np.linalg.norm(G, axis=1)
        if np.any(norms == 0):
            raise ValueError("cons_matrices has a zero row")
        self._x_free = not np.any(Gx_h)
        if structure == "halfspace":
            if G.shape[0] != 1:
                raise ValueError(f"cons_structure 'halfspace' needs exactly one row; got {G.shape[0]}"
                                 " (use 'polyhedral')")
            a = G[0] / norms[0] ** 2
            self._ax = xp.asarray(G[0, :nx], dtype=dt, **self._on)
            self._ay = xp.asarray(G[0, nx:], dtype=dt, **self._on)
            self._sx = xp.asarray(a[:nx], dtype=dt, **self._on)
            self._sy = xp.asarray(a[nx:], dtype=dt, **self._on)
            self._h = float(h_h[0])
            self._zero = xp.zeros((), dtype=dt, **self._on)
            self._proj = self._proj_halfspace
        elif structure == "affine":
            U, s, Vt = np.linalg.svd(G, full_matrices=False)
            rank = int(np.sum(s > s[0] * max(G.shape) * np.finfo(np.float64).eps))
            V = Vt[:rank].T
            w0 = V @ ((U[:, :rank].T @ h_h) / s[:rank])
            if np.linalg.norm(G @ w0 - h_h) > 1e-8 * (1 + np.linalg.norm(h_h)):
                raise ValueError("the affine constraints G_x x + G_y y = h are inconsistent")
            self._Qx = xp.asarray(V[:nx], dtype=dt, **self._on)
            self._Qy = xp.asarray(V[nx:], dtype=dt, **self._on)
            self._w0x = xp.asarray(w0[:nx], dtype=dt, **self._on)
            self._w0y = xp.asarray(w0[nx:], dtype=dt, **self._on)
            self._proj = self._proj_affine
        else:
            Gn = G / norms[:, None]
            hn = h_h / norms
            Q = Gn @ Gn.T
            eqmask = np.zeros(G.shape[0])
            eqmask[list(getattr(problem, "equality_rows", ()) or ())] = 1.0
            self._Gx = xp.asarray(Gn[:, :nx], dtype=dt, **self._on)
            self._Gy = xp.asarray(Gn[:, nx:], dtype=dt, **self._on)
            self._hn = xp.asarray(hn, dtype=dt, **self._on)
            self._Q = xp.asarray(Q, dtype=dt, **self._on)
            self._L = float(np.linalg.eigvalsh(Q)[-1])
            self._ineq = xp.asarray(1.0 - eqmask, dtype=dt, **self._on)
            self._mu = xp.zeros((G.shape[0],), dtype=dt, **self._on)
            self._dual = get_kernel("bilevel_polyhedral_dual", xp)
            self.numba = kernel_uses_numba("bilevel_polyhedral_dual", xp)
            self._proj = self._proj_polyhedral

    def _proj_halfspace(self, x, y):
        xp = self.xp
        s = self._ax @ x + self._ay @ y - self._h
        c = xp.maximum(s, self._zero)
        return x - c * self._sx, y - c * self._sy

    def _proj_affine(self, x, y):
        t = self._Qx.T @ x + self._Qy.T @ y
        return x - self._Qx @ t + self._w0x, y - self._Qy @ t + self._w0y

    def _proj_polyhedral(self, x, y, maxiter=None):
        xp = self.xp
        b = (self._Gy @ y - self._hn) if self._x_free else (self._Gx @ x + self._Gy @ y - self._hn)
        mu, nit, resid = self._dual(self._Q, b, self._mu, self._ineq, self._L, self.tol,
                                    maxiter or self.maxiter, xp=xp)
        mu = xp.asarray(mu)
        self._mu = mu
        self.dual_iters += int(nit)
        self.last_resid = float(resid)
        y = y - mu @ self._Gy
        if not self._x_free:
            x = x - mu @ self._Gx
        return x, y

    # ----------------------------------------------------------------------------------
    def __call__(self, x, y):
        return self._proj(x, y)

    def initial(self, x, y):
        """First projection (cold dual start: up to 20 times more dual iterations)."""
        if self.kind == "polyhedral":
            return self._proj_polyhedral(x, y, maxiter=20 * self.maxiter)
        return self._proj(x, y)
