"""Benchmark of Sinkhorn-Newton-Sparse against Sinkhorn baselines (SNS spec, section 7).

Usage::

    PYTHONPATH=. python benchmarks/bench_ot_sns.py [--quick] [--kernels] [--out results.json]

Problems (xpsolve.problems): P1 ``ot/random_assignment`` (n=500, eta=1200, seeds 0-4),
P2 ``ot/uniform_point_clouds`` (n=1000, reg=1e-3, seed 0), P3 ``ot/grid_densities``
(28x28, eta=1200, 'sqeuclidean' with N1=20 and 'l1' with N1=700).

Solvers: xpsolve ``sns`` (default 'mass' rule, and the paper's 'topk' rule with density
2/n), xpsolve ``sinkhorn`` (stabilised scaling form) and ``sinkhorn-log``, POT
``sinkhorn_log`` and RegOT ``sinkhorn_ssns`` when installed.

Metrics: L1 marginal error ``||P1 - a||_1 + ||P^T 1 - b||_1`` recomputed from the plan,
iterations (Sinkhorn sweeps + Newton steps) and seconds to reach 1e-8 and 1e-12 (from the
solvers' histories), transport cost <C, P>.

Slow baselines are capped and extrapolated, and the tables say so: ``sinkhorn-log`` and
POT ``sinkhorn_log`` perform the same sweeps as ``sinkhorn`` in exact arithmetic, so their
time to a tolerance is estimated as (measured seconds per sweep) x (sweeps that
``sinkhorn`` needed for that tolerance). SNS timings: median of 3 runs after a warm-up
(Numba compilation excluded); baselines: one run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

from xpsolve import solve_ot
from xpsolve.problems import get_problem

THRESHOLDS = (1e-8, 1e-12)


def l1_err(P, a, b):
    P = np.asarray(P)
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def first_reach(errs, values, thr):
    for e, v in zip(errs, values):
        if e <= thr:
            return v
    return None


def run_sns(d, n1, sparsify, repeats, tol=1e-12, max_newton=100, extra=None):
    # maxiter counts sweeps and Newton steps together: N1 + N2 with the paper's N2 = 100
    opts = dict(tol=tol, n_sinkhorn=n1, sparsify=sparsify, history=True, maxiter=n1 + max_newton)
    opts.update(extra or {})
    times, res = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        res = solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sns", options=opts)
        times.append(time.perf_counter() - t)
    h = res.history
    # iteration count at each history record = sweeps + Newton steps so far
    its = h["nit"]
    out = dict(solver=f"xpsolve sns ({sparsify})", status=res.status, seconds=statistics.median(times),
               nit_sinkhorn=res.nit_sinkhorn, nit_newton=res.nit_newton, cg_iters=res.cg_iters,
               mean_density=float(np.mean(res.density)) if res.density else None,
               n_fallback=res.n_fallback, err=l1_err(res.plan, d["a"], d["b"]), cost=res.cost,
               newton_errs=[e for e, s in zip(h["marginal_err"], h["stage"]) if s == "newton"])
    scale = out["seconds"] / max(h["time"][-1], 1e-12)  # history times of the last run -> median
    for thr in THRESHOLDS:
        it = first_reach(h["marginal_err"], its, thr)
        tt = first_reach(h["marginal_err"], h["time"], thr)
        out[f"it_{thr:g}"] = it
        out[f"s_{thr:g}"] = None if tt is None else tt * scale
    return out


def run_sinkhorn(d, maxiter, tol=1e-12):
    t = time.perf_counter()
    res = solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sinkhorn",
                   options=dict(tol=tol, maxiter=maxiter, history=True, check_every=10))
    sec = time.perf_counter() - t
    h = res.history
    out = dict(solver="xpsolve sinkhorn (stabilised)", status=res.status, seconds=sec, nit=res.nit,
               err=l1_err(res.plan, d["a"], d["b"]), cost=res.cost, per_sweep=sec / max(res.nit, 1))
    for thr in THRESHOLDS:
        out[f"it_{thr:g}"] = first_reach(h["marginal_err"], h["nit"], thr)
        out[f"s_{thr:g}"] = first_reach(h["marginal_err"], h["time"], thr)
    # extrapolate a missing threshold from the observed linear rate over the last decade
    errs, nits = np.array(h["marginal_err"]), np.array(h["nit"])
    for thr in THRESHOLDS:
        if out[f"it_{thr:g}"] is None and len(errs) > 20 and errs[-1] > thr:
            k = len(errs) // 2
            rate = (math.log(errs[-1]) - math.log(errs[k])) / (nits[-1] - nits[k])
            if rate < 0:
                extra = (math.log(thr) - math.log(errs[-1])) / rate
                out[f"it_{thr:g}"] = f"~{int(nits[-1] + extra)} (extrapolated)"
                out[f"s_{thr:g}"] = f"~{(nits[-1] + extra) * out['per_sweep']:.1f} (extrapolated)"
    return out


def run_capped(name, fn, sweeps, ref):
    """Time ``sweeps`` sweeps of a slow log-domain Sinkhorn; extrapolate with ``ref``'s counts."""
    t = time.perf_counter()
    P = fn(sweeps)
    sec = time.perf_counter() - t
    per = sec / sweeps
    out = dict(solver=name, capped_sweeps=sweeps, seconds=sec, per_sweep=per,
               err_at_cap=l1_err(P, *ref["ab"]))
    for thr in THRESHOLDS:
        it = ref["sink"].get(f"it_{thr:g}")
        if isinstance(it, str):
            it = float(it.strip("~").split()[0])
        out[f"it_{thr:g}"] = it
        out[f"s_{thr:g}"] = None if it is None else f"~{it * per:.1f} (extrapolated)"
    return out


