"""Shared Spark DataFrame plumbing: the split input, fingerprints, factor tables, scoring.

Factor tables have the warehouse's shape (als_factors, implicit_factors,
popularity_factors): run_id, entity ('user' | 'movie'), id, bias, factors
array<float>, n_ratings, global_mean. Every model is scored from them with
one formula, the one the SQL serving macros use:
    score(u, i) = global_mean + bias_u + bias_i + dot(factors_u, factors_i).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.spark._compat import (INTERACTION_RATING, TuningPolicy, package_library_versions, run_id, sample_users,
                                    samples_users)

SPLIT_TYPES = {"user_id": "bigint", "movie_id": "bigint", "rating": "double", "is_test": "boolean", "cv_fold": "int",
               "is_after_cut": "boolean"}
INT_MAX = 2**31 - 1  # MLlib ALS takes ids as Java ints
ENGINE = "spark-mllib"


def split_frame(split: DataFrame) -> DataFrame:
    """int_ratings_split's model columns, typed, and play_count (null on rated data); a clear error for a missing
    column. An interaction without a rating (implicit feedback) counts as INTERACTION_RATING, as on DuckDB
    (`cinemart.data.ratings.SplitRatings`)."""
    missing = [c for c in SPLIT_TYPES if c not in split.columns]
    if missing:
        raise ValueError(f"int_ratings_split lacks column(s) {missing}; expected {list(SPLIT_TYPES)}")
    plays = F.col("play_count") if "play_count" in split.columns else F.lit(None)
    rating = F.when(F.col("rating").isNull() & plays.isNotNull(), F.lit(INTERACTION_RATING)).otherwise(F.col("rating"))
    return split.select(*(F.col(c).cast(t).alias(c) for c, t in SPLIT_TYPES.items() if c != "rating"),
                        rating.cast("double").alias("rating"), plays.cast("double").alias("play_count"))


@dataclass(frozen=True)
class Feedback:
    """Which kind of data a split holds: ratings, or interactions without ratings (`implicit`), whose play counts
    tell interactions apart when some count is not 1 (`counted`)."""

    implicit: bool
    counted: bool

    @classmethod
    def of(cls, split: DataFrame) -> Feedback:
        """From split_frame's columns, in one aggregate pass."""
        row = split.agg(F.count("play_count").alias("n"),
                        F.sum(F.when(F.col("play_count") != 1, 1).otherwise(0)).alias("counted")).first()
        return cls(bool(row["n"]), bool(row["counted"]))


def fingerprint(split: DataFrame) -> str:
    """Rating count + hash of the split ratings, order-independent (one aggregate pass).

    Checks on the way what MLlib needs: no null, ids within Java int range.
    Not equal to the DuckDB path's fingerprint (that one hashes sorted arrays
    on the driver); equal data gives equal values within each engine.
    """
    # a null play_count (rated data) leaves both hashes as they were
    row_hash = F.xxhash64("user_id", "movie_id", "rating", "is_test", "play_count").cast("decimal(38,0)")
    row_hash2 = F.hash("movie_id", "user_id", "rating", "is_test", "play_count").cast("decimal(38,0)")
    stats = split.agg(
        F.count(F.lit(1)).alias("n"), F.sum(row_hash).alias("h1"), F.sum(row_hash2).alias("h2"),
        F.max(F.greatest("user_id", "movie_id")).alias("max_id"), F.min(F.least("user_id", "movie_id")).alias("min_id"),
        F.sum(F.when(F.col("user_id").isNull() | F.col("movie_id").isNull() | F.col("rating").isNull()
                     | F.col("is_test").isNull() | F.isnan("rating"), 1).otherwise(0)).alias("bad"),
    ).first()
    if not stats["n"]:
        raise ValueError("no clean ratings to train on: every rating was quarantined or the file is empty")
    if stats["bad"]:
        raise ValueError(f"split ratings hold {stats['bad']} row(s) with a null id, rating or test flag, "
                         "or a NaN rating")
    if stats["max_id"] > INT_MAX or stats["min_id"] < 0:
        raise ValueError(f"MLlib ALS needs ids in 0..{INT_MAX}; ids here span {stats['min_id']}..{stats['max_id']}")
    digest = hashlib.sha256(f"{stats['h1']}:{stats['h2']}".encode()).hexdigest()[:16]
    return f"{stats['n']}:{digest}"


@dataclass(frozen=True)
class TuningRows:
    """The train rows a grid is scored on, as `cinemart.tuning.plan.TuningPlan` on the DuckDB engine."""

    strategy: str  # kfold (every fold, all train rows) | sampled_holdout (fold 0 only, the sampled users' rows)
    rows: DataFrame
    n_ratings: int
    n_users: int


