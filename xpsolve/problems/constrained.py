r"""Equality-constrained test problems (AdaSketch-Newton collection).

Every instance is

.. math::

    \min_x f(x) \quad \text{s.t.} \quad c(x) = 0,

with exact gradients, constraint Jacobians and Hessians. ``data`` holds
``constraints`` (a list with one ``{"type": "eq", "fun", "jac", "hess"}`` dict, usable
by :func:`xpsolve.minimize` and by SciPy), ``hess`` (objective Hessian), ``hessp``,
``multipliers0`` (the paper's initial multipliers) and, for the QPs, ``linear=True``.
Metrics: ``kkt`` (KKT residual with least-squares multipliers, solver independent),
``kkt_reported`` (with the solver's ``multipliers`` when it returns them),
``rel_f_err`` :math:`|f - f^*| / \max(1, |f^*|)` and ``maxcv``.

Sources: Hock and Schittkowski (1981); Boggs and Tolle (1989), CUTEst versions;
CUTEst GENHS28, ORTHREGB, DTOC3; the PDE and logistic-regression problems of Hong,
Na, Mahoney and Kolar (ICML 2023). The optimal values ``f_opt`` were verified by
solving each instance to high accuracy (several published optima are corrected).
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import asarray_on, is_numpy_namespace, to_numpy
from ._base import Problem
from ._hsbt import PROBLEMS as _HSBT
from ._registry import register_problem

__all__ = ["HSBT_NAMES", "kkt_residual"]

HSBT_NAMES = tuple(k for k in _HSBT if k != "orthregb")


# ---------------------------------------------------------------------------- solve & metrics
def _solve(problem, method, *, options=None, callback=None):
    from ..solvers import minimize

    d = problem.data
    opts = dict(options or {})
    if method == "adasketch" and d.get("multipliers0") is not None and "multipliers0" not in opts:
        xp = problem.xp
        kw = {"device": problem.device} if problem.device is not None else {}
        opts["multipliers0"] = xp.full((d["m"],), float(d["multipliers0"]), dtype=problem.x0.dtype,
                                       **kw)
    kw = {}
    if d.get("hess") is not None:
        kw["hess"] = d["hess"]
    elif problem.hvp is not None:
        kw["hessp"] = problem.hvp
    return minimize(problem.fun, problem.x0, method=method, jac=problem.grad,
                    constraints=d["constraints"], callback=callback, options=opts, **kw)


def _host_jac(problem, x):
    J = problem.data["constraints"][0]["jac"](x)
    try:
        import scipy.sparse as sp

        if sp.issparse(J):
            return J.toarray()
    except ImportError:  # pragma: no cover
        pass
    return np.asarray(to_numpy(J), dtype=np.float64)


def kkt_residual(problem, x, multipliers=None):
    """KKT residual ``||(grad f + J^T lam, c)||_2`` at ``x``; least-squares ``lam`` when None."""
    xp = problem.xp
    g = np.asarray(to_numpy(problem.grad(x)), dtype=np.float64)
    c = np.asarray(to_numpy(problem.data["constraints"][0]["fun"](x)), dtype=np.float64)
    J = _host_jac(problem, x)
    if multipliers is None:
        lam = np.linalg.lstsq(J.T, -g, rcond=None)[0]
    else:
        lam = np.asarray(to_numpy(multipliers), dtype=np.float64)
    del xp
    return float(np.sqrt(np.sum((g + J.T @ lam) ** 2) + np.sum(c ** 2)))


def _metrics(problem, result):
    x = result.x
    xp = problem.xp
    if not hasattr(x, "shape") or not _same_ns(x, xp):
        x = asarray_on(np.asarray(to_numpy(x), dtype=np.float64), xp, problem.device)
    f = float(problem.fun(x))
    c = np.asarray(to_numpy(problem.data["constraints"][0]["fun"](x)), dtype=np.float64)
    out = {"fun": f, "maxcv": float(np.max(np.abs(c))) if c.size else 0.0,
           "kkt": kkt_residual(problem, x)}
    lam = result.get("multipliers", None)
    if lam is not None:
        out["kkt_reported"] = kkt_residual(problem, x, lam)
    if problem.f_opt is not None:
        out["rel_f_err"] = abs(f - problem.f_opt) / max(1.0, abs(problem.f_opt))
    return out


def _same_ns(x, xp):
    try:
        import array_api_compat

        return array_api_compat.array_namespace(x) is xp or type(x).__module__.split(".")[0] == \
            xp.__name__.split(".")[-1]
    except Exception:
        return False


def _make(spec, *, size, seed, params, xp, device, dtype, x0, f_opt, fun, grad, hess, hessp,
          con, lam0=None, x_opt=None, description="", reference=None, linear=False,
          extra_data=None):
    x0 = asarray_on(np.asarray(x0, dtype=np.float64), xp, device, dtype)
    # multipliers0: the fill value of the paper's initial multipliers (ones) or None (zeros);
    # deterministic problems keep no arrays in ``data`` (the seed does not change them)
    data = {"constraints": [con], "hess": hess, "hessp": hessp, "linear": linear,
            "multipliers0": lam0, "n": int(x0.shape[0]), "m": None}
    data.update(extra_data or {})
    if x_opt is not None:
        x_opt = asarray_on(np.asarray(x_opt, dtype=np.float64), xp, device, dtype)
    p = Problem(name=spec.name, family="minimize", size=size, seed=seed, params=params, xp=xp,
                device=device, data=data, solve_fn=_solve, metrics_fn=_metrics, x0=x0,
                f_opt=f_opt, x_opt=x_opt, fun=fun, grad=grad, hvp=hessp,
                reference=reference or {}, description=description or spec.summary,
                success_metric="kkt", success_tol=1e-6)
    data["m"] = int(to_numpy(con["fun"](x0)).shape[0])
    return p


# ---------------------------------------------------------------------------- HS / BT / ORTHREGB
def _build_hsbt(spec, host, *, size, seed, params, xp, device, dtype):
    d = _HSBT[host["key"]]

    def fun(x):
        return d["f"](x, xp)

    def grad(x):
        return d["grad"](x, xp)

    def hess(x):
        return d["hess"](x, xp)

    def hessp(x, p):
        return d["hess"](x, xp) @ p

    con = {"type": "eq", "fun": lambda x: d["c"](x, xp), "jac": lambda x: d["jac"](x, xp),
           "hess": lambda x, v: d["chess"](x, v, xp)}
    ref = {"kkt_only": d["kkt_only"], "note": d["note"], "f_expr": d["f_expr"],
           "c_expr": d["c_expr"]}
    return _make(spec, size=size, seed=seed, params=params, xp=xp, device=device, dtype=dtype,
                 x0=d["x0"], f_opt=d["f_opt"], fun=fun, grad=grad, hess=hess, hessp=hessp,
                 con=con, reference=ref,
                 description=f"{host['key'].upper()}: f = {d['f_expr']}; c = {d['c_expr']}")


def _register_hsbt(key):
    d = _HSBT[key]
    tags = ("hsbt", "adasketch-paper") if key != "orthregb" else ("adasketch-paper",)
    # contract-test instances: HS28 (a QP, one outer iteration, fast on every backend) and
    # HS6 (several outer iterations, so a callback stop can be compared with maxiter)
    tags += {"hs28": ("contract",), "hs6": ("contract-iterative",)}.get(key, ())

    def make(*, rng):
        return {"key": key}

    make.__doc__ = (f"{key.upper()} (n = {d['n']}, m = {d['m']}): f = {d['f_expr']}; "
                    f"c = {d['c_expr']}; f* = {d['f_opt']:.10g}. {d['note']}").strip()
    make.__name__ = key
    register_problem(f"constrained/{key}", family="minimize",
                     sizes={"tiny": {}, "small": {}, "medium": {}}, build=_build_hsbt,
                     tags=tags)(make)


for _k in _HSBT:
    _register_hsbt(_k)


# ---------------------------------------------------------------------------- QPs (sparse)
def _kkt_solve_qp(Q, q, A, rhs):
    """Solve the equality-constrained QP min 1/2 x'Qx + q'x s.t. Ax = rhs (sparse LU on the host)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n, m = Q.shape[0], A.shape[0]
    K = sp.bmat([[sp.csr_matrix(Q), sp.csr_matrix(A).T], [sp.csr_matrix(A), None]], format="csc")
    sol = spla.spsolve(K, np.concatenate([-q, rhs]))
    return sol[:n], sol[n:]


