"""What a reader sees during a Spark build (macros/spark/publish_spark_build.sql).

dbt rebuilds the build schema while readers query the serving schema, whose
views point at an immutable copy of the last published build. A reader
polling all the while must never get an error and never a count that is
neither the old nor the new dataset's (a half-written table); after the
publish it sees the new build, and a rollback serves the old one again.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from spark_serving_support import Reader, add_factor_tables, check_serving_functions, two_releases  # noqa: E402
from spark_sql_support import dbt_cli, dbt_spark, record_whole_build  # noqa: E402

BUILD, SERVING = "publish_build", "cinemart"
# the ratings chain only: enough tables to rebuild, cheap to build twice
MODELS = ["+stg_movielens__ratings", "+quarantine_ratings"]
READ = f"select (select count(*) from {SERVING}.stg_movielens__ratings), (select count(*) from {SERVING}.quarantine_ratings)"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Two different csv releases: (data vars, expected (clean, quarantined) counts)."""
    return two_releases(tmp_path_factory.mktemp("data"), (3, 4))


def publish(work, dbt_vars, **args) -> bool:
    """The publish step (or a rollback), with the vars of the last build: one
    target folder and unchanged vars let dbt reuse its parse (partial parsing)."""
    import json

    command = ["run-operation", "publish_spark_build"] + (["--args", json.dumps(args)] if args else [])
    return dbt_spark(command, work, schema=BUILD, dbt_vars=dbt_vars)


def build(spark, work, dbt_vars) -> bool:
    """The ratings chain, recorded as a whole build (publish_spark_build publishes only those)."""
    built = dbt_spark(["run"], work, schema=BUILD, dbt_vars=dbt_vars, select=MODELS)
    if built:
        record_whole_build(spark, BUILD)
    return built


def test_readers_see_a_whole_version_during_a_rebuild_and_rollback(spark, datasets, tmp_path):
    (old_vars, old_counts), (new_vars, new_counts) = datasets
    assert build(spark, tmp_path, old_vars)
    assert publish(tmp_path, old_vars)
    assert tuple(spark.sql(READ).collect()[0]) == old_counts

    session = spark.newSession()
    reader = Reader(lambda: tuple(session.sql(READ).collect()[0]), pause=0.05)
    reader.start()
    try:
        assert build(spark, tmp_path, new_vars)  # drops and rewrites every build table
        during_build = len(reader.seen)
        add_factor_tables(spark, BUILD)
        assert publish(tmp_path, new_vars)
        time.sleep(1)
    finally:
        reader.stop.set()
        reader.join()

    assert reader.errors == []
    assert during_build > 0 and set(reader.seen[:during_build]) == {old_counts}
    assert set(reader.seen) <= {old_counts, new_counts}
    assert reader.seen[-1] == new_counts

    check_serving_functions(lambda sql: [tuple(row) for row in spark.sql(sql).collect()], SERVING)

    versions = spark.sql(f"select version, previous_version from {SERVING}.serving_version").collect()[0]
    assert publish(tmp_path, new_vars, rollback=True)
    assert tuple(spark.sql(READ).collect()[0]) == old_counts
    assert not spark.sql(f"show user functions in {SERVING}").collect()  # the old version has no factors
    assert publish(tmp_path, new_vars, rollback=True)
    assert tuple(spark.sql(READ).collect()[0]) == new_counts
    assert tuple(spark.sql(f"select version, previous_version from {SERVING}.serving_version").collect()[0]) == tuple(versions)


def test_publish_refuses_the_duckdb_target(tmp_path):
    """One clear line, not a Spark error, when the operation meets the wrong engine."""
    completed = dbt_cli("run-operation", "publish_spark_build", work=tmp_path)
    assert completed.returncode != 0
    assert "publish_spark_build is for --target spark" in completed.stdout
