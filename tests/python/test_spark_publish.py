"""What a reader sees during a Spark build (macros/spark/publish_spark_build.sql).

dbt rebuilds the build schema while readers query the serving schema, whose
views point at an immutable copy of the last published build. A reader
polling all the while must never get an error and never a count that is
neither the old nor the new dataset's (a half-written table); after the
publish it sees the new build, and a rollback serves the old one again.
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from movielens_fixtures import write_csv_dataset  # noqa: E402
from spark_sql_support import dbt_spark, layout_vars, start_spark  # noqa: E402

BUILD, SERVING = "publish_build", "cinemart"
# the ratings chain only: enough tables to rebuild, cheap to build twice
MODELS = ["+stg_movielens__ratings", "+quarantine_ratings"]
READ = f"select (select count(*) from {SERVING}.stg_movielens__ratings), (select count(*) from {SERVING}.quarantine_ratings)"


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    session = start_spark(tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Two different csv releases: (data vars, expected (clean, quarantined) counts)."""
    work = tmp_path_factory.mktemp("data")
    old = write_csv_dataset(work / "old", n_users=20, seed=3)
    new = write_csv_dataset(work / "new", n_users=35, seed=4)
    counts = [(f.n_clean_ratings, f.n_source_ratings - f.n_clean_ratings) for f in (old, new)]
    assert counts[0] != counts[1]
    return [(layout_vars(f.path), c) for f, c in zip((old, new), counts)]


def publish(work, **args) -> bool:
    import json

    command = ["run-operation", "publish_spark_build"] + (["--args", json.dumps(args)] if args else [])
    return dbt_spark(command, work, schema=BUILD)


def build(work, dbt_vars) -> bool:
    return dbt_spark(["run"], work, schema=BUILD, dbt_vars=dbt_vars, select=MODELS)


class Reader(threading.Thread):
    """Polls the serving views from its own session (as a BI client would) until stopped."""

    def __init__(self, spark):
        super().__init__(daemon=True)
        self.session = spark.newSession()
        self.seen: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.seen.append(tuple(self.session.sql(READ).collect()[0]))
            except Exception as error:  # any failure a reader would see
                self.errors.append(str(error).splitlines()[0])
            time.sleep(0.05)


def test_readers_see_a_whole_version_during_a_rebuild_and_rollback(spark, datasets, tmp_path):
    (old_vars, old_counts), (new_vars, new_counts) = datasets
    assert build(tmp_path / "old", old_vars)
    assert publish(tmp_path / "publish_old")
    assert tuple(spark.sql(READ).collect()[0]) == old_counts

    reader = Reader(spark)
    reader.start()
    try:
        assert build(tmp_path / "new", new_vars)  # drops and rewrites every build table
        during_build = len(reader.seen)
        assert publish(tmp_path / "publish_new")
        time.sleep(1)
    finally:
        reader.stop.set()
        reader.join()

    assert reader.errors == []
    assert during_build > 0 and set(reader.seen[:during_build]) == {old_counts}
    assert set(reader.seen) <= {old_counts, new_counts}
    assert reader.seen[-1] == new_counts

    versions = spark.sql(f"select version, previous_version from {SERVING}.serving_version").collect()[0]
    assert publish(tmp_path / "rollback", rollback=True)
    assert tuple(spark.sql(READ).collect()[0]) == old_counts
    assert publish(tmp_path / "undo", rollback=True)
    assert tuple(spark.sql(READ).collect()[0]) == new_counts
    assert tuple(spark.sql(f"select version, previous_version from {SERVING}.serving_version").collect()[0]) == tuple(versions)


def test_publish_refuses_the_duckdb_target(tmp_path):
    """One clear line, not a Spark error, when the operation meets the wrong engine."""
    import subprocess
    import sys

    from spark_sql_support import PROJECT_DIR

    completed = subprocess.run(
        [str(__import__("pathlib").Path(sys.executable).with_name("dbt")), "run-operation", "publish_spark_build",
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=PROJECT_DIR, capture_output=True, text=True, check=False,
        env={**__import__("os").environ, "CINEMART_DUCKDB_PATH": str(tmp_path / "x.duckdb")})
    assert completed.returncode != 0
    assert "publish_spark_build is for --target spark" in completed.stdout
