r"""The four registered ``minimize`` methods: ``gs``, ``m-sgs``, ``rf-sgs``, ``rf-asgs``."""
from __future__ import annotations

from ..._options import Interval, OneOf
from ..._registry import SolverSpec, register_solver
from ._schedules import LanSetA, LanSetB, MultiPhase, RestartFree, RestartFreeSmoothing
from ._solvers import _COMMON, _PS, _POS, _run

__all__ = ["minimize_gs", "minimize_msgs", "minimize_rfsgs", "minimize_rfasgs"]

_REFS = """
    References
    ----------
    .. [1] X. Wu, Z. Xu, H. Zhang, "Restart-Free (Accelerated) Gradient Sliding Methods for
       Strongly Convex Composite Optimization", arXiv:2602.04161 (2026).
    .. [2] G. Lan, "Gradient sliding for composite optimization", Math. Program. 159 (2016)
       201-235, arXiv:1406.0919.
    .. [3] G. Lan, Y. Ouyang, "Accelerated gradient sliding for structured convex
       optimization", Comput. Optim. Appl. (2022), arXiv:1609.04905.
"""

_COMMON_DOC = r"""
    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``: the smooth part :math:`f` (evaluated at check points only,
        for the reported :math:`\Psi`).
    x0 : array of shape (n,)
        Starting point (projected once onto the domain of :math:`\chi`).
    jac : callable
        ``jac(x, *args) -> array``: :math:`\nabla f`, the expensive oracle (counted in ``ngev``).

    Returns
    -------
    OptimizeResult
        ``x`` (the aggregated point :math:`\bar x_N`), ``fun`` (:math:`\Psi(\bar x_N)`), ``nit``
        (outer iterations), ``ngev`` (= ``njev``, gradient-of-f calls), ``nhev`` ((stochastic)
        subgradients of :math:`h`), ``nkev`` (K and K^T product pairs), ``nprox`` (prox calls
        of :math:`\chi`), ``nfev`` (evaluations of ``fun``), ``gap`` (:math:`\Psi(\bar x_N)` minus
        the best certified lower bound, NaN without a certificate: the metric ``success`` is
        decided on), ``rel_gap`` (``gap / Delta0``), ``Delta0``, ``L``, ``mu``, ``M``, ``sigma2``.

    Other Parameters
    ----------------
    composite : CompositeProblem
        :math:`h`, :math:`\chi` (with its prox and :math:`\mu`), :math:`L` and, optionally, a
        certified lower bound or the optimal value (required).
    maxiter : int
        Outer iterations = gradient calls (check points every ``check_every``).
    tol : float or None
        Stop with success when ``gap <= tol``; needs a certificate in ``composite``
        (``lower_bound`` or ``f_opt``); ``None`` runs ``maxiter`` iterations.
    L, M, sigma2 : float or None
        Override the Lipschitz constant of :math:`\nabla f` (``"auto"``: 30 steps of power
        iteration on finite differences of ``jac`` at ``x0``, times 1.05, 31 gradient calls
        counted in ``ngev``; exact for quadratic f), Lan's constant of :math:`h`
        and the oracle variance (defaults: from ``composite``; ``sigma2`` estimated from 200
        draws at ``x0`` for a stochastic oracle).
    Delta0 : float or None
        Estimate of :math:`\Psi(x_0) - \Psi^*` (default: from the certificate; otherwise
        :math:`\|G(x_0)\|^2/(2\mu)` with the prox-gradient mapping, one extra gradient call).
    schedule : object or None
        A schedule object (``start(**consts)``, ``step(k) -> Step``) replacing the method's.
    max_inner : int or None
        Budget on inner oracle calls (subgradients or K-pairs); the inner loop that reaches
        it is truncated, and the run ends with status 1 at the next check point.
    seed : int, Generator or None
        Seed of the stochastic oracle's draws.
    check_every, history, disp : int, bool, bool
        Standard (history columns: ``ngev``, ``nhev``, ``nkev``, ``nprox``, ``T``, ``eta``,
        ``rel_gap``).
"""

