r"""Sinkhorn-Newton-Sparse (SNS) and dense Sinkhorn-Newton for entropic optimal transport.

Registers ``"sns"`` (Tang et al., ICLR 2024) and ``"sinkhorn-newton"`` (the dense
Newton variant, Brauer et al. 2017) with :func:`xpsolve.solve_ot`.

Units. Potentials ``(f, g)`` are in cost units and the plan is
``P_ij = exp((f_i + g_j - C_ij) / reg)``; the paper's ``(x, y)`` with
``eta = 1/reg`` are ``x = f + reg/2``, ``y = g + reg/2``. The dual maximised is

.. math::

    D(f, g) = \langle a, f\rangle + \langle b, g\rangle - \varepsilon \textstyle\sum_{ij} P_{ij},
    \qquad \nabla D = (a - P1,\; b - P^\top 1), \qquad
    \nabla^2 D = -\tfrac{1}{\varepsilon} \begin{pmatrix} \mathrm{diag}(P1) & P \\ P^\top & \mathrm{diag}(P^\top 1)\end{pmatrix}.

The Newton system :math:`(H_S + s I)\,\delta = \varepsilon \nabla D` uses the
sparsified :math:`H_S` (kept entries ``S`` of ``P``, full diagonal) and is
solved on the column block after eliminating the (diagonal) row block:
:math:`(D_c + s - S^\top (D_r + s)^{-1} S)\,\delta_g = \varepsilon(\nabla_g D - S^\top (D_r+s)^{-1}\nabla_f D)`,
by Jacobi-preconditioned conjugate gradient.
"""
from __future__ import annotations

from ..._options import Interval, IsCallable, IsInstance, OneOf, standard_options
from ..._registry import SolverSpec, register_solver
from ...backends._kernels import kernels_use_numba
from . import _sns_steps as S
from ._common import finish_ot, setup_ot


