"""What every front door does before a solver runs: callback, ``tol``, options, dispatch.

One helper, :func:`dispatch`, so ``minimize``, ``solve_ot``, ``bilevel_minimize`` and the
newer families validate and map their common arguments the same way.
"""
from __future__ import annotations

import inspect

from ._options import validate_options
from ._registry import get_solver

__all__ = ["wrap_callback", "dispatch"]


def wrap_callback(callback):
    """Validate ``callback`` and adapt SciPy's legacy ``callback(xk)`` form.

    A callable whose only parameter is named ``intermediate_result`` gets the
    :class:`xpsolve.OptimizeResult`; any other one-argument callable gets ``x`` (SciPy's
    rule, ``scipy.optimize._optimize._wrap_callback``). ``StopIteration`` passes through.
    """
    if callback is None:
        return None
    if not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    try:
        params = list(inspect.signature(callback).parameters)
    except (TypeError, ValueError):  # builtins without a signature
        return callback
    if params == ["intermediate_result"] or getattr(callback, "_xpsolve_wrapped", False):
        return callback

    def legacy(intermediate_result):
        return callback(intermediate_result.x)

    legacy._xpsolve_wrapped = True
    legacy.__wrapped__ = callback
    return legacy


def _accepts_xp(func) -> bool:
    try:
        return "xp" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def dispatch(family, method, args, *, xp, options=None, tol=None, callback=None,
             tol_option="tol", **kwargs):
    """Run ``method`` of ``family`` on ``args`` with validated ``options``.

    Parameters
    ----------
    family : str
        Registry family (``"ot"``, ``"bilevel"``, ``"minimize"``, ...).
    method : str or callable
        A registered method name, or a custom callable called as
        ``method(*args, callback=..., **kwargs, **options)``, with ``xp=`` when
        its signature names an ``xp`` parameter.
    args : tuple
        Positional problem data, already validated by the front door.
    options : dict or None
        Method options; validated against the method's constraints (unknown
        names raise ``TypeError``, bad values ``ValueError``).
    tol : float or None
        Mapped to the ``tol_option`` option (unless the options set it); a method
        without that option raises ``ValueError`` rather than ignoring ``tol``.
    callback : callable or None
        Validated and adapted by :func:`wrap_callback`.
    """
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"options must be a dict or None; got {type(options).__name__}.")
    options = dict(options or {})
    callback = wrap_callback(callback)
    if tol is not None:
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
            raise ValueError(f"tol must be a positive float; got {tol!r}")
        options.setdefault(tol_option, float(tol))
    if callable(method):
        extra = {"xp": xp} if _accepts_xp(method) else {}
        return method(*args, callback=callback, **extra, **kwargs, **options)
    spec = get_solver(method, family=family)
    if tol is not None and tol_option not in spec.options:
        raise ValueError(f"Method {spec.name!r} has no {tol_option!r} option, so tol={tol!r} "
                         "cannot be applied; see xpsolve.show_options")
    opts = validate_options(spec.name, spec.options, options)
    return spec.func(*args, xp=xp, callback=callback, **kwargs, **opts)
