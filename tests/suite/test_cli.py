"""The command line end to end: tiny plans, resume, kill-and-resume, executors, bad input."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xpsolve.__main__ import main as xpsolve_main
from xpsolve.suite import expand, load_plan
from xpsolve.suite.cli import main
from xpsolve.suite.executors import PINNED_ENV

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--problems", "ot/additive_cost", "--solvers", "sinkhorn", "--sizes", "tiny"]


def _rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for word in ("ot/random_assignment", "ot:sinkhorn-log", "ot:pot:sinkhorn", "quick", "tiny",
                 "ot-sinkhorn"):
        assert word in out
    assert xpsolve_main(["suite", "--list"]) == 0


def test_tiny_plan_end_to_end(tmp_path, capsys):
    # the CI smoke plan, narrowed to its fastest problem (and two seeds) to keep the test short
    out = tmp_path / "res"
    narrow = ["--problems", "ot/additive_cost", "--seeds", "0-1"]
    assert main(["--plan", "tiny", *narrow, "--output", str(out)]) == 0
    plan = load_plan("tiny")
    plan.problems, plan.seeds = ["ot/additive_cost"], [0, 1]
    specs, _ = expand(plan)
    db = out / "results.sqlite"
    rows = _rows(db, "SELECT key, problem, solver, status, nit, time_s, executor, parallel "
                     "FROM runs")
    assert sorted(r[0] for r in rows) == sorted(s.key for s in specs)
    assert len(rows) == 6  # 2 seeds x 3 solvers (sinkhorn, sinkhorn-log, sns)
    assert {r[3] for r in rows} == {"0"}
    assert all(r[4] > 0 and r[5] > 0 and r[6] == "serial" and r[7] == 0 for r in rows)
    n_curve = _rows(db, "SELECT run_key, COUNT(*) FROM curve GROUP BY run_key")
    assert len(n_curve) == 6 and all(n >= 1 for _, n in n_curve)
    meta = dict(_rows(db, "SELECT name, value FROM meta"))
    assert meta["plan"] == "tiny" and meta["executor"] == "serial" and "version.numpy" in meta
    report = (out / "report.md").read_text()
    for s in specs:
        assert f"## {s.problem} (tiny" in report
    assert "| sinkhorn-log |" in report and "time to target" in report
    assert len(list((out / "plots").glob("*.png"))) == 1
    assert "![ot/additive_cost](plots/" in report
    assert "| sinkhorn | 2 | 100% |" in report
    table = capsys.readouterr().out
    assert table.count("ot/additive_cost") == 6 and "marginal_err" in table

    # the same plan again: refused without --resume, a no-op with it
    again = ["--plan", "tiny", *narrow, "--output", str(out), "--quiet"]
    assert main(again) == 2
    assert "already holds 6 of the 6 runs" in capsys.readouterr().err
    assert main(again + ["--resume"]) == 0
    assert _rows(db, "SELECT COUNT(*) FROM runs") == [(6,)]
    # other runs append to the same store
    assert main(FAST + ["--seeds", "5", "--output", str(out), "--quiet", "--no-plot"]) == 0
    assert _rows(db, "SELECT COUNT(*) FROM runs") == [(7,)]


def test_error_runs_give_exit_status_1(tmp_path):
    plan = tmp_path / "broken.toml"
    plan.write_text('problems = ["ot/additive_cost"]\nsolvers = ["sinkhorn"]\n'
                    '[options."*"]\nmaxiters = 3\n')
    out = tmp_path / "res"
    assert main(["--plan", str(plan), "--output", str(out), "--quiet", "--no-plot"]) == 1
    (status, message), = _rows(out / "results.sqlite", "SELECT status, message FROM runs")
    assert status == "error" and "maxiters" in message
    assert "error in sinkhorn" in (out / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--problems", "nope/*"], "no problem matches 'nope/*'"),
    (["--solvers", "zzz"], "no solver matches 'zzz'"),
    (["--seeds", "x"], "bad seeds 'x'"),
    (["--seeds", "3-1"], "empty range"),
    (["--backend", "jax"], "unknown backend 'jax'"),
    (["--plan", "nope"], "unknown plan 'nope'"),
    (["--repeat", "0"], "--repeat must be at least 1"),
    (["--timeout", "-1"], "--timeout must be positive"),
    (["--executor", "ray"], "invalid choice: 'ray'"),
    (["--sizes", "huge"], "selects no runnable combination"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input(tmp_path, capsys, args, message):
    assert main(args + ["--output", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert "xpsolve suite: error:" in err and message in err
    assert not (tmp_path / "res").exists()  # nothing was run or written


def test_process_executor(tmp_path):
    out = tmp_path / "res"
    env_before = {k: os.environ.get(k) for k in PINNED_ENV}
    assert main(FAST + ["--seeds", "0-1", "--executor", "process", "--n-workers", "2",
                        "--output", str(out), "--quiet", "--no-plot"]) == 0
    rows = _rows(out / "results.sqlite", "SELECT status, executor, parallel, threads, pid FROM runs")
    assert len(rows) == 2
    assert all(r[:4] == ("0", "process", 1, "1") for r in rows)  # threads pinned in workers
    assert all(r[4] != os.getpid() for r in rows)
    assert {k: os.environ.get(k) for k in PINNED_ENV} == env_before  # parent left as it was
    assert "not comparable" in (out / "report.md").read_text()


@pytest.mark.slow
def test_dask_local_cluster_matches_serial_on_the_default_plan(tmp_path):
    # the default plan (every family, with its peers) on a 2-worker LocalCluster: the same
    # runs, statuses, success flags and metrics (to 1e-12) as the serial executor
    pytest.importorskip("distributed")
    import json
    import math

    args = ["--quiet", "--no-plot"]
    serial, dask = tmp_path / "serial", tmp_path / "dask"
    assert main(args + ["--output", str(serial)]) in (0, 1)
    assert main(args + ["--executor", "dask", "--n-workers", "2", "--output", str(dask)]) in (0, 1)
    q = "SELECT key, status, success, metrics, executor, parallel, threads FROM runs ORDER BY key"
    a, b = _rows(serial / "results.sqlite", q), _rows(dask / "results.sqlite", q)
    assert len(a) == len(b) == len(expand(load_plan("quick"))[0])
    families = {k.split("/")[0] for k, in _rows(serial / "results.sqlite",
                                                 "SELECT problem FROM runs")}
    assert families >= {"ot", "constrained", "bilevel", "completion", "calibration", "recovery",
                        "sliding"}
    for ra, rb in zip(a, b):
        assert ra[:3] == rb[:3], ra[0]  # same key, status and success flag
        ma, mb = json.loads(ra[3]), json.loads(rb[3])
        assert ma.keys() == mb.keys(), ra[0]
        for k in ma:
            if isinstance(ma[k], float) and math.isnan(ma[k]):
                assert math.isnan(mb[k]), (ra[0], k)
            else:
                assert ma[k] == pytest.approx(mb[k], rel=1e-12, abs=1e-12), (ra[0], k)
        assert ra[4:6] == ("serial", 0) and rb[4:] == ("dask", 1, "1")  # dask workers pinned


@pytest.mark.slow
def test_dask_worker_killed_mid_plan_every_run_stored_once(tmp_path):
    pytest.importorskip("distributed")
    from xpsolve.suite import DaskExecutor
    from xpsolve.suite.runner import run_one
    from xpsolve.suite.store import Store

    # 12 runs of ~0.2 s (never converged, fixed sweep count)
    plan = tmp_path / "p.toml"
    plan.write_text('problems = ["ot/random_assignment"]\nsolvers = ["sinkhorn"]\n'
                    'sizes = ["tiny"]\nseeds = "0-11"\nwarmup = false\n'
                    '[options."*"]\nmaxiter = 8000\ntol = 1e-300\ncheck_every = 1000\n')
    specs, _ = expand(load_plan(plan))
    ex = DaskExecutor(n_workers=2)
    killed = False
    try:
        with Store(tmp_path / "results.sqlite") as store:
            for rec in ex.map_unordered(run_one, specs):
                store.add_run(rec, session="s", executor="dask", parallel=1)  # a duplicate raises
                if not killed:
                    pids = ex.client.run(os.getpid)
                    os.kill(next(iter(pids.values())), signal.SIGKILL)
                    killed = True
            keys = [k for k, in store.con.execute("SELECT key FROM runs")]
            statuses = {s for s, in store.con.execute("SELECT status FROM runs")}
    finally:
        ex.close()
    assert killed
    assert sorted(keys) == sorted(s.key for s in specs)  # each run exactly once
    assert statuses <= {"1", "error"}


def test_kill_and_resume(tmp_path):
    # 20 runs of about 0.1 s each (n = 20 random assignment, 5000 sweeps, never converged)
    plan = tmp_path / "killme.toml"
    plan.write_text('problems = ["ot/random_assignment"]\nsolvers = ["sinkhorn"]\n'
                    'sizes = ["tiny"]\nseeds = "0-19"\n'
                    '[options."*"]\nmaxiter = 5000\ntol = 1e-300\ncheck_every = 500\n')
    n_plan = len(expand(load_plan(plan))[0])
    assert n_plan == 20
    out = tmp_path / "res"
    db = out / "results.sqlite"
    cmd = [sys.executable, "-m", "xpsolve", "suite", "--plan", str(plan), "--output", str(out),
           "--quiet", "--no-plot"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        n = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    n = _rows(db, "SELECT COUNT(*) FROM runs")[0][0]
                except sqlite3.OperationalError:  # tables not created yet
                    n = 0
                if n >= 2:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, "the suite finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    before = dict(_rows(db, "SELECT key, rowid FROM runs"))
    curve_before = _rows(db, "SELECT run_key, idx, nit, time_s, value FROM curve ORDER BY run_key, idx")
    assert 2 <= len(before) < n_plan
    assert {c[0] for c in curve_before} == set(before)  # every stored run has its whole curve
    assert all(n == 10 for _, n in _rows(db, "SELECT run_key, COUNT(*) FROM curve GROUP BY run_key"))

    res = subprocess.run(cmd + ["--resume"], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    after = _rows(db, "SELECT key, rowid FROM runs")
    keys = [k for k, _ in after]
    assert len(keys) == len(set(keys)) == n_plan
    assert {k for k, _ in after} == {s.key for s in expand(load_plan(plan))[0]}
    assert {k: r for k, r in after if k in before} == before  # old rows untouched
    curve_after = _rows(db, "SELECT run_key, idx, nit, time_s, value FROM curve "
                            "ORDER BY run_key, idx")
    assert [c for c in curve_after if c[0] in before] == curve_before
    assert _rows(db, "SELECT COUNT(*) FROM curve") == [(10 * n_plan,)]
