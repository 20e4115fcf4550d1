"""``check_oracles``: compare a bilevel problem's derivative oracles with finite differences."""
from __future__ import annotations

import math

import numpy as np

from ...backends import device as _device
from ...backends import to_numpy
from ._protocol import BilevelProblem, CountingProblem

__all__ = ["check_oracles"]


def _norm(v, xp):
    return float(xp.linalg.vector_norm(v))


def _rel(num, scale, floor):
    """``num / max(scale, floor)``; NaN when any input is not finite (a NaN is a failure)."""
    num, scale, floor = float(num), float(scale), float(floor)
    if not (math.isfinite(num) and math.isfinite(scale) and math.isfinite(floor)):
        return math.nan
    den = max(scale, floor)
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


def _dir_deriv(fun, t_scale, xp):
    """Five-point central derivative at t = 0 of the scalar or vector map ``fun(t)``."""
    h = t_scale
    f1, f_1 = fun(h), fun(-h)
    f2, f_2 = fun(2 * h), fun(-2 * h)
    return (8.0 * (f1 - f_1) - (f2 - f_2)) / (12.0 * h)


def check_oracles(problem, x=None, y=None, *, rng=0, n_dirs=2, rtol=1e-6, raise_on_error=False):
    r"""Compare every supplied derivative oracle of ``problem`` with finite differences.

    Each check uses random unit directions ``u`` and the five-point central
    difference (step :math:`\epsilon^{1/5} \max(1, \|\cdot\|)`, error about
    1e-12 relative in float64):

    - ``upper_grad`` / ``lower_grad`` against :math:`\frac{d}{dt} F(x + t u, y)`
      and :math:`\frac{d}{dt} F(x, y + t u)` (same for G);
    - ``lower_hvp_yy`` / ``lower_jvp_xy`` against :math:`\frac{d}{dt}
      \nabla_y G(x, y + t v)` and :math:`\frac{d}{dt} \nabla_x G(x, y + t v)`;
    - ``lower_cons_vjp`` against :math:`\frac{d}{dt} \lambda^\top g` along ``u``.

    The error of a directional derivative ``a`` (analytic) against ``b`` (finite
    difference) is :math:`|a - b| / \max(\|\text{grad}\| \|u\|, \tau)`: relative
    to the gradient norm, with the floor :math:`\tau = 10^{-4}(1 + |F|)` so that
    an exactly zero block (e.g. an upper objective independent of ``x``) is
    checked in absolute terms instead of dividing by zero.

    Parameters
    ----------
    problem : BilevelProblem
        The problem whose oracles are checked.
    x, y : array, optional
        Point of the check (default ``problem.x0()`` / ``problem.y0()`` or a
        random point).
    rng : int or numpy.random.Generator
        Seed of the random directions.
    n_dirs : int
        Directions per check.
    rtol : float
        Threshold for ``ok`` (1e-6 in float64 by default).
    raise_on_error : bool
        Raise ``AssertionError`` listing the failing oracles instead of returning.

    Returns
    -------
    dict
        ``errors``: {oracle name: largest error}, NaN when an oracle or a value is
        not finite, inf when an oracle returns an array of the wrong shape;
        ``ok``: all errors <= rtol; ``failed``: the other names; ``reasons``:
        {oracle name: why it failed} (wrong shape, non-finite output or value,
        disagreement with finite differences).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve import BilevelProblem, check_oracles
    >>> prob = BilevelProblem.from_callables(
    ...     lambda x, y: np.sum(np.sin(x) * y), lambda x, y: 0.5 * np.sum((y - x) ** 2), 3, 3,
    ...     upper_grad=lambda x, y: (np.cos(x) * y, np.sin(x)),
    ...     lower_grad=lambda x, y: (x - y, y - x), lower_hvp_yy=lambda x, y, v: v,
    ...     lower_jvp_xy=lambda x, y, v: -v)
    >>> check_oracles(prob, np.ones(3), np.zeros(3))["ok"]
    True
    """
    if not isinstance(problem, (BilevelProblem, CountingProblem)):
        raise TypeError(f"problem must be a BilevelProblem; got {type(problem).__name__}")
    xp = problem.xp
    gen = np.random.default_rng(rng)
    dt = problem.dtype
    if x is None:
        x = problem.x0() if problem.provides("x0") else xp.asarray(gen.standard_normal(problem.dim_x), dtype=dt)
    if y is None:
        y = problem.y0() if problem.provides("y0") else xp.asarray(gen.standard_normal(problem.dim_y), dtype=dt)
    if tuple(x.shape) != (problem.dim_x,) or tuple(y.shape) != (problem.dim_y,):
        raise ValueError(f"x and y must have shapes ({problem.dim_x},) and ({problem.dim_y},); "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    eps = float(np.finfo(to_numpy(xp.zeros(1, dtype=dt)).dtype).eps)
    rel = eps ** 0.2
    dev = _device(x)
    on = {} if dev is None else {"device": dev}

    def unit(d):
        u = gen.standard_normal(d)
        return xp.asarray(u / np.linalg.norm(u), dtype=dt, **on)

    def step(v):
        return rel * max(1.0, _norm(v, xp) / math.sqrt(v.shape[0]))

    errors, reasons = {}, {}

    def record(name, err):
        err = float(err)
        prev = errors.get(name, 0.0)
        if math.isnan(prev):
            return
        errors[name] = err if (math.isnan(err) or err > prev) else prev
        if math.isnan(err):
            reasons[name] = "non-finite output or value"

    def shaped(name, out, refs):
        """False (and the failure recorded) when ``out`` does not have the shapes of ``refs``."""
        outs = out if isinstance(out, tuple) else (out,)
        want = tuple(tuple(r.shape) for r in refs)
        got = tuple(tuple(getattr(o, "shape", ())) for o in outs)
        if got != want:
            errors[name] = math.inf
            reasons[name] = f"returned shape(s) {got}; expected {want}"
            return False
        return True

    for level in ("upper", "lower"):
        gname, vname = f"{level}_grad", f"{level}_value"
        if not (problem.provides(gname) and problem.provides(vname)):
            continue
        if gname in problem.approximate_oracles:
            continue
        val = getattr(problem, vname)
        out = getattr(problem, gname)(x, y)
        if not shaped(gname, tuple(out), (x, y)):
            continue
        gx, gy = out
        f0 = abs(float(val(x, y)))
        floor = 1e-4 * (1.0 + f0)
        for _ in range(n_dirs):
            for which, g, base in (("x", gx, x), ("y", gy, y)):
                u = unit(base.shape[0])
                h = step(base)
                if which == "x":
                    fd = _dir_deriv(lambda t: float(val(x + t * u, y)), h, xp)
                else:
                    fd = _dir_deriv(lambda t: float(val(x, y + t * u)), h, xp)
                an = float(xp.sum(g * u))
                record(gname, _rel(abs(an - fd), _norm(g, xp), floor))
    if problem.provides("lower_grad"):
        lg = problem.lower_grad
        for name, idx in (("lower_hvp_yy", 1), ("lower_jvp_xy", 0)):
            if not problem.provides(name) or name in problem.approximate_oracles:
                continue
            for _ in range(n_dirs):
                v = unit(problem.dim_y)
                an = getattr(problem, name)(x, y, v)
                if not shaped(name, an, (x if idx == 0 else y,)):
                    break
                h = step(y)
                fd = _dir_deriv(lambda t: lg(x, y + t * v)[idx], h, xp)
                floor = 1e-4 * (1.0 + _norm(lg(x, y)[idx], xp))
                record(name, _rel(_norm(an - fd, xp), _norm(an, xp), floor))
    if getattr(problem, "n_cons", 0) and problem.provides("lower_cons") and \
            problem.provides("lower_cons_vjp") and "lower_cons_vjp" not in problem.approximate_oracles:
        lam = xp.asarray(gen.standard_normal(problem.n_cons), dtype=dt, **on)
        out = problem.lower_cons_vjp(x, y, lam)
        ok_shape = shaped("lower_cons_vjp", tuple(out), (x, y))
        jx, jy = out if ok_shape else (x, y)
        c0 = abs(float(xp.sum(lam * problem.lower_cons(x, y))))
        floor = 1e-4 * (1.0 + c0)
        for _ in range(n_dirs if ok_shape else 0):
            for which, g, base in (("x", jx, x), ("y", jy, y)):
                u = unit(base.shape[0])
                h = step(base)
                if which == "x":
                    fd = _dir_deriv(lambda t: float(xp.sum(lam * problem.lower_cons(x + t * u, y))), h, xp)
                else:
                    fd = _dir_deriv(lambda t: float(xp.sum(lam * problem.lower_cons(x, y + t * u))), h, xp)
                an = float(xp.sum(g * u))
                record("lower_cons_vjp", _rel(abs(an - fd), _norm(g, xp), floor))
    failed = sorted(k for k, v in errors.items() if not v <= rtol)
    for k in failed:
        reasons.setdefault(k, f"error {errors[k]:.2e} against finite differences > rtol {rtol:g}")
    if failed and raise_on_error:
        raise AssertionError("oracles fail the finite-difference check: " +
                             ", ".join(f"{k} ({reasons[k]})" for k in failed))
    return {"errors": errors, "ok": not failed, "failed": failed,
            "reasons": {k: reasons[k] for k in failed}}
