"""Unit tests for cinemart.tuning.explicit (grid expansion, CV along trajectories) and metrics."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cinemart.models.explicit_als import ALSConfig, ExplicitALS
from cinemart.evaluation.rating import rmse
from cinemart.tuning.explicit import (PRESETS, GridPoint, GridResult, cross_validate_grid, expand_grid, rmse_standard_error,
                                      select, select_best, single_fold_standard_error)

BASE = ALSConfig(seed=7)


def rated_with_folds(n_users=50, n_items=40, n_folds=3, seed=5):
    """Random ratings with fold ids; user 0's ratings all sit in fold 0 and
    item 0's all in fold 1, so those folds have cold-start validation rows."""
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    ratings = np.clip(3.5 + 0.5 * rng.standard_normal(users.size), 0.5, 5.0)
    fold = rng.integers(0, n_folds, users.size)
    fold[users == 0] = 0
    fold[(items == 0) & (users != 0)] = 1
    return users, items, ratings, fold, n_users, n_items


def test_expand_grid_is_the_ordered_cartesian_product():
    points = expand_grid({"rank": [5, 10], "reg": [0.1], "iterations": [3, 1]})
    assert points == [GridPoint(5, 0.1, 3), GridPoint(5, 0.1, 1), GridPoint(10, 0.1, 3), GridPoint(10, 0.1, 1)]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"rank": [5], "reg": [0.1], "iterations": [3], "alpha": [1]},
         r"unknown grid key\(s\) \['alpha'\]; allowed: rank, reg, iterations"),
        ({"rank": [], "reg": [0.1], "iterations": [3]}, r"grid\['rank'\] must be a non-empty list"),
        ({"rank": [0], "reg": [0.1], "iterations": [3]}, r"rank must be an integer >= 1, got 0"),
        ({"rank": [5], "reg": [-0.1], "iterations": [3]}, r"reg must be a finite number >= 0, got -0.1"),
        ({"rank": [5], "reg": [0.1], "iterations": [2.5]}, r"iterations must be an integer >= 1, got 2.5"),
        ({"rank": [True], "reg": [0.1], "iterations": [3]}, r"rank must be an integer >= 1, got True"),
        ({"rank": 5, "reg": [0.1], "iterations": [3]}, r"grid\['rank'\] must be a non-empty list"),
        ({"rank": [5, 5], "reg": [0.1], "iterations": [3]}, r"grid\['rank'\] has duplicate values"),
    ],
)
def test_expand_grid_rejects_bad_grids(grid, message):
    with pytest.raises(ValueError, match=message):
        expand_grid(grid)


def test_a_key_left_out_takes_the_model_default():
    """The one grid rule (cinemart.tuning.grid), shared with implicit ALS's grids."""
    assert expand_grid({"rank": [5], "reg": [0.1]}) == [GridPoint(5, 0.1, ALSConfig().iterations)]


def test_presets_expand_and_stay_modest():
    assert PRESETS["spark_seed"] == {"rank": [5, 10, 15], "reg": [0.1, 0.01, 0.001], "iterations": [3, 5, 10]}
    assert len(expand_grid(PRESETS["spark_seed"])) == 27
    assert 1 < len(expand_grid(PRESETS["default"])) <= 24


def test_cv_scores_checkpoints_like_separate_fits_and_drops_cold_rows():
    users, items, ratings, fold, n_users, n_items = rated_with_folds()
    grid = {"rank": [3], "reg": [0.1], "iterations": [2, 5]}
    results = cross_validate_grid(users, items, ratings, fold, n_users, n_items, grid, BASE, progress=None)
    assert [r.point for r in results] == [GridPoint(3, 0.1, 2), GridPoint(3, 0.1, 5)]

    for result in results:
        expected = []
        for f in range(3):
            train = fold != f
            config = ALSConfig(rank=3, reg=0.1, iterations=result.point.iterations, seed=7)
            model = ExplicitALS(config).fit(users[train], items[train], ratings[train], n_users, n_items)
            warm = np.isin(users, users[train]) & np.isin(items, items[train])
            held = ~train & warm
            if f in (0, 1):  # the planted cold user / item really were held out
                assert (~train & ~warm).any()
            expected.append(rmse(ratings[held], model.predict(users[held], items[held])))
        assert result.fold_rmse == expected  # bit-identical: same trajectory, same rows
        assert result.mean_rmse == pytest.approx(np.mean(expected))
        assert result.std_rmse == pytest.approx(np.std(expected))
        assert result.fit_seconds > 0
    assert results[1].fit_seconds > results[0].fit_seconds  # 5 iterations cost more than 2


def test_cv_reports_progress_per_fit():
    users, items, ratings, fold, n_users, n_items = rated_with_folds()
    messages: list[str] = []
    grid = {"rank": [2, 3], "reg": [0.1], "iterations": [1, 2]}
    cross_validate_grid(users, items, ratings, fold, n_users, n_items, grid, BASE, progress=messages.append)
    assert len(messages) == 2 * 3  # one per (rank, reg) trajectory and fold
    pattern = r"config (\d)/2 rank=(\d) reg=0.1 fold (\d)/3, elapsed \d+\.\ds, ~\d+\.\ds left"
    parsed = [re.fullmatch(pattern, m).groups() for m in messages]
    assert parsed[0] == ("1", "2", "1") and parsed[-1] == ("2", "3", "3")
    assert messages[-1].endswith("~0.0s left")


