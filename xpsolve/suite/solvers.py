"""The solvers a plan can name: registered xpsolve methods plus peer-library adapters."""
from __future__ import annotations

import dataclasses

__all__ = ["SolverEntry", "list_entries", "get_entry", "resolve_method"]


@dataclasses.dataclass(frozen=True)
class SolverEntry:
    """A solver as the suite sees it.

    Attributes
    ----------
    name : str
        Method name (``"sinkhorn"``) or peer name (``"pot:sinkhorn"``).
    family : str
        Problem family it solves.
    namespaces : tuple of str
        Backends it accepts.
    kind : str
        ``"xpsolve"`` or ``"peer"``.
    unavailable : str or None
        Why it cannot run here (a peer library is missing), else ``None``.
    summary : str
        One-line description.

    Examples
    --------
    >>> from xpsolve.suite import list_entries
    >>> e = next(e for e in list_entries("ot") if e.name == "sns")
    >>> e.kind, e.family
    ('xpsolve', 'ot')
    """

    name: str
    family: str
    namespaces: tuple
    kind: str = "xpsolve"
    unavailable: str | None = None
    summary: str = ""
    numba: bool = False
    problems: tuple = ("*",)
    options: tuple = ()
    accepts: tuple | None = None

    @property
    def qualname(self) -> str:
        return f"{self.family}:{self.name}"


def list_entries(family: str | None = None) -> list:
    """Every registered solver and peer adapter, sorted by family then name.

    Examples
    --------
    >>> from xpsolve.suite import list_entries
    >>> {e.kind for e in list_entries("ot")} >= {"xpsolve", "peer"}
    True
    """
    from .. import list_solvers
    from .peers import list_peers

    out = [SolverEntry(s.name, s.family, tuple(s.namespaces), "xpsolve", None, s.summary,
                       bool(s.numba), options=tuple(s.options), accepts=tuple(s.accepts))
           for s in list_solvers(family)]
    out += [SolverEntry(p.name, p.family, tuple(p.namespaces), "peer", p.unavailable(),
                        p.summary, problems=tuple(p.problems)) for p in list_peers(family)]
    return sorted(out, key=lambda e: (e.family, e.kind != "xpsolve", e.name))


def get_entry(family: str, name: str) -> SolverEntry:
    """The entry of ``name`` in ``family``; ``ValueError`` if there is none."""
    for e in list_entries(family):
        if e.name == name:
            return e
    raise ValueError(f"no solver {name!r} in family {family!r}")


def resolve_method(family: str, name: str):
    """What to pass as ``method`` to ``problem.solve``: the name, or a peer's callable."""
    from .peers import get_peer

    peer = get_peer(family, name)
    if peer is None:
        return name
    if peer.unavailable():
        raise ImportError(peer.unavailable())
    return peer.method
