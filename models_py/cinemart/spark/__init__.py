"""cinemart on Apache Spark: MLlib versions of the recommender tables, and in-session dbt Python models.

A dbt Python model picks its engine with `cinemart.engine.tables_for(session)`,
which returns `cinemart.spark.tables` for a SparkSession: the functions of
`cinemart.warehouse.tables` (same names, signatures and DAG), over Spark
DataFrames. The work is done by `explicit` (MLlib ALS, SQL biases),
`ranking` (implicitPrefs ALS, popularity, evaluation) and `serving` (top-N,
similar movies, serving_settings); `dbt_session` runs the Python models in
dbt-spark's own session.

This module imports no pyspark, so the DuckDB path never pays for it.
"""

from __future__ import annotations


def is_spark_session(session: object) -> bool:
    """True for a pyspark SparkSession (classic or Spark Connect), without importing pyspark."""
    return any(cls.__name__ == "SparkSession" and cls.__module__.startswith("pyspark.sql")
               for cls in type(session).__mro__)
