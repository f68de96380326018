"""Served lists on Spark, read from the factor TABLES (as the DuckDB path and the SQL macros do).

  int_user_recommendations(split, ranking_evaluation, factor_tables, int_popular_movies, settings_json)
                                                                                    -> int_user_recommendations
  int_movie_content_vectors(movies, tags, settings_json)                            -> int_movie_content_vectors
  int_movie_similarity_vectors(ranking_evaluation, factor_tables, content, settings) -> int_movie_similarity_vectors
  int_similar_movies(similarity_vectors, settings_json)                             -> int_similar_movies
  int_similar_movies_cold_start(split, ranking_evaluation, factor_tables, content, settings)
                                                                                    -> int_similar_movies_cold_start
  serving_settings(ranking_evaluation, factor_tables, settings_json)                 -> serving_settings

`factor_tables` maps model name -> its factor table: {"implicit_als":
ref('implicit_factors'), "explicit_als": ref('als_factors'), "popularity":
ref('popularity_factors'), "ease": ref('ease_factors'), "ease_implicit_blend":
ref('blend_factors')}; ranking_evaluation's is_served / serves_similarity
flags pick the ones used.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.spark.activity import fallback_table
from cinemart.spark.frames import entity, personalised, single_row, split_frame
from cinemart.spark.ranking import EASE_MODEL, settings_of
from cinemart.spark._compat import (EASE_EXPLAINED, FALLBACK_MODEL, FALLBACK_SOURCE, ServedFactors, ease_explanations,
                                    similarity)
from cinemart.spark.retrieval import because_you_liked, similar_by_vectors, top_n_unseen
from cinemart.spark.resources import release_after_write


def _flagged(evaluation: DataFrame, flag: str, factor_tables: Mapping[str, DataFrame]) -> tuple[str, DataFrame, str]:
    name = str(single_row(evaluation, flag, "ranking_evaluation")["model"])
    if name not in factor_tables:
        raise ValueError(f"ranking_evaluation flags {name!r} {flag}, but no factor table was given for it "
                         f"(given: {sorted(factor_tables)})")
    table = factor_tables[name]
    return name, table, str(table.select("run_id").first()[0])


def int_user_recommendations(split: DataFrame, evaluation: DataFrame, factor_tables: Mapping[str, DataFrame],
                             popular: DataFrame, settings_json: str) -> DataFrame:
    """Top-N unseen movies for every user of the served model, each with the liked movie that explains it.

    A user the model cannot personalise (`frames.personalised`) gets the top
    of int_popular_movies' 'all' fit instead, labelled as the fallback and
    explained by nothing, as on DuckDB.
    """
    settings = settings_of(settings_json)
    served, table, run = _flagged(evaluation, "is_served", factor_tables)
    _, taste, _ = _flagged(evaluation, "serves_similarity", factor_tables)
    # read by both lists and the explanations; released once dbt has written the table
    ratings = release_after_write(split_frame(split).select("user_id", "movie_id", "rating").cache())
    users = entity(table, "user").select(F.col("id").alias("user_id"), personalised().alias("known"))
    recs = top_n_unseen(table, ratings, users.where("known"), settings.top_n)
    explained = (ease_explained(recs, factor_tables[EASE_MODEL]) if served in EASE_EXPLAINED
                 else because_you_liked(recs, ratings, taste)).select(
        "*", F.lit(served).alias("model"), F.lit("personalised").alias("source"))
    fallback = top_n_unseen(fallback_table(ratings, popular.where(F.col("fit") == "all")), ratings,
                            users.where(~F.col("known")), settings.top_n).select(
        "*", F.lit(None).cast("bigint").alias("because_you_liked_movie_id"),
        F.lit(None).cast("double").alias("because_similarity"),
        F.lit(FALLBACK_MODEL).alias("model"), F.lit(FALLBACK_SOURCE).alias("source"))
    return explained.unionByName(fallback).select(
        "user_id", "rank", "movie_id", F.col("score").cast("float").alias("score"),
        F.col("because_you_liked_movie_id").cast("bigint").alias("because_you_liked_movie_id"),
        F.col("because_similarity").cast("float").alias("because_similarity"),
        "model", "source", F.lit(run).alias("run_id"))


def ease_explained(recommendations: DataFrame, ease_table: DataFrame) -> DataFrame:
    """recommendations + because_you_liked_movie_id, because_similarity by EASE's largest contribution, as on
    DuckDB (`ranking_tables.ease_explanations` on the driver: the EASE table and the lists, both model-sized)."""
    ease = ServedFactors.from_table(EASE_MODEL, _on_driver(ease_table))
    pairs = recommendations.select("user_id", "movie_id").toArrow()
    users, movies = (pairs.column(c).to_numpy().astype(np.int64) for c in ("user_id", "movie_id"))
    liked, weight = ease_explanations(ease, users, movies)
    found = liked >= 0
    explanations = recommendations.sparkSession.createDataFrame(pa.table({
        "user_id": users[found], "movie_id": movies[found], "because_you_liked_movie_id": liked[found],
        "because_similarity": weight[found].astype(np.float64)}))
    return recommendations.join(explanations, ["user_id", "movie_id"], "left")


def _on_driver(frame: DataFrame) -> pa.Table:
    """A model-sized frame (per movie or per user) as Arrow, array columns as FLOAT[k] like the DuckDB tables.

    A null array (MLlib gives no factors to a movie with no interaction, e.g.
    no rating >= the threshold) becomes zeros: no direction, as the DuckDB
    engine's all-zero factors.
    """
    table = frame.toArrow()
    columns = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if pa.types.is_list(column.type):
            widths = pc.unique(pc.list_value_length(column).drop_null()).to_pylist()
            if len(widths) > 1:
                raise ValueError(f"column {name!r} holds arrays of different lengths {widths}")
            width = widths[0] if widths else 0
            if column.null_count:
                column = pc.fill_null(column, pa.scalar([0.0] * width, column.type))
            column = pa.FixedSizeListArray.from_arrays(column.flatten().cast(pa.float32()), width)
        columns[name] = column
    return pa.table(columns)


def _to_frame(spark, table: pa.Table) -> DataFrame:
    """An Arrow table the shared NumPy code made, as a Spark DataFrame (FLOAT[k] -> array<float>)."""
    columns = {name: (column.combine_chunks().cast(pa.list_(pa.float32()))
                      if pa.types.is_fixed_size_list(column.type) else column)
               for name, column in zip(table.column_names, table.columns)}
    return spark.createDataFrame(pa.table(columns))


def _taste(evaluation: DataFrame, factor_tables: Mapping[str, DataFrame]) -> ServedFactors:
    """The taste model's factor table on the driver (movies x k and users x k: the model itself)."""
    name, table, _ = _flagged(evaluation, "serves_similarity", factor_tables)
    return ServedFactors.from_table(name, _on_driver(table))


