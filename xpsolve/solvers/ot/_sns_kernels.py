"""Hot loops of Sinkhorn-Newton-Sparse (SNS): generic references and their registration.

Two kinds of kernels live here.

* ``sns_dual_pass`` works on the caller's array namespace ``xp`` (NumPy, CuPy,
  torch, array-api-strict): the fused pass that evaluates the plan
  ``P_ij = exp((f_i + g_j - C_ij) / reg)`` together with its row and column sums.
* The sparse kernels (``sns_mass_threshold``, ``sns_build_csr``,
  ``sns_csr_operator``) work on a *host sparse module* ``hp``: NumPy + SciPy
  sparse for NumPy, array-api-strict and torch-CPU inputs (the dense plan is
  converted to a NumPy array once per Newton step), CuPy + ``cupyx.scipy.sparse``
  for CuPy inputs. They use the NumPy API (``bincount``, ``frexp``,
  ``nonzero``), which CuPy mirrors; this is the one place where SNS is not
  Array-API generic, because the standard has no sparse arrays.

Numba twins are in :mod:`xpsolve.solvers.ot._sns_numba_kernels`, registered by
dotted path so that Numba is imported only on first use.
"""
from __future__ import annotations

from ...backends import is_numpy_namespace, register_kernel

_NUMBA = "xpsolve.solvers.ot._sns_numba_kernels"

#: Lower clamp of the exponent in the NumPy dual pass (exp(-700) ~ 1e-304, a normal float).
_EXP_FLOOR = -700.0

#: Number of base-2 bins of the mass histogram (covers every float64 exponent).
N_BINS = 2200


