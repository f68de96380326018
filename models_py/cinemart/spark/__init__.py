"""cinemart on Apache Spark: MLlib versions of the recommender tables, and in-session dbt Python models.

A dbt Python model picks its engine from the session dbt hands it:

    from cinemart.spark import is_spark_session

    def model(dbt, session):
        if is_spark_session(session):
            from cinemart.spark.explicit import als_grid_search
            return als_grid_search(dbt.ref("int_ratings_split"), dbt.config.get("model_settings"))
        ...  # the DuckDB path, unchanged

Table functions (inputs are the dbt refs as Spark DataFrames, plus the
`model_settings` JSON; each returns the table's Spark DataFrame):
  explicit.als_grid_search(split, settings)                              -> als_grid_search
  explicit.als_predictions(split, als_grid_search, settings)             -> als_predictions
  explicit.als_factors(split, als_grid_search, settings)                 -> als_factors
  ranking.implicit_grid_search(split, settings)                          -> implicit_grid_search
  ranking.implicit_factors(split, implicit_grid_search, settings)        -> implicit_factors
  ranking.ranking_evaluation(split, implicit_grid_search, als_grid_search, settings) -> ranking_evaluation
  serving.int_user_recommendations(split, ranking_evaluation, factor_tables, settings) -> int_user_recommendations
  serving.int_similar_movies(ranking_evaluation, factor_tables, settings)             -> int_similar_movies

This module imports no pyspark, so the DuckDB path never pays for it.
"""

from __future__ import annotations


def is_spark_session(session: object) -> bool:
    """True for a pyspark SparkSession (classic or Spark Connect), without importing pyspark."""
    return any(cls.__name__ == "SparkSession" and cls.__module__.startswith("pyspark.sql")
               for cls in type(session).__mro__)
