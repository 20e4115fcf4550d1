"""Reports built from stored runs: a text table, ``report.md`` and ``plots/*.png``."""
from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path

__all__ = ["format_table", "write_markdown", "write_html", "write_plots", "time_to_target",
           "summarize", "family_summary", "inconsistent_runs", "other_metrics", "param_sweeps",
           "build_report"]


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
    """Set ``r["variant"]``: the solver name plus the options that vary between its runs on
    the same instance (options a plan sets per problem, e.g. a budget, do not split a solver
    into variants)."""
    seen = defaultdict(lambda: defaultdict(set))
    for r in runs:
        for k, v in (r.get("options") or {}).items():
            seen[(_group_key(r), r["solver"])][k].add(json.dumps(v, sort_keys=True, default=repr))
    for r in runs:
        o = r.get("options") or {}
        mine = seen[(_group_key(r), r["solver"])]
        varying = sorted(k for k in o if len(mine[k]) > 1)
        r["variant"] = r["solver"] + (" {" + ", ".join(f"{k}={_fmt(o[k])}" for k in varying) + "}"
                                      if varying else "")


def _variant(r) -> str:
    return r.get("variant") or r["solver"]


def _group_key(r):
    return (r["problem"], r["size"], json.dumps(r.get("params") or {}, sort_keys=True),
            r.get("backend", "numpy"))


