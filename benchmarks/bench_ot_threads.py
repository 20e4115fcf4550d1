"""Serial vs parallel Numba LSE kernels of ``sinkhorn-log``: where does parallel start to pay?

Times one Sinkhorn sweep (column + row log-sum-exp update) with the serial and the
parallel drivers of :mod:`xpsolve.solvers.ot._numba_kernels` on ``n x n`` costs, best of
``--repeat`` runs of ``--sweeps`` sweeps. Run with ``NUMBA_NUM_THREADS=2`` (or more), ideally
while another CPU-bound process runs, to see the barrier cost of a loaded machine.

Run: ``NUMBA_NUM_THREADS=2 python benchmarks/bench_ot_threads.py [--sizes 36,128,512,1024]``
"""
import argparse
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="36,64,128,256,512,768,1024")
    p.add_argument("--sweeps", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    import numba

    from xpsolve.solvers.ot import _numba_kernels as K

    print(f"numba threads: {numba.get_num_threads()}, layer: {numba.config.THREADING_LAYER}")
    print(f"{'n':>6} {'n*m':>9} {'serial ms':>10} {'parallel ms':>12} {'par/ser':>8}")
    for n in (int(s) for s in args.sizes.split(",")):
        rng = np.random.default_rng(0)
        C = rng.random((n, n))
        la = np.log(np.full(n, 1.0 / n))
        reg = 1e-2
        out = {}
        for name, rows, cols in (("serial", K._nb_lse_rows_serial, K._nb_lse_cols_serial),
                                 ("parallel", K._nb_lse_rows, K._nb_lse_cols)):
            f = np.zeros(n)
            g = cols(C, f, la, reg)  # compile / warm up
            best = np.inf
            for _ in range(args.repeat):
                t = time.perf_counter()
                for _ in range(args.sweeps):
                    g = cols(C, f, la, reg)
                    f = rows(C, g, la, reg)
                best = min(best, (time.perf_counter() - t) / args.sweeps)
            out[name] = best * 1e3
        print(f"{n:>6} {n * n:>9} {out['serial']:>10.3f} {out['parallel']:>12.3f} "
              f"{out['parallel'] / out['serial']:>8.2f}")


if __name__ == "__main__":
    main()
