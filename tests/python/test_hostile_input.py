"""Every input file is untrusted: what the user sees for each kind of damage.

File-level damage must stop `cinemart build` before dbt with one error line
naming the file and line; row-level damage must become quarantine rows with a
reason, and for every file rows in = rows kept + rows quarantined. The corpus
and each row's verdict are in hostile_corpus.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from cinemart import cli
from cinemart.data.layout import detect_layout
from cinemart.data.preflight import check_dataset
from cinemart.warehouse.dbt import find_project_dir, run_dbt
from hostile_corpus import (
    BEYOND_32_BITS,
    MULTILINE_TITLE,
    QUOTED_TITLE,
    csv_links,
    csv_movies,
    csv_ratings,
    csv_tags,
    write_hostile_csv,
)
from sql_builds import SQL_LAYERS


def rows_in_kept_quarantined(database: Path, file: str) -> tuple[int, int, Counter[str]]:
    """Rows DuckDB read from the file (the base model is the source, typed), kept, quarantine reasons."""
    table = file.split(".")[0]
    with duckdb.connect(str(database), read_only=True) as con:
        rows_in = con.execute(f"select count(*) from base_movielens__{table}").fetchone()[0]
        kept = con.execute(f"select count(*) from stg_movielens__{table}").fetchone()[0]
        reasons = con.execute(f"select reason, count(*) from quarantine_{table} group by reason").fetchall()
    return rows_in, kept, Counter(dict(reasons))


# ---------------------------------------------------------------- file level

def replace_line(number: int, new: bytes):
    def damage(content: bytes) -> bytes:
        lines = content.split(b"\n")
        lines[number - 1] = new
        return b"\n".join(lines)
    return damage


RATINGS_HEADER = b"userId,movieId,rating,timestamp\r\n"
# case: (file, its new content from the clean one, or None to delete it), fragments of the error line
FILE_LEVEL_CASES = {
    "missing movies file": ("movies.csv", None, ["csv layout needs ratings.csv + movies.csv (missing movies.csv)"]),
    "wrong ratings header": (
        "ratings.csv", replace_line(1, b"user,movie,rating\r"),
        ['ratings.csv line 1: header is "user,movie,rating" but expected "userId,movieId,rating,timestamp"']),
    "missing movies header": (
        "movies.csv", lambda content: content.split(b"\n", 1)[1],
        ['movies.csv line 1: header is missing (found data "1,Toy Story (1995),Adventure|Animation")']),
    "empty ratings file": (
        "ratings.csv", lambda _: b"",
        ['ratings.csv: file is empty; expected a header line "userId,movieId,rating,timestamp"']),
    "ratings header only": ("ratings.csv", lambda _: RATINGS_HEADER, ["ratings.csv: no data rows after the header"]),
    "latin-1 bytes in movies.csv": (
        "movies.csv", replace_line(6, "5,Café Society (2016),Comedy".encode("latin-1")),
        ["movies.csv line 6, byte offset ", ": 0xE9 is not UTF-8", "looks like latin-1: convert it with iconv"]),
    "ratings file is binary": (
        "ratings.csv", lambda _: RATINGS_HEADER + b"\0\x01\x02",
        ["ratings.csv line 2, byte offset 33: NUL byte; this is not a text file"]),
    "unbalanced quote in tags.csv": (
        "tags.csv", replace_line(3, b'1,1,"pixar,1000000001'),
        ["tags.csv line 3: a quoted field opens here and its closing quote on line 4 is followed by more text"]),
}


@pytest.mark.parametrize("case", FILE_LEVEL_CASES)
def test_file_level_damage_is_one_error_line_before_dbt(case, tmp_path, monkeypatch, capsys):
    name, damage, fragments = FILE_LEVEL_CASES[case]
    folder = tmp_path / "data"
    write_hostile_csv(folder)
    if damage is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(damage((folder / name).read_bytes()))
    monkeypatch.setenv("CINEMART_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.setenv("CINEMART_DUCKDB_PATH", str(tmp_path / "warehouse" / "x.duckdb"))
    monkeypatch.setattr(cli, "run_dbt", lambda *a, **k: pytest.fail("dbt started on a damaged folder"))

    code = cli.main(["build", "--from", str(folder), "--select", *SQL_LAYERS])

    err = capsys.readouterr().err
    assert code == cli.EXIT_USER_ERROR
    assert err.startswith("cinemart: error: ") and err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


# ----------------------------------------------------------------- row level

@pytest.fixture(scope="module")
def csv_build(sql_build):
    """The CSV corpus in a folder whose name has a quote, a space and braces, built by conftest's `sql_build`."""
    return sql_build("hostile_csv")


