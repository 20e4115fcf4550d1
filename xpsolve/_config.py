"""Runtime configuration: ``set_config``, ``get_config`` and ``config_context``.

Switches are read when a solver runs, never frozen at import time, so
``XPSOLVE_DISABLE_NUMBA=1`` set after ``import xpsolve`` still takes effect
(scikit-learn's ``config_context`` design, not SciPy's import-time switches).
"""
from __future__ import annotations

import contextlib
import contextvars
import os

__all__ = ["get_config", "set_config", "config_context"]

_DEFAULTS = {"use_numba": True, "check_finite": True}
_config_var: contextvars.ContextVar[dict] = contextvars.ContextVar(
    "xpsolve_config", default=_DEFAULTS
)


def _env_disables_numba() -> bool:
    return os.environ.get("XPSOLVE_DISABLE_NUMBA", "").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


def get_config() -> dict:
    """Return the current configuration as a new dict.

    Returns
    -------
    dict
        ``use_numba`` (bool): use Numba kernels for NumPy inputs; forced to
        ``False`` while the environment variable ``XPSOLVE_DISABLE_NUMBA`` is set
        to a true value. ``check_finite`` (bool): reject inputs containing inf
        or NaN.

    Examples
    --------
    >>> import xpsolve
    >>> sorted(xpsolve.get_config())
    ['check_finite', 'use_numba']
    """
    cfg = dict(_config_var.get())
    if _env_disables_numba():
        cfg["use_numba"] = False
    return cfg


def _validated(updates: dict) -> dict:
    for key, value in updates.items():
        if key not in _DEFAULTS:
            raise TypeError(
                f"Unknown configuration key {key!r}; valid keys: {sorted(_DEFAULTS)}."
            )
        if not isinstance(value, bool):
            raise TypeError(f"Configuration {key!r} must be a bool; got {value!r}.")
    return updates


def set_config(*, use_numba: bool | None = None, check_finite: bool | None = None) -> None:
    """Set global configuration values (``None`` leaves a value unchanged).

    Parameters
    ----------
    use_numba : bool, optional
        Use Numba-JIT kernels when the inputs are NumPy arrays.
    check_finite : bool, optional
        Check inputs for inf and NaN before solving.

    Examples
    --------
    >>> import xpsolve
    >>> xpsolve.set_config(use_numba=False)
    >>> xpsolve.get_config()["use_numba"]
    False
    >>> xpsolve.set_config(use_numba=True)
    """
    updates = {k: v for k, v in dict(use_numba=use_numba, check_finite=check_finite).items()
               if v is not None}
    new = dict(_config_var.get())
    new.update(_validated(updates))
    _config_var.set(new)


@contextlib.contextmanager
def config_context(**updates):
    """Temporarily change configuration values inside a ``with`` block.

    Parameters
    ----------
    **updates
        Configuration values to set (the keys of :func:`get_config`).

    Yields
    ------
    None
        The previous values are restored when the block exits.

    Examples
    --------
    >>> import xpsolve
    >>> with xpsolve.config_context(use_numba=False):
    ...     xpsolve.get_config()["use_numba"]
    False
    """
    new = dict(_config_var.get())
    new.update(_validated(updates))
    token = _config_var.set(new)
    try:
        yield
    finally:
        _config_var.reset(token)
