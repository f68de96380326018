"""Plain dbt commands on the working copy: one line that says what to do, never a raw DuckDB error.

A fresh clone before `make run` has no data and no warehouse folder; a working
copy can be held by a running `cinemart build` or by another process. The
guard (cinemart.warehouse.working_copy_guard, a dbt-duckdb plugin named in
profiles.yml) and the on-run-start hook `require_source_files` turn each into a
sentence.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cinemart.warehouse.dbt import find_project_dir
from cinemart.warehouse.publish import BUILD_LOCK_HELD_ENV, BuildLock, WarehousePaths
from cinemart.warehouse.working_copy_guard import WorkingCopyBusyError, check_working_copy

DBT = Path(sys.executable).parent / "dbt"


def hold_open(database: Path) -> subprocess.Popen:
    """Another process with `database` open read-write, until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', flush=True); "
         "time.sleep(600)", str(database)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    return holder


def test_a_fresh_clone_gets_its_working_copy_folder(tmp_path):
    database = tmp_path / "warehouse" / "build" / "cinemart.duckdb"

    check_working_copy(database)

    assert database.parent.is_dir()


def test_a_running_cinemart_build_is_named_but_its_own_dbt_passes(tmp_path):
    paths = WarehousePaths(tmp_path / "warehouse")

    with BuildLock(paths):
        check_working_copy(paths.build)  # the build's own dbt: the lock holder said so in the environment
        del os.environ[BUILD_LOCK_HELD_ENV]  # anyone else
        with pytest.raises(WorkingCopyBusyError, match=rf"being built by `cinemart build` \(pid {os.getpid()}\)"):
            check_working_copy(paths.build)

    check_working_copy(paths.build)  # released


def test_another_process_holding_the_file_is_named(tmp_path):
    database = tmp_path / "cinemart.duckdb"
    holder = hold_open(database)
    try:
        with pytest.raises(WorkingCopyBusyError, match=rf"open read-write in .*\(pid {holder.pid}\): wait for"):
            check_working_copy(database)
    finally:
        holder.kill()
        holder.wait()
    check_working_copy(database)


def plain_dbt(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """`dbt <command>` from the project root as a user types it: no --vars, no --profiles-dir."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("CINEMART_") and not key.startswith("DBT_")}
    environment.update({"DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs"), **env})
    return subprocess.run([str(DBT), *command.split()], cwd=find_project_dir(), env=environment,
                          capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_plain_dbt_without_data_names_make_run(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()

    result = plain_dbt("build", tmp_path, CINEMART_DATA_DIR=str(empty),
                       CINEMART_DUCKDB_PATH=str(tmp_path / "warehouse" / "build" / "cinemart.duckdb"))

    assert result.returncode != 0
    assert (f"no MovieLens csv files in {empty} (missing links.csv, movies.csv, ratings.csv, tags.csv): "
            "run `make run` first") in result.stdout
    assert "read_csv" not in result.stdout and "Traceback" not in result.stdout


@pytest.mark.slow
def test_plain_dbt_during_a_cinemart_build_names_it(tmp_path):
    paths = WarehousePaths(tmp_path / "warehouse")

    with BuildLock(paths):  # plain_dbt passes no CINEMART_* variable: a user's shell, not a child of the build
        result = plain_dbt("test", tmp_path, CINEMART_DUCKDB_PATH=str(paths.build))

    assert result.returncode != 0
    assert f"is being built by `cinemart build` (pid {os.getpid()})" in result.stdout
    assert "Traceback" not in result.stdout