def test_row_level_damage_passes_the_preflight(csv_build):
    files, folder = csv_build.written, csv_build.folder

    report = check_dataset(detect_layout(folder))

    lines = {f.path.name: f.n_data_lines for f in report.files}
    assert lines["ratings.csv"] == len(files["ratings.csv"].rows)  # one line per rating row, truncated one included
    assert lines["movies.csv"] == len(files["movies.csv"].rows) + MULTILINE_TITLE.count("\n")


@pytest.mark.parametrize("corpus", [csv_ratings(), csv_movies(), csv_tags(), csv_links()], ids=lambda c: c.name)
def test_every_row_is_kept_or_quarantined_with_its_reason(corpus, csv_build):
    database = csv_build.database

    rows_in, kept, reasons = rows_in_kept_quarantined(database, corpus.name)

    assert rows_in == len(corpus.rows) == kept + reasons.total()
    assert reasons == corpus.quarantined
    assert kept == corpus.n_kept


def test_awkward_values_survive_intact(csv_build):
    database = csv_build.database
    with duckdb.connect(str(database), read_only=True) as con:
        titles = dict(con.execute("select movie_id, full_title from stg_movielens__movies").fetchall())
        tags = {r[0] for r in con.execute("select tag from stg_movielens__tags").fetchall()}
        big = con.execute("select user_id, rating from stg_movielens__ratings where movie_id = ?",
                          [BEYOND_32_BITS]).fetchall()
        truncated = con.execute(
            "select raw_line, reason from quarantine_ratings where raw_line like '4,1,3.%'").fetchall()
    assert titles[3] == QUOTED_TITLE
    assert titles[4] == MULTILINE_TITLE
    assert titles[5] == "Café Society (2016)"
    assert titles[8] == "Duplicate A (1990)"  # of two rows for id 8, the title sorting first
    assert {'funny, "cheesy" 🧀', "two\nlines"} <= tags
    assert big == [(BEYOND_32_BITS, 4.0)]
    assert truncated == [("4,1,3.", "wrong_field_count")]


def test_duplicate_ratings_keep_the_latest_then_the_highest_valid_one(csv_build):
    database = csv_build.database
    with duckdb.connect(str(database), read_only=True) as con:
        kept = dict(con.execute("select movie_id, rating from stg_movielens__ratings where user_id = 2").fetchall())
    assert kept == {1: 3.0, 2: 4.5, 3: 2.5, 4: 3.0}


def test_dat_layout_short_and_long_lines_are_quarantined(sql_build):
    built = sql_build("hostile_dat")
    files, database = built.written, built.database

    for corpus in files.values():
        rows_in, kept, reasons = rows_in_kept_quarantined(database, corpus.name)
        assert rows_in == len(corpus.rows) == kept + reasons.total(), corpus.name
        assert (kept, reasons) == (corpus.n_kept, corpus.quarantined), corpus.name


# ------------------------------------------------------------ vars reaching SQL

@pytest.mark.slow  # dbt parses the project three times
@pytest.mark.parametrize(("dbt_vars", "message"), [
    ({"test_percent": 0}, "var test_percent must be an integer from 1 to 99, got 0"),
    ({"cv_folds": "5.5"}, 'var cv_folds must be an integer from 2 to 20, got "5.5"'),
    ({"split_seed": -1}, "var split_seed must be an integer >= 0, got -1"),
], ids=["test_percent", "cv_folds", "split_seed"])
def test_bad_split_vars_fail_compilation_with_a_clear_message(dbt_vars, message, tmp_path, capfd):
    write_hostile_csv(tmp_path / "data")
    result = run_dbt("parse", detect_layout(tmp_path / "data"), project_dir=find_project_dir(),
                     database=tmp_path / "x.duckdb", extra_vars=dbt_vars, target_dir=tmp_path)

    assert result.returncode != 0
    assert message in capfd.readouterr().out