@pytest.mark.parametrize(
    ("fold", "message"),
    [
        (lambda f: f[:-1], "one id per rating"),
        (lambda f: np.where(f == 1, 2, f), "no empty fold"),
        (lambda f: np.zeros_like(f), "k >= 2"),
        (lambda f: f.astype(float), "integer fold ids"),
        (lambda f: f - 1, "must be >= 0"),
    ],
)
def test_cv_rejects_bad_fold_ids(fold, message):
    users, items, ratings, folds, n_users, n_items = rated_with_folds()
    grid = {"rank": [2], "reg": [0.1], "iterations": [1]}
    with pytest.raises(ValueError, match=message):
        cross_validate_grid(users, items, ratings, fold(folds), n_users, n_items, grid, BASE, progress=None)


def test_cv_can_hold_out_a_subset_of_folds():
    users, items, ratings, fold, n_users, n_items = rated_with_folds()
    grid = {"rank": [2], "reg": [0.1], "iterations": [1, 3]}
    args = (users, items, ratings, fold, n_users, n_items, grid, BASE)
    every_fold = cross_validate_grid(*args, progress=None)
    fold_one = cross_validate_grid(*args, progress=None, score_folds=[1])
    for full, subset in zip(every_fold, fold_one):
        assert subset.fold_rmse == [full.fold_rmse[1]]
        assert subset.mean_rmse == full.fold_rmse[1]
    with pytest.raises(ValueError, match=r"score_folds must name folds in 0..2"):
        cross_validate_grid(*args, progress=None, score_folds=[3])


def test_cv_validates_ratings_before_fitting():
    users, items, ratings, fold, n_users, n_items = rated_with_folds()
    grid = {"rank": [2], "reg": [0.1], "iterations": [1]}
    with pytest.raises(ValueError, match=r"user_idx must lie in 0..48, got 0..49"):
        cross_validate_grid(users, items, ratings, fold, n_users - 1, n_items, grid, BASE, progress=None)


def _result(rank, reg, iterations, mean, error=0.0, method="als"):
    point = GridPoint(rank, reg if method == "als" else None, iterations, method)
    return GridResult(point, [mean], mean, 0.0, 1.0, error)


def test_one_se_takes_the_least_complex_point_within_one_standard_error_of_the_lowest():
    """ESL 7.10: rank 100 is best by less than its standard error, so the cheaper rank 50 is chosen; rank 25 is
    outside the band and the lowest rule keeps rank 100."""
    results = [_result(25, 0.1, 10, 0.5767, 0.0006), _result(50, 0.1, 10, 0.5759, 0.0006),
               _result(100, 0.1, 10, 0.5756, 0.0006)]
    best, chosen = select(results, "one_se")
    assert best.point.rank == 100 and chosen.point.rank == 50
    assert select(results, "lowest") == (best, best)
    with pytest.raises(ValueError, match="selection rule must be one of"):
        select(results, "cheapest")


def test_one_se_compares_complexity_across_methods_and_breaks_ties_by_rmse():
    """(rank + 1) x sweeps: a Bayesian chain of 110 sweeps at rank 10 costs more than ALS rank 50 x 10 sweeps."""
    bayes = _result(10, None, 110, 0.840, 0.004, method="bayesian")
    als = _result(50, 0.1, 10, 0.843, 0.004)
    assert bayes.point.complexity == 11 * 110 and als.point.complexity == 51 * 10
    assert select([bayes, als], "one_se") == (bayes, als)
    assert select([bayes, _result(50, 0.1, 10, 0.86, 0.004)], "one_se")[1] is bayes  # outside the band
    same_cost = [_result(50, 0.1, 10, 0.842, 0.004), _result(50, 0.2, 10, 0.841, 0.004)]
    assert select(same_cost, "one_se")[1].point.reg == 0.2


def test_the_standard_error_is_over_folds_or_over_one_folds_ratings():
    assert rmse_standard_error([0.85, 0.86, 0.84, 0.87, 0.83], 99.0) == pytest.approx(
        np.std([0.85, 0.86, 0.84, 0.87, 0.83], ddof=1) / np.sqrt(5))
    squared = np.random.default_rng(0).exponential(0.33, 400_000)
    one = single_fold_standard_error(squared)
    # delta method against the spread of many resampled folds' RMSE
    draws = [np.sqrt(np.random.default_rng(s).choice(squared, squared.size).mean()) for s in range(40)]
    assert one == pytest.approx(np.std(draws, ddof=1), rel=0.3)
    assert rmse_standard_error([0.57], one) == one


def test_select_best_prefers_lowest_rmse_then_cheaper_and_more_regularized():
    assert select_best([_result(5, 0.1, 10, 0.90), _result(10, 0.1, 10, 0.85)]).point.rank == 10
    tied = [_result(10, 0.1, 10, 0.85), _result(10, 0.1, 5, 0.85), _result(5, 0.1, 5, 0.85), _result(5, 0.2, 5, 0.85)]
    assert select_best(tied).point == GridPoint(5, 0.2, 5)
    with pytest.raises(ValueError, match="no tuning results"):
        select_best([])


def test_rmse_value_and_validation():
    assert rmse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]) == pytest.approx(np.sqrt(4 / 3))
    with pytest.raises(ValueError, match="equal shapes"):
        rmse([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="zero rows"):
        rmse([], [])
    with pytest.raises(ValueError, match="NaN or inf"):
        rmse([1.0, np.nan], [1.0, 2.0])
