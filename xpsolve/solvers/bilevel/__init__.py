r"""Bilevel optimisation: the ``bilevel_minimize`` front door, the oracle protocol and LV-HBA."""
from __future__ import annotations

from ..._frontdoor import dispatch
from ...backends import as_float_array, check_finite, get_namespace, namespace_name
from . import _lvhba  # noqa: F401  (registers "lv-hba")
from . import _borep, _baselines  # noqa: F401  (registers "bo-rep" and its 4 baselines)
from ._protocol import BilevelProblem, CountingProblem, check_oracles

__all__ = ["bilevel_minimize", "BilevelProblem", "check_oracles"]


def _start(v, name, dim, problem, xp, default):
    if v is None:
        if problem.provides(default):
            v = getattr(problem, default)()
        else:
            v = xp.zeros((dim,), dtype=problem.dtype)
    if hasattr(v, "__array_namespace__") or type(v).__module__.split(".")[0] in ("numpy", "torch", "cupy"):
        vxp = get_namespace(v)
        if namespace_name(vxp) != namespace_name(xp):
            raise TypeError(f"{name} is a {namespace_name(vxp)} array but the problem lives in "
                            f"{namespace_name(xp)}; convert it first")
    v = as_float_array(v, name, xp, dtype=problem.dtype)
    if tuple(v.shape) != (dim,):
        raise ValueError(f"{name} must have shape ({dim},) to match the problem; got {tuple(v.shape)}")
    check_finite(v, name, xp)
    return v