def run_regot(d, tol=1e-12, max_iter=2000):
    try:
        import regot
    except Exception as exc:  # pragma: no cover
        return dict(solver="RegOT sinkhorn_ssns", skipped=f"not installed ({exc})")
    a, b, C = d["a"], d["b"], np.asfortranarray(d["C"])
    t = time.perf_counter()
    r = regot.sinkhorn_ssns(C, a, b, d["reg"], tol=tol, max_iter=max_iter)
    sec = time.perf_counter() - t
    P = np.asarray(r.plan)
    out = dict(solver="RegOT sinkhorn_ssns", seconds=sec, nit=r.niter, err=l1_err(P, a, b),
               cost=float((P * d["C"]).sum()))
    # RegOT records its own marginal error (its norm) and run times in ms
    errs, rt = list(r.mar_errs), list(r.run_times)
    for thr in THRESHOLDS:
        it = first_reach(errs, range(len(errs)), thr)
        out[f"it_{thr:g}"] = it
        out[f"s_{thr:g}"] = None if it is None else rt[it] / 1e3
    return out


def pot_capped(d, sweeps):
    import ot

    def fn(k):
        return ot.sinkhorn(d["a"], d["b"], d["C"], d["reg"], method="sinkhorn_log",
                           numItermax=k, stopThr=1e-15, warn=False)
    return fn


def xps_log_capped(d):
    def fn(k):
        return solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sinkhorn-log",
                        options=dict(maxiter=k, tol=1e-15)).plan
    return fn


