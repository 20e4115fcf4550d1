"""Solver registry: every solver registers a :class:`SolverSpec`; front doors dispatch through it.

The registry knows no solver: importing :mod:`xpsolve` imports :mod:`xpsolve.solvers`, whose
modules register their specs, so any use of the registry (which imports the package first)
sees every solver, without an import cycle back from here into the solvers.
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect

from ._options import describe

__all__ = ["SolverSpec", "register_solver", "get_solver", "list_solvers", "show_options"]

ALL_NAMESPACES = ("numpy", "array_api_strict", "torch", "cupy")


@dataclasses.dataclass(frozen=True)
class SolverSpec:
    """Description of one solver method.

    Parameters
    ----------
    name : str
        Lowercase, hyphenated method name (``"sinkhorn-log"``).
    family : str
        Front door that dispatches to it (``"ot"``, ``"minimize"``, ``"bilevel"``, ...).
    func : callable
        Private implementation ``func(*problem_args, xp=..., callback=..., **options)``.
    options : dict
        Option name -> list of constraints (``Interval``, ``OneOf``, ... from ``xpsolve._options``).
    namespaces : tuple of str
        Array namespaces the solver supports.
    numba : bool
        Whether the solver runs a Numba kernel for NumPy inputs. When ``kernels`` is
        given this is derived, not declared: true iff one of the named kernels has a
        registered Numba twin and Numba imports (the given bool is then ignored).
        Families that do not list their kernels yet keep the declared bool.
    needs : frozenset of str
        Arguments the method requires (``"jac"``, ``"hessp"``, ...).
    accepts : frozenset of str
        Optional arguments the method uses when given (``"hessp"``, ``"constraints"``).
    summary : str
        One-line description shown by :func:`show_options`.
    metric : str, tuple of str, or None
        The result key (a float) on which ``success`` is decided: the run succeeds
        when ``result[metric] <= tol`` (``"marginal_err"``, ``"kkt"``, ...). A tuple
        lists alternatives in order of preference, for solvers whose metric depends on
        the call (``("rel_err", "rel_change")``: the recovery error when a ground truth
        is given, else the relative change): the first key present in the result is
        the one success was decided on. The contract tests check that every success
        meets it.
    kernels : tuple of str
        Names of the registered kernels (:func:`xpsolve.backends.get_kernel`) the
        solver calls on its NumPy path; ``numba`` is derived from them.

    Examples
    --------
    >>> import xpsolve
    >>> spec = xpsolve.get_solver("sns")
    >>> spec.family, spec.metric, "torch" in spec.namespaces
    ('ot', 'marginal_err', True)
    >>> spec.defaults["n_sinkhorn"]
    20
    """

    name: str
    family: str
    func: object
    options: dict
    namespaces: tuple = ALL_NAMESPACES
    numba: bool = False
    needs: frozenset = frozenset()
    accepts: frozenset = frozenset()
    summary: str = ""
    metric: str | tuple | None = None

    def metric_of(self, result):
        """The name of the result key success was decided on (see ``metric``), or None."""
        names = (self.metric,) if isinstance(self.metric, str) else tuple(self.metric or ())
        return next((n for n in names if n in result), None)
    kernels: tuple = ()

    @property
    def defaults(self) -> dict:
        """Default option values, read from the implementation's signature."""
        sig = inspect.signature(self.func)
        return {k: p.default for k, p in sig.parameters.items()
                if k in self.options and p.default is not inspect.Parameter.empty}


def _get_numba(self) -> bool:
    if not self.kernels:
        return self.__dict__.get("_numba_declared", False)
    from .backends._kernels import kernels_have_numba

    return kernels_have_numba(self.kernels)


def _set_numba(self, value) -> None:
    # the dataclass __init__ stores the declared value here (used only without ``kernels``)
    self.__dict__["_numba_declared"] = bool(value)


# ``numba`` stays a constructor argument (backward compatible) but reads as a property,
# derived lazily so that importing xpsolve never imports Numba.
SolverSpec.numba = property(_get_numba, _set_numba, doc="Whether the solver runs a Numba kernel "
                            "for NumPy inputs (derived from ``kernels`` when given).")