def time_to_target(curve, target):
    """First time at which the curve reaches ``value <= target`` (``None`` if never).

    Examples
    --------
    >>> time_to_target([(10, 0.1, 1e-3), (20, 0.2, 1e-9)], 1e-8)
    0.2
    """
    if target is None:
        return None
    for point in curve:  # [nit, time_s, value] or [nit, time_s, value, calls]
        t, v = point[1], point[2]
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
            follows = any(r.get("curve_metric") == r.get("key_metric") for r in ok)
            rows.append(dict(
                solver=name, runs=len(rs), errors=len(rs) - len(ok),
                success_rate=sum(bool(r["success"]) for r in rs) / len(rs),
                median_time=_median([r.get("time_s") for r in ok]),
                median_nit=_median([r.get("nit") for r in ok]),
                ttt=_median(reached),
                reached=f"{len(reached)}/{len(rs)}" if follows or not ok else "n/a",
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


def family_summary(runs) -> dict:
    """Per problem family (the prefix of the problem names), per solver variant, over all
    its instances.

    Returns ``{family: [row, ...]}``; a row has ``solver``, ``instances`` (groups run),
    ``runs``, ``success_rate``, ``reached_rate`` (runs whose curve reached the target),
    ``fastest`` (instances where its median time to target is the best), ``ttt_ratio``
    (median over the instances it reached of its time-to-target ratio to the fastest)
    and ``calls`` (median oracle calls at the end, when the solver counts them).
    """
    _label_variants(runs)
    fam_of = {}
    for r in runs:
        fam_of.setdefault(_group_key(r), r["problem"].split("/")[0])
    per_group = summarize(runs)
    out = defaultdict(dict)
    for gk, rows in per_group.items():
        fam = fam_of[gk]
        for row in rows:
            acc = out[fam].setdefault(row["solver"], dict(
                solver=row["solver"], instances=0, runs=0, successes=0.0, reached=0,
                fastest=0, ratios=[], calls=[]))
            acc["instances"] += 1
            acc["runs"] += row["runs"]
            acc["successes"] += row["success_rate"] * row["runs"]
            if row["ttt_ratio"] is not None:
                acc["ratios"].append(row["ttt_ratio"])
                acc["fastest"] += row["ttt_ratio"] == 1
    for r in runs:
        if r["status"] == "error":
            continue
        acc = out[fam_of[_group_key(r)]][_variant(r)]
        target = r.get("target") if r.get("curve_metric") == r.get("key_metric") else None
        acc["reached"] += time_to_target(r.get("curve") or [], target) is not None
        last = next((p[3] for p in reversed(r.get("curve") or [])
                     if len(p) > 3 and p[3] is not None), None)
        if last is not None:
            acc["calls"].append(last)
    result = {}
    for fam, accs in out.items():
        result[fam] = [dict(solver=a["solver"], instances=a["instances"], runs=a["runs"],
                            success_rate=a["successes"] / a["runs"] if a["runs"] else 0.0,
                            reached_rate=a["reached"] / a["runs"] if a["runs"] else 0.0,
                            fastest=a["fastest"], ttt_ratio=_median(a["ratios"]),
                            calls=_median(a["calls"]))
                       for a in sorted(accs.values(), key=lambda a: a["solver"])]
    return result


_FAMILY_HEADER = ["solver", "instances", "runs", "success", "reached target",
                  "fastest on", "median ttt ratio", "median oracle calls"]


def _family_rows(rows):
    return [[r["solver"], r["instances"], r["runs"], f"{r['success_rate']:.0%}",
             f"{r['reached_rate']:.0%}", r["fastest"], r["ttt_ratio"], r["calls"]] for r in rows]


def _by_group(runs) -> dict:
    """Runs per group key, in run order (one pass instead of a scan per group)."""
    out = defaultdict(list)
    for r in runs:
        out[_group_key(r)].append(r)
    return out


def other_metrics(runs, gk, *, limit=8):
    """The other metrics the problem reports for group ``gk``: ``(names, rows)`` with one
    row per solver variant (median over its runs), or ``None`` when there are none or more
    than ``limit`` (e.g. test accuracy beside a detection AUC, the OT cost beside the
    marginal error, the objective error beside the KKT residual)."""
    _label_variants(runs)
    rs = [r for r in runs if _group_key(r) == gk and r["status"] != "error"]
    key = next((r.get("key_metric") for r in rs if r.get("key_metric")), None)
    names = sorted({k for r in rs for k, v in (r.get("metrics") or {}).items()
                    if k != key and (v is None or isinstance(v, (int, float)))})
    if not names or len(names) > limit:
        return None
    rows = []
    for name in sorted({_variant(r) for r in rs}):
        mine = [r for r in rs if _variant(r) == name]
        rows.append([name] + [_median([(r.get("metrics") or {}).get(k) for r in mine])
                              for k in names])
    return names, rows


def inconsistent_runs(runs) -> list:
    """Runs that report success without their curve reaching the target (a bug to report).

    A run succeeds when its key metric meets the target; its curve ends at the returned
    result, so a successful run whose curve follows the key metric must reach the target.
    """
    bad = []
    for r in runs:
        if r.get("status") == "error" or not r.get("success"):
            continue
        if r.get("curve_metric") != r.get("key_metric"):
            continue
        if time_to_target(r.get("curve") or [], r.get("target")) is None:
            bad.append(r)
    return bad


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
    bad = inconsistent_runs(runs)
    if bad:
        lines += ["", f"**Inconsistent: {len(bad)} runs report success without reaching the "
                  "target on their curve** (" + ", ".join(f"{_variant(r)} on {r['problem']} seed "
                                                          f"{r['seed']}" for r in bad[:5]) + ")."]
    plots = {Path(p).stem: Path(p) for p in plots}
    for fam, rows in sorted(family_summary(runs).items()):
        lines += ["", f"## Summary: {fam}", "",
                  "Over every instance of the family: success rate, share of runs whose curve "
                  "reached the target, instances where the solver is the fastest to the "
                  "target, the median of its time-to-target ratios to the fastest, and the "
                  "median oracle calls at the end (solvers that count them).", ""]
        lines.append(_table(_FAMILY_HEADER, _family_rows(rows), markdown=True))
    header = ["solver", "runs", "success", "median time [s]", "time ratio", "median nit",
              "time to target [s]", "reached", "ttt ratio", "final key metric"]
    by_group = _by_group(runs)
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
        more = other_metrics(by_group[gk], gk)
        if more:
            lines += ["", "Other metrics (medians):", ""]
            lines.append(_table(["solver", *more[0]], more[1], markdown=True))
        errors = [r for r in by_group[gk] if r["status"] == "error"]
        for r in errors[:5]:
            lines.append(f"\n- error in {_variant(r)} seed {r['seed']}: `{r['message']}`")
        slug = _slug(gk)
        if slug in plots:
            lines += ["", f"![{problem}]({plots[slug].relative_to(path.parent).as_posix()})"]
    sweeps = [(key, plots[_sweep_slug(key)]) for key in param_sweeps(runs)
              if _sweep_slug(key) in plots]
    if sweeps:
        lines += ["", "## Across parameters", ""]
        for (problem, size, backend), f in sweeps:
            lines += [f"![{problem} across parameters]"
                      f"({f.relative_to(path.parent).as_posix()})", ""]
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


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _curve_groups(runs):
    _label_variants(runs)
    groups = defaultdict(list)
    for r in runs:
        if r["status"] != "error" and r.get("curve"):
            groups[_group_key(r)].append(r)
    return groups


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: Sweep figures are drawn for at most this many solver variants (the tables hold the rest).
MAX_SWEEP_VARIANTS = 12


def param_sweeps(runs) -> dict:
    """Problems whose runs vary one or two numeric generator parameters.

    Returns ``{(problem, size, backend): (axes, runs)}`` with ``axes`` the varying
    parameter names (sorted), for the sweep figures: success rate and final key metric
    against one parameter, or a success-rate map over two (phase-transition diagrams).
    Runs that ended in ``error`` count as failures. Problems run with more than
    :data:`MAX_SWEEP_VARIANTS` solver variants (tuning grids) get no sweep figure.
    """
    by = defaultdict(list)
    for r in runs:
        by[(r["problem"], r["size"], r["backend"])].append(r)
    out = {}
    for key, rs in by.items():
        names = sorted({k for r in rs for k in (r.get("params") or {})})
        axes = [k for k in names
                if all(_num((r.get("params") or {}).get(k)) for r in rs)
                and len({(r.get("params") or {}).get(k) for r in rs}) > 1]
        if 1 <= len(axes) <= 2 and len(axes) == sum(
                len({json.dumps((r.get("params") or {}).get(k)) for r in rs}) > 1 for k in names):
            _label_variants(rs)
            if len({_variant(r) for r in rs}) <= MAX_SWEEP_VARIANTS:  # else unreadable
                out[key] = (axes, rs)
    return out


def _sweep_slug(key) -> str:
    return "sweep_" + re.sub(r"[^A-Za-z0-9.+-]+", "_", "_".join(key))


def _sweep_figure(plt, key, axes, rs):
    """Success rate (and, for one axis, the median final key metric) across parameters."""
    _label_variants(rs)
    variants = sorted({_variant(r) for r in rs})
    cells = defaultdict(list)
    for r in rs:
        p = r.get("params") or {}
        cells[(_variant(r), tuple(p[a] for a in axes))].append(r)
    values = [sorted({k[1][i] for k in cells}) for i in range(len(axes))]
    metric = next((r.get("key_metric") for r in rs if r.get("key_metric")), "key metric")
    problem, size, backend = key
    if len(axes) == 1:
        fig, (ax_s, ax_m) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        for i, v in enumerate(variants):
            xs = [x for x in values[0] if (v, (x,)) in cells]
            rate = [sum(bool(r["success"]) for r in cells[(v, (x,))]) / len(cells[(v, (x,))])
                    for x in xs]
            med = [_median([r.get("key_value") for r in cells[(v, (x,))]
                            if r["status"] != "error"]) for x in xs]
            style = dict(color=f"C{i % 10}", marker="o", ms=4, lw=1)
            ax_s.plot(xs, rate, label=v, **style)
            pts = [(x, m) for x, m in zip(xs, med) if m is not None and m > 0]
            if pts:
                ax_m.plot(*zip(*pts), **style)
        ax_s.set_ylim(-0.05, 1.05)
        ax_s.set_ylabel("success rate")
        ax_m.set_yscale("log")
        ax_m.set_ylabel(f"median final {metric}")
        for ax in (ax_s, ax_m):
            ax.set_xlabel(axes[0])
            if min(values[0]) > 0 and max(values[0]) >= 10 * min(values[0]):
                ax.set_xscale("log")  # regularisations, SNRs in decades
        ax_s.legend(fontsize=8)
    else:
        ncols = min(len(variants), 4)
        nrows = -(-len(variants) // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 1, 3.2 * nrows + 0.6),
                                 constrained_layout=True, squeeze=False)
        for ax in grid.flat[len(variants):]:
            ax.set_visible(False)
        for ax, v in zip(grid.flat, variants):
            rate = [[math.nan] * len(values[0]) for _ in values[1]]
            for (name, (x, y)), group in cells.items():
                if name == v:
                    rate[values[1].index(y)][values[0].index(x)] = (
                        sum(bool(r["success"]) for r in group) / len(group))
            im = ax.imshow(rate, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(values[0])), [_fmt(x) for x in values[0]], fontsize=7)
            ax.set_yticks(range(len(values[1])), [_fmt(y) for y in values[1]], fontsize=7)
            ax.set_xlabel(axes[0])
            ax.set_ylabel(axes[1])
            ax.set_title(v, fontsize=8)
        fig.colorbar(im, ax=grid.ravel().tolist(), label="success rate", shrink=0.8)
    fig.suptitle(f"{problem} ({size}; {backend}): success on {metric} across "
                 f"{' and '.join(axes)}", fontsize=10)
    return fig


def write_plots(runs, outdir) -> list:
    """Plot the curves of each group (metric vs time, iterations and oracle calls, log scale)
    and, for problems run over a grid of one or two parameters, the sweep figure
    (:func:`param_sweeps`).

    Returns the written files, or ``[]`` when matplotlib is not installed.
    """
    plt = _pyplot()
    if plt is None:
        return []
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    for gk, rs in _curve_groups(runs).items():
        fig = _figure(plt, gk, rs)
        f = outdir / f"{_slug(gk)}.png"
        _save_png(fig, f, dpi=80)
        plt.close(fig)
        files.append(f)
    for key, (axes, rs) in param_sweeps(runs).items():
        fig = _sweep_figure(plt, key, axes, rs)
        f = outdir / f"{_sweep_slug(key)}.png"
        _save_png(fig, f, dpi=80)
        plt.close(fig)
        files.append(f)
    return files


def _save_png(fig, target, *, dpi) -> None:
    """Save ``fig`` as a PNG with a 256-colour palette (line plots lose nothing visible and
    the files, committed with the docs pages or embedded in the HTML, shrink 2-4x)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    try:
        from PIL import Image

        buf.seek(0)
        img = Image.open(buf).convert("RGB").quantize(colors=256)
        out = io.BytesIO()
        img.save(out, format="PNG", optimize=True)
        data = out.getvalue()
    except Exception:  # Pillow missing or failing: keep matplotlib's own PNG
        data = buf.getvalue()
    if hasattr(target, "write"):
        target.write(data)
    else:
        Path(target).write_bytes(data)


def _has_calls(rs) -> bool:
    """Whether some run of the group reports oracle calls at two or more check points."""
    return any(sum(len(p) > 3 and p[3] is not None for p in r["curve"]) >= 2 for r in rs)


def _figure(plt, gk, rs):
    """The convergence figure of one group: metric vs solver time, vs iterations and,
    when the solvers report evaluation counters, vs oracle calls."""
    calls = _has_calls(rs)
    fig, axes = plt.subplots(1, 3 if calls else 2, figsize=(14 if calls else 10, 4),
                             constrained_layout=True)
    ax_t, ax_n = axes[0], axes[1]
    colors = {}
    for r in rs:
        name = _variant(r)
        color = colors.setdefault(name, f"C{len(colors) % 10}")
        pts = [p for p in r["curve"] if p[2] is not None and p[2] > 0]
        if not pts:
            continue
        label = name if name not in [ln.get_label() for ln in ax_t.lines] else None
        style = dict(color=color, lw=1, marker=".", ms=3)
        ax_t.plot([p[1] for p in pts], [p[2] for p in pts], label=label, **style)
        ax_n.plot([p[0] for p in pts], [p[2] for p in pts], **style)
        if calls:
            cp = [p for p in pts if len(p) > 3 and p[3] is not None]
            axes[2].plot([p[3] for p in cp], [p[2] for p in cp], **style)
    metric = rs[0].get("curve_metric") or "value"
    target = rs[0].get("target") if metric == rs[0].get("key_metric") else None
    xlabels = ["solver time [s]", "iterations"] + (["oracle calls"] if calls else [])
    for ax, xlabel in zip(axes, xlabels):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        if target:
            ax.axhline(target, color="k", ls=":", lw=0.8)
    starts = [p[2] for r in rs for p in r["curve"][:1] if p[2] is not None and p[2] > 0]
    if starts:  # diverging runs leave the top of the panels instead of squashing the rest
        top = 10 * max(max(starts), target or 0)
        for ax in axes:
            if ax.get_ylim()[1] > 1e3 * top:
                ax.set_ylim(top=top)
    from matplotlib.ticker import NullFormatter

    for ax in (ax_t, axes[2]) if calls else (ax_t,):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short ranges
    if len(colors) <= 8:
        ax_t.legend(fontsize=8)
    else:  # many variants (a tuning grid): the legend goes below the panels
        fig.set_figheight(4 + 0.18 * -(-len(colors) // 4))
        fig.legend(loc="outside lower center", ncol=4, fontsize=7)
    problem, size, _, backend = gk
    plabel = "".join(f", {k}={_fmt(v)}" for k, v in sorted(json.loads(gk[2]).items()))
    fig.suptitle(f"{problem} ({size}{plabel}; {backend})", fontsize=10)
    return fig


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}.warn{color:#a00;font-weight:bold}"""


def _html_table(header, rows) -> str:
    import html

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_figure(plt, fig, alt, caption) -> str:
    """``fig`` as an HTML figure with the PNG embedded (a data URI), then closed."""
    import base64
    import html
    import io

    buf = io.BytesIO()
    _save_png(fig, buf, dpi=80)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def write_html(runs, path, *, title="xpsolve benchmark report", skips=(), meta=None,
               parallel=False) -> Path:
    """Write a self-contained HTML report (plots embedded as PNG data URIs, no scripts).

    Sections per problem family (its summary table, :func:`family_summary`), then per
    problem group: the table of :func:`summarize`, the other metrics and the convergence
    figure; then the sweep figures, the skipped combinations and the environment.
    """
    import html

    path = Path(path)
    plt = _pyplot()
    groups = _curve_groups(runs)
    families = defaultdict(list)
    summary = summarize(runs)
    for gk in summary:
        fam = gk[0].split("/")[0]  # the problem family (constrained and sliding are both
        # solved by the minimize family; each is reported on its own)
        families[fam].append(gk)
    esc = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}"
             f"</title><style>{_CSS}</style></head><body><h1>{esc(title)}</h1>"]
    n_err = sum(r["status"] == "error" for r in runs)
    parts.append(f"<p>{len(runs)} runs, {n_err} errors, families: "
                 f"{esc(', '.join(sorted(families)))}. Times are solver seconds (callback and "
                 "metric bookkeeping excluded), medians over seeds and repeats; <em>time to "
                 "target</em> is the first check point where the problem's success metric meets "
                 "its tolerance; ratios are to the fastest solver of the group.</p>")
    if parallel:
        parts.append("<p class='warn'>Runs shared the machine (parallel executor): timings are "
                     "not comparable to serial ones.</p>")
    bad = inconsistent_runs(runs)
    if bad:
        parts.append(f"<p class='warn'>Inconsistent: {len(bad)} runs report success without "
                     "reaching the target on their curve.</p>")
    header = ["solver", "runs", "success", "median time [s]", "time ratio", "median nit",
              "time to target [s]", "reached", "ttt ratio", "final key metric"]
    parts.append("<nav><ul>" + "".join(f"<li><a href='#fam-{esc(f)}'>{esc(f)}</a></li>"
                                       for f in sorted(families)) + "</ul></nav>")
    fam_rows = family_summary(runs)
    by_group = _by_group(runs)
    for fam in sorted(families):
        parts.append(f"<h2 id='fam-{esc(fam)}'>{esc(fam)}</h2>")
        if fam in fam_rows:
            parts.append("<p>Summary over every instance of the family (success rate, share "
                         "of runs reaching the target, instances where the solver is the "
                         "fastest, median time-to-target ratio, median oracle calls):</p>")
            parts.append(_html_table(_FAMILY_HEADER, _family_rows(fam_rows[fam])))
        for gk in families[fam]:
            rows = summary[gk]
            problem, size, params, backend = gk
            plabel = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(json.loads(params).items()))
            parts.append(f"<h3>{esc(problem)} ({esc(size)}{', ' + esc(plabel) if plabel else ''};"
                         f" {esc(backend)})</h3>")
            metric = next((row["key_metric"] for row in rows if row["key_metric"]), "key metric")
            table = [[row["solver"], row["runs"], f"{row['success_rate']:.0%}", row["median_time"],
                      row["time_ratio"], row["median_nit"], row["ttt"], row["reached"],
                      row["ttt_ratio"], row["final"]] for row in rows]
            parts.append(_html_table(header[:-1] + [f"final {metric}"], table))
            more = other_metrics(by_group[gk], gk)
            if more:
                parts.append("<p>Other metrics (medians):</p>")
                parts.append(_html_table(["solver", *more[0]], more[1]))
            if plt is not None and gk in groups:
                parts.append(_html_figure(
                    plt, _figure(plt, gk, groups[gk]), f"convergence on {problem}",
                    f"{problem}: {groups[gk][0].get('curve_metric') or 'value'} against solver "
                    "time, iterations"
                    + (" and oracle calls (sum of the evaluation counters the solvers report)"
                       if _has_calls(groups[gk]) else "") + "; dotted line: the target."))
    sweeps = param_sweeps(runs) if plt is not None else {}
    if sweeps:
        parts.append("<h2>Across parameters</h2>")
        for key, (axes, rs) in sweeps.items():
            parts.append(_html_figure(
                plt, _sweep_figure(plt, key, axes, rs), f"{key[0]} across {', '.join(axes)}",
                f"{key[0]}: success rate across {' and '.join(axes)} per solver"
                + (" and the median final key metric" if len(axes) == 1 else "") + "."))
    if skips:
        parts.append("<h2>Skipped combinations</h2>")
        parts.append(_html_table(["problem", "size", "solver", "backend", "reason"],
                                 [[s.problem, s.size, s.solver, s.backend, s.reason]
                                  for s in skips]))
    if meta:
        parts.append("<h2>Environment</h2><ul>" + "".join(
            f"<li>{esc(str(k))}: {esc(str(v))}</li>" for k, v in sorted(meta.items())) + "</ul>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path


def build_report(results, *, markdown=None, html=None, plots=None, title=None) -> dict:
    """Build the reports of a stored suite (``results``: a directory or its ``results.sqlite``).

    Returns ``{"markdown": path, "html": path, "plots": [...], "runs": n}``.
    Defaults: ``report.md``, ``report.html`` and ``plots/`` beside the store.

    Examples
    --------
    >>> import tempfile, os
    >>> from xpsolve.suite.cli import main
    >>> d = tempfile.mkdtemp()
    >>> main(["--problems", "ot/additive_cost", "--solvers", "sinkhorn", "--sizes", "tiny", "--seeds", "0",
    ...       "--output", d, "--quiet", "--no-plot"])
    0
    >>> out = build_report(d, plots=False)
    >>> out["runs"], os.path.basename(out["html"])
    (1, 'report.html')
    """
    from .store import Store

    results = Path(results)
    db = results / "results.sqlite" if results.is_dir() else results
    if not db.exists():
        raise FileNotFoundError(f"no results store at {str(db)!r}")
    base = db.parent
    with Store(db) as store:
        runs = store.runs()
        meta = store.meta()
        from .plan import Skip

        skips = [Skip(*row) for row in store.con.execute(
            "SELECT DISTINCT problem, size, solver, backend, reason FROM skips")]
    title = title or f"xpsolve suite: plan {meta.get('plan', '?')}"
    parallel = any(r.get("parallel") for r in runs)
    plot_files = [] if plots is False else write_plots(runs, Path(plots or base / "plots"))
    md = write_markdown(runs, Path(markdown or base / "report.md"), title=title, skips=skips,
                        meta=meta, parallel=parallel, plots=plot_files)
    page = write_html(runs, Path(html or base / "report.html"), title=title, skips=skips,
                      meta=meta, parallel=parallel)
    return {"markdown": md, "html": page, "plots": plot_files, "runs": len(runs)}
