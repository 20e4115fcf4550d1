"""Shared pieces of the calibration solvers: objective, gradients, projection, error metric.

All functions are Array-API generic (no host synchronisation unless stated).
"""
from __future__ import annotations

import math
import warnings

__all__ = ["objective_and_grads", "project_gains", "recovery_error", "normalize_scale",
           "identifiability", "not_identifiable_detail", "check_truth", "check_basis"]


def residual(op, y, x, g, z=None):
    """``z = A x`` (batched) and the residual ``r = g * z - y`` (both ``(p, m)``)."""
    if z is None:
        z = op.forward(x)
    return z, g * z - y


def fun_value(r, xp):
    """``F = ||r||^2 / (2 m p)`` as a 0-d array."""
    p, m = r.shape
    return xp.sum(r * r) / (2.0 * m * p)


def objective_and_grads(op, y, x, g, xp, z=None):
    r"""``F(x, g)`` and its raw gradients (no projection).

    .. math::

        F = \frac{1}{2mp}\sum_l \|g \odot A_l x - y_l\|^2,\quad
        \nabla_x F = \frac{1}{mp}\sum_l A_l^\top (g\odot r_l),\quad
        \nabla_g F = \frac{1}{mp}\sum_l (A_l x)\odot r_l.

    Returns ``(F, grad_x, grad_g, z)``; ``z = A x`` is returned for reuse.
    """
    p, m = y.shape
    z, r = residual(op, y, x, g, z)
    F = fun_value(r, xp)
    gx = op.adjoint(g * r) / (m * p)
    gg = xp.sum(z * r, axis=0) / (m * p)
    return F, gx, gg, z


def project_gains(v, rho, xp):
    r"""Euclidean projection onto :math:`G_\rho = \{g: 1^\top g = m, \|g - 1\|_\infty \le \rho\}`.

    ``rho=None``: projection onto the hyperplane only (``v - mean(v) + 1``). Otherwise
    :math:`g_i = \mathrm{clip}(v_i - \tau, 1-\rho, 1+\rho)` where :math:`\tau` solves
    :math:`s(\tau) = \sum_i \mathrm{clip}(v_i-\tau) = m`. :math:`s` is piecewise linear and
    non-increasing with breakpoints :math:`v_i - (1\pm\rho)`; it is evaluated at all
    :math:`2m` breakpoints at once from the sorted ``v`` and its cumulative sums
    (``searchsorted``), and :math:`\tau` is interpolated on the segment where it crosses
    ``m``: exact, :math:`O(m \log m)`, a fixed number of namespace operations and no host
    synchronisation.
    """
    m = v.shape[0]
    if rho is None:
        return v - xp.mean(v) + 1.0
    lo, hi = 1.0 - rho, 1.0 + rho
    vs = xp.sort(v)
    cs = xp.cumulative_sum(vs, include_initial=True)                 # (m + 1,)
    T = xp.sort(xp.concat([vs - hi, vs - lo]))                       # breakpoints of s
    ia = xp.searchsorted(vs, T + lo, side="right")                   # clipped at lo
    ib = xp.searchsorted(vs, T + hi, side="left")                    # below hi
    free_sum = xp.take(cs, ib) - xp.take(cs, ia)
    ia_f, ib_f = xp.astype(ia, v.dtype), xp.astype(ib, v.dtype)
    S = lo * ia_f + hi * (m - ib_f) + free_sum - (ib_f - ia_f) * T   # s at the breakpoints
    k = xp.sum(xp.astype(S > m, xp.int64))                           # s(T_0) = m hi > m
    k = xp.reshape(xp.clip(k, 1, 2 * m - 1), (1,))
    t0, t1 = xp.take(T, k - 1), xp.take(T, k)
    s0, s1 = xp.take(S, k - 1), xp.take(S, k)
    den = s0 - s1
    tau = xp.where(den > 0, t0 + (s0 - m) * (t1 - t0) / xp.where(den > 0, den, 1.0), t1)
    return xp.clip(v - tau, lo, hi)


def normalize_scale(x, g, xp):
    """Remove the scale ambiguity: ``g / mean(g)``, ``x * mean(g)`` (so ``mean(gains) = 1``)."""
    a = xp.mean(g)
    return x * a, g / a


