"""Results store: one SQLite file (``results.sqlite``), appended run by run.

Every finished run is written in ONE transaction (its ``runs`` row and its
``curve`` rows), in WAL mode, so a suite killed at any point (even SIGKILL)
keeps every run it finished, and ``--resume`` skips the keys already stored.

Tables
------
``runs``   one row per run; ``key`` (primary key) is :attr:`RunSpec.key`.
``curve``  ``(run_key, idx, nit, time_s, value, calls)``: the convergence curve
           (``calls``: oracle calls so far when the solver reports counters, else NULL).
``meta``   ``(session, name, value)``: versions, platform, CPU count, git hash
           of each suite invocation (``session``).
``skips``  ``(session, problem, size, solver, backend, reason)``: combinations
           the plan left out.
"""
from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

__all__ = ["Store", "RUN_COLUMNS", "OutputLocked"]

#: Columns of ``runs`` (name, SQL type); JSON columns hold dicts/lists.
RUN_COLUMNS = (
    ("key", "TEXT PRIMARY KEY"), ("session", "TEXT"), ("problem", "TEXT"), ("size", "TEXT"),
    ("seed", "INTEGER"), ("solver", "TEXT"), ("family", "TEXT"), ("backend", "TEXT"),
    ("repeat", "INTEGER"), ("options", "JSON"), ("params", "JSON"), ("status", "TEXT"),
    ("solver_status", "INTEGER"), ("success", "INTEGER"), ("solver_success", "INTEGER"),
    ("message", "TEXT"), ("nit", "INTEGER"), ("fun", "REAL"), ("time_s", "REAL"),
    ("wall_s", "REAL"), ("warmup_s", "REAL"), ("metrics", "JSON"), ("key_metric", "TEXT"),
    ("key_value", "REAL"), ("target", "REAL"), ("curve_metric", "TEXT"), ("timed_out", "INTEGER"),
    ("timeout", "REAL"), ("error", "TEXT"), ("warnings", "JSON"), ("executor", "TEXT"),
    ("parallel", "INTEGER"), ("pid", "INTEGER"), ("host", "TEXT"), ("threads", "TEXT"),
    ("started_at", "TEXT"), ("finished_at", "TEXT"),
)
_JSON = {name for name, typ in RUN_COLUMNS if typ == "JSON"}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs ({", ".join(f'"{n}" {t}' for n, t in RUN_COLUMNS)});
CREATE TABLE IF NOT EXISTS curve (run_key TEXT NOT NULL REFERENCES runs(key), idx INTEGER NOT NULL,
    nit INTEGER, time_s REAL, value REAL, calls INTEGER, PRIMARY KEY (run_key, idx));
CREATE TABLE IF NOT EXISTS meta (session TEXT NOT NULL, name TEXT NOT NULL, value TEXT,
    PRIMARY KEY (session, name));
CREATE TABLE IF NOT EXISTS skips (session TEXT, problem TEXT, size TEXT, solver TEXT,
    backend TEXT, reason TEXT);