def case(label, d, n1, *, sink_maxiter, pot_sweeps, log_sweeps, repeats, regot_ok=True,
         faithful=True):
    print(f"\n=== {label} ===", flush=True)
    rows = []
    sns = run_sns(d, n1, "mass", repeats)
    rows.append(sns)
    print(_fmt(sns), flush=True)
    if faithful:
        r = run_sns(d, n1, "topk", 1)
        rows.append(r)
        print(_fmt(r), flush=True)
    sink = run_sinkhorn(d, sink_maxiter)
    rows.append(sink)
    print(_fmt(sink), flush=True)
    ref = {"sink": sink, "ab": (d["a"], d["b"])}
    if log_sweeps:
        r = run_capped("xpsolve sinkhorn-log (capped)", xps_log_capped(d), log_sweeps, ref)
        rows.append(r)
        print(_fmt(r), flush=True)
    if pot_sweeps:
        try:
            r = run_capped("POT sinkhorn_log (capped)", pot_capped(d, pot_sweeps), pot_sweeps, ref)
        except ImportError as exc:  # pragma: no cover
            r = dict(solver="POT sinkhorn_log", skipped=str(exc))
        rows.append(r)
        print(_fmt(r), flush=True)
    if regot_ok:
        r = run_regot(d)
        rows.append(r)
        print(_fmt(r), flush=True)
    # transport-cost agreement with the Sinkhorn reference where both converged
    for r in rows:
        if "cost" in r and sink["err"] <= 1e-10 and r.get("err", 1) <= 1e-10:
            r["cost_rel_diff_vs_sinkhorn"] = abs(r["cost"] - sink["cost"]) / abs(sink["cost"])
    return rows


def _fmt(r):
    keys = ("solver", "status", "seconds", "nit", "nit_sinkhorn", "nit_newton", "cg_iters",
            "mean_density", "err", "err_at_cap", "per_sweep", "it_1e-08", "s_1e-08", "it_1e-12",
            "s_1e-12", "cost", "skipped")
    parts = []
    for k in keys:
        if k in r and r[k] is not None:
            v = r[k]
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return "  ".join(parts)


def kernel_bench():
    """Per-call timings of the SNS kernels: NumPy/SciPy versions against the Numba twins."""
    from xpsolve.solvers.ot import _sns_kernels as G
    from xpsolve.solvers.ot import _sns_numba_kernels as N

    def tm(fn, k=7):
        fn()
        ts = []
        for _ in range(k):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts) * 1e3

    out = {}
    for n in (500, 1000):
        p = get_problem("ot/random_assignment", size="medium" if n == 500 else "large", seed=0)
        d = p.data
        r = solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sns", options={"maxiter": 23})
        f, g = r.potentials
        C, reg = d["C"], d["reg"]
        P = G.dual_pass(C, f, g, reg, xp=np)[0]
        thr = G.cut_from_hist(*G.mass_histogram(P, xp=np), 1e-6 * P.sum())
        csr = G.build_csr(P, thr, xp=np)
        rows, cols = P.sum(1), P.sum(0)
        rinv, dc = 1 / (rows + 1e-6), cols + 1e-6
        v = np.random.default_rng(0).random(n)
        opg = G.csr_operator(*csr, (n, n), xp=np)
        opn = N.csr_operator(*csr, (n, n))
        sg, sn = opg.schur(rinv, dc), opn.schur(rinv, dc)
        out[n] = {
            "nnz_per_row": csr[2].shape[0] / n,
            "dual_pass_numpy_ms": tm(lambda: G.dual_pass(C, f, g, reg, xp=np)),
            "dual_pass_numba_ms": tm(lambda: N.dual_pass(C, f, g, reg)),
            "mass_hist_numpy_ms": tm(lambda: G.mass_histogram(P, xp=np)),
            "mass_hist_numba_ms": tm(lambda: N.mass_histogram(P)),
            "build_csr_numpy_ms": tm(lambda: G.build_csr(P, thr, xp=np)),
            "build_csr_numba_ms": tm(lambda: N.build_csr(P, thr)),
            "schur_matvec_scipy_us": tm(lambda: sg(v), 50) * 1e3,
            "schur_matvec_numba_us": tm(lambda: sn(v), 50) * 1e3,
            "lse_sweep_numba_ms": tm(lambda: solve_ot(d["a"], d["b"], C, reg, method="sinkhorn-log",
                                                      options={"maxiter": 1})),
            "dense_matvec_ms": tm(lambda: P @ v),
        }
        print(n, json.dumps(out[n], indent=1), flush=True)
    return out


