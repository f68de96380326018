"""Own-data files written from a generated MovieLens folder, renamed and re-keyed the way real exports are.

Shared by the DuckDB tests (test_own_data.py) and the Spark parity tests
(test_spark_own_data.py), which build the same files on both engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from cinemart.data.own import OwnData
from cinemart.warehouse.dbt import find_project_dir, run_dbt
from movielens_fixtures import write_csv_dataset
from sql_builds import SQL_LAYERS

RENAMED = "user=customer,movie=item,rating=stars,timestamp=watched_at,title=name"  # one movie column name in both
#: The SQL layers an own-data build is checked on: the base models too, where the id mapping happens.
OWN_LAYERS = [*SQL_LAYERS, "path:models/staging/base"]

# rows appended to the clean ratings, each failing one check: (customer, item, stars, watched_at) -> reason
HOSTILE = {
    ("", "tt0000001", 4.0, 1_000_000_000): "missing_field",
    ("c-extra", "tt0000002", 7.0, 1_000_000_000): "rating_out_of_range",
    ("c-extra", "tt0000003", 3.3, 1_000_000_000): "rating_off_half_star_grid",
    ("c-extra", "tt9999999", 4.0, 1_000_000_000): "movie_not_in_movies",
}
#: Rows appended to the CSV without a catalogue, and the quarantine they make (the last one is clean:
#: an ISO timestamp).
CSV_EXTRA = ["7,x-1,four,1000000000", "7,,4.0,1000000000", "8,x-2,4.0,yesterday", "99,x-3,4.5,2001-09-09 01:46:40"]
CSV_REASONS = {"unparseable_rating": 1, "missing_field": 1, "unparseable_timestamp": 1}


def exported(tmp: Path) -> Path:
    """A generated MovieLens release (clean) under tmp/ml."""
    write_csv_dataset(tmp / "ml", hostile=False)
    return tmp / "ml"


def user_key(column: str) -> str:
    return f"md5('user-' || {column}::varchar)"


def movie_key(column: str) -> str:
    return f"'tt' || lpad({column}::varchar, 7, '0')"


@dataclass(frozen=True)
class OwnFiles:
    own: OwnData
    ml: Path  # the release the files were made from
    n_source: int  # its clean ratings


def write_parquet_export(tmp: Path) -> OwnFiles:
    """A Parquet ratings file with renamed columns, UUID-like user ids, TIMESTAMP times and the HOSTILE rows,
    and a Parquet catalogue keyed by `tt` ids."""
    ml = exported(tmp)
    con = duckdb.connect()
    hostile = " union all ".join(
        f"select {repr(u) if u else 'null'}, '{m}', {r}, to_timestamp({t})" for (u, m, r, t) in HOSTILE)
    con.execute(f"""copy (
        select {user_key('userId')} as customer, {movie_key('movieId')} as item, rating::double as stars,
               to_timestamp(timestamp::bigint) as watched_at
        from read_csv('{ml}/ratings.csv', all_varchar=true)
        union all {hostile}) to '{tmp}/ratings.parquet'""")
    con.execute(f"""copy (select {movie_key('movieId')} as item, title as name, genres
                          from read_csv('{ml}/movies.csv', all_varchar=true)) to '{tmp}/movies.parquet'""")
    n_source = con.execute(f"select count(*) from read_csv('{ml}/ratings.csv')").fetchone()[0]
    return OwnFiles(OwnData.from_arguments(str(tmp / "ratings.parquet"), str(tmp / "movies.parquet"), RENAMED),
                    ml, n_source)


def write_csv_without_catalogue(tmp: Path) -> OwnFiles:
    """A CSV of ratings with its own column names, movie ids 'x-<id>', integer user ids, no catalogue, and
    the CSV_EXTRA rows."""
    ml = exported(tmp)
    ratings = tmp / "ratings.csv"
    lines = (ml / "ratings.csv").read_text().splitlines()
    renamed = [line.replace(",", ",x-", 1) for line in lines[1:]]
    ratings.write_text("\n".join(["person,film,score,ts", *renamed, *CSV_EXTRA]) + "\n")
    return OwnFiles(OwnData.from_arguments(str(ratings), None, "user=person,movie=film,rating=score,timestamp=ts"),
                    ml, len(lines) - 1)


def duckdb_build(own: OwnData, work: Path, whole: bool = False,
                 extra_vars: dict | None = None) -> duckdb.DuckDBPyConnection:
    """dbt build of OWN_LAYERS (`whole`: of every model) with their data tests, opened read-only."""
    database = work / "warehouse.duckdb"
    result = run_dbt("build", own, project_dir=find_project_dir(), database=database,
                     select=[] if whole else OWN_LAYERS, target_dir=work, extra_vars=extra_vars or {})
    assert result.returncode == 0, f"dbt build of own data failed, see {work / 'logs'}"
    return duckdb.connect(str(database), read_only=True)


#: Rows appended to the plays CSV, each failing one check (the play count is the third field).
PLAYS_EXTRA = ["u-7,1,many,1000000000", "u-7,2,0,1000000000", "u-7,3,-2,1000000000", "u-8,1,NaN,1000000000"]
PLAYS_REASONS = {"unparseable_play_count": 1, "play_count_out_of_range": 3}
#: Interactions logged twice: the first N rated pairs get an extra, earlier row of one play.
PLAYS_REPEATED = 50


def write_plays_csv(tmp: Path) -> OwnFiles:
    """A CSV of plays without ratings (`account,film,plays,played_at`; accounts 'u-<id>'): one row per rating
    of a generated release with plays = twice its stars, the first PLAYS_REPEATED pairs logged once more a
    day earlier with one play, and the PLAYS_EXTRA rows; the release's movies.csv as the catalogue."""
    ml = exported(tmp)
    lines = (ml / "ratings.csv").read_text().splitlines()[1:]
    rows = []
    for i, line in enumerate(lines):
        user, movie, rating, ts = line.split(",")
        rows.append(f"u-{user},{movie},{round(float(rating) * 2)},{ts}")
        if i < PLAYS_REPEATED:
            rows.append(f"u-{user},{movie},1,{int(ts) - 86_400}")
    plays = tmp / "plays.csv"
    plays.write_text("\n".join(["account,film,plays,played_at", *rows, *PLAYS_EXTRA]) + "\n")
    return OwnFiles(OwnData.from_arguments(str(plays), str(ml / "movies.csv"),
                                           "user=account,movie=film,timestamp=played_at,catalogue_movie=movieId"),
                    ml, len(lines))
