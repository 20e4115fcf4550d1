"""Small helpers for the tests (not a test module)."""
import importlib

import numpy as np
import pytest

from xpsolve.testing import available_backends

#: namespaces importable here (numpy, array_api_strict, torch; cupy with a GPU)
BACKENDS = available_backends()


def namespace(name):
    """The array namespace called ``name`` (array-api-compat wrappers for numpy/torch/cupy)."""
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "torch":
        pytest.importorskip("torch")
        import array_api_compat.torch as xp
    elif name == "cupy":
        pytest.importorskip("cupy")
        import array_api_compat.cupy as xp
    else:
        xp = importlib.import_module(name)
    return xp


def to_xp(xp, a):
    """Move a NumPy array to namespace ``xp`` keeping float64."""
    return xp.asarray(np.asarray(a, dtype=np.float64))


def point_cloud_cost(n, m, seed, d=2):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, d)), rng.random((m, d))
    return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)


def random_weights(k, seed):
    w = np.random.default_rng(seed).uniform(0.5, 1.5, k)
    return w / w.sum()