def sns_variants():
    """SNS with the default 'gradient' shift against the SSNS 'adaptive' shift (medians of 3)."""
    w = get_problem("ot/random_assignment", size="tiny", seed=0).data
    solve_ot(w["a"], w["b"], w["C"], w["reg"], method="sns")
    cases = [(f"P1 n=500 seed={s}", get_problem("ot/random_assignment", size="medium", seed=s).data, 20)
             for s in range(5)]
    cases.append(("P2 n=1000 reg=1e-3",
                  get_problem("ot/uniform_point_clouds", size="medium", seed=0, reg=1e-3).data, 20))
    cases.append(("P3 sqeuclidean", get_problem("ot/grid_densities", size="medium", seed=0).data, 20))
    cases.append(("P3 l1", get_problem("ot/grid_densities", size="medium", seed=0, cost="l1").data,
                  700))
    out = {}
    for label, d, n1 in cases:
        out[label] = []
        for shift in ("gradient", "adaptive"):
            r = run_sns(d, n1, "mass", 3, extra={"shift": shift})
            r["solver"] += f" shift={shift}"
            out[label].append(r)
            print(label, _fmt(r), flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one seed, no point clouds / grids")
    ap.add_argument("--kernels", action="store_true", help="only the kernel micro-benchmark")
    ap.add_argument("--sns-variants", action="store_true",
                    help="only SNS: shift='gradient' vs 'adaptive' (SSNS rule) on every problem")
    ap.add_argument("--out", default=None, help="write all figures as JSON here")
    args = ap.parse_args(argv)
    info = dict(machine=platform.machine(), python=sys.version.split()[0], cpus=os.cpu_count(),
                blas_threads=os.environ.get("OMP_NUM_THREADS", "default"),
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    try:
        import numba
        info["numba_threads"] = numba.get_num_threads()
    except Exception:  # pragma: no cover
        pass
    print(json.dumps(info))
    results = {"info": info}
    if args.kernels:
        results["kernels"] = kernel_bench()
    elif args.sns_variants:
        results["sns_variants"] = sns_variants()
    else:
        # warm-up: Numba compilation excluded from every timing
        w = get_problem("ot/random_assignment", size="tiny", seed=0).data
        solve_ot(w["a"], w["b"], w["C"], w["reg"], method="sns")
        solve_ot(w["a"], w["b"], w["C"], w["reg"], method="sinkhorn-log", options={"maxiter": 2})
        seeds = [0] if args.quick else [0, 1, 2, 3, 4]
        for s in seeds:
            d = get_problem("ot/random_assignment", size="medium", seed=s).data
            results[f"P1 n=500 seed={s}"] = case(
                f"P1 random assignment n=500 eta=1200 seed={s}", d, 20, sink_maxiter=60000,
                pot_sweeps=100 if s == 0 else 0, log_sweeps=100 if s == 0 else 0,
                repeats=3, regot_ok=(s == 0), faithful=(s == 0))
        if not args.quick:
            d = get_problem("ot/uniform_point_clouds", size="medium", seed=0, reg=1e-3).data
            results["P2 n=1000 reg=1e-3"] = case(
                "P2 point clouds n=1000 reg=1e-3", d, 20, sink_maxiter=20000, pot_sweeps=20,
                log_sweeps=20, repeats=3)
            for cost, n1 in (("sqeuclidean", 20), ("l1", 700)):
                d = get_problem("ot/grid_densities", size="medium", seed=0, cost=cost).data
                results[f"P3 grid 28x28 {cost}"] = case(
                    f"P3 grid 28x28 {cost} eta=1200 N1={n1}", d, n1, sink_maxiter=60000,
                    pot_sweeps=0, log_sweeps=0, repeats=1, regot_ok=True)
        results["kernels"] = kernel_bench()
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
