"""BI readers over HiveServer2: `cinemart serve --engine spark` (the Spark Thrift Server and its mirror).

The run's SparkSession stands in for the build's JVM: it builds and publishes
into its warehouse while `cinemart serve` runs the Thrift Server, with a
metastore of its own, over the same files. A PyHive client (what Superset and
other SQLAlchemy tools use; Tableau, Power BI and DBeaver speak the same
protocol) queries the served views and functions, and keeps querying through
a rebuild and a publish: it must never get an error, never a count that is
neither the old nor the new build's, and it must see the new build once the
mirror has followed the publish. The mirror itself is `dbt run-operation
--target spark_thrift`, and SQL models are built over the same server with
dbt's `method: thrift`.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")
hive = pytest.importorskip("pyhive.hive")

from spark_serving_support import Reader, add_factor_tables, check_serving_functions, two_releases  # noqa: E402
from spark_sql_support import PROJECT_DIR, dbt_spark, record_whole_build  # noqa: E402

pytestmark = [pytest.mark.thrift, pytest.mark.slow]

BUILD, SERVING = "thrift_build", "thrift_cinemart"
MODELS = ["+stg_movielens__ratings", "+quarantine_ratings"]
STAND_INS = ["serving_settings", "movies", "implicit_factors", "popular_movies", "int_movie_similarity_vectors"]
READ = (f"select (select count(*) from {SERVING}.stg_movielens__ratings), "
        f"(select count(*) from {SERVING}.quarantine_ratings)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_and_publish(spark, work: Path, dbt_vars: dict) -> None:
    """The ratings chain and stand-in recommender tables over it, published as a whole build."""
    for table in STAND_INS:
        spark.sql(f"drop table if exists {BUILD}.{table}")
    assert dbt_spark(["run"], work, schema=BUILD, dbt_vars=dbt_vars, select=MODELS)
    record_whole_build(spark, BUILD)
    add_factor_tables(spark, BUILD)
    assert dbt_spark(["run-operation", "publish_spark_build", "--args", f"{{serving_schema: {SERVING}}}"],
                     work, schema=BUILD, dbt_vars=dbt_vars)


class Serve:
    """`cinemart serve --engine spark` as a subprocess; its output lines arrive in a queue."""

    def __init__(self, warehouse: Path, port: int):
        env = {**os.environ, "CINEMART_SPARK_WAREHOUSE_DIR": str(warehouse),
               "CINEMART_SPARK_SERVING_SCHEMA": SERVING, "PYTHONPATH": str(PROJECT_DIR / "models_py")}
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("cinemart")), "serve", "--engine", "spark", "--port", str(port),
             "--master", "local[1]", "--interval", "1"],
            cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.output.append(line.rstrip())
            self.lines.put(line.rstrip())

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "cinemart serve exited:\n" + "\n".join(self.output)
                continue
            if text in line:
                return line
        raise AssertionError(f"no {text!r} from cinemart serve within {timeout:.0f} s:\n" + "\n".join(self.output))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Two different csv releases: (data vars, expected (clean, quarantined) counts)."""
    return two_releases(tmp_path_factory.mktemp("thrift_data"), (5, 6))


@pytest.fixture(scope="module")
def server(spark):
    """`cinemart serve --engine spark` over the run's SparkSession's warehouse: (process, port, warehouse).

    Stopping it must stop the Thrift Server's JVM too (nothing listens on the port afterwards)."""
    warehouse = Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:"))
    port = free_port()
    serve = Serve(warehouse, port)
    try:
        serve.wait_for("listening: ", timeout=600)
        yield serve, port, warehouse
    finally:
        code = serve.stop()
    assert code == 0, "\n".join(serve.output)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the Thrift Server outlived cinemart serve"


