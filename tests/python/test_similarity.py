"""Content vectors, the collaborative/content blend and the cold-start picks, on small hand-made catalogues."""

import numpy as np
import pytest

from cinemart.data.ids import IdIndex
from cinemart.serving.scoring import similar
from cinemart.similarity.blend import (QUANTUM, blended_similar, quantized, similarity_vectors, source_of,
                                       support_weight)
from cinemart.similarity.cold_start import pick_order
from cinemart.similarity.content import ContentWeights, content_vectors, normalize_tag

IDS = np.array([30, 10, 20, 40, 50])
GENRES = [["Drama"], ["Comedy", "Romance"], ["Comedy", "Romance"], ["(no genres listed)"], None]
YEARS = np.array([1950.0, 1995.0, 1995.0, np.nan, 2001.0])


def catalogue(tag_ids=(), tags=(), **weights):
    return content_vectors(IDS, GENRES, YEARS, np.array(tag_ids, dtype=np.int64), list(tags),
                           ContentWeights(**weights))


def row(found, movie_id):
    return found.vectors[found.movies.encode([movie_id])[0]]


def test_rows_are_sorted_unit_length_or_zero_when_nothing_is_known():
    found = catalogue()
    assert found.movies.ids.tolist() == [10, 20, 30, 40, 50]
    norms = np.linalg.norm(found.vectors, axis=1)
    assert norms[found.movies.encode([40])[0]] == 0  # no genre, no year, no tag
    assert np.allclose(np.delete(norms, found.movies.encode([40])[0]), 1, atol=1e-6)
    assert "genre:(no genres listed)" not in found.dims and "genre:Drama" in found.dims


def test_same_genres_and_year_are_identical_and_decades_apart_are_not():
    found = catalogue()
    assert row(found, 10) @ row(found, 20) == pytest.approx(1.0, abs=1e-6)
    assert row(found, 10) @ row(found, 50) > row(found, 10) @ row(found, 30) >= 0  # 1995~2001, not 1950


def test_tags_are_normalized_and_need_two_movies():
    found = catalogue([10, 20, 20, 30], ["Dark  Comedy", "dark comedy ", "one-off", "one-off"], genres=0, year=0)
    assert normalize_tag("  Dark \t Comedy ") == "dark comedy"
    assert [d for d in found.dims if d.startswith("tag:")] == ["tag:dark comedy", "tag:one-off"]
    assert row(found, 10) @ row(found, 20) > 0.5  # both tagged "dark comedy", however typed
    alone = catalogue([10, 20], ["only here", "and there"], year=0)
    assert not [d for d in alone.dims if d.startswith("tag:")]


def test_the_tag_vocabulary_is_capped_most_widespread_first():
    found = catalogue([10, 20, 10, 20, 30], ["b", "b", "a", "a", "a"], max_tag_terms=1)
    assert [d for d in found.dims if d.startswith("tag:")] == ["tag:a"]


def test_bad_input_fails_in_one_line():
    with pytest.raises(ValueError, match="equally long"):
        content_vectors(IDS[:3], GENRES, YEARS, np.array([], np.int64), [])
    with pytest.raises(ValueError, match="must not all be 0"):
        ContentWeights(genres=0, tags=0, year=0)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        support_weight(np.array([1]), np.array([True]), 0)


def test_support_weight_and_source():
    weight = support_weight(np.array([0, 1, 5, 10, 400, 50]), np.array([True] * 5 + [False]), 10)
    assert weight.tolist() == [0.0, 0.1, 0.5, 1.0, 1.0, 0.0]
    assert source_of(weight).tolist() == ["content", "blend", "blend", "collaborative", "collaborative", "content"]


@pytest.fixture(scope="module")
def blended():
    """60 movies: the first 40 well rated, 10 rated a few times, 10 never (no factors at all)."""
    rng = np.random.default_rng(3)
    n = 60
    ids = np.arange(1, n + 1) * 10
    genres = [[["Drama"], ["Comedy"], ["Horror", "Thriller"]][i % 3] for i in range(n)]
    years = rng.integers(1950, 2020, n).astype(float)
    content = content_vectors(ids, genres, years, np.array([], np.int64), [])
    factor_movies = IdIndex(ids[:50])
    factors = rng.normal(size=(50, 6)).astype(np.float32)
    ratings = np.r_[rng.integers(10, 300, 40), rng.integers(1, 10, 10)]
    return similarity_vectors(content, factor_movies, factors, ratings, threshold=10), factors


