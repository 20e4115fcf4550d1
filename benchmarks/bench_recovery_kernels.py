"""Robust recovery kernels: Numba twins vs the generic (NumPy/BLAS) versions, same data.

One evaluation of the residuals and the sign-weighted adjoint (the SubGM subgradient) for
dense Gaussian sensing (``A`` of shape ``m x d^2``) and rank-one sensing (``A`` of shape
``m x d``, factor ``U`` of shape ``d x r``). Pin threads
(``NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``): the kernels are BLAS-bound.
"""
import numpy as np

CASES = {"dense 20x600": ("dense", 20, 600, None), "dense 20x1200": ("dense", 20, 1200, None),
         "dense 50x2500": ("dense", 50, 2500, None), "dense 100x5000": ("dense", 100, 5000, None),
         "rank1 20x600 r3": ("rank1", 20, 600, 3), "rank1 100x5000 r5": ("rank1", 100, 5000, 5),
         "rank1 100x5000 r20": ("rank1", 100, 5000, 20),
         "rank1 500x25000 r5": ("rank1", 500, 25000, 5)}


class RecoveryKernels:
    """Residuals + sign-weighted adjoint, generic vs Numba twin."""

    params = (list(CASES), ["generic", "numba"])
    param_names = ["case", "impl"]
    quick_params = (["dense 20x600", "rank1 20x600 r3"], ["generic", "numba"])

    def setup(self, case, impl):
        import array_api_compat.numpy as xp

        from xpsolve.solvers.recovery import _kernels as K
        from xpsolve.solvers.recovery import _numba_kernels as N

        kind, d, m, r = CASES[case]
        rng = np.random.default_rng(0)
        y = rng.standard_normal(m)
        if kind == "dense":
            A, x = rng.standard_normal((m, d * d)), rng.standard_normal(d * d)
            fn = K.dense_fused if impl == "generic" else N.dense_fused
        else:
            A, x = rng.standard_normal((m, d)), rng.standard_normal((d, r))
            fn = K.rank1_fused if impl == "generic" else N.rank1_fused
        kw = {"xp": xp} if impl == "generic" else {}
        self.call = lambda: fn(A, y, x, True, **kw)

    def time_residual_and_adjoint(self, case, impl):
        self.call()
