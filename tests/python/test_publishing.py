"""Publishing with real processes: readers never blocked, killed builds harmless, builds serialized.

Every build here is a real `cinemart build` subprocess on the real
ml-latest-small, publishing into a private warehouse folder.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import duckdb
import pytest

from cinemart import cli
from cinemart.warehouse import publish
from cinemart_builds import CINEMART, QUICK_VARS, build_env, run_build, start_build

# Timing columns and the audit's invocation columns differ between identical builds by design.
VOLATILE_COLUMNS = {"fit_seconds", "grid_fit_seconds", "evaluation_seconds", "invocation_id", "started_at", "finished_at"}
# Append-only: one row per build, so only its distinct content is comparable across warehouses.
APPEND_ONLY = {"als_model_runs"}
#: The module builds once (`published`, quick vars: cinemart_builds); each test that changes a
#: warehouse changes its own copy, so tests run in any order.


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
    """The module's one `cinemart build`: a published warehouse no test changes (tests change copies)."""
    warehouse = tmp_path_factory.mktemp("published")
    result = run_build(warehouse)
    assert result.returncode == 0, result.stdout + result.stderr
    return warehouse


@pytest.fixture
def warehouse(published, tmp_path) -> Path:
    """A private copy of the published warehouse folder (served file, working copy, report) to change."""
    copy = tmp_path / "warehouse"
    shutil.copytree(published, copy, ignore=shutil.ignore_patterns("dbt-target", "dbt-logs"))
    return copy


READER = textwrap.dedent("""
    import sys, time, duckdb
    path, stop_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
    con = duckdb.connect(path, read_only=True)
    answered = 0
    first = con.execute("select count(*), min(invocation_id) from als_model_runs").fetchone()
    import os
    print("reading", flush=True)
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


def test_a_rebuild_serves_readers_whole_versions_refuses_a_second_build_and_repeats_the_tables(
        published, warehouse, tmp_path):
    """One rebuild of a published warehouse, watched from every side.

    A reader connected before it keeps its version throughout and sees the new
    one after; a second build started meanwhile fails in one line; the new build
    starts fresh (a table of a removed model is gone) yet carries the audit
    forward; and with the same data, vars and seed it makes the same tables as
    the module's first build.
    """
    serving = warehouse / "cinemart.duckdb"
    with duckdb.connect(str(serving)) as con:  # stands for the table of a removed model
        con.execute("create table removed_model as select 1 as x")
    stop, out = tmp_path / "stop", tmp_path / "reader.out"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(serving), str(stop), str(out)],
                              stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
    build = start_build(warehouse)
    assert build.stdout is not None
    for line in build.stdout:  # the build holds the lock once dbt is running
        if "Running with dbt" in line:
            break
    second = run_build(warehouse)
    rest = build.communicate(timeout=900)[0]
    stop.touch()
    assert reader.wait(timeout=60) == 0, "the reader failed a query during the build"
    assert build.returncode == 0, rest

    assert second.returncode == 2
    assert second.stderr.startswith("cinemart: error: another build is running on")
    assert "Traceback" not in second.stderr
    answered, runs_before, runs_after = map(int, out.read_text().split())
    assert answered > 50  # queries answered while the build ran and published
    assert runs_after == runs_before + 1  # the audit is append-only across published builds
    assert (warehouse / "previous" / "cinemart.duckdb").exists()
    with duckdb.connect(str(serving), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
    assert "removed_model" not in tables
    assert (warehouse / "report.html").is_file()
    staged = [p.name for p in warehouse.iterdir() if p.name.startswith(".report.html.") or p.suffix == ".publishing"]
    assert staged == [], "a staged file was left behind"

    ours, first = table_digests(serving), table_digests(published / "cinemart.duckdb")
    assert ours.keys() == first.keys() and len(ours) > 30
    assert [t for t in ours if ours[t] != first[t]] == []


def test_killed_build_leaves_the_serving_file_byte_for_byte(warehouse):
    serving = warehouse / "cinemart.duckdb"
    before = sha256(serving)
    build = start_build(warehouse)
    assert build.stdout is not None
    deadline = time.monotonic() + 300
    for line in build.stdout:  # wait until training is under way
        if "explicit ALS grid search" in line or time.monotonic() > deadline:
            break
    os.killpg(build.pid, signal.SIGKILL)
    build.wait(timeout=30)
    assert build.returncode == -signal.SIGKILL
    assert sha256(serving) == before
    # the kernel released the build lock, and the half-built working copy is never published
    refused = subprocess.run([CINEMART, "publish"], env=build_env(warehouse), capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2
    assert refused.stderr.startswith("cinemart: error: cannot publish: the last dbt build on"), refused.stderr
    assert "never finished (killed?)" in refused.stderr
    assert sha256(serving) == before


def test_rollback_swaps_back_and_forth(warehouse):
    serving, previous = warehouse / "cinemart.duckdb", warehouse / "previous" / "cinemart.duckdb"
    previous.parent.mkdir()
    shutil.copyfile(serving, previous)
    with duckdb.connect(str(previous)) as con:  # an older version that differs from the served one
        con.execute("create table older_version as select 1 as x")
    current, older = sha256(serving), sha256(previous)
    env = build_env(warehouse)
    for expected in (older, current):
        done = subprocess.run([CINEMART, "rollback"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert sha256(serving) == expected


#: Runs publish.rollback on argv[1] and SIGKILLs itself at its argv[2]-th audit event: Python raises one
#: before every rename, link, unlink and open, and before it looks up a C function.
KILLED_ROLLBACK = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from cinemart.warehouse.publish import WarehousePaths, rollback
    kill_at, seen = int(sys.argv[2]), 0
    def hook(event, args):
        global seen
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    sys.addaudithook(hook)
    rollback(WarehousePaths(Path(sys.argv[1])))
""")


