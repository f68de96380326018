"""Unit tests for cinemart.models.explicit_als: solver maths, cold start, validation, determinism."""

from __future__ import annotations

import dataclasses
import threading

import numba
import numpy as np
import pytest

from cinemart.models import explicit_als as als
from cinemart.models.explicit_als import ALSConfig, ALSDivergedError, ExplicitALS
from cinemart.evaluation.rating import rmse
from cinemart.models.threads import cpu_slot, thread_budget

WIDE = {"rating_min": -100.0, "rating_max": 100.0}  # no clipping in maths checks


def planted(biased=True, n_users=120, n_items=90, rank=3, density=0.35, noise=0.05, seed=1):
    """Ratings from a known rank-`rank` model (with mean and biases if
    `biased`) on a random sparse mask; train triples plus a disjoint held-out set."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal((n_users, rank)) * 0.6
    q = rng.standard_normal((n_items, rank)) * 0.6
    bu = rng.normal(0, 0.3, n_users)
    bi = rng.normal(0, 0.3, n_items)
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    values = np.einsum("ij,ij->i", p[users], q[items])
    if biased:
        values += 3.0 + bu[users] + bi[items]
    values += rng.normal(0, noise, users.size)
    held = rng.random(users.size) < 0.1
    train = (users[~held], items[~held], values[~held])
    test = (users[held], items[held], values[held])
    return train, test, n_users, n_items


def small_mixed(seed=3):
    """Users and items with both fewer and more ratings than a rank-4 model
    has unknowns, so every solver path (dual and primal) is exercised."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    counts = rng.integers(1, 25, n_users)
    users = np.repeat(np.arange(n_users), counts)
    items = np.concatenate([rng.choice(n_items, c, replace=False) for c in counts])
    ratings = rng.choice(np.arange(1, 11) / 2, users.size)
    return users, items, ratings, n_users, n_items


class Snapshots:
    """on_checkpoint callback keeping copies of the model state per iteration."""

    def __init__(self):
        self.state = {}

    def __call__(self, iteration, model):
        self.state[iteration] = {
            name: np.array(getattr(model, name), dtype=np.float64, copy=True)
            for name in ("user_factors", "item_factors", "user_bias", "item_bias")
        }


def direct_solve(rows, cols, ratings, n_rows, other_factors, other_bias, mu, cfg):
    """Reference half-step: one numpy.linalg.solve per row on the ALS-WR
    normal equations (Spark's lambda * n_u scaling, biases by augmentation)."""
    k = other_factors.shape[1]
    if cfg.biased:
        features = np.hstack([other_factors, np.ones((other_factors.shape[0], 1))])
        reg = np.array([cfg.reg] * k + [cfg.effective_bias_reg])
    else:
        features, reg = other_factors, np.full(k, cfg.reg)
    out = np.zeros((n_rows, features.shape[1]))
    for row in range(n_rows):
        mask = rows == row
        if not mask.any():
            continue
        y = features[cols[mask]]
        target = ratings[mask] - mu - other_bias[cols[mask]]
        out[row] = np.linalg.solve(y.T @ y + mask.sum() * np.diag(reg), y.T @ target)
    return out


def model_solution(state, side, k, biased):
    factors = state[f"{side}_factors"]
    return np.hstack([factors, state[f"{side}_bias"][:, None]]) if biased else factors


def fit_two_iterations(cfg, users, items, ratings, n_users, n_items):
    snaps = Snapshots()
    model = ExplicitALS(cfg).fit(users, items, ratings, n_users, n_items, checkpoints=[1, 2], on_checkpoint=snaps)
    return model, snaps.state[1], snaps.state[2]


