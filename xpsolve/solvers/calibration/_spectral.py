r"""Linear baseline: Ling & Strohmer's inverse-gain linearisation (spectral / least squares).

With :math:`s_i = 1/d_i` the model :math:`y_l = \mathrm{diag}(d) A_l x` becomes the homogeneous
linear system :math:`s \odot y_l - A_l x = 0`, :math:`l = 1..p`, i.e. :math:`M w = 0` with
:math:`M = [\mathrm{diag}(y_l)\;\; -A_l]_{l}` and :math:`w = (s, x)`.

- ``solver="svd"``: :math:`w` = right singular vector of the smallest singular value of
  :math:`M` (dense, ``xp.linalg.svd``; the diagonal blocks are scaled by ``1/rms(y)``).
- ``solver="cgls"``: matrix-free constrained least squares
  :math:`\min \|M w\|^2` s.t. :math:`1^\top s = m`, written with :math:`s = 1 + \Pi v`
  (:math:`\Pi` the projector onto :math:`1^\perp`) as an unconstrained problem in
  :math:`(v, x)` and solved by CGLS (conjugate gradients on the normal equations, one forward
  and one adjoint per iteration, in the input namespace).
"""
from __future__ import annotations

import math
import warnings

from ..._monitor import Monitor
from ..._options import IsArray, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ...backends import device as _device
from ._common import (check_truth, fun_value, identifiability, normalize_scale,
                      not_identifiable_detail, recovery_error)

__all__ = ["SPECTRAL_OPTIONS"]

#: ``solver="auto"`` picks the dense SVD when A is dense and m + n is at most this
SVD_MAX_UNKNOWNS = 1500


def _dense_stack(op, n, xp, dtype, dev):
    """The ``(p*m, n)`` matrix of the operator (dense input as is, otherwise n forwards)."""
    p, m, _ = op.shape
    if op.dense is not None:
        return xp.reshape(op.dense, (p * m, n))
    devkw = {} if dev is None else {"device": dev}
    eye = xp.eye(n, dtype=dtype, **devkw)
    cols = [xp.reshape(op.forward(eye[:, j]), (p * m,)) for j in range(n)]
    return xp.stack(cols, axis=1)


def _svd_solve(y, op, xp, c):
    """Smallest right singular vector of M; returns ``(s, x, resid)``."""
    p, m = y.shape
    n = op.shape[2]
    dtype, dev = y.dtype, _device(y)
    devkw = {} if dev is None else {"device": dev}
    eye = xp.eye(m, dtype=dtype, **devkw)
    D = xp.reshape(xp.reshape(y / c, (p, m, 1)) * eye, (p * m, m))
    M = xp.concat([D, -_dense_stack(op, n, xp, dtype, dev)], axis=1)
    _, S, Vh = xp.linalg.svd(M, full_matrices=p * m < m + n)
    w = Vh[-1, :]
    smin = S[-1] if p * m >= m + n else xp.asarray(0.0, dtype=dtype, **devkw)
    smax = S[0]
    # eigen-residual of M^T M w = smin^2 w, relative to ||M||^2 (how well w was computed)
    Mw = M @ w
    resid = xp.linalg.vector_norm(Mw @ M - smin * smin * w) / (smax * smax)
    return w[:m] / c, w[m:], resid


def _cgls(y, op, xp, c, mon, maxiter, err_of):
    """CGLS on min ||K u - b|| with K(v, x) = (Pi v) * y/c - A x, b = -y; u = (v, x)."""
    p, m = y.shape
    n = op.shape[2]
    yc = y / c

    def K(v, x):
        return (v - xp.mean(v)) * yc - op.forward(x)

    def KT(R):
        t = xp.sum(yc * R, axis=0)
        return t - xp.mean(t), -op.adjoint(R)

    dtype, dev = y.dtype, _device(y)
    devkw = {} if dev is None else {"device": dev}
    v = xp.zeros((m,), dtype=dtype, **devkw)
    x = xp.zeros((n,), dtype=dtype, **devkw)
    r = -y
    sv, sx = KT(r)
    pv, px = sv, sx
    gamma = xp.sum(sv * sv) + xp.sum(sx * sx)
    norm0 = xp.sqrt(gamma)
    nit = 0
    while True:
        if mon.due(nit):
            rel = xp.sqrt(gamma) / xp.where(norm0 > 0, norm0, 1.0)
            s_now, x_now = 1.0 + (v - xp.mean(v)) / c, x
            extras = {}
            if err_of is not None:
                extras["err"] = lambda s=s_now, x=x_now: err_of(*_to_gains(s, x, xp))
            if mon.check(nit, x=lambda s=s_now, x=x_now: _to_gains(s, x, xp)[0],
                         fun=fun_value(r, xp), metric=rel,
                         gains=lambda s=s_now, x=x_now: _to_gains(s, x, xp)[1], **extras):
                break
        q = K(pv, px)
        qq = xp.sum(q * q)
        alpha = gamma / xp.where(qq > 0, qq, 1.0)
        v, x, r = v + alpha * pv, x + alpha * px, r - alpha * q
        sv, sx = KT(r)
        gamma_new = xp.sum(sv * sv) + xp.sum(sx * sx)
        beta = gamma_new / xp.where(gamma > 0, gamma, 1.0)
        pv, px, gamma = sv + beta * pv, sx + beta * px, gamma_new
        nit += 1
    rel = xp.sqrt(gamma) / xp.where(norm0 > 0, norm0, 1.0)
    return 1.0 + (v - xp.mean(v)) / c, x, rel, nit


