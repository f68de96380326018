"""Own data on Spark: the same files and vars build the same SQL-layer tables as on DuckDB, row for row.

The files are own_data_fixtures.py's: a Parquet export with renamed columns,
UUID-like user ids, `tt` movie ids, TIMESTAMP times and a Parquet catalogue;
and a CSV with no catalogue. Each is built with `dbt build` (models and data
tests, the source-rows reconciliation among them) on DuckDB and on the run's
SparkSession, and every table of the layers, the quarantine and the id
mappings (`users`, `movies.source_movie_id`) included, is compared.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")
pytestmark = pytest.mark.slow  # a DuckDB and a Spark build of the SQL layers per file (~1-2 min each)

from own_data_fixtures import (  # noqa: E402
    CSV_REASONS,
    HOSTILE,
    OWN_LAYERS,
    duckdb_build,
    write_csv_without_catalogue,
    write_parquet_export,
)
from spark_sql_support import dbt_spark, differences, schema_files, sql_layer_tables  # noqa: E402

WRITERS = {"parquet": (write_parquet_export, {reason: 1 for reason in HOSTILE.values()}),
           "csv_no_catalogue": (write_csv_without_catalogue, CSV_REASONS)}


@pytest.mark.parametrize("name", list(WRITERS))
def test_own_files_build_the_same_tables_on_spark(spark, tmp_path_factory, name):
    writer, reasons = WRITERS[name]
    work = tmp_path_factory.mktemp(f"own_{name}")
    files = writer(work)
    duckdb_build(files.own, work / "duckdb").close()
    schema = f"own_{name}"
    built = dbt_spark(["build"], work / "spark", schema=schema, dbt_vars=files.own.dbt_vars(), select=OWN_LAYERS)
    assert built, f"dbt build --target spark of own data failed; logs in {work / 'spark' / 'logs'}"

    tables = sql_layer_tables(work / "duckdb" / "warehouse.duckdb", OWN_LAYERS)
    assert {"base_movielens__ratings", "stg_movielens__ratings", "quarantine_ratings", "movies", "users",
            "dataset_overview"} <= set(tables)
    assert differences(work / "duckdb" / "warehouse.duckdb", schema_files(spark, schema), tables) == {}
    found = dict(spark.sql(f"select reason, count(*) from {schema}.quarantine_ratings group by reason").collect())
    assert found == reasons
    kept, quarantined = spark.sql(f"select n_ratings, n_quarantined_ratings from {schema}.dataset_overview").first()
    assert kept == files.n_source + (1 if name == "csv_no_catalogue" else 0) and quarantined == sum(reasons.values())