def _build_qp(spec, host, *, size, seed, params, xp, device, dtype):
    import scipy.sparse as sp

    Q, q, const, A, rhs = host["Q"], host["q"], host["const"], host["A"], host["rhs"]
    n = Q.shape[0]
    use_sparse = params.get("sparse")
    if use_sparse is None:
        use_sparse = is_numpy_namespace(xp) and n > 400
    if use_sparse and not is_numpy_namespace(xp):
        raise ValueError("sparse=True needs the NumPy namespace (SciPy sparse matrices)")
    if use_sparse:
        Qx, Ax = sp.csr_matrix(Q), sp.csr_matrix(A)
        qx = np.asarray(q, dtype=np.float64)
        rx = np.asarray(rhs, dtype=np.float64)
        Z = sp.csr_matrix((n, n))

        def mv(M, v):
            return M @ v
    else:
        Qx = asarray_on(np.asarray(Q.toarray() if sp.issparse(Q) else Q), xp, device, dtype)
        Ax = asarray_on(np.asarray(A.toarray() if sp.issparse(A) else A), xp, device, dtype)
        qx = asarray_on(np.asarray(q, dtype=np.float64), xp, device, dtype)
        rx = asarray_on(np.asarray(rhs, dtype=np.float64), xp, device, dtype)
        Z = None

        def mv(M, v):
            return M @ v

    def fun(x):
        return 0.5 * float(xp.sum(x * mv(Qx, x))) + float(xp.sum(qx * x)) + const

    def grad(x):
        return mv(Qx, x) + qx

    def hess(x):
        return Qx

    def hessp(x, p):
        return mv(Qx, p)

    def cfun(x):
        return mv(Ax, x) - rx

    def cjac(x):
        return Ax

    def chess(x, v):
        if Z is not None:
            return Z
        return xp.zeros((n, n), dtype=dtype, **({"device": device} if device is not None else {}))

    con = {"type": "eq", "fun": cfun, "jac": cjac, "hess": chess}
    xs, ls = _kkt_solve_qp(sp.csr_matrix(Q), np.asarray(q, dtype=float), sp.csr_matrix(A),
                           np.asarray(rhs, dtype=float))
    f_opt = float(0.5 * xs @ (Q @ xs) + q @ xs + const)
    ref = {"f_table": host.get("f_table"), "lam_opt": ls}
    return _make(spec, size=size, seed=seed, params=params, xp=xp, device=device, dtype=dtype,
                 x0=host["x0"], f_opt=f_opt, fun=fun, grad=grad, hess=hess, hessp=hessp, con=con,
                 lam0=host.get("lam0"), x_opt=xs, reference=ref, linear=True,
                 description=spec.make.__doc__ or "")


