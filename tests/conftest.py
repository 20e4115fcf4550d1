"""Shared fixtures: the ``xp`` fixture over the available array namespaces."""
import pytest

from .helpers import BACKENDS, namespace


@pytest.fixture(params=BACKENDS)
def xp(request):
    """An array namespace: numpy, array_api_strict, torch (CPU, float64 arrays) and cupy with a GPU."""
    return namespace(request.param)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gpu" in item.keywords and "cupy" not in BACKENDS:
            item.add_marker(pytest.mark.skip(reason="no CUDA device / CuPy"))
