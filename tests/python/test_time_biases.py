"""Koren's time terms (`cinemart.models.time_biases`) and the explicit fits that carry them.

Planted data: users whose rating scale drifts with time and movies whose
appeal changes across the years, on top of a low-rank taste model. The terms
must find what was planted, the time-aware fit must predict held-out ratings
better than the same model without them, and every place that scores a
rating (CV, the served factors, als_predictions' move to a rating's day)
must agree with the model's own prediction.
"""

from __future__ import annotations

import numpy as np
import pytest

from cinemart.models.explicit import fit_explicit, time_detrended
from cinemart.models.explicit_als import ALSConfig
from cinemart.models.time_biases import DRIFT_EXPONENT, TIME_BINS, fit_time_biases
from cinemart.tuning.explicit import GridPoint, cross_validate_grid, default_grid_for, require_methods

N_USERS, N_ITEMS, SPAN_DAYS = 300, 120, 3000.0


def planted(seed: int = 0):
    """Ratings = 3.5 + static biases + taste + a user drift + a movie's bias per period + noise."""
    rng = np.random.default_rng(seed)
    pairs = np.unique(rng.integers(0, [N_USERS, N_ITEMS], size=(24_000, 2)), axis=0)
    users, items = pairs[:, 0], pairs[:, 1]
    start = rng.uniform(0, SPAN_DAYS * 0.5, N_USERS)
    days = start[users] + rng.uniform(0, SPAN_DAYS * 0.5, users.size)
    anchor = np.bincount(users, days, N_USERS) / np.maximum(np.bincount(users, minlength=N_USERS), 1)
    gap = days - anchor[users]
    drift = rng.normal(0, 0.02, N_USERS)
    periods = rng.normal(0, 0.3, (N_ITEMS, 3))
    period = np.minimum((days / SPAN_DAYS * 3).astype(int), 2)
    taste = rng.normal(0, 0.4, (N_USERS, 3)) @ rng.normal(0, 0.4, (N_ITEMS, 3)).T
    ratings = (3.5 + rng.normal(0, 0.2, N_USERS)[users] + rng.normal(0, 0.3, N_ITEMS)[items] + taste[users, items]
               + drift[users] * np.sign(gap) * np.abs(gap) ** DRIFT_EXPONENT + periods[items, period]
               + rng.normal(0, 0.3, users.size))
    return users, items, ratings, days, (drift, periods)


CONFIG = ALSConfig(rank=3, reg=0.05, iterations=8, rating_min=-10.0, rating_max=20.0)


def test_the_terms_find_a_planted_drift_and_period_biases():
    users, items, ratings, days, (drift, periods) = planted()
    terms = fit_time_biases(users, items, ratings - ratings.mean(), days, N_USERS, N_ITEMS)
    assert np.corrcoef(terms.user_drift, drift)[0, 1] > 0.8
    assert terms.item_bins.shape == (N_ITEMS, TIME_BINS)
    # a movie's bins inside one planted period (a third of the bins, edges left out) follow that period's bias,
    # less what the static movie bias takes of it (the periods' mean)
    per_period = TIME_BINS // 3
    for k in range(3):
        found = terms.item_bins[:, k * per_period + 1:(k + 1) * per_period - 1].mean(axis=1)
        assert np.corrcoef(found, periods[:, k] - periods.mean(axis=1))[0, 1] > 0.7


@pytest.mark.parametrize("method", ["als", "bayesian"])
def test_time_terms_predict_held_out_ratings_better_than_the_same_model_without_them(method):
    users, items, ratings, days, _ = planted(1)
    held = np.random.default_rng(2).random(users.size) < 0.2
    config = (CONFIG if method == "als" else
              ALSConfig(rank=3, iterations=40, burn_in=10, method="bayesian", rating_min=-10.0, rating_max=20.0))
    errors = {}
    for timed in (False, True):
        fit = fit_explicit(GridPoint(rank=config.rank, reg=None if method == "bayesian" else config.reg,
                                     iterations=config.iterations, method=method,
                                     burn_in=config.burn_in or None, time_biases=timed).config(config),
                           users[~held], items[~held], ratings[~held], N_USERS, N_ITEMS, days[~held])
        predicted = fit.predict(users[held], items[held], days[held])
        errors[timed] = float(np.sqrt(np.mean((predicted - ratings[held]) ** 2)))
    assert errors[True] < errors[False] - 0.02, errors


