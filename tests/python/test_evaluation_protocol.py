"""The evaluation protocol outside dbt (cinemart.evaluation.protocol) splits ml-latest-small as the warehouse does.

The accuracy tests that train outside dbt (test_ranking_accuracy, the
benchmarks) rely on it. The explicit model's accuracy bands on this data are
checked where the warehouse trains it: the default grid in the run's shared
build and Spark's plain model on the seed notebook's 27-point grid, both in
test_real_data_recommender.
"""

from __future__ import annotations

from cinemart.evaluation.protocol import load_split


def test_split_matches_the_warehouse_protocol():
    split = load_split()
    assert split.train_user.size == 80_644
    assert split.test_user.size == 19_380
    assert split.n_test_dropped == 812  # test rows whose user or movie never occurs in train
    assert (split.n_users, split.n_items) == (610, 9_724)
    assert set(split.train_fold.tolist()) == {0, 1, 2, 3, 4}
