"""AdaSketch-Newton on Hock-Schittkowski problems

A few equality-constrained problems of the Hock-Schittkowski / Boggs-Tolle collection
(``xpsolve.problems``, family ``minimize``), solved by ``minimize(method="adasketch")`` and, through
the same call, by SciPy's SLSQP. The plot shows the KKT residual at each AdaSketch check point and
the iteration counts of both methods.
"""
import matplotlib.pyplot as plt
import numpy as np

from xpsolve.problems import get_problem

names = ["hs6", "hs7", "hs26", "hs27", "hs28", "hs39", "hs40", "hs48", "hs51", "hs77"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
nits = {"adasketch": [], "SLSQP": []}
for name in names:
    prob = get_problem(f"constrained/{name}", size="tiny", seed=0)
    res = prob.solve("adasketch", options={"history": True, "seed": 0, "tol": 1e-8})
    ok = prob.success(res)
    nits["adasketch"].append(res.nit)
    ax1.semilogy(res.history["nit"], res.history["kkt"], label=name)
    ref = prob.solve("SLSQP", options={"maxiter": 500})
    nits["SLSQP"].append(ref.nit)
    print(f"{name:5s} adasketch: success={ok} nit={res.nit:3d} kkt={res.kkt:.1e} | "
          f"SLSQP: nit={ref.nit:3d} f={ref.fun:.6g}")
ax1.set_xlabel("iteration")
ax1.set_ylabel("KKT residual")
ax1.grid(True, alpha=0.3)
ax1.legend(ncol=2, fontsize=8)
pos = np.arange(len(names))
ax2.bar(pos - 0.2, nits["adasketch"], 0.4, label="AdaSketch-Newton")
ax2.bar(pos + 0.2, nits["SLSQP"], 0.4, label="SciPy SLSQP")
ax2.set_xticks(pos, [n.upper() for n in names], rotation=45)
ax2.set_ylabel("iterations")
ax2.legend()

CAPTIONS = [
    "Left: KKT residual of AdaSketch-Newton against the iteration count on ten HS problems "
    "(tol 1e-8). Right: iteration counts of AdaSketch-Newton and SciPy's SLSQP on the same "
    "problems (an SLSQP iteration solves a QP; an AdaSketch iteration a sketched linear system).",
]
