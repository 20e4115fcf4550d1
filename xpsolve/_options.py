"""Option constraints and validation (scikit-learn ``_param_validation`` style).

Every solver declares a constraint list per option; the front door validates the
user's ``options`` dict before dispatching. An unknown key raises ``TypeError``
with a "did you mean" suggestion, a bad value raises ``ValueError`` naming the
option, the method, the valid range and the value received.
"""
from __future__ import annotations

import difflib
import math
import numbers

__all__ = ["Interval", "OneOf", "IsCallable", "IsInstance", "IsArray", "IsSeed",
           "STANDARD_OPTIONS", "standard_options", "validate_options"]


class Interval:
    """A real or integer interval; ``closed`` is 'both', 'left', 'right' or 'neither'."""

    def __init__(self, kind, left, right, *, closed="both"):
        if kind not in (numbers.Integral, numbers.Real, int, float):
            raise TypeError("kind must be int or float")
        self.integer = kind in (numbers.Integral, int)
        self.left, self.right, self.closed = left, right, closed

    def is_satisfied_by(self, value) -> bool:
        if isinstance(value, bool):
            return False
        if self.integer:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real):
            return False
        value = float(value)
        if math.isnan(value):
            return False
        lo_ok = self.left is None or (
            value >= self.left if self.closed in ("both", "left") else value > self.left)
        hi_ok = self.right is None or (
            value <= self.right if self.closed in ("both", "right") else value < self.right)
        return lo_ok and hi_ok

    def __str__(self):
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        return f"{'an int' if self.integer else 'a float'} in {lb}{lo}, {hi}{rb}"


class OneOf:
    """A value from a fixed set (strings, ``None``, booleans)."""

    def __init__(self, *values):
        self.values = values

    def is_satisfied_by(self, value) -> bool:
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def __str__(self):
        return "one of {" + ", ".join(repr(v) for v in self.values) + "}"


class IsCallable:
    def is_satisfied_by(self, value) -> bool:
        return callable(value)

    def __str__(self):
        return "a callable"


class IsInstance:
    """An instance of one of ``types``; ``object`` is refused (it would accept anything)."""

    def __init__(self, *types, description=None):
        if object in types:
            raise TypeError("IsInstance(object) accepts anything; use IsArray, IsCallable or a real type")
        self.types = types
        self.description = description

    def is_satisfied_by(self, value) -> bool:
        return isinstance(value, self.types) and not (
            isinstance(value, bool) and bool not in self.types)

    def __str__(self):
        return self.description or ("an instance of " + " or ".join(t.__name__ for t in self.types))


class IsArray:
    """An array (anything with ``shape`` and ``dtype``, or a list/tuple of numbers)."""

    def __init__(self, description="an array"):
        self.description = description

    def is_satisfied_by(self, value) -> bool:
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return True
        return isinstance(value, (list, tuple)) and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)

    def __str__(self):
        return self.description


class IsSeed:
    """``None``, a non-negative int, or a :class:`numpy.random.Generator`."""

    def is_satisfied_by(self, value) -> bool:
        if value is None:
            return True
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return value >= 0
        import numpy as np

        return isinstance(value, (np.random.Generator, np.random.SeedSequence))

    def __str__(self):
        return "None, a non-negative int or a numpy.random.Generator"


#: The option names every solver shares, with one set of constraints (one contract).
#: A solver takes the ones it has with :func:`standard_options` and adds its own.
STANDARD_OPTIONS = {
    "maxiter": [Interval(int, 0, None)],
    "tol": [Interval(float, 0, None, closed="neither")],
    "seed": [IsSeed()],
    "check_every": [Interval(int, 1, None)],
    "history": [OneOf(True, False)],
    "disp": [OneOf(True, False)],
}


def standard_options(*names, **own) -> dict:
    """Constraint dict with the standard options ``names`` plus the solver's ``own``.

    Examples
    --------
    >>> from xpsolve._options import Interval, standard_options
    >>> sorted(standard_options("maxiter", "tol", step=[Interval(float, 0, None)]))
    ['maxiter', 'step', 'tol']
    """
    unknown = set(names) - set(STANDARD_OPTIONS)
    if unknown:
        raise ValueError(f"not standard options: {sorted(unknown)}")
    clash = set(names) & set(own)
    if clash:
        raise ValueError(f"standard options redefined: {sorted(clash)}")
    return {**{n: list(STANDARD_OPTIONS[n]) for n in names}, **own}


def describe(constraints) -> str:
    parts = [str(c) for c in constraints]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def validate_options(method: str, constraints: dict, options: dict | None) -> dict:
    """Check ``options`` against ``constraints`` and return a new dict.

    Parameters
    ----------
    method : str
        Method name, used in error messages.
    constraints : dict
        Option name -> list of constraint objects; a value is valid when it
        satisfies at least one of them.
    options : dict or None
        The user's options. Not modified.

    Raises
    ------
    TypeError
        An option name is unknown (the message suggests the closest valid name).
    ValueError
        An option value violates its constraints.

    Examples
    --------
    >>> from xpsolve._options import Interval, validate_options
    >>> validate_options("demo", {"tol": [Interval(float, 0, None, closed="neither")]},
    ...                  {"tol": 1e-6})
    {'tol': 1e-06}
    >>> validate_options("demo", {"tol": [Interval(float, 0, None, closed="neither")]},
    ...                  {"tols": 1e-6})
    Traceback (most recent call last):
    ...
    TypeError: Unknown option 'tols' for method 'demo'; did you mean 'tol'? Valid options: tol.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict or None; got {type(options).__name__}.")
    out = {}
    valid = sorted(constraints)
    for key, value in options.items():
        if key not in constraints:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            raise TypeError(
                f"Unknown option {key!r} for method {method!r}{hint} "
                f"Valid options: {', '.join(valid)}."
            )
        cons = constraints[key]
        if not any(c.is_satisfied_by(value) for c in cons):
            raise ValueError(
                f"Option {key!r} of method {method!r} must be {describe(cons)}; got {value!r}."
            )
        out[key] = value
    return out