def pde_matrices(N):
    """Host data of PDE(N): Q, q, const, G = [L_h, I], wbar (column-major stacking)."""
    import scipy.sparse as sp

    h = 2.0 / (N + 1)
    T = sp.diags([np.ones(N - 1), -2.0 * np.ones(N), np.ones(N - 1)], [-1, 0, 1])
    I = sp.identity(N)
    L = (sp.kron(I, T) + sp.kron(T, I)) / h ** 2  # index i + N j (column-major)
    k = 0.1 / math.sqrt(15.0)
    i = np.arange(1, N + 1)
    W = np.sin(4 + k * (i[:, None] - (N + 1) / 2)) + np.cos(3 + k * (i[None, :] - (N + 1) / 2))
    wbar = W.reshape(-1, order="F")
    N2 = N * N
    Q = sp.diags(np.concatenate([np.ones(N2), 0.1 * np.ones(N2)])).tocsr()
    q = np.concatenate([-wbar, np.zeros(N2)])
    const = 0.5 * float(wbar @ wbar)
    G = sp.hstack([L, sp.identity(N2)]).tocsr()
    return Q, q, const, G, wbar


_PDE_TABLE = {3: 9.64444205181, 8: 74.0930223283, 16: 301.800365043, 32: 1177.82129923,
              64: 4067.77371213, 100: 7534.78055469}


