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
    """

    name: str
    family: str
    module: str
    package: str
    method: object
    namespaces: tuple = ("numpy",)
    summary: str = ""

    def unavailable(self) -> str | None:
        """Why the peer cannot run here, or ``None``."""
        if importlib.util.find_spec(self.module) is None:
            return f"peer library {self.package!r} is not installed (pip install {self.package})"
        return None


_PEERS: dict = {}


def register_peer(peer: Peer) -> Peer:
    """Add ``peer`` to the suite's solvers (replacing one of the same family and name)."""
    _PEERS[(peer.family, peer.name)] = peer
    return peer


def list_peers(family: str | None = None) -> list:
    """Registered peers, optionally of one family."""
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
    has them). ``callback`` receives ``nit``, ``x`` and ``fun`` after every SciPy
    iteration; :class:`StopIteration` stops the run (status 99).
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
                                 x=asarray_on(xh, xp, None), nit=state["nit"]))

    kw = {}
    if scipy_method == "SLSQP":
        kw["constraints"] = [{"type": "eq", "fun": cf, "jac": cj} for cf, cj, _ in cons]
        kw["options"] = {"ftol": opts.get("tol", 1e-12), "maxiter": opts.get("maxiter", 100)}
    else:
        from scipy.optimize import BFGS

        kw["constraints"] = [NonlinearConstraint(cf, 0.0, 0.0, jac=cj,
                                                 hess=ch if ch is not None else BFGS())
                             for cf, cj, ch in cons]
        kw["options"] = {"gtol": opts.get("tol", 1e-8), "xtol": 1e-12,
                         "maxiter": opts.get("maxiter", 1000)}
        if hess is not None:
            kw["hess"] = (lambda x: (lambda H: H.toarray() if sp.issparse(H)
                                     else np.asarray(to_numpy(H), np.float64))(hess(x, *args)))
        elif hessp is not None:
            kw["hessp"] = lambda x, p: np.asarray(to_numpy(hessp(x, p, *args)), np.float64)
        else:
            kw["hess"] = BFGS()
    stopped = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sp_minimize(f, x0h, jac=g, method=scipy_method, callback=cb, **kw)
        x, nit, nfev, njev = res.x, int(res.nit), int(res.nfev), int(res.get("njev", 0))
        message = str(res.message)
        stopped = res.get("status") == 99 or "StopIteration" in message
        maxed = nit >= kw["options"]["maxiter"]
        status = 99 if stopped else (0 if res.success else (1 if maxed else 2))
    except StopIteration:
        x, nit, nfev, njev, message, status = state["x"], state["nit"], -1, -1, "stopped", 99
    return make_result(x=asarray_on(np.asarray(x, dtype=np.float64), xp, None), fun=f(x),
                       nit=nit, status=status, detail=f"(SciPy: {message})",
                       backend="numpy", nfev=nfev, njev=njev,
                       peer=f"SciPy {scipy.__version__} {scipy_method}")


for _method, _sp in (("slsqp", "SLSQP"), ("trust-constr", "trust-constr")):
    register_peer(Peer(
        name=f"scipy:{_method}", family="minimize", module="scipy", package="scipy",
        method=functools.partial(_scipy_minimize, scipy_method=_sp, name=f"scipy:{_method}"),
        summary=f"scipy.optimize.minimize(method={_sp!r}) on equality-constrained problems "
                "(host NumPy, exact derivatives)",
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
    method=_sliding_condat_vu, namespaces=("numpy", "array_api_strict", "torch", "cupy"),
    summary="Condat-Vu primal-dual splitting on the sliding problems' composite pieces "
            "(xpsolve's own baseline: one grad-f and one K/K^T pair per iteration)"))
def _sliding_prox_sgd(fun, x0, **kw):
    from ..solvers.sliding._baselines import prox_sgd

    return prox_sgd(fun, x0, **kw)


register_peer(Peer(
    name="baseline:prox-sgd", family="minimize", module="numpy", package="numpy",
    method=_sliding_prox_sgd, namespaces=("numpy", "array_api_strict", "torch", "cupy"),
    summary="proximal stochastic subgradient (step 2/(mu(t+1) + 2L), weighted average) on the "
            "sliding problems: one grad-f and one (minibatch) subgradient per iteration"))
register_peer(Peer(
    name="pyproximal:apg", family="minimize", module="pyproximal", package="pyproximal",
    method=_pyproximal_apg,
    summary="PyProximal ProximalGradient (FISTA) with its iterative 1-D TV prox "
            "(sliding TV problems)"))
# --- end sliding ------------------------------------------------------------------------------