def test_bi_reader_over_hiveserver2_sees_whole_versions_through_a_rebuild(spark, server, datasets, tmp_path):
    (old_vars, old_counts), (new_vars, new_counts) = datasets
    serve, port, warehouse = server
    build_and_publish(spark, tmp_path, old_vars)
    started = time.perf_counter()
    serve.wait_for("serving ", timeout=600)
    print(f"cinemart serve: the published version served after {time.perf_counter() - started:.0f} s")
    client = hive.connect(host="127.0.0.1", port=port, username="analyst").cursor()

    def query(sql: str) -> list[tuple]:
        client.execute(sql)
        return [tuple(row) for row in client.fetchall()]

    assert query(READ) == [old_counts]
    check_serving_functions(query, SERVING)

    cursor = hive.connect(host="127.0.0.1", port=port, username="reader").cursor()

    def read() -> tuple:
        cursor.execute(READ)
        return tuple(cursor.fetchall()[0])

    reader = Reader(read, pause=0.2)
    reader.start()
    try:
        # a rebuild drops and rewrites every build table; the publish copies and repoints
        build_and_publish(spark, tmp_path, new_vars)
        during_build = len(reader.seen)
        mirrored = serve.wait_for("serving ", timeout=600)
        time.sleep(2)
    finally:
        reader.stop.set()
        reader.join()
    served = spark.sql(f"select version from {SERVING}.serving_version").collect()[0][0]
    assert served in mirrored
    assert reader.errors == []
    assert during_build > 0 and set(reader.seen[:during_build]) == {old_counts}
    assert set(reader.seen) <= {old_counts, new_counts}
    assert reader.seen[-1] == new_counts
    assert query(f"select version from {SERVING}.serving_version") == [(served,)]
    check_serving_functions(query, SERVING)

    # a rollback in the build is followed too
    assert dbt_spark(["run-operation", "publish_spark_build", "--args",
                      f"{{serving_schema: {SERVING}, rollback: true}}"], tmp_path, schema=BUILD, dbt_vars=new_vars)
    serve.wait_for("serving ", timeout=600)
    assert query(READ) == [old_counts]
    # the mirror registered external tables: the build's files of both kept versions are intact
    kept = {row[0] for row in spark.sql(f"show schemas like '{SERVING}__v*'").collect()}
    assert len(kept) == 2 and all(any((warehouse / f"{schema}.db").iterdir()) for schema in kept)


def test_dbt_builds_sql_models_over_the_thrift_server(server, datasets, tmp_path):
    """dbt-spark's `method: thrift` (the spark_thrift target) builds SQL models on the same server;
    a whole build cannot (its Python models need a SparkSession in dbt's process: docs/spark.md)."""
    (old_vars, old_counts), _ = datasets
    _, port, _ = server
    schema = "thrift_sql_build"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "run", "--target", "spark_thrift", "--vars", json.dumps(old_vars),
         "--select", *MODELS, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=PROJECT_DIR, capture_output=True, text=True,
        env={**os.environ, "CINEMART_SPARK_THRIFT_PORT": str(port), "CINEMART_SPARK_BUILD_SCHEMA": schema})
    assert result.returncode == 0, result.stdout[-3000:]
    cursor = hive.connect(host="127.0.0.1", port=port, username="dbt-check").cursor()
    cursor.execute(f"select (select count(*) from {schema}.stg_movielens__ratings), "
                   f"(select count(*) from {schema}.quarantine_ratings)")
    assert tuple(cursor.fetchall()[0]) == old_counts


def test_serve_refuses_duckdb_and_a_busy_port_in_one_line(tmp_path):
    cinemart = str(Path(sys.executable).with_name("cinemart"))
    duck = subprocess.run([cinemart, "serve", "--engine", "duckdb"], capture_output=True, text=True, cwd=PROJECT_DIR)
    assert duck.returncode == 2 and duck.stderr.count("\n") == 1 and "warehouse/cinemart.duckdb" in duck.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run([cinemart, "serve", "--engine", "spark", "--port", str(port)], capture_output=True,
                               text=True, cwd=PROJECT_DIR,
                               env={**os.environ, "CINEMART_SPARK_WAREHOUSE_DIR": str(tmp_path)})
    assert taken.returncode == 2 and taken.stderr.count("\n") == 1 and "already in use" in taken.stderr
