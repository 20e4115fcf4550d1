"""Sinkhorn baselines: stabilised scaling form (``"sinkhorn"``) and log domain (``"sinkhorn-log"``).

Both produce the iterates of Sinkhorn-Knopp, i.e. exact block-coordinate ascent
on the entropic dual, updating the column potential first and the row potential
second (POT's order), so their iteration counts equal POT's ``sinkhorn`` and
``sinkhorn_log`` in exact arithmetic.
"""
from __future__ import annotations

import math
import time

from ..._options import Interval, IsInstance, OneOf
from ..._registry import SolverSpec, register_solver
from ..._result import IterationReport, OptimizeResult, make_result, notify
from ...backends import get_kernel, namespace_name
from ...backends._kernels import kernel_uses_numba
from . import _kernels  # noqa: F401  (registers the kernels)
from ._common import ot_summary

COMMON_OPTIONS = {
    "maxiter": [Interval(int, 0, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
    "check_every": [Interval(int, 1, None)],
    "history": [OneOf(True, False)],
    "disp": [OneOf(True, False)],
    "warmstart": [OneOf(None), IsInstance(tuple, list, description="a pair (f, g) of potentials")],
}


def _warm(warmstart, a, b, xp):
    if warmstart is None:
        return xp.zeros_like(a), xp.zeros_like(b)
    if len(warmstart) != 2:
        raise ValueError("Option 'warmstart' must be a pair (f, g) of potentials")
    f = xp.asarray(warmstart[0], dtype=a.dtype)
    g = xp.asarray(warmstart[1], dtype=b.dtype)
    if f.shape != a.shape or g.shape != b.shape:
        raise ValueError(f"Option 'warmstart' potentials must have shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)}; got {tuple(f.shape)} and {tuple(g.shape)}")
    if not (bool(xp.all(xp.isfinite(f))) and bool(xp.all(xp.isfinite(g)))):
        raise ValueError("Option 'warmstart' potentials must be finite")
    return f, g


class _Monitor:
    """Check-point bookkeeping shared by the Sinkhorn variants (history, disp, callback)."""

    def __init__(self, history, disp, callback, reg, a, b, xp):
        self.keep = history
        self.history = {"nit": [], "marginal_err": [], "time": []} if history else {}
        self.report = IterationReport(["nit", "marginal_err", "time"]) if disp else None
        self.callback = callback
        self.reg, self.a, self.b, self.xp = reg, a, b, xp
        self.t0 = time.perf_counter()

    def check(self, nit, err, f, g, mass):
        """Record a check point; return True if the callback asked to stop."""
        if not (self.keep or self.report or self.callback):
            return False
        elapsed = time.perf_counter() - self.t0
        if self.keep:
            self.history["nit"].append(nit)
            self.history["marginal_err"].append(float(err))
            self.history["time"].append(elapsed)
        if self.report:
            self.report.row(nit=nit, marginal_err=float(err), time=elapsed)
        if self.callback is None:
            return False
        xp = self.xp
        dual = xp.sum(self.a * f) + xp.sum(self.b * g) - self.reg * mass + self.reg * xp.sum(self.a)
        inter = OptimizeResult(x=xp.concat([f, g]), fun=dual, nit=nit, marginal_err=err,
                               potentials=(f, g))
        return notify(self.callback, inter)


def _finish(f, g, a, b, C, reg, xp, *, nit, status, detail, monitor, extra):
    plan = get_kernel("ot_gibbs", xp)(C, f, g, reg, xp=xp)
    plan = xp.asarray(plan)
    s = ot_summary(plan, f, g, a, b, C, reg, xp)
    return make_result(
        x=plan, fun=s["fun"], nit=nit, status=status, detail=detail,
        backend=namespace_name(xp), history=monitor.history, plan=plan,
        potentials=(f, g), log_u=f / reg, log_v=g / reg, cost=s["cost"],
        dual_fun=s["dual_fun"], marginal_err=s["marginal_err"], nit_sinkhorn=nit, **extra)


def _solve_sinkhorn_log(a, b, C, reg, *, xp, callback=None, maxiter=1000, tol=1e-9,
                        check_every=10, history=False, disp=False, warmstart=None):
    """Log-domain Sinkhorn (see :func:`xpsolve.solve_ot`, ``method="sinkhorn-log"``)."""
    lse_rows = get_kernel("ot_lse_update_rows", xp)
    lse_cols = get_kernel("ot_lse_update_cols", xp)
    log_a, log_b = xp.log(a), xp.log(b)
    f, g = _warm(warmstart, a, b, xp)
    mon = _Monitor(history, disp, callback, reg, a, b, xp)
    nit, status, detail = 0, 1, f"({maxiter} sweeps)"
    g_next = None
    while nit < maxiter:
        g = lse_cols(C, f, log_b, reg, xp=xp) if g_next is None else g_next
        f = lse_rows(C, g, log_a, reg, xp=xp)
        g_next = None
        nit += 1
        if nit % check_every == 0 or nit == maxiter:
            # The next column update gives the column marginals for free:
            # (P^T 1)_j = b_j * exp((g_j - g_next_j) / reg); rows are exact after the f-update.
            g_next = lse_cols(C, f, log_b, reg, xp=xp)
            cols = b * xp.exp((g - g_next) / reg)
            err = xp.sum(xp.abs(cols - b))
            err_f = float(err)
            if not math.isfinite(err_f):
                status, detail = 3, f"(marginal error is {err_f} at sweep {nit})"
                break
            if mon.check(nit, err, f, g, xp.sum(cols)):
                status, detail = 99, None
                break
            if err_f <= tol:
                status, detail = 0, None
                break
    return _finish(f, g, a, b, C, reg, xp, nit=nit, status=status, detail=detail, monitor=mon,
                   extra={"numba": kernel_uses_numba("ot_lse_update_rows", xp)})


def _solve_sinkhorn(a, b, C, reg, *, xp, callback=None, maxiter=1000, tol=1e-9, check_every=10,
                    tau=1e50, history=False, disp=False, warmstart=None):
    """Stabilised scaling-form Sinkhorn (see :func:`xpsolve.solve_ot`, ``method="sinkhorn"``)."""
    lse_rows = get_kernel("ot_lse_update_rows", xp)
    lse_cols = get_kernel("ot_lse_update_cols", xp)
    gibbs = get_kernel("ot_gibbs", xp)
    log_a, log_b = xp.log(a), xp.log(b)
    f, g = _warm(warmstart, a, b, xp)
    mon = _Monitor(history, disp, callback, reg, a, b, xp)
    nit, status, detail, n_absorb, n_rescue = 0, 1, f"({maxiter} sweeps)", 0, 0
    if maxiter == 0:
        return _finish(f, g, a, b, C, reg, xp, nit=0, status=1, detail="(0 sweeps)", monitor=mon,
                       extra={"n_absorb": 0, "numba": kernel_uses_numba("ot_gibbs", xp)})

    def log_sweep(f):
        g = lse_cols(C, f, log_b, reg, xp=xp)
        return lse_rows(C, g, log_a, reg, xp=xp), g

    # The first sweep runs in the log domain, so every row and column of the absorbed
    # kernel K = P(f, g) has an entry near its marginal and the scaling form starts
    # without underflow, whatever reg is.
    f, g = log_sweep(f)
    nit = 1
    K = xp.asarray(gibbs(C, f, g, reg, xp=xp))
    u = xp.ones_like(a)
    v = xp.ones_like(b)
    KTu = None
    inv_tau = 1.0 / tau
    while True:
        if nit % check_every == 0 or nit == maxiter:
            # rows are exact after the u-update; K^T u is reused by the next v-update
            KTu = K.T @ u
            cols = v * KTu
            err = xp.sum(xp.abs(cols - b))
            err_f = float(err)
            fa, ga = f + reg * xp.log(u), g + reg * xp.log(v)
            if not math.isfinite(err_f):
                status, detail = 3, f"(marginal error is {err_f} at sweep {nit})"
                break
            if mon.check(nit, err, fa, ga, xp.sum(cols)):
                status, detail = 99, None
                break
            if err_f <= tol:
                status, detail = 0, None
                break
        if nit >= maxiter:
            break
        u_prev, v_prev = u, v
        if KTu is None:
            KTu = K.T @ u
        v = b / KTu
        u = a / (K @ v)
        KTu = None
        nit += 1
        # one host sync per sweep: the extreme scalings decide absorption / rescue
        hi = float(xp.maximum(xp.max(u), xp.max(v)))
        lo = float(xp.minimum(xp.min(u), xp.min(v)))
        if not (math.isfinite(hi) and lo > 0):
            # A row or column of K underflowed entirely: absorb the last finite scalings and
            # redo this sweep in the log domain, which cannot underflow.
            f_last, g_last = f + reg * xp.log(u_prev), g + reg * xp.log(v_prev)
            f, g = log_sweep(f_last)
            n_rescue += 1
            if not (bool(xp.all(xp.isfinite(f))) and bool(xp.all(xp.isfinite(g)))):
                status, detail = 3, f"(non-finite potentials at sweep {nit})"
                f, g, u, v = f_last, g_last, xp.ones_like(a), xp.ones_like(b)
                nit -= 1
                break
            K = xp.asarray(gibbs(C, f, g, reg, xp=xp))
            u, v = xp.ones_like(a), xp.ones_like(b)
            n_absorb += 1
        elif hi > tau or lo < inv_tau:
            # absorb the scalings into the potentials so they stay far from overflow
            f, g = f + reg * xp.log(u), g + reg * xp.log(v)
            K = xp.asarray(gibbs(C, f, g, reg, xp=xp))
            u, v = xp.ones_like(a), xp.ones_like(b)
            n_absorb += 1
    f, g = f + reg * xp.log(u), g + reg * xp.log(v)
    return _finish(f, g, a, b, C, reg, xp, nit=nit, status=status, detail=detail, monitor=mon,
                   extra={"n_absorb": n_absorb, "n_log_rescue": n_rescue,
                          "numba": kernel_uses_numba("ot_gibbs", xp)})


register_solver(SolverSpec(
    name="sinkhorn", family="ot", func=_solve_sinkhorn,
    options={**COMMON_OPTIONS, "tau": [Interval(float, 1.0, None, closed="neither")]},
    numba=True, needs=frozenset(),
    summary="Sinkhorn-Knopp in scaling form with absorption into log potentials (stable for small reg).",
))
register_solver(SolverSpec(
    name="sinkhorn-log", family="ot", func=_solve_sinkhorn_log, options=dict(COMMON_OPTIONS),
    numba=True, needs=frozenset(),
    summary="Sinkhorn-Knopp in the log domain (log-sum-exp updates of the dual potentials).",
))
