"""Own data on Spark: the same files and vars build the same SQL-layer tables as on DuckDB, row for row.

The files are own_data_fixtures.py's: a Parquet export with renamed columns,
UUID-like user ids, `tt` movie ids, TIMESTAMP times and a Parquet catalogue;
and a CSV with no catalogue. Each is built with `dbt build` (models and data
tests, the source-rows reconciliation among them) on DuckDB and on the run's
SparkSession, and every table of the layers, the quarantine and the id
mappings (`users`, `movies.source_movie_id`) included, is compared. The CSV
of plays without ratings (implicit feedback) is built whole on both engines:
the SQL layers compared the same way, the model tables checked on Spark.
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
    PLAYS_REASONS,
    PLAYS_REPEATED,
    duckdb_build,
    write_csv_without_catalogue,
    write_parquet_export,
    write_plays_csv,
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


#: Small grids for the whole plays build; the implicit grid's star confidences become binary and plays.
PLAYS_VARS = {"implicit_grid": {"factors": [8], "regularization": [0.1], "alpha": [2.0], "iterations": [5],
                                "confidence": ["binary", "linear"]},
              "ease_grid": "quick", "popular_min_ratings": 5}


def test_plays_without_ratings_build_every_table_on_spark(spark, tmp_path_factory):
    """Implicit feedback on Spark: the SQL layers equal DuckDB's, the explicit tables empty with the reason,
    implicit ALS tuned on binary and plays confidences, every user listed."""
    work = tmp_path_factory.mktemp("own_plays")
    files = write_plays_csv(work)
    duckdb_build(files.own, work / "duckdb", whole=True, extra_vars=PLAYS_VARS).close()
    schema = "own_plays"
    built = dbt_spark(["build"], work / "spark", schema=schema, dbt_vars={**files.own.dbt_vars(), **PLAYS_VARS})
    assert built, f"dbt build --target spark of the plays failed; logs in {work / 'spark' / 'logs'}"

    tables = sql_layer_tables(work / "duckdb" / "warehouse.duckdb", OWN_LAYERS)
    assert differences(work / "duckdb" / "warehouse.duckdb", schema_files(spark, schema), tables) == {}
    found = dict(spark.sql(f"select reason, count(*) from {schema}.quarantine_ratings group by reason").collect())
    assert found == {**PLAYS_REASONS, "duplicate_counted_in_latest_interaction": PLAYS_REPEATED}
    assert spark.sql(f"select feedback from {schema}.dataset_overview").first()[0] == "implicit"
    for table in ("als_grid_search", "als_factors", "als_predictions", "als_test_predictions"):
        assert spark.sql(f"select count(*) from {schema}.{table}").first()[0] == 0, table
    assert "implicit feedback" in spark.sql(f"select not_built_reason from {schema}.als_model_runs").first()[0]
    assert spark.sql(f"select scope from {schema}.ranking_evaluation where model = 'explicit_als' "
                     "and protocol = 'random'").first()[0].startswith("skipped: ")
    assert {r[0] for r in spark.sql(f"select confidence from {schema}.implicit_grid_search").collect()} == \
        {"binary", "plays"}
    n_users = spark.sql(f"select n_users from {schema}.dataset_overview").first()[0]
    assert spark.sql(f"select count(distinct user_id) from {schema}.user_recommendations").first()[0] == n_users
