"""Fold-in gives a new row the factors the fit's own next half-step would give it."""

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from cinemart.models.explicit_als import ALSConfig, ExplicitALS
from cinemart.models.fold_in import FoldIn, fold_in
from cinemart.models.implicit_als import ImplicitParams, confidence


@pytest.fixture(scope="module")
def ratings():
    rng = np.random.default_rng(7)
    n_users, n_items, n = 60, 40, 900
    pairs = rng.choice(n_users * n_items, size=n, replace=False)
    return pairs // n_items, pairs % n_items, rng.integers(1, 11, size=n) / 2.0, n_users, n_items


def test_implicit_fold_in_is_implicits_recalculate_user(ratings):
    users, items, values, n_users, n_items = ratings
    params = ImplicitParams(factors=8, regularization=0.5, alpha=4.0, iterations=3, confidence="linear")
    matrix = sp.csr_matrix((confidence(values, "linear"), (users, items)), shape=(n_users, n_items))
    model = AlternatingLeastSquares(factors=8, regularization=0.5, alpha=4.0, iterations=3, random_state=1)
    model.fit(matrix, show_progress=False)
    fold = FoldIn.from_parameters("implicit_als", {"regularization": 0.5, "alpha": 4.0, "confidence": "linear",
                                                   "threshold": 4.0})
    for user in (0, 17, 42):
        row = matrix[user]
        expected = model.recalculate_user(user, row)
        got, bias = fold_in(fold, model.item_factors, np.zeros(n_items), 0.0, row.indices,
                            values[users == user][np.argsort(items[users == user])])
        assert bias == 0.0
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("biased", [True, False])
def test_explicit_fold_in_is_one_more_user_half_step(ratings, biased):
    users, items, values, n_users, n_items = ratings
    config = ALSConfig(rank=4, reg=0.1, iterations=300, biased=biased, dtype="float64", seed=3)
    model = ExplicitALS(config).fit(users, items, values, n_users, n_items)
    fold = FoldIn.from_parameters("explicit_als", {"rank": 4, "reg": 0.1, "iterations": 300, "biased": biased})
    user = 5
    mine = users == user
    p, b = fold_in(fold, model.item_factors, model.item_bias, model.global_mean, items[mine], values[mine])
    # the same ridge problem, written out: [q_i, 1] . [p, b] = r - mu - b_i, lambda * n on every unknown
    features = np.hstack([model.item_factors[items[mine]], np.ones((mine.sum(), 1))])[:, : 4 + biased]
    target = values[mine] - model.global_mean - (model.item_bias[items[mine]] if biased else 0.0)
    expected = np.linalg.solve(features.T @ features + 0.1 * mine.sum() * np.eye(4 + biased), features.T @ target)
    np.testing.assert_allclose(np.r_[p, b][: 4 + biased], expected, rtol=1e-5)
    # on a converged fit, the user's own factors are (nearly) a fixed point of the fold-in
    np.testing.assert_allclose(p, model.user_factors[user], atol=1e-3)


def test_a_row_without_usable_ratings_gets_the_cold_start_zeros():
    fold = FoldIn("implicit", 1.0, alpha=2.0, confidence="threshold", threshold=4.0)
    got, bias = fold_in(fold, np.ones((5, 3)), np.zeros(5), 0.0, np.array([1, 2]), np.array([2.0, 3.5]))
    assert not got.any() and bias == 0.0


def test_the_same_movie_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        fold_in(FoldIn("explicit", 0.1, 0.1), np.ones((5, 3)), np.zeros(5), 3.5, np.array([1, 1]),
                np.array([4.0, 5.0]))


def test_unknown_models_are_refused():
    with pytest.raises(ValueError, match="no fold-in for model 'knn'"):
        FoldIn.from_parameters("knn", "{}")
