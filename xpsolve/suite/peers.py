"""Adapters to peer libraries, used in plans as pseudo-solvers (``"pot:sinkhorn"``).

A peer is a callable with the signature that its family's front door accepts for
a custom ``method`` (for OT: ``method(a, b, C, reg, xp=, callback=, **options)``),
returning an xpsolve :class:`~xpsolve.OptimizeResult` with the family's keys, so
``problem.solve(peer.method)`` and ``problem.metrics`` work unchanged. The peer
library is imported only when the peer runs; a missing library makes the peer
unavailable and the plan skips it with the reason.

Adding a peer for another family: write the adapter with that family's custom-method
signature and call :func:`register_peer` with ``family=`` set accordingly.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import warnings

from .._options import Interval, validate_options
from .._result import make_result

__all__ = ["Peer", "register_peer", "list_peers", "get_peer"]


@dataclasses.dataclass(frozen=True)
class Peer:
    """A peer-library solver usable in plans.

    Parameters
    ----------
    name : str
        ``"<library>:<method>"``, e.g. ``"pot:sinkhorn-log"``.
    family : str
        Problem family (front door) it plugs into.
    module : str
        Top-level module to import (``"ot"``); its absence makes the peer unavailable.
    package : str
        Distribution name to install (``"pot"``), used in the skip reason.
    method : callable
        The adapter, called by the family front door as a custom method.
    namespaces : tuple of str
        Backends it accepts.
    summary : str
        One-line description.
    problems : tuple of str
        Globs of the problems it applies to (default: every problem of its family);
        plans skip the others with the reason.

    Examples
    --------
    >>> from xpsolve.suite import list_peers
    >>> "pot:sinkhorn-log" in [p.name for p in list_peers("ot")]
    True
    """

    name: str
    family: str
    module: str
    package: str
    method: object
    namespaces: tuple = ("numpy",)
    summary: str = ""
    problems: tuple = ("*",)

    def unavailable(self) -> str | None:
        """Why the peer cannot run here, or ``None``."""
        if importlib.util.find_spec(self.module) is None:
            return f"peer library {self.package!r} is not installed (pip install {self.package})"
        return None


_PEERS: dict = {}


def register_peer(peer: Peer) -> Peer:
    """Add ``peer`` to the suite's solvers (replacing one of the same family and name).

    Examples
    --------
    >>> from xpsolve.suite import Peer, list_peers, register_peer
    >>> def my_method(fun, x0, args=(), **kw):   # a SciPy-style custom method
    ...     raise NotImplementedError
    >>> _ = register_peer(Peer(name="demo:none", family="minimize", module="math",
    ...                        package="python", method=my_method))
    >>> "demo:none" in [p.name for p in list_peers("minimize")]
    True
    >>> from xpsolve.suite.peers import _PEERS
    >>> _ = _PEERS.pop(("minimize", "demo:none"), None)
    """
    _PEERS[(peer.family, peer.name)] = peer
    return peer


def list_peers(family: str | None = None) -> list:
    """Registered peers, optionally of one family.

    Examples
    --------
    >>> from xpsolve.suite import list_peers
    >>> all(p.family == "minimize" for p in list_peers("minimize"))
    True
    """
    return [p for (fam, _), p in sorted(_PEERS.items()) if family is None or fam == family]


def get_peer(family: str, name: str):
    """The peer ``name`` of ``family``, or ``None``."""
    return _PEERS.get((family, name))


# --- POT (Python Optimal Transport) ----------------------------------------------------------

_POT_OPTIONS = {
    "maxiter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
}


def _pot_sinkhorn(a, b, C, reg, *, xp, callback=None, pot_method, name, **options):
    """Run ``ot.sinkhorn(..., method=pot_method)`` on the host and wrap its output.

    Options: ``maxiter`` (POT ``numItermax``, default 1000) and ``tol`` (POT
    ``stopThr``, default 1e-9; POT tests the 2-norm of the column-marginal error
    every 10 sweeps, where xpsolve's Sinkhorn tests the L1 error of both marginals).
    ``callback`` is not supported by POT and is ignored (the curve holds only the
    final point). ``nit`` counts the sweeps POT performed.
    """
    import numpy as np
    import ot

    from ..backends import to_numpy
    from ..solvers.ot._common import ot_summary

    opts = validate_options(name, _POT_OPTIONS, options)
    maxiter, tol = opts.get("maxiter", 1000), opts.get("tol", 1e-9)
    A, B, M = (np.asarray(to_numpy(v), dtype=np.float64) for v in (a, b, C))
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        P, log = ot.sinkhorn(A, B, M, reg, method=pot_method, numItermax=maxiter,
                             stopThr=tol, log=True)
    numerical = any("numerical errors" in str(w.message) for w in caught)
    with np.errstate(all="ignore"):
        if "log_u" in log:
            f, g = reg * np.asarray(log["log_u"]), reg * np.asarray(log["log_v"])
        else:
            f, g = reg * np.log(log["u"]), reg * np.log(log["v"])
    errs = [float(e) for e in log.get("err", [])]
    err = errs[-1] if errs else math.inf
    nit = int(log.get("niter", 0)) + (0 if numerical else 1)
    if numerical or not np.all(np.isfinite(P)):
        status, detail = 3, "(POT reported numerical errors)"
    elif err < tol:
        status, detail = 0, None
    else:
        status, detail = 1, f"({maxiter} sweeps; POT marginal error {err:.3g})"
    s = ot_summary(P, f, g, A, B, M, reg, np) if np.all(np.isfinite(P)) else {
        "fun": math.nan, "cost": math.nan, "dual_fun": math.nan, "marginal_err": math.inf}
    return make_result(x=P, fun=s["fun"], nit=nit, status=status, detail=detail,
                       backend="numpy", plan=P, potentials=(f, g), cost=s["cost"],
                       dual_fun=s["dual_fun"], marginal_err=s["marginal_err"],
                       peer=f"POT {getattr(ot, '__version__', '?')}", pot_err=errs)


for _method, _pot in (("sinkhorn", "sinkhorn"), ("sinkhorn-log", "sinkhorn_log")):
    register_peer(Peer(
        name=f"pot:{_method}", family="ot", module="ot", package="pot",
        method=functools.partial(_pot_sinkhorn, pot_method=_pot, name=f"pot:{_method}"),
        summary=f"POT ot.sinkhorn(method={_pot!r}) (host NumPy; callback not supported)",
    ))


# --- SciPy (scipy.optimize.minimize, equality-constrained problems) -------------------------

_SCIPY_OPTIONS = {
    "maxiter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
}


def _host_constraints(constraints, np, to_numpy):
    """The problem's equality constraints as SciPy dicts on host NumPy (dense Jacobians)."""
    import scipy.sparse as sp

    out = []
    for con in (constraints if isinstance(constraints, (list, tuple)) else [constraints]):
        if not isinstance(con, dict) or con.get("type") != "eq" or "jac" not in con:
            raise TypeError("the SciPy peers take {'type': 'eq', 'fun', 'jac'} constraint dicts")

        def cfun(x, _c=con):
            return np.asarray(to_numpy(_c["fun"](x)), dtype=np.float64)

        def cjac(x, _c=con):
            J = _c["jac"](x)
            J = J.toarray() if sp.issparse(J) else to_numpy(J)
            return np.atleast_2d(np.asarray(J, dtype=np.float64))

        chess = None
        if con.get("hess") is not None:
            def chess(x, v, _c=con):
                Hc = _c["hess"](x, v)
                return Hc.toarray() if sp.issparse(Hc) else np.asarray(to_numpy(Hc), np.float64)
        out.append((cfun, cjac, chess))
    return out


class _LazyResult(dict):
    """An intermediate result whose entries in ``lazy`` are computed when first read."""

    def __init__(self, lazy, **values):
        super().__init__(values, **{k: None for k in lazy})
        self._lazy = dict(lazy)

    def __getitem__(self, key):
        if key in self._lazy:
            self[key] = self._lazy.pop(key)()
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def _scipy_minimize(fun, x0, *, args=(), jac=None, hess=None, hessp=None, constraints=(),
                    callback=None, scipy_method, name, **options):
    """Run ``scipy.optimize.minimize(method=scipy_method)`` on host NumPy and wrap the result.

    Options: ``maxiter`` (SciPy's; SLSQP default 100, trust-constr 1000) and ``tol``
    (SLSQP ``ftol``, default 1e-12; trust-constr ``gtol``, default 1e-8, with
    ``xtol`` 1e-12). Exact derivatives of the problem are passed through (trust-constr
    also gets the objective Hessian and the constraint Hessians when the problem
    has them). ``callback`` receives ``nit``, ``x``, ``fun``, the KKT residual and the
    evaluation counts so far (``nfev``, ``njev``, ``nhev``, ``ncev``, ``ncjev``: the calls
    SciPy made, which the final result reports too) after every SciPy iteration;
    :class:`StopIteration` stops the run (status 99).
    """
    import numpy as np
    import scipy
    import scipy.sparse as sp
    from scipy.optimize import NonlinearConstraint, minimize as sp_minimize

    from ..backends import asarray_on, get_namespace, to_numpy

    opts = validate_options(name, _SCIPY_OPTIONS, options)
    xp = get_namespace(x0)
    x0h = np.asarray(to_numpy(x0), dtype=np.float64)

    def f(x):
        return float(fun(x, *args))

    def g(x):
        return np.asarray(to_numpy(jac(x, *args)), dtype=np.float64)

    cons = _host_constraints(constraints, np, to_numpy)
    state = {"nit": 0, "x": x0h}
    # evaluations SciPy asks for (the KKT bookkeeping of the callback is not counted)
    counts = dict(nfev=0, njev=0, nhev=0, ncev=0, ncjev=0)

    def counted(fn, key):
        if fn is None:
            return None

        def wrapped(*a):
            counts[key] += 1
            return fn(*a)
        return wrapped

    def cb(*a):
        xk = a[0].x if hasattr(a[0], "x") else a[0]
        state["nit"] += 1
        state["x"] = np.array(xk, dtype=np.float64)
        if callback is not None:
            xh = state["x"]

            def kkt():
                # least-squares multipliers, as the constrained problems' metrics
                gk = g(xh)
                J = np.vstack([cj(xh) for _, cj, _ in cons])
                ck = np.concatenate([cf(xh) for cf, _, _ in cons])
                lam = np.linalg.lstsq(J.T, -gk, rcond=None)[0]
                return float(np.sqrt(np.sum((gk + J.T @ lam) ** 2) + np.sum(ck ** 2)))

            # fun and kkt are evaluated only when read, i.e. inside the suite's recorder,
            # whose clock is paused then: they do not count as SciPy's time
            callback(_LazyResult({"fun": lambda: f(xh), "kkt": kkt},
                                 x=asarray_on(xh, xp, None), nit=state["nit"], **counts))

    kw = {}
    if scipy_method == "SLSQP":
        kw["constraints"] = [{"type": "eq", "fun": counted(cf, "ncev"),
                              "jac": counted(cj, "ncjev")} for cf, cj, _ in cons]
        kw["options"] = {"ftol": opts.get("tol", 1e-12), "maxiter": opts.get("maxiter", 100)}
    else:
        from scipy.optimize import BFGS

        kw["constraints"] = [NonlinearConstraint(counted(cf, "ncev"), 0.0, 0.0,
                                                 jac=counted(cj, "ncjev"),
                                                 hess=counted(ch, "nhev") if ch is not None
                                                 else BFGS())
                             for cf, cj, ch in cons]
        kw["options"] = {"gtol": opts.get("tol", 1e-8), "xtol": 1e-12,
                         "maxiter": opts.get("maxiter", 1000)}
        if hess is not None:
            kw["hess"] = counted(lambda x: (lambda H: H.toarray() if sp.issparse(H)
                                            else np.asarray(to_numpy(H), np.float64))(
                                                hess(x, *args)), "nhev")
        elif hessp is not None:
            kw["hessp"] = counted(
                lambda x, p: np.asarray(to_numpy(hessp(x, p, *args)), np.float64), "nhev")
        else:
            kw["hess"] = BFGS()
    stopped = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sp_minimize(counted(f, "nfev"), x0h, jac=counted(g, "njev"),
                              method=scipy_method, callback=cb, **kw)
        x, nit = res.x, int(res.nit)
        message = str(res.message)
        stopped = res.get("status") == 99 or "StopIteration" in message
        maxed = nit >= kw["options"]["maxiter"]
        status = 99 if stopped else (0 if res.success else (1 if maxed else 2))
    except StopIteration:
        x, nit, message, status = state["x"], state["nit"], "stopped", 99
    return make_result(x=asarray_on(np.asarray(x, dtype=np.float64), xp, None), fun=f(x),
                       nit=nit, status=status, detail=f"(SciPy: {message})",
                       backend="numpy", **counts,
                       peer=f"SciPy {scipy.__version__} {scipy_method}")


for _method, _sp in (("slsqp", "SLSQP"), ("trust-constr", "trust-constr")):
    register_peer(Peer(
        name=f"scipy:{_method}", family="minimize", module="scipy", package="scipy",
        problems=("constrained/*",),
        method=functools.partial(_scipy_minimize, scipy_method=_sp, name=f"scipy:{_method}"),
        summary=f"scipy.optimize.minimize(method={_sp!r}) on equality-constrained problems "
                "(host NumPy, exact derivatives)",
    ))


# --- bilevel references: KKT reformulation (SciPy trust-constr), tuned LinearSVC ---------------

_KKT_OPTIONS = {
    "maxiter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
}


def _kkt_trust_constr(problem, x0, y0, *, callback=None, name="scipy:kkt-trust-constr", **options):
    """The single-level KKT reformulation of a bilevel problem with a linear feasible set,
    solved by SciPy ``trust-constr`` (options ``maxiter``, default 1000, and ``tol`` = ``gtol``,
    default 1e-10). A reference for small problems: it needs the lower level's stationarity
    to be a smooth equation (a stable active set)."""
    from ..solvers.bilevel._reference import kkt_trust_constr

    opts = validate_options(name, _KKT_OPTIONS, options)

    def cb(intermediate_result):
        if callback is not None:
            n, m = problem.dim_x, problem.dim_y
            v = intermediate_result.x
            callback(type(intermediate_result)(x=v[:n], y=v[n:n + m],
                                               fun=intermediate_result.fun,
                                               nit=intermediate_result.nit))

    return kkt_trust_constr(problem, x0, y0, maxiter=opts.get("maxiter", 1000),
                            gtol=opts.get("tol", 1e-10), callback=cb)


def _linearsvc(problem, x0, y0, *, callback=None, name="sklearn:linearsvc", **options):
    """scikit-learn ``LinearSVC`` on the SVM problem's training split, C tuned on the
    validation split over 10^{-3..3} (the usual practice the bilevel method competes with).
    Returns ``x = x0`` (uniform sample weights) and ``y = (w, b, xi)`` with the hinge slacks
    ``xi = max(0, 1 - t (w^T a + b))``, so the problem's metrics (test accuracy) apply."""
    import numpy as np

    from ..backends import asarray_on, to_numpy

    validate_options(name, {"maxiter": [Interval(int, 1, None)]}, options)
    if not hasattr(problem, "reference_peer"):
        raise ValueError(f"{name} applies to the SVM problem (bilevel/p8_svm_weights) only")
    ref = problem.reference_peer
    h = problem._host
    from sklearn.svm import LinearSVC

    clf = LinearSVC(C=ref["C"], loss="squared_hinge", dual="auto", max_iter=20000, tol=1e-6)
    clf.fit(h["Xtr"], h["ttr"])
    w, b = clf.coef_.ravel(), float(clf.intercept_[0])
    xi = np.maximum(0.0, 1.0 - h["ttr"] * (h["Xtr"] @ w + b))
    xp = problem.xp
    y = asarray_on(np.r_[w, b, xi], xp, None, dtype=problem.dtype)
    fun = float(to_numpy(problem.upper_value(x0, y)))
    return make_result(x=x0, fun=fun, nit=int(np.max(clf.n_iter_)), status=0, backend="numpy",
                       detail=f"(LinearSVC, C = {ref['C']:.3g} tuned on validation)", y=y,
                       peer="scikit-learn LinearSVC")


register_peer(Peer(
    name="scipy:kkt-trust-constr", family="bilevel", module="scipy", package="scipy",
    method=_kkt_trust_constr, problems=("bilevel/p2_lvhba_toy", "bilevel/p3_lvhba_eqtoy"),
    summary="KKT reformulation solved by SciPy trust-constr (small problems with a linear "
            "feasible set)",
))
register_peer(Peer(
    name="sklearn:linearsvc", family="bilevel", module="sklearn", package="scikit-learn",
    method=_linearsvc, problems=("bilevel/p8_svm_weights",),
    summary="scikit-learn LinearSVC, C tuned on the validation split (SVM problem only)",
))


# --- RegOT (C++ entropic OT solvers: SSNS, dense Newton) -------------------------------------

def _regot(a, b, C, reg, *, xp, callback=None, regot_method, name, **options):
    """Run ``regot.<regot_method>(C, a, b, reg)`` on the host and wrap its output.

    Options: ``maxiter`` (RegOT ``max_iter``, default 1000) and ``tol`` (RegOT ``tol``,
    default 1e-9; RegOT tests its own marginal-error norm). RegOT returns the dual
    variables with the last column potential fixed at 0 (``P = exp((f_i + g_j - C_ij)/reg)``).
    ``callback`` is not supported by RegOT (the curve holds only the final point);
    RegOT's own per-iteration errors and times are kept in ``regot_errs`` /
    ``regot_times`` (ms). Single-threaded C++ (Eigen).
    """
    import numpy as np
    import regot

    from ..backends import to_numpy
    from ..solvers.ot._common import ot_summary

    opts = validate_options(name, _POT_OPTIONS, options)
    maxiter, tol = opts.get("maxiter", 1000), opts.get("tol", 1e-9)
    A, B = (np.asarray(to_numpy(v), dtype=np.float64) for v in (a, b))
    M = np.asfortranarray(np.asarray(to_numpy(C), dtype=np.float64))
    r = getattr(regot, regot_method)(M, A, B, float(reg), tol=tol, max_iter=maxiter)
    P = np.asarray(r.plan)
    dual = np.asarray(r.dual)
    n = M.shape[0]
    f, g = dual[:n], np.concatenate([dual[n:], [0.0]])
    errs = [float(e) for e in r.mar_errs]
    finite = bool(np.all(np.isfinite(P)))
    s = ot_summary(P, f, g, A, B, M, reg, np) if finite else {
        "fun": math.nan, "cost": math.nan, "dual_fun": math.nan, "marginal_err": math.inf}
    if not finite:
        status, detail = 3, "(non-finite plan)"
    elif errs and errs[-1] <= tol:
        status, detail = 0, None
    else:
        status, detail = 1, f"({maxiter} iterations; RegOT marginal error {errs[-1] if errs else math.nan:.3g})"
    return make_result(x=P, fun=s["fun"], nit=int(r.niter), status=status, detail=detail,
                       backend="numpy", plan=P, potentials=(f, g), cost=s["cost"],
                       dual_fun=s["dual_fun"], marginal_err=s["marginal_err"],
                       regot_errs=errs, regot_times=[float(t) for t in r.run_times],
                       peer=f"RegOT {regot_method}")


for _method, _rg in (("ssns", "sinkhorn_ssns"), ("newton", "sinkhorn_newton")):
    register_peer(Peer(
        name=f"regot:{_method}", family="ot", module="regot", package="regot",
        method=functools.partial(_regot, regot_method=_rg, name=f"regot:{_method}"),
        summary=f"RegOT {_rg} (C++, one thread; callback not supported)",
    ))


# --- IPOPT (cyipopt; optional extra 'ipopt') ---------------------------------------------------

def _ipopt(fun, x0, *, args=(), jac=None, hess=None, hessp=None, constraints=(),
           callback=None, name="ipopt", **options):
    """Run IPOPT through ``cyipopt.minimize_ipopt`` on host NumPy (exact gradients and
    constraint Jacobians, limited-memory Hessian approximation).

    Options: ``maxiter`` (IPOPT ``max_iter``, default 3000) and ``tol`` (IPOPT ``tol``,
    default 1e-8). The callback is not supported (the curve holds the final point).
    """
    import cyipopt
    import numpy as np

    from ..backends import asarray_on, get_namespace, to_numpy

    opts = validate_options(name, _SCIPY_OPTIONS, options)
    xp = get_namespace(x0)
    x0h = np.asarray(to_numpy(x0), dtype=np.float64)
    cons = _host_constraints(constraints, np, to_numpy)

    def f(x):
        return float(fun(x, *args))

    def g(x):
        return np.asarray(to_numpy(jac(x, *args)), dtype=np.float64)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cyipopt.minimize_ipopt(
            f, x0h, jac=g, constraints=[{"type": "eq", "fun": cf, "jac": cj} for cf, cj, _ in cons],
            options={"tol": opts.get("tol", 1e-8), "max_iter": opts.get("maxiter", 3000),
                     "hessian_approximation": "limited-memory", "print_level": 0})
    # IPOPT statuses: 0 solved, 1 acceptable level, -1 iteration limit, other < 0 failures
    code = int(res.status)
    status = 0 if code == 0 else 1 if code == -1 else 2
    msg = res.message.decode() if isinstance(res.message, bytes) else str(res.message)
    return make_result(x=asarray_on(np.asarray(res.x, dtype=np.float64), xp, None), fun=f(res.x),
                       nit=int(res.get("nit", 0)), status=status,
                       detail=f"(IPOPT status {code}: {msg})", backend="numpy",
                       nfev=int(res.get("nfev", 0)), njev=int(res.get("njev", 0)),
                       peer=f"IPOPT via cyipopt {getattr(cyipopt, '__version__', '?')}")


register_peer(Peer(
    name="ipopt", family="minimize", module="cyipopt", package="cyipopt-wheels",
    problems=("constrained/*",),
    method=_ipopt,
    summary="IPOPT interior point (cyipopt; exact gradients/Jacobians, L-BFGS Hessian)",
))
# --- completion (matrix completion: cmfrec, implicit, fancyimpute) -------------------------
# Adapters take the completion front door's custom-method form ``method(obs, rank,
# callback=, **options)`` (``obs``: xpsolve.solvers.completion.Observations) and return
# ``U``, ``V`` (M ~ U V^T) so the completion problems' metrics apply unchanged.
import os  # noqa: E402  (thread count of the peers)

from .._options import OneOf  # noqa: E402
from ..backends import to_numpy  # noqa: E402

_COMPLETION_PEER_OPTIONS = {
    "maxiter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
    "ridge": [Interval(float, 0, None)],
    "ridge_scaling": [OneOf("none", "count")],
    "seed": [OneOf(None), Interval(int, 0, None)],
}


def _completion_result(U, V, obs, nit, status, detail, peer, **extra):
    import numpy as np

    r, c = obs.rows, obs.cols
    vals = np.asarray(to_numpy(obs.values), dtype=np.float64)
    pred = np.einsum("ij,ij->i", U[r], V[c])
    sq = float(np.sum((pred - vals) ** 2))
    return make_result(x=np.concatenate([U, V], axis=0), fun=0.5 * sq, nit=nit, status=status,
                       detail=detail, backend="numpy", U=U, V=V,
                       rmse=math.sqrt(sq / max(obs.nnz, 1)), peer=peer, **extra)


def _cmfrec_als(obs, rank, *, callback=None, use_cg, name, **options):
    """cmfrec ``CMF(method="als")`` without biases or centering (like-for-like with altmin).

    Options: ``maxiter`` (cmfrec ``niter``, default 10), ``ridge`` (``lambda_``,
    default 1e-8), ``ridge_scaling`` (``"count"`` -> ``scale_lam=True``), ``seed``.
    ``use_cg=True`` runs cmfrec's default CG (``max_cg_steps=3``) with the final sweep
    by Cholesky (``finalize_chol=True``, cmfrec's default). A fixed budget: status 1.
    ``callback`` is not supported (the curve holds the final point only).
    """
    import numpy as np
    import scipy.sparse as sp
    import cmfrec

    opts = validate_options(name, _COMPLETION_PEER_OPTIONS, options)
    m, n = obs.shape
    X = sp.coo_matrix((np.asarray(to_numpy(obs.values), dtype=np.float64),
                       (obs.rows, obs.cols)), shape=(m, n))
    threads = int(os.environ.get("NUMBA_NUM_THREADS", "1") or 1)
    model = cmfrec.CMF(k=int(rank), lambda_=opts.get("ridge", 1e-8), method="als",
                       use_cg=use_cg, user_bias=False, item_bias=False, center=False,
                       scale_lam=opts.get("ridge_scaling", "none") == "count",
                       niter=opts.get("maxiter", 10), max_cg_steps=3, finalize_chol=True,
                       nthreads=threads, verbose=False, random_state=opts.get("seed") or 0)
    model.fit(X)
    U = np.asarray(model.A_, dtype=np.float64)[:m]
    V = np.asarray(model.B_, dtype=np.float64)[:n]
    return _completion_result(U, V, obs, opts.get("maxiter", 10), 1,
                              "(fixed budget of ALS sweeps)", f"cmfrec {_version('cmfrec')}")


def _implicit_als(obs, rank, *, callback=None, name, **options):
    """implicit ``AlternatingLeastSquares`` (CPU, CG with 3 steps): timings per sweep only.

    implicit solves the IMPLICIT-feedback model (every entry observed with confidence
    weights), not masked completion, so its accuracy metrics are not comparable;
    the suite compares its seconds per sweep. Options: ``maxiter`` (``iterations``,
    default 15), ``ridge`` (``regularization``, default 0.01), ``seed``.
    """
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares

    opts = validate_options(name, _COMPLETION_PEER_OPTIONS, options)
    m, n = obs.shape
    X = sp.csr_matrix((np.asarray(to_numpy(obs.values), dtype=np.float32),
                       (obs.rows, obs.cols)), shape=(m, n))
    threads = int(os.environ.get("NUMBA_NUM_THREADS", "1") or 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AlternatingLeastSquares(factors=int(rank), regularization=opts.get("ridge", 0.01),
                                        iterations=opts.get("maxiter", 15), use_cg=True,
                                        num_threads=threads, random_state=opts.get("seed") or 0,
                                        dtype=np.float64)
        model.cg_steps = 3
        model.fit(X, show_progress=False)
    U = np.asarray(model.user_factors, dtype=np.float64)
    V = np.asarray(model.item_factors, dtype=np.float64)
    return _completion_result(U, V, obs, opts.get("maxiter", 15), 1,
                              "(implicit-feedback model: timing peer only)",
                              f"implicit {_version('implicit')}")


def _fancyimpute(obs, rank, *, callback=None, kind, name, **options):
    """fancyimpute ``SoftImpute`` / ``IterativeSVD`` on the dense matrix with NaN (O(m n) memory).

    Options: ``maxiter`` (``max_iters``; defaults 100 / 200), ``tol``
    (``convergence_threshold``; defaults 1e-3 / 1e-5). SoftImpute gets
    ``max_rank=rank`` and its default shrinkage; IterativeSVD ``rank=rank``.
    Returns ``U`` = the completed m x n matrix and ``V`` = identity (exact metrics).
    """
    import numpy as np
    import fancyimpute

    opts = validate_options(name, _COMPLETION_PEER_OPTIONS, options)
    m, n = obs.shape
    D = np.full((m, n), np.nan)
    D[obs.rows, obs.cols] = np.asarray(to_numpy(obs.values), dtype=np.float64)
    if kind == "softimpute":
        est = fancyimpute.SoftImpute(max_rank=int(rank), max_iters=opts.get("maxiter", 100),
                                     convergence_threshold=opts.get("tol", 1e-3), verbose=False)
    else:
        est = fancyimpute.IterativeSVD(rank=int(rank), max_iters=opts.get("maxiter", 200),
                                       convergence_threshold=opts.get("tol", 1e-5), verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xc = np.asarray(est.fit_transform(D), dtype=np.float64)
    return _completion_result(Xc, np.eye(n), obs, opts.get("maxiter", 100), 1,
                              "(fancyimpute reports no iteration count or status)",
                              f"fancyimpute {_version('fancyimpute')}")


def _version(dist):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:  # pragma: no cover
        return "?"


for _name, _cg in (("cmfrec:als-chol", False), ("cmfrec:als-cg", True)):
    register_peer(Peer(
        name=_name, family="completion", module="cmfrec", package="cmfrec",
        method=functools.partial(_cmfrec_als, use_cg=_cg, name=_name),
        summary=f"cmfrec CMF(method='als', use_cg={_cg}) without biases/centering (host NumPy)"))
register_peer(Peer(
    name="implicit:als-cg3", family="completion", module="implicit", package="implicit",
    method=functools.partial(_implicit_als, name="implicit:als-cg3"),
    summary="implicit AlternatingLeastSquares (CG, 3 steps; implicit-feedback model: timing only)"))
@functools.lru_cache(maxsize=None)
def _fancyimpute_broken():
    """fancyimpute 0.7 calls sklearn's ``check_array(force_all_finite=...)``, removed in
    scikit-learn 1.8: report that instead of failing every run."""
    import inspect

    try:
        from sklearn.utils import check_array
    except ImportError:
        return "fancyimpute needs scikit-learn (pip install scikit-learn)"
    if "force_all_finite" not in inspect.signature(check_array).parameters:
        import sklearn

        return (f"fancyimpute 0.7 is incompatible with the installed scikit-learn "
                f"{sklearn.__version__} (check_array lost 'force_all_finite' in 1.8); "
                "pip install 'scikit-learn<1.8' to run it")
    return None


@dataclasses.dataclass(frozen=True)
class _FancyimputePeer(Peer):
    def unavailable(self):
        return super().unavailable() or _fancyimpute_broken()


for _name, _kind in (("fancyimpute:softimpute", "softimpute"),
                     ("fancyimpute:iterativesvd", "iterativesvd")):
    register_peer(_FancyimputePeer(
        name=_name, family="completion", module="fancyimpute", package="fancyimpute",
        method=functools.partial(_fancyimpute, kind=_kind, name=_name),
        summary=f"fancyimpute {_kind} on the dense matrix with NaN (O(m n) memory)"))
# --- end completion ----------------------------------------------------------------------
# --- calibration: lifted convex baseline through CVXPY (small sizes only) -------------------

_LIFTED_OPTIONS = {
    "maxiter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
}


def _cvxpy_lifted(y, op, *, xp, callback=None, name="cvxpy:lifted-nuclear", **options):
    """Lifted convex blind calibration: ``min ||X||_*`` s.t. ``<a_{i,l}, X e_i> = y_{i,l}``.

    ``X = x d^T`` (n x m) is the lifted unknown (Ling-Strohmer's SparseLift with the nuclear
    norm instead of l1); solved on the host by CVXPY + SCS (``eps`` = ``tol``, default 1e-9;
    ``max_iters`` = ``maxiter``, default 100000). The estimate is the top singular pair:
    ``gains = v1 / mean(v1)``, ``x = s1 u1 mean(v1)``. Dense sensing only (an operator is
    materialised with n forwards); n*m up to a few thousand variables. ``callback`` is ignored.
    """
    import cvxpy as cp
    import numpy as np

    from ..backends import to_numpy

    opts = validate_options(name, _LIFTED_OPTIONS, options)
    p, m, n = op.shape
    if op.dense is not None:
        A = np.asarray(to_numpy(op.dense), dtype=np.float64)
    else:
        cols = [to_numpy(op.forward(xp.asarray(e))) for e in np.eye(n)]
        A = np.stack(cols, axis=-1)
    Y = np.asarray(to_numpy(y), dtype=np.float64)
    X = cp.Variable((n, m))
    cons = [cp.sum(cp.multiply(A[l].T, X), axis=0) == Y[l] for l in range(p)]
    prob = cp.Problem(cp.Minimize(cp.normNuc(X)), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prob.solve(solver=cp.SCS, eps=opts.get("tol", 1e-9),
                       max_iters=opts.get("maxiter", 100000))
        except cp.error.SolverError as exc:
            return make_result(x=xp.asarray(np.zeros(n)), fun=math.nan, nit=0, status=3,
                               detail=f"({exc})", backend="numpy", gains=xp.asarray(np.ones(m)))
    if X.value is None:
        return make_result(x=xp.asarray(np.zeros(n)), fun=math.nan, nit=0, status=4,
                           detail=f"(CVXPY status {prob.status})", backend="numpy",
                           gains=xp.asarray(np.ones(m)))
    U, S, Vt = np.linalg.svd(X.value)
    v1 = Vt[0]
    d = v1 / v1.mean()
    x = S[0] * U[:, 0] * v1.mean()
    F = float(((d * (A @ x) - Y) ** 2).sum() / (2 * m * p))
    stats = prob.solver_stats
    status = 0 if prob.status == cp.OPTIMAL else (1 if "inaccurate" in prob.status else 4)
    return make_result(x=xp.asarray(x), fun=F, nit=int(getattr(stats, "num_iters", 0) or 0),
                       status=status, detail=None if status == 0 else f"(CVXPY: {prob.status})",
                       backend="numpy", gains=xp.asarray(d), nuclear_norm=float(prob.value),
                       rank_ratio=float(S[1] / S[0]) if len(S) > 1 else 0.0,
                       peer=f"CVXPY {cp.__version__} + SCS")


register_peer(Peer(
    name="cvxpy:lifted-nuclear", family="calibration", module="cvxpy", package="cvxpy",
    method=_cvxpy_lifted,
    summary="Lifted convex calibration min ||x d^T||_* (CVXPY + SCS, host NumPy; small n*m)",
))


# --- recovery: convex l1 + PSD baseline through cvxpy -----------------------------------------

_CVXPY_OPTIONS = {
    "maxiter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
}


def _cvxpy_l1_psd(op, y, rank, *, xp=None, callback=None, name="cvxpy:l1-psd", **options):
    """Convex baseline: ``min_X (1/m) ||y - A(X)||_1  s.t.  X PSD`` with cvxpy + Clarabel.

    Host NumPy; the measurement operator is assembled as an ``(m, d*d)`` matrix (dense
    stacks as given, rank-one vectors expanded), so it is for small ``d`` (about 40).
    Options: ``maxiter`` (Clarabel ``max_iter``, default 200), ``tol`` (Clarabel gap and
    feasibility tolerances, default 1e-8, Clarabel's own), ``truth`` (``X*``, for ``rel_err``).
    Returns ``X`` (the convex solution), ``x`` = ``U``: its best rank-``rank`` PSD factor
    (the family's meaning of ``x``), ``fun`` = ``f(U)``; ``callback`` is not supported
    (the curve holds the final point only).
    """
    import numpy as np
    import cvxpy as cp

    from ..backends import asarray_on, to_numpy
    from ..solvers.recovery._common import LowRankResult

    truth = options.pop("truth", None)
    opts = validate_options(name, _CVXPY_OPTIONS, options)
    if getattr(op, "kind", None) == "dense":
        Af = np.asarray(to_numpy(op.Af), dtype=np.float64)
    elif getattr(op, "kind", None) == "rank1":
        Ad = np.asarray(to_numpy(op.Ad), dtype=np.float64)
        Af = np.einsum("ij,ik->ijk", Ad, Ad).reshape(Ad.shape[0], -1)
    else:
        raise TypeError("the cvxpy peer needs a dense or rank-one measurement array")
    yh = np.asarray(to_numpy(y), dtype=np.float64)
    m, d = Af.shape[0], op.d
    X = cp.Variable((d, d), PSD=True)
    prob = cp.Problem(cp.Minimize(cp.norm1(yh - Af @ cp.vec(X, order="C")) / m))
    tol = opts.get("tol", 1e-8)
    try:
        prob.solve(solver=cp.CLARABEL, max_iter=opts.get("maxiter", 200), tol_gap_abs=tol,
                   tol_gap_rel=tol, tol_feas=tol)
        ok = prob.status in (cp.OPTIMAL,)
        detail = f"(cvxpy/Clarabel status {prob.status})"
    except cp.error.SolverError as exc:  # a failed solve is a result, not a crash
        ok, detail = False, f"(cvxpy: {exc})"
    Xh = X.value if X.value is not None else np.zeros((d, d))
    Xh = (Xh + Xh.T) / 2
    lam, V = np.linalg.eigh(Xh)
    U = V[:, d - rank:] * np.sqrt(np.clip(lam[d - rank:], 0, None))
    fun = float(np.abs(Af @ (U @ U.T).ravel() - yh).mean())
    extra = {}
    if truth is not None:
        Xs = np.asarray(to_numpy(truth), dtype=np.float64)
        extra["rel_err"] = float(np.linalg.norm(U @ U.T - Xs) / np.linalg.norm(Xs))
    Ux = asarray_on(U, xp, None, y.dtype) if xp is not None else U
    res = make_result(x=Ux, fun=fun, nit=int(prob.solver_stats.num_iters or 0)
                      if prob.solver_stats is not None else 0,
                      status=0 if ok else 2, detail=detail, backend="numpy", U=Ux,
                      X_convex=Xh, peer=f"cvxpy {cp.__version__} CLARABEL", **extra)
    return LowRankResult(res)


register_peer(Peer(
    name="cvxpy:l1-psd", family="recovery", module="cvxpy", package="cvxpy",
    method=_cvxpy_l1_psd,
    summary="convex l1 loss over PSD matrices (cvxpy + Clarabel, host NumPy; small d only)",
))



# --- sliding (gradient sliding: f + h + chi) -------------------------------------------------
def _sliding_condat_vu(fun, x0, **kw):
    from ..solvers.sliding._baselines import condat_vu

    return condat_vu(fun, x0, **kw)


def _pyproximal_apg(fun, x0, *, args=(), jac=None, callback=None, composite=None, maxiter=10000,
                    tol=None, Delta0=None, tv_niter=50, **ignored):
    """PyProximal's ProximalGradient (FISTA) on (f + mu/2||x||^2) + lam TV (1-D TV only)."""
    import numpy as np
    import pyproximal

    from ..backends import to_numpy
    from ..solvers.sliding import TotalVariation1D

    h, chi = composite.h, composite.chi
    if not isinstance(h, TotalVariation1D) or chi.l1 or chi.boxed or chi.simplex is not None:
        raise ValueError("pyproximal:apg runs 1-D TV with a ridge chi only")
    x0h = np.asarray(to_numpy(x0), dtype=float)
    h.bind(x0h, xp=np)
    mu, lam, L = chi.mu, h.lam, composite.L + chi.mu
    counts = {"ngev": 0}

    class _Smooth(pyproximal.ProxOperator):
        def __init__(self):
            super().__init__(None, True)

        def __call__(self, x):
            return float(fun(x, *args)) + 0.5 * mu * float(x @ x)

        def grad(self, x):
            counts["ngev"] += 1
            return np.asarray(to_numpy(jac(x, *args))) + mu * x

    state = {"k": 0, "stop": False, "x": x0h}

    def psi(x):
        return float(fun(x, *args)) + float(h.value(x, xp=np)) + 0.5 * mu * float(x @ x)

    def cb(x):
        state["k"] += 1
        state["x"] = x
        if callback is None and tol is None:
            return
        gap = psi(x) - composite.f_opt if composite.f_opt is not None else math.nan
        if tol is not None and gap <= tol:
            state["stop"] = True
            raise StopIteration
        if callback is not None:
            callback(make_result(x=x, fun=psi(x), nit=state["k"], status=0, backend="numpy",
                                 gap=gap, rel_gap=gap / Delta0 if Delta0 else math.nan,
                                 ngev=counts["ngev"]))

    tv = pyproximal.TV(dims=(x0h.size,), sigma=lam, niter=tv_niter)
    status = 1
    try:
        pyproximal.optimization.primal.ProximalGradient(
            _Smooth(), tv, x0h, tau=1.0 / L, niter=maxiter, acceleration="fista", callback=cb)
    except StopIteration:
        status = 0 if state["stop"] else 99
    x = state["x"]
    gap = psi(x) - composite.f_opt if composite.f_opt is not None else math.nan
    return make_result(x=x, fun=psi(x), nit=state["k"], status=status, backend="numpy", gap=gap,
                       rel_gap=gap / Delta0 if Delta0 else math.nan, ngev=counts["ngev"],
                       njev=counts["ngev"], peer=f"pyproximal {pyproximal.__version__} FISTA")


register_peer(Peer(
    name="baseline:condat-vu", family="minimize", module="numpy", package="numpy",
    problems=("sliding/*",),
    method=_sliding_condat_vu, namespaces=("numpy", "array_api_strict", "torch", "cupy"),
    summary="Condat-Vu primal-dual splitting on the sliding problems' composite pieces "
            "(xpsolve's own baseline: one grad-f and one K/K^T pair per iteration)"))
def _sliding_prox_sgd(fun, x0, **kw):
    from ..solvers.sliding._baselines import prox_sgd

    return prox_sgd(fun, x0, **kw)


register_peer(Peer(
    name="baseline:prox-sgd", family="minimize", module="numpy", package="numpy",
    problems=("sliding/*",),
    method=_sliding_prox_sgd, namespaces=("numpy", "array_api_strict", "torch", "cupy"),
    summary="proximal stochastic subgradient (step 2/(mu(t+1) + 2L), weighted average) on the "
            "sliding problems: one grad-f and one (minibatch) subgradient per iteration"))
register_peer(Peer(
    name="pyproximal:apg", family="minimize", module="pyproximal", package="pyproximal",
    problems=("sliding/*",),
    method=_pyproximal_apg,
    summary="PyProximal ProximalGradient (FISTA) with its iterative 1-D TV prox "
            "(sliding TV problems)"))
# --- end sliding ------------------------------------------------------------------------------
