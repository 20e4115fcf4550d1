"""Benchmark plans: named TOML files expanded into a grid of :class:`RunSpec`.

A plan file (``xpsolve/suite/plans/<name>.toml``) looks like::

    description = "what the plan compares"
    problems = ["ot/uniform_point_clouds", "ot/random_*"]   # globs on problem names
    solvers = ["sinkhorn*", "pot:*"]                          # globs on solver names
    sizes = ["small"]
    seeds = "0-1"              # or [0, 1]
    backends = ["numpy"]
    repeat = 1
    timeout = 60.0             # seconds per run (best effort), optional

    [options."*"]              # per-solver options; keys are solver globs
    maxiter = 1000
    [options."sinkhorn-log"]
    check_every = 10
    [options."bilevel/p2_*::lv-hba"]         # problem-glob::solver-glob: options for one pairing
    alpha = 0.01
    [options."bilevel/p2_*@large::lv-hba"]   # ...and for one size of it
    alpha = 0.002
    [options."ot/grid_densities[cost=l1]::sns"]   # ...or for some generator parameters
    n_sinkhorn = 700

    [params."ot/random_assignment"]   # per-problem generator parameters; keys are globs
    reg = [1e-2, 3e-3]                # a list is one more axis of the grid

Options and parameters whose value is a list become axes of the grid (wrap a
list value in another list to pass it as one value).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import itertools
import json
import re
from pathlib import Path

from .solvers import SolverEntry, list_entries

__all__ = ["Plan", "RunSpec", "Skip", "PlanError", "load_plan", "list_plans", "expand",
           "parse_seeds", "match_solver"]

PLANS_DIR = Path(__file__).with_name("plans")
BACKENDS = ("numpy", "array_api_strict", "torch", "cupy")


class PlanError(ValueError):
    """A plan or a command-line override is invalid (reported as a usage error).

    Examples
    --------
    >>> from xpsolve.suite import PlanError, load_plan
    >>> try:
    ...     load_plan("no-such-plan")
    ... except PlanError as e:
    ...     print("PlanError")
    PlanError
    """


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One benchmark run: a problem instance, a solver with its options, a backend.

    Only plain values (strings, numbers, dicts of them), so it pickles to any worker.
    ``timeout`` and ``warmup`` steer the run but are not part of its identity
    (:attr:`key`).

    Examples
    --------
    >>> from xpsolve.suite import RunSpec, run_one
    >>> rec = run_one(RunSpec(problem="ot/random_assignment", size="tiny", seed=0,
    ...                       solver="sns", family="ot"))
    >>> rec["problem"], rec["solver"], rec["success"]
    ('ot/random_assignment', 'sns', True)
    """

    problem: str
    size: str
    seed: int
    solver: str
    family: str
    backend: str = "numpy"
    options: dict = dataclasses.field(default_factory=dict)
    params: dict = dataclasses.field(default_factory=dict)
    repeat: int = 0
    timeout: float | None = None
    warmup: bool = True

    def identity(self) -> dict:
        """The fields that define the run (everything except ``timeout`` and ``warmup``)."""
        d = dataclasses.asdict(self)
        del d["timeout"], d["warmup"]
        return d

    @property
    def key(self) -> str:
        """Stable hash of :meth:`identity` (hex, 16 characters): the run's key in the store."""
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Skip:
    """A (problem, solver, backend) combination left out of the grid, with the reason.

    Examples
    --------
    >>> from xpsolve.suite import Plan, expand
    >>> specs, skips = expand(Plan(problems=["ot/additive_cost"], solvers=["sns"], sizes=["large"]))
    >>> len(specs), skips[0].reason
    (0, "problem has no size 'large' (sizes: tiny, small, medium)")
    """

    problem: str
    size: str
    solver: str
    backend: str
    reason: str


