"""SciPy's own ``minimize`` methods run through :func:`xpsolve.minimize`.

NumPy inputs go straight to :func:`scipy.optimize.minimize`. Inputs of another
array namespace are copied to NumPy for SciPy and every user function is called
with arrays of the caller's namespace (the method is not array-API generic: a
:class:`HostRoundTripWarning` says so). The result is an xpsolve
:class:`~xpsolve.OptimizeResult` whose ``status`` follows xpsolve's table, with
SciPy's own code under ``scipy_status`` and SciPy's ``message`` kept.
"""
from __future__ import annotations

import difflib
import inspect
import math
import warnings

import numpy as np

from .._result import OptimizeResult
from ..backends import asarray_on, is_numpy_namespace, namespace_name, to_numpy

__all__ = ["SCIPY_METHODS", "HostRoundTripWarning", "is_scipy_method", "run_scipy_method",
           "map_scipy_status", "scipy_method_options"]

try:  # the list SciPy itself dispatches on
    from scipy.optimize._minimize import MINIMIZE_METHODS as _SCIPY_LIST
except ImportError:  # pragma: no cover - private name moved
    _SCIPY_LIST = ['nelder-mead', 'powell', 'cg', 'bfgs', 'newton-cg', 'l-bfgs-b', 'tnc',
                   'cobyla', 'cobyqa', 'slsqp', 'trust-constr', 'dogleg', 'trust-ncg',
                   'trust-exact', 'trust-krylov']

#: Lower-case names of SciPy's ``minimize`` methods (SciPy matches them case-insensitively).
SCIPY_METHODS = tuple(_SCIPY_LIST)

#: SciPy methods that take bounds / general constraints (``scipy.optimize.minimize``'s lists).
SCIPY_BOUNDS_METHODS = ("L-BFGS-B", "TNC", "SLSQP", "trust-constr", "Powell", "Nelder-Mead",
                        "COBYLA", "COBYQA")
SCIPY_CONSTRAINT_METHODS = ("SLSQP", "trust-constr", "COBYLA", "COBYQA")

# SciPy's implementation function of each method (to read its option names).
_IMPL = {
    "nelder-mead": ("_optimize", "_minimize_neldermead"),
    "powell": ("_optimize", "_minimize_powell"),
    "cg": ("_optimize", "_minimize_cg"),
    "bfgs": ("_optimize", "_minimize_bfgs"),
    "newton-cg": ("_optimize", "_minimize_newtoncg"),
    "l-bfgs-b": ("_lbfgsb_py", "_minimize_lbfgsb"),
    "tnc": ("_tnc", "_minimize_tnc"),
    "cobyla": ("_cobyla_py", "_minimize_cobyla"),
    "cobyqa": ("_cobyqa_py", "_minimize_cobyqa"),
    "slsqp": ("_slsqp_py", "_minimize_slsqp"),
    "trust-constr": ("_trustregion_constr", "_minimize_trustregion_constr"),
    "dogleg": ("_trustregion_dogleg", "_minimize_dogleg"),
    "trust-ncg": ("_trustregion_ncg", "_minimize_trust_ncg"),
    "trust-exact": ("_trustregion_exact", "_minimize_trustregion_exact"),
    "trust-krylov": ("_trustregion_krylov", "_minimize_trust_krylov"),
}
_NOT_OPTIONS = {"fun", "x0", "args", "jac", "hess", "hessp", "bounds", "constraints", "callback"}


class HostRoundTripWarning(RuntimeWarning):
    """A SciPy method ran on a NumPy copy of non-NumPy inputs (not array-API generic).

    Examples
    --------
    >>> import warnings
    >>> from xpsolve import HostRoundTripWarning
    >>> issubclass(HostRoundTripWarning, RuntimeWarning)
    True
    >>> warnings.simplefilter("ignore", HostRoundTripWarning)   # silence it for torch inputs
    """


def is_scipy_method(method) -> bool:
    return isinstance(method, str) and method.lower() in SCIPY_METHODS


def scipy_method_options(meth: str):
    """Option names SciPy's method ``meth`` knows (``None`` when they cannot be read)."""
    mod_name, func_name = _IMPL.get(meth, (None, None))
    if mod_name is None:
        return None
    try:
        import importlib

        func = getattr(importlib.import_module(f"scipy.optimize.{mod_name}"), func_name)
        params = inspect.signature(func).parameters
    except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover
        return None
    return {k for k, p in params.items() if k not in _NOT_OPTIONS
            and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _check_options(method: str, meth: str, options: dict) -> None:
    known = scipy_method_options(meth)
    if known is None:
        return
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"Unknown option {key!r} for SciPy method {method!r}.{hint} Valid "
                            f"options: {', '.join(sorted(known))}. (SciPy only warns about "
                            "unknown options; xpsolve raises, as for its own methods.)")


