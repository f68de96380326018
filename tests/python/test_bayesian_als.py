"""Bayesian ALS (cinemart.models.bayesian_als): the sampling kernel, the model, and its place in the grid."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from cinemart.evaluation.rating import rmse
from cinemart.models import bayesian_als
from cinemart.models.als_kernels import balanced_groups, sample_rows
from cinemart.models.bayesian_als import BayesianALS, draw_hyperparameters
from cinemart.models.explicit import explicit_model
from cinemart.models.explicit_als import ALSConfig, ExplicitALS
from cinemart.tuning.explicit import GridPoint, cross_validate_grid, expand_grid
from test_als import planted, small_mixed

BAYES = ALSConfig(rank=3, iterations=30, burn_in=10, method="bayesian", dtype="float64", seed=4)


def one_row_system(seed=0, d=4, n=9):
    """One row's ratings against `n` feature rows, and a random SPD prior, as the kernel takes them."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, d))
    targets = rng.standard_normal(n)
    offsets = rng.standard_normal(n)
    root = rng.standard_normal((d, d))
    prior = root @ root.T + d * np.eye(d)
    shift = rng.standard_normal(d)
    return features, targets, offsets, prior, shift


def draw(features, targets, offsets, prior, shift, noise_precision, noise):
    indptr = np.array([0, targets.size], dtype=np.int64)
    order, groups = balanced_groups(indptr, 1)
    out = np.empty((1, features.shape[1]))
    sample_rows(indptr, np.arange(targets.size, dtype=np.int64), targets, order, groups, offsets, features,
                noise_precision, prior, shift, noise[None, :], out)
    return out[0]


def test_a_draw_is_the_conditional_mean_plus_noise_with_the_conditional_covariance():
    """x(z) = mean + U^-1 z: with z = 0 the draw is P^-1 b; the unit draws' outer products sum to P^-1."""
    features, targets, offsets, prior, shift = one_row_system()
    a = 2.0
    precision = prior + a * features.T @ features
    mean = np.linalg.solve(precision, shift + a * features.T @ (targets - offsets))
    d = features.shape[1]
    at_zero = draw(features, targets, offsets, prior, shift, a, np.zeros(d))
    np.testing.assert_allclose(at_zero, mean, rtol=1e-10)
    columns = np.stack([draw(features, targets, offsets, prior, shift, a, np.eye(d)[j]) - at_zero for j in range(d)])
    np.testing.assert_allclose(columns.T @ columns, np.linalg.inv(precision), rtol=1e-9, atol=1e-12)


def test_a_row_without_ratings_is_a_draw_from_the_prior():
    _, _, _, prior, shift = one_row_system()
    d = prior.shape[0]
    empty = np.zeros((0, d))
    np.testing.assert_allclose(draw(empty, np.zeros(0), np.zeros(0), prior, shift, 2.0, np.zeros(d)),
                               np.linalg.solve(prior, shift), rtol=1e-10)


def test_hyperparameters_follow_the_rows_they_are_drawn_from():
    """With many rows the Normal-Wishart conditional concentrates on the rows' mean and precision."""
    rng = np.random.default_rng(1)
    cov = np.array([[0.5, 0.2], [0.2, 0.3]])
    rows = rng.multivariate_normal([1.0, -2.0], cov, size=200_000)
    precision, mean = draw_hyperparameters(np.random.default_rng(2), rows)
    np.testing.assert_allclose(mean, [1.0, -2.0], atol=0.01)
    np.testing.assert_allclose(np.linalg.inv(precision), cov, rtol=0.02)


def test_fits_a_planted_model_and_beats_the_tuned_point_estimate_on_sparse_noisy_data():
    (train, test, n_users, n_items) = planted(noise=0.5, density=0.12, rank=3)
    bayes = BayesianALS(dataclasses.replace(BAYES, iterations=60, **{"rating_min": -100.0, "rating_max": 100.0}))
    bayes.fit(*train, n_users, n_items)
    bayes_rmse = rmse(test[2], bayes.predict(test[0], test[1]))
    als_rmse = min(rmse(test[2], ExplicitALS(ALSConfig(rank=3, reg=reg, iterations=15, rating_min=-100.0,
                                                       rating_max=100.0)).fit(*train, n_users, n_items)
                        .predict(test[0], test[1])) for reg in (0.1, 0.3, 1.0))
    mean_only = rmse(test[2], np.full(test[2].size, train[2].mean()))
    # ~11 ratings per user for 4 unknowns: measured 0.757 against tuned ALS's 0.763 and the mean's 0.926
    assert bayes_rmse < 0.82 * mean_only
    assert bayes_rmse < als_rmse


def test_the_served_factors_predict_exactly_what_the_model_predicts():
    """Kept samples side by side, scaled by 1/sqrt(S), are the posterior-mean predictor (float32 tables)."""
    users, items, ratings, n_users, n_items = small_mixed()
    model = BayesianALS(BAYES).fit(users, items, ratings, n_users, n_items)
    factors = model.factors()
    assert factors.user_factors.shape == (n_users, BAYES.rank * (BAYES.iterations - BAYES.burn_in))
    served = np.clip(factors.score_pairs(users, items), BAYES.rating_min, BAYES.rating_max)
    np.testing.assert_allclose(served, model.predict(users, items), atol=1e-5)


def test_a_checkpoint_predicts_what_a_shorter_chain_predicts():
    users, items, ratings, n_users, n_items = small_mixed()
    seen = {}
    BayesianALS(BAYES).fit(users, items, ratings, n_users, n_items, checkpoints=[15, 30],
                           on_checkpoint=lambda it, m: seen.__setitem__(it, m.predict(users, items)))
    shorter = BayesianALS(dataclasses.replace(BAYES, iterations=15)).fit(users, items, ratings, n_users, n_items)
    np.testing.assert_array_equal(seen[15], shorter.predict(users, items))
    assert not np.array_equal(seen[15], seen[30])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one numba thread here: a 1-vs-2-thread comparison would compare a run with itself")
