"""An analyst's own ratings (and catalogue) instead of a MovieLens release.

`cinemart build --ratings FILE [--movies FILE] [--columns role=name,...]`
hands dbt the vars ratings_file, movies_file and own_columns; the sources then
read the files in place (macros/own_data.sql). This module checks, before dbt
starts, that the files open and have the columns the mapping names, so a
missing or misnamed column is one line naming the file and its columns
instead of a binder error from inside the first staging model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

#: Column roles: the ratings file's, then the catalogue's, each with the column name used when
#: --columns leaves it out (MovieLens's CSV names; the catalogue's movie column: the ratings file's).
RATINGS_ROLES = {"user": "userId", "movie": "movieId", "rating": "rating", "timestamp": "timestamp",
                 "plays": "plays"}
MOVIES_ROLES = {"catalogue_movie": "movieId", "title": "title", "genres": "genres", "imdb": "imdbId",
                "tmdb": "tmdbId"}
#: Every row needs a user, a movie and a time (the temporal protocol, the EDA marts). Without a rating column
#: (and none named) the rows are implicit feedback: interactions such as plays or purchases, with an optional
#: play count (role plays), which the ranking models train on and the explicit model is not built from.
REQUIRED_RATINGS_ROLES = ("user", "movie", "timestamp")
REQUIRED_MOVIES_ROLES = ("catalogue_movie",)
#: PATH.duckdb:TABLE (or .db): a table of a DuckDB database (same rule as macros/own_data.sql).
DUCKDB_TABLE = re.compile(r"(.+\.(?:duckdb|db)):([A-Za-z_][A-Za-z0-9_.]*)")


class OwnDataError(ValueError):
    """The own-data files or the column mapping cannot be used; the message says which and why."""


def parse_columns(text: str | None) -> dict[str, str]:
    """`user=uid,movie=item` -> {"user": "uid", "movie": "item"}; an unknown role or a bad pair is refused."""
    if not text:
        return {}
    roles = {**RATINGS_ROLES, **MOVIES_ROLES}
    columns: dict[str, str] = {}
    for pair in text.split(","):
        role, sep, name = (part.strip() for part in pair.partition("="))
        if not sep or not role or not name:
            raise OwnDataError(f"--columns takes role=column pairs separated by commas, got {pair.strip()!r}")
        if role not in roles:
            raise OwnDataError(f"--columns: unknown role {role!r}; roles: {', '.join(roles)}")
        columns[role] = name
    return columns


@dataclass(frozen=True)
class OwnData:
    """What dbt must know to read own data; stands where a MovieLens Layout does."""

    ratings: str
    movies: str | None = None
    columns: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_arguments(cls, ratings: str, movies: str | None, columns: str | None) -> OwnData:
        return cls(_absolute(ratings), _absolute(movies) if movies else None, parse_columns(columns))

    def dbt_vars(self) -> dict[str, object]:
        """The `--vars` the own-data sources read; MovieLens-only files are off."""
        return {"ratings_file": self.ratings, "movies_file": self.movies, "own_columns": self.columns,
                "has_tags": False, "has_links": False}

    def check(self) -> int:
        """Open each file, check its columns against the mapping; the ratings file's row count."""
        with duckdb.connect() as con:
            self._check_columns(con, self.ratings, RATINGS_ROLES, REQUIRED_RATINGS_ROLES, "--ratings")
            if self.movies:
                self._check_columns(con, self.movies, MOVIES_ROLES, REQUIRED_MOVIES_ROLES, "--movies")
            (n_rows,) = con.execute(f"select count(*) from {_reader(con, self.ratings)}").fetchone()
        return int(n_rows)

    def implicit_feedback(self) -> str | None:
        """None for ratings; for interactions without ratings (no rating column, and none named: the rule of
        macros/own_data.sql's implicit_feedback) the line that says so, naming the file's columns. A plays
        column named for rated data is refused: it would be ignored."""
        with duckdb.connect() as con:
            found = [row[0] for row in con.execute(f"describe select * from {_reader(con, self.ratings)}").fetchall()]
        rated = "rating" in self.columns or RATINGS_ROLES["rating"].lower() in {name.lower() for name in found}
        if rated and "plays" in self.columns:
            raise OwnDataError(f"--columns plays={self.columns['plays']}: a play count weighs interactions without "
                               f"ratings, and --ratings {self.ratings} has ratings; leave plays out")
        if rated:
            return None
        plays = self.columns.get("plays", RATINGS_ROLES["plays"])
        weight = (f"weighted by its plays ({plays})" if plays.lower() in {name.lower() for name in found}
                  else "counted once (no plays column)")
        return (f"--ratings {self.ratings} has no rating column (its columns: {', '.join(found)}): building implicit "
                f"feedback, each row an interaction {weight}; the explicit-ALS tables stay empty. If a column "
                "holds ratings, name it with --columns rating=COLUMN")

    def _check_columns(self, con: duckdb.DuckDBPyConnection, path: str, roles: dict[str, str],
                       required: tuple[str, ...], option: str) -> None:
        try:
            found = [row[0] for row in con.execute(f"describe select * from {_reader(con, path)}").fetchall()]
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise OwnDataError(f"{option} {path} cannot be read: {first}") from None
        lower = {name.lower() for name in found}
        for role, default in roles.items():
            name = self.columns.get(role) or (self.columns.get("movie", default) if role == "catalogue_movie"
                                              else default)
            if name.lower() not in lower and (role in required or role in self.columns):
                given = (f"--columns {role}={name}" if role in self.columns
                         else f"--columns movie={name}, which it defaults to" if role == "catalogue_movie"
                         and "movie" in self.columns else f"the default name for {role}")
                raise OwnDataError(f"{option} {path} has no column {name!r} ({given}); its columns: "
                                   f"{', '.join(found)}. Name the {role} column with --columns {role}=COLUMN")


def require_engine_can_read(engine: str, *paths: str | None) -> None:
    """Spark reads CSV, TSV and Parquet files; a table of a DuckDB database is DuckDB's alone."""
    for path in paths:
        if engine == "spark" and path and DUCKDB_TABLE.fullmatch(path):
            raise OwnDataError(f"{path} is a table of a DuckDB database, which --engine spark cannot read: export "
                               "it to Parquet (COPY ... TO 'ratings.parquet') or build on --engine duckdb")


def _absolute(path: str) -> str:
    """The path made absolute (dbt runs from the project folder), a :TABLE suffix kept."""
    table = DUCKDB_TABLE.fullmatch(path)
    if table:
        return f"{Path(table.group(1)).resolve()}:{table.group(2)}"
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise OwnDataError(f"{path} is not a file")
    return str(resolved)


def _reader(con: duckdb.DuckDBPyConnection, path: str) -> str:
    """SQL naming the relation `path` holds, as macros/own_data.sql's own_file_reader reads it."""
    table = DUCKDB_TABLE.fullmatch(path)
    if table:
        if not Path(table.group(1)).is_file():
            raise OwnDataError(f"{table.group(1)} is not a file")
        con.execute(f"attach if not exists '{_quote(table.group(1))}' as own_source (read_only)")
        return f"own_source.{table.group(2)}"
    lower = path.lower()
    if lower.endswith(".parquet"):
        return f"read_parquet('{_quote(path)}')"
    delim = ", delim='\\t'" if lower.endswith((".tsv", ".tab")) else ""
    return f"read_csv('{_quote(path)}', header=true, all_varchar=true{delim})"


def _quote(text: str) -> str:
    return text.replace("'", "''")