_EXAMPLE = r"""
    Examples
    --------
    TV-ridge denoising :math:`\min \frac12\|x-b\|^2 + \lambda\|Dx\|_1 + \frac\mu2\|x\|^2`:

    >>> import numpy as np
    >>> import xpsolve
    >>> from xpsolve.solvers.sliding import Chi, CompositeProblem, TotalVariation1D
    >>> b = np.repeat([0.0, 1.0, -1.0], 10) + 0.1 * np.random.default_rng(0).standard_normal(30)
    >>> cp = CompositeProblem(chi=Chi(0.1), h=TotalVariation1D(0.5), L=1.0)
    >>> res = xpsolve.minimize(lambda x: 0.5 * float((x - b) @ (x - b)), np.zeros(30),
    ...                        method="{method}", jac=lambda x: x - b,
    ...                        options={{"composite": cp, "maxiter": 30, "Delta0": 10.0}})
    >>> res.ngev == res.nit == 30
    True
"""


_T_MAX_DOC = r"""    T_max : float, default 1e7
        Cap on the inner-loop length :math:`T_k`.
"""
_PS_DOC = r"""    ps_weights : object or None
        Inner prox-sliding weights (``p(t)``, ``theta(t)``); default
        :class:`~xpsolve.solvers.sliding.LanPSWeights` (Lan's).
"""
_EXTRA_DOC = {
    "rf-sgs": r"""    c_T : float, default 1
        Inner-length factor of :class:`~xpsolve.solvers.sliding.RestartFree` (0.1 also works
        well for stochastic oracles).
""" + _T_MAX_DOC + _PS_DOC,
    "rf-asgs": r"""    c_T : float, default 1
        Inner-length factor: :math:`T_k = \lceil c_T\sqrt{\kappa_k}\rceil`.
    eta0 : float or None
        Initial smoothing :math:`\eta_0` (default :math:`\Delta_0/D_Y^2`).
""" + _T_MAX_DOC,
    "gs": r"""    param_set : {"auto", "A", "B"}
        Lan's parameter set ("auto": A when ``maxiter`` is given, else B with a
        1000-iteration limit).
    Dt : float or None
        Lan's :math:`\tilde D` (default :math:`\Delta_0/\mu`, inferred).
""" + _T_MAX_DOC + _PS_DOC,
    "m-sgs": r"""    c_N : float, default 2
        Phase length factor, :math:`N_0 = \lceil c_N\sqrt{L/\mu}\rceil` (inferred default).
    phases : int or None
        Number of phases (default unlimited: ``maxiter`` defaults to ``phases * N0`` or
        ``100 N0``).
""" + _T_MAX_DOC + _PS_DOC,
}


def _doc(summary, body, method):
    return (summary + body + _COMMON_DOC + _EXTRA_DOC[method] + _REFS
            + _EXAMPLE.format(method=method))


def minimize_rfsgs(fun, x0, *, args=(), xp=None, callback=None, jac=None, composite=None,
                   maxiter=500, tol=None, seed=None, check_every=1, history=False, disp=False,
                   L=None, M=None, sigma2=None, Delta0=None, schedule=None, max_inner=None,
                   c_T=1.0, T_max=1e7, ps_weights=None):
    return _run("rf-sgs", fun, x0, args=args, xp=xp, callback=callback, jac=jac,
                composite=composite, schedule=schedule, tol=tol, maxiter=maxiter, seed=seed,
                check_every=check_every, history=history, disp=disp, L=L, M=M, sigma2=sigma2,
                Delta0=Delta0, max_inner=max_inner, ps_weights=ps_weights,
                configure=lambda S, N: RestartFree(c_T=c_T, T_max=T_max))


def minimize_rfasgs(fun, x0, *, args=(), xp=None, callback=None, jac=None, composite=None,
                    maxiter=500, tol=None, seed=None, check_every=1, history=False, disp=False,
                    L=None, M=None, sigma2=None, Delta0=None, schedule=None, max_inner=None,
                    c_T=1.0, T_max=1e7, eta0=None):
    return _run("rf-asgs", fun, x0, args=args, xp=xp, callback=callback, jac=jac,
                composite=composite, schedule=schedule, tol=tol, maxiter=maxiter, seed=seed,
                check_every=check_every, history=history, disp=disp, L=L, M=M, sigma2=sigma2,
                Delta0=Delta0, max_inner=max_inner, smoothing=True,
                configure=lambda S, N: RestartFreeSmoothing(c_T=c_T, eta0=eta0, T_max=T_max))


