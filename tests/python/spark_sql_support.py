"""Building the dbt project on local Spark from pytest, and comparing it with DuckDB.

dbt-spark's `method: session` runs Spark SQL through
`SparkSession.builder.enableHiveSupport().getOrCreate()`, so a dbt invocation
made in this process (dbtRunner) reuses the run's session (conftest `spark`):
one JVM for the run, not one per dbt command. The session keeps its metastore
(embedded Derby) and warehouse in the module's temp folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
from sql_builds import SQL_LAYERS

PROJECT_DIR = Path(__file__).resolve().parents[2]


def start_spark(work: Path):
    """A local[2] Spark session with a Hive metastore and warehouse under `work`."""
    from pyspark.sql import SparkSession

    from cinemart.spark.environment import use_this_python

    # a later module's getOrCreate may reuse this session: its Python workers need this interpreter too
    use_this_python()
    work.mkdir(parents=True, exist_ok=True)
    return (
        SparkSession.builder.master("local[2]")
        .appName("cinemart-tests")
        .enableHiveSupport()
        .config("spark.ui.enabled", "false")
        .config("spark.default.parallelism", "4")
        .config(map=SMALL_DATA_SPARK_CONF)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")  # what dbt-spark sets for its session
        .config("spark.sql.warehouse.dir", str(work / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                f"jdbc:derby:;databaseName={work / 'metastore_db'};create=true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work}")
        .getOrCreate()
    )


def layout_vars(data_dir: Path) -> dict:
    from cinemart.data.layout import detect_layout

    return detect_layout(data_dir).dbt_vars()


def dbt_args(command: Sequence[str], work: Path, dbt_vars: dict | None, select: Sequence[str]) -> list[str]:

    args = [*command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    if select:
        # cautious: a test runs only when all its models are selected
        args += ["--select", *select, "--indirect-selection", "cautious"]
    return args


def dbt_cli(*args: str, work: Path) -> subprocess.CompletedProcess:
    """`dbt <args>` in a subprocess against a scratch DuckDB file; output captured."""
    executable = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [str(executable), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        cwd=PROJECT_DIR, env={**os.environ, "CINEMART_DUCKDB_PATH": str(work / "scratch.duckdb")},
        capture_output=True, text=True, check=False)


def dbt_spark(command: Sequence[str], work: Path, *, schema: str, dbt_vars: dict | None = None,
              select: Sequence[str] = (), warehouse: Path | None = None) -> bool:
    """Run dbt with --target spark in this process (the module's SparkSession); True when it succeeded."""
    from dbt.cli.main import dbtRunner

    from cinemart.warehouse.dbt import temporary_environment

    env = {"CINEMART_SPARK_BUILD_SCHEMA": schema, "CINEMART_SPARK_MASTER": "local[2]"}
    if warehouse is not None:
        env["CINEMART_SPARK_WAREHOUSE_DIR"] = str(warehouse)
    with temporary_environment(env):
        result = dbtRunner().invoke(dbt_args([*command, "--target", "spark"], work, dbt_vars, select))
    return result.success


def record_whole_build(spark, schema: str) -> None:
    """Stand in, in the build schema's own log (macros/spark/build_log.sql), for a green full `dbt build`.

    For tests that build a few models (or stand-in tables) and publish them: publish_spark_build
    publishes only a build schema whose last dbt command was a green full build, and the whole DAG
    costs minutes."""
    spark.sql(f"create schema if not exists {schema}_meta")
    spark.sql(f"create table if not exists {schema}_meta.dbt_invocations (invocation_id string, command string, "
              "selection string, event string, at timestamp, succeeded boolean, whole boolean) using parquet")
    spark.sql(f"insert into {schema}_meta.dbt_invocations select 'stand-in', 'build', '{{}}', 'end', "
              "current_timestamp(), true, true")


def start_dbt_duckdb(command: Sequence[str], work: Path, *, database: Path, dbt_vars: dict | None = None,
                     select: Sequence[str] = ()) -> subprocess.Popen:
    """dbt on DuckDB in a subprocess (as `cinemart build` runs it), output to work/dbt.out; `wait_dbt_duckdb` ends it."""
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "CINEMART_DUCKDB_PATH": str(database)}
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "dbt.out", "w") as out:
        return subprocess.Popen([str(dbt), *dbt_args(command, work, dbt_vars, select)], cwd=PROJECT_DIR,
                                env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_dbt_duckdb(process: subprocess.Popen, work: Path, command: Sequence[str]) -> None:
    """Wait for `start_dbt_duckdb`'s dbt; fail the test, with dbt's output, if it failed."""
    returncode = process.wait()
    assert returncode == 0, f"dbt {' '.join(command)} on DuckDB failed:\n{(work / 'dbt.out').read_text()[-3000:]}"


@contextlib.contextmanager
def dbt_duckdb(command: Sequence[str], work: Path, *, database: Path, dbt_vars: dict | None = None,
               select: Sequence[str] = ()) -> Iterator[None]:
    """Run dbt on DuckDB in a subprocess while the `with` body runs, typically
    the Spark build: the two engines share the wait. Leaving the block waits
    for dbt and fails the test if dbt failed."""
    process = start_dbt_duckdb(command, work, database=database, dbt_vars=dbt_vars, select=select)
    try:
        yield
    finally:
        wait_dbt_duckdb(process, work, command)


def _normalized_select(con, relation: str) -> tuple[list[str], str]:
    """Column names of `relation`, and a select over it both engines can be
    compared on: doubles rounded to 9 decimals (sums and averages are added up
    in a different order, so the last bits may differ)."""
    described = con.execute(f"describe select * from {relation}").fetchall()
    names = [name.lower() for name, *_ in described]
    expressions = [f'round("{name}", 9)' if kind in ("DOUBLE", "FLOAT") else f'"{name}"'
                   for name, kind, *_ in described]
    return names, f"select {', '.join(expressions)} from {relation}"


def spark_table_files(spark, table: str) -> str:
    """The parquet files of a Spark table, as a DuckDB read_parquet() relation.

    Read with DuckDB rather than collected through the Spark driver: the same
    reader for both sides, and a hundred times faster than Row objects."""
    location = next(row.data_type for row in spark.sql(f"describe table extended {table}").collect()
                    if row.col_name == "Location")
    path = location.removeprefix("file:")
    return f"read_parquet('{path}/*.parquet')"


def parquet_folder_files(folder: Path) -> Callable[[str], str]:
    """Spark tables written under `folder` (one sub-folder of parquet files per table), for `differences`."""
    return lambda table: f"read_parquet('{folder / table}/*.parquet')"


def schema_files(spark, schema: str) -> Callable[[str], str]:
    """The tables of a schema in this process's Spark metastore, for `differences`."""
    return lambda table: spark_table_files(spark, f"{schema}.{table}")


def differences(database: Path | None, spark_files: Callable[[str], str], tables: Sequence[str],
                reference: Callable[[str], str] | None = None) -> dict[str, str]:
    """Per table that differs between the DuckDB file and Spark's copy: what differs.

    `spark_files(table)` is a DuckDB relation over that table's parquet files;
    `reference(table)`, when given, is the relation compared against instead of
    the DuckDB file's table (another Spark build's files).
    Column names must match in order; rows are compared as multisets (EXCEPT ALL both ways)."""
    found = {}
    with duckdb.connect() as con:
        if reference is None:
            con.execute(f"attach '{database}' as duck (read_only)")
        for table in tables:
            duck_columns, duck = _normalized_select(con, reference(table) if reference else f"duck.{table}")
            spark_columns, sparked = _normalized_select(con, spark_files(table))
            if duck_columns != spark_columns:
                found[table] = f"columns {duck_columns} (DuckDB) vs {spark_columns} (Spark)"
                continue
            only_duck = con.execute(f"{duck} except all {sparked}").fetchall()
            only_spark = con.execute(f"{sparked} except all {duck}").fetchall()
            if only_duck or only_spark:
                found[table] = (f"{len(only_duck)} rows only on DuckDB, e.g. {only_duck[:3]}; "
                                f"{len(only_spark)} only on Spark, e.g. {only_spark[:3]}")
    return found


def sql_layer_tables(database: Path, layers: Sequence[str] = SQL_LAYERS) -> list[str]:
    """The tables of the SQL models in `layers` (dbt `path:` selectors) that DuckDB built (views left out)."""
    models = set()
    for layer in layers:
        path = PROJECT_DIR / layer.removeprefix("path:")
        models |= {f.stem for f in ([path] if path.is_file() else path.rglob("*.sql"))}
    with duckdb.connect(str(database), read_only=True) as con:
        return [name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_type = 'BASE TABLE' "
            "and table_schema = 'main' order by 1").fetchall() if name in models]


