"""Models, the scorer, explanations and tuning on small synthetic data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from cinemart.evaluation.ranking import ranking_metrics, relevant_matrix, top_k_matrix
from cinemart.models import implicit_als
from cinemart.models.base import Factors
from cinemart.models.explicit_als import ALSDivergedError
from cinemart.models.implicit_als import ImplicitParams, confidence, fit_implicit_als, interaction_matrix
from cinemart.models.popularity import fit_popularity
from cinemart.serving import explanations, scoring
from cinemart.serving.explanations import because_you_liked
from cinemart.serving.scoring import similar, top_n
from cinemart.tuning.implicit import (PRESETS, grid_for_feedback, select_best, tune_implicit, validate_grid,
                                      validation_mask)

N_USERS, N_ITEMS = 80, 50


def synthetic_ratings(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each user rates ~30% of items; rating follows a planted rank-3 taste."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(N_USERS, 3)) @ rng.normal(size=(3, N_ITEMS))
    users, items = np.nonzero(rng.random((N_USERS, N_ITEMS)) < 0.3)
    ratings = np.clip(np.round(3 + taste[users, items]), 1, 5).astype(np.float64)
    return users, items, ratings


def random_model(seed: int = 1, n_users: int = N_USERS, n_items: int = N_ITEMS):
    rng = np.random.default_rng(seed)
    return Factors.unbiased(rng.normal(size=(n_users, 4)).astype(np.float32),
                            rng.normal(size=(n_items, 4)).astype(np.float32))


@pytest.fixture(scope="module")
def ratings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return synthetic_ratings()


@pytest.fixture(scope="module")
def seen(ratings) -> sp.csr_matrix:
    users, items, values = ratings
    return interaction_matrix(users, items, values, N_USERS, N_ITEMS)


# ----------------------------------------------------------------- confidence


def test_confidence_kinds() -> None:
    r = np.array([1.0, 3.5, 4.0, 5.0])
    np.testing.assert_array_equal(confidence(r, "binary"), [1, 1, 1, 1])
    np.testing.assert_array_equal(confidence(r, "linear"), r)
    np.testing.assert_array_equal(confidence(r, "threshold"), [0, 0, 1, 1])
    np.testing.assert_array_equal(confidence(r, "threshold", threshold=3.5), [0, 1, 1, 1])
    with pytest.raises(ValueError, match="unknown confidence kind 'log'; allowed: binary, linear, threshold, plays"):
        confidence(r, "log")
    with pytest.raises(ValueError, match="positive ratings"):
        confidence(np.array([0.0, 1.0]), "linear")


def test_plays_confidence_is_the_log_of_one_plus_the_play_count(ratings) -> None:
    """One play counts as binary's 1; more plays count more, by their log, and a fraction of a play stays
    positive; without counts every row is 1."""
    r = np.full(4, 5.0)
    np.testing.assert_allclose(confidence(r, "plays", plays=np.array([1.0, 2.0, 10.0, 0.1])),
                               [1.0, np.log2(3.0), np.log2(11.0), np.log2(1.1)], rtol=1e-6)
    assert (confidence(r, "plays", plays=np.array([1e-3, 0.5])) > 0).all()
    np.testing.assert_array_equal(confidence(r, "plays"), [1, 1, 1, 1])
    users, items, values = ratings
    params = ImplicitParams(factors=4, iterations=3, confidence="plays")
    ones = fit_implicit_als(users, items, values, N_USERS, N_ITEMS, params, seed=0, plays=np.ones(users.size))
    binary = fit_implicit_als(users, items, values, N_USERS, N_ITEMS, ImplicitParams(factors=4, iterations=3,
                                                                                     confidence="binary"), seed=0)
    np.testing.assert_array_equal(ones.item_factors, binary.item_factors)
    counted = fit_implicit_als(users, items, values, N_USERS, N_ITEMS, params, seed=0, plays=values)
    assert not np.allclose(counted.item_factors, binary.item_factors)


def test_implicit_feedback_maps_the_star_confidences() -> None:
    """On interactions every row is a top rating: linear would be binary times 5 and threshold binary."""
    grid = PRESETS["default"]
    assert grid_for_feedback(grid, False, False) == grid
    assert grid_for_feedback(grid, True, True)["confidence"] == ["binary", "plays"]
    assert grid_for_feedback(grid, True, False)["confidence"] == ["binary"]  # every play count is 1
    assert grid_for_feedback({"factors": [8]}, True, True)["confidence"] == ["binary"]  # the default: threshold


def test_interaction_matrix_drops_zeros_and_rejects_duplicates() -> None:
    m = interaction_matrix(np.array([0, 1]), np.array([1, 2]), np.array([0.0, 2.0]), 2, 3)
    assert m.nnz == 1 and m[1, 2] == 2.0
    with pytest.raises(ValueError, match="1 duplicated"):
        interaction_matrix(np.array([0, 0]), np.array([1, 1]), np.array([1.0, 1.0]), 2, 3)
    with pytest.raises(ValueError, match="item_idx must lie in 0..2, got 1..3"):
        interaction_matrix(np.array([0, 0]), np.array([1, 3]), np.array([1.0, 1.0]), 2, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"factors": 0}, "factors must be an integer >= 1, got 0"),
        ({"factors": True}, "factors must be an integer >= 1, got True"),
        ({"factors": 8.0}, "factors must be an integer >= 1, got 8.0"),
        ({"iterations": 0}, "iterations must be an integer >= 1"),
        ({"regularization": -0.1}, "regularization must be a finite number >= 0, got -0.1"),
        ({"regularization": "0.1"}, "regularization must be a finite number >= 0, got '0.1'"),
        ({"alpha": 0.0}, "alpha must be a finite number > 0, got 0.0"),
        ({"alpha": float("nan")}, "alpha must be a finite number > 0, got nan"),
        ({"threshold": None}, "threshold must be a finite number, got None"),
        ({"confidence": "log"}, "unknown confidence kind 'log'"),
    ],
)
def test_implicit_params_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImplicitParams(**kwargs)


# --------------------------------------------------------------------- models


def test_implicit_fit_is_deterministic_for_a_seed_and_any_thread_count(ratings, monkeypatch) -> None:
    params = ImplicitParams(factors=8, regularization=1.0, alpha=2.0, iterations=5)
    fits = []
    for threads in (1, 2, 2):  # implicit's OpenMP threads are real threads even on one core
        monkeypatch.setattr(implicit_als, "threads_for", lambda work, threads=threads: threads)
        fits.append(fit_implicit_als(*ratings, N_USERS, N_ITEMS, params, seed=3))
    for other in fits[1:]:
        np.testing.assert_array_equal(other.user_factors, fits[0].user_factors)
        np.testing.assert_array_equal(other.item_factors, fits[0].item_factors)
    different = fit_implicit_als(*ratings, N_USERS, N_ITEMS, params, seed=4)
    assert not np.array_equal(different.item_factors, fits[0].item_factors)


def test_threshold_confidence_ignores_low_ratings(ratings) -> None:
    users, items, values = ratings
    params = ImplicitParams(factors=4, iterations=3, confidence="threshold")
    with_low = fit_implicit_als(users, items, values, N_USERS, N_ITEMS, params, seed=0)
    high = values >= 4
    without_low = fit_implicit_als(users[high], items[high], values[high], N_USERS, N_ITEMS, params, seed=0)
    np.testing.assert_array_equal(with_low.item_factors, without_low.item_factors)


@pytest.mark.parametrize("side, rows, value", [("user", [2, 5], np.nan), ("movie", [7], np.inf)])
def test_implicit_fit_fails_in_one_line_on_non_finite_factors(ratings, monkeypatch, side, rows, value) -> None:
    """The scorer never lists a NaN score but SQL sorts NaN first: a fit that leaves one stops, in one line."""
    class Diverged:
        def __init__(self, factors: int, **_) -> None:
            self.user_factors = np.ones((N_USERS, factors), np.float32)
            self.item_factors = np.ones((N_ITEMS, factors), np.float32)

        def fit(self, matrix, show_progress: bool) -> None:
            (self.user_factors if side == "user" else self.item_factors)[rows, 1] = value

    monkeypatch.setattr(implicit_als, "AlternatingLeastSquares", Diverged)
    params = ImplicitParams(factors=4, iterations=2)
    with pytest.raises(ALSDivergedError) as error:
        fit_implicit_als(*ratings, N_USERS, N_ITEMS, params, seed=0)
    assert str(error.value) == (f"implicit ALS produced non-finite factors for {len(rows)} {side}(s) with {params}; "
                                "increase regularization or lower alpha")


def test_only_an_all_zero_row_without_bias_cannot_be_personalised() -> None:
    factors = Factors(np.array([[0.0, 0.0], [0.0, 0.1], [0.0, 0.0], [-0.0, 0.0]], np.float32),
                      np.ones((3, 2), np.float32), np.array([0.0, 0.0, 0.2, 0.0]), np.zeros(3))
    assert factors.personalised().tolist() == [False, True, True, False]


def test_popularity_scores_are_counts() -> None:
    items = np.array([0, 0, 0, 1, 1, 2])
    ratings = np.array([5.0, 1.0, 1.0, 4.0, 4.0, 3.0])
    all_ratings = fit_popularity(items, ratings, 2, 4, min_rating=None)
    np.testing.assert_array_equal(all_ratings.item_factors[:, 0], [3, 2, 1, 0])
    liked = fit_popularity(items, ratings, 2, 4)  # default: ratings >= 4
    np.testing.assert_array_equal(liked.item_factors[:, 0], [1, 2, 0, 0])
    recs = top_n(liked, sp.csr_matrix((2, 4), dtype=np.float32), np.array([0]), n=2)
    np.testing.assert_array_equal(recs.item, [1, 0])
    np.testing.assert_array_equal(recs.score, [2, 1])


def test_popularity_ties_go_to_the_lowest_item_index() -> None:
    """Integer counts tie constantly; the scorer settles ties by index (= movie_id order), as the SQL macro does."""
    items = np.array([3, 3, 1, 1, 4, 4, 0])
    liked = fit_popularity(items, np.full(items.size, 5.0), 3, 6)
    seen = sp.csr_matrix(([1.0], ([1], [1])), shape=(3, 6))
    recs = top_n(liked, seen.tocsr(), np.arange(3), n=4)
    np.testing.assert_array_equal(recs.item.reshape(3, 4), [[1, 3, 4, 0], [3, 4, 0, 2], [1, 3, 4, 0]])


def explicit_factors(seed: int = 5) -> Factors:
    rng = np.random.default_rng(seed)
    return Factors(rng.normal(size=(N_USERS, 3)).astype(np.float32), rng.normal(size=(N_ITEMS, 3)).astype(np.float32),
                   rng.normal(size=N_USERS).astype(np.float32), rng.normal(size=N_ITEMS).astype(np.float32), 3.5)


def test_explicit_scores_are_predicted_ratings(seen) -> None:
    fitted = explicit_factors()
    recs = top_n(fitted, seen, np.arange(N_USERS), n=5)
    np.testing.assert_allclose(recs.score, fitted.score_pairs(recs.user, recs.item), rtol=1e-6)
    # and they are the best unseen predicted ratings
    p, q = fitted.user_factors.astype(np.float64), fitted.item_factors.astype(np.float64)
    full = fitted.global_mean + fitted.user_bias[:, None] + fitted.item_bias + p @ q.T
    full[seen.toarray() > 0] = -np.inf
    np.testing.assert_array_equal(recs.item.reshape(N_USERS, 5), np.argsort(-full, axis=1, kind="stable")[:, :5])


def test_similarity_uses_taste_factors_only() -> None:
    fitted = explicit_factors()
    result = similar(fitted.item_factors, np.array([0]), n=N_ITEMS - 1)
    q = fitted.item_factors / np.linalg.norm(fitted.item_factors, axis=1, keepdims=True)
    np.testing.assert_allclose(result.similarity, (q[result.similar_item] @ q[0]), atol=1e-5)
    assert result.similarity.min() < -0.5


def test_factors_reject_mismatched_shapes() -> None:
    fitted = explicit_factors()
    with pytest.raises(ValueError, match="bias shapes"):
        Factors(fitted.user_factors, fitted.item_factors, fitted.user_bias, fitted.item_bias[:-1])


def test_explicit_als_factors_score_its_predictions(ratings, seen) -> None:
    from cinemart.models.explicit_als import ALSConfig, ExplicitALS

    fitted = ExplicitALS(ALSConfig(rank=4, reg=0.1, iterations=5, seed=1)).fit(*ratings, N_USERS, N_ITEMS)
    recs = top_n(fitted.factors(), seen, np.arange(N_USERS), n=3)
    predicted = fitted.predict(recs.user, recs.item)  # clipped to the rating scale
    inside = (recs.score > 0.5) & (recs.score < 5.0)
    assert inside.any()
    np.testing.assert_allclose(recs.score[inside], predicted[inside], rtol=1e-4)


# --------------------------------------------------------------------- scorer


def test_top_n_matches_brute_force_and_never_returns_seen(seen) -> None:
    model = random_model()
    recs = top_n(model, seen, np.arange(N_USERS), n=7)
    scores = model.user_factors @ model.item_factors.T
    scores[seen.toarray() > 0] = -np.inf
    expected = np.argsort(-scores, axis=1)[:, :7]
    np.testing.assert_array_equal(recs.user, np.repeat(np.arange(N_USERS), 7))
    np.testing.assert_array_equal(recs.rank, np.tile(np.arange(1, 8), N_USERS))
    np.testing.assert_array_equal(recs.item.reshape(N_USERS, 7), expected)
    assert not seen[recs.user, recs.item].any()
    assert (np.diff(recs.score.reshape(N_USERS, 7), axis=1) <= 0).all()


def test_items_with_a_non_finite_bias_are_never_scored_nor_listed(seen) -> None:
    """EASE past its budget: only the finite-bias items are candidates, and the lists are what scoring every
    cell and dropping the others gives (ties by item index included)."""
    model = random_model()
    bias = np.where(np.arange(N_ITEMS) % 3 == 0, 0.0, -np.inf).astype(np.float32)
    restricted = Factors(model.user_factors, model.item_factors, model.user_bias, bias)
    recs = top_n(restricted, seen, np.arange(N_USERS), n=7)
    scores = model.user_factors.astype(np.float64) @ model.item_factors.T.astype(np.float64)
    scores[(seen.toarray() > 0) | ~np.isfinite(bias)[None, :]] = -np.inf
    for user in range(N_USERS):
        listed = recs.item[recs.user == user]
        finite = np.flatnonzero(np.isfinite(scores[user]))
        expected = finite[np.lexsort((finite, -scores[user, finite]))][:7]
        np.testing.assert_array_equal(listed, expected)
    nothing = Factors(model.user_factors, model.item_factors, model.user_bias, np.full(N_ITEMS, -np.inf, np.float32))
    assert top_n(nothing, seen, np.arange(N_USERS), n=7).item.size == 0


def sparse_blend(seed: int) -> Factors:
    """A blend past EASE's budget: random_model's columns beside six EASE-like columns, non-zero for 5% of movies."""
    model = random_model()
    rng = np.random.default_rng(seed)
    kept = rng.random(N_ITEMS) < 0.05
    ease_items = np.where(kept[:, None], rng.normal(size=(N_ITEMS, 6)), 0.0).astype(np.float32)
    return Factors.unbiased(np.hstack([model.user_factors, rng.integers(0, 2, (N_USERS, 6))]).astype(np.float32),
                            np.hstack([model.item_factors, ease_items]).astype(np.float32))


def test_columns_few_items_use_are_scored_sparsely_with_the_same_lists(seen) -> None:
    """The blend past EASE's budget: EASE's columns are non-zero only for the movies it keeps. Scored as a
    sparse product beside the dense columns, the lists are those of the dense product."""
    from cinemart.serving import scoring

    blend = sparse_blend(5)
    queries, items = blend.user_factors.astype(np.float64), blend.item_factors.astype(np.float64)
    assert scoring._item_product(queries, items).__qualname__.startswith("_dot_split")
    recs = top_n(blend, seen, np.arange(N_USERS), n=7)
    scores = queries @ items.T
    scores[seen.toarray() > 0] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(recs.item.reshape(N_USERS, 7), expected)
    np.testing.assert_allclose(recs.score.reshape(N_USERS, 7), np.take_along_axis(scores, expected, 1), rtol=1e-6)


@pytest.mark.parametrize(("tile_rows", "tile_columns"), [(1, 7), (3, 1), (256, 5)])
def test_sparse_columns_give_the_same_bytes_whatever_the_tiles(seen, monkeypatch, tile_rows, tile_columns) -> None:
    """`_dot_split` makes a batch's sparse scores once and adds them into every tile: cutting the batches and
    the catalogue differently must not move a list or a score."""
    from cinemart.serving import scoring

    blend = sparse_blend(9)
    users = np.arange(N_USERS)
    reference = top_n(blend, seen, users, n=7)
    monkeypatch.setattr(scoring, "TILE_ROWS", tile_rows)
    monkeypatch.setattr(scoring, "TILE_COLUMNS", tile_columns)
    for a, b in zip(top_n(blend, seen, users, n=7), reference):
        np.testing.assert_array_equal(a, b)


def test_top_n_block_size_does_not_change_results(seen, monkeypatch) -> None:
    model = random_model()
    users = np.array([5, 3, 70, 3])
    b = top_n(model, seen, users)
    monkeypatch.setattr(scoring, "TILE_ROWS", 1)  # one user per batch...
    monkeypatch.setattr(scoring, "TILE_COLUMNS", 7)  # ...and tiles that do not divide the catalogue
    a = top_n(model, seen, users)
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(x, y)
    # float64 products of float32 factors: tile shapes move nothing at float32 precision
    np.testing.assert_array_equal(a.score, b.score)


@pytest.mark.parametrize("n", [1, 3, 10, 40])
@pytest.mark.parametrize("tile_columns", [1, 7, 1024])
def test_each_rows_best_are_the_sorted_finite_scores_ties_by_column(n, tile_columns, monkeypatch) -> None:
    """The tiled top-n scan (`_ranked`, `_tile_top`) against a full sort: integer-valued scores tie often,
    -inf, +inf, NaN and excluded cells are never listed, and a row with fewer listable scores than n lists
    all of them, however the columns are cut into tiles."""
    rng = np.random.default_rng(n)
    scores = rng.integers(0, 6, size=(50, 30)).astype(np.float64)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[rng.random(scores.shape) < 0.02] = np.inf
    scores[7, 3:] = -np.inf  # at most 3 finite
    scores[9] = -np.inf  # nothing to list
    excluded = sp.random(50, 30, density=0.1, random_state=n, format="csr")
    excluded.sort_indices()
    monkeypatch.setattr(scoring, "TILE_COLUMNS", tile_columns)
    finish = scoring._Finish(lambda batch: (excluded[batch].indptr, excluded[batch].indices))
    def product(batch):
        return lambda start, stop: scores[batch, start:stop].copy()
    rows, rank, cols, _ = scoring._ranked(np.arange(50), product, finish, n, 30)
    listable = np.isfinite(scores) & (excluded.toarray() == 0)
    expected_rows, expected_rank, expected_cols = [], [], []
    for r in range(scores.shape[0]):
        finite = np.flatnonzero(listable[r])
        best = finite[np.lexsort((finite, -scores[r, finite]))][:n]
        expected_rows += [r] * best.size
        expected_rank += list(range(1, best.size + 1))
        expected_cols += best.tolist()
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(rank, expected_rank)
    np.testing.assert_array_equal(cols, expected_cols)
    assert 9 not in rows and (rows == 7).sum() == min(n, listable[7].sum())


@pytest.mark.parametrize("batch_cells", [scoring.ORDER_BATCH_CELLS, 7])
def test_a_model_with_one_order_for_everybody_lists_what_scoring_every_cell_lists(monkeypatch, batch_cells) -> None:
    """Popularity and the fallback list skip the users x items scores (`_top_unseen_in_one_order`):
    same users, ranks, items and scores, ties by index, seen and non-finite items never listed."""
    rng = np.random.default_rng(4)
    n_users, n_items = 60, 40
    counts = rng.integers(0, 6, n_items).astype(np.float32)  # integer counts: ties everywhere
    counts[[3, 17]] = np.nan  # never listed, by either path
    seen = sp.random(n_users, n_items, density=0.4, random_state=5, format="csr")
    seen[7] = 1.0  # a user who rated everything gets nothing
    seen = seen.tocsr()
    users = np.array([9, 0, 7, 33, 9, 59, 12])
    shared = Factors(np.full((n_users, 1), 2.0, np.float32), counts[:, None], np.full(n_users, 0.5, np.float32),
                     rng.normal(size=n_items).astype(np.float32), 1.25)
    assert scoring._shared_scores(shared) is not None
    monkeypatch.setattr(scoring, "ORDER_BATCH_CELLS", batch_cells)
    fast = top_n(shared, seen, users, n=12)
    monkeypatch.setattr(scoring, "_shared_scores", lambda factors: None)  # the tiled path
    blocked = top_n(shared, seen, users, n=12)
    for name, got, expected in zip(fast._fields, fast, blocked):
        np.testing.assert_array_equal(got, expected, err_msg=name)
        assert got.dtype == expected.dtype, name
    assert 7 not in fast.user and fast.user.size > 40 and not seen[fast.user, fast.item].any()


def test_a_model_whose_users_differ_is_scored_cell_by_cell() -> None:
    model = random_model()
    assert scoring._shared_scores(model) is None
    one_factor = Factors.unbiased(np.arange(1, 4, dtype=np.float32)[:, None], np.ones((5, 1), np.float32))
    assert scoring._shared_scores(one_factor) is None  # rank 1, but users scale the scores differently


def test_top_n_returns_all_candidates_when_fewer_than_n() -> None:
    model = random_model(n_users=2, n_items=5)
    seen = sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    recs = top_n(model, seen, np.array([0, 1]), n=10)
    assert sorted(recs.item[recs.user == 0].tolist()) == [3, 4]
    assert sorted(recs.item[recs.user == 1].tolist()) == [0, 1, 2, 3, 4]  # n > catalogue
    np.testing.assert_array_equal(recs.rank, [1, 2, 1, 2, 3, 4, 5])
    everything = top_n(model, sp.csr_matrix((2, 5), dtype=np.float32), np.array([0]), n=10)
    assert sorted(everything.item.tolist()) == [0, 1, 2, 3, 4]


def test_top_n_output_is_arrow_ready(seen) -> None:
    table = pa.table(top_n(random_model(), seen, np.array([1, 2]), n=3)._asdict())
    assert table.schema.names == ["user", "rank", "item", "score"]
    assert [str(t) for t in table.schema.types] == ["int32", "int16", "int32", "float"]
    assert table.num_rows == 6
    empty = top_n(random_model(), seen, np.array([], dtype=np.int64))
    assert [a.size for a in empty] == [0, 0, 0, 0]


def test_top_n_validation(seen) -> None:
    model = random_model()
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        top_n(model, seen, np.array([0]), n=0)
    with pytest.raises(ValueError, match=r"user_ids must lie in 0..79, got 0..80"):
        top_n(model, seen, np.array([0, 80]))
    with pytest.raises(ValueError, match="CSR matrix of shape"):
        top_n(model, seen[:10], np.array([0]))


def test_similar_matches_brute_force_cosine_and_excludes_self() -> None:
    model = random_model()
    result = similar(model.item_factors, np.arange(N_ITEMS), n=5)
    q = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    cosine = q @ q.T
    np.fill_diagonal(cosine, -np.inf)
    expected = np.argsort(-cosine, axis=1)[:, :5]
    np.testing.assert_array_equal(result.similar_item.reshape(N_ITEMS, 5), expected)
    np.testing.assert_allclose(result.similarity, cosine[result.item, result.similar_item], atol=1e-5)
    assert not (result.item == result.similar_item).any()
    assert result.similarity.min() >= -1 and result.similarity.max() <= 1


def test_similar_restrict_to_limits_answers_not_queries() -> None:
    model = random_model()
    allowed = np.array([2, 4, 6, 8])
    result = similar(model.item_factors, np.array([0, 4]), n=10, restrict_to=allowed)
    assert set(result.similar_item[result.item == 0].tolist()) == {2, 4, 6, 8}
    assert set(result.similar_item[result.item == 4].tolist()) == {2, 6, 8}
    np.testing.assert_array_equal(result.rank[result.item == 4], [1, 2, 3])


# --------------------------------------------------------------- explanations


def test_because_you_liked_hand_case() -> None:
    # unit-ish item vectors on a circle: item i at angle i * 30 degrees
    angles = np.deg2rad(np.arange(6) * 30)
    factors = np.column_stack([np.cos(angles), np.sin(angles)]) * np.arange(1, 7)[:, None]
    ratings = sp.csr_matrix(
        np.array(
            [
                [5.0, 0, 0, 4.5, 2.0, 0],  # likes 0 and 3
                [3.0, 2.0, 0, 0, 0, 0],  # likes nothing: falls back to its top (item 0)
                [0, 0, 0, 0, 0, 0],  # no ratings at all
                [0, 0, 4.0, 0, 0, 0],  # only liked item is the recommended one
            ]
        )
    )
    result = because_you_liked(
        factors, ratings, np.array([0, 0, 1, 2, 3]), np.array([5, 1, 5, 1, 2])
    )
    # item 5 is 60 deg from 3 and 150 from 0; item 1 is 30 from 0 and 60 from 3;
    # the disliked item 4 (closest to 5) is never an explanation
    np.testing.assert_array_equal(result.item, [3, 0, 0, -1, -1])
    np.testing.assert_allclose(result.similarity[:3], np.cos(np.deg2rad([60, 30, 150])), atol=1e-6)
    assert np.isnan(result.similarity[3:]).all()


def test_because_you_liked_ties_go_to_the_lower_movie() -> None:
    factors = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 3.0]])  # 1, 2 and 3 point the same way
    ratings = sp.csr_matrix(np.array([[5.0, 0, 4.0, 4.0], [0, 4.0, 4.0, 5.0]]))
    result = because_you_liked(factors, ratings, np.array([0, 1, 1]), np.array([1, 0, 3]))
    np.testing.assert_array_equal(result.item, [2, 1, 1])
    np.testing.assert_allclose(result.similarity, [1.0, 0.0, 1.0], atol=1e-6)


def test_because_you_liked_matches_brute_force_in_any_chunking(ratings, seen, monkeypatch) -> None:
    users, items, values = ratings
    matrix = interaction_matrix(users, items, values, N_USERS, N_ITEMS)
    model = random_model()
    recs = top_n(model, seen, np.arange(N_USERS), n=4)
    big = because_you_liked(model.item_factors, matrix, recs.user, recs.item)
    monkeypatch.setattr(explanations, "_CHUNK", 7)
    small = because_you_liked(model.item_factors, matrix, recs.user, recs.item)
    np.testing.assert_array_equal(big.item, small.item)
    np.testing.assert_array_equal(big.similarity, small.similarity)

    q = model.item_factors / np.linalg.norm(model.item_factors, axis=1, keepdims=True)
    dense = matrix.toarray()
    for r in range(0, recs.user.size, 13):
        row = dense[recs.user[r]]
        liked = np.flatnonzero(row >= 4) if (row >= 4).any() else np.flatnonzero(row == row.max())
        best = liked[np.argmax(q[liked] @ q[recs.item[r]])]
        assert big.item[r] == best
        assert dense[recs.user[r], big.item[r]] >= 4 or not (row >= 4).any()


# --------------------------------------------------------------------- tuning


@pytest.mark.parametrize(
    "grid, message",
    [
        ({"rank": [8]}, r"unknown grid key\(s\) \['rank'\]; allowed: factors, regularization"),
        ({"factors": [0]}, "factors must be an integer >= 1, got 0"),
        ({"regularization": [0.1, -1.0]}, "regularization must be a finite number >= 0, got -1.0"),
        ({"alpha": [0]}, "alpha must be a finite number > 0"),
        ({"confidence": ["binary", "log"]}, r"unknown confidence kind 'log'"),
        ({"factors": []}, r"grid\['factors'\] must be a non-empty list"),
        ({"confidence": "binary"}, r"grid\['confidence'\] must be a non-empty list"),
        ({"alpha": [1.0, 1.0]}, "duplicate values"),
        ({"alpha": [[1.0]]}, r"grid\['alpha'\] must hold scalars"),
    ],
)
def test_validate_grid_rejects(grid: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_grid(grid)


def test_presets_are_valid_and_small() -> None:
    for name, grid in PRESETS.items():
        points = validate_grid(grid)
        assert 1 <= len(points) <= 24, name  # default: 12 cheap 16-factor points + 12 at 128
    assert ImplicitParams() in validate_grid(PRESETS["default"])


def test_validation_mask_and_flag_checks(ratings) -> None:
    np.testing.assert_array_equal(validation_mask(np.array([0, 3, 0, 1])), [True, False, True, False])
    with pytest.raises(ValueError, match="fold must be an integer array"):
        validation_mask(np.array([0.0, 1.0]))
    fold = np.arange(ratings[0].size) % 5
    with pytest.raises(ValueError, match="use validation_mask"):
        tune_implicit(*ratings, fold, N_USERS, N_ITEMS, PRESETS["quick"], progress=None)


def test_tune_fits_on_non_validation_rows_and_reports_progress(ratings) -> None:
    users, items, values = ratings
    is_validation = np.arange(users.size) % 5 == 0
    messages: list[str] = []
    grid = {"factors": [4, 8], "regularization": [0.5], "iterations": [3], "confidence": ["binary"]}
    results = tune_implicit(
        users, items, values, is_validation.astype(np.int8), N_USERS, N_ITEMS, grid, seed=1,
        progress=messages.append,
    )
    assert [r.params.factors for r in results] == [4, 8]
    assert len(messages) == 2 and messages[0].startswith("[1/2] factors=4") and "left)" in messages[0]
    assert "elapsed" in messages[1]

    # re-derive the first point's score by hand: fit on train rows only
    fit = ~is_validation
    model = fit_implicit_als(users[fit], items[fit], values[fit], N_USERS, N_ITEMS, results[0].params, seed=1)
    relevant = relevant_matrix(users[is_validation], items[is_validation], values[is_validation], N_USERS, N_ITEMS)
    seen_fit = interaction_matrix(users[fit], items[fit], values[fit], N_USERS, N_ITEMS)
    recs = top_n(model, seen_fit, np.flatnonzero(np.diff(relevant.indptr)))
    expected = ranking_metrics(top_k_matrix(recs.user, recs.rank, recs.item, N_USERS, 10), relevant)
    assert results[0].metrics == expected
    assert select_best(results).ndcg == max(r.ndcg for r in results)
    with pytest.raises(ValueError, match="no tuning results"):
        select_best([])
