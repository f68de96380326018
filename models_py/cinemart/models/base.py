"""The one contract every model in `cinemart.models` meets: fit ratings, hand back factors.

Explicit ALS, implicit ALS and popularity differ in how they learn, not in
what they produce: a user side and an item side whose dot product (plus biases
where the model has them) is the score. Evaluation and serving only ever see
`Factors`, so one scorer (`cinemart.serving.scoring`) ranks every model and the
SQL macros can repeat the same formula from the factor tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: Bytes of gathered factor rows per side and block in `pair_dots`.
PAIR_BLOCK_BYTES = 64 << 20


def pair_dots(left: np.ndarray, right: np.ndarray, left_rows: np.ndarray, right_rows: np.ndarray) -> np.ndarray:
    """float64 dot products left[left_rows[j]] . right[right_rows[j]], in blocks of pairs.

    Gathering both sides' rows for every pair at once costs 2 x pairs x k
    values: at 25M ratings and rank 100 that is 20 GB, which OOM-killed a
    25M build while it scored als_predictions. Blocks hold it to
    PAIR_BLOCK_BYTES per side; each dot product is the same sum either way.
    """
    out = np.empty(left_rows.size, dtype=np.float64)
    step = max(1, PAIR_BLOCK_BYTES // max(1, left.shape[1] * left.itemsize))
    for start in range(0, left_rows.size, step):
        block = slice(start, start + step)
        out[block] = np.einsum("ij,ij->i", left[left_rows[block]], right[right_rows[block]], dtype=np.float64)
    return out


@dataclass(frozen=True)
class Factors:
    """score(u, i) = global_mean + user_bias[u] + item_bias[i] + user_factors[u] . item_factors[i].

    Models without biases carry zeros, so the formula is the same for all.
    `item_factors` alone (no bias) is what "similar" means: cosine on taste,
    not on popularity or rating level.
    """

    user_factors: np.ndarray  # (n_users, k)
    item_factors: np.ndarray  # (n_items, k)
    user_bias: np.ndarray  # (n_users,)
    item_bias: np.ndarray  # (n_items,)
    global_mean: float = 0.0

    def __post_init__(self) -> None:
        p, q = self.user_factors, self.item_factors
        if p.ndim != 2 or q.ndim != 2 or p.shape[1] != q.shape[1]:
            raise ValueError(f"factor shapes do not match: users {p.shape}, items {q.shape}")
        if self.user_bias.shape != (p.shape[0],) or self.item_bias.shape != (q.shape[0],):
            raise ValueError(f"bias shapes {self.user_bias.shape}, {self.item_bias.shape} do not match "
                             f"{p.shape[0]} users and {q.shape[0]} items")

    @classmethod
    def unbiased(cls, user_factors: np.ndarray, item_factors: np.ndarray) -> Factors:
        """A pure dot-product model (implicit ALS, popularity)."""
        return cls(np.asarray(user_factors), np.asarray(item_factors), np.zeros(len(user_factors), np.float32),
                   np.zeros(len(item_factors), np.float32))

    def personalised(self) -> np.ndarray:
        """Per user, whether the model can personalise their list: False for an all-zero factor row with a zero bias.

        Such a row means the model learned nothing from the user: implicit
        ALS gives it to a user none of whose ratings counts as an
        interaction (threshold confidence, every rating below it: user 442
        of ml-latest-small). Their scores are then the movies' own (all zero
        for implicit ALS), the same for every such user, and a list ranked by
        them would be ties broken by movie_id presented as taste. Every engine
        applies this one rule and serves these users the popular_movies
        fallback, as a user without a factor row: the
        materialized lists (`cinemart.warehouse.ranking_tables`,
        `cinemart.spark.serving`), the SQL serving macros (`personalised_user`,
        macros/portability/portable_sql.sql) and fold-in.
        """
        return self.user_factors.any(axis=1) | (self.user_bias != 0)

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """float64 scores of (user, item) index pairs, summed in the serving macros' order."""
        scores = pair_dots(self.user_factors, self.item_factors, users, items)
        scores += self.item_bias[items]
        scores += self.user_bias[users]
        scores += self.global_mean
        return scores

    @property
    def n_users(self) -> int:
        return int(self.user_factors.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_factors.shape[0])


class FactorModel(Protocol):
    """A trainer: dense-index rating triples in, `Factors` out."""

    def fit_factors(self, user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray,
                    n_users: int, n_items: int) -> Factors: ...
