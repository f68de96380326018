"""The EASE + implicit ALS blend (cinemart.models.blend) and EASE's tuning (cinemart.tuning.ease)."""

from __future__ import annotations

import numpy as np
import pytest

from cinemart.data.ratings import IndexedRatings
from cinemart.models import blend as blend_module
from cinemart.models.base import Factors
from cinemart.models.blend import BlendWeights, blend, score_scale
from cinemart.models.ease import FIT_WORKING_BYTES, EaseParams
from cinemart.tuning.ease import tune_ease
from cinemart.tuning.plan import TuningPolicy, plan_tuning
from cinemart.warehouse import ease_tables
from test_tuning_plan import split_ratings


def two_models(seed: int = 0) -> tuple[Factors, Factors]:
    rng = np.random.default_rng(seed)
    ease = Factors(rng.integers(0, 2, (30, 12)).astype(np.float32), rng.normal(size=(40, 12)).astype(np.float32),
                   np.zeros(30, np.float32), np.where(np.arange(40) < 12, 0.0, -np.inf).astype(np.float32))
    implicit = Factors.unbiased(rng.normal(size=(30, 5)).astype(np.float32), rng.normal(size=(40, 5)).astype(np.float32))
    return ease, implicit


def test_the_scale_is_the_root_mean_square_of_every_score():
    ease, _ = two_models()
    scores = ease.user_factors.astype(np.float64) @ ease.item_factors.T.astype(np.float64)
    assert score_scale(ease) == pytest.approx(np.sqrt(np.mean(scores ** 2)), rel=1e-12)
    assert score_scale(Factors.unbiased(np.zeros((3, 2)), np.ones((4, 2)))) == 1.0


@pytest.mark.parametrize("shape", ["sparse_users", "dense_users"])
def test_both_routes_to_the_scale_agree_with_the_scores(shape):
    """EASE-like factors (few non-zero user entries, item rows zero outside the kept movies) take the sparse
    product, narrow dense ones the grams; either gives the root mean square of the scores, blocks included."""
    rng = np.random.default_rng(3)
    n_users, n_items, m = blend_module.GRAM_BLOCK_ROWS + 7, 60, 40
    if shape == "sparse_users":
        users = (rng.random((n_users, m)) < 0.02).astype(np.float32)
        items = np.where(np.arange(n_items)[:, None] < m, rng.normal(size=(n_items, m)), 0).astype(np.float32)
    else:
        users = rng.normal(size=(n_users, 3)).astype(np.float32)
        items = rng.normal(size=(n_items, 3)).astype(np.float32)
    routes = []
    original = blend_module._gram
    with pytest.MonkeyPatch.context() as patch:  # record whether the grams were taken
        patch.setattr(blend_module, "_gram", lambda side: routes.append("grams") or original(side))
        scale = score_scale(Factors.unbiased(users, items))
    assert routes == ([] if shape == "sparse_users" else ["grams", "grams"])
    scores = users.astype(np.float64) @ items.T.astype(np.float64)
    assert scale == pytest.approx(np.sqrt(np.mean(scores ** 2)), rel=1e-12)


@pytest.mark.parametrize("weight", [0.25, 0.5, 0.75])
def test_the_blend_scores_the_weighted_normalised_sum_of_its_halves(weight):
    ease, implicit = two_models(1)
    blended, weights = blend(ease, implicit, weight)
    users, items = np.meshgrid(np.arange(30), np.arange(40), indexing="ij")
    users, items = users.ravel(), items.ravel()
    halves = [f.user_factors.astype(np.float64)[users].__mul__(f.item_factors.astype(np.float64)[items]).sum(axis=1)
              for f in (ease, implicit)]
    expected = weight / score_scale(ease) * halves[0] + (1 - weight) / score_scale(implicit) * halves[1]
    np.testing.assert_allclose(blended.score_pairs(users, items), expected, rtol=1e-5, atol=1e-6)
    assert weights == BlendWeights(weight, score_scale(ease), score_scale(implicit))
    # movies outside EASE's scope stay candidates: the ALS half scores them, the blend has no -inf bias
    assert np.isfinite(blended.item_bias).all() and (blended.item_bias == 0).all()


def test_given_scales_make_the_same_blend_without_reading_the_halves_again(monkeypatch):
    """The validation fold tries every weight on the same two fits: the scales are computed once and passed in,
    and the blend is the one that computes them, byte for byte."""
    ease, implicit = two_models(2)
    computed, weights = blend(ease, implicit, 0.5)
    monkeypatch.setattr(blend_module, "score_scale", lambda factors: pytest.fail("a given scale was recomputed"))
    given, given_weights = blend(ease, implicit, 0.5, (weights.ease_scale, weights.implicit_scale))
    assert given_weights == weights
    for side in ("user_factors", "item_factors", "user_bias", "item_bias"):
        assert getattr(given, side).dtype == np.float32
        np.testing.assert_array_equal(getattr(given, side), getattr(computed, side))


def test_a_user_neither_half_learned_from_is_not_personalised():
    ease, implicit = two_models(2)
    ease.user_factors[3] = 0
    implicit.user_factors[3] = 0
    implicit.user_factors[4] = 0
    personalised = blend(ease, implicit, 0.5)[0].personalised()
    assert not personalised[3] and personalised[4]


@pytest.mark.parametrize("weight", [0.0, 1.0, -0.5, 2.0])
def test_the_weight_is_strictly_between_the_two_models(weight):
    ease, implicit = two_models()
    with pytest.raises(ValueError, match="ease_weight"):
        blend(ease, implicit, weight)


