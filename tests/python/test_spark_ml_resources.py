"""The Spark engine honours or refuses every var, and gives back what its fits cache (issue 23, items 8 and 11).

- tuning_strategy auto samples users past tuning_max_ratings, with the DuckDB engine's rule and users;
- als_solver / als_dtype other than what MLlib does fail in one line before any work;
- a grid search, a model's fits and its write leave no cached frame or persisted RDD behind;
- the executors' top-n is vectorised and exact: (score desc, id asc), masked ids never listed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pyspark")

from cinemart.data.ratings import SplitRatings  # noqa: E402
from cinemart.tuning.plan import TuningPolicy, plan_tuning  # noqa: E402
from cinemart.warehouse.dbt import WarehouseError, check_engine_vars  # noqa: E402

#: Small enough for seconds per fit, past the smallest tuning_max_ratings (1000) so `auto` samples.
SETTINGS = {"als_grid": {"rank": [2], "reg": [0.1], "iterations": [2]},
            "implicit_grid": {"factors": [2], "regularization": [0.1], "alpha": [1.0], "iterations": [2],
                              "confidence": ["binary"]},
            "tuning_strategy": "auto", "tuning_max_ratings": 1000}


def synthetic_split() -> SplitRatings:
    """80 users x 40 movies, ~1,600 ratings, ~1,280 train in CV folds 0-1, ~20 % test."""
    rng = np.random.default_rng(7)
    users, movies = np.meshgrid(np.arange(1, 81), np.arange(1, 41), indexing="ij")
    keep = rng.random(users.shape) < 0.5
    user_id, movie_id = users[keep].astype(np.int64), movies[keep].astype(np.int64)
    rating = rng.integers(1, 11, user_id.size) / 2.0
    is_test = rng.random(user_id.size) < 0.2
    cv_fold = np.where(is_test, -1, rng.integers(0, 2, user_id.size)).astype(np.int32)
    return SplitRatings.from_columns({"user_id": user_id, "movie_id": movie_id, "rating": rating,
                                      "is_test": is_test, "cv_fold": cv_fold,
                                      "is_after_cut": np.random.default_rng(8).random(user_id.size) < 0.2})


def as_spark(spark, data: SplitRatings):
    rows = [(int(u), int(m), float(r), bool(t), None if t else int(f), bool(c)) for u, m, r, t, f, c
            in zip(data.user_id, data.movie_id, data.rating, data.is_test, data.cv_fold, data.is_after_cut)]
    return spark.createDataFrame(rows, "user_id bigint, movie_id bigint, rating double, is_test boolean, cv_fold int, "
                                       "is_after_cut boolean")


def persisted_rdds(spark) -> set[int]:
    rdds = spark.sparkContext._jsc.getPersistentRDDs()
    return {int(key) for key in rdds.keySet().toArray()}


# --- item 8: tuning_strategy auto samples on Spark as on DuckDB -------------------------------------------------

def test_spark_tunes_on_the_duckdb_engines_user_sample(spark):
    from cinemart.spark.frames import tuning_rows

    data = synthetic_split()
    policy = TuningPolicy("auto", 1000)
    plan = plan_tuning(data, policy, seed=42)
    assert plan.strategy == "sampled_holdout"  # the data is past the budget: DuckDB samples
    train = as_spark(spark, data).where("not is_test")
    rows = tuning_rows(train, policy, seed=42)
    assert (rows.strategy, rows.n_ratings, rows.n_users) == (plan.strategy, plan.n_ratings, plan.n_users)
    assert sorted({r[0] for r in rows.rows.select("user_id").collect()}) == np.unique(data.user_id[plan.rows]).tolist()
    assert rows.rows.count() == plan.n_ratings
    below = tuning_rows(train, TuningPolicy("auto", 10_000), seed=42)  # within the budget: every train row
    assert (below.strategy, below.n_ratings) == ("kfold", int(data.train.sum()))


# --- item 11 and 8: the grid searches sample, record MLlib's solver and leave nothing cached --------------------

def test_grid_searches_and_a_written_model_leave_nothing_cached(spark):
    from cinemart.spark import explicit, ranking
    from cinemart.spark.dbt_session import SessionPythonJobHelper

    data = synthetic_split()
    split = as_spark(spark, data)
    settings = json.dumps(SETTINGS)
    plan = plan_tuning(data, TuningPolicy("auto", 1000), seed=2020)  # als_seed and implicit_seed default to 2020
    before = persisted_rdds(spark)
    cache_was_empty = spark._jsparkSession.sharedState().cacheManager().isEmpty()

    grid = explicit.als_grid_search(split, settings).collect()
    assert persisted_rdds(spark) <= before  # bias frames, split, train and MLlib's factor RDDs all released
    assert [(r["tuning_strategy"], r["n_tuning_ratings"], r["n_tuning_users"], len(r["fold_rmse"]), r["solver"])
            for r in grid] == [("sampled_holdout", plan.n_ratings, plan.n_users, 1, "cholesky")]

    implicit = ranking.implicit_grid_search(split, settings).collect()
    assert persisted_rdds(spark) <= before
    assert [(r["tuning_strategy"], r["n_tuning_ratings"]) for r in implicit] == [("sampled_holdout", plan.n_ratings)]

    # a model's returned table stays cached until dbt has written it, then goes (dbt_session runs the write)
    split.createOrReplaceTempView("resources_split")
    spark.createDataFrame(grid).createOrReplaceTempView("resources_grid")
    code = ("from cinemart.spark import explicit\n"
            "df = explicit.int_als_factors(spark.table('resources_split'), spark.table('resources_grid'), "
            f"{settings!r})\n"
            "assert df.count() > 0\n"
            "df.write.format('noop').mode('overwrite').save()\n")
    SessionPythonJobHelper({"schema": "test", "alias": "int_als_factors"}, None).submit(code)
    assert persisted_rdds(spark) <= before
    if cache_was_empty:
        assert spark._jsparkSession.sharedState().cacheManager().isEmpty()


def test_mllib_solver_is_what_mllib_runs():
    from pyspark.ml.recommendation import ALS

    from cinemart.spark.explicit import mllib_solver

    assert mllib_solver(ALS()) == "cholesky" and mllib_solver(ALS(nonnegative=True)) == "nnls"


# --- item 8: als_solver / als_dtype are refused on Spark in one line, before any work ---------------------------

@pytest.mark.parametrize("given", [{"als_solver": "cg"}, {"als_dtype": "float64"}])
def test_duckdb_only_solver_settings_fail_in_one_line_on_spark(given):
    from cinemart.spark.explicit import settings_of

    name, value = next(iter(given.items()))
    with pytest.raises(WarehouseError) as error:
        check_engine_vars(given, "spark")
    assert f"var {name} {json.dumps(value)} applies to --engine duckdb only" in str(error.value)
    assert "\n" not in str(error.value)
    check_engine_vars(given, "duckdb")  # the DuckDB engine honours them
    check_engine_vars({"als_solver": "cholesky", "als_dtype": "float32"}, "spark")  # what MLlib does: accepted
    check_engine_vars({"als_solver": "auto"}, "spark")  # the default: Cholesky on Spark
    settings_of(json.dumps({"als_solver": "auto"}))
    with pytest.raises(ValueError, match=f"var {name} '{value}' applies to the DuckDB engine only"):
        settings_of(json.dumps(given))  # and the Spark model itself, for a dbt run without the CLI


def test_a_duckdb_only_solver_fails_a_spark_dbt_run_before_any_model(spark, tmp_path):
    from dbt.cli.main import dbtRunner
    from spark_sql_support import dbt_args

    from cinemart.warehouse.dbt import temporary_environment

    messages: list[str] = []

    env = {"CINEMART_SPARK_BUILD_SCHEMA": "resources_refused", "CINEMART_SPARK_MASTER": "local[2]"}
    with temporary_environment(env):
        result = dbtRunner(callbacks=[lambda event: messages.append(str(event.info.msg))]).invoke(
            dbt_args(["run", "--target", "spark"], tmp_path, {"als_solver": "cg"}, ["stg_movielens__links"]))
    assert not result.success
    refused = [m for m in messages if 'var als_solver "cg" applies to --target duckdb only' in m]
    assert refused and "target 'spark' is spark" in refused[0], messages[-5:]
    assert not any("OK created" in m or "START sql" in m for m in messages)  # no model ran


# --- item 11: the executors' top-n ---------------------------------------------------------------------------------

def reference_top(scores: np.ndarray, n: int) -> list[list[int]]:
    """Per row: finite scores only, sorted by (score desc, column asc), the first n."""
    return [sorted((j for j in range(row.size) if np.isfinite(row[j])), key=lambda j: (-row[j], j))[:n]
            for row in scores]


def test_top_cells_equal_a_sorted_reference_with_ties_and_masks():
    from cinemart.spark.blocked import _top_cells, _top_rows

    rng = np.random.default_rng(3)
    for _ in range(300):
        n_rows, width, n = int(rng.integers(0, 9)), int(rng.integers(0, 14)), int(rng.integers(1, 16))
        scores = rng.integers(-3, 4, size=(n_rows, width)).astype(np.float64)  # small integers: many ties
        scores[rng.random(scores.shape) < 0.25] = -np.inf  # masked cells
        scores[rng.random(scores.shape) < 0.03] = np.nan  # never listed, never hiding a finite score
        expected = reference_top(scores, n)
        assert [row.tolist() for row in _top_rows(scores, n)] == expected
        rows, cols = _top_cells(scores, n)
        assert rows.tolist() == [r for r, row in enumerate(expected) for _ in row]
        assert cols.tolist() == [c for row in expected for c in row]


def test_top_n_against_equals_the_reference_on_random_data(spark, monkeypatch):
    from cinemart.spark import blocked

    monkeypatch.setattr(blocked, "BLOCK_CELLS", 7 * 30)  # several blocks per Arrow batch
    rng = np.random.default_rng(11)
    item_ids = rng.permutation(np.arange(100, 130)).astype(np.int64)  # 30 items, unsorted
    items = rng.integers(-2, 3, size=(30, 2)).astype(np.float64)  # integer scores: ties everywhere
    queries = [(int(k), rng.integers(-2, 3, 2).astype(float).tolist(),
                [int(x) for x in rng.choice(np.arange(95, 135), int(rng.integers(0, 28)), replace=False)],
                float(rng.integers(0, 2)))
               for k in range(40)]
    frame = spark.createDataFrame(queries, "user_id bigint, vector array<double>, exclude array<bigint>, offset double")
    got = blocked.top_n_against(frame, "user_id", item_ids, items, 5, "movie_id", "score").collect()
    order = np.argsort(item_ids)
    ids, matrix = item_ids[order], items[order]
    expected = []
    for key, vector, exclude, offset in queries:
        scores = matrix @ np.asarray(vector) + offset
        scores[np.isin(ids, exclude)] = -np.inf
        expected += [(key, rank, int(ids[j]), float(scores[j]))
                     for rank, j in enumerate(reference_top(scores[None, :], 5)[0], start=1)]
    assert sorted((r["user_id"], r["rank"], r["movie_id"], r["score"]) for r in got) == sorted(expected)
