"""Hard per-run time limits: runs execute in a worker process that can be killed.

The solver callback stops a run that calls back after its ``timeout`` (best effort,
:class:`runner.Recorder`); a solver that never calls back (a peer's C loop, a
huge inner solve) is stopped here: :func:`run_guarded` sends the run to a
persistent child process (started once with ``spawn`` and reused, so JIT caches
and warm-ups survive between runs) and kills the child when the run overruns its
hard limit, :func:`hard_limit`. The run is then stored as ``timed_out``, and the
next run gets a fresh child.

Runs without a ``timeout`` run in the calling process, as before.
"""
from __future__ import annotations

import math
import multiprocessing
import time

from .plan import RunSpec
from .runner import WARMUP_BUDGET, error_record, run_one

__all__ = ["run_guarded", "hard_limit", "GRACE_S"]

#: Seconds granted past ``timeout`` + warm-up before the worker is killed: the
#: metrics of the final result and the hand-back of the record take this long at most.
GRACE_S = 10.0


def hard_limit(timeout: float) -> float:
    """Wall-clock seconds after which a run with ``timeout`` is killed."""
    return timeout + min(WARMUP_BUDGET, timeout) + GRACE_S + 0.25 * timeout


def _serve(conn):  # pragma: no cover - runs in the child process
    conn.send("ready")
    while True:
        try:
            spec = conn.recv()
        except EOFError:
            return
        if spec is None:
            return
        try:
            rec = run_one(spec)
        except BaseException as exc:  # run_one does not raise for solver failures
            rec = error_record(spec, exc)
        conn.send(rec)


class _Worker:
    """One killable child process that runs specs sent to it."""

    START_TIMEOUT = 120.0  # importing xpsolve, numpy, scipy and numba in a fresh process

    def __init__(self):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(self.START_TIMEOUT) or self.conn.recv() != "ready":
            self.kill()
            raise RuntimeError("the suite's worker process did not start")

    def alive(self) -> bool:
        return self.proc.is_alive()

    def run(self, spec, limit: float):
        """The record of ``spec``, or None when the child overran ``limit`` (it is killed)."""
        self.conn.send(spec)
        if self.conn.poll(limit):
            try:
                return self.conn.recv()
            except EOFError:  # the child died (segfault, out of memory)
                self.kill()
                raise RuntimeError("the worker process died during the run") from None
        self.kill()
        return None

    def kill(self):
        try:
            self.proc.kill()
            self.proc.join(5)
        finally:
            self.conn.close()

    def close(self):
        try:
            self.conn.send(None)
            self.proc.join(5)
        except (OSError, BrokenPipeError):
            pass
        if self.proc.is_alive():
            self.proc.kill()
        self.conn.close()


_WORKER: _Worker | None = None


def _can_fork_children() -> bool:
    # daemonic processes (e.g. Dask workers by default) may not start children
    return not multiprocessing.current_process().daemon


def run_guarded(spec) -> dict:
    """:func:`run_one` with a hard time limit (see the module docstring).

    Examples
    --------
    >>> from xpsolve.suite import RunSpec
    >>> rec = run_guarded(RunSpec("ot/additive_cost", "tiny", 0, "sinkhorn", "ot", warmup=False))
    >>> rec["status"]
    '0'
    """
    global _WORKER
    spec = spec if isinstance(spec, RunSpec) else RunSpec(**spec)
    if spec.timeout is None or not math.isfinite(spec.timeout) or not _can_fork_children():
        return run_one(spec)
    if _WORKER is None or not _WORKER.alive():
        _WORKER = _Worker()
    limit = hard_limit(spec.timeout)
    t0 = time.perf_counter()
    try:
        rec = _WORKER.run(spec, limit)
    except RuntimeError as exc:
        _WORKER = None
        return error_record(spec, exc)
    if rec is not None:
        return rec
    _WORKER = None
    rec = error_record(spec, TimeoutError(f"killed after {limit:.0f} s"))
    rec.update(status="timed_out", timed_out=True, error=None, wall_s=time.perf_counter() - t0,
               message=f"Timed out after {spec.timeout:g} s: the run did not stop at its "
                       f"callback and its worker process was killed at {limit:.0f} s.")
    return rec


def shutdown() -> None:
    """Stop the worker process (the suite calls this when it ends)."""
    global _WORKER
    if _WORKER is not None:
        _WORKER.close()
        _WORKER = None


