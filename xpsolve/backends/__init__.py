"""Array-namespace, device and kernel helpers (no algorithm lives here)."""
from ._kernels import get_kernel, list_kernels, numba_available, register_kernel
from ._namespace import (
    as_float_array,
    asarray_on,
    check_finite,
    default_float,
    device,
    get_namespace,
    is_cupy_namespace,
    is_numpy_namespace,
    is_torch_namespace,
    namespace_name,
    synchronize,
    to_numpy,
)

__all__ = [
    "get_kernel", "list_kernels", "numba_available", "register_kernel", "as_float_array",
    "asarray_on", "check_finite", "default_float", "device", "get_namespace",
    "is_cupy_namespace", "is_numpy_namespace", "is_torch_namespace", "namespace_name",
    "synchronize", "to_numpy",
]
