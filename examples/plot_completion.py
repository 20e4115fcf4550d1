"""Matrix completion by robust alternating minimization

A random 300 x 300 matrix of rank 5 (condition number 5) observed on 20 % of its entries. The
exact AltMin (``"altmin"``, k x k solves per row) and its warm-started CG variant (``"altmin-cg"``)
recover it to machine precision; ``options={"truth": (L, R)}`` adds the relative recovery error of
the full matrix to the history.
"""
import matplotlib.pyplot as plt
import numpy as np

from xpsolve import complete_matrix

rng = np.random.default_rng(0)
m, n, k = 300, 300, 5
Ul, _ = np.linalg.qr(rng.standard_normal((m, k)))
Vr, _ = np.linalg.qr(rng.standard_normal((n, k)))
s = np.geomspace(5.0, 1.0, k)
L, R = Ul * s, Vr
M = L @ R.T
mask = rng.random((m, n)) < 0.2

fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
for method in ["altmin", "altmin-cg"]:
    res = complete_matrix(M, mask=mask, rank=k, method=method,
                          options={"seed": 0, "history": True, "truth": (L, R), "maxiter": 40})
    h = res.history
    ax.semilogy(h["nit"], h["error"], "o-", ms=3, label=f"{method}: recovery error")
    ax.semilogy(h["nit"], h["rel_change"], "--", label=f"{method}: relative change")
    print(f"{method:10s} success={res.success} nit={res.nit} error={res.error:.1e}")
ax.set_xlabel("outer iteration (one U and one V half-step)")
ax.set_ylabel("relative error / change")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)

CAPTIONS = [
    "Relative recovery error of the completed matrix (solid) and relative change of the factors "
    "(dashed, the success metric) for exact and CG-based AltMin, 300 x 300, rank 5, 20 % observed.",
]