def _solve_sns(a, b, C, reg, *, xp, callback=None, n_sinkhorn=20, maxiter=120, tol=1e-9,
               sparsify="mass", mass_delta0=1e-4, mass_nu=1e-2, topk_density=None,
               max_density=0.25, shift="gradient", cg_tol=None, cg_maxiter=None, ls_c1=1e-4,
               ls_maxiter=30, fallback_sinkhorn=20, switch_tol=None, sinkhorn_form="scaling",
               check_every=10, history=False, disp=False, warmstart=None):
    r"""Sinkhorn-Newton-Sparse (see :func:`xpsolve.solve_ot`, ``method="sns"``).

    Stage 1 runs ``n_sinkhorn`` log-domain Sinkhorn sweeps (row update, then
    column update, as in the paper's Algorithm 1). Stage 2 takes Newton steps on
    the dual potentials with a sparsified Hessian, solved by preconditioned CG,
    and a backtracking line search, until the L1 marginal error is ``<= tol``.

    Other Parameters
    ----------------
    n_sinkhorn : int, default 20
        Sinkhorn sweeps before the first Newton step (the paper's N1; 700 for
        L1 ground costs in the paper).
    maxiter : int, default 120
        Maximum total number of iterations: Sinkhorn sweeps (stage 1 and
        fall-backs) plus Newton attempts, failed ones included
        (N1 + N2 with the paper's N2 = 100). ``nit`` counts the same way.
    tol : float, default 1e-9
        Stop when ``||P1 - a||_1 + ||P^T 1 - b||_1 <= tol``.
    sparsify : {'mass', 'topk', 'none'} or callable, default 'mass'
        Which entries of ``P`` the Hessian keeps (its diagonal is always the full
        ``diag(P1), diag(P^T 1)``). 'mass' (inferred, library default): the largest
        entries until the dropped mass is ``<= min(mass_delta0, mass_nu * err) * sum(P)``,
        cut at a power of two. 'topk' (the paper's rule): the
        ``ceil(topk_density * n * m)`` largest entries. 'none': dense Hessian
        (Sinkhorn-Newton). A callable ``sparsify(P, err) -> thr`` (``P`` a host
        NumPy or CuPy array) keeps ``P_ij >= thr``.
    mass_delta0, mass_nu : float, default 1e-4, 1e-2
        Parameters of the 'mass' rule.
    topk_density : float or None, default None
        Kept fraction of the 'topk' rule; ``None`` means ``2 / max(n, m)`` (paper).
    max_density : float, default 0.25
        If the rule keeps a larger fraction, that step uses the dense Hessian
        (0.1 would be the cautious choice; on the 28 x 28 L1 grid, density ~0.15, the CSR
        products were ~10x faster than the dense ones, so the default is higher).
    shift : {'gradient', 'adaptive', 'none'} or callable, default 'gradient'
        Levenberg shift ``s`` added to the Hessian (in plan units): 'gradient' is
        ``min(1e-3, err) * mean(diag)``; 'adaptive' is the trust-region-like rule of
        SSNS (Tang & Qiu 2024): ``s = mu * err * mean(diag)``, trial steps
        ``alpha`` in {1, 0.5, 0.25, 0.1} accepted when the ratio ``q`` of actual to
        predicted increase is positive, ``mu <- 4 mu`` if ``q < 0.25`` or no step is
        accepted, ``mu <- max(mu / 2, 1e-3)`` if ``q > 0.75``, ``mu_0 = 1`` (a rejected
        step enlarges the shift instead of running Sinkhorn sweeps); a callable
        ``shift(err, mean_diag) -> s``.
    cg_tol : float or None, default None
        Relative residual of CG; ``None`` means ``max(min(0.1, err), 1e-12)``.
    cg_maxiter : int or None, default None
        CG iteration cap per Newton step; ``None`` means ``n + m``.
    ls_c1, ls_maxiter : float, int, default 1e-4, 30
        Armijo constant and number of step halvings of the line search.
    fallback_sinkhorn : int, default 20
        Sinkhorn sweeps run when a Newton step fails (line search or CG), before
        Newton is retried; 0 stops instead (status 2).
    sinkhorn_form : {'scaling', 'log'}, default 'scaling'
        How the Sinkhorn sweeps are computed (same iterates in exact arithmetic).
        'scaling': the first sweep in the log domain, then scaling sweeps
        ``u = a / (K v)``, ``v = b / (K^T u)`` on the absorbed kernel
        ``K = P(f, g)`` (two dense mat-vecs per sweep), absorbed into the potentials
        at the end of the burst or when a scaling leaves ``[e^-50, e^50]``, and redone
        in the log domain if a scaling is not finite. 'log': every sweep with the
        log-sum-exp kernels (the paper's update written stably).
    switch_tol : float or None, default None
        If set, Stage 1 ends early once at least 20 sweeps are done and the
        marginal error (checked every ``check_every`` sweeps) is ``<= switch_tol``.
    check_every : int, default 10
        Sinkhorn sweeps between check points (callback, history, ``switch_tol``).
    history, disp : bool
        Record / print one row per check point and Newton step.
    warmstart : pair (f, g) or None
        Initial potentials (cost units).

    Returns
    -------
    OptimizeResult
        The keys of :func:`xpsolve.solve_ot` plus ``nit_sinkhorn``, ``nit_newton``
        (``nit`` is their sum), ``cg_iters`` (total), ``density`` (kept fraction
        per Newton step), ``hessian_pattern`` (CSR matrix of the last kept
        entries, or None), the safeguard counters ``n_fallback``,
        ``n_linesearch_fail``, ``n_cg_breakdown``, ``n_marginal_accept``,
        ``n_dense_steps``, and ``history`` (``nit``, ``stage``, ``marginal_err``,
        ``dual``, ``time``, ``alpha``, ``cg_iters``, ``density``, ``accept``) when
        ``history=True``.

    Notes
    -----
    The paper's rules: Stage 1 of N1 Sinkhorn sweeps from ``x = y = 0``, Newton
    steps with a Hessian sparsified by keeping its large entries ('topk' with
    density ``2/n``), solved by conjugate gradient, followed by a line search.
    Inferred (not in the paper, pluggable by the options above): the adaptive
    'mass' rule, the full diagonal, the Levenberg shift, the elimination of the
    row block and Jacobi preconditioning, the CG tolerance ``min(0.1, err)``, the
    Armijo constants, the switch of the acceptance test to the marginal error
    when ``|D(z + dz) - D(z)| <= 1e3 eps scale`` (``scale = |<a,f>| + |<b,g>| +
    reg sum P``), the Sinkhorn fall-back after a failed step (line search, CG
    breakdown, or a plan with a row or column below 1e-100 of its marginal), and
    the stagnation stop (status 2 when the error stays above ``tol`` but below
    1e-12 for 5 Newton attempts). The gauge direction ``(1, -1)`` (null vector of
    the Hessian) is handled by the shift and by removing the component of every
    step along it.

    References
    ----------
    .. [1] X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil,
       T. Xiao, L. Ying, "Accelerating Sinkhorn algorithm with sparse Newton
       iterations", ICLR 2024, arXiv:2401.12253.
    .. [2] C. Brauer, C. Clason, D. Lorenz, B. Wirth, "A Sinkhorn-Newton method for
       entropic optimal transport", arXiv:1710.06635, 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import solve_ot
    >>> C = np.random.default_rng(1).random((40, 30))
    >>> res = solve_ot(None, None, C, reg=1e-2, method="sns", tol=1e-12)
    >>> res.success, res.plan.shape, res.marginal_err <= 1e-12
    (True, (40, 30), True)
    """
    if C.dtype != xp.float64:
        raise ValueError(f"method 'sns' needs float64 arrays (CG and the line search need the "
                         f"precision); got {C.dtype}")
    opts = dict(n_sinkhorn=n_sinkhorn, maxiter=maxiter, tol=tol, sparsify=sparsify,
                mass_delta0=mass_delta0, mass_nu=mass_nu, topk_density=topk_density,
                max_density=max_density, shift=shift, cg_tol=cg_tol, cg_maxiter=cg_maxiter,
                ls_c1=ls_c1, ls_maxiter=ls_maxiter, fallback_sinkhorn=fallback_sinkhorn,
                switch_tol=switch_tol, sinkhorn_form=sinkhorn_form, check_every=check_every,
                history=history, disp=disp)
    su = setup_ot(a, b, C, reg, xp, warmstart=warmstart, tol=tol, method="sns")
    ctx = S.init(a, b, C, reg, xp, su, opts, callback)
    st = S.run(ctx)
    pattern = ctx.pattern
    if pattern is not None:
        pattern = S.as_sparse_matrix(pattern, C.shape, ctx.hp)
    # the dense passes run in xp, the sparse kernels on the host module (NumPy for
    # array-api-strict and torch-CPU input too)
    numba = kernels_use_numba(S.NEWTON_KERNELS, xp) or (
        sparsify != "none" and kernels_use_numba(S.HOST_KERNELS, ctx.hp))
    return finish_ot(ctx.mon, su, st.P, st.f, st.g, nit=ctx.nit, nit_sinkhorn=ctx.nit_sinkhorn,
                     nit_newton=ctx.nit_newton, cg_iters=ctx.cg_total, density=ctx.densities,
                     n_fallback=ctx.n_fallback, n_cg_breakdown=ctx.n_cg_breakdown,
                     n_linesearch_fail=ctx.n_ls_fail, n_marginal_accept=ctx.n_err_accept,
                     n_dense_steps=ctx.n_dense, hessian_pattern=pattern,
                     numba=numba)


