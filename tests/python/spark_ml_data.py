"""ml-latest-small as `int_ratings_split` on Spark, and the plain-MLlib reference run.

`split_ratings` replicates models/intermediate/int_ratings_split.sql with the
spark__md5_bucket macro (first 8 hex digits of md5, mod 100 / mod cv_folds), so
the Spark-ML tests see the rows a `dbt build --target spark` would hand the
Python models (ml-latest-small has no quarantined rating).

`python tests/python/spark_ml_data.py` measures what plain pyspark scores on
that split, outside cinemart: the figures the accuracy bands are centred on.
"""

from __future__ import annotations

import time
from pathlib import Path

from cinemart.evaluation.protocol import ML_SMALL_DIR

SPLIT_SEED, TEST_PERCENT, CV_FOLDS = 2020, 20, 5
TEMPORAL_TEST_PERCENT = 20  # dbt_project.yml var temporal_test_percent


def md5_bucket(key: str, modulus: int) -> str:
    """SQL of the spark__md5_bucket macro (macros/portability/portable_sql.sql)."""
    return f"pmod(cast(conv(substr(md5({key}), 1, 8), 16, 10) as bigint), {modulus})"


def split_ratings(spark, data_dir: Path = ML_SMALL_DIR, folds: int = CV_FOLDS):
    """int_ratings_split's Python-model columns: user_id, movie_id, rating, is_test, cv_fold, is_after_cut."""
    spark.read.csv(str(data_dir / "ratings.csv"), header=True,
                   schema="userId bigint, movieId bigint, rating double, timestamp bigint"
                   ).createOrReplaceTempView("ml_small_ratings")
    key = f"concat(cast(userId as string), '-', cast(movieId as string), '-{SPLIT_SEED}')"
    return spark.sql(f"""
        with hashed as (
            select userId as user_id, movieId as movie_id, rating, timestamp,
                   {md5_bucket(key, 100)} as bucket,
                   {md5_bucket(f"concat({key}, '-fold')", folds)} as fold
            from ml_small_ratings),
        cumulative as (
            select timestamp, sum(count(*)) over (order by timestamp) as n_by_then
            from ml_small_ratings group by timestamp),
        cut as (
            select min(timestamp) as cut from cumulative
            where n_by_then * 100 >= (select count(*) from ml_small_ratings) * {100 - TEMPORAL_TEST_PERCENT})
        select user_id, movie_id, rating, bucket < {TEST_PERCENT} as is_test,
               case when bucket >= {TEST_PERCENT} then cast(fold as int) end as cv_fold,
               timestamp > (select cut from cut) as is_after_cut
        from hashed""")


def plain_mllib_reference(spark, rank: int = 10, reg: float = 0.1, iterations: int = 10) -> dict:
    """Plain pyspark on the split: explicit ALS test RMSE (cold start dropped) and
    implicitPrefs ALS precision@10 (ratings >= 4 as 1, seen movies removed,
    relevant = test rating >= 4, users with a relevant warm test movie)."""
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    split = split_ratings(spark).cache()
    train = split.where(~F.col("is_test")).select(F.col("user_id").cast("int").alias("user"),
                                                  F.col("movie_id").cast("int").alias("item"), "rating").cache()
    test = split.where(F.col("is_test")).select(F.col("user_id").cast("int").alias("user"),
                                                F.col("movie_id").cast("int").alias("item"), "rating")
    started = time.perf_counter()
    als = ALS(rank=rank, regParam=reg, maxIter=iterations, seed=2020, userCol="user", itemCol="item",
              ratingCol="rating", coldStartStrategy="drop")
    model = als.fit(train)
    rmse = RegressionEvaluator(metricName="rmse", labelCol="rating").evaluate(model.transform(test))
    explicit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    liked = train.where("rating >= 4").withColumn("rating", F.lit(1.0))
    implicit = ALS(rank=rank, regParam=reg, maxIter=iterations, alpha=alpha_reference(), implicitPrefs=True,
                   seed=2020, userCol="user", itemCol="item", ratingCol="rating").fit(liked)
    max_seen = train.groupBy("user").count().agg(F.max("count")).first()[0]
    recs = (implicit.recommendForAllUsers(10 + max_seen)
            .select("user", F.posexplode("recommendations").alias("pos", "rec"))
            .select("user", F.col("rec.item").alias("item"), F.col("rec.rating").alias("score"))
            .join(train.select("user", "item"), ["user", "item"], "left_anti")
            .withColumn("rank", F.row_number().over(Window.partitionBy("user").orderBy(F.desc("score"), "item")))
            .where("rank <= 10"))
    warm_users, warm_items = train.select("user").distinct(), train.select("item").distinct()
    relevant = test.where("rating >= 4").join(warm_users, "user").join(warm_items, "item").select("user", "item")
    hits = (relevant.select("user").distinct()
            .join(recs.join(relevant.withColumn("hit", F.lit(1)), ["user", "item"]).groupBy("user").count(),
                  "user", "left").fillna(0))
    precision = hits.agg(F.avg(F.col("count") / 10)).first()[0]
    return {"rank": rank, "reg": reg, "iterations": iterations, "test_rmse": rmse,
            "explicit_seconds": explicit_seconds, "implicit_precision_at_10": precision,
            "implicit_seconds": time.perf_counter() - started}


def alpha_reference() -> float:
    return 1.0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models_py"))
    from cinemart.spark.environment import local_session

    session = local_session("plain-mllib-reference")
    for rank, reg, iterations in ((10, 0.1, 10), (5, 0.1, 10)):
        print(plain_mllib_reference(session, rank, reg, iterations), flush=True)
