"""Low-rank matrix completion: ``complete_matrix`` front door and its methods."""
from __future__ import annotations

from ..._frontdoor import dispatch
from . import _altmin  # noqa: F401  (registers "altmin", "altmin-cg", "altmin-sketch", "altmin-cg3")
from ._altmin import Predictor
from ._observations import Observations, as_observations

__all__ = ["complete_matrix", "Observations", "Predictor"]


def complete_matrix(values, rows=None, cols=None, shape=None, rank=None, method="altmin", *,
                    mask=None, options=None, callback=None, tol=None):
    r"""Complete a low-rank matrix from a subset of its entries (alternating minimization).

    .. math::

        \min_{U \in \mathbb{R}^{m\times k},\, V \in \mathbb{R}^{n\times k}}
        \sum_{(i,j)\in\Omega} \big(U_i^\top V_j - M_{ij}\big)^2
        \;+\; \sum_i \lambda_i \|U_i\|^2 + \sum_j \lambda_j \|V_j\|^2 ,

    where :math:`\Omega` is the set of observed entries, :math:`M_{ij}` the observed
    values, :math:`k` = ``rank`` and :math:`\lambda` the optional ridge (``0`` by
    default; ``ridge`` or ``ridge * |Omega_i|`` with ``ridge_scaling="count"``).

    Three call forms are accepted:

    - COO triplets: ``complete_matrix(values, rows, cols, (m, n), rank)``;
      duplicated ``(row, col)`` pairs are rejected (``ValueError``).
    - SciPy sparse matrix: ``complete_matrix(S, rank=k)``; the stored entries
      (explicit zeros included) are the observations; duplicates are summed
      (SciPy's COO convention).
    - Dense array with a mask: ``complete_matrix(M, mask=W, rank=k)`` (or
      ``complete_matrix(M, W, rank=k)``), ``W`` boolean of ``M``'s shape, ``True``
      = observed; unobserved entries of ``M`` may hold anything (NaN included).

    Parameters
    ----------
    values : array
        Observed values (1-D, COO form), a SciPy sparse matrix, or a 2-D array with
        ``mask``. Any array-API namespace (NumPy, CuPy, torch, ...); results live in
        the same namespace, on the same device, with the same floating dtype.
    rows, cols : array of int, optional
        Row / column index of each observation (COO form); indices must lie in
        ``[0, m)`` and ``[0, n)``.
    shape : tuple (m, n), optional
        Matrix shape (required in COO form).
    rank : int
        Target rank ``k``, ``1 <= k <= min(m, n)``.
    method : str or callable
        ``"altmin"`` (default; per-row solver chosen by the ``solver`` option),
        ``"altmin-cg"``, ``"altmin-sketch"`` (same method, other default solver),
        ``"altmin-cg3"`` (a fixed 3 CG steps per row, the default of popular ALS
        libraries; kept to show its stall). A callable is called as
        ``method(obs, rank, callback=..., **options)`` with ``obs`` an
        :class:`~xpsolve.solvers.completion.Observations` (``values``, ``rows``, ``cols``, ``shape``).
    mask : array of bool, optional
        Observed-entry mask for a dense ``values``.
    options : dict, optional
        Method options (:func:`xpsolve.show_options` ``("altmin")``):

        - ``maxiter`` (50) outer iterations; ``tol`` (1e-10) on ``rel_change``;
          ``seed`` (None); ``check_every`` (1); ``history``; ``disp``.
        - ``solver``: ``"exact"`` (k x k normal equations by Cholesky per row),
          ``"cg"`` (warm-started conjugate gradient per row, stopping at
          ``||r|| <= cg_tol ||A^T b||``), ``"sketch"`` (CountSketch preconditioner
          with ``s = sketch_factor * k`` rows, sketch-and-solve start, preconditioned
          CG; used on rows with at least ``sketch_min_ratio * s`` observations,
          exact below).
        - ``cg_tol`` (None: ``max(1e-3 * last rel_change, 1e-12)``), ``cg_maxiter``
          (None: ``k``), ``cg_steps`` (None; an int runs exactly that many CG steps
          per row, no tolerance), ``sketch_factor`` (4), ``sketch_min_ratio`` (10).
        - ``partition`` (False): split the samples into ``2 maxiter + 1`` random
          parts, one per half-step, as in the analysis ("theory mode"); the default
          reuses all samples (what every practical ALS does).
        - ``init`` (``"svd"``: top-k singular subspace of
          :math:`\tfrac{mn}{|\Omega|} P_\Omega(M)` by randomized subspace iteration;
          ``"random"``), ``clip`` (None or ``c``: zero the rows of :math:`U_0`
          with norm above :math:`c\sqrt{k/m}` before QR).
        - ``orthonormalize`` (None = True without ridge, False with a ridge): QR of
          the fixed factor before each half-step (a ridge objective is not invariant
          under :math:`U \to UA, V \to VA^{-\top}`, so with a ridge the factors are
          kept balanced instead); ``warm_start`` (True) for the iterative solvers.
        - ``ridge`` (0.0), ``ridge_scaling`` (``"none"`` or ``"count"``, ALS-WR).
        - ``truth``: the true matrix (array) or factors ``(L, R)``, for an error
          history; ``test_set``: a held-out triple ``(rows, cols, values)``, for
          a test-RMSE history.
    callback : callable, optional
        ``callback(intermediate_result)`` at every check point with ``x``
        (``[U; V]``), ``U``, ``V``, ``fun``, ``rel_change``, ``rmse`` (and
        ``error`` / ``test_rmse`` when available); :class:`StopIteration` stops the
        run (status 99). SciPy's legacy ``callback(xk)`` form receives ``x``.
    tol : float, optional
        Shortcut for ``options["tol"]``.

    Returns
    -------
    OptimizeResult
        ``U`` (m, k) and ``V`` (n, k) with :math:`M \approx U V^\top` (``V`` has
        orthonormal columns when ``orthonormalize``); ``x``: ``[U; V]`` stacked,
        shape (m + n, k); ``predict(rows, cols)``: completed entries;
        ``fun``: :math:`\tfrac12\sum_\Omega (U_i^\top V_j - M_{ij})^2`; ``rmse``:
        observed RMSE; ``rel_change``: :math:`\|X_t - X_{t-1}\|_F / \|X_t\|_F` of
        the last iteration (the metric ``success`` is decided on:
        ``rel_change <= tol``); ``rel_changes`` (one per iteration);
        ``inner_iters`` (CG steps per iteration, all rows); ``error`` and
        ``error_history`` (with ``truth``), ``test_rmse`` and ``test_rmse_history``
        (with ``test_set``); ``deficient_rows`` / ``deficient_cols``: indices with
        fewer than ``k`` observations (with ``ridge = 0`` their previous factor row
        is kept; rows with no observation get a zero factor row); ``n_empty``;
        ``nit``, ``status``, ``message``, ``history``, ``numba``.

    Notes
    -----
    Each outer iteration solves the ``n`` column problems
    :math:`V_j = \arg\min_x \|U_{\Omega_j} x - M_{\Omega_j j}\|^2` with ``U`` fixed
    (orthonormalised; its R factor is carried into ``V`` as warm start), then the
    ``m`` row problems. Cost per iteration: exact :math:`O(|\Omega| k^2 + (m+n)k^3)`,
    cg :math:`O(|\Omega| k s)` for ``s`` CG steps, sketch
    :math:`O(|\Omega| k \log(1/\epsilon) + (m+n) k^3)`. The inner tolerance matters:
    a fixed small number of CG steps stalls on ill-conditioned problems
    (``"altmin-cg3"``), a tolerance-based inner solve keeps the outer convergence of
    the exact method, as in Gu et al.'s analysis. NumPy input uses Numba kernels
    looping over CSR rows; other namespaces use batched padded kernels (batched
    solve / CG / QR over rows bucketed by observation count). See
    ``docs/methods/altmin.md``.

    References
    ----------
    .. [1] Y. Gu, Z. Song, J. Yin, L. Zhang, "Low Rank Matrix Completion via Robust
       Alternating Minimization in Nearly Linear Time", ICLR 2024, arXiv:2302.11068.
    .. [2] P. Jain, P. Netrapalli, S. Sanghavi, "Low-rank Matrix Completion using
       Alternating Minimization", STOC 2013, arXiv:1212.0467.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import complete_matrix
    >>> rng = np.random.default_rng(0)
    >>> L, R = rng.standard_normal((60, 2)), rng.standard_normal((50, 2))
    >>> M = L @ R.T
    >>> W = rng.random(M.shape) < 0.5
    >>> res = complete_matrix(M, mask=W, rank=2, options={"seed": 0})
    >>> res.success, bool(np.linalg.norm(res.U @ res.V.T - M) < 1e-8 * np.linalg.norm(M))
    (True, True)

    COO triplets and the CG inner solver, with a held-out error history:

    >>> r, c = np.nonzero(W)
    >>> res = complete_matrix(M[r, c], r, c, M.shape, 2, options={"solver": "cg", "seed": 0,
    ...                       "truth": (L, R)})
    >>> res.success, res.error < 1e-8
    (True, True)
    >>> float(res.predict([0], [1])[0] - M[0, 1]) ** 2 < 1e-16
    True
    """
    obs, k = as_observations(values, rows, cols, shape, rank, mask=mask)
    return dispatch("completion", method, (obs, k), xp=obs.xp, options=options, tol=tol,
                    callback=callback)
