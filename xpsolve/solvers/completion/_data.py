"""Observation layouts for matrix completion: one :class:`Side` per update direction.

A *side* groups the observed entries by the index whose factor row is being solved
for: the row side (entries grouped by row ``i``, used to update ``U``) and the
column side (grouped by column ``j``, used to update ``V``). Each side keeps

- a CSR structure on the host (``indptr``, ``idx`` = the other index, NumPy int64)
  for the Numba kernels, and the values in that order (in the input namespace);
- lazily, a *bucketed padded* layout for the generic (array-API) kernels: rows are
  sorted by their number of observations and cut into chunks, each padded to its
  own longest row, so padding stays small on long-tailed data and every temporary
  stays below a fixed budget.

Building the index structure is host-side set-up (outside the iteration loop);
the values never leave their namespace.
"""
from __future__ import annotations

import dataclasses

import numpy as np

#: Entries (x width) per temporary array of the generic kernels (about 32 MB in float64).
CHUNK_BUDGET = 1 << 22


@dataclasses.dataclass
class Chunk:
    """Rows ``rows`` of a side, padded to ``L`` entries (arrays in the solver's namespace)."""

    rows: object      # (B,) int row ids
    idx: object       # (B, L) int other-index per entry (0 on padding)
    pos: object       # (B, L) int position of the entry in CSR order (0 on padding)
    val: object       # (B, L) float values (0 on padding)
    mask: object      # (B, L) float 1 on entries, 0 on padding
    L: int
    B: int
    min_count: int


class Side:
    """Observations grouped by ``key`` (row or column index) for per-row least squares.

    Parameters
    ----------
    n_rows : int
        Number of factor rows on this side (``m`` for the row side, ``n`` for columns).
    key, other : numpy.ndarray of int64
        Host index arrays: the grouping index and the other index of every entry.
    values : array
        Observed values in the solver's namespace (same order as ``key``).
    xp, dev : namespace and device of ``values``.
    """

    def __init__(self, n_rows, key, other, values, xp, dev):
        perm = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=n_rows).astype(np.int64)
        self.n_rows = int(n_rows)
        self.nnz = int(key.shape[0])
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.idx = np.ascontiguousarray(other[perm]).astype(np.int64)
        self.counts = counts
        self.xp, self.dev = xp, dev
        self.perm = perm
        self.vals = xp.take(values, _to(perm, xp, dev), axis=0) if self.nnz else values
        self._chunks = {}

    # -------------------------------------------------------------- host views (Numba)
    def host_vals(self):
        """Values as a NumPy array (the Numba kernels' input; NumPy namespace only)."""
        return np.asarray(self.vals)

    # -------------------------------------------------------------- padded chunks (generic)
    def chunks(self, width, split=None):
        """Bucketed padded chunks; ``width`` = floats per entry in the kernel's temporaries.

        ``split`` (optional int): chunks never mix rows with fewer and with at least
        ``split`` observations (the sketch solver's per-row choice).
        """
        key = (int(width), split)
        if key not in self._chunks:
            self._chunks[key] = self._build_chunks(int(width), split)
        return self._chunks[key]

    def _build_chunks(self, width, split):
        xp, dev = self.xp, self.dev
        order = np.argsort(self.counts, kind="stable")
        cnt = self.counts[order]
        out, a, R = [], 0, len(order)
        while a < R:
            b = a + 1
            while b < R:
                L = cnt[b]
                if (b + 1 - a) * max(int(L), 1) * width > CHUNK_BUDGET:
                    break
                if split is not None and (cnt[a] < split) != (cnt[b] < split):
                    break
                b += 1
            rows = order[a:b]
            L = int(cnt[b - 1])
            ar = np.arange(L)
            mask = ar[None, :] < self.counts[rows][:, None]
            pos = np.where(mask, self.indptr[rows][:, None] + ar[None, :], 0)
            idx = self.idx[pos] if self.nnz else np.zeros_like(pos)
            pos_x = _to(pos, xp, dev)
            fdt = self.vals.dtype
            mask_x = xp.astype(_to(mask, xp, dev), fdt)
            if self.nnz and L:
                val = xp.reshape(xp.take(self.vals, xp.reshape(pos_x, (-1,)), axis=0),
                                 (len(rows), L)) * mask_x
            else:
                val = xp.zeros((len(rows), L), dtype=fdt, device=dev)
            out.append(Chunk(rows=_to(rows, xp, dev), idx=_to(idx, xp, dev), pos=pos_x,
                             val=val, mask=mask_x, L=L, B=len(rows), min_count=int(cnt[a])))
            a = b
        return out

    def inverse_order(self):
        """Index array putting concatenated chunk outputs back in row order."""
        if "inv" not in self._chunks:
            order = np.argsort(self.counts, kind="stable")
            self._chunks["inv"] = _to(np.argsort(order, kind="stable"), self.xp, self.dev)
        return self._chunks["inv"]


def _to(a, xp, dev):
    """Host integer/bool array -> namespace ``xp`` on ``dev`` (set-up only)."""
    return xp.asarray(a, device=dev) if dev is not None else xp.asarray(a)


def gather_rows(F, chunk, xp):
    """``F[chunk.idx]`` as a (B, L, k) array, zero on padding."""
    k = F.shape[1]
    flat = xp.take(F, xp.reshape(chunk.idx, (-1,)), axis=0)
    return xp.reshape(flat, (chunk.B, chunk.L, k)) * chunk.mask[:, :, None]


def assemble(side, parts, k, xp, dtype):
    """Concatenate chunk outputs (in count order) and put them back in row order."""
    if not parts:
        return xp.zeros((side.n_rows, k), dtype=dtype, device=side.dev)
    return xp.take(xp.concat(parts, axis=0), side.inverse_order(), axis=0)
