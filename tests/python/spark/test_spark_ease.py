"""EASE on Spark (cinemart.spark.ease) against the DuckDB engine's `fit_ease` on ml-latest-small's train part.

Both engines count the same integer Gram matrix and solve it with the same
LAPACK calls on one BLAS thread, so the factors must agree bit for bit
(tolerance 0), and a budget must pick the same movies with the same reason.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow  # two 5,746 x 5,746 inverses on ml-latest-small's train part (~50 s with the session)

from pyspark.sql import functions as F  # noqa: E402
from spark_ml_data import split_ratings  # noqa: E402

from cinemart.data.ids import IdIndex  # noqa: E402
from cinemart.memory import MIB  # noqa: E402
from cinemart.models.ease import EaseParams, fit_ease  # noqa: E402
from cinemart.spark.ease import fit_ease_table  # noqa: E402

PARAMS = EaseParams(250.0)
WHOLE = 4 << 30  # every liked train movie fits
RESTRICTING = 256 * MIB  # 2,413 of the 5,746 liked train movies
TOO_SMALL = 64 * MIB  # below the fit's fixed working bytes: skipped
TABLE_SCHEMA = [("run_id", "string"), ("entity", "string"), ("id", "bigint"), ("bias", "float"),
                ("factors", "array<float>"), ("n_ratings", "bigint"), ("global_mean", "double")]  # frames.factor_table


@pytest.fixture(scope="module")
def train(spark):
    """The train part of the md5 split, cached on Spark and collected once for the DuckDB side."""
    frame = split_ratings(spark).where(~F.col("is_test")).select("user_id", "movie_id", "rating").cache()
    arrow = frame.toArrow()
    yield frame, {name: arrow.column(name).to_numpy() for name in ("user_id", "movie_id", "rating")}
    frame.unpersist()


def duckdb_fit(columns: dict, budget: int):
    users, movies = IdIndex.from_ids(columns["user_id"]), IdIndex.from_ids(columns["movie_id"])
    fit = fit_ease(users.encode(columns["user_id"]), movies.encode(columns["movie_id"]), columns["rating"],
                   len(users), len(movies), PARAMS, budget)
    return users, movies, fit


def compared(table, entity: str, ids: np.ndarray, factors: np.ndarray, bias: np.ndarray,
             n_ratings: np.ndarray) -> dict:
    """One entity of a Spark factor table against the DuckDB engine's arrays (rows aligned with sorted `ids`).

    The comparison runs in Spark's Python workers against a broadcast of the
    expected arrays, one pass over the table: all movie rows (m floats each)
    collected at once are more than the test session's 1 GiB driver heap holds.
    """
    expected = table.sparkSession.sparkContext.broadcast((ids, factors, bias, n_ratings))

    def compare(batches):
        ids, factors, bias, n_ratings = expected.value
        for batch in batches:
            got_ids = batch.column("id").to_numpy()
            row = np.minimum(np.searchsorted(ids, got_ids), ids.size - 1)
            found = ids[row] == got_ids
            got = np.asarray(batch.column("factors").flatten(), dtype=np.float32).reshape(-1, factors.shape[1])
            difference = np.abs(got.astype(np.float64) - factors[row]).max(axis=1, initial=0.0)
            yield pa.RecordBatch.from_arrays([
                pa.array(got_ids), pa.array(found), pa.array(difference),
                pa.array((got == factors[row]).all(axis=1)),
                pa.array(batch.column("bias").to_numpy(zero_copy_only=False) == bias[row]),
                pa.array(batch.column("n_ratings").to_numpy() == n_ratings[row])],
                names=["id", "found", "difference", "factors_equal", "bias_equal", "n_ratings_equal"])

    rows = (table.where(F.col("entity") == entity)
            .mapInArrow(compare, "id bigint, found boolean, difference double, factors_equal boolean, "
                                 "bias_equal boolean, n_ratings_equal boolean").toArrow())
    expected.destroy()
    return {"ids": np.sort(rows.column("id").to_numpy()),
            **{name: bool(np.all(rows.column(name).to_numpy(zero_copy_only=False)))
               for name in ("found", "factors_equal", "bias_equal", "n_ratings_equal")},
            "max_difference": float(rows.column("difference").to_numpy().max(initial=0.0))}


@pytest.mark.parametrize("budget", [WHOLE, RESTRICTING], ids=["whole", "restricted"])
def test_spark_factors_and_scope_equal_duckdb(train, budget):
    frame, columns = train
    users, movies, fit = duckdb_fit(columns, budget)
    table, scope = fit_ease_table(frame, PARAMS, budget, run="r")
    f = fit.factors
    try:
        assert [(field.name, field.dataType.simpleString()) for field in table.schema] == TABLE_SCHEMA
        assert [tuple(r) for r in table.select("run_id", "global_mean").distinct().collect()] == [("r", 0.0)]
        user_side = compared(table, "user", users.ids, f.user_factors, f.user_bias,
                             np.bincount(users.encode(columns["user_id"]), minlength=len(users)))
        movie_side = compared(table, "movie", movies.ids, f.item_factors, f.item_bias,
                              np.bincount(movies.encode(columns["movie_id"]), minlength=len(movies)))
    finally:
        table.unpersist()
    assert np.array_equal(scope.kept, fit.scope.kept)
    assert (scope.reason, scope.n_liked, scope.n_items, scope.estimate_bytes, scope.full_bytes) == (
        fit.scope.reason, fit.scope.n_liked, fit.scope.n_items, fit.scope.estimate_bytes, fit.scope.full_bytes)
    assert (scope.reason is None) == (budget == WHOLE)
    for side, index in ((user_side, users), (movie_side, movies)):
        assert np.array_equal(side["ids"], index.ids)  # every user and movie once
        assert side["found"] and side["bias_equal"] and side["n_ratings_equal"]
        # tolerance 0: the same integer G through the same LAPACK calls
        assert side["max_difference"] == 0.0 and side["factors_equal"]


def test_a_budget_too_small_for_two_movies_skips_with_the_same_reason(train):
    frame, columns = train
    _, _, fit = duckdb_fit(columns, TOO_SMALL)
    table, scope = fit_ease_table(frame, PARAMS, TOO_SMALL)
    assert table is None and fit.factors is None
    assert scope.skipped and scope.reason == fit.scope.reason
    assert scope.reason.startswith("skipped: even the 2 most-liked")


def test_a_liked_movie_that_adds_to_no_score_is_zeroed_as_on_duckdb(spark):
    """User 40 liked only movie 30, which nobody else rated: its row of B is zero, so both engines give the user
    an all-zero row (`contributing_columns`), and the popular fallback."""
    rng = np.random.default_rng(5)
    pairs = rng.choice(40 * 30, size=500, replace=False)
    users, movies = np.append(pairs // 30, 40), np.append(pairs % 30, 30)
    ratings = np.append(rng.integers(1, 11, size=500) / 2.0, 5.0)
    frame = spark.createDataFrame(pa.table({"user_id": users, "movie_id": movies, "rating": ratings}).to_pandas())
    fit = fit_ease(users, movies, ratings, 41, 31, PARAMS, WHOLE)  # ids 0..40 and 0..30 are their own indexes
    table, _ = fit_ease_table(frame, PARAMS, WHOLE)
    try:
        rows = table.where(F.col("entity") == "user").select("id", "factors").toArrow()
    finally:
        table.unpersist()
    order = np.argsort(rows.column("id").to_numpy())
    factors = np.asarray(rows.column("factors").combine_chunks().flatten(), dtype=np.float32).reshape(41, -1)[order]
    assert not fit.factors.user_factors[40].any() and not factors[40].any()
    assert fit.factors.user_factors.any() and np.array_equal(factors, fit.factors.user_factors)