# ---------------------------------------------------------------------------- status
# SciPy status -> xpsolve status, where the method's code differs from xpsolve's table
# (0 converged, 1 iteration/evaluation limit, 2 stalled, 3 non-finite, 4 infeasible,
# 99 callback). A code missing here is classified from SciPy's message.
_STATUS_MAP = {
    "nelder-mead": {1: 1, 2: 1},
    "powell": {1: 1, 2: 1, 3: 3, 4: 4},
    "cg": {1: 1, 2: 2, 3: 3},
    "bfgs": {1: 1, 2: 2, 3: 3},
    "newton-cg": {1: 1, 2: 2, 4: 2},            # 3: NaN or a non-PSD Hessian (by message)
    "l-bfgs-b": {1: 1, 2: 2},
    "tnc": {-1: 4, 3: 1, 4: 2, 5: 2, 6: 2, 7: 99},
    "cobyla": {3: 1, 20: 1, -1: 3, -2: 3, -3: 3, 2: 2, 6: 4, 7: 2, 8: 2, 30: 99},
    "cobyqa": {5: 1, 6: 1, -1: 4, -2: 2, 3: 99},
    "slsqp": {9: 1, 2: 4, 4: 4, 3: 2, 5: 2, 6: 2, 7: 2, 8: 2},
    "trust-constr": {0: 1, 3: 99, 4: 4},
    "dogleg": {1: 1, 2: 2, 3: 2},
    "trust-ncg": {1: 1, 2: 2, 3: 2},
    "trust-exact": {1: 1, 2: 2, 3: 2},
    "trust-krylov": {1: 1, 2: 2, 3: 2},
}


def _classify_message(message: str) -> int:
    m = message.lower()
    if "nan" in m or "non-finite" in m or "inf " in m:
        return 3
    if ("iteration" in m or "evaluation" in m) and any(
            w in m for w in ("maximum", "limit", "exceed", "reached")):
        return 1
    if "infeasib" in m or "incompatible" in m or "constraint" in m:
        return 4
    return 2


def map_scipy_status(meth: str, res) -> int:
    """xpsolve status of SciPy result ``res`` of method ``meth`` (see the module docstring)."""
    if not _finite_result(res):  # a non-finite objective or iterate, whatever SciPy says
        return 99 if res.get("status", None) == 99 else 3
    if res.get("success", False):
        return 0
    scipy_status = res.get("status", None)
    if scipy_status == 99:
        return 99
    table = _STATUS_MAP.get(meth, {})
    ours = table.get(scipy_status, None)
    if ours is None:
        ours = _classify_message(str(res.get("message", "")))
    if ours == 0:  # SciPy said "not success" with a success-like code: infeasible
        ours = 4
    return ours


def _finite_result(res) -> bool:
    try:
        fun = float(np.asarray(res.get("fun", 0.0), dtype=float).reshape(-1)[0])
        x = np.asarray(res.get("x", 0.0), dtype=float)
    except (TypeError, ValueError, IndexError):
        return True
    return math.isfinite(fun) and bool(np.all(np.isfinite(x)))


# ---------------------------------------------------------------------------- namespaces
class _Bridge:
    """Copies arrays between NumPy (SciPy's side) and the caller's namespace."""

    def __init__(self, xp, dev, dtype):
        self.xp, self.dev, self.dtype = xp, dev, dtype

    def to_xp(self, a):
        a = np.array(a, dtype=np.result_type(np.asarray(a).dtype, np.float32), copy=True)
        return asarray_on(a, self.xp, self.dev, self.dtype if a.dtype.kind == "f" else None)

    @staticmethod
    def to_np(a):
        if a is None or isinstance(a, (float, int, np.ndarray, np.generic)):
            return a
        if isinstance(a, (list, tuple)):
            return np.asarray([_Bridge.to_np(v) for v in a])
        if type(a).__name__.endswith("LinearOperator") or _issparse(a):
            return a
        return to_numpy(a)

    def scalar(self, v):
        return v if isinstance(v, (float, int)) else self.to_np(v)

    def fun(self, f, jac_true=False):
        def wrapped(x, *args):
            v = f(self.to_xp(x), *args)
            if jac_true:
                return self.scalar(v[0]), self.to_np(v[1])
            return self.scalar(v)
        return wrapped

    def unary(self, f):
        if not callable(f) or _is_strategy(f):
            return f

        def wrapped(x, *args):
            return self.to_np(f(self.to_xp(x), *args))
        return wrapped

    def binary(self, f):
        if not callable(f) or _is_strategy(f):
            return f

        def wrapped(x, p, *args):
            return self.to_np(f(self.to_xp(x), self.to_xp(p), *args))
        return wrapped

    def constraint(self, con):
        from scipy.optimize import LinearConstraint, NonlinearConstraint

        if isinstance(con, dict):
            out = dict(con)
            for key in ("fun", "jac"):
                if callable(con.get(key)):
                    out[key] = self.unary(con[key])
            return out
        if isinstance(con, NonlinearConstraint):
            return NonlinearConstraint(self.unary(con.fun), self.to_np(con.lb), self.to_np(con.ub),
                                       jac=self.unary(con.jac), hess=self.binary(con.hess),
                                       keep_feasible=con.keep_feasible,
                                       finite_diff_rel_step=con.finite_diff_rel_step,
                                       finite_diff_jac_sparsity=con.finite_diff_jac_sparsity)
        if isinstance(con, LinearConstraint):
            return LinearConstraint(self.to_np(con.A), self.to_np(con.lb), self.to_np(con.ub),
                                    keep_feasible=con.keep_feasible)
        return con

    def bounds(self, bounds):
        from scipy.optimize import Bounds

        if bounds is None:
            return None
        if isinstance(bounds, Bounds):
            return Bounds(self.to_np(bounds.lb), self.to_np(bounds.ub),
                          keep_feasible=self.to_np(bounds.keep_feasible))
        return [tuple(None if v is None else float(np.asarray(self.to_np(v)).reshape(-1)[0])
                      for v in pair) for pair in bounds]

    def callback(self, callback):
        if callback is None:
            return None
        try:
            params = list(inspect.signature(callback).parameters)
        except (TypeError, ValueError):
            params = []
        if params == ["intermediate_result"]:
            def modern(intermediate_result):
                r = OptimizeResult(intermediate_result)
                r["x"] = self.to_xp(intermediate_result.x)
                return callback(r)
            return modern

        def legacy(xk, *rest):
            return callback(self.to_xp(xk), *rest)
        return legacy