def minimize_gs(fun, x0, *, args=(), xp=None, callback=None, jac=None, composite=None,
                maxiter=None, tol=None, seed=None, check_every=1, history=False, disp=False,
                L=None, M=None, sigma2=None, Delta0=None, schedule=None, max_inner=None,
                param_set="auto", Dt=None, T_max=1e7, ps_weights=None):
    def configure(S, N):
        use_a = param_set == "A" or (param_set == "auto" and maxiter is not None)
        return LanSetA(N=N, Dt=Dt, T_max=T_max) if use_a else LanSetB(Dt=Dt, T_max=T_max)

    return _run("gs", fun, x0, args=args, xp=xp, callback=callback, jac=jac,
                composite=composite, schedule=schedule, tol=tol, maxiter=maxiter,
                default_maxiter=lambda S: 1000, seed=seed,
                check_every=check_every, history=history, disp=disp, L=L, M=M, sigma2=sigma2,
                Delta0=Delta0, max_inner=max_inner, ps_weights=ps_weights, configure=configure)


def minimize_msgs(fun, x0, *, args=(), xp=None, callback=None, jac=None, composite=None,
                  maxiter=None, tol=None, seed=None, check_every=1, history=False, disp=False,
                  L=None, M=None, sigma2=None, Delta0=None, schedule=None, max_inner=None,
                  c_N=2.0, phases=None, T_max=1e7, ps_weights=None):
    def configure(S, N):
        return MultiPhase(c_N=c_N, phases=phases, T_max=T_max)

    def default_maxiter(S):
        # phases x N0 when the phase count is given, else a generous budget (tol decides)
        N0 = MultiPhase(c_N=c_N).start(L=S.L, mu=S.mu, M2=0.0, Delta0=1.0).N0
        return phases * N0 if phases is not None else 100 * N0

    return _run("m-sgs", fun, x0, args=args, xp=xp, callback=callback, jac=jac,
                composite=composite, schedule=schedule, tol=tol, maxiter=maxiter,
                default_maxiter=default_maxiter, seed=seed,
                check_every=check_every, history=history, disp=disp, L=L, M=M, sigma2=sigma2,
                Delta0=Delta0, max_inner=max_inner, ps_weights=ps_weights, configure=configure)


minimize_rfsgs.__doc__ = _doc(
    r"""Restart-free stochastic gradient sliding (RF-SGS; Wu, Xu and Zhang, 2026).

    Solves :math:`\min_x \Psi(x) = f(x) + h(x) + \chi(x)` with :math:`f` L-smooth (expensive
    gradient), :math:`h` non-smooth with a (stochastic) subgradient oracle and :math:`\chi`
    simple and :math:`\mu`-strongly convex, by Lan's gradient-sliding loop with one outer
    sequence and no restarts: constant :math:`\gamma = q/(1+q)`, :math:`q = \sqrt{\mu/L}`,
    :math:`\beta = L\gamma`, geometric inner lengths
    :math:`T_k = \lceil c_T(M^2+\sigma^2)/(\beta\Delta_0(1-\gamma)^k)\rceil`.
""", r"""
    The schedule is **reconstructed** (inferred) from Lan's analysis: the paper's exact rules
    were not available; it is the :class:`~xpsolve.solvers.sliding.RestartFree` object and
    can be replaced through ``schedule``. Extra options: ``c_T`` (default 1), ``T_max``
    (default 1e7), ``ps_weights`` (inner weights, default Lan's).
""", "rf-sgs")

minimize_rfasgs.__doc__ = _doc(
    r"""Restart-free accelerated stochastic gradient sliding (RF-ASGS; Wu, Xu and Zhang, 2026).

    For :math:`h(x) = \max_{y\in Y}\langle Kx, y\rangle - J(y)`: Nesterov smoothing
    :math:`h_{\eta_k}` with :math:`\eta_k = \eta_0(1-\gamma)^k` and, per outer iteration (one
    gradient of f), :math:`T_k = \lceil c_T\sqrt{\kappa_k}\rceil` accelerated proximal-gradient
    steps (one K and one K^T product each) on the smoothed inner model.
""", r"""
    The schedule and the inner loop are **reconstructed** (inferred): Lan and Ouyang's ProxAG
    inner loop is replaced by a plain strongly convex accelerated proximal-gradient loop with
    the same oracle split (:class:`~xpsolve.solvers.sliding.RestartFreeSmoothing`, replaceable
    through ``schedule``). Extra options: ``c_T`` (default 1), ``eta0`` (default
    :math:`\Delta_0/D_Y^2`), ``T_max``.
""", "rf-asgs")

