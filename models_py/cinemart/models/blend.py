"""A weighted blend of EASE and implicit ALS, as one `Factors` model.

EASE and implicit ALS err differently: EASE scores from item-item weights
learned in closed form, ALS from a low-rank taste space. On ml-latest-small's
validation fold a quarter EASE, three quarters ALS ranks better than either
(docs/models-and-evaluation.md). A linear blend of two dot-product models is
itself one: the user side is the two user rows side by side, each scaled by
its weight over its model's score scale, and the item side the two item rows:

    score(u, j) = w / s_e * ease(u, j) + (1 - w) / s_a * als(u, j)

The scale s of a model is the root mean square of its scores over every
(user, movie) pair, from the factors alone (||P Q'||_F^2, `_sum_of_squared_scores`).
It puts the two scores on one footing whatever their units, so the weight
means the same on every fit and both engines compute it from the same factor
tables. Biases are left out: EASE's -inf marks movies outside its scope,
which the ALS half still scores; the blend's biases are zero. A user both
halves have an all-zero row for stays all zero (`Factors.personalised`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cinemart.models.base import Factors
from cinemart.validation import require_number

#: The weights of EASE the blend tries on the validation fold (0 and 1 are the two models themselves,
#: judged as such).
BLEND_WEIGHTS = (0.25, 0.5, 0.75)


#: Rows per block when a side is read in float64 (a whole float64 copy of EASE's users x m side would double
#: the blend's peak memory).
GRAM_BLOCK_ROWS = 4096


def _nonzero_rows(side: np.ndarray) -> np.ndarray:
    """The rows of `side` with a non-zero entry, found a block at a time: all-zero rows add nothing to any
    score, and EASE's item side is zero outside the movies it keeps (98% of them at 25M ratings)."""
    keep = np.concatenate([side[start:start + GRAM_BLOCK_ROWS].any(axis=1)
                           for start in range(0, side.shape[0], GRAM_BLOCK_ROWS)] or [np.empty(0, bool)])
    return side[keep] if not keep.all() else side


def _gram(side: np.ndarray) -> np.ndarray:
    """side' side in float64, a block of rows at a time."""
    gram = np.zeros((side.shape[1], side.shape[1]))
    for start in range(0, side.shape[0], GRAM_BLOCK_ROWS):
        block = np.asarray(side[start:start + GRAM_BLOCK_ROWS], dtype=np.float64)
        gram += block.T @ block
    return gram


def _sum_of_squared_scores(users: np.ndarray, items: np.ndarray) -> float:
    """||users items'||_F^2 in float64, by the cheaper of two exact routes.

    trace((P'P)(Q'Q)) costs (users + items) m^2 for m columns; the scores
    themselves, with the user rows as a sparse matrix, nnz(P) x items (the
    caller drops all-zero item rows). EASE's user rows are a user's liked
    movies among the m it keeps (about 1% of them on ml-latest-small, where m
    is 5,700 and the grams cost 2e11 multiply-adds against 2e8 for the
    scores); implicit ALS's are dense and narrow, where the grams win.
    """
    nnz = sum(int(np.count_nonzero(users[start:start + GRAM_BLOCK_ROWS]))
              for start in range(0, users.shape[0], GRAM_BLOCK_ROWS))
    m = users.shape[1]
    if nnz * items.shape[0] >= (users.shape[0] + items.shape[0]) * m * m:
        return float(np.einsum("ij,ji->", _gram(users), _gram(items)))
    items_t = np.ascontiguousarray(np.asarray(items, dtype=np.float64).T)
    total = 0.0
    for start in range(0, users.shape[0], GRAM_BLOCK_ROWS):
        scores = np.asarray(sp.csr_matrix(np.asarray(users[start:start + GRAM_BLOCK_ROWS], np.float64)) @ items_t)
        total += float(np.einsum("ij,ij->", scores, scores))
    return total


def score_scale(factors: Factors) -> float:
    """Root mean square of user_factors . item_factors over all pairs (1.0 for an all-zero model)."""
    total = _sum_of_squared_scores(factors.user_factors, _nonzero_rows(factors.item_factors))
    scale = np.sqrt(max(total, 0.0) / max(1, factors.n_users * factors.n_items))
    return float(scale) if scale > 0 else 1.0


@dataclass(frozen=True)
class BlendWeights:
    """What multiplies each half's user rows: ease_weight / ease_scale and (1 - ease_weight) / implicit_scale."""

    ease_weight: float
    ease_scale: float
    implicit_scale: float

    def __post_init__(self) -> None:
        require_number("ease_weight", self.ease_weight, lambda v: 0 < v < 1, "strictly between 0 and 1")

    @property
    def ease_factor(self) -> float:
        return self.ease_weight / self.ease_scale

    @property
    def implicit_factor(self) -> float:
        return (1.0 - self.ease_weight) / self.implicit_scale

    @classmethod
    def of(cls, ease: Factors, implicit: Factors, ease_weight: float) -> BlendWeights:
        return cls(float(ease_weight), score_scale(ease), score_scale(implicit))


def _side_by_side(left: np.ndarray, right: np.ndarray, factors: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """[left * factors[0], right * factors[1]] in float32, each half written once into the result.

    np.hstack of scaled copies would allocate each half twice over: at 25M ratings EASE's user half is
    160,000 x 880 floats (560 MB), and the copies and their page faults made the blend's user rows 3.4 s
    of one core per blend. The products are float32 by float32, as before, so the values are the same.
    """
    left, right = np.asarray(left, np.float32), np.asarray(right, np.float32)
    out = np.empty((left.shape[0], left.shape[1] + right.shape[1]), np.float32)
    for part, factor, columns in ((left, factors[0], slice(0, left.shape[1])),
                                  (right, factors[1], slice(left.shape[1], None))):
        np.multiply(part, np.float32(factor), out=out[:, columns])
    return out


def blend_user_rows(weights: BlendWeights, ease_rows: np.ndarray, implicit_rows: np.ndarray) -> np.ndarray:
    """The blend's user rows from each half's (fitted or folded-in) rows, float32."""
    return _side_by_side(ease_rows, implicit_rows, (weights.ease_factor, weights.implicit_factor))


def blend_item_rows(ease: Factors, implicit: Factors) -> np.ndarray:
    """The blend's item rows: EASE's and ALS's side by side, float32."""
    return _side_by_side(ease.item_factors, implicit.item_factors)


def blend(ease: Factors, implicit: Factors, ease_weight: float,
          scales: tuple[float, float] | None = None) -> tuple[Factors, BlendWeights]:
    """The blend of two fits on the same users and movies (same index order), and the weights it used.

    `scales`: the halves' `score_scale`s, when the caller already has them (the validation fold tries every
    weight in BLEND_WEIGHTS on the same two fits, and each scale reads a whole side)."""
    if ease.user_factors.shape[0] != implicit.user_factors.shape[0] or ease.n_items != implicit.n_items:
        raise ValueError(f"the blend's halves cover different users or movies: EASE {ease.n_users} x "
                         f"{ease.n_items}, implicit ALS {implicit.n_users} x {implicit.n_items}")
    weights = BlendWeights(float(ease_weight), *scales) if scales is not None else \
        BlendWeights.of(ease, implicit, ease_weight)
    return Factors(blend_user_rows(weights, ease.user_factors, implicit.user_factors), blend_item_rows(ease, implicit),
                   np.zeros(ease.n_users, np.float32), np.zeros(ease.n_items, np.float32)), weights
