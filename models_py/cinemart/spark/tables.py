"""The Spark engine's front door: the functions of `cinemart.warehouse.tables`, same names and signatures.

A dbt Python model calls `cinemart.engine.tables_for(session).<model name>(refs..., model_settings)`;
with a SparkSession it lands here, the refs are Spark DataFrames and each
function returns the table's Spark DataFrame (dbt-spark writes it). The DAG
is the DuckDB one (see `cinemart.warehouse.tables`): every configuration is
fitted once per build (the activity split refits the implicit one on train), int_als_factors holds the explicit train and all
fits, and serving reads the factor tables back. The work lives in
`explicit`, `ranking` and `serving`; this module only maps each model's refs
onto them.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from cinemart.spark import activity, ease_ranking, explicit, ranking, serving

#: Which model each factor table serves, as `cinemart.warehouse.tables.FACTOR_TABLES`.
FACTOR_TABLES = ("implicit_als", "explicit_als", "popularity", ranking.EASE_MODEL, ranking.BLEND_MODEL)


def int_als_grid_search(split: DataFrame, model_settings: str) -> DataFrame:
    return explicit.als_grid_search(split, model_settings)


def int_als_factors(split: DataFrame, als_grid_search: DataFrame, model_settings: str) -> DataFrame:
    return explicit.int_als_factors(split, als_grid_search, model_settings)


def als_predictions(split: DataFrame, int_als_factors: DataFrame, als_grid_search: DataFrame,
                    model_settings: str) -> DataFrame:
    """als_grid_search's chosen point never has time terms here (MLlib has none: refused before any work),
    so the train fit's factors score every rating as they are."""
    return explicit.als_predictions(split, int_als_factors, model_settings)


def implicit_grid_search(split: DataFrame, model_settings: str) -> DataFrame:
    return ranking.implicit_grid_search(split, model_settings)


def int_implicit_factors(split: DataFrame, implicit_grid_search: DataFrame, model_settings: str) -> DataFrame:
    return ranking.implicit_factors(split, implicit_grid_search, model_settings)


def ease_grid_search(split: DataFrame, model_settings: str) -> DataFrame:
    return ease_ranking.ease_grid_search(split, model_settings, ranking.settings_of(model_settings))


def int_ease_factors(split: DataFrame, ease_grid_search: DataFrame, model_settings: str) -> DataFrame:
    return ease_ranking.ease_factors(split, ease_grid_search, model_settings)


def int_blend_factors(split: DataFrame, evaluation: DataFrame, implicit_factors: DataFrame, ease_factors: DataFrame,
                      model_settings: str) -> DataFrame:
    return ease_ranking.blend_factors(split, evaluation, implicit_factors, ease_factors, model_settings)


def popularity_factors(split: DataFrame, model_settings: str) -> DataFrame:
    return ranking.popularity_factors(split, model_settings)


def int_ranking_evaluation(split: DataFrame, implicit_grid_search: DataFrame, ease_grid_search: DataFrame,
                           als_grid_search: DataFrame, int_als_factors: DataFrame,
                           int_movie_content_vectors: DataFrame, model_settings: str) -> DataFrame:
    return ranking.ranking_evaluation(split, implicit_grid_search, ease_grid_search, als_grid_search, int_als_factors,
                                      int_movie_content_vectors, model_settings)


def serving_settings(evaluation: DataFrame, implicit_factors: DataFrame, als_factors: DataFrame,
                     popularity_factors: DataFrame, ease_factors: DataFrame, blend_factors: DataFrame,
                     model_settings: str) -> DataFrame:
    tables = dict(zip(FACTOR_TABLES, (implicit_factors, als_factors, popularity_factors, ease_factors, blend_factors)))
    return serving.serving_settings(evaluation, tables, model_settings)


def int_user_recommendations(split: DataFrame, evaluation: DataFrame, implicit_factors: DataFrame,
                             als_factors: DataFrame, popularity_factors: DataFrame, ease_factors: DataFrame,
                             blend_factors: DataFrame, int_popular_movies: DataFrame, model_settings: str) -> DataFrame:
    tables = dict(zip(FACTOR_TABLES, (implicit_factors, als_factors, popularity_factors, ease_factors, blend_factors)))
    return serving.int_user_recommendations(split, evaluation, tables, int_popular_movies, model_settings)


def int_movie_content_vectors(movies: DataFrame, tags: DataFrame, model_settings: str) -> DataFrame:
    return serving.int_movie_content_vectors(movies, tags, model_settings)


def int_movie_similarity_vectors(evaluation: DataFrame, implicit_factors: DataFrame, als_factors: DataFrame,
                                 content_vectors: DataFrame, model_settings: str) -> DataFrame:
    return serving.int_movie_similarity_vectors(evaluation, {"implicit_als": implicit_factors,
                                                             "explicit_als": als_factors}, content_vectors,
                                                model_settings)


def int_similar_movies(similarity_vectors: DataFrame, model_settings: str) -> DataFrame:
    return serving.int_similar_movies(similarity_vectors, model_settings)


def int_similar_movies_cold_start(split: DataFrame, evaluation: DataFrame, implicit_factors: DataFrame,
                                  als_factors: DataFrame, content_vectors: DataFrame, model_settings: str) -> DataFrame:
    return serving.int_similar_movies_cold_start(split, evaluation, {"implicit_als": implicit_factors,
                                                                     "explicit_als": als_factors},
                                                 content_vectors, model_settings)


def int_ranking_evaluation_by_activity(split: DataFrame, evaluation: DataFrame, implicit_grid_search: DataFrame,
                                       ease_grid_search: DataFrame, int_als_factors: DataFrame,
                                       int_popular_movies: DataFrame, model_settings: str) -> DataFrame:
    return activity.ranking_evaluation_by_activity(split, evaluation, implicit_grid_search, ease_grid_search,
                                                   int_als_factors, int_popular_movies, model_settings)
