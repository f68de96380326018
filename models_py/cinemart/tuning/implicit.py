"""Grid search for implicit ALS on NDCG@10 over a validation split of TRAIN (`cinemart.tuning.ranking`).

Each grid point is fitted on train-minus-validation and ranked against the
validation rows; the winner is then refitted on all of train by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from cinemart.models.implicit_als import ImplicitParams, fit_implicit_als
from cinemart.tuning.grid import GridSpec
from cinemart.tuning.ranking import TuningResult, select_best, tune_ranking, validation_mask

__all__ = ["PRESETS", "GRID", "SAMPLED_DEFAULT_FACTORS", "grid_for_strategy", "validate_grid", "tune_implicit",
           "select_best", "validation_mask", "TuningResult"]

#: Grids for ``tune_implicit``. "default" (24 points) spans the optimum of each
#: confidence kind found by a wider exploratory search on ml-latest-small's
#: validation split (factors 16-256, regularization 0.01-80, alpha 0.25-16,
#: iterations 8-30; NDCG@10 on validation):
#:   threshold f=128 reg=40 a=8  0.198   (winner; f=256 0.198, f=64 0.192)
#:   linear    f=128 reg=40 a=2  0.185
#:   binary    f=256 reg=40 a=8  0.181
#:   implicit's own defaults (binary f=100 reg=0.01 a=1 it=15)  0.138
#: Iterations 8/15/30 moved NDCG by < 0.002, so the grid fixes 10, and alpha 4
#: never won. Strong regularisation with reg/alpha ~ 5 is what matters on a
#: data set this small.
#: Factors 16 is there for large catalogues with few ratings per movie, where
#: 128 factors overfit. On the synthetic 25M set (planted rank 10; random
#: 80/20 split, precision@10 on 20,000 test users, threshold, reg 40, alpha 8):
#: f=128 0.059, f=32 0.084, f=16 0.099, popularity 0.064; at 5M f=128 0.129,
#: f=16 0.190, popularity 0.082. On ml-latest-small f=128 keeps winning
#: (0.222 against 0.204 for f=16), so validation picks per data set.
#: "quick" is a 2-point smoke grid for CI. On a sampled holdout the default
#: grid leaves out its 128-factor points (`grid_for_strategy`).
PRESETS: dict[str, dict[str, list]] = {
    "default": {
        "factors": [16, 128],
        "regularization": [20.0, 40.0],
        "alpha": [2.0, 8.0],
        "iterations": [10],
        "confidence": ["binary", "linear", "threshold"],
    },
    "quick": {
        "factors": [32],
        "regularization": [10.0],
        "alpha": [2.0, 8.0],
        "iterations": [10],
        "confidence": ["threshold"],
    },
}


GRID = GridSpec(ImplicitParams)

#: The default grid's factor counts scored on a sampled holdout (train parts past tuning_max_ratings).
#: The sample holds a fraction of each movie's ratings (16,052 of 162,541 users at 25M), where 128 factors
#: overfit: on the synthetic 25M set's sample the best 128-factor point reached validation NDCG@10 0.086
#: against 0.117 for 16 factors, at 5x the fit time (93 s of the grid's 127 s of fits).
SAMPLED_DEFAULT_FACTORS = (16,)


def grid_for_strategy(grid_name: str, grid: Mapping[str, Sequence], strategy: str) -> dict[str, list]:
    """The grid a tuning strategy scores: the default preset on a sampled holdout keeps only the factor counts
    in SAMPLED_DEFAULT_FACTORS; k-fold tuning and any other grid are scored as given."""
    if grid_name != "default" or strategy != "sampled_holdout":
        return dict(grid)
    return {**grid, "factors": [f for f in grid["factors"] if f in SAMPLED_DEFAULT_FACTORS]}


#: On implicit feedback every interaction counts as a top rating (`cinemart.data.ratings.INTERACTION_RATING`),
#: so the confidences that read a star value would repeat binary: linear becomes plays (the play count's
#: confidence) and threshold becomes binary.
IMPLICIT_FEEDBACK_CONFIDENCE = {"linear": "plays", "threshold": "binary"}


def grid_for_feedback(grid: Mapping[str, Sequence], implicit: bool, counted: bool) -> dict[str, list]:
    """`grid` as it applies to the data: unchanged on ratings; on implicit feedback its confidences mapped by
    IMPLICIT_FEEDBACK_CONFIDENCE (plays too becomes binary unless the plays are `counted`: some count is not 1),
    each kept once. Both engines call this."""
    if not implicit:
        return dict(grid)
    mapping = dict(IMPLICIT_FEEDBACK_CONFIDENCE)
    if not counted:
        mapping = {**mapping, "linear": "binary", "plays": "binary"}
    kinds = [mapping.get(kind, kind) for kind in grid.get("confidence", [ImplicitParams.confidence])]
    return {**grid, "confidence": list(dict.fromkeys(kinds))}


def validate_grid(grid: Mapping[str, Sequence]) -> list[ImplicitParams]:
    """The grid's points (`cinemart.tuning.grid`; missing keys take ImplicitParams' defaults)."""
    return GRID.expand(grid)


def tune_implicit(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    ratings: np.ndarray,
    is_validation: np.ndarray,
    n_users: int,
    n_items: int,
    grid: Mapping[str, Sequence],
    seed: int = 42,
    k: int = 10,
    progress: Callable[[str], None] | None = print,
    plays: np.ndarray | None = None,
) -> list[TuningResult]:
    """`cinemart.tuning.ranking.tune_ranking` over the implicit grid's points, each fitted with `seed` (and the
    play counts of implicit feedback, `plays`, one per row)."""
    fit_plays = None if plays is None else np.asarray(plays)[~np.asarray(is_validation, dtype=bool)]

    def fit(params: ImplicitParams, users: np.ndarray, items: np.ndarray, values: np.ndarray, n_u: int, n_i: int):
        # tune_ranking fits on the rows not in validation, in their order: the rows of fit_plays
        return fit_implicit_als(users, items, values, n_u, n_i, params, seed, fit_plays)

    return tune_ranking(validate_grid(grid), fit, user_idx, item_idx, ratings, is_validation, n_users, n_items, k,
                        progress)