@pytest.mark.parametrize("biased", [True, False])
def test_half_steps_equal_direct_least_squares(biased):
    users, items, ratings, n_users, n_items = small_mixed()
    cfg = ALSConfig(rank=4, reg=0.07, bias_reg=0.3, biased=biased, iterations=2, dtype="float64", **WIDE)
    model, first, second = fit_two_iterations(cfg, users, items, ratings, n_users, n_items)
    mu = model.global_mean
    assert mu == (pytest.approx(ratings.mean()) if biased else 0.0)

    expected_users = direct_solve(users, items, ratings, n_users, first["item_factors"], first["item_bias"], mu, cfg)
    np.testing.assert_allclose(model_solution(second, "user", 4, biased), expected_users, rtol=1e-9, atol=1e-11)
    expected_items = direct_solve(items, users, ratings, n_items, second["user_factors"], second["user_bias"], mu, cfg)
    np.testing.assert_allclose(model_solution(second, "item", 4, biased), expected_items, rtol=1e-9, atol=1e-11)


def test_cg_converges_to_the_direct_solve_with_more_steps():
    users, items, ratings, n_users, n_items = small_mixed()
    errors = []
    for steps in (1, 3, 12):
        cfg = ALSConfig(rank=4, reg=0.07, iterations=2, solver="cg", cg_steps=steps, dtype="float64", **WIDE)
        model, first, second = fit_two_iterations(cfg, users, items, ratings, n_users, n_items)
        exact = direct_solve(
            users, items, ratings, n_users, first["item_factors"], first["item_bias"], model.global_mean, cfg
        )
        errors.append(np.abs(model_solution(second, "user", 4, True) - exact).max())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-8  # CG is exact after d = 5 steps up to rounding


def test_bias_step_matches_closed_form_with_n_scaled_lambda():
    # With a huge factor lambda the factors are ~0 and each bias solve reduces
    # to b_u = sum_i (r - mu - b_i) / (n_u * (1 + bias_reg)).
    users, items, ratings, n_users, n_items = small_mixed()
    cfg = ALSConfig(rank=2, reg=1e7, bias_reg=0.5, iterations=2, dtype="float64", **WIDE)
    model, first, second = fit_two_iterations(cfg, users, items, ratings, n_users, n_items)
    assert np.abs(second["user_factors"]).max() < 1e-5
    mu = model.global_mean
    n_u = np.bincount(users, minlength=n_users)
    residual_sum = np.bincount(users, ratings - mu - first["item_bias"][items], minlength=n_users)
    scaled = residual_sum / (n_u * (1 + cfg.bias_reg))
    np.testing.assert_allclose(second["user_bias"], scaled, atol=1e-5)
    unscaled = residual_sum / (n_u + cfg.bias_reg)  # plain lambda, as a non-WR solver would do
    assert np.abs(second["user_bias"] - unscaled).max() > 0.01
    n_i = np.bincount(items, minlength=n_items)
    item_sum = np.bincount(items, ratings - mu - second["user_bias"][users], minlength=n_items)
    np.testing.assert_allclose(second["item_bias"], item_sum / (n_i * (1 + cfg.bias_reg)), atol=1e-5)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("biased", [True, False])
def test_recovers_planted_low_rank_matrix(solver, biased):
    (users, items, ratings), (t_users, t_items, t_ratings), n_users, n_items = planted(biased)
    cfg = ALSConfig(rank=3, reg=0.002, iterations=25, biased=biased, solver=solver, **WIDE)
    model = ExplicitALS(cfg).fit(users, items, ratings, n_users, n_items)
    assert rmse(ratings, model.predict(users, items)) < 0.06  # noise sigma is 0.05
    assert rmse(t_ratings, model.predict(t_users, t_items)) < 0.08
    assert rmse(t_ratings, np.full_like(t_ratings, ratings.mean())) > 0.4  # the task is not trivial


