"""The build's memory budget (cinemart.memory): sizes, the plan, and the early refusal on both entry points."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb
import pytest

from cinemart import cli
from cinemart.cli import main
from cinemart.memory import (
    DUCKDB_MIN_BYTES,
    GIB,
    PLUGIN_BYTES_PER_RATING,
    PROCESS_BASE_BYTES,
    MemoryBudgetError,
    memory_budget,
    parse_size,
    plan_memory,
)
from cinemart.warehouse.tables import _SplitOnce


@pytest.mark.parametrize(("text", "expected"), [
    ("6GB", 6_000_000_000), ("6 GiB", 6 * GIB), ("512MiB", 512 << 20), ("1.5GiB", int(1.5 * GIB)),
    ("2000000", 2_000_000), ("5.5 GiB", int(5.5 * GIB)), ("3tb", 3 * 10**12),
])
def test_sizes_read_as_duckdb_reads_them(text, expected):
    """KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024, as in DuckDB's memory_limit."""
    assert parse_size(text, "X") == expected


@pytest.mark.parametrize("text", ["lots", "-1GB", "6 gigabytes", ""])
def test_a_bad_size_names_the_setting(text):
    with pytest.raises(MemoryBudgetError, match=f"CINEMART_MEMORY_LIMIT must be a size such as 16GB.*{text!r}"):
        parse_size(text, "CINEMART_MEMORY_LIMIT")


def test_the_default_budget_is_a_share_of_ram_and_the_setting_overrides_it(monkeypatch):
    monkeypatch.delenv("CINEMART_MEMORY_LIMIT", raising=False)
    assert 0 < memory_budget() < parse_size("2TiB", "x")
    monkeypatch.setenv("CINEMART_MEMORY_LIMIT", "3GiB")
    assert memory_budget() == 3 * GIB


def test_duckdb_gets_what_the_plugin_leaves_at_most_a_third():
    small = plan_memory(1_000_000, budget=12 * GIB)
    assert small.plugin == PROCESS_BASE_BYTES + PLUGIN_BYTES_PER_RATING * 1_000_000
    assert small.duckdb == 4 * GIB and small.duckdb_setting == "4096MiB"
    large = plan_memory((9 * GIB - PROCESS_BASE_BYTES) // PLUGIN_BYTES_PER_RATING, budget=12 * GIB)
    assert large.duckdb == 12 * GIB - large.plugin < 4 * GIB
    assert large.plugin + large.duckdb <= large.budget
    # while the ratings load no array exists yet: the share DuckDB would get without them
    assert small.duckdb_loading == small.duckdb and large.duckdb_loading == 4 * GIB
    assert large.duckdb_loading_setting == "4096MiB"


def test_data_the_budget_cannot_hold_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("CINEMART_MEMORY_LIMIT", "4GiB")
    n = (4 * GIB - PROCESS_BASE_BYTES - DUCKDB_MIN_BYTES) // PLUGIN_BYTES_PER_RATING + 1_000
    with pytest.raises(MemoryBudgetError) as refused:
        plan_memory(n)
    message = str(refused.value)
    assert "\n" not in message and f"{n:,} ratings need about" in message
    assert "the memory budget is 4.0 GiB: raise CINEMART_MEMORY_LIMIT" in message
    plan_memory(n - 2_000)  # just under: planned


def test_a_fixed_duckdb_share_is_planned_around_and_named_when_too_big():
    fixed = plan_memory(1_000, budget=8 * GIB, duckdb_limit=6 * GIB)
    assert fixed.duckdb == fixed.duckdb_loading == 6 * GIB  # a limit the user fixed holds throughout
    with pytest.raises(MemoryBudgetError, match=r"lower DuckDB's memory_limit \(CINEMART_DUCKDB_MEMORY_LIMIT\)"):
        plan_memory(1_000, budget=8 * GIB, duckdb_limit=7.5 * GIB)


def test_cinemart_build_refuses_before_dbt_starts(make_movielens_folder, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CINEMART_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("CINEMART_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setattr(cli, "run_dbt", lambda *a, **k: pytest.fail("dbt must not start"))

    assert main(["build", "--from", str(make_movielens_folder("csv"))]) == 2

    err = capsys.readouterr().err.strip()
    assert err.startswith("cinemart: error: 1 ratings need about 1.5 GiB") and "\n" not in err
    assert not (tmp_path / "warehouse").exists()


def test_cinemart_build_hands_duckdb_its_planned_share(make_movielens_folder, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CINEMART_MEMORY_LIMIT", "6GiB")
    monkeypatch.delenv("CINEMART_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.setenv("CINEMART_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    seen = []
    monkeypatch.setattr(cli, "run_dbt", lambda *a, **k: seen.append(k["extra_env"]) or SimpleNamespace(returncode=1))

    assert main(["build", "--from", str(make_movielens_folder("csv"))]) == 2  # the stand-in dbt failed

    assert seen[0]["CINEMART_DUCKDB_MEMORY_LIMIT"] == "2048MiB"  # a third of 6 GiB: one rating leaves plenty
    assert seen[0]["CINEMART_DUCKDB_LOAD_MEMORY_LIMIT"] == "2048MiB"
    assert "memory budget 6.0 GiB (CINEMART_MEMORY_LIMIT)" in capsys.readouterr().out


def test_a_plain_dbt_build_meets_the_budget_before_the_first_fit_reads_the_ratings(monkeypatch, capsys):
    """The Python models' shared split reader refuses what the budget cannot hold, and warns when
    DuckDB's configured limit leaves the arrays short (a DuckDB connection's default is 80% of RAM)."""
    con = duckdb.connect()
    con.execute("set memory_limit = '2GiB'")
    split = con.sql("select 1 as user_id, 2 as movie_id, 4.0 as rating, false as is_test, 0 as cv_fold, "
                    "false as is_after_cut, timestamp '2000-01-01' as rated_at, cast(null as double) as play_count")
    monkeypatch.setenv("CINEMART_MEMORY_LIMIT", "1GiB")
    with pytest.raises(MemoryBudgetError, match=r"^1 ratings need about 1.5 GiB .* budget is 1.0 GiB"):
        _SplitOnce()(split)
    monkeypatch.setenv("CINEMART_MEMORY_LIMIT", "3GiB")
    assert _SplitOnce()(split).rating.tolist() == [4.0]
    assert "cinemart: warning: DuckDB's memory_limit (2.0 GiB) and the model plugin's ~1.0 GiB for 1 ratings " \
           "exceed the memory budget 3.0 GiB (CINEMART_MEMORY_LIMIT): set CINEMART_DUCKDB_MEMORY_LIMIT to at most " \
           "2.0 GiB" in capsys.readouterr().out
    monkeypatch.setenv("CINEMART_MEMORY_LIMIT", "4GiB")
    _SplitOnce()(split)
    assert "warning" not in capsys.readouterr().out