def _issparse(a) -> bool:
    import scipy.sparse as sp

    return sp.issparse(a)


def _is_strategy(h) -> bool:
    from scipy.optimize import HessianUpdateStrategy

    return isinstance(h, HessianUpdateStrategy)


# ---------------------------------------------------------------------------- the call
def run_scipy_method(method, fun, x0, *, args, jac, hess, hessp, bounds, constraints, tol,
                     callback, options, xp, dev):
    """Run SciPy's ``method`` and return an xpsolve :class:`OptimizeResult`."""
    import scipy.optimize

    meth = method.lower()
    options = dict(options or {})
    _check_options(method, meth, options)
    if isinstance(jac, str) and jac == "autodiff":  # beyond SciPy: torch gradients
        from ..backends import is_torch_namespace
        from ._derivatives import _autodiff_grad

        if not is_torch_namespace(xp):
            raise ValueError("jac='autodiff' needs torch inputs (reverse-mode autodiff); for "
                             "other namespaces pass a callable or '2-point'/'3-point'/'cs'")
        jac = _autodiff_grad(fun)
    numpy_in = is_numpy_namespace(xp)
    if numpy_in:
        x0_np = x0
        call = dict(fun=fun, jac=jac, hess=hess, hessp=hessp, bounds=bounds,
                    constraints=constraints, callback=callback)
    else:
        warnings.warn(f"Method {method!r} is SciPy's and is not array-API generic: the "
                      f"{namespace_name(xp)} inputs are copied to NumPy, and every function "
                      "evaluation crosses between the namespaces; the result is converted back.",
                      HostRoundTripWarning, stacklevel=3)
        br = _Bridge(xp, dev, x0.dtype)
        x0_np = np.asarray(to_numpy(x0), dtype=np.float64)
        cons = constraints
        if cons is not None and not isinstance(cons, (list, tuple)):
            cons = [cons]
        call = dict(fun=br.fun(fun, jac_true=jac is True),
                    jac=br.unary(jac) if callable(jac) else jac,
                    hess=br.unary(hess) if callable(hess) else hess,
                    hessp=br.binary(hessp), bounds=br.bounds(bounds),
                    constraints=[br.constraint(c) for c in cons] if cons else constraints,
                    callback=br.callback(callback))
    res = scipy.optimize.minimize(call["fun"], x0_np, args=args, method=method, jac=call["jac"],
                                  hess=call["hess"], hessp=call["hessp"], bounds=call["bounds"],
                                  constraints=call["constraints"], tol=tol,
                                  callback=call["callback"], options=options)
    return _to_result(res, meth, method, xp, dev, x0.dtype, numpy_in)


def _to_result(res, meth, method, xp, dev, dtype, numpy_in):
    out = OptimizeResult(res)
    out["scipy_status"] = res.get("status", None)
    out["status"] = map_scipy_status(meth, res)
    out["success"] = out["status"] == 0
    out["message"] = str(res.get("message", ""))
    out["method"] = method
    fun = res.get("fun", math.nan)
    try:
        out["fun"] = float(np.asarray(fun).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):  # pragma: no cover
        out["fun"] = math.nan
    out.setdefault("nit", int(res.get("niter", -1)) if "niter" in res else -1)
    out.setdefault("nfev", 0)
    out.setdefault("history", {})
    out["backend"] = namespace_name(xp)
    if not numpy_in:
        for key, value in list(out.items()):
            if isinstance(value, np.ndarray) and value.dtype.kind in "fiu" and key != "history":
                arr = np.array(value, dtype=np.float64 if value.dtype.kind != "f" else value.dtype)
                out[key] = asarray_on(arr, xp, dev, dtype if key == "x" else None)
    return out
