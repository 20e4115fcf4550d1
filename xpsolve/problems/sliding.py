r"""Strongly convex composite problems :math:`\min_x f(x) + h(x) + \chi(x)` (gradient sliding).

Every instance carries ``data["composite"]`` (a
:class:`~xpsolve.solvers.sliding.CompositeProblem` with :math:`h`, :math:`\chi`, :math:`L`, a
certified lower bound and, where known, :math:`\Psi^*`), ``fun`` / ``grad`` of the smooth
part, ``x0`` and ``f_opt`` = :math:`\Psi^*`:

- ``sliding/tv_ridge_regression``: :math:`\frac12\|Ax-b\|^2 + \lambda\|Dx\|_1 + \frac\mu2\|x\|^2`
  (:math:`\Psi^*` from Clarabel when installed, plus a dual certificate);
- ``sliding/tv_denoise_1d``: the same with :math:`A = I`, exact :math:`x^*` by a direct 1-D
  TV prox (Johnson's dynamic programming, :func:`tv1d_prox`);
- ``sliding/hinge_ridge``: least squares on a side set + mean hinge loss + ridge (Clarabel);
- ``sliding/portfolio_scenarios``: :math:`x^\top\Sigma x` + mean scenario shortfall +
  ridge + simplex (Clarabel; a paper-like model, inferred).

Metrics: ``rel_gap`` :math:`(\Psi(x) - \Psi^*)/(\Psi(x_0) - \Psi^*)` (the success metric),
``gap``, ``err`` :math:`\|x - x^*\|/\|x^*\|` where :math:`x^*` is known. Problems are
tagged ``"option:composite"``: they are solved through the ``composite`` option of the
sliding methods (the contract tests pair them with those methods only). Parameter ``target``
(default 1e-6) is the relative-gap target: ``success_tol`` and, through ``Problem.solve``'s
per-instance defaults, ``tol = target * Delta0``. ``Problem.solve``
adds per-instance defaults (``Delta0``, ``tol``, ``maxiter``, an inner-oracle
budget ``max_inner``); an option passed as ``None`` removes that default.

Sources: Wu, Xu, Zhang (arXiv:2602.04161) experiments (TV denoising, portfolio; exact
formulations inferred); Lan (arXiv:1406.0919).
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import asarray_on, to_numpy
from ._base import Problem
from ._registry import register_problem

__all__ = ["tv1d_prox", "clarabel_available"]

_TAGS = ("option:composite", "sliding")
_BUDGET = {"tiny": 3000, "small": 2 * 10 ** 6}


# ---------------------------------------------------------------------------- exact 1-D TV prox
def _tv1d_dp(y, lam):
    n = y.shape[0]
    if n == 1 or lam == 0.0:
        return y.copy()
    kx = np.empty(2 * n)
    ka = np.empty(2 * n)
    kb = np.empty(2 * n)
    tm = np.empty(n - 1)
    tp = np.empty(n - 1)
    lo_i, hi_i = n, n - 1            # live knots kx[lo_i..hi_i] (empty)
    A0, B0 = 1.0, -y[0]              # left tail line of f_k'(b) = A b + B
    A1, B1 = 1.0, -y[0]              # right tail line
    for k in range(n - 1):
        A, B = A0, B0
        lo = lo_i
        while lo <= hi_i and A * kx[lo] + B <= -lam:
            A += ka[lo]
            B += kb[lo]
            lo += 1
        tm[k] = (-lam - B) / A
        Alo, Blo = A, B
        A, B = A1, B1
        hi = hi_i
        while hi >= lo and A * kx[hi] + B >= lam:
            A -= ka[hi]
            B -= kb[hi]
            hi -= 1
        tp[k] = (lam - B) / A
        Ahi, Bhi = A, B
        lo_i, hi_i = lo - 1, hi + 1
        kx[lo_i], ka[lo_i], kb[lo_i] = tm[k], Alo, Blo + lam
        kx[hi_i], ka[hi_i], kb[hi_i] = tp[k], -Ahi, lam - Bhi
        A0, B0 = 1.0, -lam - y[k + 1]
        A1, B1 = 1.0, lam - y[k + 1]
    A, B = A0, B0
    lo = lo_i
    while lo <= hi_i and A * kx[lo] + B <= 0.0:
        A += ka[lo]
        B += kb[lo]
        lo += 1
    x = np.empty(n)
    x[n - 1] = -B / A
    for k in range(n - 2, -1, -1):
        x[k] = min(max(x[k + 1], tm[k]), tp[k])
    return x


_tv1d_jit = None


def tv1d_prox(v, lam):
    r"""Exact :math:`\arg\min_x \frac12\|x - v\|^2 + \lambda\sum_i|x_{i+1} - x_i|` (host NumPy).

    Dynamic programming over the derivative of the forward messages (N. Johnson, "A dynamic
    programming algorithm for the fused lasso and L0-segmentation", J. Comput. Graph. Stat.
    22 (2013)); O(n) amortised, compiled with Numba when available.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.problems.sliding import tv1d_prox
    >>> tv1d_prox(np.array([0.0, 3.0]), 1.0)
    array([1., 2.])
    """
    global _tv1d_jit
    v = np.ascontiguousarray(v, dtype=np.float64)
    if _tv1d_jit is None:
        try:
            from numba import njit

            _tv1d_jit = njit(cache=True, nogil=True)(_tv1d_dp)
        except Exception:  # pragma: no cover - numba missing
            _tv1d_jit = _tv1d_dp
    return _tv1d_jit(v, float(lam))


# ---------------------------------------------------------------------------- Clarabel references
def clarabel_available() -> bool:
    r"""Whether Clarabel (the reference QP/SOCP solver for the optimal values) is installed.

    Returns
    -------
    bool
        ``True`` when ``import clarabel`` succeeds; the problems then carry
        :math:`\Psi^*` computed by Clarabel at tight tolerances.

    Examples
    --------
    >>> from xpsolve.problems.sliding import clarabel_available
    >>> isinstance(clarabel_available(), bool)
    True
    """
    try:
        import clarabel  # noqa: F401
    except Exception:
        return False
    return True


def _clarabel_qp(P, q, A, b, cones):
    """min 1/2 z'Pz + q'z s.t. Az + s = b, s in cones (tolerances 1e-12); returns z."""
    import clarabel
    import scipy.sparse as sp

    s = clarabel.DefaultSettings()
    s.verbose = False
    s.tol_gap_abs = s.tol_gap_rel = s.tol_feas = 1e-12
    s.tol_ktratio = 1e-10
    s.max_iter = 500
    sol = clarabel.DefaultSolver(sp.csc_matrix(sp.triu(P)), np.asarray(q, float), sp.csc_matrix(A),
                                 np.asarray(b, float), cones, s).solve()
    return np.asarray(sol.x)


def _diff_matrix(n):
    import scipy.sparse as sp

    return sp.diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n))


def _tv_ridge_clarabel(AtA, Atb, lam, mu):
    """x* of 1/2 x'(A'A + mu I)x - (A'b)'x + lam ||Dx||_1 with t >= |Dx| (Clarabel)."""
    import clarabel
    import scipy.sparse as sp

    n = AtA.shape[0]
    D = _diff_matrix(n)
    P = sp.block_diag([sp.csc_matrix(AtA + mu * np.eye(n)), sp.csc_matrix((n - 1, n - 1))])
    q = np.concatenate([-Atb, lam * np.ones(n - 1)])
    I = sp.eye(n - 1)
    A = sp.vstack([sp.hstack([D, -I]), sp.hstack([-D, -I])])
    z = _clarabel_qp(P, q, A, np.zeros(2 * (n - 1)), [clarabel.NonnegativeConeT(2 * (n - 1))])
    return z[:n]


# ------------------------------------------------------------------ build / solve / metrics
def _solve(problem, method, *, options=None, callback=None):
    from ..solvers import minimize

    opts = {"composite": problem.data["composite"], **problem.data["defaults"]}
    opts.update(options or {})
    # an explicit None removes one of the instance's defaults (tol, max_inner, ...)
    opts = {k: v for k, v in opts.items() if v is not None}
    return minimize(problem.fun, problem.x0, method=method, jac=problem.grad, callback=callback,
                    options=opts)


def _metrics(problem, result):
    xh = to_numpy(result.x)
    ref = problem.reference
    psi = ref["psi"](xh)
    out = {"psi": psi}
    if problem.f_opt is not None:
        gap = psi - problem.f_opt
        out.update(gap=gap, rel_gap=gap / ref["Delta0"])
    for key in ("ngev", "nhev", "nkev"):  # oracle counts (tables of calls to a target)
        if result.get(key) is not None:
            out[key] = float(result[key])
    if ref.get("x_opt") is not None:
        xs = ref["x_opt"]
        out["err"] = float(np.linalg.norm(xh - xs) / max(np.linalg.norm(xs), 1e-300))
    return out


def _make_problem(spec, host, *, size, seed, params, xp, device, dtype, fun, grad, composite,
                  psi_host, x0):
    f_opt = host.get("f_opt")
    psi0 = psi_host(to_numpy(x0))
    Delta0 = psi0 - f_opt if f_opt is not None else None
    ref = {"psi": psi_host, "x_opt": host.get("x_opt"), "Delta0": Delta0}
    defaults = dict(host.get("defaults", {}))
    # an inner-oracle budget keeps the tiny (contract) instances fast on every backend
    defaults.setdefault("max_inner", _BUDGET.get(size, 10 ** 7))
    if Delta0 is not None:
        defaults.setdefault("Delta0", float(Delta0))
        defaults.setdefault("tol", params["target"] * float(Delta0))
    x_opt = None if host.get("x_opt") is None else asarray_on(host["x_opt"], xp, device, dtype)
    return Problem(name=spec.name, family=spec.family, size=size, seed=seed, params=params, xp=xp,
                   device=device, data={"composite": composite, "defaults": defaults,
                                        "L": host["L"]},
                   solve_fn=_solve, metrics_fn=_metrics, x0=x0, f_opt=f_opt, x_opt=x_opt,
                   fun=fun, grad=grad, reference=ref, description=spec.make.__doc__ or "",
                   success_metric="rel_gap", success_tol=params["target"])


def _tv_certificate(AtA, Atb, bb, lam, mu, xp):
    r"""Dual lower bound from a primal point (host set-up, Cholesky once): y = clip(cumsum(r))
    with r = A'(Ax-b) + mu x, then Dual(y) = min_x 1/2||Ax-b||^2 + mu/2||x||^2 + <D'y, x>."""
    import scipy.linalg as sla

    n = AtA.shape[0]
    cho = sla.cho_factor(AtA + mu * np.eye(n))

    def lower_bound(x):
        xh = to_numpy(x)
        r = AtA @ xh - Atb + mu * xh
        y = np.clip(np.cumsum(r)[:-1], -lam, lam)
        Dty = np.concatenate([[0.0], y]) - np.concatenate([y, [0.0]])
        xy = sla.cho_solve(cho, Atb - Dty)
        # 1/2||Ax-b||^2 = 1/2 x'A'Ax - b'Ax + 1/2||b||^2
        return float(0.5 * xy @ (AtA @ xy) - Atb @ xy + 0.5 * bb + 0.5 * mu * xy @ xy + Dty @ xy)

    return lower_bound


@register_problem("sliding/tv_ridge_regression", family="minimize",
                  sizes={"tiny": {"n": 40, "ns": 60}, "small": {"n": 200, "ns": 300},
                         "medium": {"n": 1000, "ns": 2000}},
                  defaults={"lam": 0.05, "mu": 1e-2, "target": 1e-6},
                  build=lambda *a, **k: _build_tv(*a, **k), tags=_TAGS + ("contract",))
def tv_ridge_regression(*, rng, n, ns, lam, mu, target):
    r"""TV-ridge regression :math:`\frac12\|Ax-b\|^2 + \lambda\|Dx\|_1 + \frac\mu2\|x\|^2`.

    :math:`A = G/\sqrt{n_s}` (:math:`G` standard Gaussian, :math:`n_s\times n`), :math:`x_{true}`
    piecewise constant (pieces of length 20, N(0,1) levels), :math:`b = Ax_{true} + 0.05\,N(0,1)`
    (draw order A, levels, noise), :math:`L = \|A\|_2^2`, :math:`x_0 = 0`. :math:`\Psi^*`
    from Clarabel at 1e-12 tolerances when installed; dual certificate always.
    """
    A = rng.standard_normal((ns, n)) / math.sqrt(ns)
    levels = rng.standard_normal(max(n // 20, 1))
    x_true = np.repeat(levels, 20)[:n] if n >= 20 else np.full(n, levels[0])
    b = A @ x_true + 0.05 * rng.standard_normal(ns)
    host = {"A": A, "b": b, "lam": lam, "mu": mu, "L": float(np.linalg.norm(A, 2) ** 2)}
    if clarabel_available():
        AtA, Atb = A.T @ A, A.T @ b
        xs = _tv_ridge_clarabel(AtA, Atb, lam, mu)
        host["x_opt"] = xs
        host["f_opt"] = _psi_tv(A, b, lam, mu)(xs)
    host["defaults"] = {"maxiter": 400}
    return host


def _psi_tv(A, b, lam, mu):
    def psi(x):
        r = (A @ x - b) if A is not None else x - b
        return float(0.5 * r @ r + lam * np.abs(np.diff(x)).sum() + 0.5 * mu * x @ x)

    return psi


def _build_tv(spec, host, *, size, seed, params, xp, device, dtype):
    from ..solvers.sliding import Chi, CompositeProblem, TotalVariation1D

    A, b, lam, mu = host.get("A"), host["b"], host["lam"], host["mu"]
    n = b.shape[0] if A is None else A.shape[1]
    bx = asarray_on(b, xp, device, dtype)
    if A is None:
        def fun(x):
            r = x - bx
            return 0.5 * xp.sum(r * r)

        def grad(x):
            return x - bx

        AtA, Atb = np.eye(n), b
    else:
        Ax = asarray_on(A, xp, device, dtype)

        def fun(x):
            r = Ax @ x - bx
            return 0.5 * xp.sum(r * r)

        def grad(x):
            return (Ax @ x - bx) @ Ax

        AtA, Atb = A.T @ A, A.T @ b
    cert = _tv_certificate(AtA, Atb, float(b @ b), lam, mu, xp) if n <= 4000 else None
    comp = CompositeProblem(chi=Chi(mu), h=TotalVariation1D(lam), L=host["L"],
                            lower_bound=cert, f_opt=host.get("f_opt"))
    x0 = xp.zeros((n,), dtype=dtype, **({"device": device} if device is not None else {}))
    return _make_problem(spec, host, size=size, seed=seed, params=params, xp=xp, device=device,
                         dtype=dtype, fun=fun, grad=grad, composite=comp,
                         psi_host=_psi_tv(A, b, lam, mu), x0=x0)


@register_problem("sliding/tv_denoise_1d", family="minimize",
                  sizes={"tiny": {"n": 100}, "small": {"n": 1000}, "medium": {"n": 10000},
                         "large": {"n": 1000000}},
                  defaults={"lam": 0.5, "mu": 0.1, "target": 1e-6},
                  build=lambda *a, **k: _build_tv(*a, **k), tags=_TAGS)
def tv_denoise_1d(*, rng, n, lam, mu, target):
    r"""1-D TV-ridge denoising :math:`\frac12\|x-b\|^2 + \lambda\|Dx\|_1 + \frac\mu2\|x\|^2`.

    Pieces of length 50 with N(0,1) levels, :math:`b` = levels + 0.1 N(0,1) (levels, then
    noise), :math:`L = 1`, :math:`x_0 = 0`. Exact optimum
    :math:`x^* = \mathrm{prox}_{\frac{\lambda}{1+\mu}TV}(b/(1+\mu))` by :func:`tv1d_prox`.
    """
    levels = rng.standard_normal(max(n // 50, 1))
    sig = np.repeat(levels, 50)[:n] if n >= 50 else np.full(n, levels[0])
    b = sig + 0.1 * rng.standard_normal(n)
    xs = tv1d_prox(b / (1 + mu), lam / (1 + mu))
    return {"A": None, "b": b, "lam": lam, "mu": mu, "L": 1.0, "x_opt": xs,
            "f_opt": _psi_tv(None, b, lam, mu)(xs), "defaults": {"maxiter": 400}}


@register_problem("sliding/hinge_ridge", family="minimize",
                  sizes={"tiny": {"N": 200, "n": 10}, "small": {"N": 2000, "n": 50},
                         "medium": {"N": 20000, "n": 100}},
                  defaults={"mu": 1e-2, "batch": None, "target": 1e-6},
                  build=lambda *a, **k: _build_hinge(*a, **k), tags=_TAGS)
def hinge_ridge(*, rng, N, n, mu, batch, target):
    r"""Hinge + ridge: :math:`\frac1{2n_f}\|A_fx - b_f\|^2 + \frac1N\sum_i\max(0, 1 - c_iw_i^\top x)
    + \frac\mu2\|x\|^2`.

    :math:`n_f = 2n` side regression rows; :math:`w_{true}\sim N(0, I/n)`, :math:`W` standard
    Gaussian, :math:`c = \mathrm{sign}(Ww_{true} + 0.3\,N(0,1))` (separable with label noise),
    :math:`A_f` Gaussian, :math:`b_f = A_fw_{true} + 0.1\,N(0,1)`. ``batch`` sets the minibatch
    of the stochastic oracle (SGS). :math:`\Psi^*` from Clarabel when installed.
    """
    wt = rng.standard_normal(n) / math.sqrt(n)
    W = rng.standard_normal((N, n))
    c = np.sign(W @ wt + 0.3 * rng.standard_normal(N))
    c[c == 0] = 1.0
    nf = 2 * n
    Af = rng.standard_normal((nf, n))
    bf = Af @ wt + 0.1 * rng.standard_normal(nf)
    host = {"W": W, "c": c, "Af": Af, "bf": bf, "mu": mu, "batch": batch,
            "L": float(np.linalg.norm(Af, 2) ** 2 / nf), "defaults": {"maxiter": 400}}
    if clarabel_available():
        import clarabel
        import scipy.sparse as sp

        Q = Af.T @ Af / nf + mu * np.eye(n)
        P = sp.block_diag([sp.csc_matrix(Q), sp.csc_matrix((N, N))])
        q = np.concatenate([-Af.T @ bf / nf, np.ones(N) / N])
        # s >= 0 and s >= 1 - c_i w_i'x  <=>  -s <= 0, -(c W) x - s <= -1
        A = sp.vstack([sp.hstack([sp.csc_matrix((N, n)), -sp.eye(N)]),
                       sp.hstack([sp.csc_matrix(-(c[:, None] * W)), -sp.eye(N)])])
        z = _clarabel_qp(P, q, A, np.concatenate([np.zeros(N), -np.ones(N)]),
                         [clarabel.NonnegativeConeT(2 * N)])
        host["x_opt"] = z[:n]
        host["f_opt"] = _psi_hinge(host)(z[:n])
    return host


def _psi_hinge(host):
    W, c, Af, bf, mu = host["W"], host["c"], host["Af"], host["bf"], host["mu"]

    def psi(x):
        r = Af @ x - bf
        return float(r @ r / (2 * Af.shape[0]) + np.maximum(0, 1 - c * (W @ x)).mean()
                     + 0.5 * mu * x @ x)

    return psi


def _build_hinge(spec, host, *, size, seed, params, xp, device, dtype):
    from ..solvers.sliding import Chi, CompositeProblem, Hinge

    W, c = (asarray_on(host[k], xp, device, dtype) for k in ("W", "c"))
    Af, bf = (asarray_on(host[k], xp, device, dtype) for k in ("Af", "bf"))
    nf, n = host["Af"].shape

    def fun(x):
        r = Af @ x - bf
        return xp.sum(r * r) / (2 * nf)

    def grad(x):
        return ((Af @ x - bf) @ Af) / nf

    h = Hinge(W, c, batch=host["batch"], norm_K=float(np.linalg.norm(host["W"], 2)) / W.shape[0])
    comp = CompositeProblem(chi=Chi(host["mu"]), h=h, L=host["L"], f_opt=host.get("f_opt"))
    x0 = xp.zeros((n,), dtype=dtype, **({"device": device} if device is not None else {}))
    return _make_problem(spec, host, size=size, seed=seed, params=params, xp=xp, device=device,
                         dtype=dtype, fun=fun, grad=grad, composite=comp,
                         psi_host=_psi_hinge(host), x0=x0)


@register_problem("sliding/portfolio_scenarios", family="minimize",
                  sizes={"tiny": {"n_assets": 10, "n_scen": 100},
                         "small": {"n_assets": 50, "n_scen": 1000},
                         "medium": {"n_assets": 100, "n_scen": 10000}},
                  defaults={"mu": 1e-2, "target": 1e-6},
                  build=lambda *a, **k: _build_portfolio(*a, **k), tags=_TAGS)
def portfolio_scenarios(*, rng, n_assets, n_scen, mu, target):
    r"""Scenario portfolio :math:`x^\top\Sigma x + \frac1S\sum_s(-r_s^\top x)_+ + \frac\mu2\|x\|^2
    + \iota_\Delta(x)` (paper-like model, inferred).

    Returns :math:`r_s = m + Fz_s + \epsilon_s` (3 factors, :math:`m\sim U(0, 0.01)`,
    :math:`F\sim 0.02\,N(0,1)`, :math:`\epsilon\sim 0.01\,N(0,1)`), :math:`\Sigma` their sample
    covariance, :math:`\Delta` the unit simplex, :math:`L = 2\|\Sigma\|_2`, :math:`x_0` uniform.
    :math:`\Psi^*` from Clarabel when installed.
    """
    n, S = n_assets, n_scen
    m = rng.uniform(0.0, 0.01, n)
    F = 0.02 * rng.standard_normal((n, 3))
    R = m + rng.standard_normal((S, 3)) @ F.T + 0.01 * rng.standard_normal((S, n))
    Sigma = np.cov(R, rowvar=False)
    host = {"R": R, "Sigma": Sigma, "mu": mu, "L": float(2 * np.linalg.norm(Sigma, 2)),
            "defaults": {"maxiter": 400}}
    if clarabel_available():
        import clarabel
        import scipy.sparse as sp

        P = sp.block_diag([sp.csc_matrix(2 * Sigma + mu * np.eye(n)), sp.csc_matrix((S, S))])
        q = np.concatenate([np.zeros(n), np.ones(S) / S])
        A = sp.vstack([sp.hstack([sp.csc_matrix(np.ones((1, n))), sp.csc_matrix((1, S))]),
                       sp.hstack([-sp.eye(n), sp.csc_matrix((n, S))]),
                       sp.hstack([sp.csc_matrix((S, n)), -sp.eye(S)]),
                       sp.hstack([sp.csc_matrix(-R), -sp.eye(S)])])
        rhs = np.concatenate([[1.0], np.zeros(n + 2 * S)])
        z = _clarabel_qp(P, q, A, rhs, [clarabel.ZeroConeT(1),
                                        clarabel.NonnegativeConeT(n + 2 * S)])
        host["x_opt"] = z[:n]
        host["f_opt"] = _psi_portfolio(host)(z[:n])
    return host


def _psi_portfolio(host):
    R, Sigma, mu = host["R"], host["Sigma"], host["mu"]

    def psi(x):
        return float(x @ Sigma @ x + np.maximum(0, -(R @ x)).mean() + 0.5 * mu * x @ x)

    return psi


def _build_portfolio(spec, host, *, size, seed, params, xp, device, dtype):
    from ..solvers.sliding import BoxBilinear, Chi, CompositeProblem

    R = host["R"]
    S, n = R.shape
    Sig = asarray_on(host["Sigma"], xp, device, dtype)
    K = asarray_on(-R / S, xp, device, dtype)

    def fun(x):
        return xp.sum(x * (Sig @ x))

    def grad(x):
        return 2.0 * (Sig @ x)

    h = BoxBilinear(K, lower=0.0, upper=1.0, norm_K=float(np.linalg.norm(R, 2)) / S)
    comp = CompositeProblem(chi=Chi(host["mu"], simplex=1.0), h=h, L=host["L"],
                            f_opt=host.get("f_opt"))
    x0 = xp.full((n,), 1.0 / n, dtype=dtype, **({"device": device} if device is not None else {}))
    return _make_problem(spec, host, size=size, seed=seed, params=params, xp=xp, device=device,
                         dtype=dtype, fun=fun, grad=grad, composite=comp,
                         psi_host=_psi_portfolio(host), x0=x0)
