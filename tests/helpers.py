"""Small helpers for the tests (not a test module)."""
import numpy as np


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
