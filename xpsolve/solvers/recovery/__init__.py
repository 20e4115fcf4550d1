"""Robust low-rank matrix recovery: ``recover_low_rank`` front door, SubGM and baselines."""
from __future__ import annotations

from ..._frontdoor import dispatch
from . import _solver  # noqa: F401  (registers "subgm", "polyak-subgradient", "factored-gd")
from ._operators import DenseOperator, RankOneOperator, validate_recovery_inputs

__all__ = ["recover_low_rank", "DenseOperator", "RankOneOperator"]


def recover_low_rank(A, y, rank, method="subgm", *, options=None, callback=None, tol=None):
    r"""Recover a low-rank PSD matrix from (possibly grossly corrupted) linear measurements.

    Solves the factored, non-smooth, non-convex problem

    .. math::

        \min_{U \in \mathbb{R}^{d \times r'}} \; f(U) = \frac{1}{m} \sum_{i=1}^m
        \bigl| \langle A_i, U U^\top \rangle - y_i \bigr|,

    where :math:`y_i = \langle A_i, X^* \rangle + s_i` are the measurements of a rank-:math:`r`
    PSD matrix :math:`X^*` with noise or outliers :math:`s_i`, and :math:`r' \ge r` is the
    (possibly over-estimated) model ``rank``. The estimate is :math:`\hat X = U U^\top`.

    Parameters
    ----------
    A : array or operator
        The measurement operator, in one of three forms:

        - an array of shape ``(m, d, d)``: the matrices :math:`A_i` (only their symmetric
          parts matter; the stack is symmetrised once);
        - an array of shape ``(m, d)``: rank-one measurements :math:`A_i = a_i a_i^\top`
          with rows :math:`a_i` (quadratic sensing, :math:`O(m d r')` per iteration);
        - an object with integer attributes ``m``, ``d`` and methods ``apply(U)``
          (returns the ``(m,)`` vector :math:`(\langle A_i, U U^\top\rangle)_i`) and
          ``adjoint(w, U)`` (returns :math:`\tfrac12(\mathcal A^*(w) + \mathcal A^*(w)^\top) U`
          with :math:`\mathcal A^*(w) = \sum_i w_i A_i`), in ``y``'s namespace.

        A flattened ``(m, d*d)`` stack must be reshaped to ``(m, d, d)`` first (a 2-D
        array means rank-one vectors).
    y : array of shape (m,)
        Measurements, finite. Any array-API namespace; the result lives in the same
        namespace, on the same device and in the same dtype.
    rank : int
        Model rank :math:`r'` in ``[1, d]``; over-estimating it is allowed (``rank = d``).
    method : str or callable
        ``"subgm"`` (default; the sub-gradient method with small initialization [1]_),
        ``"polyak-subgradient"`` (l1 loss, Polyak steps; needs ``f_star``) or
        ``"factored-gd"`` (least squares, the non-robust baseline). A callable is called
        as ``method(op, y, rank, xp=xp, callback=callback, **options)``.
    options : dict, optional
        Method options (:func:`xpsolve.show_options`). Shared by all methods:
        ``maxiter`` (default 2000), ``tol``, ``seed`` (random initialization),
        ``check_every`` (1), ``history``, ``disp``, ``alpha`` (initialization scale
        relative to the data, 1e-3), ``init`` (``"gaussian"``, ``"orthonormal"`` or
        ``"spectral"``), ``x0`` (a ``(d, rank)`` start), ``scale`` (an estimate of
        :math:`\|X^*\|_F`; default ``median(|y|)/0.6745``, pass it when half or more of the
        measurements may be corrupted) and ``truth`` (the ground truth :math:`X^*`, for
        benchmarks). ``"subgm"``: ``step`` (``"warmup_geometric"`` default,
        ``"geometric"``, ``"polyak"``, ``"constant"``), ``eta0`` (0.2), ``rho`` (0.98),
        ``warmup`` (None: :math:`\lceil 3 \ln(1/\alpha) / \eta_0 \rceil`; an int; or
        ``"adaptive"``: decay once :math:`\|U\|_F^2 \ge 0.05\,\hat s`, better over-parameterized
        with outliers, worse when ill-conditioned), ``eta_min`` (0),
        ``f_star`` (Polyak), ``max_restarts`` (3). ``"factored-gd"``: ``eta`` (0.1, the
        step is ``eta / scale``).
    callback : callable, optional
        ``callback(intermediate_result)`` at every check point, with ``x`` and ``U``
        (the current factor), ``fun``, ``nit``, ``eta`` and the metric (``rel_change``, or
        ``rel_err`` when ``truth`` is given). Raise :class:`StopIteration` to stop (status 99).
    tol : float, optional
        Shortcut for ``options["tol"]``.

    Returns
    -------
    OptimizeResult
        ``x`` and ``U``: the final factor, shape ``(d, rank)`` (the callback's ``x`` is the
        same object type); ``X``: :math:`U U^\top`, formed when first read; ``fun``:
        :math:`f(U)` (least squares: :math:`\tfrac{1}{2m}\|\mathcal A(UU^\top) - y\|^2`);
        ``U_best`` / ``fun_best``: the iterate with the smallest loss seen (sub-gradient
        methods are not monotone); ``rel_change`` or ``rel_err`` (the success metric);
        ``eta`` (last step size), ``warmup`` (warm-up length used), ``restarts``,
        ``growth`` (:math:`\|U\|_F / \|U_0\|_F`), ``scale``, ``nit``, ``nfev``,
        ``success``, ``status``, ``message``, ``history``, ``backend``, ``numba``.

    Notes
    -----
    **Success** is decided on the reported metric. Without ``truth``: ``rel_change``, the
    largest relative update :math:`\eta_t \|D_t\|_F / \|U_t\|_F` over the last 10 steps
    (0 at a fixed point), ``tol`` default 1e-12. With ``truth``: ``rel_err``
    :math:`= \|UU^\top - X^*\|_F / \|X^*\|_F`, ``tol`` default ``max(1e-10, 100 eps)``.
    A schedule whose step falls below ``1e-14 * eta0`` stops with status 2 unless the
    metric is met. A small random start whose norm has not grown 10x by the warm-up
    budget triggers ``RuntimeWarning("initialization too small for schedule ...")``; if
    it still has not grown at the end, the status is 2, never success.

    **SubGM** ([1]_): :math:`U_0 = \alpha \sqrt{\hat s}\, B` with :math:`B` random of norm about
    one, then :math:`U_{t+1} = U_t - \eta_t D_t`, :math:`D_t = \tfrac{2}{m}\,
    \mathrm{sym}(\mathcal A^*(\mathrm{sign}(r_t))) U_t` with residuals :math:`r_t =
    \mathcal A(U_tU_t^\top) - y` and :math:`\mathrm{sign}(0) = 0`. The default step keeps
    :math:`\eta_0` for a warm-up (so the small iterate can grow) and then decays
    geometrically by ``rho``: pure geometric decay from a small start bounds the total
    growth of :math:`U` and can fail silently (detected, see above). A divergence guard
    (loss above 10x the initial loss, or :math:`\|U\|_F > 10^3 \sqrt{\hat s}`) halves
    ``eta0`` and restarts, at most ``max_restarts`` times. Cost per iteration: one fused
    pass over the measurements, :math:`O(m d^2)` dense, :math:`O(m d r')` rank-one (Numba
    twins for NumPy, BLAS/cuBLAS otherwise). The step constants are ours (the paper's
    theorem constants are not practical); see the SubGM page of the documentation.

    References
    ----------
    .. [1] J. Ma, S. Fattahi, "Global convergence of sub-gradient method for robust matrix
       recovery: small initialization, noisy measurements, and over-parameterization",
       JMLR 24(96), 2023, arXiv:2202.08788.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import recover_low_rank
    >>> rng = np.random.default_rng(0)
    >>> d, r, m = 10, 2, 300
    >>> Q = np.linalg.qr(rng.standard_normal((d, r)))[0]
    >>> X_star = Q @ Q.T
    >>> A = rng.standard_normal((m, d, d))
    >>> y = np.einsum("ijk,jk->i", A, X_star)
    >>> y[rng.random(m) < 0.2] = 100.0              # 20% gross outliers
    >>> res = recover_low_rank(A, y, rank=r, options={"seed": 0, "truth": X_star})
    >>> res.success, res.rel_err < 1e-10
    (True, True)
    >>> res.x.shape, res.X.shape
    ((10, 2), (10, 10))
    """
    op, y, rank, xp = validate_recovery_inputs(A, y, rank)
    return dispatch("recovery", method, (op, y, rank), xp=xp, options=options, tol=tol,
                    callback=callback)
