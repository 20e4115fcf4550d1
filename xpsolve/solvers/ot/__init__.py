"""Entropic optimal transport: ``solve_ot`` front door and its methods."""
from __future__ import annotations

from ..._frontdoor import dispatch, wrap_callback
from . import _sinkhorn  # noqa: F401  (registers "sinkhorn" and "sinkhorn-log")
from . import _sns  # noqa: F401  (registers "sns" and "sinkhorn-newton")
from ._common import restore_zero_weights, strip_zero_weights, validate_ot_inputs

__all__ = ["solve_ot"]


def solve_ot(a, b, C, reg, method="auto", *, tol=None, callback=None, options=None):
    r"""Solve a balanced entropic optimal transport problem.

    .. math::

        \min_{P \ge 0} \; \langle C, P \rangle + \varepsilon \sum_{ij} P_{ij} \log P_{ij}
        \quad \text{s.t.} \quad P 1_m = a, \; P^\top 1_n = b,

    where :math:`C \in \mathbb{R}^{n \times m}` is the cost matrix, :math:`a, b`
    are non-negative weights of equal total mass and :math:`\varepsilon` = ``reg``.
    The dual potentials :math:`(f, g)` give the plan
    :math:`P_{ij} = \exp((f_i + g_j - C_{ij}) / \varepsilon)`.

    Parameters
    ----------
    a : array of shape (n,) or None
        Source weights; ``None`` means uniform.
    b : array of shape (m,) or None
        Target weights; ``None`` means uniform. ``sum(b)`` must equal ``sum(a)``
        within relative ``sqrt(eps)`` of the dtype (1.5e-8 in float64); ``b`` is
        rescaled to the mass of ``a``.
    C : array of shape (n, m)
        Cost matrix, finite. Any array-API namespace (NumPy, CuPy, torch, ...);
        the result lives in the same namespace and on the same device.
    reg : float
        Entropic regularisation :math:`\varepsilon > 0` (the paper-style inverse
        temperature is :math:`\eta = 1/\varepsilon`).
    method : str or callable
        ``"auto"`` (default): ``"sns"`` for float64 input (it converges in tens of
        iterations where Sinkhorn needs thousands at small ``reg``), ``"sinkhorn-log"``
        otherwise (SNS needs float64; the log domain is the stable Sinkhorn in
        low precision); ``options`` are those of the chosen method and the result's
        ``method`` key names it. Or ``"sinkhorn"``, ``"sinkhorn-log"``, ``"sns"``
        (Sinkhorn-Newton-Sparse), ``"sinkhorn-newton"`` (dense Newton), or any registered OT method
        (:func:`xpsolve.list_solvers` with ``family="ot"``). A callable is called as
        ``method(a, b, C, reg, xp=xp, callback=callback, **options)`` and must return an
        :class:`OptimizeResult`.
    tol : float, optional
        Shortcut for ``options["tol"]``.
    callback : callable, optional
        ``callback(intermediate_result)`` at every check point: ``x`` is the plan at
        the current potentials (shape ``(n, m)``, computed only when a callback is
        given), ``fun`` its regularised primal objective (as the final ``fun``),
        ``marginal_err`` its marginal error, ``nit``, ``dual_fun`` and ``potentials``;
        SciPy's legacy ``callback(xk)`` gets the plan. Raise :class:`StopIteration` to
        stop (status 99).
    options : dict, optional
        Method options; :func:`xpsolve.show_options` lists them. Common ones:
        ``maxiter`` (sweeps, default 1000), ``tol`` (L1 marginal error, default
        1e-9), ``check_every`` (default 10), ``history``, ``disp``, ``warmstart``
        (pair of potentials ``(f, g)``). ``"sinkhorn"`` also takes ``tau``
        (absorption threshold on the scalings, default 1e50).

    Returns
    -------
    OptimizeResult
        ``x`` and ``plan``: the transport plan; ``fun``: the regularised primal
        objective at ``plan``; ``cost``: :math:`\langle C, P\rangle`;
        ``dual_fun``; ``potentials``: ``(f, g)`` in cost units (OTT-JAX
        convention); ``log_u``, ``log_v``: ``f/reg``, ``g/reg`` (POT
        ``sinkhorn_log`` convention); ``marginal_err``:
        :math:`\|P1 - a\|_1 + \|P^\top 1 - b\|_1`; ``nit``; ``success``,
        ``status``, ``message``; ``history`` (when requested).

    Notes
    -----
    Zero-weight entries of ``a`` or ``b`` are removed before solving and restored
    as zero rows/columns of the plan with ``-inf`` potentials.

    ``success`` means that the *returned* plan's marginal error is at most ``tol``.
    Exact preprocessing: ``min(C)`` is subtracted from the cost when that is exact in
    floating point (``0 < min(C)``, ``max(C) <= 2 min(C)``, or the mirror case), so
    ``C + 1e10`` is solved as well as ``C`` (potentials are reported for the given
    ``C``); a warm start ``(f + s, g - s)`` is moved back along the gauge direction.
    ``reg < eps * max|C - min(C)|`` raises ``ValueError``; ``tol < eps * sum(a)``
    warns and the run ends with status 2 (precision limit) or 1, not a success.

    ``"sinkhorn"`` runs Sinkhorn-Knopp [1]_ in scaling form on the absorbed
    kernel :math:`\tilde K = P(f, g)`; when a scaling leaves
    :math:`[1/\tau, \tau]` it is absorbed into the potentials and :math:`\tilde K`
    is recomputed (the stabilisation of [2]_, with a larger default :math:`\tau`
    than POT's 1e3, which absorbs nearly every sweep and mis-scales the plan for
    :math:`n \ge \tau`). The first sweep runs in the log domain so that no row
    of :math:`\tilde K` underflows for small ``reg``; a sweep that still produces
    a non-finite scaling is redone in the log domain. Cost per sweep: two dense
    matrix-vector products. ``"sinkhorn-log"`` performs the same sweeps with
    log-sum-exp reductions (two passes over ``C`` per half-step; fused and
    parallel Numba kernels for NumPy input). Both update the column potential
    first, as POT does, so iteration counts match POT's.

    ``"sns"`` is Sinkhorn-Newton-Sparse [3]_: ``n_sinkhorn`` Sinkhorn sweeps
    (default 20), then Newton steps on the dual potentials whose Hessian keeps
    only the largest entries of the plan, solved by preconditioned conjugate
    gradient, with a backtracking line search and Sinkhorn fall-backs. It reaches
    marginal errors near 1e-15 in a few Newton steps where Sinkhorn needs tens of
    thousands of sweeps (small ``reg``). Extra result keys: ``nit_sinkhorn``,
    ``nit_newton``, ``cg_iters``, ``density``, ``hessian_pattern`` (a SciPy/CuPy
    CSR matrix). The sparse solve runs on the host with SciPy (the plan is copied
    to NumPy once per Newton step), with ``cupyx.scipy.sparse`` for CuPy.
    ``"sinkhorn-newton"`` is the same loop with the exact dense Hessian. Both need
    float64. See ``docs/methods/ot_sns.md`` and :func:`xpsolve.show_options`.

    References
    ----------
    .. [1] M. Cuturi, "Sinkhorn distances: lightspeed computation of optimal
       transport", NeurIPS 2013.
    .. [2] B. Schmitzer, "Stabilized sparse scaling algorithms for entropy
       regularized transport problems", SIAM J. Sci. Comput. 41(3), 2019.
    .. [3] X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil,
       T. Xiao, L. Ying, "Accelerating Sinkhorn algorithm with sparse Newton
       iterations", ICLR 2024, arXiv:2401.12253.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import solve_ot
    >>> a = b = np.array([0.5, 0.5])
    >>> C = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> res = solve_ot(a, b, C, reg=1.0, tol=1e-14)
    >>> res.success
    True
    >>> np.round(res.plan, 6)
    array([[0.365529, 0.134471],
           [0.134471, 0.365529]])

    Sinkhorn-Newton-Sparse on a small random assignment problem (``reg = 1/1200``):

    >>> rng = np.random.default_rng(0)
    >>> C = rng.random((60, 60))
    >>> w = np.full(60, 1 / 60)
    >>> res = solve_ot(w, w, C, reg=1 / 1200, method="sns", tol=1e-12)
    >>> res.success, res.nit_sinkhorn, res.marginal_err <= 1e-12
    (True, 20, True)
    """
    a, b, C, reg, xp = validate_ot_inputs(a, b, C, reg)
    chosen = _resolve_auto(C, xp) if isinstance(method, str) and method.lower() == "auto" else None
    a_r, b_r, C_r, keep = strip_zero_weights(a, b, C, xp)
    if keep is not None and callback is not None:
        callback = _restoring_callback(wrap_callback(callback), keep, xp)
    res = dispatch("ot", chosen or method, (a_r, b_r, C_r, reg), xp=xp, options=options, tol=tol,
                   callback=callback)
    if keep is not None:
        plan, f, g = restore_zero_weights(res.plan, res.potentials[0], res.potentials[1], keep, xp)
        res.update(x=plan, plan=plan, potentials=(f, g), log_u=f / reg, log_v=g / reg)
    if chosen is not None:
        res["method"] = chosen
    return res


def _resolve_auto(C, xp):
    """``method="auto"``: SNS for float64 (it needs the precision), log-domain Sinkhorn otherwise."""
    return "sns" if C.dtype == xp.float64 else "sinkhorn-log"


def _restoring_callback(callback, keep, xp):
    """Give the callback the plan and potentials at the full shape (zero-weight entries restored)."""

    def restoring(intermediate_result):
        r = intermediate_result
        if r.x is not None:
            n_r, m_r = r.x.shape
            f, g = r.get("potentials") or (xp.zeros((n_r,), dtype=r.x.dtype),
                                           xp.zeros((m_r,), dtype=r.x.dtype))
            plan, f, g = restore_zero_weights(r.x, f, g, keep, xp)
            r["x"] = plan
            if "potentials" in r:
                r["potentials"] = (f, g)
        return callback(r)

    return restoring
