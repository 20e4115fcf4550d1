"""Robust low-rank recovery with 20 % gross outliers: SubGM vs least squares

A rank-2 PSD matrix :math:`X^*` of size 20 x 20 (:math:`\\|X^*\\|_F = 1`) measured by 600 Gaussian
linear measurements :math:`y_i = \\langle A_i, X^*\\rangle + s_i`, of which about 20 % carry an
outlier :math:`s_i` ten times the signal (``xpsolve.problems.recovery.robust_sensing``).
``recover_low_rank`` minimises the l1 loss over a factor :math:`U U^\\top` from a small random
start. With the true rank, the sub-gradient method (``"subgm"``, Ma & Fattahi, arXiv:2202.08788)
recovers :math:`X^*` to rounding level. Polyak steps (``"polyak-subgradient"``) are faster but
need the optimal loss ``f_star``, known here only because the data are synthetic. The
least-squares baseline (``"factored-gd"``) is pulled away by the outliers. With the rank
over-estimated (:math:`r' = d`, no rank knowledge) SubGM still gets within a few 1e-3 here, but
stalls there: that run reports ``success=False`` (status 2), as it should.
``options={"truth": X_star}`` puts the recovery error in the history and makes it the success
metric.
"""
import matplotlib.pyplot as plt

from xpsolve import recover_low_rank
from xpsolve.problems.recovery import robust_sensing

inst = robust_sensing(d=20, r=2, m=600, p=0.2, seed=0)
A, y, X_star = inst["A"], inst["y"], inst["X_star"]
d = X_star.shape[0]
print(f"{int(inst['mask'].sum())} of {y.shape[0]} measurements corrupted")

runs = [("subgm", 2, {}, "SubGM, rank r' = r = 2"),
        ("subgm", d, {"warmup": "adaptive"}, f"SubGM, r' = d = {d}, warmup='adaptive'"),
        ("polyak-subgradient", 2, {"f_star": inst["f_star"]}, "Polyak steps (needs f*)"),
        ("factored-gd", 2, {}, "least-squares GD (not robust)")]

fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
for method, rank, extra, label in runs:
    res = recover_low_rank(A, y, rank=rank, method=method,
                           options={"seed": 0, "truth": X_star, "history": True, "maxiter": 2000,
                                    **extra})
    h = res.history
    ax.semilogy(h["nit"], h["rel_err"], label=label)
    print(f"{method:18s} rank={rank:2d} success={res.success} status={res.status} "
          f"nit={res.nit:4d} rel_err={res.rel_err:.1e}")
ax.set_xlabel("iteration")
ax.set_ylabel(r"relative error $\|UU^\top - X^*\|_F / \|X^*\|_F$")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)

CAPTIONS = [
    "Relative recovery error per iteration with 20 % gross outliers (d = 20, rank 2, 600 "
    "Gaussian measurements). SubGM reaches rounding level with the true rank; with the rank "
    "over-estimated it stalls near 3e-3 (reported as a failure); Polyak steps are faster but "
    "need the optimal loss; least squares is biased by the outliers.",
]