@dataclasses.dataclass
class Plan:
    """A benchmark plan: globs and lists from which :func:`expand` builds the grid.

    Examples
    --------
    >>> from xpsolve.suite import Plan, expand
    >>> plan = Plan(problems=["ot/random_assignment"], solvers=["sns"], sizes=["tiny"], seeds=[0, 1])
    >>> specs, skips = expand(plan)
    >>> len(specs), specs[0].solver
    (2, 'sns')
    """

    name: str = "custom"
    description: str = ""
    problems: list = dataclasses.field(default_factory=lambda: ["*"])
    solvers: list = dataclasses.field(default_factory=lambda: ["*"])
    sizes: list = dataclasses.field(default_factory=lambda: ["tiny"])
    seeds: list = dataclasses.field(default_factory=lambda: [0])
    backends: list = dataclasses.field(default_factory=lambda: ["numpy"])
    repeat: int = 1
    timeout: float | None = None
    warmup: bool = True
    options: dict = dataclasses.field(default_factory=dict)
    params: dict = dataclasses.field(default_factory=dict)

    _KEYS = ("description", "problems", "solvers", "sizes", "seeds", "backends", "repeat",
             "timeout", "warmup", "options", "params")

    @classmethod
    def from_dict(cls, name: str, data: dict) -> "Plan":
        """Build a plan from a parsed TOML table, checking keys and types."""
        unknown = set(data) - set(cls._KEYS)
        if unknown:
            raise PlanError(f"plan {name!r}: unknown key(s) {sorted(unknown)}; "
                            f"valid keys: {', '.join(cls._KEYS)}")
        plan = cls(name=name)
        for key in ("problems", "solvers", "sizes", "backends"):
            if key in data:
                setattr(plan, key, _str_list(data[key], f"plan {name!r}: {key}"))
        if "seeds" in data:
            plan.seeds = parse_seeds(data["seeds"])
        if "description" in data:
            plan.description = str(data["description"])
        if "repeat" in data:
            plan.repeat = _positive_int(data["repeat"], f"plan {name!r}: repeat")
        if "timeout" in data:
            plan.timeout = _timeout(data["timeout"], f"plan {name!r}: timeout")
        if "warmup" in data:
            plan.warmup = bool(data["warmup"])
        for key in ("options", "params"):
            table = data.get(key, {})
            if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
                raise PlanError(f"plan {name!r}: {key} must be a table of tables "
                                f"({key}.\"<glob>\" = {{...}})")
            setattr(plan, key, {str(k): dict(v) for k, v in table.items()})
        return plan


def _str_list(value, what) -> list:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise PlanError(f"{what} must be a list of non-empty strings; got {value!r}")
    return list(value)


def _positive_int(value, what) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PlanError(f"{what} must be a positive integer; got {value!r}")
    return value