def bilevel_minimize(problem, x0=None, y0=None, method="lv-hba", *, options=None, callback=None):
    r"""Solve a (possibly constrained) bilevel optimisation problem.

    .. math::

        \min_{x \in X,\, y \in Y} F(x, y) \quad \text{s.t.} \quad
        y \in S(x) = \operatorname*{argmin}_{\theta \in Y}
        \{ G(x, \theta) : g(x, \theta) \le 0 \},

    where :math:`F` is the upper objective (``problem.upper_*``), :math:`G` the
    lower objective (``problem.lower_*``) and :math:`g` the lower-level constraints
    (``problem.lower_cons``), which may couple :math:`x` and :math:`y`. The
    optimistic form is solved: :math:`x` and :math:`y` are chosen jointly.

    Parameters
    ----------
    problem : BilevelProblem
        The problem's oracles (:class:`xpsolve.BilevelProblem`, subclass it or
        use :meth:`xpsolve.BilevelProblem.from_callables`). The iterates live in
        ``problem.xp`` (NumPy, array_api_strict, torch, CuPy, ...).
    x0, y0 : array, optional
        Starting points, shapes ``(dim_x,)`` and ``(dim_y,)``; default
        ``problem.x0()`` / ``problem.y0()`` when defined, else zeros. They are
        projected onto C before the first iteration.
    method : str or callable
        ``"lv-hba"`` (default); ``"bo-rep"`` (unconstrained, strongly convex lower level,
        unbounded-smooth upper level; options: ``xpsolve.show_options("bo-rep")``) and its
        fixed-step reference baselines ``"aid-cg"``, ``"stocbio"``, ``"soba"``,
        ``"ma-soba"``. A callable is called as
        ``method(problem, x0, y0, callback=callback, **options)``, with ``xp=xp``
        when its signature names an ``xp`` parameter.
    options : dict, optional
        Method options; ``xpsolve.show_options("lv-hba")`` lists them. For
        ``"lv-hba"``:

        - ``maxiter`` (K, default 1000; the paper gives no default), ``alpha``
          (step for (x, y), 0.01), ``beta`` (step for z, default = alpha), ``eta``
          (step for (theta, lam), 0.01): floats or callables ``k -> float``;
        - ``gamma1``, ``gamma2`` (proximal weights, 10), ``c0``, ``p`` (penalty
          :math:`c_k = c_0 (k+1)^p`, 1 and 0.3) or ``penalty`` (callable ``k -> c_k``);
        - ``r`` (box :math:`Z = [0, r]^l`, 10), ``cap_multiplier`` (also cap lam at
          r, True), ``theta0``, ``lam0``, ``z0`` (default y^0, min(1, r), min(1, r));
        - ``tol_stat``, ``tol_gap``, ``patience`` (optional stopping test, see Notes);
        - ``feas_tol`` (1e-4): largest lower-level constraint violation of a returned
          iterate before the run reports status 4 (infeasible);
        - ``proj_tol`` (1e-6), ``proj_maxiter`` (100): polyhedral projection;
        - ``check_every`` (1), ``history``, ``disp``: check points (residual,
          non-finite test, callback, history rows) every ``check_every`` iterations;
        - ``stochastic`` (experimental minibatch oracles), ``batch_size``, ``seed``.
    callback : callable, optional
        ``callback(intermediate_result)`` at every check point with ``x``, ``y``,
        ``z``, ``theta``, ``multipliers``, ``nit``, ``fun``, ``residual``,
        ``ll_gap``, ``maxcv`` and ``c_k`` (each meaning what the final result's key
        means); raise :class:`StopIteration` to stop (status 99). SciPy's legacy
        ``callback(xk)`` form gets ``x``.

    Returns
    -------
    OptimizeResult
        ``x``, ``y``; ``fun`` = :math:`F(x, y)`; ``multipliers`` (lam),
        ``z``, ``theta``; ``ll_gap`` (estimate of :math:`G(x, y) - v_\gamma`),
        ``maxcv`` (:math:`\max(0, \max_i g_i(x, y))`); ``residual`` (step
        residual of the penalised problem at the last check point, the reported
        metric; NaN when no iteration ran); ``n_calls`` (oracle
        name -> count); ``approximate_oracles`` (oracles served by finite
        differences); ``nit``, ``nfev`` (value calls), ``njev`` (gradient calls),
        ``success``, ``status``, ``message``, ``history``, ``backend``,
        ``projection``, ``proj_resid``, ``proj_dual_iters``.

    Raises
    ------
    ValueError
        Missing oracles the method needs (e.g. coupled constraints without
        ``proj_xy`` or ``cons_structure``), shapes of ``x0``/``y0`` that do not
        match the problem, bad option values.
    TypeError
        ``problem`` is not a :class:`BilevelProblem`, unknown options.

    Notes
    -----
    LV-HBA [1]_ replaces the lower level by the constraint
    :math:`G(x, y) - v_\gamma(x, y, z) \le 0` with the proximal Lagrangian value
    function

    .. math::

        v_\gamma(x, y, z) = \min_{\theta \in Y} \max_{\lambda \ge 0}
        G(x, \theta) + \langle \lambda, g(x, \theta)\rangle
        + \frac{\|\theta - y\|^2}{2\gamma_1} - \frac{\|\lambda - z\|^2}{2\gamma_2},

    and runs, with :math:`c_k = c_0 (k+1)^p`, one projected descent-ascent step
    on the inner saddle problem (both directions at the old
    :math:`(\theta^k, \lambda^k)`), then one projected gradient step on the
    penalised objective :math:`F/c_k + G - v_\gamma` in :math:`(x, y, z)` with
    the new :math:`(\theta^{k+1}, \lambda^{k+1})`, one joint projection onto
    :math:`C = \{(x, y) \in X \times Y: g(x, y) \le 0\}` and a clip of z to
    :math:`[0, r]^l`. Equality rows (``problem.equality_rows``) get free-sign
    multipliers in :math:`[-r, r]`. No Hessian is used. Cost per iteration: one
    upper gradient, three lower gradients, one constraint evaluation, two
    transposed-Jacobian products, one projection onto C.

    Paper rules: the value function, the update order and directions, the
    penalty :math:`c_k = c_0 (k+1)^p` with :math:`p \in (0, 1/2)`, the box Z.
    Inferred (options): the cap of lam at r (``cap_multiplier``), the default step
    sizes and ``maxiter``, the free-sign treatment of equality rows, the optional
    stopping test. Without ``tol_stat``/``tol_gap`` the method runs ``maxiter``
    iterations and reports status 1 (a budget is not a convergence proof); with
    them it stops with status 0 when the step residual
    :math:`\|(x, y, z)^{k+1} - (x, y, z)^k\|/\text{step}` and
    :math:`|G(x, y) - \hat v|` stay below them for ``patience`` consecutive check
    points (status 1 at ``maxiter`` otherwise; status 2 if the full-batch gap of the
    returned iterate misses ``tol_gap`` after a minibatch test passed). Non-finite
    iterates or values stop the run with status 3 and the last finite iterate; a
    returned iterate violating the lower-level constraints by more than
    ``feas_tol`` (an empty joint set C, or an unconverged projection) gives status 4.
    Oracles returning arrays of the wrong shape raise ``ValueError``. The last iterate is returned: the iteration is not
    monotone (on the coupled toy the error first grows before it converges) and
    its final error is dominated by the penalty bias :math:`O(1/c_K)`.

    References
    ----------
    .. [1] W. Yao, C. Yu, S. Zeng, J. Zhang, "Constrained Bi-Level Optimization:
       Proximal Lagrangian Value function Approach and Hessian-free Algorithm",
       ICLR 2024, arXiv:2401.16164.

    Examples
    --------
    Lower level :math:`\min_y \tfrac12 \|y - x\|^2` s.t. :math:`1^\top y \ge 1`
    (a half-space), upper level :math:`\tfrac12\|x\|^2 + \tfrac12\|y\|^2`:

    >>> import numpy as np
    >>> from xpsolve import BilevelProblem, bilevel_minimize
    >>> prob = BilevelProblem.from_callables(
    ...     lambda x, y: 0.5 * x @ x + 0.5 * y @ y, lambda x, y: 0.5 * np.sum((y - x) ** 2),
    ...     2, 2, upper_grad=lambda x, y: (x, y), lower_grad=lambda x, y: (x - y, y - x),
    ...     cons_structure="halfspace",
    ...     cons_matrices=(np.zeros((1, 2)), -np.ones((1, 2)), -np.ones(1)))
    >>> res = bilevel_minimize(prob, np.ones(2), np.ones(2),
    ...                        options={"maxiter": 3000, "alpha": 0.05, "eta": 0.05, "c0": 5.0})
    >>> np.round(res.y, 2), res.status   # a fixed budget ends with status 1
    (array([0.5, 0.5]), 1)
    """
    if not isinstance(problem, BilevelProblem):
        raise TypeError(f"problem must be a BilevelProblem; got {type(problem).__name__} "
                        "(build one with BilevelProblem.from_callables)")
    xp = problem.xp if problem.xp is not None else get_namespace()
    if problem.dtype is None:
        raise ValueError("problem.dtype is not set")
    x0 = _start(x0, "x0", problem.dim_x, problem, xp, "x0")
    y0 = _start(y0, "y0", problem.dim_y, problem, xp, "y0")
    return dispatch("bilevel", method, (problem, x0, y0), xp=xp, options=options,
                    callback=callback)
