"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008), trained by the `implicit` library.

Ratings are treated as "watched" signals turned into confidences: on MovieLens
*which* films a user rated predicts the held-out top-10 far better than *how*
they rated them (measured numbers in ``cinemart.tuning.implicit.PRESETS``).
Only training goes through ``implicit``; the fitted factors leave as
``cinemart.models.base.Factors`` and are ranked by ``cinemart.serving.scoring``
like every other model, so nothing downstream depends on implicit's internals.

``implicit.cpu.als`` is used directly (rather than the ``implicit.als``
factory with ``use_gpu=False``) because that class is CPU-only by
construction; the factory's GPU probing is noise in a warehouse build.

Determinism: the initial factors come from ``random_state``; each ALS half-step
solves every user (item) independently given the other side, so the thread
count changes scheduling but not arithmetic. The only shared reduction is
``Y^T Y``, computed by BLAS, which is why fitting runs with one BLAS thread
(``cinemart.models.threads.cpu_slot``; multithreaded OpenBLAS is also
~10x slower here, as implicit itself warns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from cinemart.models.base import Factors
from cinemart.models.explicit_als import ALSDivergedError
from cinemart.models.threads import cpu_slot, threads_for
from cinemart.validation import index_array, require_int, require_number

#: How a rating becomes an implicit-feedback confidence (before ``alpha``).
#: binary: every rating counts 1; linear: the rating value itself;
#: threshold: only ratings >= ``threshold`` count, each as 1 (others dropped);
#: plays: log2(1 + play count), for interactions without ratings (Hu, Koren & Volinsky's log scaling, so a
#: film played 50 times does not drown the rest of the user's row; one play counts 1, as in binary; a
#: fractional count such as 0.5 hours stays positive, where 1 + ln(count) would turn negative).
CONFIDENCE_KINDS = ("binary", "linear", "threshold", "plays")


def confidence(ratings: np.ndarray, kind: str, threshold: float = 4.0,
               plays: np.ndarray | None = None) -> np.ndarray:
    """Per-rating confidence; 0 means "not an interaction" (dropped from the CSR).

    `plays`: the play counts of implicit feedback; without them (rated data, a folded-in person's ratings)
    every row counts as one play.
    """
    ratings = np.asarray(ratings, dtype=np.float32)
    if kind == "binary":
        return np.ones_like(ratings)
    if kind == "plays":
        if plays is None:
            return np.ones_like(ratings)
        return np.log2(1.0 + np.asarray(plays, dtype=np.float32)).astype(np.float32)
    if kind == "linear":
        if ratings.size and ratings.min() <= 0:
            raise ValueError(
                f"linear confidence needs positive ratings, got min {ratings.min()}"
            )
        return ratings.copy()
    if kind == "threshold":
        return (ratings >= threshold).astype(np.float32)
    raise ValueError(f"unknown confidence kind {kind!r}; allowed: {', '.join(CONFIDENCE_KINDS)}")


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
    user_idx = index_array("user_idx", user_idx, n_users)
    item_idx = index_array("item_idx", item_idx, n_items)
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

    Defaults are the validation winner of ``cinemart.tuning.implicit.PRESETS["default"]``
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
        require_int("factors", self.factors, 1)
        require_int("iterations", self.iterations, 1)
        require_number("regularization", self.regularization, lambda v: v >= 0, ">= 0")
        require_number("alpha", self.alpha, lambda v: v > 0, "> 0")
        require_number("threshold", self.threshold)
        if self.confidence not in CONFIDENCE_KINDS:
            raise ValueError(
                f"unknown confidence kind {self.confidence!r}; "
                f"allowed: {', '.join(CONFIDENCE_KINDS)}"
            )


def fit_implicit_als(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    params: ImplicitParams = ImplicitParams(),
    seed: int = 42,
    plays: np.ndarray | None = None,
) -> Factors:
    """Fit implicit ALS on ratings turned into confidences by ``params.confidence`` (`plays`: see `confidence`).

    Runs in the process's training slot with its thread budget; results do
    not depend on the thread count (see module docstring).
    """
    values = confidence(ratings, params.confidence, params.threshold, plays)
    matrix = interaction_matrix(user_idx, item_idx, values, n_users, n_items)
    with cpu_slot(threads_for(matrix.nnz * params.factors ** 2)) as threads:
        model = AlternatingLeastSquares(
            factors=int(params.factors),
            regularization=float(params.regularization),
            alpha=float(params.alpha),
            iterations=int(params.iterations),
            random_state=seed,
            num_threads=threads,
        )
        model.fit(matrix, show_progress=False)
    for side, factors in (("user", model.user_factors), ("movie", model.item_factors)):
        n_bad = int((~np.isfinite(factors).all(axis=1)).sum())
        if n_bad:
            raise non_finite_factors(side, n_bad, params)
    return Factors.unbiased(np.ascontiguousarray(model.user_factors), np.ascontiguousarray(model.item_factors))


def non_finite_factors(side: str, n_rows: int, params: ImplicitParams) -> ALSDivergedError:
    """The one-line error of an implicit fit that left `n_rows` NaN or infinite `side` rows, on both engines.

    Checked at the fit because nothing downstream agrees on such scores: the
    Python scorer never lists a non-finite score, while SQL sorts NaN first
    in `score desc`, so the tables and the serving macros would differ.
    """
    return ALSDivergedError(f"implicit ALS produced non-finite factors for {n_rows} {side}(s) with {params}; "
                            "increase regularization or lower alpha")


@dataclass(frozen=True)
class ImplicitALS:
    """`cinemart.models.base.FactorModel` for implicit ALS."""

    params: ImplicitParams = ImplicitParams()
    seed: int = 42

    def fit_factors(self, user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray,
                    n_users: int, n_items: int) -> Factors:
        return fit_implicit_als(user_idx, item_idx, ratings, n_users, n_items, self.params, self.seed)
