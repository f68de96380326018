"""MovieLens ids <-> dense 0-based indices.

The solvers work on dense indices; the tables speak MovieLens ids. Keeping the
mapping in one sorted array makes it deterministic (same ids -> same indices)
and lets unknown ids be detected instead of silently aliased.

MovieLens ids are small integers (users 1..n, movies up to a few hundred
thousand), so both directions use a table over the id span when it is small:
a presence mask instead of sorting every rating's id, and a lookup instead of
a binary search per rating. At 25M ratings that took a build's models ~6 s
per index built and encoded; ids spread wider fall back to sort and search.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Widest id span (max - min + 1) given a lookup table: 64 MiB of int32.
DENSE_SPAN_LIMIT = 1 << 24


def _span(arrays: list[np.ndarray]) -> tuple[int, int] | None:
    """(lowest id, span) of the non-empty `arrays` when the span allows a table, else None."""
    filled = [a for a in arrays if a.size]
    if not filled:
        return None
    low = min(int(a.min()) for a in filled)
    span = max(int(a.max()) for a in filled) - low + 1
    return (low, span) if span <= DENSE_SPAN_LIMIT else None


@dataclass(frozen=True)
class IdIndex:
    ids: np.ndarray  # sorted, unique int64 MovieLens ids; position = dense index

    @classmethod
    def from_ids(cls, *id_arrays: np.ndarray) -> IdIndex:
        arrays = [np.asarray(a, dtype=np.int64) for a in id_arrays]
        dense = _span(arrays)
        if dense is None:
            return cls(np.unique(np.concatenate(arrays)) if arrays else np.empty(0, np.int64))
        low, span = dense
        present = np.zeros(span, dtype=bool)
        for a in arrays:
            present[a - low] = True
        return cls(np.flatnonzero(present) + low)

    def __len__(self) -> int:
        return int(self.ids.size)

    @cached_property
    def _table(self) -> tuple[int, np.ndarray] | None:
        """(lowest id, int32 dense index per id offset, -1 for absent ids), when the span allows."""
        dense = _span([self.ids])
        if dense is None:
            return None
        low, span = dense
        table = np.full(span, -1, dtype=np.int32)
        table[self.ids - low] = np.arange(self.ids.size, dtype=np.int32)
        return low, table

    def encode(self, external: np.ndarray) -> np.ndarray:
        """Dense int32 indices; -1 where an id is not in the index."""
        external = np.asarray(external, dtype=np.int64)
        if not len(self):
            return np.full(external.shape, -1, dtype=np.int32)
        if self._table is not None:
            low, table = self._table
            offset = external - low
            inside = (offset >= 0) & (offset < table.size)
            if inside.all():
                return table[offset]
            found = np.full(external.shape, -1, dtype=np.int32)
            found[inside] = table[offset[inside]]
            return found
        pos = np.searchsorted(self.ids, external)
        pos_clipped = np.minimum(pos, len(self) - 1)
        found = (pos < len(self)) & (self.ids[pos_clipped] == external)
        return np.where(found, pos_clipped, -1).astype(np.int32)

    def decode(self, dense: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(dense)]
