"""Beyond-accuracy measures (cinemart.evaluation.beyond) on lists small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cinemart.evaluation.beyond import beyond_accuracy, intra_list_diversity

# items 0 and 1 share a direction, item 2 is orthogonal; 4 users in the fit part rated them 4, 2 and 1 times
VECTORS = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
RATERS = np.array([4, 2, 1])


def test_each_measure_by_hand():
    lists = np.array([[0, 1], [0, 2]])
    m = beyond_accuracy(lists, RATERS, 4, VECTORS, personalised=np.array([True, False]), personalises=True)
    assert m.distributional_coverage == pytest.approx(1.5)  # slots 0, 1, 0, 2: p = 1/2, 1/4, 1/4
    assert m.novelty == pytest.approx((0 + 1 + 0 + 2) / 4)  # -log2(4/4), -log2(2/4), -log2(4/4), -log2(1/4)
    assert m.intra_list_diversity == pytest.approx(((1 - 1) + (1 - 0)) / 2)  # cosine 1, then 0
    assert m.popularity_percentile == pytest.approx((1 + 2 / 3 + 1 + 1 / 3) / 4)  # ranks 3, 2, 1 of 3
    assert m.personalised_list_share == 0.5  # the second user's row is all zero


def test_a_model_that_ranks_everyone_alike_personalises_nobody():
    lists = np.array([[0, 1], [0, 1]])
    m = beyond_accuracy(lists, RATERS, 4, VECTORS, personalised=np.array([True, True]), personalises=False)
    assert m.personalised_list_share == 0.0
    assert m.distributional_coverage == pytest.approx(1.0)  # two movies, half the slots each


def test_short_lists_are_not_full_and_single_movies_have_no_pairs():
    lists = np.array([[2, -1], [0, 2]])
    m = beyond_accuracy(lists, RATERS, 4, VECTORS, personalised=np.array([True, True]), personalises=True)
    assert m.personalised_list_share == 0.5
    assert m.intra_list_diversity == pytest.approx(1.0)  # only the second list has a pair (cosine 0)
    assert m.novelty == pytest.approx((2 + 0 + 2) / 3)


def test_a_movie_without_content_counts_as_unlike_every_other():
    vectors = np.vstack([VECTORS, np.zeros((1, 2))])
    assert intra_list_diversity(np.array([[0, 3]]), vectors) == pytest.approx(1.0)
    assert math.isnan(intra_list_diversity(np.array([[0, -1]]), vectors))


def test_diversity_blocks_give_the_same_mean(monkeypatch):
    from cinemart.evaluation import beyond

    rng = np.random.default_rng(0)
    lists = rng.integers(-1, 40, size=(1000, 10))
    vectors = rng.random((40, 5))
    whole = intra_list_diversity(lists, vectors)
    monkeypatch.setattr(beyond, "DIVERSITY_BLOCK", 7)
    assert intra_list_diversity(lists, vectors) == pytest.approx(whole, abs=1e-12)


@pytest.mark.parametrize("lists, raters, match", [
    (np.empty((0, 2), dtype=np.int64), RATERS, "non-empty"),
    (np.array([[-1, -1]]), RATERS, "no list holds a movie"),
    (np.array([[0, 1]]), np.array([4, 0, 1]), "rater"),
])
def test_undefined_inputs_fail_in_one_line(lists, raters, match):
    with pytest.raises(ValueError, match=match):
        beyond_accuracy(lists, raters, 4, VECTORS, personalised=np.ones(len(lists), bool), personalises=True)
