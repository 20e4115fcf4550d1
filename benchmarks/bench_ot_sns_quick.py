"""Quick quiet-machine check of the SNS headline figures (P1 n=500 seed 0; P2 n=1000 reg=1e-3 seed 0).

Run: ``python benchmarks/bench_ot_sns_quick.py`` (about 10 s). The full protocol is ``bench_ot_sns.py``.
"""
import time, numpy as np
from xpsolve import solve_ot
from xpsolve.problems import get_problem
p = get_problem("ot/random_assignment", size="medium", seed=0)
d = p.data
solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sns", options={"maxiter": 23})
for name, opts in [("sns", {"tol": 1e-12}), ("sinkhorn", {"tol": 1e-8, "maxiter": 100000})]:
    t = time.perf_counter(); r = solve_ot(d["a"], d["b"], d["C"], d["reg"], method=name, options=opts); t = time.perf_counter() - t
    print("P1 n=500", name, r.nit, r.get("nit_newton"), f"{r.marginal_err:.1e}", f"{t:.3f}s")
p = get_problem("ot/uniform_point_clouds", size="medium", seed=0, reg=1e-3)
d = p.data
t = time.perf_counter(); r = solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sns", tol=1e-12); t = time.perf_counter() - t
print("P2 n=1000 reg=1e-3 sns", r.nit, r.nit_newton, f"{r.marginal_err:.1e}", f"{t:.3f}s", r.cost)
t = time.perf_counter(); r2 = solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sinkhorn", tol=1e-12, options={"maxiter": 100000}); t = time.perf_counter() - t
print("P2 sinkhorn", r2.nit, f"{r2.marginal_err:.1e}", f"{t:.3f}s", "cost rel diff", abs(r.cost - r2.cost) / r2.cost)