#: The configuration of the shared full build (test_spark_build.py states its reference figures).
FULL_BUILD_VARS = {
    "als_grid": {"rank": [10], "reg": [0.1], "iterations": [10]},
    "implicit_grid": {"factors": [10], "regularization": [0.1], "alpha": [1.0], "iterations": [10],
                      "confidence": ["threshold"]},
    "cv_folds": 2,
    # one lambda, and a budget that keeps ~700 of the ~6,300 liked movies: the restricted scope on both engines
    "ease_grid": {"regularization": [100.0]},
    "ease_max_memory": "160MiB",
}
FULL_BUILD_SCHEMA = "cinemart_build"


@dataclass(frozen=True)
class FullBuild:
    spark_tables: Path  # the build schema's folder: one folder of parquet files per table
    duckdb: Path  # the DuckDB engine's database, same data and vars
    work: Path
    cli_output: str  # what `cinemart build --engine spark` printed


#: Spark settings of every Spark run in the tests. At 100k ratings, Spark's fixed cost per query is
#: most of the work: whole-stage code generation compiles Java for each of the build's ~400 queries,
#: and each shuffle runs the profile's 8 tasks for a few kilobytes. With them the full build took
#: 223 s, without them 275 s (one run each, 2026-12-02), with the same tables and figures: both settings
#: change how Spark executes a plan, not what it computes. A user's build keeps Spark's defaults.
SMALL_DATA_SPARK_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.shuffle.partitions": "2"}


