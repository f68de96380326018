"""Grid search for EASE's lambda (and what counts as a positive) on the validation fold of train.

The same machinery as implicit ALS (`cinemart.tuning.ranking`): fit on train
minus the validation fold, NDCG@10 on it. Every point is fitted within the
memory budget; a point the budget skips is not scored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from cinemart.models.base import Factors
from cinemart.models.ease import EaseParams, EaseScope, fit_ease
from cinemart.tuning.grid import GridSpec
from cinemart.tuning.ranking import TuningResult, tune_ranking

#: "default": lambda around the optimum on ml-latest-small's validation fold (positives = ratings >= 4:
#: NDCG@10 0.1926 at 100, 0.1916 at 250, 0.1854 at 500; counting every rating as a positive never won there
#: and costs 3x the fit). Steck's paper reports optima of 200-1000 on far larger data, hence the top values.
#: "quick": one point, for CI.
PRESETS: dict[str, dict[str, list]] = {
    "default": {"regularization": [100.0, 250.0, 500.0, 1000.0], "min_rating": [4.0]},
    "quick": {"regularization": [250.0], "min_rating": [4.0]},
}

GRID = GridSpec(EaseParams)


def validate_grid(grid: Mapping[str, Sequence]) -> list[EaseParams]:
    """The grid's points (missing keys take EaseParams' defaults)."""
    return GRID.expand(grid)


class EaseTuning(NamedTuple):
    results: list[TuningResult]  # the fitted points, in grid order
    scopes: dict[EaseParams, EaseScope]  # every point's scope, fitted or skipped


def tune_ease(user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray, is_validation: np.ndarray,
              n_users: int, n_items: int, grid: Mapping[str, Sequence], max_bytes: int, k: int = 10,
              progress: Callable[[str], None] | None = print,
              scopes_of: Mapping[float, np.ndarray] | None = None) -> EaseTuning:
    """`tune_ranking` over the EASE grid, each point fitted within `max_bytes`; a point the budget skips is
    left out of the results, its scope says why.

    `scopes_of` (min_rating -> item indices) limits each fit to the movies of the fit the choice is for:
    tuned on a user sample, the budget alone would keep far more movies than it keeps on all users (its
    estimate grows with the users), so lambda would be chosen for another, larger model, at that model's cost.
    The validation NDCG still counts every relevant movie, as ranking_evaluation does."""
    scopes: dict[EaseParams, EaseScope] = {}

    def fit(params: EaseParams, users: np.ndarray, items: np.ndarray, values: np.ndarray, n_u: int, n_i: int):
        if scopes_of is not None:
            inside = np.isin(items, scopes_of[params.min_rating])
            users, items, values = users[inside], items[inside], values[inside]
        # fitted on the fit rows' own users and movies, as every evaluated part is (and as Spark fits it), so the
        # budget keeps the movies ranking_evaluation's validation fit keeps; then spread back over n_u x n_i
        user_ids, user_idx = np.unique(users, return_inverse=True)
        item_ids, item_idx = np.unique(items, return_inverse=True)
        result = fit_ease(user_idx, item_idx, values, user_ids.size, item_ids.size, params, max_bytes)
        scopes[params] = result.scope
        if result.factors is None:
            return None
        factors = result.factors
        user_rows = np.zeros((n_u, factors.user_factors.shape[1]), np.float32)
        user_rows[user_ids] = factors.user_factors
        item_rows = np.zeros((n_i, factors.item_factors.shape[1]), np.float32)
        item_rows[item_ids] = factors.item_factors
        item_bias = np.full(n_i, -np.inf, np.float32)
        item_bias[item_ids] = factors.item_bias
        return Factors(user_rows, item_rows, np.zeros(n_u, np.float32), item_bias)

    results = tune_ranking(validate_grid(grid), fit, user_idx, item_idx, ratings, is_validation, n_users, n_items,
                           k, progress)
    return EaseTuning(results, scopes)
