"""Inner solvers for the KKT system ``K z = b``: randomized sketch-and-project and baselines.

``KKTOperator`` holds ``K = [[B, G^T], [G, 0]]`` as a dense array, a SciPy CSR
matrix (NumPy input) or matrix-free products. ``sketch_solve`` runs the
sketch-and-project iteration (Gower and Richtarik, 2015) until the adaptive
accuracy test ``||r|| <= thresh`` or a step cap; ``krylov_solve`` is the
deterministic baseline (MINRES/GMRES on the host, or a direct solve) under the same test.
"""
from __future__ import annotations

import math

import numpy as np

from ...backends import asarray_on, get_kernel, is_numpy_namespace, to_numpy
from . import _kernels  # noqa: F401  (registers the kernels)

__all__ = ["KKTOperator", "sketch_solve", "krylov_solve", "SKETCHES"]

SKETCHES = ("gaussian", "kaczmarz", "kaczmarz-rownorm", "block-gaussian", "row-block")

# registered kernels per sketch and operator storage (see ``_kernels``): the dense and CSR
# kernels have Numba twins for NumPy input; matrix-free operators use the generic ones
_KERNEL_NAMES = {
    "gv": {"dense": "adasketch_gv_dense", "csr": "adasketch_gv_csr"},
    "rk": {"dense": "adasketch_rk_dense", "csr": "adasketch_rk_csr"},
}


def _issparse(a):
    import scipy.sparse as sp

    return sp.issparse(a)


class _MatFreeK:
    """``v -> K v`` from products with ``B`` and ``G`` (no matrix is formed)."""

    def __init__(self, Bv, Gv, GTw, n, m, xp, like):
        self.Bv, self.Gv, self.GTw, self.n, self.m, self.xp = Bv, Gv, GTw, n, m, xp
        self.like = like
        self.shape = (n + m, n + m)
        self.nmatvec = 0

    def __matmul__(self, v):
        self.nmatvec += 1
        vx, vl = v[:self.n], v[self.n:]
        return self.xp.concat([self.Bv(vx) + self.GTw(vl), self.Gv(vx)])

    def row(self, i):
        return self @ _unit(self.xp, self.like, i)


def _unit(xp, like, i):
    N = like.shape[0]
    idx = xp.arange(N, device=getattr(like, "device", None))
    return xp.astype(idx == i, like.dtype)


class KKTOperator:
    """The KKT matrix of one outer iteration, with the norms the outer loop needs."""

    def __init__(self, kind, K, N, n, xp, *, fro=None, nnz=None):
        self.kind, self.K, self.N, self.n, self.xp = kind, K, N, n, xp
        self.fro = fro
        self.nnz = nnz
        self._rownorm2 = None
        self._KK = None

    @classmethod
    def dense(cls, B, G, xp):
        n = B.shape[0]
        m = G.shape[0]
        top = xp.concat([B, G.T], axis=1)
        bot = xp.concat([G, xp.zeros((m, m), dtype=B.dtype, device=getattr(B, "device", None))],
                        axis=1)
        K = xp.concat([top, bot], axis=0)
        fro = float(xp.linalg.vector_norm(xp.reshape(K, (-1,))))
        return cls("dense", K, n + m, n, xp, fro=fro, nnz=(n + m) ** 2)

    @classmethod
    def sparse(cls, B, G):
        import scipy.sparse as sp

        K = sp.bmat([[sp.csr_matrix(B), sp.csr_matrix(G).T],
                     [sp.csr_matrix(G), None]], format="csr")
        K.sum_duplicates()
        K.sort_indices()
        fro = float(np.sqrt((K.data ** 2).sum()))
        import array_api_compat.numpy as xnp

        return cls("csr", K, K.shape[0], B.shape[0], xnp, fro=fro, nnz=int(K.nnz))

    @classmethod
    def matrix_free(cls, Bv, Gv, GTw, n, m, xp, like, fro):
        op = _MatFreeK(Bv, Gv, GTw, n, m, xp, like)
        return cls("matfree", op, n + m, n, xp, fro=fro, nnz=None)

    # ---------------------------------------------------------------- helpers
    def matvec(self, v):
        if self.kind == "csr":
            return self.xp.asarray(self.K @ np.asarray(v))
        return self.K @ v

    @property
    def nnz_est(self):
        return self.nnz if self.nnz is not None else 2 * self.N * self.N

    def rownorm2(self):
        """Squared row norms (host NumPy), or None for matrix-free operators."""
        if self._rownorm2 is None and self.kind != "matfree":
            if self.kind == "csr":
                self._rownorm2 = np.asarray(self.K.multiply(self.K).sum(axis=1)).ravel()
            else:
                self._rownorm2 = to_numpy(self.xp.sum(self.K * self.K, axis=1)).astype(np.float64)
        return self._rownorm2

    def KK(self):
        """``K K`` for dense operators (used by the Kaczmarz residual update), else None."""
        if self.kind != "dense" or self.N > 4000:
            return None
        if self._KK is None:
            self._KK = self.K @ self.K
        return self._KK

    def rk_row_costs(self):
        """Flops of one Kaczmarz step on each row (exact for CSR, dense with ``K K``)."""
        if self.kind == "csr":
            counts = np.diff(self.K.indptr)
            inner = np.add.reduceat(counts[self.K.indices], self.K.indptr[:-1]) \
                if self.K.nnz else np.zeros(self.N)
            inner = np.where(counts > 0, inner, 0)
            return 2.0 * counts + 2.0 * inner + 4.0
        if self.kind == "dense":
            return np.full(self.N, 4.0 * self.N + 4.0)
        return np.full(self.N, 8.0 * self.nnz_est + 4.0)