def test_a_rollback_killed_at_any_step_keeps_both_versions(tmp_path):
    """Killed at each of its steps, a rollback leaves both versions, one under each name, and nothing else."""
    for kill_at in range(1, 20):
        root = tmp_path / str(kill_at)
        serving, previous = root / "cinemart.duckdb", root / "previous" / "cinemart.duckdb"
        previous.parent.mkdir(parents=True)
        serving.write_bytes(b"served")
        previous.write_bytes(b"older")
        done = subprocess.run([sys.executable, "-c", KILLED_ROLLBACK, str(root), str(kill_at)],
                              capture_output=True, text=True, timeout=60)
        assert sorted(root.rglob("*")) == [serving, previous.parent, previous], f"killed at step {kill_at}"
        assert {serving.read_bytes(), previous.read_bytes()} == {b"served", b"older"}
        if done.returncode == 0:  # it had fewer steps than kill_at: the rollback completed
            assert (serving.read_bytes(), previous.read_bytes()) == (b"older", b"served")
            return
        assert done.returncode == -signal.SIGKILL, done.stderr
    pytest.fail("the rollback never completed")


def test_rollback_where_files_cannot_be_exchanged_fails_in_one_line(tmp_path, monkeypatch):
    def unsupported(*args):
        ctypes.set_errno(errno.EINVAL)
        return -1

    monkeypatch.setattr(publish, "_libc", types.SimpleNamespace(renameat2=unsupported))
    paths = publish.WarehousePaths(tmp_path)
    paths.previous.parent.mkdir()
    paths.serving.write_bytes(b"served")
    paths.previous.write_bytes(b"older")
    with pytest.raises(publish.PublishError, match="does not support swapping two files atomically") as refused:
        publish.rollback(paths)
    assert "\n" not in str(refused.value)
    assert (paths.serving.read_bytes(), paths.previous.read_bytes()) == (b"served", b"older")


def test_a_failed_publish_leaves_the_served_warehouse_and_report_and_nothing_staged(warehouse, monkeypatch):
    """`cinemart publish` failing after the report is rendered leaves every file of the folder as it was."""
    def fail(paths):
        raise publish.PublishError("simulated failure")

    before = {path: sha256(path) for path in warehouse.rglob("*") if path.is_file()}
    monkeypatch.setenv("CINEMART_WAREHOUSE_DIR", str(warehouse))
    monkeypatch.setattr(cli, "publish", fail)
    assert cli.main(["publish"]) == cli.EXIT_USER_ERROR
    assert {path: sha256(path) for path in warehouse.rglob("*") if path.is_file()} == before


DBT = str(Path(sys.executable).parent / "dbt")
PROJECT = Path(__file__).resolve().parents[2]


