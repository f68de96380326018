"""Building the dbt project on local Spark from pytest, and comparing it with DuckDB.

dbt-spark's `method: session` runs Spark SQL through
`SparkSession.builder.enableHiveSupport().getOrCreate()`, so a dbt invocation
made in this process (dbtRunner) reuses the session a test module created:
one JVM per module, not one per dbt command. The session keeps its metastore
(embedded Derby) and warehouse in the module's temp folder.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[2]
SQL_LAYERS = ["path:models/staging", "path:models/intermediate", "path:models/marts/eda"]


def start_spark(work: Path):
    """A local[2] Spark session with a Hive metastore and warehouse under `work`."""
    from pyspark.sql import SparkSession

    work.mkdir(parents=True, exist_ok=True)
    return (
        SparkSession.builder.master("local[2]")
        .appName("cinemart-tests")
        .enableHiveSupport()
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")  # what dbt-spark sets for its session
        .config("spark.sql.warehouse.dir", str(work / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                f"jdbc:derby:;databaseName={work / 'metastore_db'};create=true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work}")
        .getOrCreate()
    )


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def layout_vars(data_dir: Path) -> dict:
    from cinemart.data.layout import detect_layout

    return detect_layout(data_dir).dbt_vars()


def dbt_args(command: Sequence[str], work: Path, dbt_vars: dict | None, select: Sequence[str]) -> list[str]:
    import json

    args = [*command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    if select:
        # cautious: a test runs only when all its models are selected
        args += ["--select", *select, "--indirect-selection", "cautious"]
    return args


def dbt_spark(command: Sequence[str], work: Path, *, schema: str, dbt_vars: dict | None = None,
              select: Sequence[str] = (), warehouse: Path | None = None) -> bool:
    """Run dbt with --target spark in this process (the module's SparkSession); True when it succeeded."""
    from dbt.cli.main import dbtRunner

    env = {"CINEMART_SPARK_BUILD_SCHEMA": schema, "CINEMART_SPARK_MASTER": "local[2]"}
    if warehouse is not None:
        env["CINEMART_SPARK_WAREHOUSE_DIR"] = str(warehouse)
    with environment(**env):
        result = dbtRunner().invoke(dbt_args([*command, "--target", "spark"], work, dbt_vars, select))
    return result.success


def dbt_duckdb(command: Sequence[str], work: Path, *, database: Path, dbt_vars: dict | None = None,
               select: Sequence[str] = ()) -> None:
    """Run dbt on DuckDB in a subprocess, as `cinemart build` does; fails the test when dbt does."""
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "CINEMART_DUCKDB_PATH": str(database)}
    completed = subprocess.run([str(dbt), *dbt_args(command, work, dbt_vars, select)], cwd=PROJECT_DIR,
                               env=env, check=False, capture_output=True, text=True)
    assert completed.returncode == 0, f"dbt {' '.join(command)} on DuckDB failed:\n{completed.stdout[-3000:]}"


def _normalized(value):
    """A value both engines can be compared on: floats to 12 significant digits
    (sums and averages are added up in a different order), lists as tuples."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else float(f"{value:.12g}")
    if isinstance(value, (list, tuple)):
        return tuple(_normalized(v) for v in value)
    return value


def duckdb_rows(database: Path, table: str) -> tuple[list[str], Counter]:
    with duckdb.connect(str(database), read_only=True) as con:
        result = con.execute(f"select * from {table}")
        columns = [d[0] for d in result.description]
        rows = result.fetchall()
    return columns, Counter(tuple(_normalized(v) for v in row) for row in rows)


def spark_rows(spark, table: str) -> tuple[list[str], Counter]:
    frame = spark.table(table)
    return frame.columns, Counter(tuple(_normalized(v) for v in row) for row in frame.collect())


def differences(database: Path, spark, schema: str, tables: Sequence[str]) -> dict[str, str]:
    """Per table that differs between the DuckDB file and the Spark schema: what differs."""
    found = {}
    for table in tables:
        duck_columns, duck = duckdb_rows(database, table)
        spark_columns, sparked = spark_rows(spark, f"{schema}.{table}")
        if [c.lower() for c in duck_columns] != [c.lower() for c in spark_columns]:
            found[table] = f"columns {duck_columns} (DuckDB) vs {spark_columns} (Spark)"
        elif duck != sparked:
            only_duck, only_spark = duck - sparked, sparked - duck
            found[table] = (f"{sum(only_duck.values())} rows only on DuckDB, e.g. {list(only_duck)[:3]}; "
                            f"{sum(only_spark.values())} only on Spark, e.g. {list(only_spark)[:3]}")
    return found


def sql_layer_tables(database: Path) -> list[str]:
    """Every table the SQL layers built, as DuckDB lists them."""
    with duckdb.connect(str(database), read_only=True) as con:
        return [name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_type = 'BASE TABLE' order by 1").fetchall()]
