"""Our stabilised Sinkhorn (Numba on/off) vs POT's ``sinkhorn`` and ``sinkhorn_log``.

Protocol (foundation issue): ``ot/uniform_point_clouds``, n in {1000, 2000}, reg in {1e-2, 1e-3};
iterations and seconds to an L1 marginal error of 1e-8, as ratios measured in the same run.

* xpsolve ``sinkhorn`` runs with ``tol=1e-8`` (L1 error of both marginals, checked every 10 sweeps).
* POT stops on the L2 norm of the column error, so to count its sweeps to the same L1 target we run it
  for exactly N sweeps (``stopThr=0``) and for N - 10, where N is our count, and check the L1 error of
  its plan after each: "POT needs N" means its error is <= 1e-8 after N and > 1e-8 after N - 10 (the
  check granularity of both libraries is 10 sweeps). Its time is the time of the N-sweep run.
* POT ``sinkhorn_log`` costs 35-60 ms per sweep at n = 1000 here; where a full run would exceed
  ``--log-budget`` seconds we run it for a capped number of sweeps, report its measured time per sweep
  and extrapolate to N sweeps, and say so in the output ("extrapolated").

Run: ``python benchmarks/bench_sinkhorn.py [--sizes 1000,2000] [--regs 1e-2,1e-3] [--repeat 3]``
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import xpsolve
from xpsolve.problems import get_problem

TARGET = 1e-8


def l1_err(P, a, b):
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def ours(a, b, C, reg, use_numba, repeat):
    def run():
        with xpsolve.config_context(use_numba=use_numba):
            return xpsolve.solve_ot(a, b, C, reg, method="sinkhorn", tol=TARGET,
                                    options={"maxiter": 100000})
    run()  # warm-up (Numba JIT)
    t, res = timed(run, repeat)
    assert res.success, res.message
    return t, res


def pot_run(method, a, b, C, reg, n_iter):
    import ot

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return ot.sinkhorn(a, b, C, reg, method=method, numItermax=n_iter, stopThr=0.0)


def pot_sweeps_to_target(method, a, b, C, reg, N, repeat, budget):
    """Time POT for our N sweeps; confirm it needs exactly N (to the 10-sweep granularity)."""
    t1 = time.perf_counter()
    pot_run(method, a, b, C, reg, 10)
    per_sweep_est = (time.perf_counter() - t1) / 10
    if per_sweep_est * N * 2 > budget:
        cap = max(20, int(budget / (2 * per_sweep_est)) // 10 * 10)
        t, P = timed(lambda: pot_run(method, a, b, C, reg, cap), 1)
        # same iterates: our plan after the same number of sweeps
        mine = xpsolve.solve_ot(a, b, C, reg, method="sinkhorn", options={"maxiter": cap})
        return {"time": t / cap * N, "extrapolated": True, "sweeps_run": cap,
                "err_at_N": None, "err_at_N-10": None, "finite": bool(np.all(np.isfinite(P))),
                "iterate_gap": float(np.abs(P - mine.plan).max() / P.max())}
    t, P = timed(lambda: pot_run(method, a, b, C, reg, N), repeat)
    P_prev = pot_run(method, a, b, C, reg, N - 10)
    finite = bool(np.all(np.isfinite(P)))
    return {"time": t, "extrapolated": False, "sweeps_run": N, "err_at_N": l1_err(P, a, b) if finite else np.inf,
            "err_at_N-10": l1_err(P_prev, a, b) if finite else np.inf, "finite": finite}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,2000")
    ap.add_argument("--regs", default="1e-2,1e-3")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--log-budget", type=float, default=60.0,
                    help="seconds allowed for POT sinkhorn_log per case before extrapolating")
    args = ap.parse_args(argv)
    rows = []
    for n in map(int, args.sizes.split(",")):
        for reg in map(float, args.regs.split(",")):
            p = get_problem("ot/uniform_point_clouds", size="medium", seed=0, n=n, reg=reg)
            a, b, C = (np.asarray(p.data[k]) for k in ("a", "b", "C"))
            t_nb, r_nb = ours(a, b, C, reg, True, args.repeat)
            t_gen, r_gen = ours(a, b, C, reg, False, args.repeat)
            N = r_nb.nit
            pot_plain = pot_sweeps_to_target("sinkhorn", a, b, C, reg, N, args.repeat, 1e9)
            pot_log = pot_sweeps_to_target("sinkhorn_log", a, b, C, reg, N, 1, args.log_budget)
            rows.append(dict(n=n, reg=reg, N=N, err=r_nb.marginal_err, t_nb=t_nb, t_gen=t_gen,
                             plain=pot_plain, log=pot_log))
            print_row(rows[-1], flush=True)
    print()
    print("| n | reg | xpsolve sweeps | xpsolve s (Numba) | xpsolve s (generic) | POT sinkhorn s "
          "| ratio POT sinkhorn / ours | POT sinkhorn_log s | ratio POT log / ours | POT sweeps to 1e-8 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pl, lg = r["plain"], r["log"]
        plain_ok = pl["finite"] and pl["err_at_N"] <= TARGET
        sweeps = "= ours" if plain_ok and pl["err_at_N-10"] > TARGET else (
            "diverged/non-finite" if not pl["finite"] else f"err {pl['err_at_N']:.1e} at N")
        print(f"| {r['n']} | {r['reg']:g} | {r['N']} | {r['t_nb']:.3f} | {r['t_gen']:.3f} | "
              f"{pl['time']:.3f}{'' if plain_ok else ' (no)'} | {pl['time'] / r['t_nb']:.2f} | "
              f"{lg['time']:.1f}{' (extrapolated)' if lg['extrapolated'] else ''} | "
              f"{lg['time'] / r['t_nb']:.0f} | {sweeps} |")


def print_row(r, flush=False):
    pl, lg = r["plain"], r["log"]
    print(f"n={r['n']} reg={r['reg']:g}: ours {r['N']} sweeps err {r['err']:.2e} "
          f"{r['t_nb']:.3f}s (numba) {r['t_gen']:.3f}s (generic); POT sinkhorn {pl['time']:.3f}s "
          f"err@N {pl['err_at_N']} err@N-10 {pl['err_at_N-10']}; POT sinkhorn_log {lg['time']:.2f}s "
          f"{'extrapolated from ' + str(lg['sweeps_run']) + ' sweeps, plan gap to ours at that sweep ' + format(lg['iterate_gap'], '.1e') if lg['extrapolated'] else ''} "
          f"err@N {lg['err_at_N']} err@N-10 {lg['err_at_N-10']}", flush=flush)


if __name__ == "__main__":
    main()
