"""Reading a benchmark-suite store and plotting it

``python -m xpsolve suite`` stores every finished run in ``OUTPUT/results.sqlite``. This example
runs a small plan from Python (the ``tiny`` plan restricted to one problem), then reads the store
with :class:`xpsolve.suite.Store`: one row per run (problem, solver, status, time, metrics) and one
convergence curve per run, ``(nit, time_s, value)``. The command-line equivalent is
``python -m xpsolve suite --plan tiny --problems 'ot/random_assignment' --output DIR`` followed by
``python -m xpsolve report DIR``.
"""
import os
import tempfile

import matplotlib.pyplot as plt

from xpsolve.suite import Store, expand, load_plan, run_one

plan = load_plan("tiny")
specs, skips = expand(plan)
specs = [s for s in specs if s.problem == "ot/random_assignment"]

out = tempfile.mkdtemp()
with Store(os.path.join(out, "results.sqlite")) as store:
    for spec in specs:
        store.add_run(run_one(spec))

with Store(os.path.join(out, "results.sqlite")) as store:
    runs = store.runs()
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for run in runs:
        curve = store.curve(run["key"])
        nit = [c[0] for c in curve]
        val = [c[2] for c in curve]
        ax.semilogy(nit, val, "o-", ms=3, label=f"{run['solver']} ({run['status']})")
        print(f"{run['problem']:22s} {run['solver']:14s} status={run['status']:10s} "
              f"nit={run.get('nit')}")
ax.set_xlabel("iteration")
ax.set_ylabel("success metric (marginal error)")
ax.set_title("ot/random_assignment, size tiny")
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)

CAPTIONS = [
    "Convergence curves read back from a suite store: the success metric of each stored run "
    "against the iteration count, for the xpsolve OT methods of the tiny plan.",
]