"""


class OutputLocked(RuntimeError):
    """Another suite holds the lock of this output directory."""


class Store:
    """The SQLite results store under an output directory.

    Parameters
    ----------
    path : str or Path
        The database file (created with its parent directory if missing).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with Store(os.path.join(d, "results.sqlite")) as store:
    ...         store.add_run({"key": "k1", "problem": "p", "curve": [[1, 0.1, 1e-3, 12]]})
    ...         store.keys(), store.curve("k1")
    ({'k1'}, [(1, 0.1, 0.001, 12)])
    """

    def __init__(self, path, *, lock=False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = None
        if lock:
            self._acquire_lock()
        # autocommit mode: transactions are explicit (BEGIN ... COMMIT) in _transaction
        self.con = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL
        try:
            self.con.executescript(_SCHEMA)
            self.con.execute("SELECT count(*) FROM runs").fetchone()
            cols = {row[1] for row in self.con.execute("PRAGMA table_info(curve)")}
            if "calls" not in cols:  # a store written before oracle calls were recorded
                self.con.execute("ALTER TABLE curve ADD COLUMN calls INTEGER")
        except Exception:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        con = getattr(self, "con", None)
        if con is not None:
            con.close()
        if self._lock is not None:
            import fcntl

            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _acquire_lock(self):
        # One writer per output directory: a second suite on the same --output would
        # interleave sessions and race on --resume. flock is released when the process dies.
        import fcntl

        fh = open(self.path.parent / ".xpsolve-suite.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise OutputLocked(f"another suite is writing to {str(self.path.parent)!r}; wait for it "
                               "to finish or choose another --output") from None
        self._lock = fh

    def delete_runs(self, keys, *, statuses) -> int:
        """Delete the stored runs among ``keys`` whose status is in ``statuses``; return the count."""
        keys, statuses = list(keys), list(statuses)
        if not keys or not statuses:
            return 0
        n = 0
        with self._transaction() as con:
            for k in keys:
                row = con.execute("SELECT status FROM runs WHERE key = ?", (k,)).fetchone()
                if row is not None and row[0] in statuses:
                    con.execute("DELETE FROM curve WHERE run_key = ?", (k,))
                    con.execute("DELETE FROM runs WHERE key = ?", (k,))
                    n += 1
        return n

    def _transaction(self):
        store = self

        class _Tx:
            def __enter__(self):
                store.con.execute("BEGIN IMMEDIATE")
                return store.con

            def __exit__(self, typ, *rest):
                store.con.execute("ROLLBACK" if typ else "COMMIT")

        return _Tx()

    def keys(self) -> set:
        """Keys of the runs already stored."""
        return {r[0] for r in self.con.execute("SELECT key FROM runs")}

    def add_run(self, record: dict, **extra) -> None:
        """Store one finished run (its row and its curve) in a single transaction.

        ``extra`` entries (``session``, ``executor``, ``parallel``) are added to the row.
        Unknown record keys are ignored; a key already stored raises ``sqlite3.IntegrityError``.
        """
        rec = {**record, **extra}
        names = [n for n, _ in RUN_COLUMNS if n in rec]
        values = [json.dumps(rec[n], default=repr) if n in _JSON else _sql(rec[n]) for n in names]
        curve = rec.get("curve") or []
        with self._transaction() as con:
            con.execute(f"INSERT INTO runs ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in names)}) "
                        f"VALUES ({', '.join('?' * len(names))})", values)
            con.executemany(
                "INSERT INTO curve (run_key, idx, nit, time_s, value, calls) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(rec["key"], i, *_point(c)) for i, c in enumerate(curve)])

    def add_meta(self, session: str, meta: dict) -> None:
        with self._transaction() as con:
            con.executemany("INSERT OR REPLACE INTO meta (session, name, value) VALUES (?, ?, ?)",
                            [(session, k, str(v)) for k, v in meta.items()])

    def add_skips(self, session: str, skips) -> None:
        with self._transaction() as con:
            con.executemany("INSERT INTO skips VALUES (?, ?, ?, ?, ?, ?)",
                            [(session, s.problem, s.size, s.solver, s.backend, s.reason)
                             for s in skips])

    def runs(self, keys=None, *, curves=True) -> list:
        """Stored runs as dicts (JSON columns decoded, ``rowid_`` and, with ``curves``,
        ``curve`` as lists ``[nit, time_s, value, calls]``), optionally only ``keys``, in row order."""
        cur = self.con.execute("SELECT rowid AS rowid_, * FROM runs ORDER BY rowid")
        cols = [d[0] for d in cur.description]
        out = []
        for row in cur:
            d = dict(zip(cols, row))
            if keys is not None and d["key"] not in keys:
                continue
            for n in _JSON:
                if d.get(n) is not None:
                    d[n] = json.loads(d[n])
            out.append(d)
        if curves:
            by_key = {}
            for k, n, t, v, c in self.con.execute(
                    "SELECT run_key, nit, time_s, value, calls FROM curve ORDER BY run_key, idx"):
                by_key.setdefault(k, []).append([n, t, math.nan if v is None else v, c])
            for d in out:
                d["curve"] = by_key.get(d["key"], [])
        return out

    def curve(self, key: str) -> list:
        """The curve of run ``key``: list of ``(nit, time_s, value, calls)``."""
        return [tuple(r) for r in self.con.execute(
            "SELECT nit, time_s, value, calls FROM curve WHERE run_key = ? ORDER BY idx", (key,))]

    def meta(self, session: str | None = None) -> dict:
        """Meta rows of ``session`` (default: the latest session)."""
        if session is None:
            row = self.con.execute("SELECT session FROM meta ORDER BY rowid DESC LIMIT 1").fetchone()
            if row is None:
                return {}
            session = row[0]
        return dict(self.con.execute("SELECT name, value FROM meta WHERE session = ?", (session,)))


def _point(c) -> tuple:
    """A curve point ``(nit, time_s, value[, calls])`` as the four curve columns."""
    if len(c) not in (3, 4):
        raise ValueError(f"a curve point is (nit, time_s, value[, calls]), got {c!r}")
    return (*c[:3], c[3] if len(c) == 4 else None)


def _sql(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, default=repr)
    return v


def environment_meta() -> dict:
    """Versions and machine facts worth keeping with the results (cheap to collect)."""
    import os
    import platform
    import subprocess
    import sys
    from importlib import metadata

    meta = {"python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "cpu_count": os.cpu_count()}
    try:  # a loaded machine makes times incomparable: keep the load with the results
        meta["load_average_1_5_15"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        pass
    for dist in ("xpsolve", "numpy", "scipy", "numba", "array-api-compat", "torch", "pot"):
        try:
            meta[f"version.{dist}"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        import xpsolve

        meta["version.xpsolve"] = xpsolve.__version__
        import numpy

        blas = numpy.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        meta["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # old NumPy: no dict mode
        pass
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        if out.returncode == 0:
            meta["git"] = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return meta
