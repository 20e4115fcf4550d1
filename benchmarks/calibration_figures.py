"""Figures and tables of the blind-calibration plans from their stored suite runs.

Reads the SQLite stores written by::

    python -m xpsolve suite --plan calibration-phase --output OUT/calibration-phase
    python -m xpsolve suite --plan calibration-noise --output OUT/calibration-noise

and writes ``calibration_phase.png`` (success-rate heatmaps over the m x p grid with the
counting line mp = n + m - 1), ``calibration_noise.png`` (x-error in dB against the SNR) and
``calibration_imaging.png`` (the imaging demo, recomputed from the registered problem, seed 0)
into ``--figures``, printing Markdown tables for ``docs/benchmarks.md``.

Usage::

    python benchmarks/calibration_figures.py --results OUT --figures docs/figures
"""
from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from xpsolve.suite.store import Store


def _variant(r):
    opts = {k: v for k, v in (r.get("options") or {}).items() if k in ("step",)}
    return r["solver"] + ("" if not opts else " " + ",".join(f"{k}={v}" for k, v in opts.items()))


def phase(results: Path, figures: Path):
    with Store(results / "calibration-phase" / "results.sqlite") as st:
        runs = st.runs(curves=False)
    n = 32
    cells = defaultdict(list)
    for r in runs:
        m, p = r["params"]["m"], r["params"]["p"]
        cells[(_variant(r), m, p)].append(r)
    solvers = sorted({k[0] for k in cells})
    ms = sorted({k[1] for k in cells})
    ps = sorted({k[2] for k in cells})
    lines = []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(solvers), figsize=(5 * len(solvers), 4), squeeze=False)
    for ax, s in zip(axes[0], solvers):
        rate = np.full((len(ms), len(ps)), np.nan)
        lines += [f"\n**{s}** (success = err <= 1e-6; entry = successes/trials, median iterations "
                  "of the successes; `!` = a run claimed success (status 0) with err > 1e-6)\n",
                  "| m \\ p | " + " | ".join(map(str, ps)) + " |",
                  "|---|" + "---|" * len(ps)]
        for i, m in enumerate(ms):
            row = []
            for j, p in enumerate(ps):
                rs = cells.get((s, m, p), [])
                ok = [r for r in rs if r["success"]]
                lie = [r for r in rs if r["solver_success"] and not r["success"]]
                rate[i, j] = len(ok) / len(rs) if rs else np.nan
                its = statistics.median([r["nit"] for r in ok]) if ok else None
                row.append(f"{len(ok)}/{len(rs)}" + (f" ({its:.0f})" if its is not None else "")
                           + ("!" if lie else ""))
            lines.append(f"| {m} | " + " | ".join(row) + " |")
        # 50% contour: per m, the smallest p reaching 50%, in units of mp/(n+m)
        cont = []
        for i, m in enumerate(ms):
            js = [j for j in range(len(ps)) if rate[i, j] >= 0.5]
            if js:
                cont.append(f"m={m}: {ms[i] * ps[js[0]] / (n + m):.2f}")
        lines.append("\n50% transition (smallest p with >= 50% success), in mp/(n+m): "
                     + ", ".join(cont))
        im = ax.imshow(rate, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(ps)), [str(p) for p in ps])
        ax.set_yticks(range(len(ms)), [str(m) for m in ms])
        ax.set_xlabel("snapshots p (log2 grid)")
        ax.set_ylabel("sensors m (log2 grid)")
        ax.set_title(f"{s}, n = {n}, rho = 0.5")
        # counting line mp = n + m - 1 (interpolated on the log2 grid)
        xs = [math.log2((n + m - 1) / m) - math.log2(ps[0]) for m in ms]
        ax.plot(xs, range(len(ms)), "w--", label="mp = n + m - 1")
        ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), label="success rate")
    fig.savefig(figures / "calibration_phase.png", dpi=110, bbox_inches="tight")
    return "\n".join(lines)