def _to_gains(s, x, xp):
    """(s, x) with s = 1/d  ->  (x, d) with mean(d) = 1."""
    t = s.shape[0] / xp.sum(s)
    s, x = s * t, x * t
    d = 1.0 / s
    return normalize_scale(x, d, xp)


def _solve_spectral_ls(y, op, *, xp, callback=None, maxiter=1000, tol=1e-12, solver="auto",
                       x_true=None, d_true=None, check_every=1, history=False, disp=False):
    """Ling-Strohmer linear baseline; see :func:`xpsolve.calibrate_gains`."""
    p, m = y.shape
    n = op.shape[2]
    x_true, d_true = check_truth(x_true, d_true, n, m, xp, y.dtype, _device(y))
    ok, needed = identifiability(p, m, n, m - 1)
    if not ok:
        warnings.warn(not_identifiable_detail(p, m, needed)[1:-1], RuntimeWarning, stacklevel=4)
    if solver == "auto":
        solver = "svd" if op.dense is not None and m + n <= SVD_MAX_UNKNOWNS else "cgls"
    rms = float(xp.sqrt(xp.mean(y * y)))
    c = rms if rms > 0 and math.isfinite(rms) else 1.0
    truth = x_true is not None or d_true is not None
    err_of = (lambda x, d: recovery_error(x, d, x_true, d_true, xp)[0]) if truth else None
    mon = Monitor("spectral-ls", xp=xp, maxiter=maxiter, tol=tol, metric="ls_resid",
                  check_every=check_every, history=history, disp=disp, callback=callback,
                  columns=("err",) if truth else ())
    if maxiter == 0:  # no iteration allowed: the back-projection with unit gains, status 1
        x = op.adjoint(y) / (m * p)
        d = xp.ones((m,), dtype=y.dtype, device=_device(y))
        resid = fun_value(d * op.forward(x) - y, xp)
        return mon.finish(x=x, fun=resid, nit=0, metric=None, nfev=op.n_forward, gains=d,
                          n_forward=op.n_forward, n_adjoint=op.n_adjoint, solver=solver,
                          identifiable=bool(ok), ls_resid=float("nan"))
    if solver == "svd":  # the direct solve counts as one iteration
        s, x, resid = _svd_solve(y, op, xp, c)
        nit = 1
    else:
        s, x, resid, nit = _cgls(y, op, xp, c, mon, maxiter, err_of)
    t = m / xp.sum(s)                  # fixes the sign and scale of the singular vector
    s, x = s * t, x * t
    if mon.status in (None, 0) and not bool(xp.all(s > 0)):
        mon.status, mon.detail = 4, ("(some inverse gains s_i = 1/d_i are <= 0: the linearised "
                                     "solution is not a valid gain vector)")
    x, d = _to_gains(s, x, xp)
    z = op.forward(x)
    F = fun_value(d * z - y, xp)
    if solver == "svd" and mon.status is None:
        mon.check(1, x=x, fun=F, metric=resid, gains=d,
                  **({"err": err_of(x, d)} if truth else {}))
    if not ok and mon.status == 0:
        mon.status, mon.detail = 4, not_identifiable_detail(p, m, needed)
    extra = {}
    if truth:
        err, ex, ed = recovery_error(x, d, x_true, d_true, xp)
        extra = dict(err=float(err), err_x=None if ex is None else float(ex),
                     err_d=None if ed is None else float(ed))
    return mon.finish(x=x, fun=F, nit=nit, metric=resid, nfev=op.n_forward, gains=d,
                      n_forward=op.n_forward, n_adjoint=op.n_adjoint, solver=solver,
                      identifiable=bool(ok), **extra)


SPECTRAL_OPTIONS = standard_options(
    "maxiter", "tol", "check_every", "history", "disp",
    solver=[OneOf("auto", "svd", "cgls")],
    x_true=[IsArray("an array of shape (n,)"), OneOf(None)],
    d_true=[IsArray("an array of shape (m,)"), OneOf(None)],
)

register_solver(SolverSpec(
    metric="ls_resid",
    name="spectral-ls", family="calibration", func=_solve_spectral_ls, options=SPECTRAL_OPTIONS,
    summary="Linear baseline: Ling-Strohmer inverse-gain least squares (dense SVD or matrix-free CGLS)"))
