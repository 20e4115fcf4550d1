"""Bilevel benchmarks of the LV-HBA spec, section 7 (B1 toy, B2 SVM selection).

Usage::

    PYTHONPATH=. python benchmarks/bench_bilevel.py [--quick] [--out DIR] [--skip-kkt-large]

B1 - ``lvhba_toy`` (n in {10, 100}, inequality and equality forms), LV-HBA with the
spec's parameters for K = 20000 iterations, relative error of (x, y), |lam - 1|,
F - F*, wall time and time-to-1e-2 / 2e-2 (clock paused while the error is measured),
against the single-level KKT reformulation solved by SciPy ``trust-constr``.
B2 - ``svm_weights`` on breast_cancer, seeds 0..9, clean and 30 % flipped labels,
LV-HBA (K = 200, alpha = eta = 0.01, beta = 0.1, gamma = 10, c_k = (k+1)^0.3, r = 10)
against a scikit-learn ``LinearSVC`` tuned on the validation split.
Writes ``bench_bilevel.json`` and ``bench_bilevel_toy.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np

from xpsolve import bilevel_minimize
from xpsolve.problems.bilevel import LVHBAToy, SVMWeights
from xpsolve.solvers.bilevel._reference import kkt_trust_constr


def toy_params(n):
    if n <= 10:
        return {"alpha": 0.01, "beta": 0.01, "eta": 0.01, "gamma1": 10.0, "gamma2": 10.0,
                "c0": 1.0, "p": 0.3, "r": 10.0}
    return {"alpha": 0.002, "beta": 0.002, "eta": 0.003, "gamma1": 10.0, "gamma2": 10.0,
            "c0": 1.0, "p": 0.3, "r": 10.0}


class Timer:
    """Callback measuring the error every ``every`` iterations with the clock paused."""

    def __init__(self, prob, every):
        self.prob, self.every = prob, every
        self.curve = []
        self.paused = 0.0
        self.t0 = time.perf_counter()

    def __call__(self, intermediate_result):
        t = time.perf_counter()
        r = intermediate_result
        if r.nit % self.every == 0:
            err = self.prob.metrics(r.x, r.y)["rel_err_xy"]
            self.curve.append((r.nit, t - self.t0 - self.paused, float(err)))
        self.paused += time.perf_counter() - t

    def time_to(self, tol):
        """First time after which the error stays below ``tol`` (the iteration is not monotone)."""
        out = None
        for nit, t, e in self.curve:
            if e <= tol:
                out = (nit, t) if out is None else out
            else:
                out = None
        return out


def bench_toy(n, form, K, kkt=True):
    prob = LVHBAToy(n=n, form=form)
    opts = {**toy_params(n), "maxiter": K}
    t = time.perf_counter()
    res = bilevel_minimize(prob, options=opts)
    wall = time.perf_counter() - t
    tm = Timer(prob, every=50)
    bilevel_minimize(prob, options={**opts, "check_every": 50}, callback=tm)
    m = prob.metrics(res.x, res.y, res.multipliers)
    row = {"n": n, "form": form, "K": K, "rel_err_xy": m["rel_err_xy"], "lam_err": m["lam_err"],
           "F_gap": m["fun_gap"], "wall_s": wall, "per_iter_us": 1e6 * wall / K,
           "time_to_2e-2": tm.time_to(2e-2), "time_to_1e-2": tm.time_to(1e-2),
           "curve": tm.curve}
    if n == 10:
        # the target configuration: c0 = 5 (T1), K = 3000
        t = time.perf_counter()
        r5 = bilevel_minimize(prob, options={**opts, "c0": 5.0, "maxiter": 3000})
        row["c0_5_K3000"] = {"rel_err_xy": prob.metrics(r5.x, r5.y)["rel_err_xy"],
                             "wall_s": time.perf_counter() - t}
    if kkt:
        t = time.perf_counter()
        rk = kkt_trust_constr(prob, maxiter=3000 if n <= 10 else 500)
        mk = prob.metrics(rk.x, rk.y, rk.multipliers)
        row["kkt"] = {"rel_err_xy": mk["rel_err_xy"], "lam_err": mk["lam_err"],
                      "wall_s": time.perf_counter() - t, "nit": rk.nit, "message": rk.message}
    return row


def bench_svm(seeds, flip):
    rows = []
    for seed in seeds:
        prob = SVMWeights(seed=seed, flip=flip)
        opts = {"maxiter": 200, "alpha": 0.01, "beta": 0.1, "eta": 0.01, "gamma1": 10.0,
                "gamma2": 10.0, "c0": 1.0, "p": 0.3, "r": 10.0}
        bilevel_minimize(SVMWeights(seed=seed, flip=flip), options={**opts, "maxiter": 1})  # JIT
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            res = bilevel_minimize(prob, options=opts)
        wall = time.perf_counter() - t
        m = prob.metrics(res.x, res.y)
        t = time.perf_counter()
        peer = prob.reference_peer
        rows.append({"seed": seed, "flip": flip, "wall_s": wall, **m,
                     "peer_test_accuracy": peer["test_accuracy"], "peer_C": peer["C"],
                     "peer_wall_s": time.perf_counter() - t, "proj_resid": res.proj_resid,
                     "cap_warning": any("cap" in str(x.message) for x in w)})
        print(f"  svm seed {seed} flip {flip}: acc {m['test_accuracy']:.4f} vs "
              f"{peer['test_accuracy']:.4f}, {wall:.2f} s", flush=True)
    return rows


def plot(toy_rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for row in toy_rows:
        c = np.array(row["curve"])
        lab = f"n={row['n']}, {row['form']}"
        ax[0].semilogy(c[:, 0], c[:, 2], label=lab)
        ax[1].semilogy(c[:, 1], c[:, 2], label=lab)
    ax[0].set_xlabel("iteration k")
    ax[1].set_xlabel("wall time (s, NumPy, 1 core)")
    for a in ax:
        a.set_ylabel("||(x,y)-(x*,y*)|| / ||(x*,y*)||")
        a.axhline(1e-2, color="gray", lw=0.5)
        a.legend()
    fig.suptitle("LV-HBA on the coupled toy (c_k = (k+1)^0.3)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="n = 10 only, seeds 0..4")
    ap.add_argument("--skip-kkt-large", action="store_true")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    out = {"machine": platform.platform(), "python": platform.python_version(), "toy": [],
           "svm": []}
    sizes = (10,) if args.quick else (10, 100)
    for n in sizes:
        for form in ("ineq", "eq"):
            print(f"B1 toy n={n} {form}", flush=True)
            row = bench_toy(n, form, 20000, kkt=not (n > 10 and args.skip_kkt_large))
            out["toy"].append(row)
            print({k: v for k, v in row.items() if k != "curve"}, flush=True)
    seeds = range(5) if args.quick else range(10)
    for flip in (0.0, 0.3):
        print(f"B2 svm flip={flip}", flush=True)
        out["svm"] += bench_svm(seeds, flip)
    with open(os.path.join(args.out, "bench_bilevel.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
    plot(out["toy"], os.path.join(args.out, "bench_bilevel_toy.png"))
    for flip in (0.0, 0.3):
        rows = [r for r in out["svm"] if r["flip"] == flip]
        for sub, name in ((rows[:5], "seeds 0-4"), (rows, f"seeds 0-{len(rows) - 1}")):
            print(f"SVM flip={flip} {name}: LV-HBA {np.mean([r['test_accuracy'] for r in sub]):.4f}"
                  f" tuned LinearSVC {np.mean([r['peer_test_accuracy'] for r in sub]):.4f}"
                  f" time {np.mean([r['wall_s'] for r in sub]):.2f} s")


if __name__ == "__main__":
    main()
