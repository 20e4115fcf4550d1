"""Every public function and class has a numpydoc docstring with an Examples section.

Public = the ``__all__`` of ``xpsolve``, ``xpsolve.problems``, ``xpsolve.suite``,
``xpsolve.backends`` and of the family modules documented in ``docs/api.rst`` whose helpers
users build problems with (``FAMILY_MODULES``). numpydoc's validator runs on each, with every check except four we do not
enforce: ES01 (extended summary), PR01 (every parameter documented: the option-heavy front doors
document options in prose), RT01 (Returns section) and SA01 (See Also). The examples themselves run
in the doctests (``--doctest-modules``).
"""
import importlib
import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

MODULES = ["xpsolve", "xpsolve.problems", "xpsolve.suite", "xpsolve.backends"]
FAMILY_MODULES = ["xpsolve.solvers.sliding", "xpsolve.solvers.recovery", "xpsolve.problems.recovery",
                  "xpsolve.problems.sliding", "xpsolve.problems.bilevel_unbounded"]
MODULES += FAMILY_MODULES
NOT_ENFORCED = {"ES01", "PR01", "RT01", "SA01"}


def _public():
    out = []
    for m in MODULES:
        mod = importlib.import_module(m)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                out.append(f"{m}.{name}")
    return out


@pytest.mark.parametrize("name", _public())
def test_numpydoc(name):
    errors = [f"{code}: {msg}" for code, msg in numpydoc_validate.validate(name)["errors"]
              if code not in NOT_ENFORCED]
    assert not errors, "\n".join(errors)
