"""Executors: one protocol, ``map_unordered(fn, specs) -> iterator of results``.

Results come back in completion order, one per spec. A spec whose worker fails
outside ``fn`` (a dead process, a lost Dask worker) yields
``runner.error_record(spec, exc)`` instead of ending the stream.

Timings from parallel executors (``parallel = True``) share the machine between
runs and are flagged as not comparable to serial ones.
"""
from __future__ import annotations

import contextlib
import os

from .runner import error_record

__all__ = ["SerialExecutor", "ProcessExecutor", "DaskExecutor", "make_executor", "PINNED_ENV"]

#: Thread counts pinned in worker processes: one run, one core.
PINNED_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class SerialExecutor:
    """Run specs one after the other in this process (the default; comparable timings).

    Examples
    --------
    >>> from xpsolve.suite import SerialExecutor, expand, load_plan, run_one
    >>> specs, _ = expand(load_plan("tiny"))
    >>> ex = SerialExecutor()
    >>> recs = list(ex.map_unordered(run_one, specs[:2]))
    >>> len(recs)
    2
    >>> ex.close()
    """

    name = "serial"
    parallel = False

    def map_unordered(self, fn, specs):
        for spec in specs:
            yield fn(spec)

    def close(self):
        pass


@contextlib.contextmanager
def _pinned_environ():
    # Worker processes copy the environment when they start; BLAS and Numba read it at import.
    saved = {k: os.environ.get(k) for k in PINNED_ENV}
    os.environ.update(PINNED_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pin_worker():
    os.environ.update(PINNED_ENV)


class ProcessExecutor:
    """A pool of local worker processes (:mod:`concurrent.futures`, ``spawn`` start).

    Parameters
    ----------
    n_workers : int, optional
        Number of processes (default: the CPU count).

    Examples
    --------
    >>> from xpsolve.suite import make_executor
    >>> ex = make_executor("process", n_workers=2)
    >>> type(ex).__name__
    'ProcessExecutor'
    >>> ex.close()
    """

    name = "process"
    parallel = True

    def __init__(self, n_workers: int | None = None):
        import multiprocessing

        self.n_workers = n_workers or os.cpu_count() or 1
        self._ctx = multiprocessing.get_context("spawn")
        self._pool = None

    def map_unordered(self, fn, specs):
        from concurrent.futures import ProcessPoolExecutor, as_completed

        specs = list(specs)
        if not specs:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.n_workers, mp_context=self._ctx,
                                             initializer=_pin_worker)
        # workers start during submit(): they inherit the pinned environment
        with _pinned_environ():
            futures = {self._pool.submit(fn, s): s for s in specs}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # e.g. BrokenProcessPool
                yield error_record(futures[fut], exc)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor:
    """Runs on a ``dask.distributed`` cluster: ``client.submit`` + ``as_completed``.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``"tcp://host:8786"``). Without it a ``LocalCluster``
        of ``n_workers`` single-threaded worker processes is started (and closed
        by ``close()``), with thread counts pinned as in ``PINNED_ENV``.
        Workers of a remote cluster must have xpsolve installed and should pin
        their threads themselves.
    n_workers : int, optional
        Workers of the local cluster (default: the CPU count).

    Examples
    --------
    Needs ``dask.distributed`` (``pip install "xpsolve[dask]"``); from the command line,
    ``python -m xpsolve suite --executor dask --n-workers 4``:

    >>> from xpsolve.suite import make_executor
    >>> ex = make_executor("dask", n_workers=2)          # doctest: +SKIP
    >>> records = list(ex.map_unordered(run_one, specs))  # doctest: +SKIP
    >>> ex.close()                                       # doctest: +SKIP
    """

    name = "dask"
    parallel = True

    def __init__(self, address: str | None = None, n_workers: int | None = None):
        try:
            import distributed
        except ImportError as exc:
            raise ImportError("the dask executor needs dask.distributed: "
                              "pip install 'xpsolve[dask]'") from exc
        self._cluster = None
        if address:
            self.client = distributed.Client(address)
        else:
            n = n_workers or os.cpu_count() or 1
            with _pinned_environ():
                self._cluster = distributed.LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
            self.client = distributed.Client(self._cluster)

    def map_unordered(self, fn, specs):
        from distributed import as_completed

        futures = {}
        for s in specs:
            futures[self.client.submit(fn, s, pure=False)] = s
        for fut in as_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as exc:  # a worker lost, a pickling problem
                yield error_record(futures[fut], exc)

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(name: str, *, n_workers: int | None = None, address: str | None = None):
    """Executor by name: ``"serial"``, ``"process"`` or ``"dask"``.

    Examples
    --------
    >>> from xpsolve.suite import make_executor
    >>> type(make_executor("serial")).__name__
    'SerialExecutor'
    """
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(n_workers)
    if name == "dask":
        return DaskExecutor(address, n_workers)
    raise ValueError(f"unknown executor {name!r}; choose serial, process or dask")
