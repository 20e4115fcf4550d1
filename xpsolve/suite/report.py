"""Reports built from stored runs: a text table, ``report.md`` and ``plots/*.png``."""
from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path

__all__ = ["format_table", "write_markdown", "write_plots", "time_to_target", "summarize"]


def _fmt(v, spec=".3g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _table(header, rows, *, markdown=False) -> str:
    rows = [[_fmt(c) for c in r] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
              "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def format_table(runs) -> str:
    """One line per run: problem, size, seed, solver, status, nit, time, key metric.

    Examples
    --------
    >>> print(format_table([{"problem": "ot/x", "size": "tiny", "seed": 0, "solver": "sinkhorn",
    ...     "status": "0", "nit": 10, "time_s": 0.01, "key_metric": "marginal_err",
    ...     "key_value": 1e-10}]))
    problem  size  seed  solver    status  nit  time_s  key metric
    -------  ----  ----  --------  ------  ---  ------  --------------------
    ot/x     tiny  0     sinkhorn  0       10   0.01    marginal_err = 1e-10
    """
    _label_variants(runs)
    # backend and repeat columns only when they vary
    extra = [c for c in ("backend", "repeat") if len({r.get(c) for r in runs}) > 1]
    rows = []
    for r in runs:
        metric = f"{r.get('key_metric')} = {_fmt(r.get('key_value'))}" if r.get("key_metric") else "-"
        rows.append([r["problem"] + _params_label(r), r["size"], r["seed"], _variant(r)]
                    + [r.get(c) for c in extra]
                    + [r["status"], r.get("nit"), r.get("time_s"), metric])
    return _table(["problem", "size", "seed", "solver", *extra, "status", "nit", "time_s",
                   "key metric"], rows)


def _params_label(r) -> str:
    p = r.get("params") or {}
    return (" [" + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(p.items())) + "]") if p else ""


def _label_variants(runs) -> None:
    """Set ``r["variant"]``: the solver name plus the options that vary between its runs."""
    seen = defaultdict(lambda: defaultdict(set))
    for r in runs:
        for k, v in (r.get("options") or {}).items():
            seen[r["solver"]][k].add(json.dumps(v, sort_keys=True, default=repr))
    for r in runs:
        o = r.get("options") or {}
        varying = sorted(k for k in o if len(seen[r["solver"]][k]) > 1)
        r["variant"] = r["solver"] + (" {" + ", ".join(f"{k}={_fmt(o[k])}" for k in varying) + "}"
                                      if varying else "")


def _variant(r) -> str:
    return r.get("variant") or r["solver"]


def _group_key(r):
    return (r["problem"], r["size"], json.dumps(r.get("params") or {}, sort_keys=True),
            r["backend"])


def time_to_target(curve, target):
    """First time at which the curve reaches ``value <= target`` (``None`` if never).

    Examples
    --------
    >>> time_to_target([(10, 0.1, 1e-3), (20, 0.2, 1e-9)], 1e-8)
    0.2
    """
    if target is None:
        return None
    for _, t, v in curve:
        if v is not None and not math.isnan(v) and v <= target:
            return t
    return None


def _median(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.median(xs) if xs else None


def summarize(runs) -> dict:
    """Per group (problem, size, params, backend), per solver variant: summary statistics.

    Returns ``{group_key: [row dict, ...]}`` with ``solver``, ``runs``, ``errors``,
    ``success_rate``, ``median_time``, ``median_nit``, ``ttt`` (median time to
    target over the runs reaching it), ``reached``, ``final`` (median key metric),
    ``time_ratio`` and ``ttt_ratio`` (to the fastest variant of the group).
    """
    _label_variants(runs)
    groups = defaultdict(lambda: defaultdict(list))
    for r in runs:
        groups[_group_key(r)][_variant(r)].append(r)
    out = {}
    for gk, variants in groups.items():
        rows = []
        for name, rs in variants.items():
            ok = [r for r in rs if r["status"] != "error"]
            # the target applies when the curve follows the key metric
            ttts = [time_to_target(r.get("curve") or [], r.get("target")
                                   if r.get("curve_metric") == r.get("key_metric") else None)
                    for r in ok]
            reached = [t for t in ttts if t is not None]
            rows.append(dict(
                solver=name, runs=len(rs), errors=len(rs) - len(ok),
                success_rate=sum(bool(r["success"]) for r in rs) / len(rs),
                median_time=_median([r.get("time_s") for r in ok]),
                median_nit=_median([r.get("nit") for r in ok]),
                ttt=_median(reached), reached=f"{len(reached)}/{len(rs)}",
                final=_median([r.get("key_value") for r in ok]),
                key_metric=next((r.get("key_metric") for r in ok if r.get("key_metric")), None)))
        for field, ratio in (("median_time", "time_ratio"), ("ttt", "ttt_ratio")):
            # the fastest variant among those that succeed at least once (else among all)
            pool = [row for row in rows if row["success_rate"] > 0] or rows
            best = min((row[field] for row in pool if row[field]), default=None)
            for row in rows:
                row[ratio] = row[field] / best if best and row[field] is not None else None
        out[gk] = sorted(rows, key=lambda row: row["solver"])
    return out


def write_markdown(runs, path, *, title="xpsolve benchmark report", skips=(), meta=None,
                   parallel=False, plots=()) -> Path:
    """Write ``report.md``: per problem group, one row per solver variant; then skips and meta.

    Parameters
    ----------
    runs : list of dict
        Stored runs (with their ``curve``).
    path : str or Path
        Output file.
    skips : sequence of Skip
        Combinations left out of the plan.
    meta : dict, optional
        Environment facts to list at the end.
    parallel : bool
        Whether the runs shared the machine (timings then are not comparable to serial ones).
    plots : sequence of Path
        Plot files to link, named after their group.
    """
    path = Path(path)
    lines = [f"# {title}", ""]
    n_err = sum(r["status"] == "error" for r in runs)
    lines.append(f"{len(runs)} runs, {n_err} errors. Times are solver seconds (callback and "
                 "metric bookkeeping excluded), medians over seeds and repeats; *time to target* "
                 "is the first check point where the curve metric reaches the problem's success "
                 "tolerance; ratios are to the fastest solver of the group.")
    if parallel:
        lines += ["", "**Runs shared the machine (parallel executor): timings are not comparable "
                  "to serial ones.**"]
    plots = {Path(p).stem: Path(p) for p in plots}
    header = ["solver", "runs", "success", "median time [s]", "time ratio", "median nit",
              "time to target [s]", "reached", "ttt ratio", "final key metric"]
    for gk, rows in summarize(runs).items():
        problem, size, params, backend = gk
        pl = json.loads(params)
        plabel = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(pl.items()))
        lines += ["", f"## {problem} ({size}{', ' + plabel if plabel else ''}; {backend})", ""]
        metric = next((row["key_metric"] for row in rows if row["key_metric"]), "key metric")
        table = [[row["solver"], row["runs"], f"{row['success_rate']:.0%}", row["median_time"],
                  row["time_ratio"], row["median_nit"], row["ttt"], row["reached"],
                  row["ttt_ratio"], row["final"]] for row in rows]
        lines.append(_table(header[:-1] + [f"final {metric}"], table, markdown=True))
        errors = [r for r in runs if _group_key(r) == gk and r["status"] == "error"]
        for r in errors[:5]:
            lines.append(f"\n- error in {_variant(r)} seed {r['seed']}: `{r['message']}`")
        slug = _slug(gk)
        if slug in plots:
            lines += ["", f"![{problem}]({plots[slug].relative_to(path.parent).as_posix()})"]
    if skips:
        # one line per (solver, backend, reason), listing the problems it concerns
        merged = defaultdict(list)
        for s in skips:
            merged[(s.solver, s.backend, s.reason)].append(f"{s.problem} ({s.size})")
        lines += ["", "## Skipped combinations", ""]
        lines.append(_table(["solver", "backend", "reason", "problems"],
                            [[*k, ", ".join(dict.fromkeys(v))] for k, v in merged.items()],
                            markdown=True))
    if meta:
        lines += ["", "## Environment", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(meta.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _slug(gk) -> str:
    problem, size, params, backend = gk
    pl = json.loads(params)
    text = "_".join([problem, size] + [f"{k}{v}" for k, v in sorted(pl.items())] + [backend])
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text)


def write_plots(runs, outdir) -> list:
    """Plot the curves of each group (metric vs time and vs iterations, log scale).

    Returns the written files, or ``[]`` when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    _label_variants(runs)
    groups = defaultdict(list)
    for r in runs:
        if r["status"] != "error" and r.get("curve"):
            groups[_group_key(r)].append(r)
    files = []
    for gk, rs in groups.items():
        fig, (ax_t, ax_n) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        colors = {}
        for r in rs:
            name = _variant(r)
            color = colors.setdefault(name, f"C{len(colors) % 10}")
            pts = [(n, t, v) for n, t, v in r["curve"] if v is not None and v > 0]
            if not pts:
                continue
            n, t, v = zip(*pts)
            label = name if name not in [ln.get_label() for ln in ax_t.lines] else None
            ax_t.plot(t, v, color=color, lw=1, marker=".", ms=3, label=label)
            ax_n.plot(n, v, color=color, lw=1, marker=".", ms=3)
        metric = rs[0].get("curve_metric") or "value"
        target = rs[0].get("target") if metric == rs[0].get("key_metric") else None
        for ax, xlabel in ((ax_t, "solver time [s]"), (ax_n, "iterations")):
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
            if target:
                ax.axhline(target, color="k", ls=":", lw=0.8)
        ax_t.set_xscale("log")
        ax_t.legend(fontsize=8)
        problem, size, _, backend = gk
        plabel = "".join(f", {k}={_fmt(v)}" for k, v in sorted(json.loads(gk[2]).items()))
        fig.suptitle(f"{problem} ({size}{plabel}; {backend})", fontsize=10)
        f = outdir / f"{_slug(gk)}.png"
        fig.savefig(f, dpi=90)
        plt.close(fig)
        files.append(f)
    return files
