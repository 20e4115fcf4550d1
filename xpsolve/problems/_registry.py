"""Problem registry: ``register_problem``, ``get_problem``, ``list_problems``."""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib

import numpy as np

from ..backends import asarray_on, get_namespace

__all__ = ["register_problem", "get_problem", "list_problems", "ProblemSpec", "option_tags",
           "method_fits_problem"]

# modules under xpsolve.problems that register problems
_FAMILY_MODULES = ("ot", "bilevel", "constrained", "completion", "calibration", "recovery",
                   "bilevel_unbounded", "sliding")


@dataclasses.dataclass(frozen=True)
class ProblemSpec:
    """Registry entry of a benchmark problem (see :func:`register_problem`).

    Examples
    --------
    >>> from xpsolve.problems import list_problems
    >>> spec = next(s for s in list_problems() if s.name == "ot/random_assignment")
    >>> spec.family, sorted(spec.sizes)
    ('ot', ['large', 'medium', 'small', 'tiny'])
    """

    name: str
    family: str
    make: object
    build: object
    sizes: dict
    defaults: dict
    summary: str
    tags: tuple = ()


_PROBLEMS: dict[str, ProblemSpec] = {}


def register_problem(name, *, family, sizes, build, defaults=None, summary="", tags=()):
    """Decorator registering ``make(*, rng, **params) -> dict`` as problem ``name``.

    Parameters
    ----------
    name : str
        ``"<family>/<problem>"``.
    family : str
        Solver family (front door) the problem is for.
    sizes : dict
        Named size presets -> parameter dicts (``{"tiny": {"n": 20}, ...}``);
        every problem has ``"tiny"`` (used by tests and the CI smoke plan).
    build : callable
        ``build(spec, host, *, size, seed, params, xp, device, dtype) -> Problem``:
        the family adapter that moves the host data to ``xp`` and attaches the
        solve/metric functions.
    defaults : dict, optional
        Default parameters (overridable per call).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.problems import get_problem, register_problem
    >>> from xpsolve.problems.ot import _build
    >>> from xpsolve.problems._registry import _PROBLEMS
    >>> @register_problem("ot/demo_identity", family="ot", sizes={"tiny": {"n": 3}},
    ...                   build=_build, defaults={"reg": 0.1})
    ... def demo_identity(*, rng, n, reg):
    ...     # summary line shown by ``suite --list``: give ``summary=`` or a docstring
    ...     w = np.full(n, 1.0 / n)
    ...     return {"a": w, "b": w, "C": 1.0 - np.eye(n), "reg": reg}
    >>> get_problem("ot/demo_identity", size="tiny").data["C"].shape
    (3, 3)
    >>> _ = _PROBLEMS.pop("ot/demo_identity")     # leave the registry as it was
    """

    def deco(make):
        if "tiny" not in sizes:
            raise ValueError(f"problem {name!r} needs a 'tiny' size")
        _PROBLEMS[name] = ProblemSpec(name, family, make, build, dict(sizes), dict(defaults or {}),
                                      summary or (make.__doc__ or "").strip().split("\n")[0],
                                      tuple(tags))
        return make

    return deco


def _load_all():
    for mod in _FAMILY_MODULES:
        importlib.import_module(f"xpsolve.problems.{mod}")


def list_problems(pattern: str = "*", family: str | None = None) -> list[ProblemSpec]:
    """Registered problem specs whose name matches the glob ``pattern``.

    Examples
    --------
    >>> from xpsolve.problems import list_problems
    >>> [p.name for p in list_problems("ot/*")][:2]
    ['ot/additive_cost', 'ot/grid_densities']
    """
    _load_all()
    return sorted((p for p in _PROBLEMS.values()
                   if fnmatch.fnmatch(p.name, pattern) and (family is None or p.family == family)),
                  key=lambda p: p.name)