def noise(results: Path, figures: Path):
    with Store(results / "calibration-noise" / "results.sqlite") as st:
        runs = st.runs(curves=False)
    by = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r["status"] == "error":
            continue
        by[_variant(r)][r["params"]["snr"]].append(r["metrics"])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    lines = ["| SNR [dB] | " + " | ".join(f"{s} x-err [dB] | {s} d-err [dB]" for s in sorted(by))
             + " |", "|---|" + "---|---|" * len(by)]
    snrs = sorted({k for v in by.values() for k in v})
    for snr in snrs:
        cells = []
        for s in sorted(by):
            ms = by[s][snr]
            ex = statistics.mean(20 * math.log10(m["err_x"]) for m in ms)
            ed = statistics.mean(20 * math.log10(m["err_d"]) for m in ms)
            cells += [f"{ex:.1f}", f"{ed:.1f}"]
        lines.append(f"| {snr:g} | " + " | ".join(cells) + " |")
    for s in sorted(by):
        ys = [statistics.mean(20 * math.log10(m["err_x"]) for m in by[s][snr]) for snr in snrs]
        ax.plot(snrs, ys, "o-", label=s)
    ax.plot(snrs, [-(s + 8) for s in snrs], "k:", label="-(SNR + 8) dB (spec prototype)")
    ax.set_xlabel("SNR [dB]")
    ax.set_ylabel("mean x-error [dB] (5 seeds)")
    ax.set_title("n = m = 64, p = 8")
    ax.legend(fontsize=8)
    fig.savefig(figures / "calibration_noise.png", dpi=110, bbox_inches="tight")
    return "\n".join(lines)


def imaging(figures: Path, size="medium", seed=0):
    """The imaging demo: true image, 'ignore gains' least squares (d = 1), PGD with the gain prior."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xpsolve.backends import to_numpy
    from xpsolve.problems import get_problem
    from xpsolve.problems.calibration import sensing_operator

    prob = get_problem("calibration/randconv_image", size=size, seed=seed)
    side = prob.params["side"]
    res = prob.solve("pgd-subspace")
    op = sensing_operator(prob)
    y = np.asarray(prob.data["y"])
    # 'ignore gains': least squares with d = 1; every A_l is circulant, so it is diagonal in Fourier
    F = np.asarray(op.F)
    Y = np.fft.rfft2(y.reshape(-1, side, side))
    x_ign = np.fft.irfft2((np.conj(F) * Y).sum(0) / (np.abs(F) ** 2).sum(0), s=(side, side))
    xt = to_numpy(prob.data["x_true"]).reshape(side, side)
    dt = to_numpy(prob.data["d_true"]).reshape(side, side)
    err_ign = np.linalg.norm(x_ign - xt) / np.linalg.norm(xt)
    err_pgd = prob.metrics(res)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    panels = [(xt, "true image", "gray"),
              (x_ign, f"ignore gains (LS, d = 1): err_x {err_ign:.2g}", "gray"),
              (to_numpy(res.x).reshape(side, side),
               f"pgd-subspace: err_x {err_pgd['err_x']:.1g}, {res.nit} it.", "gray"),
              (dt, "true gains d (smooth DCT profile)", "coolwarm")]
    for ax, (img, title, cmap) in zip(axes, panels):
        im = ax.imshow(img, cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=axes[-1], fraction=0.046)
    fig.savefig(figures / "calibration_imaging.png", dpi=110, bbox_inches="tight")
    return (f"imaging demo ({size}, side {side}, p = {prob.params['p']}, seed {seed}): ignore-gains "
            f"err_x = {err_ign:.3g}; pgd-subspace err = {err_pgd['err']:.3g} in {res.nit} iterations")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--figures", type=Path, default=Path("docs/figures"))
    args = ap.parse_args(argv)
    args.figures.mkdir(parents=True, exist_ok=True)
    print(phase(args.results, args.figures))
    print()
    print(noise(args.results, args.figures))
    print()
    print(imaging(args.figures))


if __name__ == "__main__":
    main()