def test_well_rated_movies_keep_their_collaborative_list(blended):
    vectors, factors = blended
    found = blended_similar(vectors, n=5)
    expected = similar(factors, np.arange(40), n=5, restrict_to=np.arange(40))
    for movie in range(40):
        assert found.similar_item[found.item == movie].tolist() == expected.similar_item[expected.item == movie].tolist()
        assert np.allclose(found.similarity[found.item == movie], expected.similarity[expected.item == movie],
                           atol=1e-5)


def test_every_movie_gets_a_list_and_unrated_ones_by_content(blended):
    vectors, _ = blended
    found = blended_similar(vectors, n=5)
    assert np.unique(found.item).tolist() == list(range(60))
    assert source_of(vectors.weight)[50:].tolist() == ["content"] * 10
    # movies under the threshold are listed only through content: never for a well-rated movie
    assert not np.isin(found.similar_item[found.item < 40], np.arange(40, 60)).any()
    unrated = found.similar_item[found.item == 55]
    assert (unrated % 3 == 55 % 3).all()  # the same genre first


def test_scores_are_exact_in_any_summation_order(blended):
    vectors, _ = blended
    assert (quantized(vectors.query) == vectors.query).all()
    assert (np.round(vectors.query.astype(np.float64) / QUANTUM) * QUANTUM == vectors.query).all()
    q, c = vectors.query[45].astype(np.float64), vectors.candidate.astype(np.float64)
    forward = c @ q
    backward = np.array([sum(float(a) * float(b) for a, b in zip(q[::-1], row[::-1])) for row in c])
    assert (forward == backward).all()


def test_cold_start_picks_are_seeded_nested_and_order_free():
    rng = np.random.default_rng(0)
    movie_id = np.repeat([1, 2, 3], [30, 5, 12])
    user_id = np.concatenate([rng.permutation(100)[:30], rng.permutation(100)[:5], rng.permutation(100)[:12]])
    rows, pick = pick_order(movie_id, user_id, np.array([1, 2]), 10, seed=7)
    assert np.bincount(movie_id[rows]).tolist() == [0, 10, 5]
    chosen = {(movie_id[r], user_id[r], p) for r, p in zip(rows, pick)}
    shuffle = rng.permutation(movie_id.size)
    again_rows, again_pick = pick_order(movie_id[shuffle], user_id[shuffle], np.array([1, 2]), 10, seed=7)
    assert {(movie_id[shuffle][r], user_id[shuffle][r], p) for r, p in zip(again_rows, again_pick)} == chosen
    other_rows, _ = pick_order(movie_id, user_id, np.array([1]), 10, seed=8)
    assert set(user_id[other_rows]) != {u for m, u, _ in chosen if m == 1}


def test_a_movie_without_taste_or_content_gets_the_most_rated_movies():
    """Movie 40 has no genre, year or tag and all-zero factors: its list is by popularity, source 'popular'."""
    content = catalogue()
    factors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.0, 0.0], [0.5, 0.5]])
    vectors = similarity_vectors(content, content.movies, factors, np.array([7, 30, 3, 2, 12]), threshold=5)
    assert source_of(vectors.weight, vectors.is_popular).tolist() == ["collaborative", "collaborative", "blend",
                                                                      "popular", "collaborative"]
    found = blended_similar(vectors, n=3)
    assert found.similar_item[found.item == 3].tolist() == [1, 4, 0]  # 30, 12 then 7 ratings
    assert not vectors.is_candidate[3]  # popularity alone never makes a neighbour
    others = found.item != 3
    assert not np.isin(3, found.similar_item[others])


@pytest.mark.parametrize("tile_rows", [1, 7, 256])
def test_lists_are_the_full_products_bit_for_bit_though_tiles_skip_unused_columns(blended, monkeypatch, tile_rows):
    """Tiles multiply only the columns their queries use (scoring._dot_used_columns); nothing else may change."""
    from cinemart.serving import scoring

    monkeypatch.setattr(scoring, "TILE_ROWS", tile_rows)
    vectors, _ = blended
    found = blended_similar(vectors, n=5)
    scores = vectors.query.astype(np.float64) @ vectors.candidate.astype(np.float64).T
    scores[:, ~vectors.is_candidate] = -np.inf
    np.fill_diagonal(scores, -np.inf)
    for movie in range(len(vectors.movies)):
        order = np.lexsort((np.arange(scores.shape[1]), -scores[movie]))[:5]
        mine = found.item == movie
        assert found.rank[mine].tolist() == [1, 2, 3, 4, 5]
        assert found.similar_item[mine].tolist() == order.tolist()
        assert found.similarity[mine].tolist() == np.clip(scores[movie, order], -1, 1).astype(np.float32).tolist()
    assert (np.diff(found.item) >= 0).all()  # lists come back in query order