def test_cold_users_and_items_get_zeros_and_fall_back_to_known_biases():
    users, items, ratings, n_users, n_items = small_mixed()
    model = ExplicitALS(ALSConfig(rank=4, iterations=3)).fit(users, items, ratings, n_users + 2, n_items + 3)
    for name in ("user_factors", "user_bias"):
        assert not getattr(model, name)[n_users:].any()
    for name in ("item_factors", "item_bias"):
        assert not getattr(model, name)[n_items:].any()
    assert np.isfinite(model.user_factors).all() and np.isfinite(model.item_factors).all()
    assert model.item_bias[:n_items].any() and model.user_bias[:n_users].any()

    cold_user = model.predict([n_users, n_users], [0, n_items])
    expected = np.clip([model.global_mean + model.item_bias[0], model.global_mean], 0.5, 5.0)
    np.testing.assert_allclose(cold_user, expected, rtol=1e-6)
    cold_item = model.predict([5], [n_items + 1])
    np.testing.assert_allclose(cold_item, np.clip(model.global_mean + model.user_bias[5], 0.5, 5.0), rtol=1e-6)


def test_predictions_are_clipped_to_the_configured_scale():
    users, items, ratings, n_users, n_items = small_mixed()
    narrow = ExplicitALS(ALSConfig(rank=4, iterations=3, rating_min=2.0, rating_max=3.0))
    narrow.fit(users, items, ratings, n_users, n_items)
    scores = narrow.predict(users, items)
    assert scores.min() == 2.0 and scores.max() == 3.0
    wide = ExplicitALS(ALSConfig(rank=4, iterations=3, **WIDE)).fit(users, items, ratings, n_users, n_items)
    raw = wide.predict(users, items)
    assert raw.min() < 2.0 and raw.max() > 3.0


@pytest.mark.parametrize(
    ("users", "items", "ratings", "message"),
    [
        ([0, 1], [0, 1], [4.0, np.nan], "NaN/inf"),
        ([0, 1], [0, 1], [np.inf, 3.0], "NaN/inf"),
        ([0, -1], [0, 1], [4.0, 3.0], r"user_idx must lie in 0..2, got -1..0"),
        ([0, 1], [0, 5], [4.0, 3.0], r"item_idx must lie in 0..2, got 0..5"),
        ([0, 1], [0, 1, 2], [4.0, 3.0], "equal lengths"),
        ([0.0, 1.0], [0, 1], [4.0, 3.0], "user_idx must be a 1-D integer array"),
        ([0, 0], [1, 1], [4.0, 3.0], "duplicate"),
        ([], [], [], "zero ratings"),
    ],
)
def test_fit_rejects_bad_input(users, items, ratings, message):
    with pytest.raises(ValueError, match=message):
        ExplicitALS(ALSConfig()).fit(np.array(users), np.array(items), np.array(ratings), 3, 3)


def test_predict_validates_and_requires_a_fit():
    model = ExplicitALS(ALSConfig(rank=2, iterations=1))
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict([0], [0])
    model.fit(np.array([0, 1]), np.array([0, 1]), np.array([4.0, 3.0]), 2, 2)
    with pytest.raises(ValueError, match="item_idx must lie"):
        model.predict([0], [2])
    with pytest.raises(ValueError, match="equal lengths"):
        model.predict([0, 1], [0])


def test_checkpoint_arguments_are_validated():
    args = (np.array([0, 1]), np.array([0, 1]), np.array([4.0, 3.0]), 2, 2)
    with pytest.raises(ValueError, match="exceeds iterations=3"):
        ExplicitALS(ALSConfig(iterations=3)).fit(*args, checkpoints=[4], on_checkpoint=lambda it, m: None)
    with pytest.raises(ValueError, match="without an on_checkpoint"):
        ExplicitALS(ALSConfig(iterations=3)).fit(*args, checkpoints=[2])


