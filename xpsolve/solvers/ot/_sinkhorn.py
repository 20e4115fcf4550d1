"""Sinkhorn baselines: stabilised scaling form (``"sinkhorn"``) and log domain (``"sinkhorn-log"``).

Both produce the iterates of Sinkhorn-Knopp, i.e. exact block-coordinate ascent
on the entropic dual, updating the column potential first and the row potential
second (POT's order), so their iteration counts equal POT's ``sinkhorn`` and
``sinkhorn_log`` in exact arithmetic.

Each solver is an init (:func:`xpsolve.solvers.ot._common.setup_ot`), a sweep, a
check point (the marginal error of the plan at the current potentials, passed to
the shared :class:`xpsolve._monitor.Monitor` with the plan as a lazy ``x``) and a
finish that recomputes the returned plan's own marginal error.
"""
from __future__ import annotations

import math

from ..._options import Interval, IsInstance, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ...backends import get_kernel
from ...backends._kernels import kernels_use_numba
from . import _kernels  # noqa: F401  (registers the kernels)
from ._common import finish_ot, ot_monitor, setup_ot

COMMON_OPTIONS = standard_options(
    "maxiter", "tol", "check_every", "history", "disp",
    warmstart=[OneOf(None), IsInstance(tuple, list, description="a pair (f, g) of potentials")])

#: Kernels the Sinkhorn solvers call on their NumPy path (``SolverSpec.kernels``).
SINKHORN_KERNELS = ("ot_lse_update_rows", "ot_lse_update_cols", "ot_gibbs")


def _check(mon, setup, nit, *, cols, f, g, plan):
    """One check point at potentials ``(f, g)`` whose plan has rows ``a`` and columns ``cols``."""
    xp, b = setup.xp, setup.b
    err = float(xp.sum(xp.abs(cols - b)))
    return mon.check(nit, x=plan, metric=err,
                     fun=lambda: setup.fun_from_marginals(setup.a, cols, f, g),
                     dual_fun=lambda: setup.dual_from_marginals(cols, f, g),
                     potentials=lambda: setup.public_potentials(f, g))


def _solve_sinkhorn_log(a, b, C, reg, *, xp, callback=None, maxiter=1000, tol=1e-9,
                        check_every=10, history=False, disp=False, warmstart=None):
    """Log-domain Sinkhorn (see :func:`xpsolve.solve_ot`, ``method="sinkhorn-log"``)."""
    su = setup_ot(a, b, C, reg, xp, warmstart=warmstart, tol=tol, method="sinkhorn-log")
    lse_rows = get_kernel("ot_lse_update_rows", xp)
    lse_cols = get_kernel("ot_lse_update_cols", xp)
    gibbs = get_kernel("ot_gibbs", xp)
    C, log_a, log_b = su.C, su.log_a, su.log_b
    mon = ot_monitor("sinkhorn-log", su, maxiter=maxiter, tol=tol, check_every=check_every,
                     history=history, disp=disp, callback=callback)
    f, g, g_next, nit = su.f0, su.g0, None, 0
    while nit < maxiter:
        g = lse_cols(C, f, log_b, reg, xp=xp) if g_next is None else g_next
        f = lse_rows(C, g, log_a, reg, xp=xp)
        g_next = None
        nit += 1
        if mon.due(nit):
            # The next column update gives the column marginals for free:
            # (P^T 1)_j = b_j * exp((g_j - g_next_j) / reg); rows are exact after the f-update.
            g_next = lse_cols(C, f, log_b, reg, xp=xp)
            cols = b * xp.exp((g - g_next) / reg)
            plan = (lambda f=f, g=g: xp.asarray(gibbs(C, f, g, reg, xp=xp)))
            if _check(mon, su, nit, cols=cols, f=f, g=g, plan=plan):
                break
    plan = xp.asarray(gibbs(C, f, g, reg, xp=xp))
    return finish_ot(mon, su, plan, f, g, nit=nit, nit_sinkhorn=nit,
                     numba=kernels_use_numba(SINKHORN_KERNELS, xp))


class _Scaling:
    """State of the scaling form: potentials ``(f, g)``, absorbed kernel ``K`` and scalings."""

    def __init__(self, su, f, g, gibbs):
        self.su, self.gibbs = su, gibbs
        self.n_absorb = self.n_rescue = 0
        self.absorb(f, g, count=False)

    def absorb(self, f, g, count=True):
        xp, su = self.su.xp, self.su
        self.f, self.g = f, g
        self.K = xp.asarray(self.gibbs(su.C, f, g, su.reg, xp=xp))
        self.u, self.v = xp.ones_like(su.a), xp.ones_like(su.b)
        self.KTu = None
        self.n_absorb += int(count)

    def potentials(self):
        xp, reg = self.su.xp, self.su.reg
        return self.f + reg * xp.log(self.u), self.g + reg * xp.log(self.v)


