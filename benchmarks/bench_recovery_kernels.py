"""Numba twin vs generic (NumPy/BLAS) time of the recovery kernels, same process, same data.

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_recovery_kernels.py

Prints the median of ``--repeat`` timings per kernel and size and the ratio generic / Numba
(> 1: the twin is faster).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import array_api_compat.numpy as xp  # noqa: E402

from xpsolve.solvers.recovery import _kernels as K  # noqa: E402
from xpsolve.solvers.recovery import _numba_kernels as N  # noqa: E402


def _time(f, repeat):
    f()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print("| kernel | d | m | r' | generic [ms] | numba [ms] | generic / numba |")
    print("|---|---|---|---|---|---|---|")
    for d, m in [(20, 600), (20, 1200), (50, 2500), (100, 5000)]:
        Af, y, x = rng.standard_normal((m, d * d)), rng.standard_normal(m), rng.standard_normal(d * d)
        tg = _time(lambda: K.dense_fused(Af, y, x, True, xp=xp), a.repeat)
        tn = _time(lambda: N.dense_fused(Af, y, x, True), a.repeat)
        print(f"| dense | {d} | {m} | - | {tg * 1e3:.3f} | {tn * 1e3:.3f} | {tg / tn:.2f} |")
    for d, m, r in [(20, 600, 3), (100, 5000, 5), (100, 5000, 20), (500, 25000, 5)]:
        Ad, y, U = rng.standard_normal((m, d)), rng.standard_normal(m), rng.standard_normal((d, r))
        tg = _time(lambda: K.rank1_fused(Ad, y, U, True, xp=xp), max(a.repeat // 4, 3))
        tn = _time(lambda: N.rank1_fused(Ad, y, U, True), max(a.repeat // 4, 3))
        print(f"| rank1 | {d} | {m} | {r} | {tg * 1e3:.3f} | {tn * 1e3:.3f} | {tg / tn:.2f} |")


if __name__ == "__main__":
    main()
