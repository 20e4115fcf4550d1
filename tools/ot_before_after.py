"""Iteration counts and final errors of every OT method on the ``ot/*`` problems (regression check).

Runs each registered OT method (``sinkhorn``, ``sinkhorn-log``, ``sns``, ``sinkhorn-newton``)
with default options on every ``ot/*`` problem, sizes tiny and small, seeds 0-2, and writes
``nit``, ``marginal_err`` (repr), ``status``, ``nit_newton`` and ``cg_iters`` to a JSON file;
``--compare OTHER.json`` lists the runs that differ. Used to check that the Monitor port and
the SNS split changed no iterate (issue 9).

Run (from the repository root, so that this checkout's ``xpsolve`` is imported)::

    NUMBA_NUM_THREADS=1 PYTHONPATH=. python tools/ot_before_after.py out.json [--compare ref.json]
"""
import argparse
import json

import xpsolve
from xpsolve.problems import get_problem, list_problems

METHODS = ["sinkhorn", "sinkhorn-log", "sns", "sinkhorn-newton"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--compare")
    args = p.parse_args()
    print("xpsolve from", xpsolve.__file__)
    out = {}
    for prob in list_problems(family="ot"):
        for size in ("tiny", "small"):
            for seed in (0, 1, 2):
                inst = get_problem(prob.name, size=size, seed=seed)
                for meth in METHODS:
                    r = inst.solve(meth)
                    out[f"{prob.name}|{size}|{seed}|{meth}"] = dict(
                        nit=r.nit, marginal_err=repr(float(r.marginal_err)), status=r.status,
                        nit_newton=r.get("nit_newton"), cg=r.get("cg_iters"))
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    if args.compare:
        with open(args.compare) as fh:
            ref = json.load(fh)
        diff = [k for k in ref if ref[k] != out.get(k)]
        print(f"{len(ref)} runs compared, {len(diff)} differ")
        for k in diff:
            print(k, ref[k], out.get(k))


if __name__ == "__main__":
    main()