def tuning_rows(train: DataFrame, policy: TuningPolicy, seed: int) -> TuningRows:
    """The DuckDB engine's tuning plan on Spark: all train rows, or (past tuning_max_ratings with `auto`,
    always with `sampled_holdout`) every train rating of a user sample.

    The decision and the sample are `cinemart.tuning.plan`'s own functions, on the per-user train
    counts collected to the driver in user-id order (one row per user), so both engines tune on the
    same users given the same split and seed.
    """
    n_ratings, n_users = train.agg(F.count(F.lit(1)), F.countDistinct("user_id")).first()
    if not samples_users(policy, int(n_ratings)):
        return TuningRows("kfold", train, int(n_ratings), int(n_users))
    per_user = train.groupBy("user_id").agg(F.count(F.lit(1)).alias("n")).toArrow()
    users = per_user.column("user_id").to_numpy().astype(np.int64)
    counts = per_user.column("n").to_numpy().astype(np.int64)
    order = np.argsort(users, kind="stable")
    users, counts = users[order], counts[order]
    taken = sample_users(users, counts, policy.max_ratings, seed)
    sample = train.sparkSession.createDataFrame([(int(u),) for u in taken], "user_id bigint")
    rows = train.join(F.broadcast(sample), "user_id", "left_semi")
    return TuningRows("sampled_holdout", rows, int(counts[np.isin(users, taken)].sum()), int(taken.size))


def spark_run_id(model: str, data_fingerprint: str, settings: dict) -> str:
    """The DuckDB path's run-id recipe with the engine added: different engine, different numbers, different id."""
    return run_id(model, data_fingerprint, {"settings": settings, "engine": ENGINE})


def library_versions() -> str:
    """The DuckDB path's audit JSON plus the engine and the Spark-side versions."""
    versions = json.loads(package_library_versions())
    versions["engine"] = ENGINE
    for name in ("pyspark", "dbt-spark"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return json.dumps(versions, sort_keys=True)


def als_input(ratings: DataFrame, value: str = "rating") -> DataFrame:
    """(user, item, rating) with int ids, as MLlib ALS wants them."""
    return ratings.select(F.col("user_id").cast("int").alias("user"), F.col("movie_id").cast("int").alias("item"),
                          F.col(value).cast("float").alias("rating"))


def als_blocks(n_ratings: int) -> int:
    """MLlib ALS user/item block count, from the data size alone (4 up to 8M ratings, then one
    per 2M, at most 64): a function of the data, not of the cluster, so the same data, settings
    and seed give the same partitioning and therefore the same factors on any cluster."""
    return int(min(64, max(4, -(-n_ratings // 2_000_000))))


def fit_als(als, ratings: DataFrame):
    """Fit `als` (an unfitted pyspark ALS) on (user, item, rating) with data-sized, fixed blocks."""
    blocks = als_blocks(ratings.count())
    als.setNumUserBlocks(blocks).setNumItemBlocks(blocks)
    return als.fit(ratings.repartition(blocks, "user"))


def dot(left: str, right: str):
    """Double-precision dot product of two array<float> columns (null when either is null)."""
    return F.expr(f"aggregate(zip_with({left}, {right}, (x, y) -> cast(x as double) * cast(y as double)), "
                  f"cast(0 as double), (acc, v) -> acc + v)")


def unit(column: str):
    """The array scaled to unit L2 norm (double elements); null for a zero vector."""
    norm = f"sqrt(aggregate({column}, cast(0 as double), (acc, v) -> acc + cast(v as double) * v))"
    return F.expr(f"case when {norm} > 0 then transform({column}, v -> cast(v as double) / {norm}) end")


def factor_table(run: str, users: DataFrame, movies: DataFrame, global_mean: float) -> DataFrame:
    """Warehouse factor table from per-entity frames (id, bias, factors, n_ratings)."""
    def side(frame: DataFrame, entity: str) -> DataFrame:
        return frame.select(F.lit(run).alias("run_id"), F.lit(entity).alias("entity"),
                            F.col("id").cast("bigint").alias("id"), F.col("bias").cast("float").alias("bias"),
                            F.col("factors").cast("array<float>").alias("factors"),
                            F.col("n_ratings").cast("bigint").alias("n_ratings"),
                            F.lit(float(global_mean)).cast("double").alias("global_mean"))
    return side(users, "user").unionByName(side(movies, "movie"))


def entity(table: DataFrame, name: str) -> DataFrame:
    """One side of a factor table: id, bias, factors, n_ratings, global_mean."""
    return table.where(F.col("entity") == name).select("id", "bias", "factors", "n_ratings", "global_mean")


def personalised():
    """Column of a factor table's user rows: the model can personalise the user
    (cinemart.models.base.Factors.personalised: a non-zero factor or bias)."""
    return (F.col("bias") != 0) | F.exists("factors", lambda x: x != 0)


def score_pairs(pairs: DataFrame, table: DataFrame) -> DataFrame:
    """pairs (user_id, movie_id, ...) + `score` (unclipped, null when either side has no factors)."""
    users = entity(table, "user").select(F.col("id").alias("user_id"), F.col("bias").alias("_bu"),
                                         F.col("factors").alias("_pu"), F.col("global_mean").alias("_mu"))
    movies = entity(table, "movie").select(F.col("id").alias("movie_id"), F.col("bias").alias("_bi"),
                                           F.col("factors").alias("_qi"))
    scored = pairs.join(users, "user_id", "left").join(movies, "movie_id", "left")
    score = F.col("_mu") + F.col("_bu") + F.col("_bi") + dot("_pu", "_qi")
    return scored.withColumn("score", score).drop("_bu", "_pu", "_mu", "_bi", "_qi")


def single_row(frame: DataFrame, flag: str, what: str) -> dict:
    """The one row of a small control table (grid search, evaluation) where `flag` is true."""
    rows = frame.where(F.col(flag)).collect()
    if len(rows) != 1:
        raise ValueError(f"{what} must flag exactly one row {flag}, found {len(rows)}")
    return rows[0].asDict()
