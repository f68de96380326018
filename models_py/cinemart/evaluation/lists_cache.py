"""Each model's top-k lists on the evaluation protocol, kept for the process's current split (both engines).

int_ranking_evaluation and int_ranking_evaluation_by_activity judge the same
fits (seeded, deterministic) on the same protocol. In one `dbt build` the
second reads the first's lists instead of refitting implicit ALS on train and
scoring every test user against the whole catalogue again for each model: at
25M ratings on DuckDB that second pass took longer than the rest of the
evaluation, and on Spark it was the slowest model of the build's last minute.

Entries are keyed by the split (a fingerprint of its rows, plus whatever else
makes a list valid only in one place, such as the SparkSession) and, within
it, by the model, what identifies its fit and k. A new split empties the
cache and releases what it held. The lists are small (users x k); a separate
`dbt run` of either model, or a Python model submitted to its own cluster
job, computes its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Lists = TypeVar("Lists")


class ListsOnce(Generic[Lists]):
    """Compute a list set at most once per (split, key); `release` frees the values of a split left behind."""

    def __init__(self, release: Callable[[Lists], None] = lambda lists: None) -> None:
        self._release = release
        self._lock = threading.Lock()
        self._split: Hashable | None = None
        self._lists: dict[Hashable, Lists] = {}

    def get(self, split: Hashable, key: Hashable, compute: Callable[[], Lists]) -> Lists:
        with self._lock:
            if split != self._split:
                for lists in self._lists.values():
                    self._release(lists)
                self._split, self._lists = split, {}
            if key not in self._lists:
                self._lists[key] = compute()
            return self._lists[key]
