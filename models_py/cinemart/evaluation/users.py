"""Which test users the ranking evaluation scores: all of them, or a seeded sample past a cap.

Judging a model means ranking the whole catalogue for every evaluated user,
so its cost grows with users x movies, not with ratings: at 100M ratings
(650k users, 250k movies) each model's lists cost as much as the served
recommendations themselves. A precision@10 averaged over 50,000 users has a
standard error of about 0.001, far below the gaps between the models it
picks from, so past `ranking_eval_max_users` eligible users the evaluation
scores a sample of them, and ranking_evaluation says so (is_user_sample,
n_users_eligible). Both engines call `evaluation_users` on the same sorted
ids with the same seed, so they judge the same users.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EvaluationUsers:
    """The users evaluated (`ids`, sorted) out of `n_eligible` (users with a relevant warm test movie)."""

    ids: np.ndarray
    n_eligible: int

    @property
    def is_sample(self) -> bool:
        return self.ids.size < self.n_eligible


def evaluation_users(eligible_ids: np.ndarray, max_users: int, seed: int) -> EvaluationUsers:
    """All `eligible_ids` when there are at most `max_users`, else `max_users` of them drawn without replacement.

    The draw depends only on the sorted ids and the seed, never on row order.
    """
    eligible = np.unique(np.asarray(eligible_ids, dtype=np.int64))
    if eligible.size <= max_users:
        return EvaluationUsers(eligible, int(eligible.size))
    chosen = np.random.default_rng(seed).choice(eligible.size, size=max_users, replace=False)
    return EvaluationUsers(eligible[np.sort(chosen)], int(eligible.size))