def full_build_env(work: Path) -> dict:
    """Everything the Spark build writes lives under `work`."""
    return {**os.environ, "CINEMART_SPARK_CONF": json.dumps(SMALL_DATA_SPARK_CONF),
            "CINEMART_SPARK_WAREHOUSE_DIR": str(work / "warehouse"),
            "CINEMART_WAREHOUSE_DIR": str(work / "duckdb_side"),
            "CINEMART_SPARK_BUILD_SCHEMA": FULL_BUILD_SCHEMA, "CINEMART_SPARK_MASTER": "local[2]",
            "CINEMART_SPARK_THREADS": "4", "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "logs"), "PYTHONPATH": str(PROJECT_DIR / "models_py")}


@dataclass
class RunningFullBuild:
    """`start_full_spark`'s two subprocesses, until `finish_full_spark` waits for them."""

    work: Path
    spark: subprocess.Popen
    duckdb: subprocess.Popen
    started: float

    def stop(self) -> None:
        """Kill both builds (a test run that ends without waiting for them)."""
        for process in (self.spark, self.duckdb):
            if process.poll() is None:
                process.kill()
                process.wait()


def start_full_spark(work: Path) -> RunningFullBuild:
    """Start the run's one `cinemart build --engine spark` of ml-latest-small, and a DuckDB build beside it.

    `cinemart build --engine spark` is `dbt build --target spark` (the whole
    DAG, every data test on Spark) followed by `dbt run-operation
    publish_spark_build`, in a subprocess with its own JVM and private
    warehouse, metastore, target and log folders. Beside it runs a DuckDB
    `dbt build` of everything with the same vars: the parity module compares
    its SQL tables row for row (cv_folds 2 changes the split's folds, so the
    run's default DuckDB build cannot stand in) and the build module every
    table's columns, so the Spark tests need no other DuckDB build. One Spark
    build serves the build, parity and ML-table modules: it is the slowest
    step of the Spark suite, so conftest starts it as soon as the run's tests
    are collected, and it runs while the DuckDB tests do.
    """
    import time

    from conftest import LATEST_SMALL_DIR

    database = work / "duckdb" / "cinemart.duckdb"
    duckdb_side = start_dbt_duckdb(["build"], work / "duckdb", database=database,
                                   dbt_vars={**layout_vars(LATEST_SMALL_DIR), **FULL_BUILD_VARS})
    (work / "spark").mkdir(parents=True, exist_ok=True)
    with open(work / "spark" / "cli.out", "w") as out, open(work / "spark" / "cli.err", "w") as err:
        spark_side = subprocess.Popen(
            [str(Path(sys.executable).with_name("cinemart")), "build", "--engine", "spark",
             "--from", str(LATEST_SMALL_DIR), "--vars", json.dumps(FULL_BUILD_VARS)],
            cwd=PROJECT_DIR, env=full_build_env(work / "spark"), stdout=out, stderr=err)
    return RunningFullBuild(work, spark_side, duckdb_side, time.perf_counter())


def finish_full_spark(running: RunningFullBuild) -> FullBuild:
    """Wait for `start_full_spark`'s builds; fail with their output if either failed."""
    import time

    work = running.work
    returncode = running.spark.wait()
    print(f"cinemart build --engine spark: {time.perf_counter() - running.started:.0f}s since it started")
    wait_dbt_duckdb(running.duckdb, work / "duckdb", ["build"])
    stdout, stderr = (work / "spark" / "cli.out").read_text(), (work / "spark" / "cli.err").read_text()
    assert returncode == 0, f"cinemart build --engine spark failed:\n{stdout[-4000:]}{stderr[-2000:]}"
    return FullBuild(work / "spark" / "warehouse" / f"{FULL_BUILD_SCHEMA}.db", work / "duckdb" / "cinemart.duckdb",
                     work, stdout)
