"""Publishing with real processes: readers never blocked, killed builds harmless, builds serialized.

Every build here is a real `cinemart build` subprocess on the real
ml-latest-small, publishing into a private warehouse folder.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from conftest import LATEST_SMALL_DIR

CINEMART = str(Path(sys.executable).parent / "cinemart")
# Timing columns and the audit's invocation columns differ between identical builds by design.
VOLATILE_COLUMNS = {"fit_seconds", "grid_fit_seconds", "evaluation_seconds", "invocation_id", "started_at", "finished_at"}
# Append-only: one row per build, so only its distinct content is comparable across warehouses.
APPEND_ONLY = {"als_model_runs"}


def build_env(warehouse: Path) -> dict[str, str]:
    if not LATEST_SMALL_DIR.exists():
        pytest.skip(f"{LATEST_SMALL_DIR} is absent: publishing is tested on the real ml-latest-small")
    return {**os.environ, "CINEMART_WAREHOUSE_DIR": str(warehouse), "CINEMART_DATA_DIR": str(LATEST_SMALL_DIR),
            "DBT_TARGET_PATH": str(warehouse / "dbt-target"), "DBT_LOG_PATH": str(warehouse / "dbt-logs")}


def start_build(warehouse: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([CINEMART, "build", *args], env=build_env(warehouse), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_build(warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CINEMART, "build", *args], env=build_env(warehouse), capture_output=True, text=True,
                          timeout=900)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_digests(database: Path) -> dict[str, str]:
    """sha256 of every table's rows, sorted, volatile columns left out."""
    digests = {}
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]
        for table in tables:
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
                [table]).fetchall() if c not in VOLATILE_COLUMNS]
            select = ", ".join(f'"{c}"' for c in columns)
            distinct = "distinct " if table in APPEND_ONLY else ""
            rows = con.execute(f'select {distinct}{select} from "{table}" order by all').fetchall()
            digests[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    warehouse = tmp_path_factory.mktemp("published")
    result = run_build(warehouse)
    assert result.returncode == 0, result.stdout + result.stderr
    return warehouse


READER = textwrap.dedent("""
    import sys, time, duckdb
    path, stop_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
    con = duckdb.connect(path, read_only=True)
    answered = 0
    first = con.execute("select count(*), min(invocation_id) from als_model_runs").fetchone()
    import os
    while not os.path.exists(stop_file):
        assert con.execute("select count(*), min(invocation_id) from als_model_runs").fetchone() == first
        assert con.execute("select count(*) from user_recommendations").fetchone()[0] == 6100
        answered += 1
        time.sleep(0.01)
    con.close()
    fresh = duckdb.connect(path, read_only=True)
    after = fresh.execute("select count(*) from als_model_runs").fetchone()[0]
    open(out, "w").write(f"{answered} {first[0]} {after}")
""")


def test_reader_keeps_its_version_during_a_build_and_sees_the_new_one_after(published, tmp_path):
    serving = published / "cinemart.duckdb"
    stop, out = tmp_path / "stop", tmp_path / "reader.out"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(serving), str(stop), str(out)])
    time.sleep(1.0)
    result = run_build(published)
    stop.touch()
    assert reader.wait(timeout=60) == 0, "the reader failed a query during the build"
    assert result.returncode == 0, result.stdout + result.stderr
    answered, runs_before, runs_after = map(int, out.read_text().split())
    assert answered > 50  # queries answered while the build ran and published
    assert runs_after == runs_before + 1  # the audit is append-only across published builds
    assert (published / "previous" / "cinemart.duckdb").exists()


def test_killed_build_leaves_the_serving_file_byte_for_byte(published):
    serving = published / "cinemart.duckdb"
    before = sha256(serving)
    build = start_build(published)
    deadline = time.monotonic() + 300
    for line in build.stdout:  # wait until training is under way
        if "explicit ALS grid search" in line or time.monotonic() > deadline:
            break
    os.killpg(build.pid, signal.SIGKILL)
    build.wait(timeout=30)
    assert build.returncode == -signal.SIGKILL
    assert sha256(serving) == before
    again = run_build(published)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sha256(serving) != before


def test_second_concurrent_build_fails_clearly_and_corrupts_nothing(published):
    serving = published / "cinemart.duckdb"
    first = start_build(published)
    for line in first.stdout:  # the first build holds the lock once dbt is running
        if "Running with dbt" in line:
            break
    second = run_build(published)
    rest = first.communicate(timeout=900)[0]
    assert first.returncode == 0, rest
    assert second.returncode == 2
    assert second.stderr.startswith("cinemart: error: another build is running on")
    assert "Traceback" not in second.stderr
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select count(*) from user_recommendations").fetchone()[0] == 6100


def test_rollback_swaps_back_and_forth(published):
    serving, previous = published / "cinemart.duckdb", published / "previous" / "cinemart.duckdb"
    current, older = sha256(serving), sha256(previous)
    env = build_env(published)
    for expected in (older, current):
        done = subprocess.run([CINEMART, "rollback"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert sha256(serving) == expected


def test_same_data_and_seed_give_identical_tables(published, real_warehouse):
    ours, theirs = table_digests(published / "cinemart.duckdb"), table_digests(real_warehouse.database)
    assert ours.keys() == theirs.keys()
    assert len(ours) > 30
    different = [t for t in ours if ours[t] != theirs[t]]
    assert different == []
