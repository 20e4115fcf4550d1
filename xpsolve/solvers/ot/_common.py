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
