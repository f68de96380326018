from __future__ import annotations

import pytest

from cinemart.data import layout
from cinemart.data.layout import DatasetLayoutError, Layout, detect_layout


def test_csv_layout_with_tags_and_links(make_movielens_folder):
    folder = make_movielens_folder("csv")

    found = detect_layout(folder)

    assert found == Layout(
        format="csv",
        data_dir=folder.resolve(),
        has_tags=True,
        has_links=True,
        movies_encoding="utf-8",
    )
    assert found.dbt_vars() == {
        "data_dir": str(folder.resolve()),
        "movielens_format": "csv",
        "movies_encoding": "utf-8",
        "has_tags": True,
        "has_links": True,
    }


def test_csv_layout_without_optional_files(make_movielens_folder):
    folder = make_movielens_folder("csv", omit=("tags.csv", "links.csv"))

    found = detect_layout(folder)

    assert (found.format, found.has_tags, found.has_links) == ("csv", False, False)


def test_dat_layout_detects_latin1_movies(make_movielens_folder):
    found = detect_layout(make_movielens_folder("dat"))

    assert found.format == "dat"
    assert found.movies_encoding == "latin-1"
    assert (found.has_tags, found.has_links) == (False, False)


def test_dat_layout_with_tags_and_utf8_movies(make_movielens_folder):
    folder = make_movielens_folder(
        "dat",
        extra={
            "tags.dat": b"15::4973::excellent!::1215184630\n",
            "movies.dat": "1::Café Society (2016)::Comedy\n".encode(),
        },
    )

    found = detect_layout(folder)

    assert (found.format, found.has_tags, found.movies_encoding) == ("dat", True, "utf-8")


def test_100k_layout(make_movielens_folder):
    found = detect_layout(make_movielens_folder("100k"))

    assert found.dbt_vars() == {
        "data_dir": str(found.data_dir),
        "movielens_format": "100k",
        "movies_encoding": "latin-1",
        "has_tags": False,
        "has_links": False,
    }


def test_utf8_character_split_across_read_chunks_is_still_utf8(
    make_movielens_folder, monkeypatch
):
    # "é" is two bytes in UTF-8; with 3-byte reads one falls on a chunk boundary.
    monkeypatch.setattr(layout, "_DECODE_CHUNK", 3)
    folder = make_movielens_folder("csv", extra={"movies.csv": "ab\u00e9\u00e9\u00e9\n".encode()})

    assert detect_layout(folder).movies_encoding == "utf-8"


def test_relative_path_gives_absolute_data_dir(make_movielens_folder, monkeypatch):
    folder = make_movielens_folder("csv")
    monkeypatch.chdir(folder.parent)

    found = detect_layout(folder.name)

    assert found.data_dir == folder.resolve()
    assert found.data_dir.is_absolute()


def test_partial_folder_names_folder_and_missing_file(make_movielens_folder):
    folder = make_movielens_folder("csv", omit=("movies.csv",))

    with pytest.raises(DatasetLayoutError) as raised:
        detect_layout(folder)

    message = str(raised.value)
    assert str(folder.resolve()) in message
    assert "missing movies.csv" in message
    assert isinstance(raised.value, ValueError)


def test_missing_folder_is_a_layout_error(tmp_path):
    with pytest.raises(DatasetLayoutError, match="is not a directory"):
        detect_layout(tmp_path / "nope")


def test_shared_ml_latest_small(latest_small_dir):
    found = detect_layout(latest_small_dir)

    assert found == Layout(
        format="csv",
        data_dir=latest_small_dir.resolve(),
        has_tags=True,
        has_links=True,
        movies_encoding="utf-8",
    )


def test_a_given_movies_encoding_replaces_detection_and_is_validated(make_movielens_folder):
    folder = make_movielens_folder("dat")  # latin-1 movies.dat

    given = detect_layout(folder, movies_encoding="utf-8")

    assert (given.movies_encoding, given.movies_encoding_given) == ("utf-8", True)
    assert detect_layout(folder).movies_encoding_given is False
    with pytest.raises(DatasetLayoutError, match="movies_encoding must be one of utf-8, latin-1, got 'cp1252'"):
        detect_layout(folder, movies_encoding="cp1252")