@register_problem("constrained/pde", family="minimize",
                  sizes={"tiny": {"N": 3}, "small": {"N": 8}, "medium": {"N": 32},
                         "large": {"N": 64}},
                  defaults={"sparse": None}, build=_build_qp, tags=("adasketch-paper", "scalable"))
def pde(*, rng, N, sparse):
    r"""PDE(N): discretised Poisson control on an N x N grid, n = 2N^2, m = N^2 (convex QP).

    :math:`\min \tfrac12\|w - \bar w\|^2 + \tfrac{0.1}{2}\|z\|^2` s.t. :math:`L_h w + z = 0`,
    :math:`L_h` the 5-point Laplacian over :math:`h^2`, :math:`h = 2/(N+1)`; x0 = ones,
    multipliers0 = ones (paper). ``sparse`` (None: NumPy and n > 400) returns SciPy
    sparse Jacobian and Hessian. f* by a sparse KKT solve (reference table).
    """
    Q, q, const, G, _ = pde_matrices(N)
    n, m = Q.shape[0], G.shape[0]
    return {"Q": Q, "q": q, "const": const, "A": G, "rhs": np.zeros(m), "x0": np.ones(n),
            "lam0": 1.0, "f_table": _PDE_TABLE.get(N)}


_DTOC3_TABLE = {10: 224.590381885, 50: 233.278713071, 100: 234.287716503, 500: 235.084451873,
                1000: 235.183412085, 5000: 235.262481035}


@register_problem("constrained/dtoc3", family="minimize",
                  sizes={"tiny": {"N": 10}, "small": {"N": 50}, "medium": {"N": 500},
                         "large": {"N": 1000}},
                  defaults={"sparse": None}, build=_build_qp, tags=("scalable",))
def dtoc3(*, rng, N, sparse):
    r"""DTOC3(N): discrete-time optimal control (CUTEst), n = 3(N-1), m = 2(N-1), convex QP.

    x = (u_1..u_{N-1}, y_2, ..., y_N), y_t in R^2, y_1 = (15, 5) fixed, S = 1/N;
    :math:`f = \tfrac S2 \sum_t (2 y_{t+1,1}^2 + y_{t+1,2}^2 + 6 u_t^2)`; dynamics
    :math:`y_{t+1,1} = y_{t,1} + S y_{t,2}`, :math:`y_{t+1,2} = y_{t,2} - S y_{t,1} + S u_t`.
    x0 = 0.
    """
    import scipy.sparse as sp

    S = 1.0 / N
    T = N - 1
    n, m = 3 * T, 2 * T

    def u(t):  # t = 1..N-1
        return t - 1

    def y(t, k):  # t = 2..N, k = 1, 2
        return T + 2 * (t - 2) + (k - 1)

    qd = np.zeros(n)
    for t in range(1, N):
        qd[u(t)] = 6 * S
        qd[y(t + 1, 1)] = 2 * S
        qd[y(t + 1, 2)] = S
    Q = sp.diags(qd).tocsr()
    rows, cols, vals = [], [], []
    rhs = np.zeros(m)
    y1 = (15.0, 5.0)
    for t in range(1, N):
        r1, r2 = 2 * (t - 1), 2 * (t - 1) + 1
        rows += [r1]; cols += [y(t + 1, 1)]; vals += [1.0]
        rows += [r2]; cols += [y(t + 1, 2)]; vals += [1.0]
        rows += [r2]; cols += [u(t)]; vals += [-S]
        if t == 1:
            rhs[r1] = y1[0] + S * y1[1]
            rhs[r2] = y1[1] - S * y1[0]
        else:
            rows += [r1, r1]; cols += [y(t, 1), y(t, 2)]; vals += [-1.0, -S]
            rows += [r2, r2]; cols += [y(t, 2), y(t, 1)]; vals += [-1.0, S]
    A = sp.csr_matrix((vals, (rows, cols)), shape=(m, n))
    return {"Q": Q, "q": np.zeros(n), "const": 0.0, "A": A, "rhs": rhs, "x0": np.zeros(n),
            "f_table": _DTOC3_TABLE.get(N)}


