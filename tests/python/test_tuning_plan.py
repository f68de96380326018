"""The tuning plan: k-fold CV on all train ratings, or one fold on a user sample past tuning_max_ratings."""

from __future__ import annotations

import numpy as np
import pytest

from cinemart.data.ratings import SplitRatings
from cinemart.tuning.explicit import GridPoint
from cinemart.tuning.plan import TuningPolicy, plan_tuning
from cinemart.warehouse.explicit_tables import ExplicitSettings, grid_search_table
from cinemart.warehouse.ranking_tables import RankingSettings, implicit_grid_search_table


def split_ratings(n_users: int = 200, n_movies: int = 120, seed: int = 0) -> SplitRatings:
    rng = np.random.default_rng(seed)
    users, movies = np.nonzero(rng.random((n_users, n_movies)) < 0.25)
    is_test = rng.random(users.size) < 0.2
    return SplitRatings.from_columns({
        "user_id": users + 1, "movie_id": movies + 1, "rating": rng.integers(1, 11, users.size) / 2.0,
        "is_test": is_test, "cv_fold": np.where(is_test, -1, rng.integers(0, 5, users.size)),
        "is_after_cut": np.random.default_rng(seed + 1).random(users.size) < 0.2,
    })


def test_sampled_holdout_takes_whole_users_up_to_the_budget():
    data = split_ratings()
    n_train = int(data.train.sum())
    plan = plan_tuning(data, TuningPolicy("sampled_holdout", 1000), seed=1)
    assert plan.strategy == "sampled_holdout"
    assert 0 < plan.n_ratings <= 1000 < n_train
    sampled = np.unique(data.user_id[plan.rows])
    assert plan.n_users == sampled.size
    # every train rating of a sampled user is in, nothing else is
    np.testing.assert_array_equal(plan.rows, data.train & np.isin(data.user_id, sampled))
    assert plan_tuning(data, TuningPolicy("sampled_holdout", 1000), seed=1).rows.tolist() == plan.rows.tolist()


def test_auto_switches_to_the_sample_only_past_the_budget():
    data = split_ratings()
    n_train = int(data.train.sum())
    assert plan_tuning(data, TuningPolicy("auto", n_train), seed=1).strategy == "kfold"
    assert plan_tuning(data, TuningPolicy("auto", 1000), seed=1).strategy == "sampled_holdout"


@pytest.mark.parametrize("strategy, folds", [("kfold", 5), ("sampled_holdout", 1)])
def test_both_grid_searches_record_the_strategy_they_used(strategy, folds):
    data = split_ratings()
    given = {"tuning_strategy": strategy, "tuning_max_ratings": 1000, "als_grid": {"rank": [2], "iterations": [2]},
             "implicit_grid": "quick"}
    explicit = grid_search_table(data, ExplicitSettings.from_config(given), progress=lambda _: None).to_pylist()
    assert {row["tuning_strategy"] for row in explicit} == {strategy}
    assert all(len(row["fold_rmse"]) == folds for row in explicit)
    implicit = implicit_grid_search_table(data, RankingSettings.from_config(given), progress=lambda _: None).to_pylist()
    assert {row["tuning_strategy"] for row in implicit} == {"holdout" if strategy == "kfold" else strategy}
    # both families sample with their seed (2020 by default for each), so they tune on the same rows
    expected = plan_tuning(data, TuningPolicy(strategy, 1000), seed=2020).n_ratings
    assert {row["n_tuning_ratings"] for row in explicit + implicit} == {expected}


def test_auto_solver_is_cholesky_up_to_the_budget_and_cg_past_it():
    """als_solver auto: the exact Cholesky solve on small train parts, CG past tuning_max_ratings (as recorded
    in als_grid_search, and used by every fit of the build); a solver the user names is kept at any size."""
    data = split_ratings()
    n_train = int(data.train.sum())
    grid = {"als_grid": {"rank": [2], "iterations": [2]}}

    def solvers(given: dict) -> set[str]:
        settings = ExplicitSettings.from_config({**grid, **given})
        recorded = {row["solver"] for row in grid_search_table(data, settings, progress=lambda _: None).to_pylist()}
        assert recorded == {settings.for_data(data).config(GridPoint(2)).solver}  # what the refits run
        return recorded

    assert ExplicitSettings.from_config({}).solver == "auto"
    with pytest.raises(ValueError, match="resolve it with for_data"):  # no fit takes a solver by default
        ExplicitSettings.from_config({}).config(GridPoint(2))
    assert solvers({"tuning_max_ratings": n_train}) == {"cholesky"}
    assert solvers({"tuning_max_ratings": 1000}) == {"cg"}
    assert solvers({"tuning_max_ratings": 1000, "als_solver": "cholesky"}) == {"cholesky"}
    assert solvers({"tuning_max_ratings": n_train, "als_solver": "cg"}) == {"cg"}
    with pytest.raises(ValueError, match="als_solver must be one of auto, cholesky, cg; got 'lu'"):
        ExplicitSettings.from_config({"als_solver": "lu"})


def test_the_default_implicit_grid_leaves_out_its_128_factor_points_on_the_sample_only():
    """Past tuning_max_ratings the default implicit grid is scored with 16 factors only, and the build log
    says what was left out; k-fold tuning and a custom grid score every point they name."""
    data = split_ratings()
    n_train = int(data.train.sum())

    def scored(given: dict) -> tuple[list[int], int, list[str]]:
        said: list[str] = []
        rows = implicit_grid_search_table(data, RankingSettings.from_config(given), progress=said.append).to_pylist()
        return sorted({row["factors"] for row in rows}), len(rows), [line for line in said if "left out" in line]

    assert scored({"tuning_max_ratings": n_train}) == ([16, 128], 24, [])
    factors, n_points, said = scored({"tuning_max_ratings": 1000})
    assert (factors, n_points) == ([16], 12)
    assert said == ["implicit ALS grid search: the default grid's 12 points with other factor counts than 16 are "
                    "scored only up to tuning_max_ratings (1,000 train ratings); left out here"]
    custom = {"implicit_grid": {"factors": [16, 128], "confidence": ["binary"]}, "tuning_max_ratings": 1000}
    assert scored(custom)[:2] == ([16, 128], 2)
