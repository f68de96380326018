"""Which engine computes the recommender tables: picked from the session dbt hands a Python model.

dbt-duckdb passes a DuckDB connection, dbt-spark (through the in-session
plugin, cinemart.spark.dbt_session) a SparkSession. Both engines expose the
same functions (one per dbt Python model, same names and signatures), so a
model file is one line whatever the target:

    return tables_for(session).int_als_grid_search(dbt.ref("int_ratings_split"), dbt.config.get("model_settings"))

The Spark module is imported only for a SparkSession: the DuckDB path never
imports pyspark (a DuckDB-only install has none).
"""

from __future__ import annotations

from types import ModuleType


def tables_for(session: object) -> ModuleType:
    """`cinemart.spark.tables` for a pyspark SparkSession, `cinemart.warehouse.tables` otherwise."""
    from cinemart.spark import is_spark_session

    if is_spark_session(session):
        from cinemart.spark import tables
    else:
        from cinemart.warehouse import tables
    return tables
