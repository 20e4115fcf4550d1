r"""Low-rank matrix completion problems.

Every instance observes entries :math:`M_{ij}`, :math:`(i, j) \in \Omega`, of an
``m x n`` matrix and is solved through :func:`xpsolve.complete_matrix`. ``data`` holds
``values``, ``rows``, ``cols`` (the observations, COO), ``shape`` and ``rank``.

- ``completion/random_low_rank``: :func:`matrix_completion`, a synthetic rank-k matrix
  with condition number ``kappa`` under Bernoulli(p) sampling; metric: relative
  Frobenius error of the completed matrix (computed from the factors, no m x n
  matrix is formed).
- ``completion/movielens100k``: the MovieLens-100k ratings (943 users x 1682 items,
  100,000 ratings in 1..5), read from the copy shipped inside the ``recbole`` wheel
  (``pip install --no-deps recbole``; never vendored: the MovieLens terms forbid
  redistribution); an 80/20 random split (the problem's seed); metric: test RMSE.
"""
from __future__ import annotations

import importlib.util
import math
import os

import numpy as np

from ..backends import to_numpy
from ..solvers import complete_matrix
from ._base import Problem
from ._registry import move, register_problem

__all__ = ["matrix_completion", "movielens100k_path", "load_movielens100k"]


def matrix_completion(m, n, k, p, kappa=1.0, noise=0.0, seed=0):
    r"""Random rank-``k`` matrix, Bernoulli(``p``) sample, optional Gaussian noise (host NumPy).

    :math:`U_*, V_*` are the Q factors of standard normal ``m x k`` and ``n x k``
    matrices (``numpy.random.default_rng(seed)``), the singular values are
    ``geomspace(1, 1/kappa, k) * sqrt(m n / k)`` (so entries have RMS about 1), each
    entry is observed with probability ``p``, and observed values get Gaussian noise
    of standard deviation ``noise * RMS(M)``.

    Returns
    -------
    dict
        ``values``, ``rows``, ``cols`` (COO, row-major order), ``shape``, ``rank``,
        ``L`` (= :math:`U_* S`) and ``R`` (= :math:`V_*`) with :math:`M = L R^\top`,
        ``p_hat`` (realised sampling rate).

    Examples
    --------
    >>> from xpsolve.problems.completion import matrix_completion
    >>> d = matrix_completion(30, 20, 2, 0.5, kappa=5.0, seed=0)
    >>> d["shape"], d["rank"], d["L"].shape, d["R"].shape
    ((30, 20), 2, (30, 2), (20, 2))
    """
    for name, v in (("m", m), ("n", n), ("k", k)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")
    if k > min(m, n):
        raise ValueError(f"k must be <= min(m, n) = {min(m, n)}; got {k}")
    if not 0 < p <= 1:
        raise ValueError(f"p must lie in (0, 1]; got {p!r}")
    if not kappa >= 1:
        raise ValueError(f"kappa must be >= 1; got {kappa!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0; got {noise!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, k)))
    V, _ = np.linalg.qr(rng.standard_normal((n, k)))
    s = np.geomspace(1.0, 1.0 / kappa, k) * math.sqrt(m * n / k)
    L = U * s
    # sample by rows so that no m x n array is formed for large instances
    rows, cols = [], []
    step = max(1, int(4e6 // n))
    for a in range(0, m, step):
        W = rng.random((min(step, m - a), n)) < p
        r, c = np.nonzero(W)
        rows.append(r + a)
        cols.append(c)
    rows = np.concatenate(rows).astype(np.int64)
    cols = np.concatenate(cols).astype(np.int64)
    vals = np.einsum("ij,ij->i", L[rows], V[cols])
    if noise > 0:
        rms = float(np.sqrt((s ** 2).sum() / (m * n)))
        vals = vals + noise * rms * rng.standard_normal(vals.shape[0])
    return {"values": vals, "rows": rows, "cols": cols, "shape": (m, n), "rank": k,
            "L": L, "R": V, "p_hat": rows.shape[0] / (m * n)}


def _solve(problem, method, *, options=None, callback=None):
    d = problem.data
    # the real-data protocol's ridge (tuned on a validation slice) unless the caller sets one
    options = {**d.get("default_options", {}), **(options or {})}
    return complete_matrix(d["values"], d["rows"], d["cols"], d["shape"], d["rank"],
                           method=method, options=options, callback=callback)


def _rel_error(U, V, L, R):
    """||U V^T - L R^T||_F / ||L R^T||_F from the factors (host float64)."""
    Q, Rv = np.linalg.qr(np.concatenate([V, R], axis=1))
    D = np.concatenate([U, -L], axis=1) @ Rv.T
    _, Rr = np.linalg.qr(R)
    return float(np.linalg.norm(D) / np.linalg.norm(L @ Rr.T))


def _metrics(problem, result):
    ref = problem.reference
    U = np.asarray(to_numpy(result["U"]), dtype=np.float64)
    V = np.asarray(to_numpy(result["V"]), dtype=np.float64)
    out = {"rmse": float(result.get("rmse", math.nan))}
    if "L" in ref:
        out["rel_error"] = _rel_error(U, V, ref["L"], ref["R"])
    if "test_rows" in ref:
        pred = np.einsum("ij,ij->i", U[ref["test_rows"]], V[ref["test_cols"]])
        out["test_rmse"] = float(np.sqrt(np.mean((pred - ref["test_values"]) ** 2)))
        out["test_rmse_clipped"] = float(np.sqrt(np.mean(
            (np.clip(pred, 1.0, 5.0) - ref["test_values"]) ** 2)))
    return out


def _build(spec, host, *, size, seed, params, xp, device, dtype):
    data = move({"values": host["values"]}, xp, device, dtype)
    data.update(rows=host["rows"], cols=host["cols"], shape=host["shape"], rank=host["rank"])
    if "ridge" in host:
        data["default_options"] = {"ridge": host["ridge"], "ridge_scaling": "count"}
    ref = {k: host[k] for k in ("L", "R", "test_rows", "test_cols", "test_values") if k in host}
    metric, tol = ("rel_error", 1e-6) if "L" in host else ("test_rmse", 1.0)
    return Problem(name=spec.name, family=spec.family, size=size, seed=seed, params=params,
                   xp=xp, device=device, data=data, solve_fn=_solve, metrics_fn=_metrics,
                   reference=ref, description=spec.make.__doc__ or "",
                   success_metric=metric, success_tol=tol)


@register_problem("completion/random_low_rank", family="completion",
                  sizes={"tiny": {"m": 40, "n": 30, "k": 2, "p": 0.5},
                         "small": {"m": 200, "n": 200, "k": 3, "p": 0.3},
                         "medium": {"m": 1000, "n": 1000, "k": 10, "p": 0.3},
                         "large": {"m": 10000, "n": 10000, "k": 50, "p": 0.02}},
                  defaults={"kappa": 5.0, "noise": 0.0}, tags=("contract",), build=_build)
def random_low_rank(*, rng, m, n, k, p, kappa, noise):
    r"""Random rank-k matrix with condition number ``kappa``, entries observed with probability ``p``.

    :func:`matrix_completion`: exact recovery is expected for
    :math:`|\Omega| \gtrsim \kappa^2 \mu^2 n k \log n` samples; metric: relative
    Frobenius error :math:`\|UV^\top - M\|_F / \|M\|_F` (JNS13 / Gu et al. 2024).
    """
    return matrix_completion(m, n, k, p, kappa, noise, seed=rng)


def movielens100k_path():
    """Path of ``ml-100k.inter`` inside the installed ``recbole`` package, or ``None``.

    The package is located without importing it (``importlib.util.find_spec``).
    """
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = os.path.join(base, "dataset_example", "ml-100k", "ml-100k.inter")
        if os.path.exists(path):
            return path
    return None


MISSING_ML100K = ("MovieLens-100k not found: it is read from the copy inside the recbole wheel; "
                  "install it with `pip install --no-deps recbole` (the data are not vendored: "
                  "the MovieLens terms forbid redistribution)")


def load_movielens100k():
    """MovieLens-100k as zero-based ``(users, items, ratings)`` host arrays (user/item ids sorted).

    Raises
    ------
    FileNotFoundError
        When ``recbole`` is not installed (message says how to install it).
    """
    path = movielens100k_path()
    if path is None:
        raise FileNotFoundError(MISSING_ML100K)
    raw = np.loadtxt(path, delimiter="\t", skiprows=1, usecols=(0, 1, 2))
    users = np.unique(raw[:, 0], return_inverse=True)[1].astype(np.int64)
    items = np.unique(raw[:, 1], return_inverse=True)[1].astype(np.int64)
    return users, items, raw[:, 2].astype(np.float64)


@register_problem("completion/movielens100k", family="completion",
                  sizes={"tiny": {"max_users": 60, "max_items": 120, "rank": 2},
                         "small": {"max_users": None, "max_items": None, "rank": 10},
                         "medium": {"max_users": None, "max_items": None, "rank": 10}},
                  defaults={"test_fraction": 0.2, "ridge": 0.15},
                  tags=("real-data", "optional-recbole"),
                  build=_build)
def movielens100k(*, rng, max_users, max_items, rank, test_fraction, ridge):
    r"""MovieLens-100k ratings, 80/20 random split (the seed), test RMSE (needs ``recbole``).

    943 users x 1682 items, 100,000 ratings in {1, ..., 5}; read
    from the ``recbole`` wheel. ``tiny`` keeps the first 60 users and 120 items.
    Solved with a count-scaled ridge (ALS-WR; ``ridge`` = 0.15 by default, chosen on a
    10% validation slice of the training set among {0.03, ..., 0.2} at k = 5, 10, 20)
    unless the options set one: the ratings are noisy and many users/items have fewer
    than ``rank`` ratings.
    """
    u, i, r = load_movielens100k()
    if max_users is not None:
        keep = (u < max_users) & (i < max_items)
        u, i, r = u[keep], i[keep], r[keep]
    m, n = int(u.max()) + 1, int(i.max()) + 1
    test = rng.random(u.shape[0]) < test_fraction
    tr = ~test
    return {"values": r[tr], "rows": u[tr], "cols": i[tr], "shape": (m, n),
            "rank": min(rank, m, n), "test_rows": u[test], "test_cols": i[test],
            "test_values": r[test], "ridge": float(ridge)}
