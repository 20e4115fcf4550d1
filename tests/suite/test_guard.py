"""Hard time limits, retries of failed runs and clean errors for a bad --output."""
import os
import sqlite3
import time

import pytest

from xpsolve.suite import _guard
from xpsolve.suite.cli import main
from xpsolve.suite.plan import PlanError, parse_seeds
from xpsolve.suite.store import OutputLocked, Store

pytest.importorskip("ot")

# POT's sinkhorn_log never calls back: at tol 1e-300 it would run all 10**7 sweeps (hours)
NEVER_CALLS_BACK = """
description = "a peer that never calls back"
problems = ["ot/random_assignment"]
solvers = ["pot:sinkhorn-log"]
sizes = ["small"]
seeds = [0]
backends = ["numpy"]
timeout = 0.5
warmup = false

[options."*"]
maxiter = 10000000
tol = 1e-300
"""


def _rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_timeout_kills_a_run_that_never_calls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(_guard, "GRACE_S", 1.0)
    plan = tmp_path / "never.toml"
    plan.write_text(NEVER_CALLS_BACK)
    out = tmp_path / "res"
    t0 = time.perf_counter()
    rc = main(["--plan", str(plan), "--output", str(out), "--quiet", "--no-plot"])
    elapsed = time.perf_counter() - t0
    (status, timed_out, message), = _rows(out / "results.sqlite",
                                          "SELECT status, timed_out, message FROM runs")
    assert status == "timed_out" and timed_out == 1 and "killed" in message
    assert rc == 0
    # the worker starts in a fresh interpreter (imports), then the run is killed at ~2 s
    assert elapsed < _guard._Worker.START_TIMEOUT
    # the next run gets a fresh worker: a fast run still works after the kill
    rec = _guard.run_guarded(_spec("sinkhorn", timeout=30.0))
    assert rec["status"] == "0"
    _guard.shutdown()


def _spec(solver, **kw):
    from xpsolve.suite import RunSpec

    return RunSpec("ot/additive_cost", "tiny", 0, solver, "ot", warmup=False, **kw)


def test_runs_without_timeout_stay_in_process():
    rec = _guard.run_guarded(_spec("sinkhorn"))
    assert rec["status"] == "0" and rec["pid"] == os.getpid()


def test_hard_limit_grows_with_timeout():
    assert _guard.hard_limit(0.5) < _guard.hard_limit(60) < 2 * 60 + 20


def test_retry_errors_reruns_only_failed_runs(tmp_path):
    out = tmp_path / "res"
    args = ["--problems", "ot/additive_cost", "--solvers", "sinkhorn", "--sizes", "tiny",
            "--seeds", "0-1", "--output", str(out), "--quiet", "--no-plot"]
    assert main(args) == 0
    db = out / "results.sqlite"
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET status = 'error' WHERE seed = 1")
    con.commit()
    con.close()
    assert main(args + ["--resume"]) == 1  # the stored error is kept and reported
    assert main(args + ["--retry-errors"]) == 2  # needs --resume
    assert main(args + ["--resume", "--retry-errors"]) == 0
    assert sorted(_rows(db, "SELECT seed, status FROM runs")) == [(0, "0"), (1, "0")]


def test_unwritable_output_is_a_clean_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc = main(["--problems", "ot/additive_cost", "--solvers", "sinkhorn", "--sizes", "tiny",
               "--output", str(blocker / "sub"), "--quiet", "--no-plot"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write to --output" in err and "Traceback" not in err


def test_corrupted_store_is_a_clean_error(tmp_path, capsys):
    out = tmp_path / "res"
    out.mkdir()
    (out / "results.sqlite").write_bytes(b"this is not sqlite" * 100)
    rc = main(["--problems", "ot/additive_cost", "--solvers", "sinkhorn", "--sizes", "tiny",
               "--output", str(out), "--quiet", "--no-plot"])
    err = capsys.readouterr().err
    assert rc == 2 and "not a readable results store" in err and "Traceback" not in err


def test_two_suites_on_one_output_are_refused(tmp_path, capsys):
    out = tmp_path / "res"
    with Store(out / "results.sqlite", lock=True):
        with pytest.raises(OutputLocked):
            Store(out / "results.sqlite", lock=True)
        rc = main(["--problems", "ot/additive_cost", "--solvers", "sinkhorn", "--sizes", "tiny",
                   "--output", str(out), "--quiet", "--no-plot"])
        assert rc == 2 and "another suite is writing" in capsys.readouterr().err
    # released when the first one closes
    Store(out / "results.sqlite", lock=True).close()


def test_huge_seed_range_is_refused_fast():
    t0 = time.perf_counter()
    with pytest.raises(PlanError, match="more than 10000 seeds"):
        parse_seeds("0-1000000000")
    assert time.perf_counter() - t0 < 1.0
    assert main(["--seeds", "0-1000000000", "--quiet"]) == 2