def test_served_factors_hold_the_terms_as_of_the_end_and_since_end_moves_them_to_any_day():
    users, items, ratings, days, _ = planted(3)
    fit = fit_explicit(GridPoint(rank=3, reg=0.05, iterations=8, time_biases=True).config(CONFIG),
                       users, items, ratings, N_USERS, N_ITEMS, days)
    served = fit.factors()
    probe_days = np.random.default_rng(4).uniform(-500, SPAN_DAYS + 500, users.size)  # inside and outside the span
    moved = served.score_pairs(users, items) + fit.terms.since_end(users, items, probe_days)
    assert moved == pytest.approx(fit.predict(users, items, probe_days), abs=1e-4)
    # as of the end: each user's drift at their last rating, each movie's last bin
    last_day = np.full(N_USERS, -np.inf)
    np.maximum.at(last_day, users, days)
    at_end = fit.predict(users, items, np.maximum(last_day[users], days.max()))
    assert served.score_pairs(users, items) == pytest.approx(at_end, abs=1e-4)


def test_drift_is_never_extrapolated_past_a_users_ratings():
    users, items, ratings, days, _ = planted(5)
    terms = fit_time_biases(users, items, ratings - ratings.mean(), days, N_USERS, N_ITEMS)
    user = np.array([users[0]])
    mine = days[users == users[0]]
    assert terms.deviation(user, np.array([mine.max() + 10_000.0])) == terms.deviation(user, np.array([mine.max()]))
    assert terms.deviation(user, np.array([mine.min() - 10_000.0])) == terms.deviation(user, np.array([mine.min()]))
    assert terms.bin_of(np.array([-1e6, 1e6])).tolist() == [0, TIME_BINS - 1]


def test_cv_scores_a_time_aware_point_as_a_separate_fit_on_each_folds_training_part():
    users, items, ratings, days, _ = planted(6)
    folds = np.random.default_rng(7).integers(0, 3, users.size)
    grid = {"rank": [3], "reg": [0.05], "iterations": [8], "time_biases": [False, True]}
    plain, timed = cross_validate_grid(users, items, ratings, folds, N_USERS, N_ITEMS, grid, CONFIG,
                                       progress=None, days=days)
    assert timed.point.time_biases and not plain.point.time_biases
    for f, scored in enumerate(timed.fold_rmse):
        train = folds != f
        fit = fit_explicit(timed.point.config(CONFIG), users[train], items[train], ratings[train], N_USERS,
                           N_ITEMS, days[train])
        predicted = fit.predict(users[~train], items[~train], days[~train])
        assert scored == pytest.approx(float(np.sqrt(np.mean((predicted - ratings[~train]) ** 2))), rel=1e-6)
    assert timed.mean_rmse < plain.mean_rmse
    assert timed.point.complexity == (3 + 1 + 1 + TIME_BINS) * 8 > plain.point.complexity


def test_a_time_aware_fit_without_days_and_a_bad_flag_fail_in_one_line():
    users, items, ratings, _, _ = planted(8)
    timed = GridPoint(rank=3, reg=0.05, iterations=2, time_biases=True).config(CONFIG)
    with pytest.raises(ValueError, match=r"^time_biases needs each rating's day"):
        fit_explicit(timed, users, items, ratings, N_USERS, N_ITEMS)
    with pytest.raises(ValueError, match=r"^days must hold one day per rating"):
        time_detrended(timed, users, items, ratings, N_USERS, N_ITEMS, np.zeros(3))
    with pytest.raises(ValueError, match=r"^time_biases must be true or false, got 'yes'"):
        GridPoint(time_biases="yes")
    with pytest.raises(ValueError, match=r"^time_biases must be True or False"):
        ALSConfig(time_biases=1)


def test_an_engine_without_time_terms_drops_them_from_the_default_grid_and_refuses_a_custom_grid_naming_them():
    assert not any(part.get("time_biases") for part in default_grid_for("kfold", ("als",)))
    assert any(True in part.get("time_biases", []) for part in default_grid_for("kfold"))
    require_methods("custom", {"rank": [5], "time_biases": [False]}, ("als",))
    with pytest.raises(ValueError, match=r"^als_grid time_biases true applies to the DuckDB engine only: MLlib ALS "
                                         r"has no time terms"):
        require_methods("custom", {"rank": [5], "time_biases": [False, True]}, ("als",))
