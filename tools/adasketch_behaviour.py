"""Behaviour check for AdaSketch refactors: (nit, final KKT, status) over the collection.

Runs every ``constrained/*`` problem at sizes tiny and small, seed 0, sketches "gaussian"
(GV) and "kaczmarz" (RK), ``maxiter`` 300, and writes ``{problem|size|sketch: [nit, kkt,
status]}`` as JSON; with two JSON files it lists the runs that differ.

    PYTHONPATH=. python tools/adasketch_behaviour.py run OUT.json ['{"licq": "absolute"}']
    python tools/adasketch_behaviour.py compare BEFORE.json AFTER.json
"""
import json
import sys
import warnings


def run(out, extra):
    from xpsolve.problems import get_problem, list_problems

    warnings.simplefilter("ignore")
    rows = {}
    for spec in list_problems("constrained/*"):
        for size in ("tiny", "small"):
            for sketch in ("gaussian", "kaczmarz"):
                try:
                    p = get_problem(spec.name, size=size, seed=0)
                except ImportError:
                    continue
                r = p.solve("adasketch", options={"seed": 0, "sketch": sketch, "maxiter": 300,
                                                  **extra})
                kkt = r.get("kkt_residual", r.get("kkt"))  # key before / after issue 9
                kkt = kkt[-1] if isinstance(kkt, list) else kkt
                rows[f"{spec.name}|{size}|{sketch}"] = [int(r.nit), float(kkt), int(r.status)]
    with open(out, "w") as fh:
        json.dump(rows, fh, indent=0)


def compare(a_path, b_path):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    diff = [k for k in a if a[k] != b.get(k)]
    for k in diff:
        print("DIFF", k, a[k], b.get(k))
    print(f"identical: {len(a) - len(diff)}, different: {len(diff)}")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})
    else:
        compare(sys.argv[2], sys.argv[3])