def dual_pass(C, f, g, reg, *, xp):
    """Plan ``P = exp((f_i + g_j - C_ij) / reg)`` and its marginals ``(P 1, P^T 1)``.

    Overflow gives ``inf`` entries (the caller treats a non-finite total as a
    rejected trial point); nothing is max-shifted because near-feasible
    potentials have ``P_ij <= 1``. For NumPy the pass runs over blocks of rows
    that stay in cache, with ``exp`` written in place (NumPy's SIMD ``exp`` is
    2-3x faster than Numba's scalar ``math.exp`` without SVML, so this beats the
    Numba twin; see ``python -m benchmarks bench_ot_kernels``).
    """
    if not is_numpy_namespace(xp):
        P = xp.exp(xp.clip((f[:, None] + g[None, :] - C) / reg, min=_EXP_FLOOR))
        return P, xp.sum(P, axis=1), xp.sum(P, axis=0)
    import numpy as np

    C, f, g = np.asarray(C), np.asarray(f), np.asarray(g)
    n, m = C.shape
    P = np.empty((n, m), dtype=C.dtype)
    rows = np.empty(n, dtype=C.dtype)
    cols = np.zeros(m, dtype=C.dtype)
    inv = 1.0 / reg
    bs = max(1, 32768 // max(m, 1))
    with np.errstate(over="ignore"):
        _blocked_exp(C, f, g, inv, bs, P, rows, cols)
    return P, rows, cols


def _blocked_exp(C, f, g, inv, bs, P, rows, cols):
    import numpy as np

    n = C.shape[0]
    for i0 in range(0, n, bs):
        i1 = min(n, i0 + bs)
        T = P[i0:i1]
        np.subtract(g[None, :], C[i0:i1], out=T)
        T += f[i0:i1, None]
        T *= inv
        # exp of arguments below -708 (subnormal or zero results) leaves NumPy's SIMD
        # path and is 3-4x slower; clamping changes P_ij only below 1e-304.
        np.maximum(T, _EXP_FLOOR, out=T)
        np.exp(T, out=T)
        np.sum(T, axis=1, out=rows[i0:i1])
        cols += T.sum(axis=0)


def mass_histogram(P, *, xp):
    """Mass of ``P`` per base-2 exponent bin below the largest entry.

    Returns ``(hist, emax)``: ``hist[k]`` is the total of the entries with
    ``frexp`` exponent ``emax - k`` (entries in ``[2^(emax-k-1), 2^(emax-k))``),
    the last bin collects everything smaller; zero entries carry no mass.
    """
    flat = xp.reshape(P, (-1,))
    pmax = xp.max(flat)
    emax = int(xp.frexp(pmax)[1])
    e = xp.frexp(flat)[1]
    k = xp.clip(emax - e, 0, N_BINS - 1)
    hist = xp.bincount(k, weights=flat, minlength=N_BINS)
    return hist, emax


def cut_from_hist(hist, emax, delta_mass):
    """Threshold ``thr`` (a power of two) such that dropping ``P_ij < thr`` drops mass ``<= delta_mass``.

    Keeps whole base-2 bins of :func:`mass_histogram` from the top until the
    remaining tail mass is at most ``delta_mass`` (the 'mass' rule, with bins
    of width ``log 2``). Host-side, O(number of bins).
    """
    import numpy as np

    h = np.asarray(hist if not hasattr(hist, "get") else hist.get(), dtype=np.float64)
    # tail[c] = mass of bins >= c ; choose the smallest c with tail[c] <= delta_mass
    tail = np.cumsum(h[::-1])[::-1]
    ok = np.nonzero(tail <= delta_mass)[0]
    c = int(ok[0]) if ok.size else len(h)
    return float(np.ldexp(1.0, emax - c))


def topk_threshold(P, k, *, xp):
    """Value of the ``k``-th largest entry of ``P`` (keep ``P_ij >= thr``; ties may keep a few more)."""
    flat = xp.reshape(P, (-1,))
    N = flat.shape[0]
    k = max(1, min(int(k), N))
    return float(xp.partition(flat, N - k)[N - k])


def build_csr(P, thr, *, xp):
    """CSR arrays ``(indptr, indices, data)`` of the entries ``P_ij >= thr``."""
    n, m = P.shape
    mask = P >= thr
    rows, cols = xp.nonzero(mask)
    data = P[rows, cols]
    counts = xp.bincount(rows, minlength=n)
    indptr = xp.zeros(n + 1, dtype=xp.int64)
    indptr[1:] = xp.cumsum(counts)
    return indptr, cols.astype(xp.int64), data


class CSROperator:
    """Products with a sparse ``S`` (n x m, CSR) and the reduced Newton (Schur) operator.

    Generic version on SciPy sparse (NumPy) or ``cupyx.scipy.sparse`` (CuPy).
    """

    def __init__(self, indptr, indices, data, shape, hp):
        self.hp = hp
        self.shape = shape
        self.indptr, self.indices, self.data = indptr, indices, data
        if getattr(hp, "__name__", "") == "cupy":  # pragma: no cover - needs a GPU
            import cupyx.scipy.sparse as sps
        else:
            import scipy.sparse as sps
        self.S = sps.csr_matrix((data, indices, indptr), shape=shape)
        self.ST = self.S.T.tocsr()

    @property
    def nnz(self):
        return int(self.data.shape[0])

    def matvec(self, v):
        return self.S @ v

    def rmatvec(self, w):
        return self.ST @ w

    def schur(self, rinv, dc):
        """``v -> dc * v - S^T (rinv * (S v))`` (the Newton system with the row block eliminated)."""
        S, ST = self.S, self.ST
        return lambda v: dc * v - ST @ (rinv * (S @ v))

    def schur_diag(self, rinv, dc):
        """Diagonal of the Schur operator: ``dc_j - sum_i S_ij^2 rinv_i``."""
        hp = self.hp
        n, m = self.shape
        # row index of every stored entry (searchsorted: CuPy's repeat takes no array counts)
        row_of = hp.searchsorted(self.indptr, hp.arange(self.nnz), side="right") - 1
        w = self.data * self.data * rinv[row_of]
        return dc - hp.bincount(self.indices, weights=w, minlength=m)


def csr_operator(indptr, indices, data, shape, *, xp):
    return CSROperator(indptr, indices, data, shape, xp)


# The Numba twin of the dual pass (``_sns_numba_kernels.dual_pass``) is kept and tested but
# not registered: it measured slower than the blocked NumPy pass (no SVML exp in Numba).
register_kernel("sns_dual_pass", generic=dual_pass)
register_kernel("sns_mass_histogram", generic=mass_histogram, numba=f"{_NUMBA}:mass_histogram")
register_kernel("sns_topk_threshold", generic=topk_threshold)
register_kernel("sns_build_csr", generic=build_csr, numba=f"{_NUMBA}:build_csr")
register_kernel("sns_csr_operator", generic=csr_operator, numba=f"{_NUMBA}:csr_operator")