def _solve_sinkhorn_newton(a, b, C, reg, *, xp, callback=None, n_sinkhorn=20, maxiter=120,
                           tol=1e-9, shift="gradient", cg_tol=None, cg_maxiter=None,
                           ls_c1=1e-4, ls_maxiter=30, fallback_sinkhorn=20, switch_tol=None,
                           sinkhorn_form="scaling", check_every=10, history=False, disp=False,
                           warmstart=None):
    """Dense Sinkhorn-Newton: ``"sns"`` with ``sparsify="none"`` (matrix-free exact Hessian)."""
    return _solve_sns(a, b, C, reg, xp=xp, callback=callback, n_sinkhorn=n_sinkhorn,
                      maxiter=maxiter, tol=tol, sparsify="none", shift=shift, cg_tol=cg_tol,
                      cg_maxiter=cg_maxiter, ls_c1=ls_c1, ls_maxiter=ls_maxiter,
                      fallback_sinkhorn=fallback_sinkhorn, switch_tol=switch_tol,
                      sinkhorn_form=sinkhorn_form, check_every=check_every, history=history,
                      disp=disp, warmstart=warmstart)


_NEWTON_OPTIONS = standard_options(
    "maxiter", "tol", "check_every", "history", "disp",
    n_sinkhorn=[Interval(int, 0, None)],
    shift=[OneOf("gradient", "adaptive", "none"), IsCallable()],
    cg_tol=[OneOf(None), Interval(float, 0, 1, closed="neither")],
    cg_maxiter=[OneOf(None), Interval(int, 1, None)],
    ls_c1=[Interval(float, 0, 1, closed="neither")],
    ls_maxiter=[Interval(int, 0, None)],
    fallback_sinkhorn=[Interval(int, 0, None)],
    switch_tol=[OneOf(None), Interval(float, 0, None, closed="neither")],
    sinkhorn_form=[OneOf("scaling", "log")],
    warmstart=[OneOf(None), IsInstance(tuple, list, description="a pair (f, g) of potentials")],
)

register_solver(SolverSpec(
    name="sns", family="ot", func=_solve_sns, metric="marginal_err",
    options={**_NEWTON_OPTIONS,
             "sparsify": [OneOf("mass", "topk", "none"), IsCallable()],
             "mass_delta0": [Interval(float, 0, None, closed="neither")],
             "mass_nu": [Interval(float, 0, None)],
             "topk_density": [OneOf(None), Interval(float, 0, 1, closed="right")],
             "max_density": [Interval(float, 0, 1, closed="both")]},
    kernels=S.SNS_KERNELS,
    summary="Sinkhorn-Newton-Sparse: Sinkhorn warm-up, then sparsified Newton steps with CG "
            "and line search (Tang et al., ICLR 2024).",
))
register_solver(SolverSpec(
    name="sinkhorn-newton", family="ot", func=_solve_sinkhorn_newton, options=dict(_NEWTON_OPTIONS),
    metric="marginal_err",
    kernels=S.NEWTON_KERNELS,
    summary="Dense Sinkhorn-Newton: Sinkhorn warm-up, then Newton steps with the exact "
            "matrix-free Hessian (reference for small n).",
))