_REGISTRY: dict[tuple[str, str], SolverSpec] = {}


def register_solver(spec: SolverSpec) -> SolverSpec:
    """Add ``spec`` to the registry (replacing a spec of the same family and name).

    Examples
    --------
    >>> import xpsolve
    >>> from xpsolve._options import standard_options
    >>> def _solve_noop(a, b, C, reg, *, xp, callback=None, maxiter=0, tol=1e-9):
    ...     raise NotImplementedError
    >>> spec = xpsolve.register_solver(xpsolve.SolverSpec(
    ...     "noop-demo", "ot", _solve_noop, options=standard_options("maxiter", "tol")))
    >>> xpsolve.get_solver("noop-demo").family
    'ot'
    >>> from xpsolve._registry import unregister_solver
    >>> unregister_solver("ot", "noop-demo")
    """
    if spec.name != spec.name.lower() or " " in spec.name or "_" in spec.name:
        raise ValueError(f"method names are lowercase and hyphenated; got {spec.name!r}")
    missing = set(spec.options) - set(inspect.signature(spec.func).parameters)
    if missing:
        raise ValueError(f"options {sorted(missing)} of {spec.name!r} are not parameters of its function")
    _REGISTRY[(spec.family, spec.name)] = spec
    return spec


def unregister_solver(family: str, name: str) -> None:
    _REGISTRY.pop((family, name), None)


def list_solvers(family: str | None = None) -> list[SolverSpec]:
    """Registered solvers, optionally for one family, sorted by family then name.

    Examples
    --------
    >>> import xpsolve
    >>> [s.name for s in xpsolve.list_solvers("ot")]
    ['sinkhorn', 'sinkhorn-log', 'sinkhorn-newton', 'sns']
    """
    return sorted((s for s in _REGISTRY.values() if family is None or s.family == family),
                  key=lambda s: (s.family, s.name))


def get_solver(method: str, family: str | None = None) -> SolverSpec:
    """Look up a method by name (case-insensitive; underscores accepted for hyphens).

    Examples
    --------
    >>> import xpsolve
    >>> xpsolve.get_solver("Sinkhorn_Log").name
    'sinkhorn-log'
    >>> xpsolve.get_solver("sinkhorn-lgo")
    Traceback (most recent call last):
        ...
    ValueError: Unknown method 'sinkhorn-lgo'. Did you mean 'sinkhorn-log'? ...
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string or a callable; got {type(method).__name__}.")
    key = method.lower().replace("_", "-")
    matches = [s for (fam, name), s in _REGISTRY.items()
               if name == key and (family is None or fam == family)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"method {method!r} exists in several families "
                         f"({', '.join(s.family for s in matches)}); pass family=.")
    names = sorted(name for (fam, name) in _REGISTRY if family is None or fam == family)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    where = f" for {family!r} problems" if family else ""
    raise ValueError(f"Unknown method {method!r}{where}.{hint} Valid methods: {', '.join(names) or 'none'}.")


def show_options(method: str, family: str | None = None, disp: bool = True) -> str:
    """Print (or return, with ``disp=False``) the options of ``method``.

    Examples
    --------
    >>> import xpsolve
    >>> text = xpsolve.show_options("sinkhorn", disp=False)
    >>> "tol" in text and "maxiter" in text
    True
    """
    spec = get_solver(method, family)
    defaults = spec.defaults
    lines = [f"{spec.name} ({spec.family}): {spec.summary}",
             f"  namespaces: {', '.join(spec.namespaces)}; numba kernels: {'yes' if spec.numba else 'no'}"]
    if spec.metric:
        names = (spec.metric,) if isinstance(spec.metric, str) else spec.metric
        lines.append(f"  success: result.{' (or '.join(names)}{')' * (len(names) - 1)} <= tol")
    width = max([len(k) for k in spec.options] + [4])
    for key in sorted(spec.options):
        lines.append(f"  {key.ljust(width)}  default={defaults.get(key)!r}; "
                     f"{describe(spec.options[key])}")
    text = "\n".join(lines)
    if disp:
        print(text)
        return None
    return text

