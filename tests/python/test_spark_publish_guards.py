"""The Spark engine's publish path gives the DuckDB engine's guarantees.

- `cinemart build --engine spark` holds a build lock: a second one fails at
  once in one line (or queues with --wait), and it refuses --select (it
  publishes whole builds only).
- `dbt run-operation publish_spark_build` publishes only a build schema whose
  last writing dbt command was a green full `dbt build`
  (macros/spark/build_log.sql).
- serving_version.served_since is the UTC time of the publish or rollback,
  stored, not the time of the query.
- The append-only audit (als_model_runs) keeps every invocation once across a
  full refresh, a rollback and a dropped build table.

The dbt commands run in this process on the run's SparkSession (conftest
`spark`); the recommender's tables are small stand-ins, as in
test_spark_publish.py, since the whole DAG costs minutes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from cinemart import cli  # noqa: E402
from cinemart.warehouse.dbt import BuildResult, temporary_environment  # noqa: E402
from cinemart.warehouse.publish import BuildLock, WarehousePaths  # noqa: E402
from conftest import LATEST_SMALL_DIR  # noqa: E402
from movielens_fixtures import write_csv_dataset  # noqa: E402
from spark_sql_support import dbt_args, layout_vars, record_whole_build  # noqa: E402


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("cinemart: error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def no_dbt(monkeypatch):
    """`cinemart build --engine spark` with dbt replaced: each call is recorded with the build lock's content
    at that moment, and fails (returncode 1), so the command stops right after its first dbt step."""
    from cinemart.spark.environment import SparkEnvironmentError, check_spark_environment

    try:
        check_spark_environment("local[2]")
    except SparkEnvironmentError as error:
        pytest.skip(f"Spark cannot start here: {error}")
    calls = []

    def fake_run_dbt(command, layout, **kwargs):
        lock = Path(os.environ.get("CINEMART_SPARK_WAREHOUSE_DIR", "/nonexistent")) / ".build.lock"
        calls.append((command, lock.read_text() if lock.exists() else None))
        return BuildResult(database=kwargs["database"], returncode=1)

    monkeypatch.setattr(cli, "run_dbt", fake_run_dbt)
    monkeypatch.setenv("CINEMART_SPARK_MASTER", "local[2]")
    return calls


def spark_build(*args: str) -> int:
    return cli.main(["build", "--engine", "spark", "--from", str(LATEST_SMALL_DIR), *args])


def test_spark_build_refuses_select_in_one_line(no_dbt, capsys):
    assert spark_build("--select", "movie_popularity") == 2
    assert "--select does not apply to --engine spark" in one_line_error(capsys)
    assert no_dbt == []


def test_a_second_spark_build_fails_at_once_while_one_holds_the_lock(no_dbt, tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "spark_warehouse"
    monkeypatch.setenv("CINEMART_SPARK_WAREHOUSE_DIR", str(warehouse))
    with BuildLock(WarehousePaths(warehouse)):  # another build, as far as the lock file knows
        assert spark_build() == 2
        assert f"another build is running on {warehouse}" in one_line_error(capsys)
        assert no_dbt == []
    assert spark_build() == 2  # the stand-in dbt fails: nothing is published
    assert "dbt build --target spark failed" in one_line_error(capsys)
    assert no_dbt == [("build", str(os.getpid()))]  # dbt ran while this process held the lock


def test_wait_queues_behind_a_running_spark_build(no_dbt, tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "spark_warehouse"
    monkeypatch.setenv("CINEMART_SPARK_WAREHOUSE_DIR", str(warehouse))
    lock = BuildLock(WarehousePaths(warehouse)).__enter__()
    released = threading.Event()

    def release():
        released.set()
        lock.__exit__(None, None, None)

    threading.Timer(1.5, release).start()
    assert spark_build("--wait") == 2
    assert released.is_set() and len(no_dbt) == 1  # dbt started only once the other build let go


def dbt_spark_messages(command, work, *, schema, dbt_vars) -> tuple[bool, str]:
    """dbt --target spark in this process: (success, everything it logged)."""
    from dbt.cli.main import dbtRunner

    messages = []
    env = {"CINEMART_SPARK_BUILD_SCHEMA": schema, "CINEMART_SPARK_MASTER": "local[2]"}
    with temporary_environment(env):
        result = dbtRunner(callbacks=[lambda event: messages.append(event.info.msg)]).invoke(
            dbt_args([*command, "--target", "spark"], work, dbt_vars, ()))
    return result.success, "\n".join(str(m) for m in messages)


def publish(work, schema, dbt_vars, **args) -> tuple[bool, str]:
    command = ["run-operation", "publish_spark_build"] + (["--args", json.dumps(args)] if args else [])
    return dbt_spark_messages(command, work, schema=schema, dbt_vars=dbt_vars)


def run_one_model(work, schema, dbt_vars) -> None:
    ok, output = dbt_spark_messages(["run", "--select", "+stg_movielens__movies"], work, schema=schema,
                                    dbt_vars=dbt_vars)
    assert ok, output[-3000:]


def schemas_and_vars(tmp_path, name: str, seed: int) -> tuple[str, str, dict]:
    """A build and a serving schema named after the test, and the vars of a small dataset written for it."""
    serving = f"{name}_serving"
    data = layout_vars(write_csv_dataset(tmp_path / "data", n_users=10, seed=seed).path)
    return f"{name}_build", serving, {**data, "spark_serving_schema": serving}


def version_schemas(spark, serving) -> list[str]:
    return sorted(row[0] for row in spark.sql(f"show schemas like '{serving}__v*'").collect())


def test_publish_refuses_a_build_schema_that_is_not_a_whole_green_build(spark, tmp_path):
    build, serving, dbt_vars = schemas_and_vars(tmp_path, "guards", seed=5)

    def refused(reason: str) -> None:
        ok, output = publish(tmp_path, build, dbt_vars)
        assert not ok
        assert f"cannot publish: {reason}" in output, output[-2000:]
        assert version_schemas(spark, serving) == []

    refused(f"the build schema {build} has no record of the dbt build that made it")
    run_one_model(tmp_path, build, dbt_vars)
    refused(f"the last dbt command on {build} was `dbt run --select +stg_movielens__movies`, not a full `dbt build`")
    spark.sql(f"insert into {build}_meta.dbt_invocations select 'killed', 'build', '{{}}', 'start', "
              "current_timestamp(), null, null")
    refused(f"the last dbt build on {build} never finished (killed?)")
    # a full `dbt build` that fails: the MovieLens files are missing
    (tmp_path / "empty").mkdir()
    ok, _ = dbt_spark_messages(["build"], tmp_path, schema=build, dbt_vars={**dbt_vars, "data_dir": str(tmp_path / "empty")})
    assert not ok
    refused(f"the last dbt build on {build} failed")
    # the refusals were about the record: the same tables publish once it says whole
    record_whole_build(spark, build)
    ok, output = publish(tmp_path, build, dbt_vars)
    assert ok, output[-3000:]
    assert len(version_schemas(spark, serving)) == 1


def served(spark, serving) -> tuple[str, str | None, datetime]:
    version, previous, since = spark.sql(f"select version, previous_version, cast(served_since as string) "
                                         f"from {serving}.serving_version").collect()[0]
    return version, previous, datetime.fromisoformat(since).replace(tzinfo=timezone.utc)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def audit(spark, schema) -> list[str]:
    return sorted(row[0] for row in spark.sql(f"select invocation_id from {schema}.als_model_runs").collect())


def test_publish_stores_its_utc_time_and_keeps_every_audit_row(spark, tmp_path):
    """publish (a), full refresh (b), publish, rollback, append (c), publish, drop the build table, dbt run."""
    build, serving, dbt_vars = schemas_and_vars(tmp_path, "carry", seed=6)
    run_one_model(tmp_path, build, dbt_vars)
    runs = f"{build}.als_model_runs"  # a stand-in with the columns the publish's headline reads

    def append(invocation: str) -> None:
        spark.sql(f"insert into {runs} (invocation_id, finished_at, test_rmse, rank, reg, iterations) "
                  f"select '{invocation}', current_timestamp(), 0.9, 10, 0.1, 10")

    def publish_whole(**args) -> None:
        if not args:
            record_whole_build(spark, build)
        ok, output = publish(tmp_path, build, dbt_vars, **args)
        assert ok, output[-3000:]

    spark.sql(f"create table {runs} (invocation_id string, finished_at timestamp, test_rmse double, rank int, "
              "reg double, iterations int, not_built_reason string) using parquet")
    append("a")
    before = utc_now()
    publish_whole()
    first, previous, since = served(spark, serving)
    assert previous is None and before.replace(microsecond=0) <= since <= utc_now()
    time.sleep(1.5)
    assert served(spark, serving) == (first, None, since)  # stored, not the time of the query

    # a full refresh recreates the build's table with this build's row only (and a column added since)
    spark.sql(f"drop table {runs}")
    spark.sql(f"create table {runs} (invocation_id string, finished_at timestamp, test_rmse double, rank int, "
              "reg double, iterations int, biased boolean) using parquet")
    spark.sql(f"insert into {runs} select 'b', current_timestamp(), 0.9, 10, 0.1, 10, true")
    publish_whole()
    second = served(spark, serving)[0]
    assert audit(spark, serving) == ["a", "b"]
    assert spark.sql(f"select biased from {serving}.als_model_runs where invocation_id = 'a'").collect()[0][0] is None

    rolled_back_at = utc_now()
    publish_whole(rollback=True)
    version, previous, since_rollback = served(spark, serving)
    assert (version, previous) == (first, second) and since_rollback >= rolled_back_at.replace(microsecond=0)
    assert audit(spark, serving) == ["a"]

    spark.sql(f"insert into {runs} select 'c', current_timestamp(), 0.9, 10, 0.1, 10, true")
    publish_whole()  # the build has b and c, the served version a, the previous one a and b
    assert audit(spark, serving) == ["a", "b", "c"]
    history = spark.sql(f"select version from {serving}.serving_history order by served_since").collect()
    assert [row[0] for row in history][:3] == [first, second, first] and len(history) == 4

    # a build table dropped (a new build schema, a fresh start) is carried from the published versions
    spark.sql(f"drop table {runs}")
    run_one_model(tmp_path, build, dbt_vars)
    assert audit(spark, build) == ["a", "b", "c"]
