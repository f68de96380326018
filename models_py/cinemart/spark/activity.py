"""ranking_evaluation split by user activity on Spark, as cinemart.warehouse.activity_tables on DuckDB.

  ranking_evaluation_by_activity(split, ranking_evaluation, implicit_grid_search, int_als_factors,
                                 int_popular_movies, settings_json) -> int_ranking_evaluation_by_activity

The models of ranking_evaluation (the implicit configuration refit on train,
the explicit train fit from int_als_factors, popularity) and the fallback
list (int_popular_movies, fit 'train'), each judged by the protocol of
ranking_evaluation (within one dbt process, on the lists it made:
`ranking.evaluation_lists`), per-user metrics (`retrieval.per_user_ranking_metrics`)
averaged per train-profile bucket (cinemart.evaluation.activity.ACTIVITY_BUCKETS).
Every bucket is present; an empty one has n_users_evaluated 0 and null metrics.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.spark import ease_ranking
from cinemart.spark._compat import ACTIVITY_BUCKETS, FALLBACK_MODEL
from cinemart.spark.frames import single_row, split_frame
from cinemart.spark.ranking import (chosen_params, evaluated_users, evaluation_lists, lists_key, settings_of,
                                   train_models)
from cinemart.spark.resources import Held
from cinemart.spark.retrieval import per_user_ranking_metrics, relevant_warm, top_n_unseen

SCHEMA = ("run_id string, model string, activity_bucket string, bucket_order int, min_train_ratings bigint, "
          "max_train_ratings bigint, n_users_evaluated bigint, precision_at_10 double, recall_at_10 double, "
          "ndcg_at_10 double, map_at_10 double, is_served boolean, is_user_sample boolean")


def fallback_table(train: DataFrame, popular: DataFrame) -> DataFrame:
    """The fallback list as a rank-1 factor table top_n_unseen ranks: user [1], listed movie [its score].

    Movies not in `popular` are not in the table, so never candidates; the
    score stays double (no float cast), so the order is the SQL list's.
    """
    users = train.select(F.col("user_id").alias("id")).distinct().select(
        "id", F.lit("user").alias("entity"), F.array(F.lit(1.0)).alias("factors"))
    movies = popular.select(F.col("movie_id").alias("id"), F.lit("movie").alias("entity"),
                            F.array(F.col("score").cast("double")).alias("factors"))
    return users.unionByName(movies).select("entity", F.col("id").cast("bigint").alias("id"), "factors",
                                            F.lit(0.0).alias("bias"), F.lit(0).cast("bigint").alias("n_ratings"),
                                            F.lit(0.0).alias("global_mean"))


def bucket_of(n_train):
    """Column: the label of ACTIVITY_BUCKETS holding `n_train`, and its 1-based order."""
    label, order = None, None
    for i, (name, low, high) in enumerate(ACTIVITY_BUCKETS):
        inside = (n_train >= low) if high is None else n_train.between(low, high)
        label = (F.when(inside, F.lit(name)) if label is None else label.when(inside, F.lit(name)))
        order = (F.when(inside, F.lit(i + 1)) if order is None else order.when(inside, F.lit(i + 1)))
    return label, order


def ranking_evaluation_by_activity(split: DataFrame, evaluation: DataFrame, implicit_grid: DataFrame,
                                   ease_grid: DataFrame, int_als_factors: DataFrame, int_popular_movies: DataFrame,
                                   settings_json: str) -> DataFrame:
    settings = settings_of(settings_json)
    params, run = chosen_params(implicit_grid)
    ease = ease_ranking.chosen(ease_grid)
    served = str(single_row(evaluation, "is_served", "ranking_evaluation")["model"])
    weight = ease_ranking.chosen_blend_weight(evaluation)
    weights = () if weight is None else (weight,)
    with Held() as held:  # the split, its train part and the relevant rows, released when the rows are collected
        split = held.cache(split_frame(split))
        train = held.cache(split.where(~F.col("is_test")))
        relevant, users, chosen = evaluated_users(held.cache(relevant_warm(split.where(F.col("is_test")), train)),
                                                  settings, held)
        label, order = bucket_of(F.col("n_train"))
        activity = (train.groupBy("user_id").agg(F.count(F.lit(1)).alias("n_train"))
                    .select("user_id", label.alias("activity_bucket")))
        candidates, fits = train_models(train, params, settings.seed, int_als_factors, ease, blend_weights=weights)
        models = {name: (make, fit_key) for name, make, _, fit_key, _ in candidates if make is not None}
        popular = int_popular_movies.where(F.col("fit") == "train")
        models[FALLBACK_MODEL] = (lambda: fallback_table(train, popular), None)
        spark = split.sparkSession
        buckets = spark.createDataFrame(
            [(name, i + 1, low, high) for i, (name, low, high) in enumerate(ACTIVITY_BUCKETS)],
            "activity_bucket string, bucket_order int, min_train_ratings bigint, max_train_ratings bigint")
        key = lists_key(split)
        parts = []
        for name, (make, fit_key) in models.items():
            recs = top_n_unseen(make(), train, users, settings.top_n) if fit_key is None else \
                evaluation_lists(key, train, users, name, fit_key, make, settings.top_n)
            per_bucket = (per_user_ranking_metrics(recs, relevant, settings.top_n).join(activity, "user_id")
                          .groupBy("activity_bucket")
                          .agg(F.count(F.lit(1)).alias("n_users_evaluated"),
                               *(F.avg(c).alias(f"{c}_at_10") for c in ("precision", "recall", "ndcg", "map"))))
            parts.append(buckets.join(per_bucket, "activity_bucket", "left").select(
                F.lit(run).alias("run_id"), F.lit(name).alias("model"), "activity_bucket", "bucket_order",
                "min_train_ratings", "max_train_ratings",
                F.coalesce("n_users_evaluated", F.lit(0)).cast("bigint").alias("n_users_evaluated"),
                "precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10",
                F.lit(name == served).alias("is_served"), F.lit(chosen.is_sample).alias("is_user_sample")))
        try:
            rows = [row for part in parts for row in part.orderBy("bucket_order").collect()]
        finally:
            fits.release()
    return spark.createDataFrame(rows, SCHEMA)