def _timeout(value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PlanError(f"{what} must be a positive number of seconds; got {value!r}")
    return float(value)


#: Most seeds one plan may ask for (a typo such as '0-1000000000' is refused, not expanded).
MAX_SEEDS = 10_000


def parse_seeds(text) -> list:
    """Parse seeds: ``"0-4"``, ``"0,2,3"``, ``"0-2,7"``, an int or a list of ints.

    Examples
    --------
    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
    >>> parse_seeds([3, 1])
    [3, 1]
    """
    if isinstance(text, bool):
        raise PlanError(f"seeds must be integers; got {text!r}")
    if isinstance(text, int):
        text = [text]
    if isinstance(text, (list, tuple)):
        if not text or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                               for s in text):
            raise PlanError(f"seeds must be a non-empty list of non-negative integers; got {text!r}")
        return list(text)
    if not isinstance(text, str):
        raise PlanError(f"seeds must be a string like '0-4' or '0,2,3'; got {text!r}")
    seeds = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise PlanError(f"bad seeds {text!r}: expected integers and ranges like '0-4' or "
                            f"'0,2,3'; got {part!r}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise PlanError(f"bad seeds {text!r}: empty range {part!r}")
        if hi - lo + 1 + len(seeds) > MAX_SEEDS:
            raise PlanError(f"bad seeds {text!r}: more than {MAX_SEEDS} seeds in one plan; "
                            "split the study into several suites")
        seeds.extend(range(lo, hi + 1))
    return list(dict.fromkeys(seeds))


def _toml_load(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise ImportError("reading plan files on Python < 3.11 needs the 'tomli' package "
                              "(pip install tomli)") from exc
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(f"plan file {path}: {exc}") from None


def list_plans() -> dict:
    """Bundled plans: name -> description.

    Examples
    --------
    >>> from xpsolve.suite import list_plans
    >>> "quick" in list_plans() and "tiny" in list_plans()
    True
    """
    return {p.stem: load_plan(p.stem).description for p in sorted(PLANS_DIR.glob("*.toml"))}


def load_plan(name_or_path) -> Plan:
    """Load a bundled plan by name (``"quick"``) or a plan file by path.

    Examples
    --------
    >>> load_plan("tiny").sizes
    ['tiny']
    """
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.exists():
        path = PLANS_DIR / f"{name_or_path}.toml"
    if not path.exists():
        names = ", ".join(p.stem for p in sorted(PLANS_DIR.glob("*.toml")))
        raise PlanError(f"unknown plan {str(name_or_path)!r}; bundled plans: {names} "
                        "(or give the path of a .toml file)")
    return Plan.from_dict(path.stem, _toml_load(path))


def match_solver(entry: SolverEntry, pattern: str) -> bool:
    """Whether a solver matches a glob on its name or on ``family:name``."""
    return (fnmatch.fnmatchcase(entry.name, pattern)
            or fnmatch.fnmatchcase(f"{entry.family}:{entry.name}", pattern))


def _merged(table: dict, name: str, match) -> dict:
    # Tables keyed by globs, applied from the least to the most specific: solver-only keys,
    # then problem-qualified ones ("problem::solver"), then parameter- and size-qualified
    # ones; exact names last.
    keys = [k for k in table if match(k)]
    keys.sort(key=lambda k: ("::" in k, "[" in k.split("::")[0] if "::" in k else False,
                             "@" in k.split("::")[0] if "::" in k else False,
                             k == name, len(k) - k.count("*") - k.count("?")))
    out = {}
    for k in keys:
        out.update(table[k])
    return out


_PROBLEM_KEY = re.compile(r"^(?P<glob>[^\[@]+)(?:\[(?P<cond>[^\]]*)\])?(?:@(?P<size>.+))?$")


def _param_equals(value, text: str) -> bool:
    if str(value) == text:
        return True
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return False


def _option_key_matches(key: str, entry: SolverEntry, problem: str, size: str,
                        params: dict | None = None) -> bool:
    """Whether an ``[options."..."]`` key applies: ``solver-glob``, ``problem-glob::solver-glob``,
    ``problem-glob@size::solver-glob`` or, for some generator parameters,
    ``problem-glob[name=value,...]::solver-glob`` (with an optional ``@size`` after ``]``)."""
    if "::" not in key:
        return match_solver(entry, key)
    pkey, skey = key.split("::", 1)
    m = _PROBLEM_KEY.match(pkey)
    if m is None:
        raise PlanError(f"invalid options key {key!r}: expected problem-glob[name=value,...]"
                        "@size::solver-glob (the [...] and @size parts optional)")
    if m["cond"] is not None:
        conds = [c.partition("=") for c in m["cond"].split(",") if c.strip()]
        if any(not eq for _, eq, _ in conds):
            raise PlanError(f"invalid parameter condition in {key!r}: use [name=value,...]")
        if params is None or not all(k.strip() in params and _param_equals(params[k.strip()],
                                                                             v.strip())
                                     for k, _, v in conds):
            return False
    return (fnmatch.fnmatchcase(problem, m["glob"]) and (not m["size"] or m["size"] == size)
            and match_solver(entry, skey))


def plan_options(plan, problem: str, solver: str, family: str, size: str = "tiny",
                 params: dict | None = None) -> dict:
    """The options ``plan`` gives ``solver`` on ``problem`` at ``size`` with generator
    ``params`` (lists are grid axes; keys conditioned on parameters need ``params``).

    Examples
    --------
    >>> from xpsolve.suite import load_plan
    >>> from xpsolve.suite.plan import plan_options
    >>> plan_options(load_plan("bilevel"), "bilevel/p2_lvhba_toy", "lv-hba", "bilevel")["c0"]
    5.0
    """
    entry = SolverEntry(solver, family, ())
    return _merged(plan.options, solver,
                   lambda k: _option_key_matches(k, entry, problem, size, params))


def _grid(values: dict) -> list:
    """Cartesian product of the list-valued entries of ``values`` (other entries fixed)."""
    axes = [(k, v if isinstance(v, list) else [v]) for k, v in sorted(values.items())]
    return [dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]


def expand(plan: Plan, *, entries=None):
    """Expand ``plan`` into its grid of runs.

    Parameters
    ----------
    plan : Plan
        The plan (after command-line overrides).
    entries : list of SolverEntry, optional
        The candidate solvers (default: every registered solver and peer).

    Returns
    -------
    specs : list of RunSpec
        Runs in a deterministic order (problem, size, params, seed, backend, solver,
        options, repeat).
    skips : list of Skip
        Combinations left out and why: solver family differs from the problem's,
        backend not supported by the solver, solver unavailable (peer library
        missing), size unknown to the problem. One entry per combination (seeds,
        params and repeats are not repeated).

    Raises
    ------
    PlanError
        A problem or solver glob matches nothing, or a backend is unknown.

    Examples
    --------
    >>> from xpsolve.suite import expand, load_plan
    >>> specs, skips = expand(load_plan("tiny"))
    >>> sorted({s.solver for s in specs}) == sorted({"sinkhorn", "sinkhorn-log", "sns"} & {s.solver for s in specs})
    True
    """
    from ..problems import list_problems

    entries = list_entries() if entries is None else entries
    problems = []
    for pat in plan.problems:
        found = list_problems(pat)
        if not found:
            known = ", ".join(p.name for p in list_problems())
            raise PlanError(f"no problem matches {pat!r}; known problems: {known}")
        problems.extend(p for p in found if p not in problems)
    solvers = []
    for pat in plan.solvers:
        found = [e for e in entries if match_solver(e, pat)]
        if not found:
            known = ", ".join(e.qualname for e in entries)
            raise PlanError(f"no solver matches {pat!r}; known solvers: {known}")
        solvers.extend(e for e in found if e not in solvers)
    for backend in plan.backends:
        if backend.split(":")[0] not in BACKENDS:
            raise PlanError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)} "
                            "(optionally with a device, e.g. 'torch:cuda')")
    if not plan.seeds or not plan.sizes:
        raise PlanError("a plan needs at least one size and one seed")

    specs, skips = [], []
    for prob in problems:
        pparams = _merged(plan.params, prob.name, lambda k: fnmatch.fnmatchcase(prob.name, k))
        unknown = set(pparams) - set(prob.defaults) - set().union(*map(set, prob.sizes.values()))
        if unknown:
            raise PlanError(f"unknown parameter(s) {sorted(unknown)} for problem {prob.name!r}; "
                            f"valid: {sorted(set(prob.defaults).union(*prob.sizes.values()))}")
        for size in plan.sizes:
            if size not in prob.sizes:
                skips.append(Skip(prob.name, size, "*", "*",
                                  f"problem has no size {size!r} (sizes: {', '.join(prob.sizes)})"))
                continue
            for params, seed, backend in itertools.product(_grid(pparams), plan.seeds,
                                                           plan.backends):
                for entry in solvers:
                    reason = _incompatible(entry, prob, backend)
                    if reason:
                        skips.append(Skip(prob.name, size, entry.qualname, backend, reason))
                        continue
                    sopts = _merged(plan.options, entry.name,
                                    lambda k: _option_key_matches(k, entry, prob.name, size,
                                                                  params))
                    for options in _grid(sopts):
                        for r in range(plan.repeat):
                            specs.append(RunSpec(prob.name, size, int(seed), entry.name,
                                                 entry.family, backend, options, params, r,
                                                 plan.timeout, plan.warmup))
    # one skip line per combination, not per seed
    skips = list(dict.fromkeys(skips))
    return specs, skips


def _incompatible(entry: SolverEntry, prob, backend: str) -> str | None:
    if entry.family != prob.family:
        return f"solver family {entry.family!r} != problem family {prob.family!r}"
    if not any(fnmatch.fnmatchcase(prob.name, g) for g in entry.problems):
        return f"applies only to {', '.join(entry.problems)}"
    if entry.kind == "xpsolve":
        from ..problems import list_problems
        from ..problems._registry import method_fits_problem

        why = method_fits_problem(entry.options, prob, list_problems(family=prob.family),
                                  entry.accepts)
        if why:
            return why
    if backend.split(":")[0] not in entry.namespaces:
        return f"backend {backend!r} not supported (solver supports {', '.join(entry.namespaces)})"
    if entry.unavailable:
        return entry.unavailable
    return None
