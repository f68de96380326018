"""Small, data-free checks of cinemart.spark: environment errors, exact top-n ties, engine detection."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyspark")


from cinemart.spark import is_spark_session  # noqa: E402
from cinemart.spark.blocked import _top_rows, top_n_against  # noqa: E402
from cinemart.spark.environment import SparkEnvironmentError, check_spark_environment  # noqa: E402

def test_missing_java_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkEnvironmentError) as error:
        check_spark_environment()
    assert "Java is missing" in str(error.value) and "\n" not in str(error.value)


def test_unreachable_master_is_one_clear_line():
    with pytest.raises(SparkEnvironmentError, match="spark://127.0.0.1:9 is unreachable"):
        check_spark_environment("spark://127.0.0.1:9")


def test_top_rows_breaks_ties_by_index_and_skips_masked():
    scores = np.array([[1.0, 3.0, 3.0, -np.inf, 3.0, 0.5],
                       [-np.inf, -np.inf, 2.0, -np.inf, -np.inf, -np.inf]])
    first, second = _top_rows(scores, 3)
    assert first.tolist() == [1, 2, 4]       # three-way tie at 3.0: lowest index first
    assert second.tolist() == [2]            # fewer unmasked candidates than n: all of them, nothing masked


def test_top_n_against_masks_excluded_ids_and_orders_by_score_then_id(spark):
    item_ids = np.array([30, 10, 20, 40])      # unsorted on purpose: ids are the tie-break order
    items = np.array([[1.0], [2.0], [2.0], [0.5]])
    queries = spark.createDataFrame([(1, [1.0], [10], 0.0), (2, [1.0], None, 5.0)],
                                    "user_id bigint, vector array<double>, exclude array<bigint>, offset double")
    got = top_n_against(queries, "user_id", item_ids, items, 3, "movie_id", "score").orderBy("user_id", "rank")
    rows = [(r["user_id"], r["rank"], r["movie_id"], r["score"]) for r in got.collect()]
    assert rows == [(1, 1, 20, 2.0), (1, 2, 30, 1.0), (1, 3, 40, 0.5),
                    (2, 1, 10, 7.0), (2, 2, 20, 7.0), (2, 3, 30, 6.0)]
    assert is_spark_session(spark)


def test_spark_judges_the_same_user_sample_as_duckdb(spark):
    """Past ranking_eval_max_users both engines draw the sample with cinemart.evaluation.users from the same ids."""
    from dataclasses import replace

    from cinemart.evaluation.users import evaluation_users
    from cinemart.spark.ranking import evaluated_users
    from cinemart.warehouse.ranking_tables import RankingSettings

    settings = replace(RankingSettings.from_config({}), eval_max_users=100)
    rows = [(int(u), int(m)) for u in range(1, 301) for m in (u % 7 + 1, u % 5 + 10)]
    relevant = spark.createDataFrame(rows, "user_id bigint, movie_id bigint")
    kept, users, chosen = evaluated_users(relevant, settings)
    expected = evaluation_users(np.arange(1, 301), 100, settings.seed)
    assert chosen.is_sample and chosen.n_eligible == 300
    assert sorted(r[0] for r in users.collect()) == expected.ids.tolist()
    assert sorted({r[0] for r in kept.collect()}) == expected.ids.tolist() and kept.count() == 200


def test_implicit_fit_fails_in_one_line_on_non_finite_factors(spark, monkeypatch):
    """As on DuckDB (cinemart.models.implicit_als.non_finite_factors): SQL would sort a NaN score first."""
    from types import SimpleNamespace

    from cinemart.models.explicit_als import ALSDivergedError
    from cinemart.models.implicit_als import ImplicitParams
    from cinemart.spark import ranking

    params = ImplicitParams(factors=2, iterations=1, confidence="binary")
    ratings = spark.createDataFrame([(1, 10, 4.0), (2, 10, 3.0), (2, 20, 5.0)],
                                    "user_id bigint, movie_id bigint, rating double")
    vectors = "id int, features array<float>"
    model = SimpleNamespace(userFactors=spark.createDataFrame([(1, [0.5, float("nan")]), (2, [0.1, 0.2])], vectors),
                            itemFactors=spark.createDataFrame([(10, [1.0, 0.0]), (20, [0.0, 1.0])], vectors))
    monkeypatch.setattr(ranking, "fit_als", lambda als, frame: model)
    with pytest.raises(ALSDivergedError) as error:
        ranking.fit_implicit(ratings, params, seed=1)
    assert str(error.value) == (f"implicit ALS produced non-finite factors for 1 user(s) with {params}; "
                                "increase regularization or lower alpha")
