"""How a grid is scored at a given data size: k-fold CV, or one fold on a user sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from cinemart.data.ratings import SplitRatings
from cinemart.validation import require_int

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

    strategy: str
    max_ratings: int

    def __post_init__(self) -> None:
        if self.strategy not in TUNING_STRATEGIES:
            raise ValueError(f"tuning_strategy {self.strategy!r} is not known; allowed: {', '.join(TUNING_STRATEGIES)}")
        require_int("tuning_max_ratings", self.max_ratings, 1000)

    @classmethod
    def from_config(cls, values: Mapping[str, object]) -> TuningPolicy:
        """From vars already merged over `cinemart.settings.DEFAULTS`."""
        return cls(strategy=values["tuning_strategy"], max_ratings=values["tuning_max_ratings"])  # type: ignore[arg-type]


def samples_users(policy: TuningPolicy, n_train: int) -> bool:
    """Whether `policy` tunes on a user sample for a train part of `n_train` ratings (both engines)."""
    return policy.strategy == "sampled_holdout" or (policy.strategy == "auto" and n_train > policy.max_ratings)


def sample_users(users: np.ndarray, counts: np.ndarray, max_ratings: int, seed: int) -> np.ndarray:
    """The tuning sample: `users` (train user ids, sorted ascending) in a seeded random order, taken
    while their train ratings (`counts`, aligned) add up to at most `max_ratings` (at least one user).

    The one sampling rule of both engines: given the same per-user train counts and seed, the
    DuckDB and the Spark engine tune on the same users.
    """
    order = np.random.default_rng(seed).permutation(users.size)
    taken = order[: max(1, int(np.searchsorted(np.cumsum(counts[order]), max_ratings, side="right")))]
    return users[taken]


def plan_tuning(data: SplitRatings, policy: TuningPolicy, seed: int) -> TuningPlan:
    """Resolve the policy against the train size: k-fold up to max_ratings, else a sampled holdout."""
    train = data.train
    if not samples_users(policy, int(train.sum())):
        return TuningPlan("kfold", train, int(np.unique(data.user_id[train]).size))
    users, counts = np.unique(data.user_id[train], return_counts=True)
    taken = sample_users(users, counts, policy.max_ratings, seed)
    rows = train & np.isin(data.user_id, taken)
    return TuningPlan("sampled_holdout", rows, int(taken.size))
