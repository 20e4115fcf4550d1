"""Namespace, device and dtype helpers on top of array-api-compat.

Nothing here imports CuPy or torch: they are only touched when the caller's arrays
already come from them.
"""
from __future__ import annotations

import numpy as np
import array_api_compat
from array_api_compat import (
    device as _device,
    is_array_api_strict_namespace,
    is_cupy_namespace,
    is_numpy_namespace,
    is_torch_namespace,
)

from .._config import get_config

__all__ = [
    "get_namespace", "device", "namespace_name", "is_numpy_namespace", "is_cupy_namespace",
    "is_torch_namespace", "to_numpy", "synchronize", "as_float_array", "check_finite",
    "default_float", "asarray_on",
]


def _is_array(a) -> bool:
    return array_api_compat.is_array_api_obj(a) and not isinstance(a, (int, float, complex, bool))


def get_namespace(*arrays, xp=None):
    """Return the array-API namespace shared by ``arrays``.

    Lists, tuples and Python scalars are ignored for the decision (they are
    coerced with NumPy when no array is given), ``None`` entries are skipped.

    Raises
    ------
    TypeError
        The arrays come from different libraries.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import get_namespace, namespace_name
    >>> namespace_name(get_namespace(np.ones(2), np.zeros(2)))
    'numpy'
    """
    if xp is not None:
        return xp
    arrays = [a for a in arrays if a is not None and _is_array(a)]
    if not arrays:
        return array_api_compat.array_namespace(np.empty(0))
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrays})
        raise TypeError(f"inputs mix array libraries ({', '.join(kinds)}); "
                        "convert them to one namespace first") from exc


def device(*arrays):
    """Device shared by ``arrays``; ``ValueError`` naming both when they differ.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import device
    >>> device(np.ones(2), np.zeros(3))
    'cpu'
    """
    devs = []
    for a in arrays:
        if a is not None and _is_array(a):
            d = _device(a)
            if devs and d != devs[0]:
                raise ValueError(f"inputs are on different devices: {devs[0]!r} and {d!r}")
            devs.append(d)
    return devs[0] if devs else None


def namespace_name(xp) -> str:
    """Short backend name: 'numpy', 'cupy', 'torch', 'array_api_strict' or the module name.

    Examples
    --------
    >>> import array_api_strict as xps
    >>> from xpsolve.backends import namespace_name
    >>> namespace_name(xps)
    'array_api_strict'
    """
    if is_numpy_namespace(xp):
        return "numpy"
    if is_cupy_namespace(xp):
        return "cupy"
    if is_torch_namespace(xp):
        return "torch"
    if is_array_api_strict_namespace(xp):
        return "array_api_strict"
    return getattr(xp, "__name__", str(xp))


def default_float(xp, dev=None):
    """The namespace's default real floating dtype (float64 where supported).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import default_float
    >>> default_float(np)
    dtype('float64')
    """
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None:
        try:
            return info().default_dtypes(device=dev)["real floating"]
        except Exception:  # pragma: no cover - old namespaces
            pass
    return xp.float64


def as_float_array(a, name: str, xp, dev=None, dtype=None):
    """Convert ``a`` to a floating array of ``xp`` on ``dev``; integer input is promoted.

    ``dtype`` forces a dtype; otherwise floating input keeps its dtype and
    anything else becomes the namespace's default float.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import as_float_array
    >>> as_float_array([1, 2, 3], "a", np).dtype
    dtype('float64')
    """
    if not _is_array(a):
        try:
            a = np.asarray(a)
        except Exception as exc:
            raise TypeError(f"{name} must be an array; got {type(a).__name__}") from exc
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array; got dtype {a.dtype}")
        a = xp.asarray(a, device=dev) if dev is not None else xp.asarray(a)
    try:
        numeric = xp.isdtype(a.dtype, "numeric") or xp.isdtype(a.dtype, "bool")
    except Exception:
        numeric = False
    if not numeric:
        raise TypeError(f"{name} must be a real numeric array; got dtype {a.dtype}")
    if dtype is None:
        if xp.isdtype(a.dtype, "real floating"):
            return a
        if xp.isdtype(a.dtype, "complex floating"):
            raise TypeError(f"{name} must be real; got complex dtype {a.dtype}")
        dtype = default_float(xp, dev)
    if a.dtype != dtype:
        a = xp.astype(a, dtype)
    return a


def check_finite(a, name: str, xp) -> None:
    """Raise ``ValueError`` when ``a`` contains inf or NaN (if ``check_finite`` is configured).

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import check_finite
    >>> check_finite(np.array([1.0, np.nan]), "C", np)
    Traceback (most recent call last):
        ...
    ValueError: ...
    """
    if get_config()["check_finite"] and not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{name} must not contain inf or NaN")


def asarray_on(host_array, xp, dev=None, dtype=None):
    """Move a host NumPy array to namespace ``xp`` (and device ``dev``).

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_strict as xps
    >>> from xpsolve.backends import asarray_on, namespace_name
    >>> from array_api_compat import array_namespace
    >>> namespace_name(array_namespace(asarray_on(np.ones(3), xps)))
    'array_api_strict'
    """
    kw = {}
    if dev is not None:
        kw["device"] = dev
    out = xp.asarray(host_array, **kw)
    if dtype is not None and out.dtype != dtype:
        out = xp.astype(out, dtype)
    return out


def to_numpy(a):
    """Copy an array of any supported namespace to a NumPy array on the host.

    Examples
    --------
    >>> import array_api_strict as xps
    >>> from xpsolve.backends import to_numpy
    >>> to_numpy(xps.asarray([1.0, 2.0]))
    array([1., 2.])
    """
    if a is None or isinstance(a, np.ndarray):
        return a
    if isinstance(a, (int, float, bool, list, tuple)):
        return np.asarray(a)
    mod = type(a).__module__.split(".")[0]
    if mod == "cupy":
        return a.get()
    if mod == "torch":
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except Exception:  # array_api_strict on a non-CPU device
        xp = array_api_compat.array_namespace(a)
        return np.asarray(xp.asarray(a, device=xp.__array_namespace_info__().default_device()))


def synchronize(xp) -> None:
    """Block until queued device work is done (no-op on the CPU); use before reading a clock.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import synchronize
    >>> synchronize(np)     # no-op on the CPU; waits for the GPU stream with CuPy / torch CUDA
    """
    if is_cupy_namespace(xp):
        import cupy

        cupy.cuda.get_current_stream().synchronize()
    elif is_torch_namespace(xp):
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def to_float(a) -> float:
    """Python float from a 0-d array of any namespace (syncs a device)."""
    return float(a)
