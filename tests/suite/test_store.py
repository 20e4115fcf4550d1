"""The SQLite store: one transaction per run, WAL, round trips."""
import math
import sqlite3

import pytest

from xpsolve.suite import Skip, Store
from xpsolve.suite.store import environment_meta


def _rec(key, curve=((1, 0.1, 1e-2), (2, 0.2, 1e-4))):
    return {"key": key, "problem": "ot/x", "size": "tiny", "seed": 0, "solver": "s",
            "status": "0", "success": True, "metrics": {"err": 1e-4, "nan": math.nan},
            "options": {"tol": 1e-9}, "curve": [list(c) for c in curve], "ignored_field": 1}


def test_round_trip_and_wal(tmp_path):
    path = tmp_path / "out" / "results.sqlite"
    with Store(path) as store:
        assert store.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.add_run(_rec("a"), session="s1", executor="serial", parallel=0)
        store.add_run(_rec("b", curve=()), session="s1")
        store.add_meta("s1", {"version.numpy": "2.4", "cpu_count": 2})
        store.add_skips("s1", [Skip("p", "tiny", "ot:x", "numpy", "why")])
    with Store(path) as store:
        assert store.keys() == {"a", "b"}
        runs = store.runs()
        assert [r["key"] for r in runs] == ["a", "b"]
        a = runs[0]
        assert a["success"] == 1 and a["executor"] == "serial" and a["session"] == "s1"
        assert a["options"] == {"tol": 1e-9}
        assert a["metrics"]["err"] == 1e-4 and math.isnan(a["metrics"]["nan"])
        assert a["curve"] == [[1, 0.1, 1e-2, None], [2, 0.2, 1e-4, None]]
        assert store.curve("a") == [(1, 0.1, 1e-2, None), (2, 0.2, 1e-4, None)]
        assert runs[1]["curve"] == []
        assert store.meta() == {"version.numpy": "2.4", "cpu_count": "2"}
        assert store.con.execute("SELECT reason FROM skips").fetchall() == [("why",)]
        assert [r["key"] for r in store.runs(keys={"b"})] == ["b"]


def test_a_failing_run_leaves_nothing_behind(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        store.add_run(_rec("a"))
        with pytest.raises(sqlite3.IntegrityError):
            store.add_run(_rec("a", curve=((9, 9.0, 9.0),)))  # duplicate key
        with pytest.raises(ValueError):
            store.add_run(_rec("c", curve=((1, 0.1),)))  # malformed curve: the row rolls back
        store.add_run(_rec("d", curve=((1, 0.1, 1e-2, 5),)))  # with its oracle calls
        assert store.curve("d") == [(1, 0.1, 1e-2, 5)]
        assert store.keys() == {"a", "d"}
        assert store.curve("a") == [(1, 0.1, 1e-2, None), (2, 0.2, 1e-4, None)]
        assert store.con.execute("SELECT COUNT(*) FROM curve").fetchone()[0] == 3


def test_environment_meta():
    meta = environment_meta()
    for key in ("python", "platform", "cpu_count", "version.numpy", "version.scipy"):
        assert key in meta


def test_a_store_written_before_oracle_calls_is_upgraded(tmp_path):
    # stores written before the curve had its calls column open, report and resume
    path = tmp_path / "r.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE runs (key TEXT PRIMARY KEY, problem TEXT);
        CREATE TABLE curve (run_key TEXT NOT NULL, idx INTEGER NOT NULL, nit INTEGER,
                            time_s REAL, value REAL, PRIMARY KEY (run_key, idx));
        INSERT INTO runs VALUES ('old', 'p');
        INSERT INTO curve VALUES ('old', 0, 3, 0.5, 1e-3);""")
    con.commit()
    con.close()
    with Store(path) as store:
        assert store.curve("old") == [(3, 0.5, 1e-3, None)]
        store.add_run({"key": "new", "problem": "p", "curve": [[1, 0.1, 1e-2, 4]]})
        assert store.runs()[1]["curve"] == [[1, 0.1, 1e-2, 4]]
