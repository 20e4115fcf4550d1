"""Run asv-style micro-benchmarks without asv and print a Markdown table.

    python -m benchmarks                          # every module, full parameter grids
    python -m benchmarks bench_ot_kernels --quick # one module, its ``quick_params``
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import itertools
import math
import pkgutil
import statistics
import time
from pathlib import Path

PREFIXES = ("time_", "track_")


def modules() -> list:
    """Names of the benchmark modules (``bench_*.py`` beside this file)."""
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def _grid(cls, quick: bool) -> list:
    params = getattr(cls, "quick_params", None) if quick else None
    params = params if params is not None else getattr(cls, "params", [])
    if not params:
        return [()]
    if not isinstance(params[0], (list, tuple)):  # asv: a flat list is one parameter
        params = [params]
    return list(itertools.product(*params))


def run_class(cls, *, quick=False, repeat=5) -> list:
    """``[(benchmark, params, value, unit)]`` for every method and parameter combination.

    ``time_*``: median seconds of ``repeat`` calls after one warm-up call (compilation
    excluded); ``track_*``: the returned value (``unit`` from the class, default "value").
    A ``setup`` raising :class:`NotImplementedError` skips the combination (as in asv).
    """
    rows = []
    methods = [n for n, _ in inspect.getmembers(cls, inspect.isfunction) if n.startswith(PREFIXES)]
    for combo in _grid(cls, quick):
        bench = cls()
        try:
            if hasattr(bench, "setup"):
                bench.setup(*combo)
        except NotImplementedError:
            continue
        for name in methods:
            fn = getattr(bench, name)
            if name.startswith("time_"):
                fn(*combo)
                ts = []
                for _ in range(max(int(repeat), 1)):
                    t0 = time.perf_counter()
                    fn(*combo)
                    ts.append(time.perf_counter() - t0)
                rows.append((f"{cls.__name__}.{name}", combo, statistics.median(ts), "s"))
            else:
                rows.append((f"{cls.__name__}.{name}", combo, float(fn(*combo)),
                             getattr(cls, "unit", "value")))
        if hasattr(bench, "teardown"):
            bench.teardown(*combo)
    return rows


def run_module(name: str, *, quick=False, repeat=5) -> list:
    mod = importlib.import_module(f"benchmarks.{name}")
    classes = [c for _, c in inspect.getmembers(mod, inspect.isclass)
               if c.__module__ == mod.__name__ and any(n.startswith(PREFIXES) for n in dir(c))]
    return [row for c in classes for row in run_class(c, quick=quick, repeat=repeat)]


def _fmt(v, unit):
    if math.isnan(v):
        return "n/a"
    if unit == "s":
        return f"{v * 1e3:.4g} ms"
    return f"{v:.4g} {unit}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help=f"default: all ({', '.join(modules())})")
    ap.add_argument("--quick", action="store_true", help="the classes' quick_params")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    print("| benchmark | params | value |\n|---|---|---|")
    for name in args.modules or modules():
        for bench, combo, value, unit in run_module(name, quick=args.quick, repeat=args.repeat):
            print(f"| {bench} | {', '.join(map(str, combo))} | {_fmt(value, unit)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
