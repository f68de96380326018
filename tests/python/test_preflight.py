"""The preflight's verdict on each kind of file-level damage, without dbt.

test_hostile_input.py shows the same errors through `cinemart build`; here the
edges are pinned: chunk boundaries, layouts, what is *not* an error.
"""

from __future__ import annotations

import dataclasses

import pytest

from cinemart.data import preflight
from cinemart.data.layout import detect_layout
from cinemart.data.preflight import PreflightError, check_dataset

HEADER = b"userId,movieId,rating,timestamp\n"


def check(folder):
    return check_dataset(detect_layout(folder))


def error_of(folder) -> str:
    with pytest.raises(PreflightError) as caught:
        check(folder)
    return str(caught.value)


def test_clean_folder_reports_every_file_and_its_lines(make_movielens_folder):
    folder = make_movielens_folder("csv", extra={"ratings.csv": HEADER + b"1,1,4.0,1\n1,2,3.0,2\n1,3,2.0,3"})

    report = check(folder)

    assert [(f.path.name, f.n_data_lines) for f in report.files] == [
        ("ratings.csv", 3), ("movies.csv", 1), ("tags.csv", 1), ("links.csv", 1)]


@pytest.mark.parametrize("header", [
    b'"userId","movieId","rating","timestamp"\r\n',  # quoted names are the same header
    b"\xef\xbb\xbfuserId,movieId,rating,timestamp\n",  # DuckDB skips a BOM too
])
def test_equivalent_headers_are_accepted(header, make_movielens_folder):
    report = check(make_movielens_folder("csv", extra={"ratings.csv": header + b"1,1,4.0,1\n"}))

    assert report.files[0].n_data_lines == 1


def test_swapped_columns_are_a_wrong_header(make_movielens_folder):
    folder = make_movielens_folder("csv", extra={"ratings.csv": b"movieId,userId,rating,timestamp\n1,1,4.0,1\n"})

    assert error_of(folder).endswith(
        'ratings.csv line 1: header is "movieId,userId,rating,timestamp" but expected "userId,movieId,rating,timestamp"')


def test_latin1_movies_are_fine_in_dat_but_not_in_the_utf8_csv_release(make_movielens_folder):
    check(make_movielens_folder("dat"))  # conftest writes movies.dat in latin-1, as ml-1m ships it
    latin1 = "movieId,title,genres\n1,Café (1995),Comedy\n".encode("latin-1")

    message = error_of(make_movielens_folder("csv", "csv", extra={"movies.csv": latin1}))

    assert message.endswith("movies.csv line 2, byte offset 26: 0xE9 is not UTF-8, which this file must be; "
                            "it looks like latin-1: convert it with iconv -f latin1 -t utf-8, or read it as "
                            "latin-1 with the movies_encoding setting (--vars '{\"movies_encoding\": \"latin-1\"}' "
                            "or CINEMART_MOVIES_ENCODING=latin-1)")


def test_a_latin1_csv_movies_file_passes_once_movies_encoding_says_so(make_movielens_folder):
    latin1 = "movieId,title,genres\n1,Café (1995),Comedy\n".encode("latin-1")
    folder = make_movielens_folder("csv", extra={"movies.csv": latin1})

    report = check_dataset(detect_layout(folder, movies_encoding="latin-1"))

    assert [f.n_data_lines for f in report.files if f.path.name == "movies.csv"] == [1]
    assert detect_layout(folder, movies_encoding="latin-1").dbt_vars()["movies_encoding"] == "latin-1"


def test_only_the_movies_file_points_at_the_encoding_setting(make_movielens_folder):
    folder = make_movielens_folder("csv", extra={"tags.csv": b"userId,movieId,tag,timestamp\n1,1,caf\xe9,1\n"})

    message = error_of(folder)

    assert "tags.csv line 2" in message and "iconv -f latin1 -t utf-8" in message
    assert "movies_encoding" not in message


def test_windows_1252_punctuation_is_recognised(make_movielens_folder):
    folder = make_movielens_folder("dat", extra={"ratings.dat": b"1::1::5::978300760\n\x93::1::5::978300760\n"})

    assert "ratings.dat line 2, byte offset 19: 0x93 is not UTF-8" in error_of(folder)
    assert "Windows-1252: convert it with iconv -f cp1252 -t utf-8" in error_of(folder)


def test_windows_1252_movies_are_not_offered_the_latin1_setting(make_movielens_folder):
    folder = make_movielens_folder("csv", extra={"movies.csv": b"movieId,title,genres\n1,\x93Quoted\x94,Drama\n"})

    assert error_of(folder).endswith("Windows-1252: convert it with iconv -f cp1252 -t utf-8 "
                                     "(the movies_encoding setting has no Windows-1252 choice)")