minimize_gs.__doc__ = _doc(
    r"""Gradient sliding GS / SGS (Lan, 2016), parameter set A or B.

    Set A (``N = maxiter`` fixed): :math:`\gamma_k = 2/(k+1)`, :math:`\beta_k = 2L/k`,
    :math:`T_k = \lceil(M^2+\sigma^2)Nk^2/(\tilde DL^2)\rceil`. Set B (anytime):
    :math:`\gamma_k = 3/(k+2)`, :math:`T_k = \lceil(M^2+\sigma^2)(k+1)^3/(\tilde DL^2)\rceil`,
    :math:`\beta_k = 9L(1-P_{T_k})/(2(k+1))`. SGS is the same with a stochastic oracle.
""", r"""
    Extra options: ``param_set`` ("A", "B" or "auto": A when ``maxiter`` is given, else B
    with a 1000-iteration limit), ``Dt`` (:math:`\tilde D`, default :math:`\Delta_0/\mu`,
    inferred), ``T_max``, ``ps_weights``. Convex rate :math:`O(L(V_0+\tilde D)/N^2)`;
    no linear rate (use ``m-sgs`` or ``rf-sgs`` for strongly convex problems).
""", "gs")

minimize_msgs.__doc__ = _doc(
    r"""Multi-phase (restarted) gradient sliding M-SGS (Lan, 2016), the restart baseline.

    Phases of :math:`N_0 = \lceil c_N\sqrt{L/\mu}\rceil` set-A iterations, each started at
    the previous phase's output with :math:`\tilde D = \Delta_{s-1}/\mu`,
    :math:`\Delta_s = \Delta_{s-1}/2`.
""", r"""
    Extra options: ``c_N`` (default 2, inferred), ``phases`` (default unlimited: ``maxiter``
    defaults to ``phases * N0`` or ``100 N0``), ``T_max``, ``ps_weights``.
""", "m-sgs")

_T_MAX = {"T_max": [Interval(float, 1, None)]}
_NS = ("numpy", "array_api_strict", "torch", "cupy")
_ACC = frozenset({"jac"})

register_solver(SolverSpec(
    metric="gap",
    name="rf-sgs", family="minimize", func=minimize_rfsgs,
    options={**_COMMON, **_PS, "c_T": _POS}, namespaces=_NS, kernels=("sliding_ps_tv", "sliding_ps_dense"), needs=_ACC,
    summary="restart-free stochastic gradient sliding for f + h + chi, chi strongly convex "
            "(Wu, Xu, Zhang 2026; schedule reconstructed)"))
register_solver(SolverSpec(
    metric="gap",
    name="rf-asgs", family="minimize", func=minimize_rfasgs,
    options={**_COMMON, **_T_MAX, "c_T": _POS, "eta0": _POS + [OneOf(None)]},
    namespaces=_NS, kernels=("sliding_apg_tv", "sliding_apg_dense"), needs=_ACC,
    summary="restart-free accelerated gradient sliding with Nesterov smoothing of a bilinear h "
            "(Wu, Xu, Zhang 2026; schedule reconstructed)"))
register_solver(SolverSpec(
    metric="gap",
    name="gs", family="minimize", func=minimize_gs,
    options={**_COMMON, **_PS, "param_set": [OneOf("A", "B", "auto")],
             "Dt": _POS + [OneOf(None)]},
    namespaces=_NS, kernels=("sliding_ps_tv", "sliding_ps_dense"), needs=_ACC,
    summary="gradient sliding GS/SGS, parameter sets A/B (Lan 2016)"))
register_solver(SolverSpec(
    metric="gap",
    name="m-sgs", family="minimize", func=minimize_msgs,
    options={**_COMMON, **_PS, "c_N": _POS, "phases": [Interval(int, 1, None), OneOf(None)]},
    namespaces=_NS, kernels=("sliding_ps_tv", "sliding_ps_dense"), needs=_ACC,
    summary="multi-phase (restarted) gradient sliding for strongly convex problems (Lan 2016)"))
