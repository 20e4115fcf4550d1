"""The pieces of Sinkhorn-Newton-Sparse: init, Sinkhorn bursts (stage 1 and fall-backs),
Newton system, line search, one Newton attempt.

:func:`xpsolve.solvers.ot._sns._solve_sns` strings them together::

    ctx = init(...)                       # problem, kernels, options, counters, Monitor
    st, stop = run_sweeps(ctx, f0, g0, None, n_sinkhorn, allow_switch=True)   # stage 1
    while not stop:
        stop = terminate(ctx, st)         # marginal error <= tol, or maxiter
        st, fail, stop = newton_attempt(ctx, st)   # system + CG + line search
        if fail: st, stop = fallback(ctx, st, fail)  # Sinkhorn sweeps
        stop = stop or stalled(ctx, st)

Units and the Newton system are described in :mod:`xpsolve.solvers.ot._sns`.
"""
from __future__ import annotations

import math

from ...backends import asarray_on, device, get_kernel, to_numpy
from ...backends._namespace import is_cupy_namespace
from . import _kernels  # noqa: F401  (registers the LSE kernels)
from . import _sns_kernels  # noqa: F401  (registers the SNS kernels)
from ._common import ot_monitor

_EPS = 2.220446049250313e-16
#: stagnation stop: err not reduced for this many Newton attempts while below _PRECISION_ERR
_STALL_STEPS = 5
_PRECISION_ERR = 1e-12
#: absorb the scalings of the scaling-form sweeps into the potentials beyond |log u| > this
_ABSORB = 50.0

#: Kernels SNS calls on its NumPy path (``SolverSpec.kernels``; the sparse ones run on the
#: host module, NumPy, for NumPy, array-api-strict and torch-CPU inputs).
NEWTON_KERNELS = ("ot_lse_update_rows", "ot_lse_update_cols", "sns_dual_pass")
HOST_KERNELS = ("sns_mass_histogram", "sns_topk_threshold", "sns_build_csr", "sns_csr_operator")
SNS_KERNELS = NEWTON_KERNELS + HOST_KERNELS


def _host_module(xp):
    """Module holding the sparse Newton system: NumPy (+ SciPy) on the host, CuPy on a GPU."""
    if is_cupy_namespace(xp):  # pragma: no cover - needs a GPU
        import cupy

        return cupy
    import numpy

    return numpy


def _to_host(a, xp, hp):
    if hp.__name__ == "cupy":  # pragma: no cover - needs a GPU
        return hp.asarray(a)
    return to_numpy(a)