def _log_sweep(su, f, lse_rows, lse_cols):
    xp = su.xp
    g = lse_cols(su.C, f, su.log_b, su.reg, xp=xp)
    return lse_rows(su.C, g, su.log_a, su.reg, xp=xp), g


def _scaling_sweep(s, tau, lse_rows, lse_cols):
    """One sweep ``v = b / K^T u``, ``u = a / K v``, then absorption or a log-domain rescue.

    Returns False when even the log-domain redo is not finite (the state then holds the
    last finite potentials), else True.
    """
    su, xp = s.su, s.su.xp
    u_prev, v_prev = s.u, s.v
    KTu = s.K.T @ s.u if s.KTu is None else s.KTu
    s.v = su.b / KTu
    s.u = su.a / (s.K @ s.v)
    s.KTu = None
    # one host sync per sweep: the extreme scalings decide absorption / rescue
    hi = float(xp.maximum(xp.max(s.u), xp.max(s.v)))
    lo = float(xp.minimum(xp.min(s.u), xp.min(s.v)))
    if not (math.isfinite(hi) and lo > 0):
        # A row or column of K underflowed entirely: absorb the last finite scalings and
        # redo this sweep in the log domain, which cannot underflow.
        s.u, s.v = u_prev, v_prev
        f_last, g_last = s.potentials()
        f, g = _log_sweep(su, f_last, lse_rows, lse_cols)
        s.n_rescue += 1
        if not (bool(xp.all(xp.isfinite(f))) and bool(xp.all(xp.isfinite(g)))):
            return False
        s.absorb(f, g)
    elif hi > tau or lo < 1.0 / tau:
        # absorb the scalings into the potentials so they stay far from overflow
        s.absorb(*s.potentials())
    return True


def _solve_sinkhorn(a, b, C, reg, *, xp, callback=None, maxiter=1000, tol=1e-9, check_every=10,
                    tau=1e50, history=False, disp=False, warmstart=None):
    """Stabilised scaling-form Sinkhorn (see :func:`xpsolve.solve_ot`, ``method="sinkhorn"``)."""
    su = setup_ot(a, b, C, reg, xp, warmstart=warmstart, tol=tol, method="sinkhorn")
    lse_rows = get_kernel("ot_lse_update_rows", xp)
    lse_cols = get_kernel("ot_lse_update_cols", xp)
    gibbs = get_kernel("ot_gibbs", xp)
    mon = ot_monitor("sinkhorn", su, maxiter=maxiter, tol=tol, check_every=check_every,
                     history=history, disp=disp, callback=callback)
    extra = {"numba": kernels_use_numba(SINKHORN_KERNELS, xp)}
    if maxiter == 0:
        plan = xp.asarray(gibbs(su.C, su.f0, su.g0, reg, xp=xp))
        return finish_ot(mon, su, plan, su.f0, su.g0, nit=0, nit_sinkhorn=0, n_absorb=0,
                         n_log_rescue=0, **extra)
    # The first sweep runs in the log domain, so every row and column of the absorbed
    # kernel K = P(f, g) has an entry near its marginal and the scaling form starts
    # without underflow, whatever reg is.
    s = _Scaling(su, *_log_sweep(su, su.f0, lse_rows, lse_cols), gibbs)
    nit = 1
    while True:
        if mon.due(nit):
            # rows are exact after the u-update; K^T u is reused by the next v-update
            s.KTu = s.K.T @ s.u
            f, g = s.potentials()
            plan = (lambda f=f, g=g: xp.asarray(gibbs(su.C, f, g, reg, xp=xp)))
            if _check(mon, su, nit, cols=s.v * s.KTu, f=f, g=g, plan=plan):
                break
        if nit >= maxiter:
            break
        if not _scaling_sweep(s, tau, lse_rows, lse_cols):
            mon.stop(3, f"(non-finite potentials at sweep {nit + 1})")
            break
        nit += 1
    f, g = s.potentials()
    plan = xp.asarray(gibbs(su.C, f, g, reg, xp=xp))  # the plan at the absorbed potentials
    return finish_ot(mon, su, plan, f, g, nit=nit, nit_sinkhorn=nit, n_absorb=s.n_absorb,
                     n_log_rescue=s.n_rescue, **extra)


register_solver(SolverSpec(
    name="sinkhorn", family="ot", func=_solve_sinkhorn, metric="marginal_err",
    options={**COMMON_OPTIONS, "tau": [Interval(float, 1.0, None, closed="neither")]},
    kernels=SINKHORN_KERNELS, needs=frozenset(),
    summary="Sinkhorn-Knopp in scaling form with absorption into log potentials (stable for small reg).",
))
register_solver(SolverSpec(
    name="sinkhorn-log", family="ot", func=_solve_sinkhorn_log, options=dict(COMMON_OPTIONS),
    metric="marginal_err",
    kernels=SINKHORN_KERNELS, needs=frozenset(),
    summary="Sinkhorn-Knopp in the log domain (log-sum-exp updates of the dual potentials).",
))
