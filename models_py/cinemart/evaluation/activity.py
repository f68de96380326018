"""Ranking metrics split by how much the model knew about each user: where personalisation starts to pay.

A user's activity is the size of their *train* profile (the ratings the
model was fitted on), in the buckets below. Within a bucket the metrics are
those of `cinemart.evaluation.ranking` (same protocol, same per-user
definitions), averaged over the bucket's evaluated users (>= 1 relevant test
movie). A bucket without such a user is still reported, with n_users 0 and
no metrics, so a reader sees that it is empty rather than missing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cinemart.evaluation.ranking import per_user_metrics

#: (label, fewest train ratings, most train ratings or None for no upper bound), in order.
ACTIVITY_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-5", 1, 5), ("6-20", 6, 20), ("21-100", 21, 100), (">100", 101, None))

#: The metric columns of a bucket row, as in ranking_evaluation.
METRICS = ("precision", "recall", "ndcg", "ap")


def activity_bucket(n_train: np.ndarray) -> np.ndarray:
    """Index into ACTIVITY_BUCKETS of each train-profile size; -1 for 0 (no train rating: not evaluable)."""
    n_train = np.asarray(n_train, dtype=np.int64)
    bucket = np.full(n_train.shape, -1, dtype=np.int64)
    for i, (_, low, high) in enumerate(ACTIVITY_BUCKETS):
        bucket[(n_train >= low) & (n_train <= (np.iinfo(np.int64).max if high is None else high))] = i
    return bucket


def metrics_by_activity(top: np.ndarray, relevant: sp.csr_matrix, n_train: np.ndarray) -> list[dict]:
    """One dict per bucket of ACTIVITY_BUCKETS: label, order (1-based), bounds, n_users and the mean metrics (None when empty).

    `top` (n_users, k) and `relevant` are those `ranking_metrics` takes;
    `n_train[u]` is user u's number of train ratings.
    """
    per_user = per_user_metrics(top, relevant)
    bucket = activity_bucket(n_train)[per_user["users"]]
    rows = []
    for i, (label, low, high) in enumerate(ACTIVITY_BUCKETS):
        members = bucket == i
        n_users = int(members.sum())
        rows.append({"activity_bucket": label, "bucket_order": i + 1, "min_train_ratings": low, "max_train_ratings": high,
                     "n_users": n_users,
                     **{m: float(per_user[m][members].mean()) if n_users else None for m in METRICS}})
    return rows