def test_same_seed_gives_the_same_tables_on_any_thread_count(monkeypatch):
    users, items, ratings, n_users, n_items = small_mixed()

    def fit(config, threads):
        monkeypatch.setattr(bayesian_als, "threads_for", lambda work: threads)
        return BayesianALS(config).fit(users, items, ratings, n_users, n_items).factors()

    reference = fit(BAYES, 2)
    for got in (fit(BAYES, 1), fit(BAYES, 2)):
        for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
            np.testing.assert_array_equal(getattr(reference, name), getattr(got, name))
    assert not np.array_equal(reference.user_factors, fit(dataclasses.replace(BAYES, seed=5), 1).user_factors)


def test_explicit_model_dispatches_on_the_method():
    assert type(explicit_model(BAYES)) is BayesianALS
    assert type(explicit_model(ALSConfig())) is ExplicitALS
    with pytest.raises(ValueError, match="method 'bayesian'"):
        BayesianALS(ALSConfig())
    with pytest.raises(ValueError, match="explicit_model"):
        ExplicitALS(BAYES).fit(*small_mixed())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"method": "gibbs"}, r"method must be one of \('als', 'bayesian'\), got 'gibbs'"),
        ({"method": "bayesian", "iterations": 10, "burn_in": 10}, "needs iterations > burn_in to keep a sample"),
        ({"burn_in": 3}, "burn_in applies to method 'bayesian' only"),
        ({"method": "bayesian", "burn_in": 1, "solver": "cg"}, "solver 'cg' applies to method 'als' only"),
    ],
)
def test_bad_bayesian_configs_fail_with_a_clear_message(fields, message):
    with pytest.raises(ValueError, match=message):
        ALSConfig(**fields)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"method": ["bayesian"], "reg": [0.1]}, "reg does not apply to method 'bayesian'"),
        ({"method": ["bayesian"], "iterations": [10], "burn_in": [10]}, "needs iterations > burn_in"),
        ({"method": ["als"], "burn_in": [5]}, "burn_in applies to method 'bayesian' only"),
        ([{"rank": [5]}, {"rank": [5]}], "more than once"),
        ([{"rank": [5]}, "bayesian"], "each part of a grid list must be a mapping"),
    ],
)
def test_bad_grids_name_the_problem(grid, message):
    with pytest.raises(ValueError, match=message):
        expand_grid(grid)


def test_als_solver_cg_leaves_bayesian_points_on_cholesky():
    """The var als_solver picks ALS's solver; a Bayesian draw needs the Cholesky factor, so its points keep it."""
    from cinemart.warehouse.explicit_tables import ExplicitSettings

    settings = ExplicitSettings.from_config({"als_solver": "cg"})  # the default grid holds a Bayesian part
    solvers = {p.method: settings.config(p).solver for p in expand_grid(settings.grid)}
    assert solvers == {"als": "cg", "bayesian": "cholesky"}


def test_a_grid_list_is_the_union_of_its_parts_with_defaults_filled_in():
    points = expand_grid([{"rank": [5], "reg": [0.1], "iterations": [3]},
                          {"method": ["bayesian"], "rank": [4], "iterations": [20, 30]}])
    assert points == [GridPoint(5, 0.1, 3), GridPoint(4, None, 20, "bayesian", 10),
                      GridPoint(4, None, 30, "bayesian", 10)]
    assert points[0].burn_in == 0 and points[1].reg is None


def test_cv_scores_bayesian_checkpoints_like_separate_chains():
    users, items, ratings, n_users, n_items = small_mixed()
    fold = np.arange(users.size) % 3
    base = ALSConfig(seed=4, dtype="float64")
    grid = {"method": ["bayesian"], "rank": [3], "iterations": [15, 25], "burn_in": [5]}
    results = cross_validate_grid(users, items, ratings, fold, n_users, n_items, grid, base, progress=None)
    for result in results:
        expected = []
        for f in range(3):
            train = fold != f
            model = BayesianALS(result.point.config(base)).fit(users[train], items[train], ratings[train],
                                                                n_users, n_items)
            held = ~train & np.isin(users, users[train]) & np.isin(items, items[train])
            expected.append(rmse(ratings[held], model.predict(users[held], items[held])))
        np.testing.assert_allclose(result.fold_rmse, expected, rtol=1e-12)
        assert result.standard_error == pytest.approx(np.std(expected, ddof=1) / np.sqrt(3))


def test_the_default_grid_samples_only_under_k_fold_cv_and_where_the_engine_has_the_method():
    from cinemart.tuning.explicit import PRESETS, default_grid_for, require_methods

    assert default_grid_for("kfold") == PRESETS["default"]
    assert all("method" not in part for part in default_grid_for("sampled_holdout"))
    assert all("method" not in part for part in default_grid_for("kfold", ("als",)))
    require_methods("default", PRESETS["default"], ("als",))  # the preset is trimmed, not refused
    with pytest.raises(ValueError, match="MLlib has no Bayesian ALS"):
        require_methods("custom", [{"method": ["bayesian"]}], ("als",))


def test_a_served_bayesian_model_has_no_fold_in_and_says_why():
    from cinemart.models.fold_in import FoldIn

    with pytest.raises(ValueError, match="no fold-in for Bayesian explicit ALS"):
        FoldIn.from_parameters("explicit_als", '{"method": "bayesian", "rank": 10, "reg": null, "biased": true}')
    assert FoldIn.from_parameters("explicit_als", '{"method": "als", "reg": 0.1, "biased": true}').kind == "explicit"
