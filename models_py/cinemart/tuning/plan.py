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
