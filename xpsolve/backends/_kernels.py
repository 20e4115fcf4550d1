"""Kernel registry: a named hot loop with a generic Array-API reference and optional twins.

``get_kernel(name, xp)`` returns the Numba twin only when ``xp`` is NumPy, Numba
imports and ``use_numba`` is configured on (read at call time); the CuPy twin only
for CuPy; otherwise the generic version, which is the reference the twins are
tested against.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib

from .._config import get_config
from ._namespace import is_cupy_namespace, is_numpy_namespace

__all__ = ["register_kernel", "get_kernel", "list_kernels", "numba_available"]


@dataclasses.dataclass
class _Kernel:
    name: str
    generic: object
    numba: str | None = None  # "module:function", imported lazily
    cupy: object = None


_KERNELS: dict[str, _Kernel] = {}


def register_kernel(name: str, *, generic, numba: str | None = None, cupy=None) -> None:
    """Register kernel ``name``.

    Parameters
    ----------
    generic : callable
        Array-API implementation taking ``xp`` as keyword argument.
    numba : str, optional
        ``"module:function"`` of the Numba twin (imported on first use, so that
        importing xpsolve never compiles or even imports Numba). The twin has the
        generic signature and receives NumPy arrays.
    cupy : callable, optional
        CuPy-specific twin.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import get_kernel, register_kernel
    >>> def demo_axpy(a, x, y):
    ...     return a * x + y
    >>> register_kernel("demo_axpy", generic=demo_axpy)
    >>> get_kernel("demo_axpy", np)(2.0, np.ones(2), np.zeros(2))
    array([2., 2.])
    >>> from xpsolve.backends._kernels import _KERNELS
    >>> _ = _KERNELS.pop("demo_axpy")     # leave the registry as it was
    """
    _KERNELS[name] = _Kernel(name, generic, numba, cupy)


@functools.lru_cache(maxsize=None)
def numba_available() -> bool:
    try:
        importlib.import_module("numba")
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _load(path: str):
    module, func = path.split(":")
    return getattr(importlib.import_module(module), func)


def get_kernel(name: str, xp, *, use_numba: bool | None = None):
    """Return the implementation of kernel ``name`` suited to namespace ``xp``.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsolve.backends import get_kernel, list_kernels
    >>> import xpsolve.solvers.ot   # registers the OT kernels
    >>> "ot_gibbs" in list_kernels()
    True
    >>> callable(get_kernel("ot_gibbs", np))
    True
    """
    k = _KERNELS[name]
    if use_numba is None:
        use_numba = get_config()["use_numba"]
    if k.numba is not None and use_numba and is_numpy_namespace(xp) and numba_available():
        return _load(k.numba)
    if k.cupy is not None and is_cupy_namespace(xp):
        return k.cupy
    return k.generic


def kernel_uses_numba(name: str, xp) -> bool:
    """Whether :func:`get_kernel` returns the Numba twin of ``name`` for ``xp`` now."""
    k = _KERNELS[name]
    return get_kernel(name, xp) is not k.generic and k.numba is not None


def kernels_use_numba(names, xp) -> bool:
    """Whether any of the kernels ``names`` runs its Numba twin for ``xp`` (result key ``numba``)."""
    return any(kernel_uses_numba(n, xp) for n in names)


def kernels_have_numba(names) -> bool:
    """Whether any of the kernels ``names`` has a registered Numba twin and Numba imports.

    This is what :attr:`xpsolve._registry.SolverSpec.numba` reports for a solver that
    lists its kernels (unknown names raise ``KeyError``: a typo must not read as "no twin").
    """
    return any(_KERNELS[n].numba is not None for n in names) and numba_available()


def list_kernels() -> list[str]:
    """Return the names of the registered kernels, sorted.

    Examples
    --------
    >>> import xpsolve
    >>> from xpsolve.backends import list_kernels
    >>> "ot_lse_update_rows" in list_kernels()
    True
    """
    return sorted(_KERNELS)
