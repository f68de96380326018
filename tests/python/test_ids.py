"""Id <-> index mapping: the lookup table over small id spans and the sort-and-search fallback agree."""

from __future__ import annotations

import numpy as np
import pytest

from cinemart.data import ids as ids_module
from cinemart.data.ids import IdIndex


@pytest.fixture(params=["table", "search"])
def path(request, monkeypatch):
    if request.param == "search":
        monkeypatch.setattr(ids_module, "DENSE_SPAN_LIMIT", 0)
    return request.param


def test_ids_are_sorted_unique_and_unknown_ids_encode_to_minus_one(path):
    index = IdIndex.from_ids(np.array([30, 7, 7, 12]), np.array([], dtype=np.int64), np.array([-4, 30]))
    assert index.ids.tolist() == [-4, 7, 12, 30]
    got = index.encode(np.array([12, 30, -4, 7, 8, 31, -5, 10**12]))
    assert got.dtype == np.int32 and got.tolist() == [2, 3, 0, 1, -1, -1, -1, -1]
    assert index.decode(got[:4]).tolist() == [12, 30, -4, 7]


def test_both_paths_give_the_same_index():
    rng = np.random.default_rng(0)
    ratings_ids = rng.integers(1, 300_000, 200_000)
    table = IdIndex.from_ids(ratings_ids)
    probe = rng.integers(-10, 400_000, 50_000)
    assert table.ids.tolist() == np.unique(ratings_ids).tolist()
    wide = IdIndex.from_ids(ratings_ids, np.array([10**10]))  # a span too wide for a table
    assert wide._table is None and wide.ids[:-1].tolist() == table.ids.tolist()
    np.testing.assert_array_equal(table.encode(probe), wide.encode(probe))


def test_an_empty_index_knows_no_id(path):
    index = IdIndex.from_ids(np.array([], dtype=np.int64))
    assert len(index) == 0 and index.encode(np.array([1, 2])).tolist() == [-1, -1]
