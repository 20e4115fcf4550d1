"""Report statistics on synthetic runs; the Dask extra's import error."""
import sys

import pytest

from xpsolve.suite import DaskExecutor, Skip
from xpsolve.suite.cli import main
from xpsolve.suite.report import format_table, summarize, time_to_target, write_markdown


def _run(solver, seed, time_s, nit, curve, status="0", success=True, options=None):
    return {"problem": "ot/x", "size": "tiny", "seed": seed, "solver": solver, "backend": "numpy",
            "params": {"reg": 0.1}, "options": options or {}, "status": status,
            "success": success, "time_s": time_s, "nit": nit, "key_metric": "marginal_err",
            "key_value": curve[-1][2] if curve else None, "target": 1e-8, "curve": curve,
            "curve_metric": "marginal_err", "message": "boom" if status == "error" else "",
            "repeat": 0}


def test_summarize_statistics_and_ratios(tmp_path):
    runs = [
        _run("fast", 0, 1.0, 10, [(5, 0.5, 1e-4), (10, 1.0, 1e-9)]),
        _run("fast", 1, 3.0, 30, [(15, 2.0, 1e-9), (30, 3.0, 1e-10)]),
        _run("slow", 0, 4.0, 40, [(40, 4.0, 1e-6)], status="1", success=False),
        _run("slow", 1, 8.0, 80, [(40, 6.0, 1e-9), (80, 8.0, 1e-10)]),
        _run("slow", 2, None, None, [], status="error", success=False),
    ]
    (group, rows), = summarize(runs).items()
    assert group == ("ot/x", "tiny", '{"reg": 0.1}', "numpy")
    fast, slow = rows
    assert (fast["success_rate"], fast["median_time"], fast["median_nit"]) == (1.0, 2.0, 20)
    assert (fast["ttt"], fast["reached"], fast["time_ratio"], fast["ttt_ratio"]) == \
        (1.5, "2/2", 1.0, 1.0)
    assert (slow["runs"], slow["errors"], slow["success_rate"]) == (3, 1, pytest.approx(1 / 3))
    assert (slow["median_time"], slow["time_ratio"]) == (6.0, 3.0)
    assert (slow["ttt"], slow["reached"], slow["ttt_ratio"]) == (6.0, "1/3", 4.0)
    assert slow["final"] == pytest.approx(0.5 * (1e-6 + 1e-10))
    skips = [Skip("ot/x", "tiny", "ot:pot:sinkhorn", "torch", "no torch"),
             Skip("ot/y", "tiny", "ot:pot:sinkhorn", "torch", "no torch")]
    md = write_markdown(runs, tmp_path / "report.md", skips=skips).read_text()
    assert "| ot:pot:sinkhorn | torch | no torch | ot/x (tiny), ot/y (tiny) |" in md
    assert "## ot/x (tiny, reg=0.1; numpy)" in md
    assert "| slow | 3 | 33% | 6 | 3 | 60 | 6 | 1/3 | 4 |" in md
    assert "error in slow seed 2: `boom`" in md


def test_option_variants_are_labelled():
    runs = [_run("s", 0, 1.0, 1, [(1, 1.0, 1.0)], options={"tol": 1e-3, "maxiter": 5}),
            _run("s", 0, 1.0, 1, [(1, 1.0, 1.0)], options={"tol": 1e-6, "maxiter": 5})]
    assert [r["solver"] for r in next(iter(summarize(runs).values()))] == \
        ["s {tol=0.001}", "s {tol=1e-06}"]
    assert "s {tol=1e-06}" in format_table(runs)


def test_time_to_target():
    assert time_to_target([(1, 0.1, 1.0), (2, 0.2, float("nan")), (3, 0.3, 1e-9)], 1e-8) == 0.3
    assert time_to_target([(1, 0.1, 1.0)], 1e-8) is None
    assert time_to_target([(1, 0.1, 1.0)], None) is None


