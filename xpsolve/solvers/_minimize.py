"""``minimize``: the SciPy-style front door for single-level problems."""
from __future__ import annotations

import warnings

from .._options import validate_options
from .._registry import get_solver
from ..backends import as_float_array, check_finite, device, get_namespace

__all__ = ["minimize", "as_scipy_method"]


def minimize(fun, x0, *, method, args=(), jac=None, hess=None, hessp=None, constraints=(),
             tol=None, callback=None, options=None):
    """Minimise a scalar function of one or more variables (SciPy conventions).

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``.
    x0 : array of shape (n,)
        Initial guess, in any array-API namespace; the solution ``x`` is
        returned in the same namespace, on the same device and with the same
        floating dtype (integer input is promoted to the default float).
    method : str or callable
        A registered ``minimize`` method (see ``xpsolve.list_solvers("minimize")``)
        or a callable with SciPy's custom-method signature
        ``method(fun, x0, args=..., jac=..., hess=..., hessp=..., constraints=...,
        callback=..., **options)`` returning an :class:`OptimizeResult`.
    args : tuple
        Extra arguments passed to ``fun``, ``jac``, ``hess`` and ``hessp``.
    jac, hess, hessp : callable, optional
        Gradient, Hessian and Hessian-vector product. A method that does not use a
        supplied one warns with :class:`RuntimeWarning`.
    constraints : sequence
        Constraints, for methods that accept them.
    tol : float, optional
        Tolerance for termination; sets ``options["tol"]`` when the method has it.
    callback : callable, optional
        ``callback(intermediate_result)``; raise :class:`StopIteration` to stop
        (the result then has ``status=99``).
    options : dict, optional
        Method options (:func:`xpsolve.show_options`). Unknown keys raise
        ``TypeError``.

    Returns
    -------
    OptimizeResult

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import minimize, OptimizeResult
    >>> def fixed_step(fun, x0, *, args=(), jac=None, callback=None, maxiter=100, **kw):
    ...     x = x0
    ...     for k in range(maxiter):
    ...         x = x - 0.5 * jac(x)
    ...     return OptimizeResult(x=x, fun=fun(x), nit=maxiter, success=True, status=0,
    ...                           message="done")
    >>> res = minimize(lambda x: float(x @ x), np.array([1.0, -2.0]), method=fixed_step,
    ...                jac=lambda x: 2 * x)
    >>> float(res.fun) < 1e-20
    True
    """
    xp = get_namespace(x0)
    dev = device(x0)
    x0 = as_float_array(x0, "x0", xp, dev)
    if x0.ndim != 1:
        raise ValueError(f"x0 must be 1-D; got shape {tuple(x0.shape)}")
    check_finite(x0, "x0", xp)
    if not callable(fun):
        raise TypeError(f"fun must be callable; got {type(fun).__name__}")
    for name, f in (("jac", jac), ("hess", hess), ("hessp", hessp), ("callback", callback)):
        if f is not None and not callable(f):
            raise TypeError(f"{name} must be callable or None; got {type(f).__name__}")
    options = dict(options or {})
    if callable(method):
        if tol is not None:
            options.setdefault("tol", tol)
        return method(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp,
                      constraints=constraints, callback=callback, **options)
    spec = get_solver(method, family="minimize")
    if tol is not None and "tol" in spec.options:
        options.setdefault("tol", tol)
    opts = validate_options(spec.name, spec.options, options)
    supplied = {"jac": jac, "hess": hess, "hessp": hessp}
    for name, value in supplied.items():
        if value is not None and name not in spec.needs and name not in spec.accepts:
            warnings.warn(f"Method {spec.name!r} does not use {name}; it is ignored.",
                          RuntimeWarning, stacklevel=2)
    kwargs = {k: v for k, v in supplied.items() if v is not None and
              (k in spec.needs or k in spec.accepts)}
    for need in spec.needs:
        if need in supplied and supplied[need] is None:
            raise ValueError(f"Method {spec.name!r} requires {need}; pass {need}=callable.")
    if constraints and "constraints" not in spec.accepts:
        raise ValueError(f"Method {spec.name!r} does not handle constraints.")
    if constraints:
        kwargs["constraints"] = constraints
    return spec.func(fun, x0, args=args, xp=xp, callback=callback, **kwargs, **opts)


def as_scipy_method(name: str):
    """Wrap the xpsolve ``minimize`` method ``name`` for ``scipy.optimize.minimize(method=...)``.

    Examples
    --------
    >>> import xpsolve
    >>> callable(xpsolve.as_scipy_method)
    True
    """
    spec = get_solver(name, family="minimize")

    def _method(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
                constraints=(), callback=None, **options):
        if bounds is not None:
            raise ValueError(f"Method {spec.name!r} does not support bounds.")
        return minimize(fun, x0, method=spec.name, args=args,
                        jac=jac if callable(jac) else None, hess=hess, hessp=hessp,
                        constraints=constraints or (), callback=callback, options=options)

    _method.__name__ = f"xpsolve_{spec.name.replace('-', '_')}"
    _method.__doc__ = f"xpsolve method {spec.name!r} with SciPy's custom-method signature."
    return _method
