"""Input validation, zero-weight stripping and result assembly shared by the OT solvers."""
from __future__ import annotations

import math
import numbers

from ...backends import as_float_array, check_finite, device, get_namespace

__all__ = ["validate_ot_inputs", "strip_zero_weights", "restore_zero_weights", "ot_summary"]


def validate_ot_inputs(a, b, C, reg, *, mass_rtol=None):
    """Check and convert ``(a, b, C, reg)``; return ``(a, b, C, reg, xp)``.

    ``a``/``b`` may be ``None`` (uniform weights). Weights must be non-negative,
    finite, with a positive total, and ``sum(a)`` must equal ``sum(b)`` within
    relative ``mass_rtol`` (default ``sqrt(eps)`` of the dtype, 1.5e-8 in float64);
    ``b`` is then rescaled to carry exactly the mass of ``a``.
    """
    xp = get_namespace(C, a, b)
    dev = device(C, a, b)
    C = as_float_array(C, "C", xp, dev)
    if C.ndim != 2:
        raise ValueError(f"C must be a 2-D cost matrix; got shape {tuple(C.shape)}")
    n, m = C.shape
    if n == 0 or m == 0:
        raise ValueError(f"C must be non-empty; got shape {tuple(C.shape)}")
    dtype = C.dtype
    if a is None:
        a = xp.full((n,), 1.0 / n, dtype=dtype, device=dev)
    if b is None:
        b = xp.full((m,), 1.0 / m, dtype=dtype, device=dev)
    a = as_float_array(a, "a", xp, dev)
    b = as_float_array(b, "b", xp, dev)
    dtype = xp.result_type(a.dtype, b.dtype, C.dtype)
    a, b, C = (xp.astype(v, dtype) if v.dtype != dtype else v for v in (a, b, C))
    for name, w, k, axis in (("a", a, n, "rows"), ("b", b, m, "columns")):
        if w.ndim != 1:
            raise ValueError(f"{name} must be 1-D; got shape {tuple(w.shape)}")
        if w.shape[0] != k:
            raise ValueError(f"{name} has {w.shape[0]} entries but C has {k} {axis} "
                             f"(C.shape={tuple(C.shape)})")
        check_finite(w, name, xp)
        if not bool(xp.all(w >= 0)):
            raise ValueError(f"{name} must be non-negative; got min {float(xp.min(w)):g}")
    check_finite(C, "C", xp)
    if isinstance(reg, bool) or not isinstance(reg, numbers.Real):
        try:
            reg = float(reg)  # 0-d arrays
        except Exception:
            raise TypeError(f"reg must be a positive real number; got {type(reg).__name__}") from None
    reg = float(reg)
    if not (math.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be a positive finite number; got {reg!r}")
    sa, sb = float(xp.sum(a)), float(xp.sum(b))
    if sa <= 0 or sb <= 0:
        raise ValueError(f"a and b must have positive total mass; got sum(a)={sa:g}, sum(b)={sb:g}")
    if mass_rtol is None:
        mass_rtol = math.sqrt(xp.finfo(dtype).eps)
    if abs(sa - sb) > mass_rtol * max(sa, sb):
        raise ValueError(
            f"a and b must have equal total mass (balanced OT) within relative tolerance "
            f"{mass_rtol:.1e}; got sum(a)={sa!r}, sum(b)={sb!r}")
    if sa != sb:
        b = b * (sa / sb)
    return a, b, C, reg, xp


def strip_zero_weights(a, b, C, xp):
    """Remove rows/columns of zero weight; return the reduced problem and the index maps.

    Returns ``(a, b, C, keep)`` where ``keep`` is ``None`` when nothing was
    removed, else ``(keep_a, keep_b)`` boolean masks of the full problem.
    """
    keep_a, keep_b = a > 0, b > 0
    if bool(xp.all(keep_a)) and bool(xp.all(keep_b)):
        return a, b, C, None
    ia = xp.nonzero(keep_a)[0]
    ib = xp.nonzero(keep_b)[0]
    C = xp.take(xp.take(C, ia, axis=0), ib, axis=1)
    return xp.take(a, ia), xp.take(b, ib), C, (keep_a, keep_b)


def _positions(keep, xp):
    # index of each kept entry in the reduced arrays (0 for dropped ones, masked later)
    pos = xp.cumulative_sum(xp.astype(keep, xp.int64)) - 1
    return xp.where(keep, pos, xp.zeros_like(pos))


def restore_zero_weights(plan, f, g, keep, xp):
    """Re-insert zero rows/columns in ``plan`` and ``-inf`` potentials for stripped entries."""
    if keep is None:
        return plan, f, g
    keep_a, keep_b = keep
    pa, pb = _positions(keep_a, xp), _positions(keep_b, xp)
    full = xp.take(xp.take(plan, pa, axis=0), pb, axis=1)
    mask = keep_a[:, None] & keep_b[None, :]
    plan = xp.where(mask, full, xp.zeros_like(full))
    neg_inf = -xp.inf
    f = xp.where(keep_a, xp.take(f, pa), xp.full(keep_a.shape, neg_inf, dtype=f.dtype, device=device(f)))
    g = xp.where(keep_b, xp.take(g, pb), xp.full(keep_b.shape, neg_inf, dtype=g.dtype, device=device(g)))
    return plan, f, g


def ot_summary(plan, f, g, a, b, C, reg, xp):
    """Scalars reported with every OT result (Python floats).

    ``cost`` = <C, P>; ``fun`` = <C, P> + reg * sum P log P (POT's objective);
    ``dual_fun`` = <a, f> + <b, g> - reg * sum(P) + reg * sum(a);
    ``marginal_err`` = ||P 1 - a||_1 + ||P^T 1 - b||_1.
    """
    rows = xp.sum(plan, axis=1)
    cols = xp.sum(plan, axis=0)
    cost = xp.sum(plan * C)
    # log P = (f_i + g_j - C_ij) / reg on the support, so sum P log P = (<P1, f> + <P^T1, g> - cost) / reg.
    # Stripped (-inf) potentials only meet zero marginals.
    fr = xp.where(rows > 0, f, xp.zeros_like(f))
    gc = xp.where(cols > 0, g, xp.zeros_like(g))
    fun = xp.sum(rows * fr) + xp.sum(cols * gc)
    fa = xp.where(a > 0, f, xp.zeros_like(f))
    gb = xp.where(b > 0, g, xp.zeros_like(g))
    dual = xp.sum(a * fa) + xp.sum(b * gb) - reg * xp.sum(rows) + reg * xp.sum(a)
    err = xp.sum(xp.abs(rows - a)) + xp.sum(xp.abs(cols - b))
    return dict(cost=float(cost), fun=float(fun), dual_fun=float(dual), marginal_err=float(err))


# ---------------------------------------------------------------- shared solver set-up / finish
class OTSetup:
    """What every OT solver starts from: the (shifted) problem, the start potentials, the monitor.

    ``C`` is the cost the solver iterates on: the input cost minus ``shift``, a constant
    removed only when the subtraction is exact in floating point (Sterbenz: ``min(C)`` and
    ``max(C)`` of one sign and within a factor 2, i.e. the offset is at least the spread). A
    constant shift changes neither the plan nor the Sinkhorn/Newton iterates in exact
    arithmetic (the column potential absorbs it), but keeps the potentials, and so the plan
    ``exp((f + g - C) / reg)``, at the precision of the spread rather than of the offset:
    ``C + 1e10`` is solved as accurately as ``C``. Potentials are reported in the input
    gauge (``g + shift``).
    """

    __slots__ = ("a", "b", "C", "reg", "xp", "shift", "log_a", "log_b", "mass", "f0", "g0", "eps",
                 "unreachable")

    def __init__(self, a, b, C, reg, xp, shift, f0, g0):
        self.a, self.b, self.C, self.reg, self.xp, self.shift = a, b, C, reg, xp, shift
        self.log_a, self.log_b = xp.log(a), xp.log(b)
        self.mass = float(xp.sum(a))
        self.f0, self.g0 = f0, g0
        self.eps = float(xp.finfo(C.dtype).eps)
        self.unreachable = None  # a note when tol is below the dtype's resolution

    def public_potentials(self, f, g):
        """Potentials in the input gauge (the cost the user passed)."""
        return f, (g + self.shift if self.shift else g)

    def fun_from_marginals(self, rows, cols, f, g):
        """Primal objective ``<C, P> + reg sum P log P`` of ``P = P(f, g)`` from its marginals.

        ``log P_ij = (f_i + g_j - C_ij) / reg`` gives ``fun = <P1, f> + <P^T 1, g>``
        (shifted cost, shifted gauge); the shift adds ``shift * sum(P)``.
        """
        xp = self.xp
        return float(xp.sum(rows * f) + xp.sum(cols * g)) + self.shift * float(xp.sum(cols))

    def dual_from_marginals(self, cols, f, g):
        """Entropic dual ``<a, f> + <b, g> - reg sum P + reg sum a`` (input gauge)."""
        xp = self.xp
        return (float(xp.sum(self.a * f) + xp.sum(self.b * g)) + self.shift * float(xp.sum(self.b))
                - self.reg * float(xp.sum(cols)) + self.reg * self.mass)


def exact_shift(C, xp) -> float:
    """Constant ``k`` with ``C - k`` exact in floating point and smaller in magnitude, else 0.

    ``x - y`` is exact when ``y / 2 <= x <= 2 y`` (Sterbenz); with ``y = min(C)`` this
    holds for every entry when ``0 < min(C)`` and ``max(C) <= 2 min(C)``, or when
    ``max(C) < 0`` and ``max(C) <= min(C) / 2``.
    """
    lo, hi = float(xp.min(C)), float(xp.max(C))
    if (0.0 < lo and hi <= 2.0 * lo) or (hi < 0.0 and hi <= 0.5 * lo):
        return lo
    return 0.0


def _warm(warmstart, a, b, xp):
    if warmstart is None:
        return xp.zeros_like(a), xp.zeros_like(b)
    if len(warmstart) != 2:
        raise ValueError("Option 'warmstart' must be a pair (f, g) of potentials")
    f = xp.asarray(warmstart[0], dtype=a.dtype)
    g = xp.asarray(warmstart[1], dtype=b.dtype)
    if f.shape != a.shape or g.shape != b.shape:
        raise ValueError(f"Option 'warmstart' potentials must have shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)}; got {tuple(f.shape)} and {tuple(g.shape)}")
    if not (bool(xp.all(xp.isfinite(f))) and bool(xp.all(xp.isfinite(g)))):
        raise ValueError("Option 'warmstart' potentials must be finite")
    return f, g


def setup_ot(a, b, C, reg, xp, *, warmstart=None, tol=None, method="ot"):
    """Shift the cost, check that ``reg`` is resolvable, and regauge the warm start.

    Raises ``ValueError`` when ``reg`` is so small against the cost's spread that the
    exponent of the plan, ``(f_i + g_j - C_ij) / reg``, carries a rounding error above 1
    (``eps * max|C - shift| > reg``): no potentials of this dtype represent the plan, so
    no method can return one that meets any marginal tolerance. Warns
    (:func:`xpsolve._monitor.warn_unreachable_tol`) when ``tol`` is below ``eps * sum(a)``,
    the resolution of the marginal sums; the run is never a success (status 2 when the
    internal test passed on rounding noise, else status 1 at ``maxiter``, with a note in
    the message). It is not refused: a tiny ``tol`` is the usual way to ask for a fixed
    number of iterations.

    A warm start ``(f, g)`` is moved along the gauge direction ``(f - t, g + t)``, which
    leaves the plan unchanged, when its offset ``t = max(f)`` exceeds ``1e3 (max|C| +
    reg)``: ``(f + 1e14, g - 1e14)`` then starts where ``(f, g)`` does, up to the rounding
    already in the given arrays.
    """
    from ..._monitor import warn_unreachable_tol

    shift = exact_shift(C, xp)
    Cs = C - shift if shift else C
    eps = float(xp.finfo(C.dtype).eps)
    spread = float(xp.max(xp.abs(Cs)))
    if eps * spread > reg:
        what = f"max|C - {shift:g}|" if shift else "max|C|"
        raise ValueError(
            f"reg={reg:g} is below what {C.dtype} resolves for this cost: the plan "
            f"exp((f + g - C) / reg) has rounding errors of eps * {what} / reg = "
            f"{eps * spread / reg:.1e} in its exponent, so no {method!r} result can meet a "
            f"marginal tolerance. Use reg >= {eps * spread:.1e}, rescale C, or use float64.")
    # stacklevel: the caller of solve_ot (warn, setup_ot, solver, dispatch, solve_ot, caller)
    unreachable = warn_unreachable_tol(tol, eps, float(xp.sum(a)), stacklevel=6)
    f0, g0 = _warm(warmstart, a, b, xp)
    if shift and warmstart is not None:
        g0 = g0 - shift
    if warmstart is not None:
        t = float(xp.max(f0))
        if abs(t) > 1e3 * (spread + reg):
            f0, g0 = f0 - t, g0 + t
    su = OTSetup(a, b, Cs, reg, xp, shift, f0, g0)
    if unreachable:
        su.unreachable = (f"(tol={tol:g} is below the resolution {eps * su.mass:.1e} of "
                          f"{C.dtype} marginals: it cannot be met)")
    return su


def ot_monitor(method, setup, *, maxiter, tol, check_every, history, disp, callback,
               columns=(), record=None):
    """The :class:`xpsolve._monitor.Monitor` of an OT solver (metric ``marginal_err``)."""
    from ..._monitor import Monitor

    return Monitor(method, xp=setup.xp, maxiter=maxiter, tol=tol, metric="marginal_err",
                   check_every=check_every, history=history, disp=disp, callback=callback,
                   columns=columns, record=record)


def finish_ot(mon, setup, plan, f, g, *, nit, **extra):
    """Final result from the returned ``plan`` and the potentials ``(f, g)`` (shifted gauge).

    ``marginal_err`` is the returned plan's own (its comparison with ``tol`` in
    :meth:`Monitor.finish` decides ``success``); cost, objective and dual include the
    shift; potentials are reported in the input gauge.
    """
    xp = setup.xp
    s = ot_summary(plan, f, g, setup.a, setup.b, setup.C, setup.reg, xp)
    k = setup.shift
    if k:
        # the constant shift adds k * sum(P) to the cost and the objective, k * sum(b) to the dual
        total = float(xp.sum(plan))
        s["cost"] += k * total
        s["fun"] += k * total
        s["dual_fun"] += k * float(xp.sum(setup.b))
    f, g = setup.public_potentials(f, g)
    return mon.finish(x=plan, fun=s["fun"], nit=nit, metric=s["marginal_err"], plan=plan,
                      detail=setup.unreachable,
                      potentials=(f, g), log_u=f / setup.reg, log_v=g / setup.reg,
                      cost=s["cost"], dual_fun=s["dual_fun"], **extra)