def run_plain_dbt(warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    """A plain dbt command on the working copy of `warehouse`, the way a user runs it (profile dev target)."""
    env = {**build_env(warehouse), "CINEMART_DUCKDB_PATH": str(warehouse / "build" / "cinemart.duckdb")}
    return subprocess.run([DBT, *args, "--profiles-dir", str(PROJECT), "--project-dir", str(PROJECT)],
                          env=env, cwd=PROJECT, capture_output=True, text=True, timeout=900)


def served_runs(serving: Path) -> dict[str, set]:
    """Training-run ids the served tables carry, per table, and the runs the latest audit row names."""
    with duckdb.connect(str(serving), read_only=True) as con:
        def ids(sql: str) -> set:
            return {row[0] for row in con.execute(sql).fetchall()}
        return {
            "implicit_grid_chosen": ids("select run_id from implicit_grid_search where is_chosen"),
            "implicit_user_factors": ids("select distinct run_id from implicit_user_factors"),
            "implicit_movie_factors": ids("select distinct run_id from implicit_movie_factors"),
            "tables": ids("select table_name from information_schema.tables where table_schema = 'main'"),
        }


def test_plain_dbt_commands_work_on_the_warehouse_just_built(warehouse):
    """After `cinemart build`, dbt's own commands see the built warehouse (the working copy), not an empty file."""
    serving = warehouse / "cinemart.duckdb"
    served = sha256(serving)
    for args in (["test", "--select", "dataset_overview"], ["ls"]):
        done = run_plain_dbt(warehouse, *args)
        assert done.returncode == 0, " ".join(args) + "\n" + done.stdout + done.stderr
    shown = run_plain_dbt(warehouse, "show", "--select", "genre_summary", "--limit", "100")
    assert shown.returncode == 0 and "Drama" in shown.stdout, shown.stdout + shown.stderr
    assert sha256(serving) == served  # plain dbt never writes the served file


def test_select_build_rebuilds_what_it_invalidates(warehouse):
    """A new implicit seed on --select implicit_grid_search must not serve factors of the old run beside it."""
    before = served_runs(warehouse / "cinemart.duckdb")
    result = run_build(warehouse, "--select", "implicit_grid_search", implicit_seed=7)
    assert result.returncode == 0, result.stdout + result.stderr
    after = served_runs(warehouse / "cinemart.duckdb")
    assert after["implicit_grid_chosen"] != before["implicit_grid_chosen"]  # the selection did train a new run
    assert len(after["implicit_grid_chosen"]) == 1
    assert after["implicit_user_factors"] == after["implicit_movie_factors"] == after["implicit_grid_chosen"]
    assert after["tables"] == before["tables"]


def test_publish_refuses_a_partial_working_copy_and_publishes_a_whole_one(warehouse):
    serving = warehouse / "cinemart.duckdb"
    env = build_env(warehouse)
    partial = run_plain_dbt(warehouse, "run", "--select", "movie_popularity")
    assert partial.returncode == 0, partial.stdout + partial.stderr
    served = sha256(serving)
    refused = subprocess.run([CINEMART, "publish"], env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert refused.stderr.startswith("cinemart: error: cannot publish: the last dbt command")
    assert "Traceback" not in refused.stderr
    again = run_build(warehouse, "--select", "movie_popularity")  # needs a whole working copy too
    assert again.returncode == 2 and "cannot build --select" in again.stderr
    assert sha256(serving) == served
    # a green full plain `dbt build` makes it whole again, and publishable
    whole = run_plain_dbt(warehouse, "build", "--vars", json.dumps(QUICK_VARS))
    assert whole.returncode == 0, whole.stdout[-3000:]
    done = subprocess.run([CINEMART, "publish"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sha256(serving) != served


def audit_invocations(database: Path) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return sorted(i for (i,) in con.execute("select invocation_id from als_model_runs").fetchall())


def last_invocation(warehouse: Path) -> str:
    """The id of the last dbt command that wrote the working copy, from its own log (not from the audit)."""
    with duckdb.connect(str(warehouse / "build" / "cinemart.duckdb"), read_only=True) as con:
        return con.execute(f"select invocation_id from {publish.INVOCATION_LOG} "
                           "order by started_at desc limit 1").fetchall()[0][0]


def test_the_audit_keeps_every_build_once_through_a_rollback_and_an_unpublished_dbt_build(warehouse):
    """build, build, rollback, build, plain `dbt build`, build: each invocation is in the audit exactly once.

    The module's build is the first; this test adds four (three `cinemart build`, one plain `dbt build`).
    """
    serving, working = warehouse / "cinemart.duckdb", warehouse / "build" / "cinemart.duckdb"
    invocations = audit_invocations(serving)
    assert len(invocations) == 1

    def build() -> None:
        result = run_build(warehouse)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        invocations.append(last_invocation(warehouse))
        assert audit_invocations(serving) == sorted(invocations)

    build()
    rolled_back = subprocess.run([CINEMART, "rollback"], env=build_env(warehouse), capture_output=True, text=True,
                                 timeout=300)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert audit_invocations(serving) == invocations[:1]
    build()  # the rolled-back build's row is in previous/ and the working copy only
    plain = run_plain_dbt(warehouse, "build", "--vars", json.dumps(QUICK_VARS))
    assert plain.returncode == 0, plain.stdout[-3000:]
    invocations.append(last_invocation(warehouse))
    assert audit_invocations(working) == sorted(invocations)
    build()  # the plain build's row is in the working copy only
    assert len(invocations) == 5 and audit_invocations(working) == sorted(invocations)
    assert not (warehouse / "build" / "replaced").exists()  # the old working copies went once carried
