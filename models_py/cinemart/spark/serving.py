"""Served lists on Spark, read from the factor TABLES (as the DuckDB path and the SQL macros do).

  int_user_recommendations(split, ranking_evaluation, factor_tables, settings_json) -> int_user_recommendations
  int_similar_movies(ranking_evaluation, factor_tables, settings_json)               -> int_similar_movies
  serving_settings(ranking_evaluation, factor_tables, settings_json)                 -> serving_settings

`factor_tables` maps model name -> its factor table: {"implicit_als":
ref('implicit_factors'), "explicit_als": ref('als_factors'), "popularity":
ref('popularity_factors')}; ranking_evaluation's is_served / serves_similarity
flags pick the ones used.
"""

from __future__ import annotations

from typing import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.spark.frames import entity, single_row, split_frame
from cinemart.spark.ranking import settings_of
from cinemart.spark.retrieval import because_you_liked, similar_movies, top_n_unseen


def _flagged(evaluation: DataFrame, flag: str, factor_tables: Mapping[str, DataFrame]) -> tuple[str, DataFrame, str]:
    name = str(single_row(evaluation, flag, "ranking_evaluation")["model"])
    if name not in factor_tables:
        raise ValueError(f"ranking_evaluation flags {name!r} {flag}, but no factor table was given for it "
                         f"(given: {sorted(factor_tables)})")
    table = factor_tables[name]
    return name, table, str(table.select("run_id").first()[0])


def int_user_recommendations(split: DataFrame, evaluation: DataFrame, factor_tables: Mapping[str, DataFrame],
                             settings_json: str) -> DataFrame:
    """Top-N unseen movies for every user of the served model, each with the liked movie that explains it."""
    settings = settings_of(settings_json)
    served, table, run = _flagged(evaluation, "is_served", factor_tables)
    _, taste, _ = _flagged(evaluation, "serves_similarity", factor_tables)
    ratings = split_frame(split).select("user_id", "movie_id", "rating").cache()
    users = entity(table, "user").select(F.col("id").alias("user_id"))
    recs = top_n_unseen(table, ratings, users, settings.top_n)
    explained = because_you_liked(recs, ratings, taste)
    return explained.select(
        "user_id", "rank", "movie_id", F.col("score").cast("float").alias("score"),
        F.col("because_you_liked_movie_id").cast("bigint").alias("because_you_liked_movie_id"),
        F.col("because_similarity").cast("float").alias("because_similarity"),
        F.lit(served).alias("model"), F.lit(run).alias("run_id"))


def int_similar_movies(evaluation: DataFrame, factor_tables: Mapping[str, DataFrame], settings_json: str) -> DataFrame:
    """Top-N cosine neighbours among movies with >= similar_movies_min_ratings ratings and non-zero factors."""
    settings = settings_of(settings_json)
    name, table, run = _flagged(evaluation, "serves_similarity", factor_tables)
    eligible = entity(table, "movie").where(F.col("n_ratings") >= settings.similar_min_ratings).select("id")
    found = similar_movies(table, eligible, settings.top_n)
    return found.select("movie_id", "rank", "similar_movie_id", F.col("similarity").cast("float").alias("similarity"),
                        F.lit(name).alias("model"), F.lit(run).alias("run_id"))


SERVING_SETTINGS_SCHEMA = ("recommendations_model string, recommendations_run_id string, similar_movies_model string, "
                           "similar_movies_run_id string, similar_movies_min_ratings bigint, top_n bigint")


def serving_settings(evaluation: DataFrame, factor_tables: Mapping[str, DataFrame], settings_json: str) -> DataFrame:
    """One row the serving functions read at query time: which model serves which list, and its settings."""
    settings = settings_of(settings_json)
    served, _, served_run = _flagged(evaluation, "is_served", factor_tables)
    taste, _, taste_run = _flagged(evaluation, "serves_similarity", factor_tables)
    return evaluation.sparkSession.createDataFrame(
        [(served, served_run, taste, taste_run, settings.similar_min_ratings, settings.top_n)], SERVING_SETTINGS_SCHEMA)