def pcg(matvec, rhs, minv, rtol, maxiter, ns):
    """Preconditioned CG from 0 for an SPD operator; returns ``(x, iterations, status)``.

    ``status`` is 'converged', 'maxiter' or 'breakdown' (non-positive or
    non-finite curvature ``p^T A p``, i.e. the operator is not positive definite
    along ``p`` in floating point).
    """
    x = ns.zeros_like(rhs)
    bnorm = math.sqrt(float(ns.sum(rhs * rhs)))
    if bnorm == 0.0:
        return x, 0, "converged"
    r = rhs
    z = minv * r
    p = z
    rz = float(ns.sum(r * z))
    target = rtol * bnorm
    for k in range(maxiter):
        Ap = matvec(p)
        pAp = float(ns.sum(p * Ap))
        if not (math.isfinite(pAp) and pAp > 0.0):
            return x, k, "breakdown"
        alpha = rz / pAp
        x = x + alpha * p
        r = r - alpha * Ap
        rnorm = math.sqrt(float(ns.sum(r * r)))
        if not math.isfinite(rnorm):
            return x, k + 1, "breakdown"
        if rnorm <= target:
            return x, k + 1, "converged"
        z = minv * r
        rz_new = float(ns.sum(r * z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, maxiter, "maxiter"


def as_sparse_matrix(csr, shape, hp):
    if hp.__name__ == "cupy":  # pragma: no cover - needs a GPU
        import cupyx.scipy.sparse as sps
    else:
        import scipy.sparse as sps
    indptr, indices, data = csr
    return sps.csr_matrix((data, indices, indptr), shape=shape)


class State:
    """Potentials with their plan, marginals and scalars (one fused pass)."""

    __slots__ = ("f", "g", "P", "rows", "cols", "total", "dual", "scale", "err")

    def __init__(self, f, g, P, rows, cols, total, dual, scale, err):
        self.f, self.g, self.P, self.rows, self.cols = f, g, P, rows, cols
        self.total, self.dual, self.scale, self.err = total, dual, scale, err


class Context:
    """Everything fixed during a solve (problem, kernels, options) and the run's counters."""

    def __init__(self, su, opts, mon):
        self.su, self.opts, self.mon = su, opts, mon
        xp = su.xp
        self.xp, self.a, self.b, self.C, self.reg = xp, su.a, su.b, su.C, su.reg
        self.n, self.m = su.C.shape
        self.hp = _host_module(xp)
        self.dev = device(su.C)
        self.lse_rows = get_kernel("ot_lse_update_rows", xp)
        self.lse_cols = get_kernel("ot_lse_update_cols", xp)
        self.dual_pass = get_kernel("sns_dual_pass", xp)
        hp = self.hp
        self.mass_hist = get_kernel("sns_mass_histogram", hp)
        self.topk_thr = get_kernel("sns_topk_threshold", hp)
        self.build_csr = get_kernel("sns_build_csr", hp)
        self.csr_operator = get_kernel("sns_csr_operator", hp)
        n, m = self.n, self.m
        self.cg_cap = (n + m) if opts["cg_maxiter"] is None else int(opts["cg_maxiter"])
        td = opts["topk_density"]
        self.topk_frac = (2.0 / max(n, m)) if td is None else float(td)
        dense = opts["sparsify"] == "none"
        self.a_h = None if dense else _to_host(su.a, xp, hp)
        self.b_h = None if dense else _to_host(su.b, xp, hp)
        self.sum_b = float(xp.sum(su.b))
        self.nit_sinkhorn = self.nit_newton = self.cg_total = 0
        self.m_adapt = 1.0  # SSNS shift multiplier (shift='adaptive')
        self.n_fallback = self.n_cg_breakdown = self.n_ls_fail = self.n_err_accept = 0
        self.n_dense = 0
        self.densities = []
        self.pattern = None
        self.best_err, self.stall = math.inf, 0

    @property
    def nit(self):
        return self.nit_sinkhorn + self.nit_newton


def init(a, b, C, reg, xp, su, opts, callback):
    """The solve's :class:`Context` with its :class:`xpsolve._monitor.Monitor`."""
    mon = ot_monitor("sns", su, maxiter=opts["maxiter"], tol=opts["tol"],
                     check_every=opts["check_every"], history=opts["history"], disp=opts["disp"],
                     callback=callback, columns=("dual", "alpha", "cg_iters", "density"))
    return Context(su, opts, mon)


def evaluate(ctx, f, g):
    """The :class:`State` at ``(f, g)``: plan, marginals, dual value and error in one pass."""
    xp, a, b, reg = ctx.xp, ctx.a, ctx.b, ctx.reg
    P, rows, cols = ctx.dual_pass(ctx.C, f, g, reg, xp=xp)
    P, rows, cols = xp.asarray(P), xp.asarray(rows), xp.asarray(cols)
    total = float(xp.sum(rows))
    lin_a, lin_b = float(xp.sum(a * f)), float(xp.sum(b * g))
    dual = lin_a + lin_b - reg * total
    scale = abs(lin_a) + abs(lin_b) + reg * abs(total)
    err = float(xp.sum(xp.abs(rows - a)) + xp.sum(xp.abs(cols - b)))
    if not (math.isfinite(dual) and math.isfinite(err)):
        dual, err = -math.inf, math.inf
    return State(f, g, P, rows, cols, total, dual, scale, err)


def usable(ctx, st):
    """A kernel ``K = P(f, g)`` whose scaling sweeps cannot underflow, and a Newton system."""
    xp = ctx.xp
    return (st is not None and math.isfinite(st.total)
            and float(xp.min(st.rows / ctx.a)) > 1e-100
            and float(xp.min(st.cols / ctx.b)) > 1e-100)


# ------------------------------------------------------------------ check points
def record(ctx, stage, st, *, rows=None, cols=None, plan=None, alpha=None, cg=None, dens=None,
           accept=None):
    """A check point through the Monitor (history, disp, callback, tol, maxiter); True = stop.

    The callback's ``x`` is the plan at ``st`` (``plan`` when ``st`` carries none), ``fun``
    its primal objective, both computed only when someone looks.
    """
    su, mon = ctx.su, ctx.mon
    rows = st.rows if rows is None else rows
    cols = st.cols if cols is None else cols
    x = st.P if plan is None else plan
    f, g = st.f, st.g
    nan = math.nan
    stop = mon.check(
        ctx.nit, x=x, metric=st.err, fun=lambda: su.fun_from_marginals(rows, cols, f, g),
        dual=st.dual + su.shift * ctx.sum_b, alpha=nan if alpha is None else float(alpha),
        cg_iters=nan if cg is None else cg, density=nan if dens is None else float(dens),
        stage=stage, accept=accept, nit_sinkhorn=ctx.nit_sinkhorn, nit_newton=ctx.nit_newton,
        dual_fun=lambda: st.dual + su.shift * ctx.sum_b + ctx.reg * su.mass,
        potentials=lambda: su.public_potentials(f, g))
    h = mon.history
    if mon.keep_history and len(h.get("stage", ())) < len(h["nit"]):
        # text columns (the Monitor keeps numbers only), aligned with the check points
        h.setdefault("stage", []).append(stage)
        h.setdefault("accept", []).append(accept)
    return stop


def stage1_check(ctx, st, allow_switch, k, **plan_parts):
    """Stage-1 check point: 'stop' (Monitor decided), 'switch' (``switch_tol`` met) or None."""
    if record(ctx, "sinkhorn", st, **plan_parts):
        return "stop"
    tol = ctx.opts["switch_tol"]
    if allow_switch and tol is not None and k >= 20 and st.err <= tol:
        return "switch"
    return None


# ------------------------------------------------------------------ Sinkhorn bursts
def _log_sweep(ctx, f, g):
    xp, C, reg = ctx.xp, ctx.C, ctx.reg
    f = xp.asarray(ctx.lse_rows(C, g, ctx.su.log_a, reg, xp=xp))
    g = xp.asarray(ctx.lse_cols(C, f, ctx.su.log_b, reg, xp=xp))
    return f, g


def _scaling_burst(ctx, st, k, count, watch, allow_switch):
    """Scaling-form sweeps on the absorbed kernel ``K = P(f, g)``, two mat-vecs per sweep.

    Returns ``(state, k, code, force_log)``; ``state`` is None when the burst ended without
    an early stop (the caller evaluates the absorbed potentials).
    """
    xp, a, b, reg = ctx.xp, ctx.a, ctx.b, ctx.reg
    f, g, K = st.f, st.g, st.P
    u, v = xp.ones_like(a), xp.ones_like(b)
    force_log = False
    while k < count:
        u_new = a / (K @ v)
        v_new = b / (K.T @ u_new)
        lu, lv = xp.log(u_new), xp.log(v_new)
        big = max(float(xp.max(xp.abs(lu))), float(xp.max(xp.abs(lv))))
        if not math.isfinite(big):
            force_log = True
            break
        u, v = u_new, v_new
        ctx.nit_sinkhorn += 1
        k += 1
        if watch and ctx.nit_sinkhorn % ctx.opts["check_every"] == 0 and k < count:
            fc, gc = f + reg * lu, g + reg * lv
            rows = u * (K @ v)
            err = float(xp.sum(xp.abs(rows - a)))
            tot = float(xp.sum(b))
            lin_a, lin_b = float(xp.sum(a * fc)), float(xp.sum(b * gc))
            chk = State(fc, gc, None, None, None, tot, lin_a + lin_b - reg * tot, 0.0, err)
            code = stage1_check(ctx, chk, allow_switch, k, rows=rows, cols=b,
                                plan=lambda u=u, v=v: u[:, None] * K * v[None, :])
            if code is not None:
                return evaluate(ctx, fc, gc), k, code, False
        if big > _ABSORB:
            break
    return State(f + reg * xp.log(u), g + reg * xp.log(v), None, None, None, 0, 0, 0, 0), k, \
        None, force_log


def run_sweeps(ctx, f, g, st, count, *, allow_switch):
    """``count`` Sinkhorn sweeps from ``(f, g)`` (``st``: its state or None).

    Returns ``(state, code)``, ``code`` in {None, 'stop', 'switch', 'nonfinite'}.
    """
    opts, xp = ctx.opts, ctx.xp
    form, every = opts["sinkhorn_form"], opts["check_every"]
    watch = (opts["history"] or opts["disp"] or ctx.mon.callback is not None
             or (allow_switch and opts["switch_tol"] is not None))
    k = 0
    force_log = False
    while k < count:
        if form == "log" or force_log or not usable(ctx, st):
            # log-domain sweep (LSE kernels): cannot underflow
            f_new, g_new = _log_sweep(ctx, f, g)
            if not (bool(xp.all(xp.isfinite(f_new))) and bool(xp.all(xp.isfinite(g_new)))):
                return evaluate(ctx, f, g), "nonfinite"
            f, g = f_new, g_new
            ctx.nit_sinkhorn += 1
            k += 1
            force_log = False
            st = evaluate(ctx, f, g) if (form != "log" or
                                         (watch and ctx.nit_sinkhorn % every == 0)) else None
            if watch and ctx.nit_sinkhorn % every == 0 and k < count:
                code = stage1_check(ctx, st, allow_switch, k)
                if code is not None:
                    return st, code
            continue
        end, k, code, force_log = _scaling_burst(ctx, st, k, count, watch, allow_switch)
        if code is not None:
            return end, code
        f, g = end.f, end.g
        st = evaluate(ctx, f, g)
    if st is None:
        st = evaluate(ctx, f, g)
    if count > 0 and record(ctx, "sinkhorn", st):
        return st, "stop"
    return st, None


# ------------------------------------------------------------------ Newton system
def _shift_value(ctx, err, mean_diag):
    shift = ctx.opts["shift"]
    if shift == "gradient":
        return min(1e-3, err) * mean_diag
    if shift == "none":
        return 0.0
    if shift == "adaptive":
        return ctx.m_adapt * err * mean_diag
    return float(shift(err, mean_diag))


def _sparse_operator(ctx, st, err):
    """The kept entries of ``P`` as a CSR operator on the host, or None (dense step)."""
    opts, hp, n, m = ctx.opts, ctx.hp, ctx.n, ctx.m
    sparsify = opts["sparsify"]
    P_h = _to_host(st.P, ctx.xp, hp)
    if sparsify == "mass":
        delta = min(opts["mass_delta0"], opts["mass_nu"] * err) * st.total
        hist_k, emax = ctx.mass_hist(P_h, xp=hp)
        thr = _sns_kernels.cut_from_hist(hist_k, emax, delta)
    elif sparsify == "topk":
        thr = ctx.topk_thr(P_h, math.ceil(ctx.topk_frac * n * m), xp=hp)
    else:
        thr = float(sparsify(P_h, err))
    indptr, indices, data = ctx.build_csr(P_h, thr, xp=hp)
    dens = float(data.shape[0]) / (n * m)
    if dens > opts["max_density"]:
        return None, dens
    ctx.pattern = (indptr, indices, data)
    return ctx.csr_operator(indptr, indices, data, (n, m), xp=hp), dens


def _sparse_solve(ctx, st, op, s, rtol):
    """Newton direction with the sparsified Hessian (row block eliminated, PCG on the host)."""
    xp, hp, reg = ctx.xp, ctx.hp, ctx.reg
    rows_h = _to_host(st.rows, xp, hp)
    cols_h = _to_host(st.cols, xp, hp)
    gx_h, gy_h = ctx.a_h - rows_h, ctx.b_h - cols_h
    rinv = 1.0 / (rows_h + s)
    dc = cols_h + s
    rhs = reg * (gy_h - op.rmatvec(rinv * gx_h))
    minv = 1.0 / op.schur_diag(rinv, dc)
    dy_h, cg_it, cg_status = pcg(op.schur(rinv, dc), rhs, minv, rtol, ctx.cg_cap, hp)
    dx_h = rinv * (reg * gx_h - op.matvec(dy_h))
    dx = asarray_on(dx_h, xp, ctx.dev, ctx.C.dtype)
    dy = asarray_on(dy_h, xp, ctx.dev, ctx.C.dtype)

    def quad(dx, dy):
        # dz^T (H_S + s I) dz on the host
        u, v = _to_host(dx, xp, hp), _to_host(dy, xp, hp)
        return float(hp.sum((rows_h + s) * u * u) + 2.0 * hp.sum(u * op.matvec(v))
                     + hp.sum((cols_h + s) * v * v))

    return dx, dy, cg_it, cg_status, quad


def _dense_solve(ctx, st, s, rtol):
    """Newton direction with the exact dense Hessian (matrix-free, in ``xp``)."""
    xp, reg, P = ctx.xp, ctx.reg, st.P
    Gx, Gy = ctx.a - st.rows, ctx.b - st.cols
    rinv = 1.0 / (st.rows + s)
    dc = st.cols + s
    rhs = reg * (Gy - P.T @ (rinv * Gx))
    minv = 1.0 / (dc - xp.sum(P * P * rinv[:, None], axis=0))

    def mv(v):
        return dc * v - P.T @ (rinv * (P @ v))

    dy, cg_it, cg_status = pcg(mv, rhs, minv, rtol, ctx.cg_cap, xp)
    dx = rinv * (reg * Gx - P @ dy)

    def quad(dx, dy):
        return float(xp.sum((st.rows + s) * dx * dx) + 2.0 * xp.sum(dx * (P @ dy))
                     + xp.sum((st.cols + s) * dy * dy))

    return dx, dy, cg_it, cg_status, quad


def newton_direction(ctx, st):
    """Shifted (sparsified) Newton system solved by PCG: ``(dx, dy, cg_it, cg_status, quad, dens)``."""
    err = st.err
    mean_diag = 2.0 * st.total / (ctx.n + ctx.m)
    s = _shift_value(ctx, err, mean_diag)
    cg_tol = ctx.opts["cg_tol"]
    rtol = max(min(0.1, err), 1e-12) if cg_tol is None else float(cg_tol)
    op, dens = None, None
    if ctx.opts["sparsify"] != "none":
        op, dens = _sparse_operator(ctx, st, err)
    if op is not None:
        dx, dy, cg_it, cg_status, quad = _sparse_solve(ctx, st, op, s, rtol)
    else:
        ctx.n_dense += 1
        if dens is None:
            dens = 1.0
        dx, dy, cg_it, cg_status, quad = _dense_solve(ctx, st, s, rtol)
    return dx, dy, cg_it, cg_status, quad, dens


# ------------------------------------------------------------------ line search
def line_search(ctx, st, dx, dy, slope, quad):
    """Backtracking on the dual (Armijo), or the SSNS ratio test for ``shift='adaptive'``.

    Once the dual gain is below float64 resolution the test switches to a decrease of
    the marginal error. Returns ``(state or None, how, alpha)`` and
    updates the adaptive shift multiplier.
    """
    opts = ctx.opts
    adaptive = opts["shift"] == "adaptive"
    floor = 1e3 * _EPS * max(st.scale, abs(st.dual))
    new = how = None
    if adaptive:
        # SSNS rule: ratio q of actual to predicted increase of the model
        # alpha * slope - alpha^2 / (2 reg) * dz^T (H_S + s I) dz
        curv = quad(dx, dy) / ctx.reg
        alphas = (1.0, 0.5, 0.25, 0.1)
    else:
        alphas = [0.5 ** k for k in range(opts["ls_maxiter"] + 1)]
    q = None
    alpha = None
    for alpha in alphas:
        trial = evaluate(ctx, st.f + alpha * dx, st.g + alpha * dy)
        if math.isfinite(trial.dual):
            gain = trial.dual - st.dual
            if abs(gain) <= floor:
                if trial.err < st.err:
                    new, how = trial, "marginal"
                    break
            elif adaptive:
                pred = alpha * slope - 0.5 * alpha * alpha * curv
                q = gain / pred if pred > 0 else -1.0
                if q > 0:
                    new, how = trial, "ratio"
                    break
            elif gain >= opts["ls_c1"] * alpha * slope:
                new, how = trial, "armijo"
                break
    if adaptive:
        if new is None or (q is not None and q < 0.25):
            ctx.m_adapt *= 4.0
        elif q is not None and q > 0.75:
            ctx.m_adapt = max(0.5 * ctx.m_adapt, 1e-3)
    return new, how, alpha


# ------------------------------------------------------------------ one Newton attempt
def newton_attempt(ctx, st):
    """One Newton attempt from ``st``: returns ``(state, fail, stop)``.

    ``fail`` is None, 'cg' (no system: an underflowed row/column, or CG breakdown / no
    ascent direction) or 'linesearch'; ``stop`` is True when the Monitor ended the run
    at the accepted step's check point.
    """
    xp = ctx.xp
    ctx.nit_newton += 1
    if not usable(ctx, st):
        return st, "cg", False  # a row or column of P underflowed: no Newton system; use Sinkhorn
    dx, dy, cg_it, cg_status, quad, dens = newton_direction(ctx, st)
    ctx.cg_total += cg_it
    ctx.densities.append(dens)
    # Remove the gauge component along (1, -1): it changes neither P nor D.
    t = (float(xp.sum(dx)) - float(xp.sum(dy))) / (ctx.n + ctx.m)
    dx, dy = dx - t, dy + t
    Gx, Gy = ctx.a - st.rows, ctx.b - st.cols
    slope = float(xp.sum(Gx * dx) + xp.sum(Gy * dy))
    if cg_status == "breakdown" or not (math.isfinite(slope) and slope > 0.0):
        ctx.n_cg_breakdown += 1
        return st, "cg", False
    new, how, alpha = line_search(ctx, st, dx, dy, slope, quad)
    if new is None:
        ctx.n_ls_fail += 1
        # the adaptive shift answers a rejected step by a larger shift, not Sinkhorn
        return st, (None if ctx.opts["shift"] == "adaptive" else "linesearch"), False
    if how == "marginal":
        ctx.n_err_accept += 1
    stop = record(ctx, "newton", new, alpha=alpha, cg=cg_it, dens=dens, accept=how)
    return new, None, stop


def fallback(ctx, st, fail):
    """Sinkhorn sweeps after a failed Newton step (status 2 when ``fallback_sinkhorn=0``)."""
    opts, mon = ctx.opts, ctx.mon
    if opts["fallback_sinkhorn"] == 0:
        why = "line search" if fail == "linesearch" else "CG breakdown"
        return st, mon.stop(2, f"(Newton step {ctx.nit_newton} failed ({why}) and "
                               f"fallback_sinkhorn=0; marginal error {st.err:.3e})")
    ctx.n_fallback += 1
    budget = min(opts["fallback_sinkhorn"], opts["maxiter"] - ctx.nit)
    st2, code = run_sweeps(ctx, st.f, st.g, st, budget, allow_switch=False)
    if code == "nonfinite":  # keep the state before the burst (its last finite plan)
        return st, mon.stop(3, f"(non-finite potentials in Sinkhorn sweep {ctx.nit_sinkhorn + 1})")
    return st2, code is not None


def terminate(ctx, st):
    """Loop-top tests (between check points): marginal error within ``tol``, or ``maxiter``."""
    mon, opts = ctx.mon, ctx.opts
    if st.err <= opts["tol"]:
        return mon.stop(0)
    if ctx.nit >= opts["maxiter"]:
        return mon.stop(1, f"({opts['maxiter']} iterations: {ctx.nit_sinkhorn} Sinkhorn sweeps, "
                           f"{ctx.nit_newton} Newton steps; marginal error {st.err:.3e})")
    return False


def run(ctx):
    """Stage 1, then Newton attempts until a stop; returns the final :class:`State`."""
    opts = ctx.opts
    # Stage 1: Sinkhorn sweeps (the paper's N1)
    st, code = run_sweeps(ctx, ctx.su.f0, ctx.su.g0, None, min(opts["n_sinkhorn"], opts["maxiter"]),
                          allow_switch=True)
    stop = code in ("stop", "nonfinite")
    if code == "nonfinite":
        ctx.mon.stop(3, f"(non-finite potentials in Sinkhorn sweep {ctx.nit_sinkhorn + 1})")
    # Stage 2: Newton attempts, Sinkhorn fall-backs after a failed one
    while not stop:
        if terminate(ctx, st):
            break
        st, fail, stop = newton_attempt(ctx, st)
        if stop:
            break
        if fail is not None:
            st, stop = fallback(ctx, st, fail)
            if stop:
                break
        stop = stalled(ctx, st)
    return st


def stalled(ctx, st):
    """Status 2 when the error stays above ``tol`` but below 1e-12 for 5 Newton attempts."""
    if st.err < ctx.best_err:
        ctx.best_err, ctx.stall = st.err, 0
        return False
    ctx.stall += 1
    if ctx.stall >= _STALL_STEPS and st.err < _PRECISION_ERR:
        return ctx.mon.stop(2, f"(precision limit: marginal error {st.err:.3e} not reduced "
                               f"in {_STALL_STEPS} Newton steps)")
    return False
