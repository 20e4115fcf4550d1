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
