"""Derivatives, constraints and bounds as SciPy callers pass them, made ready for xpsolve methods.

:func:`xpsolve.minimize` turns SciPy's ways of giving (or not giving) derivatives
into callables before an xpsolve method runs:

- ``jac=True`` (``fun`` returns ``(f, g)``): split, with the last pair cached;
- ``jac='2-point'``/``'3-point'``/``'cs'``: those finite differences (SciPy's
  ``approx_derivative`` for NumPy, :func:`fd_jacobian` for other namespaces);
  ``jac=None``/``False``: ``'3-point'`` (SciPy's methods use ``'2-point'``; a KKT
  test at ``tol=1e-8`` needs the more accurate central differences);
- ``jac="autodiff"`` (beyond SciPy): reverse-mode gradients for torch;
- a Hessian the method needs but the caller cannot give: when the gradient itself is
  a finite difference, Hessian-vector products are central differences of it with a
  step sized for its noise (``eps**(1/6)`` relative for '2-point'); with an exact
  gradient the method's own forward differences are used;
- dict constraints without ``jac``: ``'3-point'`` Jacobians; a ``NonlinearConstraint``'s
  string ``jac`` (SciPy's default ``'2-point'``) is honoured; Hessian products likewise.

Every approximation is recorded, so the result can say which derivatives were
approximated (``approximate_derivatives``).
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import asarray_on, is_numpy_namespace, is_torch_namespace

__all__ = ["FD_METHODS", "fd_jacobian", "prepare_objective", "prepare_constraints",
           "parse_bounds", "is_equality", "scalar_fun"]

FD_METHODS = ("2-point", "3-point", "cs")
_EPS = float(np.finfo(np.float64).eps)
# Relative step of central differences of a gradient that is itself a finite difference
# of accuracy ~ EPS**a: the step balancing truncation (h^2) and noise (EPS**a / h).
_HVP_STEP = {"2-point": _EPS ** (1 / 6), "3-point": _EPS ** (2 / 9), "cs": _EPS ** (1 / 3),
             "autodiff": _EPS ** (1 / 3)}


# ---------------------------------------------------------------------------- helpers
def scalar_fun(fun, xp):
    """``fun`` whose one-element list/array return is made a scalar; size > 1 is refused."""

    def wrapped(x, *args):
        v = fun(x, *args)
        if isinstance(v, (float, int)) and not isinstance(v, bool):
            return v
        shape = getattr(v, "shape", None)
        if shape is not None and len(shape) == 0:
            return v
        if isinstance(v, (list, tuple)) or shape is not None:
            size = len(v) if shape is None else math.prod(shape)
            if size != 1:
                raise ValueError("fun must return a scalar (or a one-element array); got "
                                 f"{type(v).__name__} of size {size}")
            return float(v[0]) if shape is None else float(xp.reshape(v, (-1,))[0])
        try:
            return float(v)
        except (TypeError, ValueError):
            raise ValueError(f"fun must return a scalar; got {type(v).__name__}") from None
    return wrapped


class FunAndGrad:
    """Splits ``fun(x) -> (f, g)`` (``jac=True``) into ``fun`` and ``jac``; caches the pair."""

    def __init__(self, fun, xp):
        self.fun, self.xp = fun, xp
        self._x = self._f = self._g = None

    def _eval(self, x, *args):
        xp = self.xp
        if (self._x is None or self._x.shape != x.shape or not bool(xp.all(self._x == x))):
            out = self.fun(x, *args)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise ValueError("with jac=True, fun must return a pair (f, g); got "
                                 f"{type(out).__name__}")
            self._x = xp.asarray(x, copy=True)
            self._f, self._g = out
        return self._f, self._g

    def value(self, x, *args):
        return self._eval(x, *args)[0]

    def grad(self, x, *args):
        return self._eval(x, *args)[1]


def _steps(x, method, xp):
    eps = float(xp.finfo(x.dtype).eps)
    rel = eps ** 0.5 if method in ("2-point", "cs") else eps ** (1 / 3)
    sign = xp.where(x >= 0, xp.ones_like(x), -xp.ones_like(x))
    h = rel * sign * xp.maximum(xp.ones_like(x), xp.abs(x))
    return (x + h) - x  # exactly representable steps (as SciPy's approx_derivative)


def _as_xp(v, xp, like):
    if isinstance(v, (float, int)):
        return xp.asarray(float(v), dtype=like.dtype, device=getattr(like, "device", None))
    if isinstance(v, (list, tuple)):
        return asarray_on(np.asarray(v, dtype=float), xp, getattr(like, "device", None),
                          like.dtype)
    return v


def fd_jacobian(f, x, method, xp, args=()):
    """Finite-difference derivative of ``f`` at ``x``: shape (n,) for scalar ``f``, (m, n) else.

    NumPy uses SciPy's ``approx_derivative`` (relative steps); other namespaces a
    generic version with the same steps (``'cs'`` needs a ``f`` that accepts complex input).
    """
    if is_numpy_namespace(xp):
        try:
            from scipy.optimize._numdiff import approx_derivative
        except ImportError:  # pragma: no cover - private SciPy module moved
            approx_derivative = None
        if approx_derivative is not None:
            return approx_derivative(lambda y: np.asarray(f(y, *args), dtype=float)
                                     if method != "cs" else f(y, *args), x, method=method)
    n = int(x.shape[0])
    h = _steps(x, method, xp)
    eye = xp.eye(n, dtype=x.dtype, device=getattr(x, "device", None))
    f0 = _as_xp(f(x, *args), xp, x) if method == "2-point" else None
    cols = []
    for i in range(n):
        d = eye[i, :] * h[i]
        if method == "2-point":
            cols.append((_as_xp(f(x + d, *args), xp, x) - f0) / h[i])
        elif method == "3-point":
            cols.append((_as_xp(f(x + d, *args), xp, x) - _as_xp(f(x - d, *args), xp, x))
                        / (2 * h[i]))
        else:
            cdt = xp.complex128 if x.dtype == xp.float64 else xp.complex64
            xc = xp.astype(x, cdt) + xp.astype(d, cdt) * 1j
            cols.append(xp.imag(_as_xp(f(xc, *args), xp, x)) / h[i])
    return xp.stack(cols, axis=-1) if cols[0].ndim else xp.stack(cols)


def _fd_grad(fun, method, xp):
    def jac(x, *args):
        return fd_jacobian(fun, x, method, xp, args)
    jac.__name__ = f"fd_grad_{method}"
    return jac


def _autodiff_grad(fun):
    import torch

    def jac(x, *args):
        with torch.enable_grad():
            y = x.detach().clone().requires_grad_(True)
            f = fun(y, *args)
            if not isinstance(f, torch.Tensor):
                raise TypeError("jac='autodiff' needs fun to return a torch tensor built from x "
                                f"(got {type(f).__name__})")
            (g,) = torch.autograd.grad(f.reshape(()), y)
        return g.detach()
    return jac


def _autodiff_hvp(fun):
    import torch

    def hessp(x, p, *args):
        with torch.enable_grad():
            y = x.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(fun(y, *args).reshape(()), y, create_graph=True)
            (hv,) = torch.autograd.grad(torch.sum(g * p), y)
        return hv.detach()
    return hessp


def _central_hvp(grad, scale, xp):
    """``hessp(x, p, *args)`` by central differences of ``grad`` with relative step ``scale``."""

    def hessp(x, p, *args):
        pn = float(xp.linalg.vector_norm(p))
        if pn == 0.0:
            return xp.zeros_like(p)
        t = scale * (1.0 + float(xp.linalg.vector_norm(x))) / pn
        return (grad(x + t * p, *args) - grad(x - t * p, *args)) / (2 * t)
    return hessp


def _counted(f, counts, key):
    counts.setdefault(key, 0)

    def g(x, *args):
        counts[key] += 1
        return f(x, *args)
    return g


def _is_strategy(h) -> bool:
    from scipy.optimize import HessianUpdateStrategy

    return isinstance(h, HessianUpdateStrategy)


# ---------------------------------------------------------------------------- objective
def prepare_objective(fun, jac, hess, hessp, xp, spec, counts=None):
    """Callables for an xpsolve method from SciPy-style ``jac``/``hess``/``hessp``.

    Returns ``(fun, jac, hess, hessp, approximated)`` where ``approximated`` maps
    each approximated derivative to how it is computed. ``counts["nfev"]`` (when a
    dict is given) is increased by every evaluation of ``fun`` made for a finite difference.
    """
    approx = {}
    counts = counts if counts is not None else {}
    uses = set(spec.needs) | set(spec.accepts)
    fun_out = scalar_fun(fun, xp)
    if jac is True:
        pair = FunAndGrad(fun, xp)
        fun_out, jac_out = scalar_fun(pair.value, xp), pair.grad
        kind = "exact"
    elif callable(jac):
        jac_out, kind = jac, "exact"
    elif jac is None or jac is False or (isinstance(jac, str) and jac in FD_METHODS):
        # None/False: central differences. SciPy's methods use '2-point' here; xpsolve's
        # methods test a KKT residual, which forward differences (error ~ sqrt(eps))
        # cannot bring below ~1e-8, while central ones (~ eps**(2/3)) can.
        method = jac if isinstance(jac, str) else "3-point"
        if "jac" in uses:
            jac_out, kind = _fd_grad(_counted(fun_out, counts, "nfev"), method, xp), method
            approx["jac"] = f"{method} finite differences of fun"
        else:
            jac_out, kind = None, None
    elif jac == "autodiff":
        if not is_torch_namespace(xp):
            raise ValueError("jac='autodiff' needs torch inputs (reverse-mode autodiff); for "
                             "other namespaces pass a callable or '2-point'/'3-point'/'cs'")
        jac_out, kind = _autodiff_grad(fun), "autodiff"
        approx["jac"] = "torch autograd (exact up to rounding)"
    else:
        raise ValueError(f"jac must be a callable, True, None, '2-point', '3-point', 'cs' or "
                         f"'autodiff'; got {jac!r}")
    hess_out, hessp_out = hess, hessp
    if hess is not None and not callable(hess) or _is_strategy(hess):
        what = (f"{type(hess).__name__}() (quasi-Newton updates are not run by "
                f"{spec.name!r})" if _is_strategy(hess) else repr(hess))
        if not (isinstance(hess, str) and hess in FD_METHODS) and not _is_strategy(hess):
            raise ValueError(f"hess must be a callable, '2-point', '3-point', 'cs', a "
                             f"HessianUpdateStrategy or None; got {hess!r}")
        hess_out = None
        if "hess" in uses or "hessp" in uses:
            approx["hess"] = f"finite-difference Hessian products in place of hess={what}"
    needs_curv = ("hess" in uses or "hessp" in uses)
    if needs_curv and hess_out is None and hessp_out is None and kind is not None:
        if kind == "autodiff":
            hessp_out = _autodiff_hvp(fun)
            approx["hess"] = "torch autograd Hessian-vector products (exact up to rounding)"
        elif kind != "exact":
            hessp_out = _central_hvp(jac_out, _HVP_STEP[kind], xp)
            approx.setdefault("hess", "central differences of the approximate gradient")
        elif "hessp" in spec.needs and "hess" not in uses:
            hessp_out = _central_hvp(jac_out, _HVP_STEP["cs"], xp)
            approx.setdefault("hess", "central differences of jac")
        else:
            approx.setdefault("hess", "forward differences of jac (the method's own)")
    return fun_out, jac_out, hess_out, hessp_out, approx


# ---------------------------------------------------------------------------- constraints
def is_equality(con) -> bool:
    """Whether one SciPy-style constraint is an equality (``type='eq'`` or ``lb == ub``)."""
    from scipy.optimize import LinearConstraint, NonlinearConstraint

    if isinstance(con, dict):
        return con.get("type") == "eq"
    if isinstance(con, (NonlinearConstraint, LinearConstraint)):
        lb = np.atleast_1d(np.asarray(con.lb, dtype=float))
        ub = np.atleast_1d(np.asarray(con.ub, dtype=float))
        try:
            lb, ub = np.broadcast_arrays(lb, ub)
        except ValueError:
            return False
        return bool(np.all(np.isfinite(lb)) and np.array_equal(lb, ub))
    return True  # unknown objects: let the method's own parser name the problem


def _fd_constraint(fun, jac_method, args, xp, shift=None, counts=None):
    def cfun(x, *a):
        v = fun(x, *a)
        if shift is not None:
            v = _as_xp(v, xp, x)
            if getattr(v, "ndim", 1) == 0:
                v = xp.reshape(v, (1,))
            v = v - asarray_on(np.broadcast_to(shift, v.shape).copy(), xp,
                               getattr(x, "device", None) if not is_numpy_namespace(xp) else None,
                               x.dtype)
        return v

    counted = _counted(cfun, counts if counts is not None else {}, "ncev")

    def cjac(x, *a):
        J = fd_jacobian(counted, x, jac_method, xp, a)
        return xp.reshape(J, (1, -1)) if J.ndim == 1 else J

    def chessp(x, v, p, *a):
        def gT(y):
            return xp.reshape(v, (1, -1)) @ cjac(y, *a)
        pn = float(xp.linalg.vector_norm(p))
        if pn == 0.0:
            return xp.zeros_like(p)
        t = _HVP_STEP[jac_method] * (1.0 + float(xp.linalg.vector_norm(x))) / pn
        return xp.reshape(gT(x + t * p) - gT(x - t * p), (-1,)) / (2 * t)

    return {"type": "eq", "fun": cfun, "jac": cjac, "hessp": chessp, "args": tuple(args)}


def prepare_constraints(constraints, xp, method, accepts_ineq, ineq_methods, counts=None):
    """Constraints for an xpsolve method: finite-difference Jacobians where SciPy would use them.

    Returns ``(constraints, approximated)``; refuses inequalities when the method
    cannot take them (``ValueError`` naming the methods ``ineq_methods()`` lists).
    """
    from scipy.optimize import NonlinearConstraint

    if constraints is None or (isinstance(constraints, (list, tuple)) and len(constraints) == 0):
        return constraints, {}
    single = isinstance(constraints, dict) or not isinstance(constraints, (list, tuple))
    items = [constraints] if single else list(constraints)
    out, approx = [], {}
    for i, con in enumerate(items):
        if not accepts_ineq and not is_equality(con):
            kind = (f"type {con.get('type')!r}" if isinstance(con, dict)
                    else f"a {type(con).__name__} with lb != ub")
            raise ValueError(f"Method {method!r} handles equality constraints only; "
                             f"constraints[{i}] is an inequality ({kind}). Methods that take "
                             f"inequality constraints: {', '.join(map(repr, ineq_methods()))} "
                             "(SciPy's, through xpsolve.minimize).")
        if isinstance(con, dict) and con.get("type") == "eq" and callable(con.get("fun")):
            if con.get("jac") is None and (con.get("jvp") is None or con.get("vjp") is None):
                args = con.get("args", ())
                args = args if isinstance(args, tuple) else (args,)
                new = _fd_constraint(con["fun"], "3-point", args, xp, counts=counts)
                for key in ("hess", "hessp"):
                    if con.get(key) is not None:
                        new[key] = con[key]
                out.append(new)
                approx[f"constraints[{i}].jac"] = "3-point finite differences"
                continue
        elif isinstance(con, NonlinearConstraint) and is_equality(con):
            if not callable(con.jac) or _is_strategy(con.jac):
                method_ = con.jac if con.jac in FD_METHODS else "2-point"
                lb = np.atleast_1d(np.asarray(con.lb, dtype=float))
                new = _fd_constraint(con.fun, method_, (), xp, shift=lb, counts=counts)
                if callable(con.hess) and not _is_strategy(con.hess):
                    new["hess"] = con.hess
                out.append(new)
                approx[f"constraints[{i}].jac"] = f"{method_} finite differences"
                continue
            if con.hess is not None and not callable(con.hess) or _is_strategy(con.hess):
                approx[f"constraints[{i}].hess"] = "forward differences of the Jacobian (the " \
                                                   "method's own)"
        out.append(con)
    return (out[0] if single else out), approx


# ---------------------------------------------------------------------------- bounds
def parse_bounds(bounds, n):
    """``(lb, ub)`` NumPy arrays of length ``n`` from SciPy-style bounds (``None`` -> none).

    Accepts a :class:`scipy.optimize.Bounds` or a sequence of ``n`` ``(min, max)``
    pairs (``None`` for no bound). Raises ``ValueError`` on a wrong count, NaN or
    ``lb > ub``.
    """
    from scipy.optimize import Bounds

    if bounds is None:
        return None
    if isinstance(bounds, Bounds):
        try:
            lb = np.broadcast_to(np.asarray(_np(bounds.lb), dtype=float), (n,)).copy()
            ub = np.broadcast_to(np.asarray(_np(bounds.ub), dtype=float), (n,)).copy()
        except ValueError:
            raise ValueError(f"bounds: Bounds.lb and Bounds.ub must be scalars or have length "
                             f"{n} like x0; got shapes {np.shape(_np(bounds.lb))} and "
                             f"{np.shape(_np(bounds.ub))}") from None
    else:
        try:
            pairs = list(bounds)
        except TypeError:
            raise TypeError("bounds must be a scipy.optimize.Bounds or a sequence of (min, max) "
                            f"pairs; got {type(bounds).__name__}") from None
        if len(pairs) != n:
            raise ValueError(f"bounds must have one (min, max) pair per variable: got {len(pairs)} "
                             f"for x0 of length {n}")
        lb, ub = np.empty(n), np.empty(n)
        for i, pair in enumerate(pairs):
            try:
                lo, hi = pair
            except (TypeError, ValueError):
                raise ValueError(f"bounds[{i}] must be a (min, max) pair; got {pair!r}") from None
            lb[i] = -np.inf if lo is None else _first(lo)
            ub[i] = np.inf if hi is None else _first(hi)
    if np.isnan(lb).any() or np.isnan(ub).any():
        raise ValueError("bounds must not contain NaN")
    if (lb > ub).any():
        i = int(np.flatnonzero(lb > ub)[0])
        raise ValueError(f"bounds: lower bound {lb[i]} exceeds upper bound {ub[i]} for "
                         f"variable {i}")
    return lb, ub


def _first(v):
    return float(np.asarray(_np(v), dtype=float).reshape(-1)[0])


def _np(a):
    from ..backends import to_numpy

    return a if isinstance(a, (int, float, np.ndarray, list, tuple)) else to_numpy(a)
