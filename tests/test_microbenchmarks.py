"""The kernel micro-benchmarks (``benchmarks/``, asv layout) run and count what they claim.

No timing is asserted: only that every benchmark runs on its quick parameters and returns
a finite positive figure, and that the deterministic flop counts of the PDE inner-solver
study are the ones the docs quote.
"""
import math

import pytest

pytest.importorskip("numba")
harness = pytest.importorskip("benchmarks.__main__")


def test_every_benchmark_runs_on_its_quick_parameters():
    rows = [row for name in harness.modules() for row in harness.run_module(name, quick=True,
                                                                            repeat=1)]
    names = {r[0].split(".")[0] for r in rows}
    assert {"SinkhornLSESweep", "SNSKernels", "RecoveryKernels", "InnerSolverFlops"} <= names
    for bench, combo, value, unit in rows:
        assert math.isfinite(value) and value > 0, (bench, combo, value)
        assert unit == ("s" if ".time_" in bench else "flops")


def test_inner_solver_flops_are_deterministic():
    from benchmarks.bench_pde_inner import InnerSolverFlops

    b = InnerSolverFlops()
    b.setup(4, "minres")
    # MINRES on PDE(4): 19 iterations of 2 nnz(K) + vector work to reach 1e-2 (docs figure)
    assert b.track_flops_to_1e_2(4, "minres") == pytest.approx(2.68e4, rel=5e-3)
