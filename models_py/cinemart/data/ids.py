"""MovieLens ids <-> dense 0-based indices.

The solvers work on dense indices; the tables speak MovieLens ids. Keeping the
mapping in one sorted array makes it deterministic (same ids -> same indices)
and lets unknown ids be detected instead of silently aliased.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IdIndex:
    ids: np.ndarray  # sorted, unique int64 MovieLens ids; position = dense index

    @classmethod
    def from_ids(cls, *id_arrays: np.ndarray) -> IdIndex:
        return cls(np.unique(np.concatenate([np.asarray(a, dtype=np.int64) for a in id_arrays])))

    def __len__(self) -> int:
        return int(self.ids.size)

    def encode(self, external: np.ndarray) -> np.ndarray:
        """Dense int32 indices; -1 where an id is not in the index."""
        external = np.asarray(external, dtype=np.int64)
        pos = np.searchsorted(self.ids, external)
        pos_clipped = np.minimum(pos, max(len(self) - 1, 0))
        found = (pos < len(self)) & (self.ids[pos_clipped] == external) if len(self) else np.zeros(external.shape, bool)
        return np.where(found, pos_clipped, -1).astype(np.int32)

    def decode(self, dense: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(dense)]