def sketch_solve(op, z, r, b, thresh, jmax, *, sketch, rng, start, recompute_every=100,
                 sketch_size=32, chunk=None):
    """Run at most ``jmax`` sketch-and-project steps from ``(z, r)`` until ``||r|| <= thresh``.

    Returns ``(z, r, steps, flops)``; ``start`` is the global step counter used by the
    periodic residual recomputation. ``flops`` counts 2 nnz(K) per K-matvec plus the
    O(N) vector work of each step.
    """
    xp = op.xp
    N = op.N
    dev = getattr(z, "device", None) if not is_numpy_namespace(xp) else None
    steps = 0
    flops = 0.0
    nnz = op.nnz_est
    if chunk is None:
        chunk = int(max(16, min(4096, 2 ** 21 // max(N, 1))))
    Kobj = op.K
    numpy_ns = is_numpy_namespace(xp)
    dtype = z.dtype
    if sketch == "gaussian":
        # the kernels draw their chunk of sketches, rng.standard_normal((c, N)), themselves
        # (the Numba twins inside the compiled loop, without the (c, N) array)
        kern = get_kernel(_KERNEL_NAMES["gv"].get(op.kind, "adasketch_gv") + "_rng", xp)
        while steps < jmax:
            if float(xp.linalg.vector_norm(r)) <= thresh:
                break
            c = min(chunk, jmax - steps)
            z, r, k = kern(Kobj, z, r, b, rng, c, thresh, recompute_every, start + steps, xp=xp)
            steps += k
            if k < c:
                break
        flops = steps * (4.0 * nnz + 8.0 * N)
    elif sketch in ("kaczmarz", "kaczmarz-rownorm"):
        rn2 = op.rownorm2()
        if sketch == "kaczmarz-rownorm":
            if rn2 is None:
                raise ValueError("sketch='kaczmarz-rownorm' needs the row norms of K; it is not "
                                 "available for matrix-free operators (use 'kaczmarz' or 'gaussian')")
            p = rn2 / rn2.sum()
        else:
            p = None
        kern = get_kernel(_KERNEL_NAMES["rk"].get(op.kind, "adasketch_rk"), xp)
        KK = op.KK() if op.kind == "dense" else None
        costs = op.rk_row_costs()
        if KK is None and op.kind == "dense":
            costs = np.full(N, 2.0 * nnz + 4.0 * N)
        # dense rows all cost the same (integer-valued flops: k * cost is the exact sum)
        row_cost = float(costs[0]) if op.kind == "dense" else None
        while steps < jmax:
            if float(xp.linalg.vector_norm(r)) <= thresh:
                break
            c = min(chunk, jmax - steps)
            idx = rng.choice(N, size=c, p=p) if p is not None else rng.integers(0, N, size=c)
            z, r, k = kern(Kobj, KK, rn2, z, r, b, idx, thresh, recompute_every, start + steps,
                           xp=xp)
            flops += row_cost * k if row_cost is not None else float(costs[idx[:k]].sum())
            steps += k
            if k < c:
                break
    elif sketch in ("block-gaussian", "row-block"):
        q = int(min(sketch_size, N))
        while steps < jmax:
            if float(xp.linalg.vector_norm(r)) <= thresh:
                break
            if sketch == "block-gaussian":
                S = asarray_on(rng.standard_normal((N, q)), xp, dev, dtype)
                U = _apply_cols(op, S)
                Str = S.T @ r
            else:
                I = np.sort(rng.choice(N, size=q, replace=False))
                U = _columns(op, I)
                Str = xp.take(r, asarray_on(I, xp, dev), axis=0)
            y = xp.linalg.pinv(U.T @ U) @ Str
            Uy = U @ y
            z = z - Uy
            r = r - op.matvec(Uy)
            steps += 1
            flops += (2.0 * q + 2.0) * nnz + 2.0 * N * q * q + q ** 3
            if (start + steps) % recompute_every == 0:
                r = op.matvec(z) - b
    else:  # pragma: no cover - validated by the options
        raise ValueError(f"unknown sketch {sketch!r}")
    # periodic residual recomputations
    flops += ((start + steps) // recompute_every - start // recompute_every) * 2.0 * nnz
    if z.dtype != dtype:  # the Numba twins work in float64: back to the input dtype
        z, r = xp.astype(z, dtype), xp.astype(r, dtype)
    return z, r, steps, flops


def _apply_cols(op, S):
    """``K S`` for a block of columns ``S`` (N x q)."""
    xp = op.xp
    if op.kind == "dense":
        return op.K @ S
    if op.kind == "csr":
        return xp.asarray(op.K @ np.asarray(S))
    cols = [op.K @ S[:, j] for j in range(S.shape[1])]
    return xp.stack(cols, axis=1)


def _columns(op, I):
    xp = op.xp
    if op.kind == "dense":
        return xp.take(op.K, asarray_on(I, xp, getattr(op.K, "device", None)), axis=1)
    if op.kind == "csr":
        return xp.asarray(op.K[:, I].toarray())
    cols = [op.K.row(int(i)) for i in I]
    return xp.stack(cols, axis=1)


def krylov_solve(op, z, r, b, thresh, jmax, *, method, restart=50):
    """Deterministic inner solver under the same accuracy test (host NumPy/SciPy).

    ``method`` is ``"minres"``, ``"gmres"`` or ``"direct"``. Returns
    ``(z, r, iterations, flops)``; flops count 2 nnz(K) per K-matvec plus the
    Krylov vector work (MINRES about 10 N per iteration, GMRES 4 N j at inner
    iteration j of a cycle); the direct solve reports the LU/Cholesky-free dense
    estimate 2/3 N^3 (dense) or 0 (sparse: counted as not comparable, see docs).
    """
    import scipy.sparse.linalg as spla

    xp = op.xp
    N = op.N
    nnz = op.nnz_est
    like = z
    zh = to_numpy(z).astype(np.float64)
    bh = to_numpy(b).astype(np.float64)
    if method == "direct":
        if op.kind == "csr":
            zh = spla.spsolve(op.K.tocsc(), bh)
            flops = float("nan")
        else:
            Kh = to_numpy(op.K) if op.kind == "dense" else None
            if Kh is None:
                raise ValueError("inner_solver='direct' needs an assembled K (not matrix-free)")
            zh = np.linalg.solve(Kh, bh)
            flops = 2.0 / 3.0 * N ** 3
        zz = _back(zh, xp, like)
        return zz, op.matvec(zz) - b, 1, flops
    count = [0]

    def mv(v):
        count[0] += 1
        return np.asarray(to_numpy(op.matvec(_back(np.asarray(v, dtype=np.float64).ravel(), xp,
                                                            like))), dtype=np.float64)

    A = spla.LinearOperator((N, N), matvec=mv, dtype=np.float64)
    bnorm = float(np.linalg.norm(bh))
    rtol = thresh / bnorm if bnorm > 0 else 0.0
    # the Krylov methods measure ||b - A x|| / ||b||; start from the current z
    its = [0]

    def cb(_):
        its[0] += 1

    if method == "minres":
        # SciPy's MINRES stops on a backward-error estimate (relative to ||K|| ||z||), which
        # can be far above the residual test asked for: check the true residual and restart
        # warm with a tighter rtol until the test holds (or the iteration budget is spent)
        rt = max(rtol, 1e-16)
        for _ in range(8):
            zh, _ = spla.minres(A, bh, x0=zh, rtol=rt, maxiter=max(1, int(jmax) - its[0]),
                                callback=cb)
            if (its[0] >= jmax or rt <= 1e-16
                    or np.linalg.norm(bh - mv(zh)) <= thresh):
                break
            rt = max(rt * 1e-2, 1e-16)
        flops = count[0] * 2.0 * nnz + its[0] * 10.0 * N
    elif method == "gmres":
        rs = int(min(restart, N))
        zh, _ = spla.gmres(A, bh, x0=zh, rtol=max(rtol, 1e-16), atol=0.0, restart=rs,
                           maxiter=max(1, int(math.ceil(jmax / rs))), callback=cb,
                           callback_type="pr_norm")
        # Arnoldi: inner iteration j of a cycle costs about 4 N j (modified Gram-Schmidt)
        k = its[0]
        cycles, rem = divmod(k, rs)
        orth = 4.0 * N * (cycles * rs * (rs + 1) / 2 + rem * (rem + 1) / 2)
        flops = count[0] * 2.0 * nnz + orth
    else:  # pragma: no cover
        raise ValueError(f"unknown inner solver {method!r}")
    zz = _back(zh, xp, like)
    return zz, op.matvec(zz) - b, max(its[0], 1), flops


def _back(h, xp, like):
    return asarray_on(h, xp, getattr(like, "device", None) if not is_numpy_namespace(xp) else None,
                      like.dtype)
