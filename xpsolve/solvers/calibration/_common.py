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


def project_gains(v, rho, xp, *, n_bisect=60):
    r"""Euclidean projection onto :math:`G_\rho = \{g: 1^\top g = m, \|g - 1\|_\infty \le \rho\}`.

    ``rho=None``: projection onto the hyperplane only (``v - mean(v) + 1``). Otherwise
    :math:`g_i = \mathrm{clip}(v_i - \tau, 1-\rho, 1+\rho)` with :math:`\tau` found by
    bisection on the monotone map :math:`\tau \mapsto \sum_i \mathrm{clip}(v_i-\tau)` entirely in
    the namespace (0-d arrays, no host sync), then one exact Newton correction on the free
    coordinates, so the sum equals ``m`` to rounding.
    """
    m = v.shape[0]
    if rho is None:
        return v - xp.mean(v) + 1.0
    lo_b, hi_b = 1.0 - rho, 1.0 + rho
    lo = xp.min(v) - hi_b
    hi = xp.max(v) - lo_b
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        s = xp.sum(xp.clip(v - mid, lo_b, hi_b))
        big = s > m
        lo = xp.where(big, mid, lo)
        hi = xp.where(big, hi, mid)
    tau = 0.5 * (lo + hi)
    w = v - tau
    free = (w > lo_b) & (w < hi_b)
    nfree = xp.sum(xp.astype(free, v.dtype))
    excess = xp.sum(xp.clip(w, lo_b, hi_b)) - m
    tau = tau + xp.where(nfree > 0, excess / xp.where(nfree > 0, nfree, 1.0), 0.0)
    return xp.clip(v - tau, lo_b, hi_b)


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
    """Spec check 11: warn when a gain estimate is not positive (only possible with rho=None)."""
    if not bool(xp.all(g > 0)):
        warnings.warn("some estimated gains are <= 0 (set rho < 1 to keep them in "
                      "[1 - rho, 1 + rho])", RuntimeWarning, stacklevel=stacklevel)