@register_problem("constrained/genhs28", family="minimize",
                  sizes={"tiny": {"N": 10}, "small": {"N": 100}, "medium": {"N": 1000}},
                  defaults={"sparse": None}, build=_build_qp, tags=("adasketch-paper", "scalable"))
def genhs28(*, rng, N, sparse):
    r"""GENHS28(N) (CUTEst): :math:`\sum_{i<N} (x_i + x_{i+1})^2` s.t. :math:`x_i + 2x_{i+1} + 3x_{i+2} = 1`.

    n = N, m = N - 2, x0 = (-4, 1, ..., 1); f*(10) = 0.927173693781, f*(100) = 295/27.
    """
    import scipy.sparse as sp

    D = sp.diags([np.ones(N - 1), np.ones(N - 1)], [0, 1], shape=(N - 1, N))
    Q = (2.0 * D.T @ D).tocsr()
    A = sp.diags([np.ones(N - 2), 2 * np.ones(N - 2), 3 * np.ones(N - 2)], [0, 1, 2],
                 shape=(N - 2, N)).tocsr()
    x0 = np.ones(N)
    x0[0] = -4.0
    table = {10: 0.927173693781, 100: 295.0 / 27.0}
    return {"Q": Q, "q": np.zeros(N), "const": 0.0, "A": A, "rhs": np.ones(N - 2), "x0": x0,
            "f_table": table.get(N)}


# ---------------------------------------------------------------------------- logistic regression
def _build_logreg(spec, host, *, size, seed, params, xp, device, dtype):
    X = asarray_on(host["X"], xp, device, dtype)
    y = asarray_on(host["y"], xp, device, dtype)
    A = asarray_on(host["A"], xp, device, dtype)
    b = asarray_on(host["b"], xp, device, dtype)
    Nn, d = host["X"].shape
    kw = {"device": device} if device is not None else {}

    def margins(w):
        return y * (X @ w)

    def fun(w):
        t = margins(w)
        # log(1 + exp(-t)) = max(-t, 0) + log1p(exp(-|t|))
        return float(xp.mean(xp.maximum(-t, 0.0) + xp.log1p(xp.exp(-xp.abs(t)))))

    def _sig(t):  # numerically stable logistic 1 / (1 + exp(-t))
        e = xp.exp(-xp.abs(t))
        return xp.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    def grad(w):
        t = margins(w)
        return -(X.T @ (y * _sig(-t))) / Nn

    def hess(w):
        t = margins(w)
        s = _sig(t) * _sig(-t)
        return (X.T @ (X * s[:, None])) / Nn

    def hessp(w, p):
        t = margins(w)
        s = _sig(t) * _sig(-t)
        return (X.T @ (s * (X @ p))) / Nn

    def cfun(w):
        return xp.concat([A @ w - b, xp.reshape(xp.sum(w * w) - 1.0, (1,))])

    def cjac(w):
        return xp.concat([A, xp.reshape(2.0 * w, (1, -1))], axis=0)

    eye = xp.eye(d, dtype=dtype, **kw)

    def chess(w, v):
        return 2.0 * v[-1] * eye

    con = {"type": "eq", "fun": cfun, "jac": cjac, "hess": chess}
    ref = {"norm_pinv_b": float(np.linalg.norm(np.linalg.pinv(host["A"]) @ host["b"]))}
    return _make(spec, size=size, seed=seed, params=params, xp=xp, device=device, dtype=dtype,
                 x0=np.ones(d), f_opt=host.get("f_opt"), fun=fun, grad=grad, hess=hess,
                 hessp=hessp, con=con, lam0=1.0, reference=ref,
                 description=spec.make.__doc__ or "",
                 extra_data={"X": X, "y": y, "A": A, "b": b})


