"""The evaluation protocol outside dbt: a ratings file split exactly as int_ratings_split splits it.

Accuracy tests and benchmarks need the rows a dbt build would train and test
on without running a build; this is the protocol of
models/intermediate/int_ratings_split.sql (docs/models-and-evaluation.md):
  bucket = int(md5(f"{userId}-{movieId}-{seed}")[:8], 16) % 100, test if < 20;
  fold   = int(md5(f"{userId}-{movieId}-{seed}-fold")[:8], 16) % 5 for train.
Test rows whose user or movie never occurs in train are dropped (counted).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

from cinemart.data.fetch import REPO_DATA

# CINEMART_DATA_DIR, else the shipped release as `make run` (or the test suite) unpacks it.
ML_SMALL_DIR = Path(os.environ.get("CINEMART_DATA_DIR") or REPO_DATA / "ml-latest-small")
RATINGS_CSV = ML_SMALL_DIR / "ratings.csv"
SPLIT_SEED = 2020
TEST_PERCENT = 20
N_FOLDS = 5


def _md5_bucket(key: str, modulus: int) -> int:
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % modulus


@dataclass(frozen=True)
class Split:
    train_user: np.ndarray
    train_item: np.ndarray
    train_rating: np.ndarray
    train_fold: np.ndarray
    test_user: np.ndarray
    test_item: np.ndarray
    test_rating: np.ndarray
    n_users: int
    n_items: int
    n_test_dropped: int
    train_day: np.ndarray  # days since 1970 of each rating (time-aware explicit fits)
    test_day: np.ndarray


def load_split(path: Path = RATINGS_CSV, seed: int = SPLIT_SEED) -> Split:
    table = pacsv.read_csv(path)
    user_ids = table["userId"].to_numpy()
    movie_ids = table["movieId"].to_numpy()
    ratings = table["rating"].to_numpy().astype(np.float64)
    days = table["timestamp"].to_numpy() / 86_400.0
    keys = [f"{u}-{m}-{seed}" for u, m in zip(user_ids.tolist(), movie_ids.tolist())]
    is_test = np.array([_md5_bucket(k, 100) < TEST_PERCENT for k in keys])
    fold = np.array([_md5_bucket(k + "-fold", N_FOLDS) for k in keys])

    _, users = np.unique(user_ids, return_inverse=True)
    _, items = np.unique(movie_ids, return_inverse=True)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    train = ~is_test
    seen_user = np.bincount(users[train], minlength=n_users) > 0
    seen_item = np.bincount(items[train], minlength=n_items) > 0
    keep = is_test & seen_user[users] & seen_item[items]
    return Split(
        train_user=users[train],
        train_item=items[train],
        train_rating=ratings[train],
        train_fold=fold[train],
        test_user=users[keep],
        test_item=items[keep],
        test_rating=ratings[keep],
        n_users=n_users,
        n_items=n_items,
        n_test_dropped=int(is_test.sum() - keep.sum()),
        train_day=days[train],
        test_day=days[keep],
    )