def get_problem(name, size="small", seed=0, xp=None, device=None, dtype="float64", **params):
    """Build an instance of problem ``name``.

    The data are generated on the host with ``numpy.random.default_rng(seed)``
    and then moved to namespace ``xp`` (default NumPy) on ``device``, so a seed
    gives the same instance on every backend.

    Parameters
    ----------
    name : str
        Registry name (:func:`list_problems`).
    size : str
        A named size preset of the problem (``"tiny"``, ``"small"``, ...).
    seed : int
        Seed of the generator.
    xp : namespace, optional
        Target array namespace (``array_api_strict``, ``torch``, ``cupy``, ...).
    device : optional
        Target device in ``xp``.
    dtype : str
        Floating dtype name of the arrays.
    **params
        Overrides of the generator parameters (e.g. ``reg=1e-3``).

    Examples
    --------
    >>> from xpsolve.problems import get_problem
    >>> p = get_problem("ot/random_assignment", size="tiny", seed=0)
    >>> p.data["C"].shape
    (20, 20)
    """
    _load_all()
    if name not in _PROBLEMS:
        close = difflib.get_close_matches(name, list(_PROBLEMS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown problem {name!r}.{hint} See xpsolve.problems.list_problems().")
    spec = _PROBLEMS[name]
    if size not in spec.sizes:
        raise ValueError(f"Problem {name!r} has no size {size!r}; sizes: {', '.join(spec.sizes)}")
    unknown = set(params) - set(spec.defaults) - set(spec.sizes[size])
    if unknown:
        raise TypeError(f"Unknown parameter(s) {sorted(unknown)} for problem {name!r}; "
                        f"valid: {sorted(set(spec.defaults) | set(spec.sizes[size]))}")
    full = {**spec.defaults, **spec.sizes[size], **params}
    if xp is None:
        xp = get_namespace(np.empty(0))
    dt = getattr(xp, dtype)
    host = spec.make(rng=np.random.default_rng(seed), **full)
    return spec.build(spec, host, size=size, seed=seed, params=full, xp=xp, device=device, dtype=dt)


def move(host_arrays: dict, xp, device, dtype) -> dict:
    """Move a dict of host NumPy arrays (others left as they are) to ``xp``."""
    out = {}
    for k, v in host_arrays.items():
        if isinstance(v, np.ndarray):
            out[k] = asarray_on(v, xp, device, dtype if v.dtype.kind == "f" else None)
        else:
            out[k] = v
    return out


def option_tags(tags) -> set:
    """Method options a problem is solved through: its tags ``"option:<name>"``.

    A problem tagged ``"option:composite"`` (the gradient-sliding problems) passes its
    pieces to the method through the option ``composite``.
    """
    return {t.split(":", 1)[1] for t in tags if t.startswith("option:")}


def method_fits_problem(method_options, problem, family_problems=None,
                        accepts=None) -> str | None:
    """Why a registered method (its option names) cannot solve ``problem``, or ``None``.

    A problem tagged ``"option:<name>"`` pairs only with methods that have option
    ``<name>``; a method having an option that some problem of its family is solved
    through (``family_problems``) pairs only with such problems. A problem tagged
    ``"constrained"`` needs a method that accepts constraints (``accepts``, the
    method's :attr:`SolverSpec.accepts`, holds ``"constraints"`` or ``"lower_cons"``).
    The contract tests and the suite's plans use this one rule.
    """
    if (accepts is not None and "constrained" in problem.tags
            and not {"constraints", "lower_cons"} & set(accepts)):
        return "the method does not handle the problem's constraints"
    needs = option_tags(problem.tags)
    opts = set(method_options)
    if needs and not needs <= opts:
        return f"the problem is solved through method option(s) {sorted(needs)}"
    if not needs and family_problems is not None:
        used = set().union(*(option_tags(p.tags) for p in family_problems))
        if used & opts:
            return f"the method takes its problem through option(s) {sorted(used & opts)}"
    return None
