"""``minimize``: a drop-in superset of :func:`scipy.optimize.minimize` for single-level problems."""
from __future__ import annotations

import difflib
import inspect
import warnings

from .._frontdoor import dispatch
from .._registry import get_solver, list_solvers
from ..backends import as_float_array, check_finite, device, get_namespace
from ._derivatives import parse_bounds, prepare_constraints, prepare_objective
from ._scipy_methods import (SCIPY_BOUNDS_METHODS, SCIPY_CONSTRAINT_METHODS, SCIPY_METHODS,
                             is_scipy_method, run_scipy_method)

__all__ = ["minimize", "as_scipy_method"]


def minimize(fun, x0, args=(), method=None, jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol=None, callback=None, options=None):
    """Minimise a scalar function of one or more variables: SciPy's call, SciPy's methods and ours.

    The signature, argument order and defaults are those of
    :func:`scipy.optimize.minimize`, so replacing ``scipy.optimize.minimize`` by
    ``xpsolve.minimize`` runs existing code unchanged. Every SciPy method name
    runs SciPy's method; xpsolve's own methods (``xpsolve.list_solvers("minimize")``,
    e.g. ``"adasketch"``) accept the same arguments.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``. A one-element list or array is accepted as a
        scalar (as SciPy does); a larger one raises ``ValueError``.
    x0 : array of shape (n,)
        Initial guess, in any array-API namespace (a scalar is taken as shape (1,),
        as in SciPy). The solution ``x`` is returned in the same namespace, on the
        same device and with the same floating dtype (integers become the default float).
    args : tuple
        Extra arguments passed to ``fun``, ``jac``, ``hess`` and ``hessp``; a
        non-tuple is wrapped in a tuple (SciPy's rule).
    method : str or callable, optional
        One of SciPy's methods (``"Nelder-Mead"``, ``"Powell"``, ``"CG"``, ``"BFGS"``,
        ``"Newton-CG"``, ``"L-BFGS-B"``, ``"TNC"``, ``"COBYLA"``, ``"COBYQA"``,
        ``"SLSQP"``, ``"trust-constr"``, ``"dogleg"``, ``"trust-ncg"``,
        ``"trust-exact"``, ``"trust-krylov"``; case-insensitive), an xpsolve method,
        or a callable with SciPy's custom-method signature. ``None`` picks as SciPy
        does: ``"SLSQP"`` with constraints, ``"L-BFGS-B"`` with bounds, else ``"BFGS"``.
    jac : callable, bool, str or None
        Gradient: a callable ``jac(x, *args)``; ``True`` (``fun`` returns ``(f, g)``);
        ``'2-point'``, ``'3-point'`` or ``'cs'`` (finite differences); ``None`` or
        ``False`` (finite differences: SciPy's methods as SciPy does, xpsolve methods
        that need a gradient by ``'3-point'`` central differences, accurate enough for a
        KKT tolerance of 1e-8, where ``'2-point'`` stalls near 1e-8);
        ``'autodiff'`` (beyond SciPy; torch inputs: reverse-mode gradients by
        ``torch.autograd``, for SciPy's methods too).
    hess, hessp : callable, str or HessianUpdateStrategy, optional
        Hessian ``hess(x, *args) -> (n, n)`` and product ``hessp(x, p, *args) -> (n,)``.
        SciPy methods take them as SciPy documents. An xpsolve method that needs
        curvature and gets neither uses finite-difference Hessian-vector products (a
        finite-difference string or a quasi-Newton strategy such as ``SR1()`` is
        replaced by them, with a ``RuntimeWarning`` for the strategy). A callable the
        method does not use gives a ``RuntimeWarning``.
    bounds : Bounds or sequence of (min, max) pairs, optional
        Checked for every named method (one pair per variable, no NaN, ``min <= max``). A
        method that cannot take bounds refuses them with ``ValueError`` naming
        methods that can (infinite bounds are accepted and ignored).
    constraints : dict, NonlinearConstraint, LinearConstraint or a sequence of them
        As in SciPy. For xpsolve methods a dict without ``jac`` gets a ``'3-point'``
        finite-difference Jacobian, a ``NonlinearConstraint`` its own string ``jac``
        (SciPy's default ``'2-point'``); a method that handles
        equality constraints only (``"adasketch"``) refuses inequalities with
        ``ValueError`` naming methods that take them.
    tol : float, optional
        Tolerance for termination: mapped as SciPy maps it for SciPy methods; sets the
        ``tol`` option of xpsolve methods.
    callback : callable, optional
        ``callback(intermediate_result)`` (an :class:`OptimizeResult`) or SciPy's
        legacy ``callback(xk)``, told apart by the parameter name as SciPy does.
        Raising :class:`StopIteration` stops the solve with ``status=99``.
    options : dict, optional
        Method options (``xpsolve.show_options(method)`` for xpsolve methods,
        ``scipy.optimize.show_options("minimize", method)`` for SciPy's). Unknown
        keys raise ``TypeError`` for every method (SciPy only warns).

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``nit``, ``nfev``, ``success``, ``status`` (xpsolve's table:
        0 converged, 1 iteration or evaluation limit, 2 stalled, 3 non-finite value,
        4 infeasible, 99 callback stop), ``message``, ``history``, ``backend`` and the
        method's own keys. SciPy methods keep SciPy's keys and ``message``, add
        ``scipy_status`` (SciPy's own code) and ``method``. xpsolve methods add
        ``approximate_derivatives``: which derivatives were approximated, and how
        (empty when all were given).

    Warns
    -----
    HostRoundTripWarning
        A SciPy method called with non-NumPy inputs: they are copied to NumPy,
        each function evaluation gets arrays of the caller's namespace, and the
        result is converted back (SciPy's methods are not array-API generic).

    Notes
    -----
    Status mapping for SciPy methods (``scipy_status`` keeps SciPy's code):
    success is 0; iteration or evaluation limits are 1 (BFGS/CG 1, Nelder-Mead and
    Powell 1-2, L-BFGS-B 1, TNC 3, SLSQP 9, trust-constr 0, COBYLA 3 and 20,
    COBYQA 5-6); NaN results are 3 (BFGS/CG/Powell 3, COBYLA -1 to -3, and any
    failure whose ``fun`` or ``x`` is not finite); infeasibility is 4 (SLSQP 2 and 4,
    TNC -1, COBYQA -1, trust-constr 4, Powell 4); a callback stop is 99; every other
    failure (line-search failure, precision loss, singular subproblem) is 2.

    Examples
    --------
    SciPy's call, SciPy's method:

    >>> import numpy as np
    >>> import xpsolve
    >>> from scipy.optimize import rosen, rosen_der
    >>> res = xpsolve.minimize(rosen, np.array([1.3, 0.7, 0.8]), method="BFGS", jac=rosen_der)
    >>> res.success, res.status, np.round(res.x, 4).tolist()
    (True, 0, [1.0, 1.0, 1.0])
    >>> xpsolve.minimize(rosen, np.zeros(2), method="BFGS", options={"maxiter": 3}).status
    1

    The same call with an xpsolve method (equality constraints, no derivatives given):

    >>> res = xpsolve.minimize(lambda x: x[0] ** 2 + 2 * x[1] ** 2, np.array([0.0, 0.0]),
    ...                        method="adasketch", tol=1e-7, options={"seed": 0},
    ...                        constraints={"type": "eq", "fun": lambda x: x[0] + x[1] - 3})
    >>> res.success, np.round(res.x, 5).tolist()
    (True, [2.0, 1.0])
    >>> sorted(res.approximate_derivatives)
    ['constraints[0].jac', 'hess', 'jac']
    """
    x0, xp, dev = _check_x0(x0)
    if not callable(fun):
        raise TypeError(f"fun must be callable; got {type(fun).__name__}")
    if not isinstance(args, tuple):
        args = (args,)
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"options must be a dict or None; got {type(options).__name__}")
    for name, f in (("hessp", hessp), ("callback", callback)):
        if f is not None and not callable(f):
            raise TypeError(f"{name} must be callable or None; got {type(f).__name__}")
    if method is None:
        method = "SLSQP" if constraints else ("L-BFGS-B" if bounds is not None else "BFGS")
    if callable(method):  # bounds and constraints reach a custom method unaltered, as in SciPy
        return _custom(method, fun, x0, args, jac, hess, hessp, bounds, constraints, tol,
                       callback, options, xp)
    if bounds is not None:
        parse_bounds(bounds, int(x0.shape[0]))  # fail fast, for every named method
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, a callable or None; got {type(method).__name__}")
    if is_scipy_method(method):
        return run_scipy_method(method, fun, x0, args=args, jac=jac, hess=hess, hessp=hessp,
                                bounds=bounds, constraints=constraints, tol=tol,
                                callback=callback, options=options, xp=xp, dev=dev)
    spec = _lookup(method)
    return _run_registered(spec, fun, x0, args, jac, hess, hessp, bounds, constraints, tol,
                           callback, options, xp)


