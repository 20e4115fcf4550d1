"""Robust alternating minimization (Gu, Song, Yin, Zhang, ICLR 2024) with exact / CG / sketch solves.

Init / step / finish functions around :class:`xpsolve._monitor.Monitor`; the per-row
least-squares solves are the kernels of ``_kernels.py`` (generic, batched) and
``_numba_kernels.py`` (Numba twins for NumPy input).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math

import numpy as np

from ..._monitor import Monitor
from ..._options import Interval, IsArray, IsInstance, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ...backends import get_kernel, namespace_name
from ...backends._kernels import kernel_uses_numba
from . import _kernels  # noqa: F401  (registers the kernels)
from ._data import Side, _to


class Predictor:
    """``predict(rows, cols)``: completed entries, row-wise ``U[rows]`` times ``V[cols]`` (picklable)."""

    def __init__(self, U, V, xp):
        self.U, self.V, self.xp = U, V, xp

    def __call__(self, rows, cols):
        xp = self.xp
        r = xp.asarray(rows)
        c = xp.asarray(cols)
        return xp.sum(xp.take(self.U, r, axis=0) * xp.take(self.V, c, axis=0), axis=1)

    def __getstate__(self):
        return {"U": self.U, "V": self.V}

    def __setstate__(self, st):
        from ...backends import get_namespace

        self.U, self.V = st["U"], st["V"]
        self.xp = get_namespace(self.U)


@dataclasses.dataclass
class _Part:
    """One set of observations (all of Omega, or one part of the sample split)."""

    rows: Side
    cols: Side
    lam_r: object
    lam_c: object
    sk_r: tuple = None
    sk_c: tuple = None


def _make_part(obs, sel, ridge, scaling, s, rng, xp):
    m, n = obs.shape
    if sel is None:
        r, c, vals = obs.rows, obs.cols, obs.values
    else:
        keep = np.nonzero(sel)[0]
        r, c = obs.rows[keep], obs.cols[keep]
        vals = xp.take(obs.values, _to(keep, xp, obs.device), axis=0)
    row_side = Side(m, r, c, vals, xp, obs.device)
    col_side = Side(n, c, r, vals, xp, obs.device)
    dt = obs.values.dtype

    def lam(side):
        base = side.counts.astype(np.float64) if scaling == "count" else np.ones(side.n_rows)
        return xp.astype(_to(ridge * base, xp, obs.device), dt)

    def sketch(side):   # one CountSketch per row (hash + sign per entry), drawn at set-up
        b = rng.integers(0, s, size=side.nnz)
        g = rng.integers(0, 2, size=side.nnz) * 2.0 - 1.0
        if namespace_name(xp) == "numpy":
            return b, g
        return _to(b, xp, obs.device), xp.astype(_to(g, xp, obs.device), dt)

    return _Part(row_side, col_side, lam(row_side), lam(col_side), sketch(row_side),
                 sketch(col_side))


@dataclasses.dataclass
class _State:
    U: object
    V: object
    nit: int = 0
    rel_change: float = math.nan
    rel_changes: list = dataclasses.field(default_factory=list)
    inner: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    test_rmses: list = dataclasses.field(default_factory=list)


def _qr(A, xp):
    Q, R = xp.linalg.qr(A)
    return Q, R


def _svd_init(part, k, scale, rng, xp, dev, dtype, n_power=4):
    """Top-k SVD of ``scale * P_Omega(M)`` by randomized subspace iteration (sparse products)."""
    spmm = get_kernel("completion_spmm", xp)
    m, n = part.rows.n_rows, part.cols.n_rows
    ell = min(k + 10, m, n)
    Y = spmm(part.rows, xp.astype(_to(rng.standard_normal((n, ell)), xp, dev), dtype), xp=xp)
    for _ in range(n_power):
        Q, _r = _qr(Y, xp)
        Z, _r = _qr(spmm(part.cols, Q, xp=xp), xp)
        Y = spmm(part.rows, Z, xp=xp)
    Q, _r = _qr(Y, xp)
    B = xp.matrix_transpose(spmm(part.cols, Q, xp=xp))            # (ell, n) = Q^T P(M)
    Ub, _s, _vt = xp.linalg.svd(B, full_matrices=False)
    return Q @ Ub[:, :k]


def _init(obs, parts, k, init, clip, rng, xp):
    m, n = obs.shape
    dev, dt = obs.device, obs.values.dtype
    p0 = parts[0]
    scale = (m * n) / max(p0.rows.nnz, 1)
    if init == "svd":
        U = _svd_init(p0, k, scale, rng, xp, dev, dt)
    else:
        U = xp.astype(_to(rng.standard_normal((m, k)), xp, dev), dt)
    if clip is not None:   # zero rows of U_0 whose norm exceeds clip * sqrt(k/m), then QR
        norms = xp.sqrt(xp.sum(U * U, axis=1))
        U = xp.where((norms > clip * math.sqrt(k / m))[:, None], 0.0 * U, U)
    U, _r = _qr(U, xp)
    V = get_kernel("completion_spmm", xp)(p0.cols, U, xp=xp) * scale
    return _State(U=U, V=V)


def _factored_diff(U1, V1, U2, V2, xp):
    """(||U1 V1^T - U2 V2^T||_F, ||U1 V1^T||_F) from a QR of [V1, V2]: O((m+n) k^2)."""
    k = V1.shape[1]
    _q, R = _qr(xp.concat([V1, V2], axis=1), xp)
    D = xp.concat([U1, -U2], axis=1) @ xp.matrix_transpose(R)
    N1 = U1 @ xp.matrix_transpose(R[:k, :k])
    return xp.sqrt(xp.sum(D * D)), xp.sqrt(xp.sum(N1 * N1))


def _half_step(side, F, X0, lam, sk, opts, cg_tol, xp):
    """Solve every row of ``side`` for the fixed factor ``F``; returns (X, inner iterations)."""
    solver, k = opts["solver"], F.shape[1]
    if not opts["warm_start"]:
        X0 = 0.0 * X0
    if solver == "exact":
        X, it = get_kernel("completion_rowsolve_exact", xp)(side, F, X0, lam, xp=xp)
    elif solver == "cg":
        steps = opts["cg_steps"]
        tol, maxit = (0.0, steps) if steps is not None else (cg_tol, opts["cg_maxiter"] or k)
        X, it = get_kernel("completion_rowsolve_cg", xp)(side, F, X0, lam, tol=tol, maxit=maxit,
                                                         xp=xp)
    else:
        s = opts["sketch_factor"] * k
        X, it = get_kernel("completion_rowsolve_sketch", xp)(
            side, F, X0, lam, tol=cg_tol, maxit=opts["cg_maxiter"] or k, bucket=sk[0],
            sign=sk[1], s=s, min_rows=int(math.ceil(opts["sketch_min_ratio"] * s)), xp=xp)
    return X, int(xp.sum(it)) if not isinstance(it, np.ndarray) else int(it.sum())


def _step(state, part_v, part_u, opts, xp):
    """One outer iteration: V-half-step (U fixed, orthonormal), then U-half-step."""
    U, V = state.U, state.V
    U_prev, V_prev = U, V
    cg_tol = opts["cg_tol"]
    if cg_tol is None:   # (measured) 1e-3 x the last outer relative change, floor 1e-12
        last = state.rel_change if math.isfinite(state.rel_change) else 1.0
        cg_tol = max(1e-3 * last, 1e-12)
    if opts["orthonormalize"]:
        U, R = _qr(U, xp)
        V = V @ xp.matrix_transpose(R)
    V, it_v = _half_step(part_v.cols, U, V, part_v.lam_c, part_v.sk_c, opts, cg_tol, xp)
    if opts["orthonormalize"]:
        V, R = _qr(V, xp)
        U = U @ xp.matrix_transpose(R)
    U, it_u = _half_step(part_u.rows, V, U, part_u.lam_r, part_u.sk_r, opts, cg_tol, xp)
    diff, norm = _factored_diff(U, V, U_prev, V_prev, xp)
    rel = float(diff / norm) if float(norm) > 0 else float(diff)
    state.U, state.V, state.nit = U, V, state.nit + 1
    state.rel_change = rel
    state.rel_changes.append(rel)
    state.inner.append(it_v + it_u)
    return state


def _error(state, truth, xp):
    if truth is None:
        return None
    if isinstance(truth, tuple):
        d, nrm = _factored_diff(truth[0], truth[1], state.U, state.V, xp)
        return float(d / nrm)
    D = state.U @ xp.matrix_transpose(state.V) - truth
    return float(xp.sqrt(xp.sum(D * D)) / xp.sqrt(xp.sum(truth * truth)))


def _test_rmse(state, test_set, xp):
    if test_set is None:
        return None
    r, c, v = test_set
    pred = xp.sum(xp.take(state.U, r, axis=0) * xp.take(state.V, c, axis=0), axis=1)
    return float(xp.sqrt(xp.mean((pred - v) ** 2)))


def _parts(obs, partition, T, ridge, scaling, s, rng, xp):
    if not partition:
        full = _make_part(obs, None, ridge, scaling, s, rng, xp)
        return [full], (lambda t: full), (lambda t: full)
    nparts = 2 * T + 1
    label = rng.integers(0, nparts, size=obs.nnz)
    parts = [_make_part(obs, label == q, ridge, scaling, s, rng, xp) for q in range(nparts)]
    return parts, (lambda t: parts[1 + t]), (lambda t: parts[T + 1 + t])


def _solve_altmin(obs, rank, *, xp, callback=None, maxiter=50, tol=1e-10, seed=None,
                  check_every=1, history=False, disp=False, solver="exact", partition=False,
                  init="svd", clip=None, ridge=0.0, ridge_scaling="none", orthonormalize=None,
                  warm_start=True, cg_tol=None, cg_maxiter=None, cg_steps=None, sketch_factor=4,
                  sketch_min_ratio=10.0, truth=None, test_set=None):
    """Robust alternating minimization; see :func:`xpsolve.complete_matrix`."""
    k = int(rank)
    if orthonormalize is None:   # QR changes a ridge objective (not invariant to U A, V A^-T)
        orthonormalize = not ridge > 0
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    opts = dict(solver=solver, warm_start=warm_start, orthonormalize=orthonormalize,
                cg_tol=cg_tol, cg_maxiter=cg_maxiter, cg_steps=cg_steps,
                sketch_factor=sketch_factor, sketch_min_ratio=sketch_min_ratio)
    if partition and maxiter < 1:
        raise ValueError("partition=True needs maxiter >= 1 (the samples are split into "
                         "2 * maxiter + 1 parts)")
    truth = obs.check_truth(truth, xp)
    test_set = obs.check_test_set(test_set, xp)
    parts, part_v, part_u = _parts(obs, partition, maxiter, float(ridge), ridge_scaling,
                                   sketch_factor * k, rng, xp)
    state = _init(obs, parts, k, init, clip, rng, xp)
    if not orthonormalize:   # balanced start: equal column norms in U and V
        c = xp.sqrt(xp.sqrt(xp.sum(state.V * state.V, axis=0)))
        c = xp.where(c > 0, c, 1.0 + 0.0 * c)
        state.U, state.V = state.U * c, state.V / c
    mon = Monitor("altmin", xp=xp, maxiter=maxiter, tol=tol, metric="rel_change",
                  check_every=check_every, history=history, disp=disp, callback=callback,
                  columns=("rmse",))
    res_side = parts[0].rows if not partition else Side(obs.shape[0], obs.rows, obs.cols,
                                                          obs.values, xp, obs.device)
    res_kernel = get_kernel("completion_residual_sq", xp)

    def fun():
        return 0.5 * res_kernel(res_side, state.U, state.V, xp=xp)

    def rmse():
        return xp.sqrt(2.0 * fun() / max(obs.nnz, 1))

    while maxiter > 0:
        state = _step(state, part_v(state.nit), part_u(state.nit), opts, xp)
        extras = {}
        err, trm = _error(state, truth, xp), _test_rmse(state, test_set, xp)
        if err is not None:
            state.errors.append(err)
            extras["error"] = err
        if trm is not None:
            state.test_rmses.append(trm)
            extras["test_rmse"] = trm
        if mon.due(state.nit) and mon.check(
                state.nit, x=lambda: xp.concat([state.U, state.V], axis=0), fun=fun,
                metric=state.rel_change, rmse=rmse, U=state.U, V=state.V, **extras):
            break
    return _finish(state, obs, mon, fun, rmse, truth, test_set, parts, k, opts, xp)


def _finish(state, obs, mon, fun, rmse, truth, test_set, parts, k, opts, xp):
    U, V = state.U, state.V
    if mon.status == 3 and mon.last_finite is not None:   # return the last finite iterate
        U, V = mon.last_finite["U"], mon.last_finite["V"]
    cr, cc = obs.counts()
    deficient_r = np.nonzero((cr > 0) & (cr < k))[0]
    deficient_c = np.nonzero((cc > 0) & (cc < k))[0]
    kname = {"exact": "completion_rowsolve_exact", "cg": "completion_rowsolve_cg",
             "sketch": "completion_rowsolve_sketch"}[opts["solver"]]
    extra = {}
    if truth is not None:
        extra.update(error=state.errors[-1] if state.errors else _error(state, truth, xp),
                     error_history=list(state.errors))
    if test_set is not None:
        extra.update(test_rmse=state.test_rmses[-1] if state.test_rmses else
                     _test_rmse(state, test_set, xp), test_rmse_history=list(state.test_rmses))
    return mon.finish(
        x=xp.concat([U, V], axis=0), fun=float(fun()), nit=state.nit,
        metric=state.rel_change if state.nit > 0 else None, U=U, V=V,
        predict=Predictor(U, V, xp), rmse=float(rmse()), rel_changes=list(state.rel_changes),
        inner_iters=list(state.inner), solver=opts["solver"], cg_steps=opts["cg_steps"],
        deficient_rows=_to(deficient_r, xp, obs.device),
        deficient_cols=_to(deficient_c, xp, obs.device),
        n_empty=(int((cr == 0).sum()), int((cc == 0).sum())),
        numba=kernel_uses_numba(kname, xp), **extra)


OPTIONS = standard_options(
    "maxiter", "tol", "seed", "check_every", "history", "disp",
    solver=[OneOf("exact", "cg", "sketch")],
    partition=[OneOf(True, False)],
    init=[OneOf("svd", "random")],
    clip=[OneOf(None), Interval(float, 0, None, closed="neither")],
    ridge=[Interval(float, 0, None)],
    ridge_scaling=[OneOf("none", "count")],
    orthonormalize=[OneOf(None, True, False)],
    warm_start=[OneOf(True, False)],
    cg_tol=[OneOf(None), Interval(float, 0, None, closed="neither")],
    cg_maxiter=[OneOf(None), Interval(int, 1, None)],
    cg_steps=[OneOf(None), Interval(int, 1, None)],
    sketch_factor=[Interval(int, 1, None)],
    sketch_min_ratio=[Interval(float, 0, None)],
    truth=[OneOf(None), IsArray("an (m, n) array"),
           IsInstance(tuple, description="a pair (L, R) of factors with M = L R^T")],
    test_set=[OneOf(None), IsInstance(tuple, description="a triple (rows, cols, values)")],
)


def _variant(**defaults):
    """``_solve_altmin`` with other defaults (registered as its own method name)."""

    @functools.wraps(_solve_altmin)
    def solve(*args, **kwargs):
        for key, v in defaults.items():
            kwargs.setdefault(key, v)
        return _solve_altmin(*args, **kwargs)

    sig = inspect.signature(_solve_altmin)
    solve.__signature__ = sig.replace(parameters=[
        p.replace(default=defaults[p.name]) if p.name in defaults else p
        for p in sig.parameters.values()])
    return solve


_NS = ("numpy", "array_api_strict", "torch", "cupy")
_KERNELS = ("completion_rowsolve_exact", "completion_rowsolve_cg", "completion_rowsolve_sketch",
            "completion_spmm", "completion_residual_sq")

register_solver(SolverSpec(
    metric="rel_change",
    name="altmin", family="completion", func=_solve_altmin, options=OPTIONS, namespaces=_NS,
    kernels=_KERNELS, summary="Alternating minimization for matrix completion (Jain-Netrapalli-Sanghavi "
    "2013; robust inexact solves of Gu-Song-Yin-Zhang 2024); solver='exact'|'cg'|'sketch'"))
register_solver(SolverSpec(
    metric="rel_change",
    name="altmin-cg", family="completion", func=_variant(solver="cg"), options=OPTIONS,
    namespaces=_NS, kernels=_KERNELS,
    summary="altmin with tolerance-based warm-started CG per row (solver='cg')"))
register_solver(SolverSpec(
    metric="rel_change",
    name="altmin-sketch", family="completion", func=_variant(solver="sketch"), options=OPTIONS,
    namespaces=_NS, kernels=_KERNELS,
    summary="altmin with CountSketch-preconditioned CG per row (solver='sketch', Gu et al. 2024)"))
register_solver(SolverSpec(
    metric="rel_change",
    name="altmin-cg3", family="completion", func=_variant(solver="cg", cg_steps=3),
    options=OPTIONS, namespaces=_NS, kernels=_KERNELS,
    summary="altmin with a FIXED 3 CG steps per row (the implicit/cmfrec default; stalls on "
            "ill-conditioned problems; for comparison)"))
