"""SNS vs Sinkhorn: convergence on entropic optimal transport

Two clouds of 200 points uniform in the unit square, squared-Euclidean cost and a small
regularisation (``reg = 2e-3``). Sinkhorn-Newton-Sparse (SNS) runs 20 Sinkhorn sweeps and then
sparsified Newton steps; the log-domain Sinkhorn baseline needs thousands of sweeps to reach the
same marginal error. Both runs record their check points with ``options={"history": True}``.
"""
import matplotlib.pyplot as plt
import numpy as np

from xpsolve import solve_ot

rng = np.random.default_rng(0)
X, Y = rng.random((200, 2)), rng.random((200, 2))
C = ((X[:, None] - Y[None]) ** 2).sum(-1)
reg, tol = 2e-3, 1e-9

runs = {}
for method, check_every in [("sns", 1), ("sinkhorn-log", 10)]:
    res = solve_ot(None, None, C, reg, method=method, tol=tol,
                   options={"history": True, "maxiter": 5000, "check_every": check_every})
    runs[method] = res
    print(f"{method:13s} success={res.success} nit={res.nit:5d} marginal_err={res.marginal_err:.2e}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
for method, res in runs.items():
    h = res.history
    nit = np.asarray(h["nit"])
    keep = nit > 0                      # log-scale iteration axis
    ax1.loglog(nit[keep], np.asarray(h["marginal_err"])[keep], label=method)
    ax2.semilogy(h["time"], h["marginal_err"], label=method)
for ax, xlabel in [(ax1, "iterations (log scale)"), (ax2, "wall-clock time (s)")]:
    ax.axhline(tol, color="gray", ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("L1 marginal error")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()

CAPTIONS = [
    "Marginal error of the transport plan against iterations (left) and time (right), n = m = 200, "
    "reg = 2e-3. SNS reaches the tolerance 1e-9 (dotted line) in about 30 iterations; the log-domain "
    "Sinkhorn needs about 2000 sweeps. Times are from the docs build machine and only indicative.",
]