def test_dask_missing_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with pytest.raises(ImportError, match=r"xpsolve\[dask\]"):
        DaskExecutor()
    assert main(["--plan", "tiny", "--executor", "dask", "--output", str(tmp_path / "r")]) == 2
    assert "xpsolve[dask]" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_report_command_rebuilds_markdown_and_self_contained_html(tmp_path, capsys):
    from xpsolve.__main__ import main as xmain
    from xpsolve.suite.report import inconsistent_runs
    from xpsolve.suite.store import Store

    out = tmp_path / "res"
    assert main(["--problems", "ot/additive_cost", "--solvers", "sinkhorn,sinkhorn-log",
                 "--sizes", "tiny", "--seeds", "0-1", "--output", str(out), "--quiet"]) == 0
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
    assert "<script" not in html and "http" not in html.split("<h2>Environment")[0]
    (out / "report.md").unlink()
    (out / "report.html").unlink()
    assert xmain(["report", str(out), "--no-plot"]) == 0
    md = (out / "report.md").read_text()
    assert "## ot/additive_cost (tiny" in md and "| sinkhorn | 2 | 100% |" in md
    assert "id='fam-ot'" in (out / "report.html").read_text()
    with Store(out / "results.sqlite") as store:
        runs = store.runs()
    # success and time to target agree: every successful run reached its target on its curve
    assert runs and not inconsistent_runs(runs)
    assert all(r["curve_metric"] == r["key_metric"] == "marginal_err" for r in runs)
    assert xmain(["report", str(tmp_path / "nothing")]) == 2
    assert "no results store" in capsys.readouterr().err


def test_inconsistent_success_is_flagged(tmp_path):
    from xpsolve.suite.report import inconsistent_runs

    runs = [_run("s", 0, 1.0, 5, [(5, 1.0, 1e-3)])]  # success but 1e-3 > target 1e-8
    assert inconsistent_runs(runs) == runs
    assert "Inconsistent: 1 runs" in write_markdown(runs, tmp_path / "r.md").read_text()


def test_figure_plots_against_oracle_calls_when_counted(tmp_path):
    # three panels (time, iterations, oracle calls) when a run reports counters at its check
    # points; two when none does (a sweep is then the oracle call)
    from xpsolve.suite.report import _figure, _pyplot, write_plots

    plt = _pyplot()
    if plt is None:
        pytest.skip("matplotlib is not installed")
    counted = [_run("a", 0, 1.0, 2, [[1, 0.5, 1e-4, 7], [2, 1.0, 1e-9, 15]]),
               _run("b", 0, 2.0, 2, [[1, 1.0, 1e-3, None], [2, 2.0, 1e-9, 40]])]
    gk = ("ot/x", "tiny", '{"reg": 0.1}', "numpy")
    fig = _figure(plt, gk, counted)
    assert len(fig.axes) == 3 and fig.axes[2].get_xlabel() == "oracle calls"
    xs = [[int(v) for v in line.get_xdata()] for line in fig.axes[2].lines
          if line.get_marker() == "."]  # the dotted target line is not a run
    assert xs == [[7, 15], [40]]  # points without a count are left out of that panel
    plt.close(fig)
    fig = _figure(plt, gk, [_run("a", 0, 1.0, 2, [[1, 0.5, 1e-4, None], [2, 1.0, 1e-9, None]])])
    assert len(fig.axes) == 2
    plt.close(fig)
    assert len(write_plots(counted, tmp_path)) == 1


def _grid_run(solver, seed, params, success, value=1e-9):
    r = _run(solver, seed, 1.0, 10, [[10, 1.0, value]], success=success)
    r["params"] = params
    return r


