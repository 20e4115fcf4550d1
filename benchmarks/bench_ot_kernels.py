"""Optimal-transport kernels: serial vs parallel Numba log-sum-exp sweeps, SNS kernels
(NumPy/SciPy versions against their Numba twins).

The parallel LSE drivers pay only above a size (their barrier cost on a loaded 2-core
machine is large): ``SinkhornLSESweep`` measures where, to set the switch in
``xpsolve.solvers.ot._numba_kernels.use_parallel``; run it with ``NUMBA_NUM_THREADS=2`` (or
more). ``SNSKernels`` times one call of each SNS kernel on the plan reached by SNS after
its Sinkhorn phase on ``ot/random_assignment`` (the sparse Newton systems of the paper).
"""
import numpy as np


class SinkhornLSESweep:
    """One log-domain Sinkhorn sweep (column then row log-sum-exp) on an ``n x n`` cost."""

    params = ([36, 64, 128, 256, 512, 768, 1024, 1448, 2048], ["serial", "parallel"])
    param_names = ["n", "driver"]
    quick_params = ([36], ["serial", "parallel"])

    def setup(self, n, driver):
        from xpsolve.solvers.ot import _numba_kernels as K

        rng = np.random.default_rng(0)
        self.C = rng.random((n, n))
        self.log_w = np.log(np.full(n, 1.0 / n))
        self.f = np.zeros(n)
        self.rows, self.cols = ((K._nb_lse_rows_serial, K._nb_lse_cols_serial) if driver == "serial"
                                else (K._nb_lse_rows, K._nb_lse_cols))
        self.cols(self.C, self.f, self.log_w, 1e-2)  # compile outside the timings

    def time_sweep(self, n, driver):
        g = self.cols(self.C, self.f, self.log_w, 1e-2)
        self.rows(self.C, g, self.log_w, 1e-2)


class SNSKernels:
    """SNS kernels on the plan of ``ot/random_assignment`` (size medium: n = 500, large: 1000)."""

    params = (["medium", "large"], ["numpy", "numba"])
    param_names = ["size", "impl"]
    quick_params = (["tiny"], ["numpy", "numba"])

    def setup(self, size, impl):
        from xpsolve import solve_ot
        from xpsolve.problems import get_problem
        from xpsolve.solvers.ot import _sns_kernels as G
        from xpsolve.solvers.ot import _sns_numba_kernels as N

        d = get_problem("ot/random_assignment", size=size, seed=0).data
        res = solve_ot(d["a"], d["b"], d["C"], d["reg"], method="sns", options={"maxiter": 23})
        self.f, self.g = res.potentials
        self.C, self.reg = d["C"], d["reg"]
        P = G.dual_pass(self.C, self.f, self.g, self.reg, xp=np)[0]
        self.P = P
        self.thr = G.cut_from_hist(*G.mass_histogram(P, xp=np), 1e-6 * float(P.sum()))
        n = P.shape[0]
        csr = G.build_csr(P, self.thr, xp=np)
        rows, cols = P.sum(1), P.sum(0)
        rinv, dc = 1 / (rows + 1e-6), cols + 1e-6
        self.v = np.random.default_rng(0).random(n)
        self.K = G if impl == "numpy" else N
        op = (G.csr_operator(*csr, (n, n), xp=np) if impl == "numpy"
              else N.csr_operator(*csr, (n, n)))
        self.schur = op.schur(rinv, dc)

    def time_dual_pass(self, size, impl):
        self.K.dual_pass(self.C, self.f, self.g, self.reg, xp=np)

    def time_mass_histogram(self, size, impl):
        self.K.mass_histogram(self.P, xp=np)

    def time_build_csr(self, size, impl):
        self.K.build_csr(self.P, self.thr, xp=np)

    def time_schur_matvec(self, size, impl):
        self.schur(self.v)
