r"""LV-HBA on a toy bilevel problem with a coupled lower-level constraint

The upper level minimises :math:`\tfrac12\|x\|^2 + \tfrac12\|y\|^2`; the lower level projects
:math:`x` onto the half-space :math:`\mathbf 1^\top y \ge 1`. The solution is :math:`x = 0`,
:math:`y = (\tfrac12, \tfrac12)`. LV-HBA is single loop and Hessian-free: it updates
:math:`(x, y)`, the proximal variable :math:`z` and the multipliers together. The run keeps a
fixed iteration budget (status 1), as in the paper.
"""
import matplotlib.pyplot as plt
import numpy as np

from xpsolve import BilevelProblem, bilevel_minimize

prob = BilevelProblem.from_callables(
    lambda x, y: 0.5 * x @ x + 0.5 * y @ y,
    lambda x, y: 0.5 * np.sum((y - x) ** 2),
    2, 2,
    upper_grad=lambda x, y: (x, y),
    lower_grad=lambda x, y: (x - y, y - x),
    cons_structure="halfspace",
    cons_matrices=(np.zeros((1, 2)), -np.ones((1, 2)), -np.ones(1)),
)

xs, ys = [], []


def record(intermediate_result):
    xs.append(np.array(intermediate_result.x))
    ys.append(np.array(intermediate_result.y))


res = bilevel_minimize(prob, np.array([1.0, 0.5]), np.array([1.0, 1.5]), method="lv-hba",
                       callback=record,
                       options={"maxiter": 3000, "alpha": 0.05, "eta": 0.05, "c0": 5.0,
                                "history": True, "check_every": 10})
print("status", res.status, "| x =", np.round(res.x, 3), "| y =", np.round(res.y, 3))

xs, ys = np.array(xs), np.array(ys)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax1.plot(xs[:, 0], xs[:, 1], ".-", ms=2, label="x iterates")
ax1.plot(ys[:, 0], ys[:, 1], ".-", ms=2, label="y iterates")
t = np.linspace(-0.2, 1.2, 2)
ax1.plot(t, 1 - t, "k--", lw=1, label=r"$y_1 + y_2 = 1$")
ax1.plot([0], [0], "C0*", ms=12, label="x* = (0, 0)")
ax1.plot([0.5], [0.5], "C1*", ms=12, label="y* = (1/2, 1/2)")
ax1.set_xlabel("first coordinate")
ax1.set_ylabel("second coordinate")
ax1.set_aspect("equal")
ax1.legend(fontsize=8)
h = res.history
err = [np.hypot(np.linalg.norm(x), np.linalg.norm(y - 0.5)) for x, y in zip(xs, ys)]
ax2.semilogy(h["nit"][:len(err)], err)
ax2.set_xlabel("iteration")
ax2.set_ylabel(r"distance to the solution $\|(x, y) - (x^*, y^*)\|$")
ax2.grid(True, alpha=0.3)

CAPTIONS = [
    "LV-HBA on the half-space toy. Left: iterates of x (converging to the origin) and y (to the "
    "projection (1/2, 1/2) on the constraint line). Right: distance to the solution against the "
    "iteration count, at the check points (every 10 iterations).",
]
