"""Hostile MovieLens folders, written by the tests, with the verdict for every row.

Each file is a list of rows: the exact text written (a quoted title may span
two lines) and the reason it must be quarantined with, or None when it must be
kept. The tests compare the warehouse against these verdicts, so the corpus is
also the specification of what each kind of damage becomes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TS = 1_000_000_000  # a valid timestamp (2001-09-09)
FUTURE = 4_102_444_800  # 2100-01-01
BEYOND_BIGINT = "99999999999999999999"  # > 2^63 - 1
BEYOND_32_BITS = 99_999_999_999  # a valid BIGINT


@dataclass(frozen=True)
class CorpusFile:
    name: str
    header: str | None
    rows: list[tuple[str, str | None]]
    newline: str = "\n"
    final_newline: bool = True

    def write(self, folder: Path, encoding: str = "utf-8") -> None:
        lines = ([self.header] if self.header else []) + [text for text, _ in self.rows]
        text = self.newline.join(lines) + (self.newline if self.final_newline else "")
        (folder / self.name).write_bytes(text.encode(encoding))

    @property
    def n_kept(self) -> int:
        return sum(reason is None for _, reason in self.rows)

    @property
    def quarantined(self) -> Counter[str]:
        return Counter(reason for _, reason in self.rows if reason is not None)


QUOTED_TITLE = 'Say "Cheese" 🧀, Please (2001)'
MULTILINE_TITLE = "Line\nBreak (1999)"


def csv_movies() -> CorpusFile:
    return CorpusFile("movies.csv", "movieId,title,genres", [
        ("1,Toy Story (1995),Adventure|Animation", None),
        ('2,"Great Escape, The (1963)",Action', None),
        ('3,"Say ""Cheese"" 🧀, Please (2001)",Comedy', None),
        (f'4,"{MULTILINE_TITLE}",Drama', None),
        ("5,Café Society (2016),Comedy", None),
        ("6,Plain (2000),(no genres listed)", None),
        ("7,Seven (1995),Thriller", None),
        ("8,Duplicate A (1990),Drama", None),  # same id, title sorts first: kept
        ("8,Duplicate B (1990),Drama", "duplicate_movie_id"),
        ("9,Exact Twin (1991),Drama", None),
        ("9,Exact Twin (1991),Drama", "duplicate_movie_id"),
        (f"{BEYOND_32_BITS},Big Id (2010),Drama", None),
        ("x10,Bad Id (2000),Drama", "unparseable_movie_id"),
        ("15.0,Float Id (2000),Drama", "unparseable_movie_id"),
        ("-11,Negative (2000),Drama", "movie_id_not_positive"),
        ("0,Zero (2000),Drama", "movie_id_not_positive"),
        (f"{BEYOND_BIGINT},Huge Id (2000),Drama", "id_out_of_range"),
        ("12,,Drama", "missing_field"),
        (",No Id (2000),Drama", "missing_field"),
        ("13,Too Few Fields (2000)", "wrong_field_count"),
        ("14,Great Escape, The (1963),Action", "wrong_field_count"),  # unquoted comma
    ])


def csv_ratings() -> CorpusFile:
    clean = [(f"{u},{m},{(u + m) % 10 / 2 + 0.5:.1f},{TS + 10 * u + m}", None)
             for u in (1, 3, 4, 5) for m in (1, 2, 3, 4, 5, 6, 7)]
    return CorpusFile("ratings.csv", "userId,movieId,rating,timestamp", clean + [
        (f"{BEYOND_32_BITS},{BEYOND_32_BITS},4.0,{TS}", None),
        (f"4294967296,8,3.5,{TS}", None),  # 2^32, on the id that had a duplicate
        (f"{BEYOND_BIGINT},1,4.0,{TS}", "id_out_of_range"),
        (f"1,{BEYOND_BIGINT},4.0,{TS}", "id_out_of_range"),
        (f"-{BEYOND_BIGINT},1,4.0,{TS}", "id_out_of_range"),
        (f"-3,1,4.0,{TS}", "user_id_not_positive"),
        (f"3,0,4.0,{TS}", "movie_id_not_positive"),
        (f"abc,1,4.0,{TS}", "unparseable_user_id"),
        (f"1.5,1,4.0,{TS}", "unparseable_user_id"),  # not rounded to user 2
        (f"3,1e0,4.0,{TS}", "unparseable_movie_id"),
        (f"3,1,four,{TS}", "unparseable_rating"),
        (f"3,1,6.0,{TS}", "rating_out_of_range"),
        (f"3,1,0,{TS}", "rating_out_of_range"),
        (f"3,2,nan,{TS}", "rating_out_of_range"),
        (f"3,1,3.25,{TS}", "rating_off_half_star_grid"),
        ("3,1,4.0,soon", "unparseable_timestamp"),
        ("3,1,4.0,-5", "timestamp_negative"),
        ("3,1,4.0,99999999999999", "timestamp_out_of_range"),
        (f"3,1,4.0,{BEYOND_BIGINT}", "timestamp_out_of_range"),
        (f"3,1,4.0,{FUTURE}", "timestamp_in_future"),
        (f"3,5000,4.0,{TS}", "movie_not_in_movies"),
        (f"3,10,4.0,{TS}", "movie_not_in_movies"),  # movie 'x10' was quarantined
        (f"3,13,4.0,{TS}", "movie_not_in_movies"),  # movie 13 was quarantined
        # exact duplicate: one copy kept
        (f"2,1,3.0,{TS + 100}", None),
        (f"2,1,3.0,{TS + 100}", "duplicate_superseded_by_later_rating"),
        # same pair, different rating: the later one wins, then the higher one
        (f"2,2,3.0,{TS + 100}", "duplicate_superseded_by_later_rating"),
        (f"2,2,4.5,{TS + 200}", None),
        (f"2,3,2.0,{TS + 300}", "duplicate_superseded_by_later_rating"),
        (f"2,3,2.5,{TS + 300}", None),
        # a later but invalid rating does not displace the valid one
        (f"2,4,3.0,{TS}", None),
        (f"2,4,9.0,{TS + 500}", "rating_out_of_range"),
        (f"3,1,4.0,{TS},extra", "wrong_field_count"),
        ("3,1,4.0", "wrong_field_count"),
        (f"3;1;4.0;{TS}", "wrong_field_count"),
        (f"3,,4.0,{TS}", "missing_field"),
        ("", "blank_line"),
        ("   ", "blank_line"),
        ("4,1,3.", "wrong_field_count"),  # truncated last line, no line ending
    ], newline="\r\n", final_newline=False)


def csv_tags() -> CorpusFile:
    return CorpusFile("tags.csv", "userId,movieId,tag,timestamp", [
        (f"1,1,pixar,{TS + 1}", None),
        (f"1,1,pixar,{TS + 1}", None),  # tagging twice is not an error
        (f'2,3,"funny, ""cheesy"" 🧀",{TS + 2}', None),
        (f'1,4,"two\nlines",{TS + 3}', None),
        (f"1,5000,ghost,{TS}", "movie_not_in_movies"),
        (f"x,1,bad user,{TS}", "unparseable_user_id"),
        (f"{BEYOND_BIGINT},1,huge user,{TS}", "id_out_of_range"),
        (f"1,1,,{TS}", "missing_field"),
        (f"1,1,late,{FUTURE}", "timestamp_in_future"),
        ("1,1,when,yesterday", "unparseable_timestamp"),
        ("1,1,too few", "wrong_field_count"),
        (f"1,1,too,many,{TS}", "wrong_field_count"),
    ])


def csv_links() -> CorpusFile:
    return CorpusFile("links.csv", "movieId,imdbId,tmdbId", [
        ("1,0114709,862", None),
        ("2,0057115,", None),  # TMDb has no id: kept, tmdb_id null
        ("3,0000003,3", None),
        ("4,0000004,4", None),
        ("5,0000005,5", None),
        ("6,0000006,abc", "unparseable_tmdb_id"),
        ("7,tt0000007,7", "unparseable_imdb_id"),
        ("8,0000008,8", None),  # same id, imdbId sorts first: kept
        ("8,0000009,9", "duplicate_movie_id"),
        (f"{BEYOND_32_BITS},0000099,{BEYOND_BIGINT}", "id_out_of_range"),
        ("5000,0000001,1", "movie_not_in_movies"),
        ("x1,0000001,1", "unparseable_movie_id"),
        ("9,0000010", "wrong_field_count"),
    ])


def write_hostile_csv(folder: Path) -> dict[str, CorpusFile]:
    """ml-latest-small layout with every row-level problem; no file-level one, so the preflight passes."""
    folder.mkdir(parents=True)
    files = {f.name: f for f in (csv_ratings(), csv_movies(), csv_tags(), csv_links())}
    for corpus in files.values():
        corpus.write(folder)
    return files


def write_hostile_dat(folder: Path) -> dict[str, CorpusFile]:
    """ml-1m / ml-10m layout: '::' separated, latin-1 movies.dat, short and long lines in every file."""
    folder.mkdir(parents=True)
    files = {
        "ratings.dat": CorpusFile("ratings.dat", None, [
            (f"1::1::5::{TS}", None),
            (f"1::2::4::{TS}", None),
            ("1::2::5", "wrong_field_count"),
            (f"1::2::5::{TS}::x", "wrong_field_count"),
            (f"a::1::3::{TS}", "unparseable_user_id"),
            (f"2::3::3::{TS}", "movie_not_in_movies"),
        ]),
        "movies.dat": CorpusFile("movies.dat", None, [
            ("1::Café Society (2016)::Comedy", None),
            ("2::Two (1990)::Drama|Comedy", None),
            ("3::Short (1990)", "wrong_field_count"),
            ("4::Long (1990)::Drama::extra", "wrong_field_count"),
        ]),
        "tags.dat": CorpusFile("tags.dat", None, [
            (f"1::1::nice::{TS}", None),
            ("1::1::short", "wrong_field_count"),
        ]),
    }
    for name, corpus in files.items():
        corpus.write(folder, "latin-1" if name == "movies.dat" else "utf-8")
    return files