def test_halves_on_different_movies_are_refused():
    ease, implicit = two_models()
    other = Factors.unbiased(implicit.user_factors, implicit.item_factors[:39])
    with pytest.raises(ValueError, match="different users or movies"):
        blend(ease, other, 0.5)


def grid_table(data, budget: int) -> dict:
    settings = ease_tables.EaseSettings("custom", {"regularization": [10.0, 100.0]}, budget)
    return ease_tables.ease_grid_search_table(data, settings, TuningPolicy("auto", 2_000_000), seed=1,
                                              progress=lambda message: None).to_pydict()


def test_the_grid_chooses_the_best_validation_ndcg_and_records_each_points_scope():
    data = split_ratings(seed=11)
    grid = grid_table(data, 1 << 30)
    best = int(np.nanargmax(np.array(grid["validation_ndcg_at_10"], dtype=float)))
    assert grid["is_chosen"] == [i == best for i in range(2)]
    assert all(scope == f"all {liked:,} liked movies" for scope, liked in zip(grid["scope"], grid["n_movies_liked"]))
    choice = ease_tables.chosen_ease(grid)
    assert choice.params == EaseParams(grid["regularization"][best]) and choice.skipped_reason is None

    restricted = grid_table(data, FIT_WORKING_BYTES + 100_000)
    assert all(s.startswith("restricted to the ") for s in restricted["scope"])
    assert all(kept < liked for kept, liked in zip(restricted["n_movies_kept"], restricted["n_movies_liked"]))


def test_when_the_budget_skips_every_point_nothing_is_chosen_and_the_reason_is_kept():
    data = split_ratings(seed=11)
    grid = grid_table(data, 1 << 20)
    assert grid["validation_ndcg_at_10"] == [None, None] and grid["is_chosen"] == [False, False]
    assert all(s.startswith("skipped: even the 2 most-liked") for s in grid["scope"])
    choice = ease_tables.chosen_ease(grid)
    assert choice.params is None and choice.skipped_reason == grid["scope"][0]


def test_tuning_ease_fits_on_the_non_validation_rows_only():
    data = split_ratings(seed=12)
    train = data.train
    users, movies = data.user_id[train] - 1, data.movie_id[train] - 1
    flag = data.cv_fold[train] == 0
    tuned = tune_ease(users, movies, data.rating[train], flag, 200, 120, {"regularization": [50.0]}, 1 << 30,
                      progress=None)
    (result,) = tuned.results
    assert tuned.scopes[result.params].n_liked == np.unique(movies[~flag & (data.rating[train] >= 4.0)]).size


def test_tuning_ease_within_given_scopes_fits_only_their_movies():
    data = split_ratings(seed=12)
    train = data.train
    users, movies = data.user_id[train] - 1, data.movie_id[train] - 1
    flag = data.cv_fold[train] == 0
    scope = np.arange(0, 120, 3)
    tuned = tune_ease(users, movies, data.rating[train], flag, 200, 120, {"regularization": [50.0]}, 1 << 30,
                      progress=None, scopes_of={4.0: scope})
    (result,) = tuned.results
    kept = tuned.scopes[result.params].kept
    assert 0 < kept.size <= scope.size and np.isin(kept, np.arange(scope.size)).all()  # indices among scope's


def test_on_a_user_sample_the_grid_is_tuned_on_the_validation_fits_scope():
    """Tuned on a user sample, the budget alone would keep more movies than on all users (its estimate grows
    with the users): the grid keeps the movies ranking_evaluation's validation fit keeps, and says so."""
    data = split_ratings(seed=11)
    budget = FIT_WORKING_BYTES + 100_000
    settings = ease_tables.EaseSettings("custom", {"regularization": [10.0, 100.0]}, budget)
    grid = ease_tables.ease_grid_search_table(data, settings, TuningPolicy("sampled_holdout", 1500), seed=1,
                                              progress=lambda message: None).to_pydict()
    validation_fit = IndexedRatings.build(data, data.part_rows("validation")[0])
    choice = ease_tables.EaseChoice(EaseParams(10.0), budget, "run", None)
    scope = ease_tables.scope_of(choice, validation_fit)
    assert scope.restricted
    assert grid["n_movies_kept"] == [scope.m] * 2 and grid["scope"] == [ease_tables.scope_text(scope)] * 2
    assert any(ndcg is not None for ndcg in grid["validation_ndcg_at_10"])
    plan = plan_tuning(data, TuningPolicy("sampled_holdout", 1500), seed=1)
    sample = IndexedRatings.build(data, plan.rows & ~(data.cv_fold == 0))
    own = ease_tables.scope_of(choice, sample)
    assert own.m > scope.m  # what the sample's own budget would have fitted


def test_when_ease_is_skipped_its_factor_table_and_the_blends_are_empty():
    """The served tables of a build whose budget skipped EASE: both empty, in the factor tables' columns (what
    serving_settings then never flags, since neither model has validation figures)."""
    from cinemart.data.ids import IdIndex
    from cinemart.warehouse.factor_tables import ServedFactors

    data = split_ratings(seed=13)
    skipped = ease_tables.EaseChoice(None, 1 << 20, "ease-run", "skipped: even the 2 most-liked ...")
    ease = ease_tables.ease_factors_table(data, skipped, progress=lambda message: None)
    users, movies = IdIndex(np.unique(data.user_id)), IdIndex(np.unique(data.movie_id))
    implicit = ServedFactors("implicit_als", "implicit-run", users, movies,
                             Factors.unbiased(np.ones((len(users), 2)), np.ones((len(movies), 2))),
                             np.ones(len(movies), np.int64))
    blended = ease_tables.blend_factors_table(data, implicit, None, None)
    assert ease.num_rows == blended.num_rows == 0
    assert ease.schema == blended.schema and "factors" in ease.schema.names
