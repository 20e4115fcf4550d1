"""Shared fixtures: the ``xp`` fixture over the available array namespaces."""
import importlib

import pytest

from xpsolve.testing import available_backends

BACKENDS = available_backends()


def _namespace(name):
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "torch":
        import array_api_compat.torch as xp
    elif name == "array_api_strict":
        xp = importlib.import_module("array_api_strict")
    elif name == "cupy":
        import array_api_compat.cupy as xp
    else:  # pragma: no cover
        raise ValueError(name)
    return xp


@pytest.fixture(params=BACKENDS)
def xp(request):
    """An array namespace: numpy, array_api_strict, torch (CPU, float64 arrays) and cupy with a GPU."""
    return _namespace(request.param)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gpu" in item.keywords and "cupy" not in BACKENDS:
            item.add_marker(pytest.mark.skip(reason="no CUDA device / CuPy"))