def _check_x0(x0):
    xp = get_namespace(x0)
    dev = device(x0)
    x0 = as_float_array(x0, "x0", xp, dev)
    if x0.ndim == 0:
        x0 = xp.reshape(x0, (1,))  # SciPy: np.atleast_1d
    if x0.ndim != 1:
        raise ValueError(f"x0 must be 1-D; got shape {tuple(x0.shape)}")
    check_finite(x0, "x0", xp)
    return x0, xp, dev


def _lookup(method):
    try:
        return get_solver(method, family="minimize")
    except ValueError:
        ours = [s.name for s in list_solvers("minimize")]
        scipy_names = {m.lower(): m for m in SCIPY_METHODS}
        key = method.lower().replace("_", "-")
        close = difflib.get_close_matches(key, sorted(set(ours) | set(scipy_names)), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown method {method!r}.{hint} SciPy's methods: "
                         f"{', '.join(SCIPY_METHODS)}; xpsolve's: {', '.join(ours) or 'none'} "
                         "(case-insensitive).") from None


def _custom(method, fun, x0, args, jac, hess, hessp, bounds, constraints, tol, callback,
            options, xp):
    """SciPy's custom-method hook: ``method(fun, x0, args=..., ..., **options)``."""
    options = dict(options or {})
    if tol is not None:
        options.setdefault("tol", tol)
    if jac is True:  # as SciPy does before calling a custom method
        from ._derivatives import FunAndGrad

        pair = FunAndGrad(fun, xp)
        fun, jac = pair.value, pair.grad
    extra = {}
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    if "xp" in params:
        extra["xp"] = xp
    # SciPy always passes bounds; xpsolve custom methods written before bounds existed
    # (suite peers) take **options validated by name, so bounds=None goes only where named
    if bounds is not None or "bounds" in params:
        extra["bounds"] = bounds
    return method(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp,
                  constraints=constraints, callback=callback, **extra, **options)


