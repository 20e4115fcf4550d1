"""Figures and tables of the recovery benchmarks, built from stored suite runs.

Usage (after the two suite plans have run)::

    python -m xpsolve suite --plan recovery --output bench-recovery
    python -m xpsolve suite --plan recovery-ab --output bench-recovery-ab
    python -m xpsolve suite --plan recovery-scale --output bench-recovery-scale
    python benchmarks/recovery_report.py bench-recovery --ab bench-recovery-ab \
        --scale bench-recovery-scale --figures docs/figures

Prints markdown tables (pasted into docs/benchmarks.md) and writes
``recovery_phase.png`` (success rate over outlier fraction x m/(d r), per method) and
``recovery_alpha.png`` (final error vs alpha, over-parameterized r' = d: fixed and adaptive
warm-up vs pure geometric decay).
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xpsolve.suite.report import time_to_target  # noqa: E402
from xpsolve.suite.store import Store  # noqa: E402

TARGET = 1e-6


def _runs(out_dir):
    with Store(Path(out_dir) / "results.sqlite") as store:
        return [r for r in store.runs() if r["family"] == "recovery"]


def _med(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else None


def _fmt(v, spec=".3g"):
    return "-" if v is None else format(v, spec)


def phase(runs, fig_dir):
    d, r = 20, 3
    cells = defaultdict(list)
    for run in runs:
        if run["problem"] != "recovery/gaussian_sensing":
            continue
        k = run["params"]["m"] / (d * r)
        cells[(run["solver"], run["params"]["p"], k)].append(run)
    solvers = sorted({s for s, _, _ in cells})
    ps = sorted({p for _, p, _ in cells})
    ks = sorted({k for _, _, k in cells})
    print("| p | m/(dr) | " + " | ".join(f"{s} success" for s in solvers)
          + " | subgm ttt [s] | cvxpy ttt [s] | cvxpy / subgm |")
    print("|" + "---|" * (2 + len(solvers) + 3))
    for p in ps:
        for k in ks:
            row = [f"{p:g}", f"{k:g}"]
            for s in solvers:
                rs = cells.get((s, p, k), [])
                row.append(f"{sum(bool(x['success']) for x in rs)}/{len(rs)}")
            tt = {}
            for s in ("subgm", "cvxpy:l1-psd"):
                times = [time_to_target(x["curve"], TARGET) for x in cells.get((s, p, k), [])]
                tt[s] = _med(times) if all(t is not None for t in times) and times else None
            ratio = (tt["cvxpy:l1-psd"] / tt["subgm"]
                     if tt["subgm"] and tt["cvxpy:l1-psd"] else None)
            row += [_fmt(tt["subgm"]), _fmt(tt["cvxpy:l1-psd"]), _fmt(ratio, ".1f")]
            print("| " + " | ".join(row) + " |")
    if fig_dir is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(solvers), figsize=(3.2 * len(solvers), 3), sharey=True)
    for ax, s in zip(axes, solvers):
        grid = [[(sum(bool(x["success"]) for x in cells.get((s, p, k), []))
                  / max(len(cells.get((s, p, k), [])), 1)) for p in ps] for k in ks]
        im = ax.imshow(grid, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(ps)), [f"{p:g}" for p in ps])
        ax.set_yticks(range(len(ks)), [f"{k:g}" for k in ks])
        ax.set_title(s, fontsize=9)
        ax.set_xlabel("outlier fraction p")
    axes[0].set_ylabel("m / (d r)")
    fig.colorbar(im, ax=list(axes), label=f"success rate (rel. error <= {TARGET:g})")
    fig.savefig(Path(fig_dir) / "recovery_phase.png", dpi=110, bbox_inches="tight")


def _variant(run):
    o = run["options"]
    if run["solver"] != "subgm":
        return run["solver"]
    step = o.get("step", "warmup_geometric")
    if step == "warmup_geometric":
        step = f"warm-up ({o.get('warmup') or 'fixed'})"
    return f"subgm {step}, alpha={o.get('alpha', 1e-3):g}"


def ab(runs, fig_dir, *, figure=True):
    groups = defaultdict(dict)
    for run in runs:
        prm = run["params"]
        key = (run["problem"].split("/")[1], prm.get("p"), prm.get("rank", run["size"]),
               _variant(run))
        groups[key][run["seed"]] = run          # geometric runs repeat per warmup value
    print("| problem | p | r' | method | success | median final rel. error | median nit | "
          "median time [s] |")
    print("|---|---|---|---|---|---|---|---|")
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        rs = list(groups[key].values())
        print(f"| {key[0]} | {key[1]:g} | {key[2]} | {key[3]} | "
              f"{sum(bool(x['success']) for x in rs)}/{len(rs)} | "
              f"{_fmt(_med([x['key_value'] for x in rs]), '.2e')} | "
              f"{_fmt(_med([x['nit'] for x in rs]), '.0f')} | {_fmt(_med([x['time_s'] for x in rs]))} |")
    if fig_dir is None or not figure:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = sorted({x["options"]["alpha"] for g in groups.values() for x in g.values()
                     if x["solver"] == "subgm"})
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
    for ax, p in zip(axes, (0.0, 0.3)):
        for name, mk in (("warm-up (fixed)", "o-"), ("warm-up (adaptive)", "^-"),
                         ("geometric", "s--")):
            errs = [_med([x["key_value"] for x in groups.get(
                ("gaussian_sensing", p, 20, f"subgm {name}, alpha={a:g}"), {}).values()])
                for a in alphas]
            ax.loglog(alphas, [e if e is not None else float("nan") for e in errs], mk, label=name)
        ax.set_title(f"r' = d = 20, m = 1200, p = {p:g}", fontsize=9)
        ax.set_xlabel("alpha (initialization scale)")
        ax.invert_xaxis()
    axes[0].set_ylabel("final relative error (median)")
    axes[0].legend(fontsize=8)
    fig.savefig(Path(fig_dir) / "recovery_alpha.png", dpi=110, bbox_inches="tight")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("grid", help="output directory of the 'recovery' plan")
    ap.add_argument("--ab", help="output directory of the 'recovery-ab' plan")
    ap.add_argument("--scale", help="output directory of the 'recovery-scale' plan")
    ap.add_argument("--figures", help="directory for the PNG figures")
    a = ap.parse_args(argv)
    phase(_runs(a.grid), a.figures)
    if a.ab:
        print()
        ab(_runs(a.ab), a.figures)
    if a.scale:
        print()
        ab(_runs(a.scale), a.figures, figure=False)


if __name__ == "__main__":
    main()