def test_param_sweeps_find_one_and_two_axis_grids(tmp_path):
    from xpsolve.suite.report import _pyplot, param_sweeps, write_html, write_plots

    two = [_grid_run(s, seed, {"m": m, "p": p, "n": 32}, success=m >= 4 * p)
           for s in ("pgd", "ls") for seed in (0, 1) for m in (8, 16, 32) for p in (1, 2, 4)]
    one = [dict(_grid_run("a", seed, {"reg": reg}, success=reg > 1e-3, value=reg), problem="ot/y")
           for seed in (0, 1) for reg in (1e-2, 1e-3)]
    mixed = [dict(_grid_run("a", 0, {"reg": 0.1, "cost": c}, success=True), problem="ot/z")
             for c in ("l1", "sqeuclidean")]  # a non-numeric axis: no sweep figure
    sweeps = param_sweeps(two + one + mixed)
    assert set(sweeps) == {("ot/x", "tiny", "numpy"), ("ot/y", "tiny", "numpy")}
    assert sweeps[("ot/x", "tiny", "numpy")][0] == ["m", "p"]
    assert sweeps[("ot/y", "tiny", "numpy")][0] == ["reg"]
    if _pyplot() is None:
        pytest.skip("matplotlib is not installed")
    files = write_plots(two + one + mixed, tmp_path / "plots")
    assert {f.name for f in files if f.name.startswith("sweep_")} == \
        {"sweep_ot_x_tiny_numpy.png", "sweep_ot_y_tiny_numpy.png"}
    md = write_markdown(two + one, tmp_path / "r.md", plots=files).read_text()
    assert "## Across parameters" in md and "(plots/sweep_ot_x_tiny_numpy.png)" in md
    html = write_html(two + one, tmp_path / "r.html").read_text()
    assert "<h2>Across parameters</h2>" in html and "success rate across m and p" in html


def test_two_axis_sweep_map_holds_the_success_rates():
    from xpsolve.suite.report import _pyplot, _sweep_figure, param_sweeps

    plt = _pyplot()
    if plt is None:
        pytest.skip("matplotlib is not installed")
    runs = [_grid_run("pgd", seed, {"m": m, "p": p}, success=(m >= 16 and seed == 0) or p == 1)
            for seed in (0, 1) for m in (8, 16) for p in (1, 2)]
    (key, (axes, rs)), = param_sweeps(runs).items()
    fig = _sweep_figure(plt, key, axes, rs)
    rate = fig.axes[0].images[0].get_array()
    # rows: p = 1, 2; columns: m = 8, 16
    assert [[float(v) for v in row] for row in rate] == [[1.0, 1.0], [0.0, 0.5]]
    plt.close(fig)


def test_other_metrics_are_reported_beside_the_key_metric(tmp_path):
    from xpsolve.suite.report import other_metrics

    runs = []
    for seed, acc in ((0, 0.9), (1, 0.8), (2, 0.7)):
        r = _run("bo-rep", seed, 1.0, 10, [[10, 1.0, 1e-9]])
        r["metrics"] = {"marginal_err": 1e-9, "test_accuracy": acc, "auc": None}
        runs.append(r)
    gk = ("ot/x", "tiny", '{"reg": 0.1}', "numpy")
    names, rows = other_metrics(runs, gk)
    assert names == ["auc", "test_accuracy"] and rows == [["bo-rep", None, 0.8]]
    md = write_markdown(runs, tmp_path / "r.md").read_text()
    assert "Other metrics (medians):" in md and "| bo-rep | - | 0.8 |" in md


def test_family_summary_counts_success_reach_and_speed(tmp_path):
    from xpsolve.suite.report import family_summary

    a0 = _run("a", 0, 1.0, 10, [[5, 0.5, 1e-3, 40], [10, 1.0, 1e-9, 80]])
    b0 = _run("b", 0, 2.0, 10, [[5, 1.0, 1e-3], [10, 2.0, 1e-9]])
    a1 = dict(_run("a", 0, 3.0, 10, [[10, 3.0, 1e-5, 90]], status="1", success=False),
              problem="ot/y")
    b1 = dict(_run("b", 0, 1.0, 10, [[10, 1.0, 1e-9]]), problem="ot/y")
    (fam, rows), = family_summary([a0, b0, a1, b1]).items()
    assert fam == "ot"
    a, b = rows
    assert (a["instances"], a["runs"], a["success_rate"], a["reached_rate"]) == (2, 2, 0.5, 0.5)
    assert (a["fastest"], a["ttt_ratio"], a["calls"]) == (1, 1.0, 85.0)
    assert (b["success_rate"], b["reached_rate"], b["fastest"], b["calls"]) == (1.0, 1.0, 1, None)
    assert b["ttt_ratio"] == pytest.approx(1.5)  # median of 2.0 (ot/x) and 1.0 (ot/y)
    md = write_markdown([a0, b0, a1, b1], tmp_path / "r.md").read_text()
    assert "## Summary: ot" in md and "| a | 2 | 2 | 50% | 50% | 1 | 1 | 85 |" in md
