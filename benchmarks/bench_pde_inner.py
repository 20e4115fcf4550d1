"""Inner-solver study on PDE(N): sketch-and-project vs MINRES/GMRES on the same KKT system.

PDE(N) is a convex QP, so every AdaSketch-Newton outer iteration solves a system with
the same matrix ``K = [[Q, G^T], [G, 0]]``; the issue's target "fewer inner flops than
the GMRES-inner variant at equal final KKT" therefore reduces to: flops needed by each
inner solver to bring ``||K z - b|| / ||b||`` (``b = -grad L`` at the paper's start
point) below a common level. This script measures that for several levels, next to the
spectral quantities that govern sketch-and-project (Gower and Richtarik 2015): the
expected squared error of randomized Kaczmarz with row-norm sampling contracts by
``1 - sigma_min(K)^2 / ||K||_F^2`` per step.

    python benchmarks/bench_pde_inner.py                 # N = 4, 8, 16, 32, 64
    python benchmarks/bench_pde_inner.py --sizes 8,16 --budget 2e6
    python -m benchmarks bench_pde_inner                 # the asv-style InnerSolverFlops

Flops are counted as in the solver (2 nnz per K-matvec; Kaczmarz: the touched
entries of the row and of ``K K_i``); they are deterministic, so this benchmark
does not need a quiet machine. Output: one Markdown table (``--md`` to write it).
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import array_api_compat.numpy as xnp

from xpsolve.problems.constrained import pde_matrices
from xpsolve.solvers.constrained._inner import KKTOperator, krylov_solve, sketch_solve

LEVELS = (1e-1, 1e-2, 1e-3, 1e-6)


def kkt_system(N):
    Q, q, _, G, _ = pde_matrices(N)
    n, m = Q.shape[0], G.shape[0]
    x0, lam0 = np.ones(n), np.ones(m)
    gL = Q @ x0 + q + G.T @ lam0
    b = -np.concatenate([gL, G @ x0])
    return Q, G, b


def spectral(op):
    K = op.K.tocsc()
    # shift-invert at 0; K is indefinite with eigenvalues in +- pairs of nearly equal
    # magnitude, so ask for a few and keep the smallest in modulus
    smin = float(np.min(np.abs(spla.eigsh(K, k=4, sigma=0.0, which="LM", ncv=32, tol=1e-6,
                                          return_eigenvectors=False))))
    # largest |eigenvalue|: 300 power iterations (an estimate from below, to a few digits)
    v = np.random.default_rng(0).standard_normal(K.shape[0])
    smax = 0.0
    for _ in range(300):
        w = K @ v
        smax = float(np.linalg.norm(w) / np.linalg.norm(v))
        v = w / np.linalg.norm(w)
    return smin, smax


def run_sketch(op, b, sketch, budget, seed=0, levels=LEVELS):
    """Flops and steps at which ``||r|| / ||b||`` first falls below each level."""
    rng = np.random.default_rng(seed)
    z = np.zeros_like(b)
    r = -b
    bn = float(np.linalg.norm(b))
    steps, flops = 0, 0.0
    out = {}
    for lev in levels:
        left = int(budget - steps)
        if left > 0:
            z, r, k, fl = sketch_solve(op, z, r, b, lev * bn, left, sketch=sketch, rng=rng,
                                       start=steps)
            steps += k
            flops += fl
        rel = float(np.linalg.norm(r)) / bn
        # not reached: the flops spent on the whole budget bound the cost from below
        out[lev] = (flops, steps) if rel <= lev else (None, rel, flops)
    return out


def run_krylov(op, b, method, maxit, levels=LEVELS):
    bn = float(np.linalg.norm(b))
    out = {}
    for lev in levels:
        z, r, its, fl = krylov_solve(op, np.zeros_like(b), -b, b, lev * bn, maxit, method=method)
        rel = float(np.linalg.norm(r)) / bn
        out[lev] = (fl, its) if rel <= lev * 1.0001 else (None, rel, fl)
    return out


class InnerSolverFlops:
    """Flops an inner solver needs to bring ``||K z - b|| / ||b||`` below 1e-2 on PDE(N)
    (NaN: not reached within ``budget`` sketch steps or 20000 Krylov iterations)."""

    params = ([4, 8, 16], ["kaczmarz-rownorm", "kaczmarz", "minres", "gmres"])
    param_names = ["N", "solver"]
    quick_params = ([4], ["kaczmarz", "minres"])
    unit = "flops"
    budget = 2e6

    def setup(self, N, solver):
        Q, G, self.b = kkt_system(N)
        self.op = KKTOperator.sparse(Q, G)

    def track_flops_to_1e_2(self, N, solver):
        levels = (1e-1, 1e-2)
        out = (run_sketch(self.op, self.b, solver, self.budget, levels=levels)
               if solver.startswith("kaczmarz")
               else run_krylov(self.op, self.b, solver, 20000, levels=levels))
        flops = out[1e-2][0]
        return float("nan") if flops is None else float(flops)


def _fmt(v):
    if v[0] is None:
        return f"not reached (r = {v[1]:.1e} after {v[2]:.2e} flops)"
    return f"{v[0]:.2e} ({v[1]})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4,8,16,32,64")
    ap.add_argument("--budget", type=float, default=2e7, help="sketch steps per solver")
    ap.add_argument("--krylov-max", dest="krylov_max", type=int, default=20000)
    ap.add_argument("--md", default=None)
    args = ap.parse_args(argv)
    lines = ["| N | n+m | nnz(K) | cond(K) | sigma_min^2/norm_F^2 | predicted RK steps to 1e-6 "
             "| level | RK row-norm: flops (steps) | RK uniform | MINRES: flops (its) "
             "| GMRES(50) | best sketch / best Krylov |", "|" + "---|" * 12]
    for N in (int(s) for s in args.sizes.split(",")):
        Q, G, b = kkt_system(N)
        op = KKTOperator.sparse(Q, G)
        smin, smax = spectral(op)
        kappa = smin ** 2 / op.fro ** 2
        # E||e_j||^2 <= (1 - kappa)^j ||e_0||^2: steps for a 1e-6 error reduction
        pred = math.log(1e12) / kappa
        t0 = time.perf_counter()
        res = {"rownorm": run_sketch(op, b, "kaczmarz-rownorm", args.budget),
               "uniform": run_sketch(op, b, "kaczmarz", args.budget),
               "minres": run_krylov(op, b, "minres", args.krylov_max),
               "gmres": run_krylov(op, b, "gmres", args.krylov_max)}
        t = time.perf_counter() - t0
        for i, lev in enumerate(LEVELS):
            sk = [res[k][lev][0] for k in ("rownorm", "uniform") if res[k][lev][0] is not None]
            kr = [res[k][lev][0] for k in ("minres", "gmres") if res[k][lev][0] is not None]
            spent = [res[k][lev][2] for k in ("rownorm", "uniform") if res[k][lev][0] is None]
            ratio = f"{min(sk) / min(kr):.2g}" if sk and kr else (
                f"> {min(spent) / min(kr):.2g}" if kr else "n/a")
            head = (f"| {N} | {op.N} | {op.nnz} | {smax / smin:.2e} | {kappa:.2e} | {pred:.2e} "
                    if i == 0 else "| | | | | | ")
            lines.append(head + f"| {lev:g} | {_fmt(res['rownorm'][lev])} | "
                         f"{_fmt(res['uniform'][lev])} | {_fmt(res['minres'][lev])} | "
                         f"{_fmt(res['gmres'][lev])} | {ratio} |")
        print(f"N={N} done in {t:.1f} s", flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        with open(args.md, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
