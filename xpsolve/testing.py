"""Test helpers for xpsolve and downstream projects: :func:`assert_close`, backend lists."""
from __future__ import annotations

import importlib
import os

import numpy as np

from .backends import device as _device, get_namespace, namespace_name, to_numpy

__all__ = ["assert_close", "available_backends"]


def available_backends() -> list[str]:
    """Backends importable here: numpy, array_api_strict, torch (CPU), cupy (with a GPU).

    ``XPSOLVE_XP_BACKENDS="numpy,torch"`` narrows the list.
    """
    names = ["numpy"]
    for mod in ("array_api_strict", "torch"):
        try:
            importlib.import_module(mod)
            names.append(mod)
        except Exception:
            pass
    try:
        cupy = importlib.import_module("cupy")
        if cupy.cuda.runtime.getDeviceCount() > 0:
            names.append("cupy")
    except Exception:
        pass
    wanted = os.environ.get("XPSOLVE_XP_BACKENDS")
    if wanted:
        keep = {w.strip() for w in wanted.split(",") if w.strip()}
        names = [n for n in names if n in keep]
    return names


def assert_close(actual, desired, *, rtol=1e-7, atol=0.0, xp=None, check_namespace=True,
                 check_dtype=True, check_shape=True, err_msg=""):
    """Assert ``actual`` matches ``desired``: namespace, device, dtype and shape, then values.

    ``desired`` may be a NumPy array or scalar (the reference); it is then only
    compared by value after converting ``actual`` with :func:`xpsolve.backends.to_numpy`.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.testing import assert_close
    >>> assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]))
    """
    if xp is not None and check_namespace:
        got = namespace_name(get_namespace(actual))
        want = namespace_name(xp)
        assert got == want, f"namespace {got} != {want}. {err_msg}"
    a_np = np.asarray(to_numpy(actual))
    d_np = np.asarray(to_numpy(desired))
    desired_is_ref = isinstance(desired, (np.ndarray, float, int, np.generic))
    if not desired_is_ref and check_dtype:
        assert str(actual.dtype) == str(desired.dtype), f"dtype {actual.dtype} != {desired.dtype}. {err_msg}"
        assert _device(actual) == _device(desired), f"device differs. {err_msg}"
    if check_shape:
        assert a_np.shape == d_np.shape, f"shape {a_np.shape} != {d_np.shape}. {err_msg}"
    np.testing.assert_allclose(a_np, d_np, rtol=rtol, atol=atol, err_msg=err_msg)
