"""Ranking metrics against hand-computed cases and implicit's own evaluator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.evaluation import ranking_metrics_at_k
from implicit_reference import as_implicit_model

from cinemart.models.base import Factors
from cinemart.models.implicit_als import interaction_matrix
from cinemart.evaluation.ranking import (
    catalogue_coverage,
    hit_matrix,
    per_user_metrics,
    ranking_metrics,
    relevant_matrix,
    top_k_matrix,
)
from cinemart.serving.scoring import top_n

# k = 4, 10 items. User 1 has no relevant item (excluded from the means but its
# list still counts for coverage); user 2 has a single candidate; user 3 has
# more relevant items (6) than list slots.
TOP = np.array(
    [
        [5, 1, 7, 2],
        [6, 5, -1, -1],
        [3, -1, -1, -1],
        [0, 9, 1, 8],
    ]
)
RELEVANT = {0: [1, 2, 9], 2: [3], 3: [0, 1, 2, 3, 4, 5]}


def _relevant() -> sp.csr_matrix:
    users = [u for u, items in RELEVANT.items() for _ in items]
    items = [i for found in RELEVANT.values() for i in found]
    return relevant_matrix(np.array(users), np.array(items), np.full(len(items), 4.0), 4, 10)


def _dcg(ranks: list[int]) -> float:
    return sum(1 / math.log2(r + 1) for r in ranks)


def test_hand_computed_case() -> None:
    m = ranking_metrics(TOP, _relevant())
    # user 0: hits at ranks 2, 4, R = 3; user 2: hit at 1, R = 1;
    # user 3: hits at ranks 1, 3, R = 6 -> min(k, R) = 4
    assert m.n_users == 3
    assert m.precision == pytest.approx((2 / 4 + 1 / 4 + 2 / 4) / 3)
    assert m.recall == pytest.approx((2 / 3 + 1 / 1 + 2 / 4) / 3)
    ndcg = (_dcg([2, 4]) / _dcg([1, 2, 3]) + 1.0 + _dcg([1, 3]) / _dcg([1, 2, 3, 4])) / 3
    assert m.ndcg == pytest.approx(ndcg)
    ap = ((1 / 2 + 2 / 4) / 3 + 1.0 + (1 / 1 + 2 / 3) / 4) / 3
    assert m.map == pytest.approx(ap)
    assert m.coverage == pytest.approx(9 / 10)  # {0,1,2,3,5,6,7,8,9}
    assert m.pooled_recall == pytest.approx((2 + 1 + 2) / (3 + 1 + 4))


def test_per_user_values_and_evaluated_users() -> None:
    per_user = per_user_metrics(TOP, _relevant())
    np.testing.assert_array_equal(per_user["users"], [0, 2, 3])
    np.testing.assert_array_equal(per_user["hits"], [2, 1, 2])
    np.testing.assert_allclose(per_user["ap"], [1 / 3, 1.0, 5 / 12])
    # a perfect list scores 1 on every metric except precision (R < k)
    assert per_user["ndcg"][1] == pytest.approx(1.0)
    assert per_user["recall"][1] == pytest.approx(1.0)
    assert per_user["precision"][1] == pytest.approx(0.25)


def test_hit_matrix_ignores_padding_and_other_users_items() -> None:
    hits = hit_matrix(TOP, _relevant())
    expected = np.zeros(TOP.shape, dtype=bool)
    expected[0, [1, 3]] = True
    expected[2, 0] = True
    expected[3, [0, 2]] = True
    np.testing.assert_array_equal(hits, expected)
    # item 5 is relevant for user 3 only, not for user 1 who was recommended it
    assert not hits[1].any()


def test_relevant_matrix_threshold_is_inclusive() -> None:
    rel = relevant_matrix(np.array([0, 0, 1]), np.array([0, 1, 2]), np.array([3.5, 4.0, 5.0]), 2, 3)
    assert rel.toarray().tolist() == [[False, True, False], [False, False, True]]


def test_top_k_matrix_roundtrip_and_validation() -> None:
    users, ranks = np.nonzero(TOP >= 0)
    top = top_k_matrix(users, ranks + 1, TOP[users, ranks], 4, 4)
    np.testing.assert_array_equal(top, TOP)
    with pytest.raises(ValueError, match="ranks must lie in 1..4"):
        top_k_matrix(np.array([0]), np.array([5]), np.array([1]), 4, 4)
    with pytest.raises(ValueError, match="users must lie in 0..3"):
        top_k_matrix(np.array([4]), np.array([1]), np.array([1]), 4, 4)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="no user has a relevant"):
        ranking_metrics(TOP, sp.csr_matrix((4, 10), dtype=bool))
    with pytest.raises(ValueError, match="n_users = 4"):
        hit_matrix(TOP[:2], _relevant())
    with pytest.raises(ValueError, match="n_catalogue must be >= 1"):
        catalogue_coverage(TOP, 0)


def test_agrees_with_implicit_where_definitions_coincide() -> None:
    rng = np.random.default_rng(7)
    n_users, n_items = 60, 80
    factors = Factors.unbiased(rng.normal(size=(n_users, 5)).astype(np.float32),
                               rng.normal(size=(n_items, 5)).astype(np.float32))
    model = as_implicit_model(factors)  # implicit's metrics need one of its models
    cells = rng.choice(n_users * n_items, size=1500, replace=False)
    users, items = cells // n_items, cells % n_items
    ratings = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=cells.size)
    is_test = rng.random(cells.size) < 0.3
    train = interaction_matrix(users[~is_test], items[~is_test], ratings[~is_test], n_users, n_items)
    relevant = relevant_matrix(users[is_test], items[is_test], ratings[is_test], n_users, n_items)

    recs = top_n(factors, train, np.arange(n_users), n=10)
    ours = ranking_metrics(top_k_matrix(recs.user, recs.rank, recs.item, n_users, 10), relevant)
    theirs = ranking_metrics_at_k(
        model, train, relevant.astype(np.float32), K=10, show_progress=False
    )
    assert ours.ndcg == pytest.approx(theirs["ndcg"], rel=1e-9)
    assert ours.map == pytest.approx(theirs["map"], rel=1e-9)
    # implicit's "precision" is the pooled recall, not hits / k
    assert ours.pooled_recall == pytest.approx(theirs["precision"], rel=1e-9)
    assert ours.precision != pytest.approx(theirs["precision"])


def test_metrics_by_activity_split_the_evaluated_users_by_train_profile():
    """Buckets by train ratings; an empty bucket is reported with 0 users and no metrics, never zeros."""
    from cinemart.evaluation.activity import activity_bucket, metrics_by_activity

    assert activity_bucket(np.array([0, 1, 5, 6, 20, 21, 100, 101, 5000])).tolist() == [-1, 0, 0, 1, 1, 2, 2, 3, 3]
    # users 0..3: relevant item = their own index; user 3 has none (not evaluated)
    relevant = relevant_matrix(np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([5.0, 5.0, 4.0]), 4, 4)
    top = np.array([[0, 1], [2, 3], [2, -1], [0, 1]])  # hits: user 0 at rank 1, user 2 at rank 1
    rows = metrics_by_activity(top, relevant, n_train=np.array([3, 8, 50, 2]))
    assert [(r["activity_bucket"], r["bucket_order"], r["n_users"]) for r in rows] == [
        ("1-5", 1, 1), ("6-20", 2, 1), ("21-100", 3, 1), (">100", 4, 0)]
    assert [r["precision"] for r in rows] == [0.5, 0.0, 0.5, None]
    assert [r["ndcg"] for r in rows] == [1.0, 0.0, 1.0, None]