def test_zero_reg_on_underdetermined_rows_raises_diverged_error():
    # A user with one rating and five unknowns has a singular system at reg=0.
    users = np.array([0, 1, 1, 1])
    items = np.array([0, 0, 1, 2])
    cfg = ALSConfig(rank=4, reg=0.0, iterations=1)
    with pytest.raises(ALSDivergedError, match=r"iteration 1.*reg=0\.0"):
        ExplicitALS(cfg).fit(users, items, np.array([4.0, 3.0, 2.0, 5.0]), 2, 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_both_dtypes_fit_in_their_own_precision(dtype):
    (users, items, ratings), (t_users, t_items, t_ratings), n_users, n_items = planted()
    model = ExplicitALS(ALSConfig(rank=3, reg=0.002, iterations=25, dtype=dtype, **WIDE)).fit(
        users, items, ratings, n_users, n_items
    )
    for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
        assert getattr(model, name).dtype == np.dtype(dtype)
    assert rmse(t_ratings, model.predict(t_users, t_items)) < 0.08


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                    reason="one numba thread here: a 1-vs-2-thread comparison would compare a run with itself")
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_same_seed_is_bit_identical_across_thread_counts(solver, monkeypatch):
    users, items, ratings, n_users, n_items = small_mixed()
    cfg = ALSConfig(rank=6, iterations=4, solver=solver)
    names = ("user_factors", "item_factors", "user_bias", "item_bias")
    used = []

    def fit(config, threads):
        # this small fit would get one thread from the budget: ask for `threads` instead
        monkeypatch.setattr(als, "threads_for", lambda work: threads)
        model = ExplicitALS(config).fit(users, items, ratings, n_users, n_items)
        used.append(model._fit_threads)
        return [getattr(model, name) for name in names]

    reference = fit(cfg, 2)
    for got in (fit(cfg, 1), fit(cfg, 2)):
        for a, b in zip(reference, got):
            np.testing.assert_array_equal(a, b)
    assert used == [2, 1, 2]  # the comparison really ran on both thread counts
    other_seed = fit(dataclasses.replace(cfg, seed=1), 1)
    assert not np.array_equal(reference[0], other_seed[0])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2 or thread_budget() != 2,
                    reason="needs a budget of exactly two threads, one of them held by another fit")
def test_a_fit_granted_one_thread_takes_the_second_once_the_other_fit_frees_it(monkeypatch):
    """A fit granted one of the two threads it asked for asks again after each sweep: beside another fit, it
    runs its later sweeps on both once the other is done, and lands on the same factors as a fit on two
    threads throughout."""
    users, items, ratings, n_users, n_items = small_mixed()
    cfg = ALSConfig(rank=6, iterations=4, solver="cg")
    monkeypatch.setattr(als, "threads_for", lambda work: 2)  # a large fit's request
    reference = ExplicitALS(cfg).fit(users, items, ratings, n_users, n_items)
    holding, release = threading.Event(), threading.Event()

    def other_fit() -> None:
        with cpu_slot(1):
            holding.set()
            release.wait(timeout=60)

    other = threading.Thread(target=other_fit)
    other.start()
    assert holding.wait(timeout=60)
    sweeps = []

    def after_sweep(it: int, model: ExplicitALS) -> None:
        sweeps.append(numba.get_num_threads())
        if it == 1:
            release.set()
            other.join(timeout=60)

    model = ExplicitALS(cfg).fit(users, items, ratings, n_users, n_items, checkpoints=range(1, 5),
                                 on_checkpoint=after_sweep)
    assert sweeps == [1, 2, 2, 2] and model._fit_threads == 2
    for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
        np.testing.assert_array_equal(getattr(model, name), getattr(reference, name))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rank", 0, "rank must be an integer >= 1"),
        ("rank", True, "rank must be an integer"),
        ("reg", -0.1, "reg must be a finite number >= 0"),
        ("reg", float("nan"), "reg must be a finite number"),
        ("iterations", 0, "iterations must be an integer >= 1"),
        ("bias_reg", -1.0, "bias_reg must be"),
        ("solver", "lu", r"solver must be one of \('cholesky', 'cg'\), got 'lu'"),
        ("dtype", "float16", r"dtype must be one of \('float32', 'float64'\)"),
        ("cg_steps", 0, "cg_steps must be an integer >= 1"),
        ("seed", -1, "seed must be an integer >= 0"),
        ("rating_max", 0.5, "rating_min must be < rating_max"),
        ("biased", "yes", "biased must be True or False"),
    ],
)
def test_config_validation_names_the_bad_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        ALSConfig(**{field: value})