def _methods_accepting(token, scipy_names):
    ours = [s.name for s in list_solvers("minimize") if token in s.accepts]
    return list(scipy_names) + ours


def _run_registered(spec, fun, x0, args, jac, hess, hessp, bounds, constraints, tol, callback,
                    options, xp):
    uses = set(spec.needs) | set(spec.accepts)
    if bounds is not None and "bounds" not in spec.accepts:
        lb, ub = parse_bounds(bounds, int(x0.shape[0]))
        if (lb > -float("inf")).any() or (ub < float("inf")).any():
            able = _methods_accepting("bounds", SCIPY_BOUNDS_METHODS)
            raise ValueError(f"Method {spec.name!r} does not handle bounds. Methods that do: "
                             f"{', '.join(map(repr, able))} (SciPy's run through "
                             "xpsolve.minimize).")
        bounds = None
    for name, value in (("jac", jac), ("hess", hess), ("hessp", hessp)):
        if callable(value) and not isinstance(value, type) and name not in uses and not (
                name == "jac" and value is True):
            warnings.warn(f"Method {spec.name!r} does not use {name}; it is ignored.",
                          RuntimeWarning, stacklevel=3)
    from ._derivatives import _is_strategy

    if _is_strategy(hess) and ("hess" in uses or "hessp" in uses):
        warnings.warn(f"Method {spec.name!r} does not run quasi-Newton updates; "
                      f"hess={type(hess).__name__}() is replaced by finite-difference Hessian "
                      "products.", RuntimeWarning, stacklevel=3)
    fd_counts = {}  # evaluations spent on finite differences, added to nfev / ncev
    fun, jac, hess, hessp, approx = prepare_objective(fun, jac, hess, hessp, xp, spec, fd_counts)
    has_cons = constraints is not None and not (
        isinstance(constraints, (list, tuple)) and len(constraints) == 0)
    if has_cons:
        if "constraints" not in spec.accepts:
            able = _methods_accepting("constraints", SCIPY_CONSTRAINT_METHODS)
            raise ValueError(f"Method {spec.name!r} does not handle constraints. Methods that "
                             f"do: {', '.join(map(repr, able))}.")
        constraints, capprox = prepare_constraints(
            constraints, xp, spec.name, "inequality_constraints" in spec.accepts,
            lambda: _methods_accepting("inequality_constraints", SCIPY_CONSTRAINT_METHODS),
            fd_counts)
        approx.update(capprox)
    supplied = {"jac": jac, "hess": hess, "hessp": hessp}
    for need in spec.needs:
        if need in supplied and supplied[need] is None:
            raise ValueError(f"Method {spec.name!r} requires {need}; pass {need}=callable.")
    kwargs = {k: _bind(v, args) for k, v in supplied.items() if v is not None and k in uses}
    if bounds is not None:  # only methods whose spec accepts "bounds" get here with bounds
        kwargs["bounds"] = bounds
    if has_cons:
        kwargs["constraints"] = constraints
    # ``args`` are bound into the callables: dispatch's own ``args`` is the problem data.
    res = dispatch("minimize", spec.name, (_bind(fun, args), x0), xp=xp, options=options,
                   tol=tol, callback=callback, **kwargs)
    res["approximate_derivatives"] = approx
    for key, n_fd in fd_counts.items():
        if n_fd:
            res[key] = int(res.get(key, 0)) + n_fd
    return res