def int_movie_content_vectors(movies: DataFrame, tags: DataFrame, settings_json: str) -> DataFrame:
    """Content vectors by the shared NumPy builder; the catalogue and its tag rows are collected to the driver."""
    settings_of(settings_json)
    catalogue = movies.select("movie_id", "genres", "release_year").toArrow()
    tagged = tags.select("movie_id", "tag").toArrow()
    table = similarity.content_vectors_table(
        catalogue.column("movie_id").to_numpy(), catalogue.column("genres").to_pylist(),
        catalogue.column("release_year").to_numpy(zero_copy_only=False).astype(np.float64),
        tagged.column("movie_id").to_numpy(), tagged.column("tag").to_pylist())
    return _to_frame(movies.sparkSession, table)


def int_movie_similarity_vectors(evaluation: DataFrame, factor_tables: Mapping[str, DataFrame],
                                 content_vectors: DataFrame, settings_json: str) -> DataFrame:
    """Per-movie query/candidate vectors (cinemart.similarity.blend), built on the driver from model-sized inputs."""
    table = similarity.similarity_vectors_table(_on_driver(content_vectors), _taste(evaluation, factor_tables),
                                                settings_of(settings_json))
    return _to_frame(evaluation.sparkSession, table)


def int_similar_movies(similarity_vectors: DataFrame, settings_json: str) -> DataFrame:
    """Top-N by query . candidate, distributed: candidates broadcast, query movies stream past them.

    The vectors are exact multiples of 2^-20 (cinemart.similarity.blend), so the
    scores, and their ties, are the DuckDB engine's bit for bit.
    """
    settings = settings_of(settings_json)
    vectors = release_after_write(similarity_vectors.cache())  # released once dbt has written the table
    found = similar_by_vectors(vectors, settings.top_n)
    about = vectors.select("movie_id", "source", "model", "run_id")
    return found.join(about, "movie_id").select(
        "movie_id", "rank", "similar_movie_id", F.col("similarity").cast("float").alias("similarity"),
        "source", "model", "run_id")


def int_similar_movies_cold_start(split: DataFrame, evaluation: DataFrame, factor_tables: Mapping[str, DataFrame],
                                  content_vectors: DataFrame, settings_json: str) -> DataFrame:
    """The cold-start simulation, by the DuckDB engine's NumPy code on the driver.

    Its inputs are model-sized (factors, content vectors) except the ratings of
    the sampled movies (at most cinemart.similarity.cold_start.MAX_MOVIES
    movies), which are collected; the picks do not depend on row order, so
    both engines simulate the same ratings.
    """
    settings = settings_of(settings_json)
    taste = _taste(evaluation, factor_tables)
    parameters = str(evaluation.where(F.col("model") == taste.model_name).select("parameters").first()[0])
    content = _on_driver(content_vectors)
    sample = similarity.sample_movie_ids(content, taste, settings)
    ratings = (split_frame(split).where(F.col("movie_id").isin([int(m) for m in sample]))
               .select("movie_id", "user_id", "rating").toArrow())
    table = similarity.cold_start_table(content, taste, parameters, "spark",
                                        {name: ratings.column(name).to_numpy() for name in ratings.column_names},
                                        settings)
    return _to_frame(evaluation.sparkSession, table)


SERVING_SETTINGS_SCHEMA = ("recommendations_model string, recommendations_run_id string, similar_movies_model string, "
                           "similar_movies_run_id string, similar_movies_min_ratings bigint, top_n bigint")


def serving_settings(evaluation: DataFrame, factor_tables: Mapping[str, DataFrame], settings_json: str) -> DataFrame:
    """One row the serving functions read at query time: which model serves which list, and its settings."""
    settings = settings_of(settings_json)
    served, _, served_run = _flagged(evaluation, "is_served", factor_tables)
    taste, _, taste_run = _flagged(evaluation, "serves_similarity", factor_tables)
    return evaluation.sparkSession.createDataFrame(
        [(served, served_run, taste, taste_run, settings.similar_min_ratings, settings.top_n)], SERVING_SETTINGS_SCHEMA)
