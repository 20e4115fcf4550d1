r"""Robust low-rank matrix recovery problems (the experiments of Ma & Fattahi, arXiv:2202.08788).

Every instance measures a rank-:math:`r` PSD matrix :math:`X^* = Q\,\mathrm{diag}(\lambda)\,Q^\top`
(:math:`\|X^*\|_F = 1`, condition number :math:`\kappa`) through :math:`y = \mathcal A(X^*) + s`,
with a fraction ``p`` of gross outliers and optional Gaussian noise, and is solved through
:func:`xpsolve.recover_low_rank` with the model rank ``rank`` (:math:`r' \ge r`).
``data`` holds ``A`` (``(m, d, d)`` stack or ``(m, d)`` rank-one vectors), ``y`` and ``rank``;
``x_opt`` is :math:`X^*`. Verifiable metric: ``rel_err`` :math:`= \|UU^\top - X^*\|_F / \|X^*\|_F`
of the returned factor, recomputed on the host.
"""
from __future__ import annotations

import numpy as np

from ..backends import to_numpy
from ._base import Problem
from ._registry import move, register_problem

__all__ = ["robust_sensing"]


def robust_sensing(d, r, m, p=0.0, noise=0.0, outlier_scale=10.0, kappa=1.0, seed=0,
                   operator="gaussian", outliers="symmetric"):
    r"""Generate a robust matrix-sensing instance on the host (NumPy float64).

    Parameters
    ----------
    d, r, m : int
        Matrix size, true rank and number of measurements.
    p : float
        Outlier fraction in [0, 1): each measurement is corrupted independently with
        probability ``p``.
    noise : float
        Standard deviation :math:`\nu` of dense Gaussian noise added to every measurement.
    outlier_scale : float
        Outlier magnitude relative to :math:`\|X^*\|_F = 1`.
    kappa : float
        Condition number: eigenvalues ``geomspace(1, 1/kappa, r)``, scaled so that
        :math:`\|X^*\|_F = 1`.
    seed : int or numpy.random.Generator
        Seed of ``numpy.random.default_rng``.
    operator : {"gaussian", "rank1"}
        ``"gaussian"``: :math:`A_i` with i.i.d. N(0, 1) entries, ``A`` of shape ``(m, d, d)``;
        ``"rank1"``: :math:`A_i = a_i a_i^\top`, :math:`a_i \sim N(0, I_d)`, ``A`` of shape ``(m, d)``.
    outliers : {"symmetric", "constant"}
        ``"symmetric"``: :math:`s_i = \text{outlier\_scale}\cdot N(0, 1)`; ``"constant"``:
        :math:`s_i = +\text{outlier\_scale}` (non-symmetric outliers).

    Returns
    -------
    dict
        ``A``, ``y``, ``X_star``, ``U_star`` (:math:`Q\,\mathrm{diag}(\sqrt\lambda)`), ``mask``
        (corrupted measurements), ``s`` (the corruption, noise included) and ``f_star``
        (:math:`f(U^*) = \mathrm{mean}|s|`, the oracle value for Polyak steps).

    Examples
    --------
    >>> from xpsolve.problems.recovery import robust_sensing
    >>> inst = robust_sensing(d=10, r=2, m=200, p=0.3, seed=0)
    >>> inst["A"].shape, inst["y"].shape, round(float((inst["X_star"] ** 2).sum()), 12)
    ((200, 10, 10), (200,), 1.0)
    """
    for name, v in (("d", d), ("r", r), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if r > d:
        raise ValueError(f"r must be <= d; got r={r}, d={d}")
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1); got {p!r}")
    if not (noise >= 0 and outlier_scale >= 0 and kappa >= 1):
        raise ValueError("noise and outlier_scale must be >= 0 and kappa >= 1")
    if operator not in ("gaussian", "rank1"):
        raise ValueError(f"operator must be 'gaussian' or 'rank1'; got {operator!r}")
    if outliers not in ("symmetric", "constant"):
        raise ValueError(f"outliers must be 'symmetric' or 'constant'; got {outliers!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((d, r)))[0]
    lam = np.geomspace(1.0, 1.0 / kappa, r)
    lam /= np.linalg.norm(lam)
    U_star = Q * np.sqrt(lam)
    X_star = U_star @ U_star.T
    if operator == "gaussian":
        A = rng.standard_normal((m, d, d))
        clean = np.einsum("ijk,jk->i", A, X_star)
    else:
        A = rng.standard_normal((m, d))
        clean = ((A @ U_star) ** 2).sum(1)
    mask = rng.random(m) < p
    if outliers == "symmetric":
        out = outlier_scale * rng.standard_normal(m)
    else:
        out = np.full(m, float(outlier_scale))
    s = np.where(mask, out, 0.0) + noise * rng.standard_normal(m)
    return {"A": A, "y": clean + s, "X_star": X_star, "U_star": U_star, "mask": mask, "s": s,
            "f_star": float(np.abs(s).mean())}


def _solve(problem, method, *, options=None, callback=None):
    from ..solvers.recovery import recover_low_rank

    opts = dict(options or {})
    opts.setdefault("truth", problem.x_opt)
    if method in ("polyak-subgradient",) or (method == "subgm" and opts.get("step") == "polyak"):
        opts.setdefault("f_star", problem.reference["f_star"])
    d = problem.data
    return recover_low_rank(d["A"], d["y"], d["rank"], method=method, options=opts,
                            callback=callback)


def _metrics(problem, result):
    """Recovery error of the returned factor ``U`` (or matrix ``X``), recomputed on the host."""
    ref = problem.reference
    if "U" in result:
        U = np.asarray(to_numpy(result["U"]), dtype=np.float64)
        X = U @ U.T
    else:
        X = np.asarray(to_numpy(result["X"]), dtype=np.float64)
    Xs = ref["X_star"]
    out = {"rel_err": float(np.linalg.norm(X - Xs) / np.linalg.norm(Xs))}
    if "U_best" in result:
        Ub = np.asarray(to_numpy(result["U_best"]), dtype=np.float64)
        out["rel_err_best"] = float(np.linalg.norm(Ub @ Ub.T - Xs) / np.linalg.norm(Xs))
    return out


def _build(spec, host, *, size, seed, params, xp, device, dtype):
    data = move({"A": host["A"], "y": host["y"]}, xp, device, dtype)
    data["rank"] = int(params["rank"])
    x_opt = move({"X": host["X_star"]}, xp, device, dtype)["X"]
    reference = {"X_star": host["X_star"], "f_star": host["f_star"], "mask": host["mask"]}
    return Problem(name=spec.name, family=spec.family, size=size, seed=seed, params=params,
                   xp=xp, device=device, data=data, solve_fn=_solve, metrics_fn=_metrics,
                   x0=None, f_opt=None, x_opt=x_opt, reference=reference,
                   description=spec.make.__doc__ or "", success_metric="rel_err",
                   success_tol=1e-6)


def _make(rng, d, r, m, p, noise, outlier_scale, kappa, operator, outliers, rank):
    if not 1 <= rank <= d:
        raise ValueError(f"rank must be in [1, d]; got {rank}")
    return robust_sensing(d, r, m, p=p, noise=noise, outlier_scale=outlier_scale, kappa=kappa,
                          seed=rng, operator=operator, outliers=outliers)


_DEFAULTS = {"p": 0.3, "noise": 0.0, "outlier_scale": 10.0, "kappa": 1.0, "outliers": "symmetric"}


@register_problem("recovery/gaussian_sensing", family="recovery",
                  sizes={"tiny": {"d": 6, "r": 2, "m": 120, "rank": 2},
                         "small": {"d": 20, "r": 3, "m": 600, "rank": 3},
                         "medium": {"d": 20, "r": 3, "m": 1200, "rank": 3},
                         "large": {"d": 50, "r": 5, "m": 2500, "rank": 5}},
                  defaults={**_DEFAULTS, "operator": "gaussian"}, tags=("contract",),
                  build=_build)
def gaussian_sensing(*, rng, d, r, m, p, noise, outlier_scale, kappa, operator, outliers, rank):
    r"""Gaussian matrix sensing with outliers: :math:`A_i` i.i.d. N(0,1), fraction ``p`` corrupted.

    The paper's Gaussian sensing grid (d = 20, r = 3, m = k d r); ``rank`` is the model rank
    :math:`r'` (over-parameterized when ``rank > r``). Defaults: ``p = 0.3``, outliers
    :math:`10\,N(0,1)` (ten times :math:`\|X^*\|_F`), :math:`\kappa = 1`.
    Source: Ma & Fattahi, JMLR 24(96) 2023, arXiv:2202.08788.
    """
    return _make(rng, d, r, m, p, noise, outlier_scale, kappa, operator, outliers, rank)


@register_problem("recovery/quadratic_sensing", family="recovery",
                  sizes={"tiny": {"d": 8, "r": 2, "m": 160, "rank": 2},
                         "small": {"d": 100, "r": 5, "m": 5000, "rank": 5},
                         "medium": {"d": 100, "r": 5, "m": 5000, "rank": 20},
                         "large": {"d": 500, "r": 5, "m": 25000, "rank": 5}},
                  defaults={**_DEFAULTS, "p": 0.2, "operator": "rank1"}, build=_build)
def quadratic_sensing(*, rng, d, r, m, p, noise, outlier_scale, kappa, operator, outliers, rank):
    r"""Rank-one (quadratic) sensing :math:`y_i = \|U^{*\top} a_i\|^2 + s_i`, :math:`a_i \sim N(0, I_d)`.

    A scale study (factored methods only; m = 10 d r). The rank-one
    operator is not covered by the SubGM paper's analysis.
    """
    return _make(rng, d, r, m, p, noise, outlier_scale, kappa, operator, outliers, rank)