def recovery_error(x, g, x_true, d_true, xp):
    r"""Scale-aligned recovery errors ``(err, err_x, err_d)`` as 0-d arrays.

    Blind calibration recovers :math:`(x, d)` only up to :math:`(x/\alpha, \alpha d)`. With
    :math:`\alpha = \bar d / \bar g` (means of the true and estimated gains)

    .. math::

        \mathrm{err}_x = \frac{\|x/\alpha - x^\star\|}{\|x^\star\|},\quad
        \mathrm{err}_d = \frac{\|\alpha g - d^\star\|}{\|d^\star\|},\quad
        \mathrm{err} = \max(\mathrm{err}_x, \mathrm{err}_d).

    When ``x_true`` (``d_true``) is ``None`` its term is left out.
    """
    alpha = 1.0
    if d_true is not None:
        alpha = xp.mean(d_true) / xp.mean(g)
    errs = []
    ex = ed = None
    if x_true is not None:
        ex = xp.linalg.vector_norm(x / alpha - x_true) / xp.linalg.vector_norm(x_true)
        errs.append(ex)
    if d_true is not None:
        ed = xp.linalg.vector_norm(alpha * g - d_true) / xp.linalg.vector_norm(d_true)
        errs.append(ed)
    err = errs[0] if len(errs) == 1 else xp.maximum(errs[0], errs[1])
    return err, ex, ed


def identifiability(p, m, n_free, m_free):
    """``(ok, needed)``: the noiseless counting condition ``p*m >= n_free + m_free``."""
    needed = n_free + m_free
    return p * m >= needed, needed


def not_identifiable_detail(p, m, needed):
    return (f"(not identifiable: p*m = {p * m} measurements < {needed} unknowns after fixing "
            "the scale; the point found is one of many that fit the data)")


def check_truth(x_true, d_true, n, m, xp, dtype, dev):
    """Validate and convert the optional ground truth passed as options."""
    from ...backends import as_float_array, check_finite

    out = []
    for name, v, size in (("x_true", x_true, n), ("d_true", d_true, m)):
        if v is None:
            out.append(None)
            continue
        v = as_float_array(v, name, xp, dev, dtype=dtype)
        if tuple(v.shape) != (size,):
            raise ValueError(f"option {name} must have shape ({size},); got {tuple(v.shape)}")
        check_finite(v, name, xp)
        if not float(xp.linalg.vector_norm(v)) > 0:
            raise ValueError(f"option {name} must not be zero")
        out.append(v)
    return out


def check_basis(Q, name, rows, xp, dtype, dev, *, orth_tol=1e-8, ones_perp=False):
    """Validate a subspace basis: shape ``(rows, k)``, ``1 <= k <= rows``, orthonormal columns
    (``||Q^T Q - I||_max <= orth_tol``), and ``Q^T 1 = 0`` when ``ones_perp``."""
    from ...backends import as_float_array, check_finite

    Q = as_float_array(Q, name, xp, dev, dtype=dtype)
    if Q.ndim != 2 or Q.shape[0] != rows or not 1 <= Q.shape[1] <= rows:
        raise ValueError(f"option {name} must have shape ({rows}, k) with 1 <= k <= {rows}; "
                         f"got {tuple(Q.shape)}")
    check_finite(Q, name, xp)
    k = Q.shape[1]
    eye = xp.eye(k, dtype=dtype, device=dev) if dev is not None else xp.eye(k, dtype=dtype)
    dev_orth = float(xp.max(xp.abs(Q.T @ Q - eye)))
    if dev_orth > orth_tol:
        raise ValueError(f"option {name} must have orthonormal columns (|{name}^T {name} - I| = "
                         f"{dev_orth:.2e} > {orth_tol:g})")
    if ones_perp:
        leak = float(xp.max(xp.abs(xp.sum(Q, axis=0)))) / math.sqrt(rows)
        if leak > orth_tol:
            raise ValueError(f"option {name} must be orthogonal to the constant vector "
                             f"(|{name}^T 1|/sqrt(m) = {leak:.2e}); leave the DC atom out")
    return Q


def warn_nonpositive(g, xp, stacklevel=4):
    """Warn when a gain estimate is not positive (only possible with rho=None)."""
    if not bool(xp.all(g > 0)):
        warnings.warn("some estimated gains are <= 0 (set rho < 1 to keep them in "
                      "[1 - rho, 1 + rho])", RuntimeWarning, stacklevel=stacklevel)
