"""Helpers of the generated HS/BT problem module: stack scalar expressions into arrays."""
from __future__ import annotations

__all__ = ["S1", "S2"]




def S1(xp, x, entries):
    """1-D array from a list of 0-d arrays and Python numbers, in ``x``'s namespace and dtype."""
    return xp.stack([_scalar(xp, x, e) for e in entries])


def S2(xp, x, rows):
    """2-D array from nested lists of 0-d arrays and Python numbers."""
    return xp.stack([S1(xp, x, row) for row in rows])


def _scalar(xp, x, e):
    if isinstance(e, (int, float)):
        kw = {}
        dev = getattr(x, "device", None)
        if dev is not None:
            kw["device"] = dev
        return xp.asarray(float(e), dtype=x.dtype, **kw)
    if e.dtype != x.dtype:
        return xp.astype(e, x.dtype)
    return e