@pytest.mark.parametrize("chunk", [6, 7, 8, 9, 1 << 20])
def test_positions_are_exact_across_chunk_boundaries(chunk, make_movielens_folder, monkeypatch):
    monkeypatch.setattr(preflight, "CHUNK_BYTES", chunk)
    # "é" (2 bytes) and "🎬" (4 bytes) fall across the small chunk edges and are valid
    good = "1::1::5::1\n1::2::5::2 é🎬\n".encode()
    check(make_movielens_folder("dat", "good", extra={"ratings.dat": good}))

    # with chunks of 6 or 9 bytes the lead byte 0xC3 ends a chunk and its bad continuation starts the next
    bad = good + b"1::3::5::3\n1::4::\xc3(\n"
    folder = make_movielens_folder("dat", "bad", extra={"ratings.dat": bad})

    assert f"ratings.dat line 4, byte offset {len(bad) - 3}: 0xC3 is not UTF-8" in error_of(folder)


def test_a_multibyte_character_cut_by_the_end_of_file_is_reported(make_movielens_folder):
    folder = make_movielens_folder("dat", extra={"ratings.dat": b"1::1::5::1\n1::2::5::2\xc3"})

    assert "ratings.dat line 2, byte offset 21: 0xC3 is not UTF-8" in error_of(folder)


@pytest.mark.parametrize(("content", "expected"), [
    (b"\x1f\x8b\x08\x00\x00", "ratings.dat: this is a gzip archive; unpack it first"),
    (b"PK\x03\x04rest", "ratings.dat: this is a zip archive; unpack it first"),
    ("1::1::5::1\n".encode("utf-16"), "ratings.dat: this is UTF-16 text; re-encode it as UTF-8"),
    ("1::1::5::1\n".encode("utf-16-le"), "ratings.dat line 1, byte offset 1: NUL byte; this is not a text file"),
    (b"1::1::5::1\n1::2\x00::5::1\n", "ratings.dat line 2, byte offset 15: NUL byte; this is not a text file"),
    (b"", "ratings.dat: file is empty; expected data lines"),
    (b"\n  \n", "ratings.dat: no data rows in the file"),
])
def test_files_that_are_not_movielens_text(content, expected, make_movielens_folder):
    folder = make_movielens_folder("dat", extra={"ratings.dat": content})

    assert expected in error_of(folder)


def test_a_line_longer_than_duckdb_reads_is_reported_with_its_number(make_movielens_folder, monkeypatch):
    monkeypatch.setattr(preflight, "MAX_LINE_BYTES", 40)
    monkeypatch.setattr(preflight, "CHUNK_BYTES", 16)
    short_lines = b"1::1::5::1\n" * 3
    check(make_movielens_folder("dat", "ok", extra={"ratings.dat": short_lines + b"x" * 40}))

    folder = make_movielens_folder("dat", "long", extra={"ratings.dat": short_lines + b"x" * 41 + b"\n"})

    assert "ratings.dat line 4: longer than 40 bytes" in error_of(folder)


@pytest.mark.parametrize("movies", [
    b'movieId,title,genres\n1,"Two\r\nlines, ""quoted"" (1999)",Drama\n2,12" Vinyl (2000),Drama\n',
    b'movieId,title,genres\n1,"Quote at the end"\n',
])
def test_well_formed_quoting_passes(movies, make_movielens_folder):
    report = check(make_movielens_folder("csv", extra={"movies.csv": movies}))

    assert report.files[1].path.name == "movies.csv"


@pytest.mark.parametrize(("movies", "expected"), [
    (b'movieId,title,genres\n1,Fine (1995),Drama\n2,"Never closed (1995),Drama\n3,Lost (1996),Drama\n',
     "movies.csv line 3: a quoted field opens here and never closes"),
    (b'movieId,title,genres\n1,"Weird" Al (1995),Comedy\n',
     "movies.csv line 2: a quoted field opens here and its closing quote on line 2 is followed by more text"),
])
def test_unbalanced_quotes_are_reported_where_they_open(movies, expected, make_movielens_folder):
    assert expected in error_of(make_movielens_folder("csv", extra={"movies.csv": movies}))


def test_a_file_the_layout_promises_must_exist(make_movielens_folder):
    folder = make_movielens_folder("csv", omit=("links.csv",))
    layout = dataclasses.replace(detect_layout(folder), has_links=True)

    with pytest.raises(PreflightError, match=r"links\.csv: file is missing$"):
        check_dataset(layout)
