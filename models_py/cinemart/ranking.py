"""Ranking models that all speak implicit's ``recommend`` / ``similar_items`` API.

Three scorers end up as ``implicit.cpu.als.AlternatingLeastSquares`` objects so
one retrieval path (``cinemart.retrieval``) serves every model:

* **Implicit ALS** (Hu, Koren & Volinsky 2008) fitted on a confidence matrix
  derived from the ratings. Ratings are treated as "watched" signals: on
  MovieLens *which* films a user rated predicts the held-out top-10 far better
  than *how* they rated them (measured numbers in ``ranking_tuning.PRESETS``).
* **Popularity**: one factor, user = 1, item = number of train ratings. The
  baseline every personalised model has to beat.
* **Explicit biased ALS** (``cinemart.als.ExplicitALS``) wrapped with augmented
  vectors so that ``recommend`` scores are predicted ratings.

``implicit.cpu.als`` is used directly (rather than the ``implicit.als``
factory with ``use_gpu=False``) because that class is CPU-only by
construction; the factory's GPU probing is noise in a warehouse build.

Determinism: the initial factors come from ``random_state``; each ALS half-step
solves every user (item) independently given the other side, so the thread
count changes scheduling but not arithmetic. The only shared reduction is
``Y^T Y``, computed by BLAS, which is why fitting always runs under
``threadpool_limits(1, "blas")`` (multithreaded OpenBLAS is also ~10x slower
here, as implicit itself warns). The tests check that two fits with the same
seed give bit-identical factors with ``num_threads`` 1 and 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

#: How a rating becomes an implicit-feedback confidence (before ``alpha``).
#: binary: every rating counts 1; linear: the rating value itself;
#: threshold: only ratings >= ``threshold`` count, each as 1 (others dropped).
CONFIDENCE_KINDS = ("binary", "linear", "threshold")


def confidence(ratings: np.ndarray, kind: str, threshold: float = 4.0) -> np.ndarray:
    """Per-rating confidence; 0 means "not an interaction" (dropped from the CSR)."""
    ratings = np.asarray(ratings, dtype=np.float32)
    if kind == "binary":
        return np.ones_like(ratings)
    if kind == "linear":
        if ratings.size and ratings.min() <= 0:
            raise ValueError(
                f"linear confidence needs positive ratings, got min {ratings.min()}"
            )
        return ratings.copy()
    if kind == "threshold":
        return (ratings >= threshold).astype(np.float32)
    raise ValueError(f"unknown confidence kind {kind!r}; allowed: {', '.join(CONFIDENCE_KINDS)}")


def as_index_array(name: str, values: np.ndarray, bound: int) -> np.ndarray:
    """``values`` as a 1-D int64 array of indices in ``0..bound-1``, or a ValueError."""
    array = np.asarray(values)
    # an empty Python list arrives as float64; only non-empty arrays must be integer
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D integer array, got dtype {array.dtype}, shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= bound):
        raise ValueError(f"{name} must lie in 0..{bound - 1}, got {array.min()}..{array.max()}")
    return array.astype(np.int64, copy=False)


def interaction_matrix(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    values: np.ndarray,
    n_users: int,
    n_items: int,
) -> sp.csr_matrix:
    """Users x items float32 CSR with zero values removed.

    Duplicated (user, item) pairs are rejected rather than summed: upstream
    SQL guarantees one rating per pair, so a duplicate means a broken join and
    summing would silently double a confidence.
    """
    user_idx = as_index_array("user_idx", user_idx, n_users)
    item_idx = as_index_array("item_idx", item_idx, n_items)
    values = np.asarray(values, dtype=np.float32)
    if not (user_idx.shape == item_idx.shape == values.shape):
        raise ValueError(
            f"user_idx, item_idx and values must have equal length, got shapes "
            f"{user_idx.shape}, {item_idx.shape}, {values.shape}"
        )
    matrix = sp.csr_matrix((values, (user_idx, item_idx)), shape=(n_users, n_items))
    if matrix.nnz != user_idx.size:  # the constructor sums duplicates
        raise ValueError(f"{user_idx.size - matrix.nnz} duplicated (user, item) pairs")
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


@dataclass(frozen=True)
class ImplicitParams:
    """Hyper-parameters of the implicit ALS model.

    Defaults are the validation winner of ``ranking_tuning.PRESETS["default"]``
    on ml-latest-small; ``threshold`` matches the ">= 4 is relevant" rule of
    the evaluation so the model learns exactly what it is scored on.
    """

    factors: int = 128
    regularization: float = 40.0
    alpha: float = 8.0
    iterations: int = 10
    confidence: str = "threshold"
    threshold: float = 4.0

    def __post_init__(self) -> None:
        for name in ("factors", "iterations"):
            value = getattr(self, name)
            # bool is an int subclass: factors=True is a bug, not one factor
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        _require_number("regularization", self.regularization, lambda v: v >= 0, ">= 0")
        _require_number("alpha", self.alpha, lambda v: v > 0, "> 0")
        _require_number("threshold", self.threshold, lambda v: True, "")
        if self.confidence not in CONFIDENCE_KINDS:
            raise ValueError(
                f"unknown confidence kind {self.confidence!r}; "
                f"allowed: {', '.join(CONFIDENCE_KINDS)}"
            )


def _require_number(name: str, value: object, ok: Callable[[float], bool], allowed: str) -> None:
    is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not is_number or not np.isfinite(value) or not ok(value):
        raise ValueError(f"{name} must be a finite number {allowed}".rstrip() + f", got {value!r}")


def fit_implicit_als(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    params: ImplicitParams = ImplicitParams(),
    seed: int = 42,
    num_threads: int = 0,
) -> AlternatingLeastSquares:
    """Fit implicit ALS on ratings turned into confidences by ``params.confidence``.

    ``num_threads=0`` means all cores (implicit's convention); results do not
    depend on it (see module docstring).
    """
    values = confidence(ratings, params.confidence, params.threshold)
    matrix = interaction_matrix(user_idx, item_idx, values, n_users, n_items)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=int(params.factors),
            regularization=float(params.regularization),
            alpha=float(params.alpha),
            iterations=int(params.iterations),
            random_state=seed,
            num_threads=num_threads,
        )
        model.fit(matrix, show_progress=False)
    return model


def fixed_factor_model(
    user_factors: np.ndarray, item_factors: np.ndarray, num_threads: int = 0
) -> AlternatingLeastSquares:
    """An implicit model carrying externally computed factors (score = dot product).

    Lets any factorisation reuse implicit's batched, filtered top-k kernels.
    """
    if user_factors.ndim != 2 or item_factors.ndim != 2 or user_factors.shape[1] != item_factors.shape[1]:
        raise ValueError(
            f"factor shapes do not match: users {user_factors.shape}, items {item_factors.shape}"
        )
    # constructed under the limit so implicit's one-time "multithreaded BLAS"
    # warning stays quiet: every BLAS-heavy call in cinemart sets the limit itself
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=user_factors.shape[1], num_threads=num_threads)
    model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    return model


def fit_popularity(
    item_idx: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    min_rating: float | None = 4.0,
    num_threads: int = 0,
) -> AlternatingLeastSquares:
    """Popularity as a rank-1 model: score(u, i) = number of train ratings of i.

    ``min_rating`` counts only ratings at or above it (None = all ratings).
    Counting ratings >= 4 won on the validation split (NDCG@10 0.117 vs 0.114
    for all ratings; 3.0 / 3.5 / 4.5 gave 0.115 / 0.119 / 0.116, all within
    noise), and it matches what the evaluation calls relevant.
    """
    item_idx = as_index_array("item_idx", item_idx, n_items)
    ratings = np.asarray(ratings)
    if item_idx.shape != ratings.shape:
        raise ValueError(f"item_idx and ratings differ in shape: {item_idx.shape} vs {ratings.shape}")
    counted = item_idx if min_rating is None else item_idx[ratings >= min_rating]
    counts = np.bincount(counted, minlength=n_items).astype(np.float32)
    return fixed_factor_model(
        np.ones((n_users, 1), dtype=np.float32), counts[:, None], num_threads
    )


class ExplicitFactors(Protocol):
    """What ``cinemart.als.ExplicitALS`` exposes after ``fit``."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_mean: float


class ExplicitFactorModel(AlternatingLeastSquares):
    """Explicit biased-MF factors behind implicit's ``recommend``/``similar_items``.

    Augmented vectors user = [p_u, 1, mu + b_u], item = [q_i, b_i, 1] make the
    dot product mu + b_u + b_i + p_u.q_i, the predicted rating. mu + b_u is
    constant per user, so it does not change any ranking; it is there so
    top-N scores read in rating units (unclipped: clipping at 5.0 would create
    ties exactly at the top of the list). ``similar_items`` uses cosine on q_i alone:
    the bias columns encode popularity and rating level, not taste, and would
    make every well-rated film "similar" to every other one.

    Fitting or recomputing users through implicit would treat these factors as
    implicit ones, so those entry points raise.
    """

    def __init__(self, fitted: ExplicitFactors, num_threads: int = 0) -> None:
        p = np.asarray(fitted.user_factors, dtype=np.float32)
        q = np.asarray(fitted.item_factors, dtype=np.float32)
        b_u = np.asarray(fitted.user_bias, dtype=np.float32)
        b_i = np.asarray(fitted.item_bias, dtype=np.float32)
        if p.ndim != 2 or q.ndim != 2 or p.shape[1] != q.shape[1]:
            raise ValueError(f"factor shapes do not match: users {p.shape}, items {q.shape}")
        if b_u.shape != (p.shape[0],) or b_i.shape != (q.shape[0],):
            raise ValueError(
                f"bias shapes {b_u.shape}, {b_i.shape} do not match "
                f"{p.shape[0]} users and {q.shape[0]} items"
            )
        with threadpool_limits(1, "blas"):  # as in fixed_factor_model
            super().__init__(factors=p.shape[1] + 2, num_threads=num_threads)
        mu = np.float32(fitted.global_mean)
        self.user_factors = np.column_stack([p, np.ones_like(b_u), mu + b_u])
        self.item_factors = np.column_stack([q, b_i, np.ones_like(b_i)])
        self.taste_model = fixed_factor_model(np.zeros((0, q.shape[1])), q, num_threads)

    def similar_items(
        self,
        itemid,
        N: int = 10,
        recalculate_item: bool = False,
        item_users=None,
        filter_items=None,
        items=None,
    ):
        if recalculate_item:
            raise NotImplementedError("explicit factors cannot be recalculated from implicit data")
        return self.taste_model.similar_items(itemid, N=N, filter_items=filter_items, items=items)

    def fit(self, user_items, show_progress: bool = True, callback=None):
        raise NotImplementedError("fit the explicit model with cinemart.als.ExplicitALS")

    def recalculate_user(self, userid, user_items):
        raise NotImplementedError("explicit factors cannot be recalculated from implicit data")

    def recalculate_item(self, itemid, item_users):
        raise NotImplementedError("explicit factors cannot be recalculated from implicit data")


def item_embeddings(model: AlternatingLeastSquares) -> np.ndarray:
    """The item vectors whose cosine defines "similar" for ``model``."""
    if isinstance(model, ExplicitFactorModel):
        return model.taste_model.item_factors
    return model.item_factors
