"""A person's IMDb or Letterboxd ratings export, matched to the warehouse's movies and folded in.

    served = ServedModel.load(db)
    matched = match_export("imdb", read_export("imdb", path), db, served.rated)
    served.recommend(matched.ratings, 10)

The matching rules (docs/use-your-own-data.md):

* **IMDb** (`ratings.csv` from "Your ratings" > Export: `Const`, `Your Rating`,
  `Title`, `Year`, ...). `Const` (`tt0114709`) is matched to `movies.imdb_id`
  (MovieLens's links.imdbId, zero-padded digits) as a number, so padding does
  not matter. `Your Rating` is 1-10 and is halved onto the 0.5-5 star scale.
* **Letterboxd** (`ratings.csv` of the data export: `Date`, `Name`, `Year`,
  `Letterboxd URI`, `Rating`). `Rating` is already in half stars. A row
  matches the movie whose title and release year are equal after both are
  normalised: accents dropped, case folded, a trailing ", The" / ", A" /
  ", An" (MovieLens's sorting form) moved to the front, an alternative title
  in parentheses dropped, everything but letters and digits removed. A row
  that fits more than one movie is not matched, and says so.

A matched movie the served model has no factors for (in `movies` but never
rated) cannot be folded in and is listed with the unmatched rows.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cinemart.serving.new_user import RecommendError, connect

Kind = Literal["imdb", "letterboxd"]
#: Each export's columns as its site writes them.
REQUIRED_COLUMNS: dict[Kind, tuple[str, ...]] = {"imdb": ("Const", "Your Rating"),
                                                  "letterboxd": ("Name", "Year", "Rating")}
_ARTICLE = re.compile(r"^(?P<title>.*), (?P<article>the|a|an)$")


@dataclass(frozen=True)
class ExportRow:
    """One rated movie of an export: how to find it, its rating in stars, and how to name it to the person."""

    key: str  # IMDb: the tt id; Letterboxd: the normalised title
    year: int | None
    stars: float
    label: str


@dataclass(frozen=True)
class Unmatched:
    label: str
    reason: str


@dataclass(frozen=True)
class Matched:
    ratings: dict[int, float]  # movie_id -> stars
    unmatched: tuple[Unmatched, ...]
    n_rows: int


def read_export(kind: Kind, path: Path) -> list[ExportRow]:
    """The export's rated rows; a RecommendError (one line) for a file that is not that export."""
    path = Path(path)
    if not path.is_file():
        raise RecommendError(f"--{kind}: {path} is not a file")
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in REQUIRED_COLUMNS[kind] if c not in (reader.fieldnames or ())]
        if missing:
            raise RecommendError(f"--{kind}: {path} is not a {kind} ratings export (no column "
                                 f"{', '.join(missing)}; its columns: {', '.join(reader.fieldnames or ())})")
        rows = [_row(kind, record, number) for number, record in enumerate(reader, start=2)]
    rated = [row for row in rows if row is not None]
    if not rated:
        raise RecommendError(f"--{kind}: {path} has no rated movies")
    return rated


def _row(kind: Kind, record: dict[str, str], line: int) -> ExportRow | None:
    """One export line as an ExportRow; None for an unrated one (Letterboxd lists them with an empty Rating)."""
    value = (record.get("Your Rating" if kind == "imdb" else "Rating") or "").strip()
    if not value:
        return None
    try:
        rating = float(value)
    except ValueError:
        raise RecommendError(f"--{kind}: line {line}: rating {value!r} is not a number") from None
    low, high = (1, 10) if kind == "imdb" else (0.5, 5)
    if not low <= rating <= high:
        raise RecommendError(f"--{kind}: line {line}: rating {value} is outside {low}..{high}")
    year_text = (record.get("Year") or "").strip()
    year = int(year_text) if year_text.isdigit() else None
    if kind == "imdb":
        title = (record.get("Title") or "").strip()
        const = (record.get("Const") or "").strip()
        return ExportRow(const, year, rating / 2, f"{title or const} ({year_text or '?'}, {const})")
    name = (record.get("Name") or "").strip()
    return ExportRow(normalised_title(name), year, rating, f"{name} ({year_text or '?'})")


def normalised_title(title: str) -> str:
    """The form titles are compared in (module docstring): 'Great Escape, The' and 'The Great Escape' agree."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().casefold().strip()
    text = re.sub(r"\s*\((?:a\.k\.a\. )?[^()]*\)\s*$", "", text) or text  # an alternative title in parentheses
    moved = _ARTICLE.match(text)
    if moved:
        text = f"{moved['article']} {moved['title']}"
    return re.sub(r"[^0-9a-z]+", "", text)


def match_export(kind: Kind, rows: list[ExportRow], database: Path, rated: frozenset[int]) -> Matched:
    """Match `rows` to the warehouse's movies (`rated`: the movie ids the served model has factors for)."""
    con = connect(database)
    try:
        if kind == "imdb":
            found = con.execute("select movie_id, imdb_id from movies where imdb_id is not null").fetchall()
            index: dict[tuple[str, int | None], list[int]] = {}
            for movie_id, imdb_id in found:
                if imdb_id.strip().isdigit():
                    index.setdefault((str(int(imdb_id)), None), []).append(movie_id)
        else:
            found = con.execute("select movie_id, title, release_year from movies").fetchall()
            index = {}
            for movie_id, title, year in found:
                index.setdefault((normalised_title(title), year), []).append(movie_id)
    finally:
        con.close()
    if kind == "imdb" and not index:
        raise RecommendError(f"{database} has no IMDb ids in movies (its data had no links file): "
                             "--imdb cannot match anything; try --letterboxd or --ratings")
    ratings: dict[int, float] = {}
    unmatched: list[Unmatched] = []
    for row in rows:
        key = (str(int(row.key[2:])), None) if kind == "imdb" and re.fullmatch(r"tt\d+", row.key) else (row.key, row.year)
        candidates = index.get(key, [])
        if not candidates:
            unmatched.append(Unmatched(row.label, "not in the warehouse's movies"))
        elif len(candidates) > 1:
            unmatched.append(Unmatched(row.label, f"fits {len(candidates)} movies ({', '.join(map(str, candidates))})"))
        elif candidates[0] not in rated:
            unmatched.append(Unmatched(row.label, f"movie {candidates[0]} was never rated, so the model cannot use it"))
        elif candidates[0] in ratings:
            unmatched.append(Unmatched(row.label, f"movie {candidates[0]} is already rated by an earlier row"))
        else:
            ratings[candidates[0]] = row.stars
    return Matched(ratings, tuple(unmatched), len(rows))
