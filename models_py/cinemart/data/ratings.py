"""The split ratings as NumPy columns, and what every model run records of them.

dbt hands the Python models `int_ratings_split` (one row per clean rating with
its test flag and CV fold, assigned in SQL). This is that table as arrays plus
the id <-> index mappings, built once per model so no Python objects per row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

import numpy as np

from cinemart.data.ids import IdIndex

SPLIT_COLUMNS = ("user_id, movie_id, rating, is_test, coalesce(cv_fold, -1) as cv_fold, is_after_cut, "
                 "cast(epoch(rated_at) / 86400 as float) as rated_day, play_count")
#: What an interaction without a rating (implicit feedback: plays, purchases) counts as. The top of the star
#: scale, so every rule that asks whether a user liked a movie (relevance, EASE's and popularity's positives,
#: "because you liked") says yes: on such data each held-out interaction is relevant. The explicit model, the
#: one thing that would read it as a star value, is not built on such data.
INTERACTION_RATING = 5.0
#: The CV fold of train that tuning and model selection hold out (never the test part).
VALIDATION_FOLD = 0
#: The parts a model is judged on, each a (fit rows, held-out rows) pair of `SplitRatings.part_rows`:
#: the random split's test part, its validation fold, and the temporal protocol's part after the cut.
PARTS = ("test", "validation", "temporal")


def _in_pair_order(user_id: np.ndarray, movie_id: np.ndarray) -> bool:
    """Whether the rows are already in strictly increasing (user, movie) order."""
    user_step = np.diff(user_id)
    return bool(((user_step > 0) | ((user_step == 0) & (np.diff(movie_id) > 0))).all())


@dataclass(frozen=True)
class SplitRatings:
    user_id: np.ndarray  # int64
    movie_id: np.ndarray  # int64
    rating: np.ndarray  # float64
    is_test: np.ndarray  # bool
    cv_fold: np.ndarray  # int32, -1 on test rows
    is_after_cut: np.ndarray  # bool: the temporal protocol's test part (int_ratings_split)
    rated_day: np.ndarray | None = None  # float32 days since 1970 (time-aware explicit fits); None if not read
    play_count: np.ndarray | None = None  # float32 plays on implicit feedback; None on rated data

    @property
    def implicit(self) -> bool:
        """Whether these are interactions without ratings (own data with no rating column)."""
        return self.play_count is not None

    @property
    def counted(self) -> bool:
        """Whether implicit feedback has play counts that tell interactions apart (some count is not 1)."""
        return self.play_count is not None and bool((self.play_count != 1).any())

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray]) -> SplitRatings:
        """From `relation.fetchnumpy()` of SPLIT_COLUMNS; rejects nulls and non-finite ratings.

        Implicit feedback (every rating null, every play_count set) becomes
        INTERACTION_RATING ratings with their play counts.

        Rows are put in (user, movie) order: DuckDB's parallel scan order varies
        between runs, and float sums in a different order differ in the last
        bit, so sorting here is what makes the tables identical build to build.
        """
        columns = dict(columns)
        plays = columns.pop("play_count", None)
        if plays is not None and plays.size and np.ma.getmaskarray(columns.get("rating", plays)).all():
            if np.ma.getmaskarray(plays).any():
                raise ValueError("split interactions without ratings lack play_count on some rows")
            columns["rating"] = np.full(plays.size, INTERACTION_RATING)
            columns["play_count"] = np.asarray(np.ma.getdata(plays), dtype=np.float32)
        arrays = {}
        for name, dtype in (("user_id", np.int64), ("movie_id", np.int64), ("rating", np.float64),
                            ("is_test", np.bool_), ("cv_fold", np.int32), ("is_after_cut", np.bool_)):
            if name not in columns:
                raise ValueError(f"split ratings lack column {name!r}; expected {SPLIT_COLUMNS}")
            column = columns[name]
            if np.ma.isMaskedArray(column) and np.ma.getmaskarray(column).any():
                raise ValueError(f"split ratings column {name!r} has nulls")
            arrays[name] = np.asarray(np.ma.getdata(column), dtype=dtype)
        if "play_count" in columns:
            arrays["play_count"] = columns["play_count"]
        if "rated_day" in columns:
            day = columns["rated_day"]
            if np.ma.isMaskedArray(day) and np.ma.getmaskarray(day).any():
                raise ValueError("split ratings column 'rated_day' has nulls")
            arrays["rated_day"] = np.asarray(np.ma.getdata(day), dtype=np.float32)
        if not np.isfinite(arrays["rating"]).all():
            raise ValueError("split ratings hold NaN or infinite ratings")
        if arrays["rating"].size == 0:
            raise ValueError("no clean ratings to train on: every rating was quarantined or the file is empty")
        if _in_pair_order(arrays["user_id"], arrays["movie_id"]):  # DuckDB sorted them: 8 s of lexsort saved at 25M
            return cls(**arrays)
        order = np.lexsort((arrays["movie_id"], arrays["user_id"]))
        return cls(**{name: column[order] for name, column in arrays.items()})

    @property
    def train(self) -> np.ndarray:
        return ~self.is_test

    def part_rows(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(fit rows, held-out rows): train and test; ('validation') train without VALIDATION_FOLD and that fold;
        ('temporal') the ratings up to the temporal cut and those after it."""
        if part == "test":
            return self.train, self.is_test
        if part == "temporal":
            return ~self.is_after_cut, self.is_after_cut
        if part == "validation":
            held_out = self.train & (self.cv_fold == VALIDATION_FOLD)
            return self.train & ~held_out, held_out
        raise ValueError(f"unknown evaluation part {part!r}; allowed: {', '.join(PARTS)}")

    def days(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray | None:
        """The rows' days (None when the split was read without them: a time-aware fit then says so)."""
        return None if self.rated_day is None else self.rated_day[rows]

    @cached_property
    def fingerprint(self) -> str:
        """Row count + sha256 of the ratings with their splits, CV fold and day (in (user, movie) order).

        The folds are in: a different fold assignment tunes a different model.
        Cached: at 25M ratings the hash takes seconds and every run id needs it.
        """
        digest = hashlib.sha256()
        for column in (self.user_id, self.movie_id, self.rating, self.is_test, self.cv_fold, self.is_after_cut,
                       *(column for column in (self.rated_day, self.play_count) if column is not None)):
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
    play_count: np.ndarray | None = None  # implicit feedback's plays (SplitRatings.play_count)

    @classmethod
    def build(cls, data: SplitRatings, rows: np.ndarray | slice = slice(None)) -> IndexedRatings:
        users = IdIndex.from_ids(data.user_id[rows])
        movies = IdIndex.from_ids(data.movie_id[rows])
        return cls(users, movies, users.encode(data.user_id[rows]), movies.encode(data.movie_id[rows]),
                   data.rating[rows], None if data.play_count is None else data.play_count[rows])
