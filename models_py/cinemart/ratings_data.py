"""The split ratings as NumPy columns, and what every model run records of them.

dbt hands the Python models `int_ratings_split` (one row per clean rating with
its test flag and CV fold, assigned in SQL). This is that table as arrays plus
the id <-> index mappings, built once per model so no Python objects per row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from typing import Mapping

import numpy as np

from cinemart.indexing import IdIndex

SPLIT_COLUMNS = "user_id, movie_id, rating, is_test, coalesce(cv_fold, -1) as cv_fold"


@dataclass(frozen=True)
class SplitRatings:
    user_id: np.ndarray  # int64
    movie_id: np.ndarray  # int64
    rating: np.ndarray  # float64
    is_test: np.ndarray  # bool
    cv_fold: np.ndarray  # int32, -1 on test rows

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray]) -> SplitRatings:
        """From `relation.fetchnumpy()` of SPLIT_COLUMNS; rejects nulls and non-finite ratings.

        Rows are put in (user, movie) order: DuckDB's parallel scan order varies
        between runs, and float sums in a different order differ in the last
        bit, so sorting here is what makes the tables identical build to build.
        """
        arrays = {}
        for name, dtype in (("user_id", np.int64), ("movie_id", np.int64), ("rating", np.float64),
                            ("is_test", np.bool_), ("cv_fold", np.int32)):
            if name not in columns:
                raise ValueError(f"split ratings lack column {name!r}; expected {SPLIT_COLUMNS}")
            column = columns[name]
            if np.ma.isMaskedArray(column) and np.ma.getmaskarray(column).any():
                raise ValueError(f"split ratings column {name!r} has nulls")
            arrays[name] = np.asarray(np.ma.getdata(column), dtype=dtype)
        if not np.isfinite(arrays["rating"]).all():
            raise ValueError("split ratings hold NaN or infinite ratings")
        if arrays["rating"].size == 0:
            raise ValueError("no clean ratings to train on: every rating was quarantined or the file is empty")
        order = np.lexsort((arrays["movie_id"], arrays["user_id"]))
        return cls(**{name: column[order] for name, column in arrays.items()})

    @property
    def train(self) -> np.ndarray:
        return ~self.is_test

    @cached_property
    def fingerprint(self) -> str:
        """Row count + sha256 of the ratings (held in (user, movie) order): same data, same value.

        Cached: at 25M ratings the hash takes seconds and every run id needs it.
        """
        digest = hashlib.sha256()
        for column in (self.user_id, self.movie_id, self.rating, self.is_test):
            digest.update(np.ascontiguousarray(column).tobytes())
        return f"{self.rating.size}:{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class IndexedRatings:
    """A subset of ratings on dense indices, with the id indexes that decode them."""

    users: IdIndex
    movies: IdIndex
    user_idx: np.ndarray
    movie_idx: np.ndarray
    rating: np.ndarray

    @classmethod
    def build(cls, data: SplitRatings, rows: np.ndarray | slice = slice(None)) -> IndexedRatings:
        users = IdIndex.from_ids(data.user_id[rows])
        movies = IdIndex.from_ids(data.movie_id[rows])
        return cls(users, movies, users.encode(data.user_id[rows]), movies.encode(data.movie_id[rows]),
                   data.rating[rows])


def run_id(*parts: object) -> str:
    """A deterministic id for one training run: same data and settings, same id."""
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def library_versions() -> str:
    """JSON of the versions that determine the numbers, for the audit row."""
    names = ["cinemart", "numpy", "scipy", "numba", "implicit", "duckdb", "pyarrow", "dbt-core", "dbt-duckdb"]
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return json.dumps(versions, sort_keys=True)


TUNING_STRATEGIES = ("auto", "kfold", "sampled_holdout")


@dataclass(frozen=True)
class TuningPlan:
    """How a grid is scored: every fold on all train rows, or one fold on a user sample.

    Full k-fold CV costs k fits per configuration on all of train; past a few
    million ratings that dominates the build, so `auto` switches to a single
    validation fold on a random subset of users (all of each sampled user's
    ratings, so per-user counts and the ALS-WR scaling keep their shape).
    """

    strategy: str  # kfold | sampled_holdout
    rows: np.ndarray  # bool over all ratings: train rows used for tuning
    n_users: int

    @property
    def n_ratings(self) -> int:
        return int(self.rows.sum())


@dataclass(frozen=True)
class TuningPolicy:
    """dbt vars tuning_strategy (auto | kfold | sampled_holdout) and tuning_max_ratings."""

    strategy: str = "auto"
    max_ratings: int = 2_000_000

    def __post_init__(self) -> None:
        if self.strategy not in TUNING_STRATEGIES:
            raise ValueError(f"tuning_strategy {self.strategy!r} is not known; allowed: {', '.join(TUNING_STRATEGIES)}")
        if isinstance(self.max_ratings, bool) or not isinstance(self.max_ratings, int) or self.max_ratings < 1000:
            raise ValueError(f"tuning_max_ratings must be an integer >= 1000, got {self.max_ratings!r}")

    @classmethod
    def from_config(cls, values: Mapping[str, object]) -> TuningPolicy:
        return cls(strategy=values.get("tuning_strategy", "auto"),  # type: ignore[arg-type]
                   max_ratings=values.get("tuning_max_ratings", 2_000_000))  # type: ignore[arg-type]


def plan_tuning(data: SplitRatings, policy: TuningPolicy, seed: int) -> TuningPlan:
    """Resolve the policy against the train size: k-fold up to max_ratings, else a sampled holdout."""
    strategy, max_ratings = policy.strategy, policy.max_ratings
    train = data.train
    n_train = int(train.sum())
    if strategy == "kfold" or (strategy == "auto" and n_train <= max_ratings):
        return TuningPlan("kfold", train, int(np.unique(data.user_id[train]).size))
    users, counts = np.unique(data.user_id[train], return_counts=True)
    order = np.random.default_rng(seed).permutation(users.size)
    taken = order[: max(1, int(np.searchsorted(np.cumsum(counts[order]), max_ratings, side="right")))]
    rows = train & np.isin(data.user_id, users[taken])
    return TuningPlan("sampled_holdout", rows, int(taken.size))
