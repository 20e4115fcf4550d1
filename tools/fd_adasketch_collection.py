"""Finite-difference AdaSketch on the AdaSketch paper's problem collection (issue 10 target).

For every problem tagged ``adasketch-paper``: one solve with the problem's exact
derivatives and one through ``xpsolve.minimize`` with ``fun`` and the constraint
function only (no ``jac``, no ``hess``, no constraint ``jac``), both at ``tol=1e-6``,
``seed=0``, ``maxiter=2000``. A problem "passes the LICQ test" when the exact solve
does not stop with status 4. Prints one line per problem and a summary.

Run from the repository root: ``PYTHONPATH=. python tools/fd_adasketch_collection.py``.
"""
import time
import warnings

import numpy as np

import xpsolve
from xpsolve.problems import get_problem, list_problems
from xpsolve.problems.constrained import _HSBT


def main():
    warnings.simplefilter("ignore")
    rows = []
    for spec in list_problems(family="minimize"):
        if "adasketch-paper" not in spec.tags:
            continue
        p = get_problem(spec.name)
        con = p.data["constraints"]
        con = con if isinstance(con, dict) else con[0]
        opts = {"seed": 0, "maxiter": 2000}
        if p.data.get("multipliers0") is not None:
            opts["multipliers0"] = np.full((p.data["m"],), float(p.data["multipliers0"]))
        t = time.perf_counter()
        exact = xpsolve.minimize(p.fun, p.x0, method="adasketch", jac=p.grad,
                                 hess=p.data["hess"], constraints=con, tol=1e-6, options=opts)
        t_exact = time.perf_counter() - t
        t = time.perf_counter()
        fd = xpsolve.minimize(p.fun, p.x0, method="adasketch", tol=1e-6, options=opts,
                              constraints={"type": "eq", "fun": con["fun"]})
        t_fd = time.perf_counter() - t
        key = spec.name.split("/", 1)[1]
        rows.append((key in _HSBT, exact.status, fd.status))
        print(f"{spec.name:28s} exact: status {exact.status}  FD: status {fd.status} "
              f"KKT {fd.kkt_residual:.1e} nfev {fd.nfev}  time ratio FD/exact "
              f"{t_fd / max(t_exact, 1e-9):.1f}", flush=True)
    for label, sel in (("36-problem HS/BT collection", [r for r in rows if r[0]]),
                       ("all adasketch-paper problems", rows)):
        licq = [r for r in sel if r[1] != 4]
        print(f"{label}: {len(sel)} problems, {len(licq)} pass the LICQ test, finite-difference "
              f"AdaSketch reaches KKT 1e-6 on {sum(r[2] == 0 for r in licq)} of them")


if __name__ == "__main__":
    main()