def _bind(f, args):
    if not args:
        return f

    def bound(x, *more):
        return f(x, *more, *args)
    return bound


def as_scipy_method(name: str):
    """Wrap the xpsolve ``minimize`` method ``name`` for ``scipy.optimize.minimize(method=...)``.

    The wrapper has SciPy's custom-method signature and forwards everything,
    including string or boolean ``jac`` (finite differences, ``jac=True``), to
    :func:`xpsolve.minimize`.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.optimize
    >>> import xpsolve
    >>> res = scipy.optimize.minimize(
    ...     lambda x: (x[0] - 2) ** 2 + x[1] ** 2, np.array([0.0, 1.0]),
    ...     method=xpsolve.as_scipy_method("adasketch"), jac="3-point",
    ...     constraints={"type": "eq", "fun": lambda x: x[0] - x[1]},
    ...     options={"seed": 0, "tol": 1e-8})
    >>> res.success, np.round(res.x, 6).tolist()
    (True, [1.0, 1.0])
    """
    spec = get_solver(name, family="minimize")

    def _method(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
                constraints=(), callback=None, **options):
        return minimize(fun, x0, args=args, method=spec.name, jac=jac, hess=hess, hessp=hessp,
                        bounds=bounds, constraints=constraints or (), callback=callback,
                        options=options)

    _method.__name__ = f"xpsolve_{spec.name.replace('-', '_')}"
    _method.__doc__ = f"xpsolve method {spec.name!r} with SciPy's custom-method signature."
    return _method