_LOGREG_TABLE = {(1000, 50, 0): 0.5592907279, (5000, 100, 1): 0.4789245739}


def _build_logreg_seeded(spec, host, *, size, seed, params, xp, device, dtype):
    host = dict(host)
    host["f_opt"] = _LOGREG_TABLE.get((params["N"], params["d"], seed))
    return _build_logreg(spec, host, size=size, seed=seed, params=params, xp=xp, device=device,
                         dtype=dtype)




@register_problem("constrained/logreg_eq", family="minimize",
                  sizes={"tiny": {"N": 1000, "d": 50}, "small": {"N": 1000, "d": 50},
                         "medium": {"N": 5000, "d": 100}},
                  build=_build_logreg_seeded, tags=("adasketch-paper", "scalable"))
def logreg_eq(*, rng, N, d):
    r"""LOGREG(N, d, seed): logistic loss s.t. :math:`Aw = b` (10 rows) and :math:`\|w\|^2 = 1`.

    :math:`f(w) = \frac1N \sum_i \log(1 + e^{-y_i a_i^\top w})`; synthetic data drawn from
    ``default_rng(seed)`` in the order X, w0, noise, A, b (spec); x0 = ones, multipliers0 =
    ones (paper). f* known for (1000, 50, 0) = 0.5592907279 and (5000, 100, 1) = 0.4789245739.
    """
    X = rng.standard_normal((N, d))
    w0 = rng.standard_normal(d)
    w0 /= np.linalg.norm(w0)
    y = np.where(X @ w0 + 0.5 * rng.standard_normal(N) >= 0, 1.0, -1.0)
    A = rng.standard_normal((10, d))
    b = rng.standard_normal(10)
    return {"X": X, "y": y, "A": A, "b": b, "shape": (N, d)}


def _sklearn_available():
    try:
        import sklearn.datasets  # noqa: F401
    except Exception:
        return False
    return True


@register_problem("constrained/breast_cancer_eq", family="minimize",
                  sizes={"tiny": {}, "small": {}, "medium": {}}, build=_build_logreg,
                  tags=("optional-sklearn", "deterministic"))
def breast_cancer_eq(*, rng):
    r"""Equality-constrained logistic regression on scikit-learn's breast cancer data (569 x 30).

    Features standardised, labels +1 (benign) / -1 (malignant); A, b from
    ``default_rng(0)`` (A first); :math:`\|A^+ b\| = 0.985` (nearly infeasible, stress
    test); f* = 0.6254429296. Needs scikit-learn (raises ImportError otherwise).
    """
    try:
        from sklearn.datasets import load_breast_cancer
    except Exception as exc:  # pragma: no cover - optional dependency
        raise ImportError("constrained/breast_cancer_eq needs scikit-learn "
                          "(pip install scikit-learn)") from exc
    data = load_breast_cancer()
    X = data.data.astype(np.float64)
    X = (X - X.mean(0)) / X.std(0)
    y = np.where(data.target == 1, 1.0, -1.0)
    r = np.random.default_rng(0)
    A = r.standard_normal((10, X.shape[1]))
    b = r.standard_normal(10)
    return {"X": X, "y": y, "A": A, "b": b, "f_opt": 0.6254429296}
