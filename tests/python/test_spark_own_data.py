"""Own data on Spark: the same files and vars build the same SQL-layer tables as on DuckDB, row for row.

The files are own_data_fixtures.py's: a Parquet export with renamed columns,
UUID-like user ids, `tt` movie ids, TIMESTAMP times and a Parquet catalogue;
and a CSV with no catalogue. Each is built with `dbt build` (models and data
tests, the source-rows reconciliation among them) on DuckDB and on the run's
SparkSession, and every table of the layers, the quarantine and the id
mappings (`users`, `movies.source_movie_id`) included, is compared; so is
the CSV of plays without ratings (implicit feedback). Every file is built
whole, the model tables checked on Spark.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")
pytestmark = pytest.mark.slow  # a whole DuckDB and Spark build per file (~3 min each)

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

#: Small grids: each file is built whole on both engines. The implicit grid's star confidences become binary
#: and plays on the plays file; the fallback lists movies with 5 ratings (none of these files has 20).
SMALL_GRIDS = {"als_grid": {"rank": [4], "reg": [0.1], "iterations": [5]},
               "implicit_grid": {"factors": [8], "regularization": [0.1], "alpha": [2.0], "iterations": [5],
                                 "confidence": ["binary", "linear"]},
               "ease_grid": "quick", "popular_min_ratings": 5}
#: Per file: its writer, the quarantine it makes, and the clean rows beyond the source's (an ISO-timed row).
WRITERS = {"parquet": (write_parquet_export, {reason: 1 for reason in HOSTILE.values()}, 0),
           "csv_no_catalogue": (write_csv_without_catalogue, CSV_REASONS, 1),
           "plays": (write_plays_csv, {**PLAYS_REASONS, "duplicate_counted_in_latest_interaction": PLAYS_REPEATED}, 0)}


@pytest.mark.parametrize("name", list(WRITERS))
def test_own_files_build_the_same_warehouse_on_spark(spark, tmp_path_factory, name):
    """The whole warehouse on both engines: the SQL layers equal row for row, the quarantine and the counts
    reconciled on Spark, every user listed; the explicit model built on ratings and not on plays."""
    writer, reasons, extra = WRITERS[name]
    work = tmp_path_factory.mktemp(f"own_{name}")
    files = writer(work)
    duckdb_build(files.own, work / "duckdb", whole=True, extra_vars=SMALL_GRIDS).close()
    schema = f"own_{name}"
    built = dbt_spark(["build"], work / "spark", schema=schema, dbt_vars={**files.own.dbt_vars(), **SMALL_GRIDS})
    assert built, f"dbt build --target spark of own data failed; logs in {work / 'spark' / 'logs'}"

    tables = sql_layer_tables(work / "duckdb" / "warehouse.duckdb", OWN_LAYERS)
    assert {"base_movielens__ratings", "stg_movielens__ratings", "quarantine_ratings", "movies", "users",
            "dataset_overview"} <= set(tables)
    assert differences(work / "duckdb" / "warehouse.duckdb", schema_files(spark, schema), tables) == {}

    def value(sql: str):
        return spark.sql(sql.format(s=schema)).first()[0]

    found = dict(spark.sql(f"select reason, count(*) from {schema}.quarantine_ratings group by reason").collect())
    assert found == reasons
    kept, quarantined = spark.sql(f"select n_ratings, n_quarantined_ratings from {schema}.dataset_overview").first()
    assert kept == files.n_source + extra and quarantined == sum(reasons.values())
    assert value("select count(distinct user_id) from {s}.user_recommendations") == \
        value("select n_users from {s}.dataset_overview")
    implicit = name == "plays"
    assert value("select feedback from {s}.dataset_overview") == ("implicit" if implicit else "explicit")
    assert (value("select count(*) from {s}.als_factors") == 0) == implicit
    assert (value("select not_built_reason from {s}.als_model_runs") is not None) == implicit
    if implicit:
        for table in ("als_grid_search", "als_predictions", "als_test_predictions"):
            assert value(f"select count(*) from {{s}}.{table}") == 0, table
        assert "implicit feedback" in value("select not_built_reason from {s}.als_model_runs")
        assert value("select scope from {s}.ranking_evaluation where model = 'explicit_als' "
                     "and protocol = 'random'").startswith("skipped: ")
        assert {r[0] for r in spark.sql(f"select confidence from {schema}.implicit_grid_search").collect()} == \
            {"binary", "plays"}
