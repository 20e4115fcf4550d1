"""The result type, the status table and the callback contract shared by every solver."""
from __future__ import annotations

import math
import sys

from scipy.optimize import OptimizeResult as _ScipyOptimizeResult

__all__ = ["OptimizeResult", "LazyOptimizeResult", "STATUS_MESSAGES", "status_message",
           "IterationReport"]

#: One status table for every solver: status code -> message.
STATUS_MESSAGES = {
    0: "Optimization terminated successfully.",
    1: "Maximum number of iterations reached.",
    2: "Stalled: no further progress is possible at this precision.",
    3: "A non-finite value was encountered; the last finite iterate is returned.",
    4: "Infeasible problem or constraint tolerance not met.",
    99: "Stopped by the callback (StopIteration).",
}
SUCCESS_STATUSES = frozenset({0})


def status_message(status: int, detail: str | None = None) -> str:
    """Return the table message for ``status``, optionally extended with ``detail``."""
    base = STATUS_MESSAGES[status]
    return f"{base} {detail}" if detail else base


class OptimizeResult(_ScipyOptimizeResult):
    """Result of an xpsolve solver: a :class:`scipy.optimize.OptimizeResult`.

    Core keys, always present: ``x`` (final iterate, in the input namespace and
    on the input device), ``fun`` (Python float), ``nit``, ``nfev``, ``success``,
    ``status``, ``message``, ``history`` (dict of lists, empty unless the
    ``history`` option is on) and ``backend`` (name of the array namespace).
    Families add documented keys (``plan`` and ``potentials`` for optimal
    transport, ``y`` for bilevel problems, ...).

    Status codes: 0 converged, 1 maximum iterations, 2 stalled / precision
    limit, 3 non-finite value, 4 infeasible or constraint tolerance not met,
    99 stopped by the callback.

    Examples
    --------
    >>> from xpsolve import OptimizeResult
    >>> r = OptimizeResult(x=[1.0], fun=0.5, nit=3, success=True, status=0,
    ...                    message="ok")
    >>> r.fun
    0.5
    """

    def __repr__(self) -> str:
        def short(v):
            shape = getattr(v, "shape", None)
            if shape is not None and len(shape) > 0:
                return f"<{type(v).__module__.split('.')[0]} array shape={tuple(shape)}>"
            if isinstance(v, dict) and len(v) > 0:
                return "{" + ", ".join(f"{k!r}: ..." for k in v) + "}"
            if isinstance(v, tuple) and any(getattr(e, "shape", None) for e in v):
                return "(" + ", ".join(short(e) for e in v) + ")"
            if isinstance(v, (list, tuple)) and len(v) > 6:
                return f"<{type(v).__name__} of {len(v)}>"
            return repr(v)

        if not self:
            return f"{type(self).__name__}()"
        width = max(map(len, self.keys())) + 1
        return "\n".join(f"{k.rjust(width)}: {short(v)}" for k, v in self.items())

    def __dir__(self):
        return list(self.keys())


def make_result(*, x, fun, nit: int, status: int, backend: str, detail: str | None = None,
                nfev: int = 0, history: dict | None = None, **extra) -> OptimizeResult:
    """Assemble a final :class:`OptimizeResult` with the core fields filled consistently."""
    fun = float(fun) if fun is not None else math.nan
    res = OptimizeResult(
        x=x,
        fun=fun,
        nit=int(nit),
        nfev=int(nfev),
        success=status in SUCCESS_STATUSES,
        status=int(status),
        message=status_message(status, detail),
        history=history if history is not None else {},
        backend=backend,
    )
    res.update(extra)
    return res


def notify(callback, intermediate_result) -> bool:
    """Call ``callback(intermediate_result)``; return True when the solver must stop.

    The callback asks for a stop by raising :class:`StopIteration`
    (``scipy.optimize`` convention); the solver then returns status 99.
    """
    if callback is None:
        return False
    try:
        callback(intermediate_result)
    except StopIteration:
        return True
    return False



class _Pending:
    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn


class LazyOptimizeResult(OptimizeResult):
    """An intermediate :class:`OptimizeResult` whose expensive entries are computed when read.

    Entries given as zero-argument callables (e.g. the OT plan, formed from the
    potentials by an ``n x n`` exponential) are evaluated the first time they are read
    (``res.x``, ``res["x"]``, ``res.get("x")``, iteration or ``repr``) and kept; a
    callback that reads nothing costs the solver nothing, and a timing callback that
    pauses its clock while it runs is not charged for what it reads.

    Examples
    --------
    >>> from xpsolve import LazyOptimizeResult
    >>> calls = []
    >>> r = LazyOptimizeResult(nit=3, x=lambda: calls.append(1) or [1.0, 2.0])
    >>> "x" in r, calls
    (True, [])
    >>> r.x, r["x"], calls
    ([1.0, 2.0], [1.0, 2.0], [1])
    """

    def __init__(self, **values):
        super().__init__({k: _Pending(v) if callable(v) and not hasattr(v, "shape") else v
                          for k, v in values.items()})

    def __getitem__(self, key):
        v = dict.__getitem__(self, key)
        if isinstance(v, _Pending):
            v = v.fn()
            dict.__setitem__(self, key, v)
        return v

    def get(self, key, default=None):
        """The entry ``key`` (evaluated if lazy), or ``default`` when absent."""
        return self[key] if key in self else default

    def _resolve_all(self):
        for k in list(dict.keys(self)):
            self[k]

    def __iter__(self):
        # a custom __iter__ also makes dict(r) and {**r} read through __getitem__
        self._resolve_all()
        return dict.__iter__(self)

    def items(self):
        """The ``(key, value)`` pairs, lazy entries evaluated first."""
        self._resolve_all()
        return dict.items(self)

    def values(self):
        """The values, lazy entries evaluated first."""
        self._resolve_all()
        return dict.values(self)

    def copy(self):
        """A plain :class:`OptimizeResult` with every entry evaluated."""
        self._resolve_all()
        return OptimizeResult(dict.items(self))

    def pop(self, key, *default):
        """Remove ``key`` and return its (evaluated) value, or ``default`` when absent."""
        if key in self:
            v = self[key]
            dict.pop(self, key)
            return v
        return dict.pop(self, key, *default)

class IterationReport:
    """Aligned iteration table printed when a solver runs with ``disp=True``."""

    def __init__(self, columns, file=None):
        self.columns = list(columns)
        self.file = file if file is not None else sys.stdout
        self._printed_header = False

    def row(self, **values):
        if not self._printed_header:
            print(" ".join(f"{c:>12}" for c in self.columns), file=self.file)
            self._printed_header = True
        cells = []
        for c in self.columns:
            v = values.get(c, "")
            if isinstance(v, float):
                cells.append(f"{v:>12.4e}")
            else:
                cells.append(f"{v!s:>12}")
        print(" ".join(cells), file=self.file)
