"""Shared pieces of the recovery solvers: options, scale, initialization, metrics, result type."""
from __future__ import annotations

import math

import numpy as np

from ..._options import Interval, IsArray, OneOf, standard_options
from ..._result import OptimizeResult
from ...backends import (as_float_array, asarray_on, check_finite, device, get_namespace,
                         namespace_name, to_numpy)

__all__ = ["COMMON_OPTIONS", "LowRankResult", "data_scale", "initial_factor", "Truth"]

COMMON_OPTIONS = standard_options(
    "maxiter", "tol", "seed", "check_every", "history", "disp",
    alpha=[Interval(float, 0, None, closed="neither")],
    init=[OneOf("gaussian", "orthonormal", "spectral")],
    x0=[OneOf(None), IsArray("an array of shape (d, rank)")],
    scale=[OneOf(None), Interval(float, 0, None, closed="neither")],
    truth=[OneOf(None), IsArray("the ground truth X* as an array of shape (d, d)")],
)

#: median(|N(0,1)|) and median(chi^2_1): robust scale of Gaussian / rank-one measurements
_MAD_GAUSS, _MED_CHI2 = 0.6744897501960817, 0.454936423119572


class LowRankResult(OptimizeResult):
    """:class:`~xpsolve.OptimizeResult` whose ``X`` (:math:`U U^\\top`) is formed when first read.

    ``res.X`` / ``res["X"]`` computes ``U @ U.T`` (a ``d x d`` matrix) on first access
    and keeps it; until then ``"X" in res`` is False, so large problems never pay for it.
    """

    def __missing__(self, key):
        if key == "X" and "U" in self:
            U = dict.__getitem__(self, "U")
            self["X"] = U @ U.T
            return self["X"]
        raise KeyError(key)


def _in_namespace(a, name, xp, dev, dtype):
    """``a`` as a ``dtype`` array of ``xp`` on ``dev``; arrays of another library are copied
    through the host (setup only, e.g. a NumPy ``truth`` given with torch data)."""
    if hasattr(a, "shape") and namespace_name(get_namespace(a)) != namespace_name(xp):
        a = np.asarray(to_numpy(a))
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array; got dtype {a.dtype}")
        return asarray_on(a.astype(np.float64), xp, dev, dtype)
    return as_float_array(a, name, xp, dev, dtype=dtype)


def data_scale(op, y, scale):
    """Robust estimate of :math:`\\|X^*\\|_F` from the measurements (host-side setup).

    ``scale`` given: used as is. Dense / user operators: ``median(|y|) / 0.6745`` (exact in
    the limit for Gaussian :math:`A_i` when fewer than half of the measurements are
    corrupted). Rank-one operators: ``median(|y|) / 0.4549`` (exact for rank one).
    """
    if scale is not None:
        return float(scale)
    yh = np.abs(np.asarray(to_numpy(y), dtype=np.float64))  # setup, outside the loop
    med = float(np.median(yh)) if yh.size else 0.0
    s = med / (_MED_CHI2 if op.kind == "rank1" else _MAD_GAUSS)
    if not (s > 0 and math.isfinite(s)):
        s = float(np.mean(yh)) if yh.size and np.mean(yh) > 0 else 1.0
    return s


def initial_factor(op, y, rank, xp, *, alpha, init, x0, seed, s_hat):
    """``U_0`` in ``xp`` (``y``'s device and dtype) and whether it is a "small" random start."""
    dev, dt, d = device(y), y.dtype, op.d
    if x0 is not None:
        U0 = _in_namespace(x0, "x0", xp, dev, dt)
        if tuple(U0.shape) != (d, rank):
            raise ValueError(f"x0 must have shape (d, rank) = ({d}, {rank}); got {tuple(U0.shape)}")
        check_finite(U0, "x0", xp)
        if not bool(xp.any(U0 != 0)):
            raise ValueError("x0 must not be zero: U = 0 is a stationary point of every "
                             "method here (the sub-gradient vanishes), the iterates would not move")
        return U0, False
    if init == "spectral":
        M = op.matrix_adjoint(y) / op.m
        M = (M + M.T) / 2
        lam, V = xp.linalg.eigh(M)
        lam_top = lam[d - rank:]
        lam_top = xp.where(lam_top > 0, lam_top, xp.zeros_like(lam_top))
        U0 = V[:, d - rank:] * xp.sqrt(lam_top)[None, :]
        if not bool(xp.any(U0 != 0)):
            raise ValueError("init='spectral' gave U = 0 (no positive eigenvalue of A*(y)/m); "
                             "use init='gaussian'")
        return U0, False
    rng = np.random.default_rng(seed)  # host-side setup: one instance on every backend
    if init == "gaussian":
        B = rng.standard_normal((d, rank)) / math.sqrt(d)
    else:  # orthonormal
        B = np.linalg.qr(rng.standard_normal((d, d)))[0][:, :rank]
    U0 = asarray_on(alpha * math.sqrt(s_hat) * B, xp, dev, dt)
    return U0, alpha < 0.1


class Truth:
    """The ground truth ``X*`` and the relative recovery error of a factor ``U``."""

    def __init__(self, truth, d, xp, y):
        X = _in_namespace(truth, "truth", xp, device(y), y.dtype)
        if tuple(X.shape) != (d, d):
            raise ValueError(f"Option 'truth' must be the matrix X* of shape ({d}, {d}); "
                             f"got {tuple(X.shape)}")
        check_finite(X, "truth", xp)
        self.X, self.xp = X, xp
        self.norm = xp.linalg.vector_norm(X)
        if not float(self.norm) > 0:
            raise ValueError("Option 'truth' must be nonzero (the error is relative)")

    def rel_err(self, U):
        return self.xp.linalg.vector_norm(U @ U.T - self.X) / self.norm
