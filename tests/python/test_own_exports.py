"""`cinemart recommend --imdb / --letterboxd`: a person's ratings export matched, folded in, listed.

The exports in tests/python/exports/ are written by hand in each site's
format (IMDb: 1-10 stars, `Const` ids; Letterboxd: half stars, title and
year) and name real movies of ml-latest-small, plus rows that must not
match: a movie the release does not have, one it has but nobody rated, a
title two movies share, and a title spelled differently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cinemart.cli import main
from cinemart.serving.exports import match_export, normalised_title, read_export
from cinemart.serving.new_user import RecommendError, ServedModel

EXPORTS = Path(__file__).parent / "exports"
IMDB = EXPORTS / "imdb_ratings.csv"
LETTERBOXD = EXPORTS / "letterboxd_ratings.csv"


def test_titles_compare_in_one_form() -> None:
    assert normalised_title("Great Escape, The") == normalised_title("The Great Escape")
    assert normalised_title("City of Lost Children, The (Cité des enfants perdus, La)") == \
        normalised_title("The City of Lost Children")
    assert normalised_title("Amelie (Fabuleux destin d'Amélie Poulain, Le)") == normalised_title("Amélie")
    assert normalised_title("Star Wars: Episode IV - A New Hope") != normalised_title("Star Wars")


def test_exports_are_read_on_their_own_scales(tmp_path: Path) -> None:
    imdb = read_export("imdb", IMDB)
    assert [(row.key, row.stars) for row in imdb[:2]] == [("tt0114709", 5.0), ("tt0076759", 4.5)]
    letterboxd = read_export("letterboxd", LETTERBOXD)
    assert (letterboxd[1].key, letterboxd[1].year, letterboxd[1].stars) == ("thematrix", 1999, 4.5)
    with pytest.raises(RecommendError, match="is not a imdb ratings export .*no column Const"):
        read_export("imdb", LETTERBOXD)
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Toy Story,1995,x,7\n")
    with pytest.raises(RecommendError, match="line 2: rating 7 is outside 0.5..5"):
        read_export("letterboxd", bad)


def _recommend(kind: str, export, real_warehouse, capsys: pytest.CaptureFixture):
    """(served model, the export matched to it, what `cinemart recommend --KIND export` printed)."""
    served = ServedModel.load(real_warehouse.database)
    matched = match_export(kind, read_export(kind, export), real_warehouse.database, served.rated)
    assert main(["recommend", f"--{kind}", str(export), "--warehouse", str(real_warehouse.database)]) == 0
    return served, matched, capsys.readouterr().out


def test_imdb_export_matches_by_imdb_id(real_warehouse, capsys: pytest.CaptureFixture) -> None:
    served, matched, out = _recommend("imdb", IMDB, real_warehouse, capsys)
    assert matched.ratings == {1: 5.0, 260: 4.5, 1196: 4.5, 2571: 4.0, 318: 5.0, 858: 3.5, 2959: 1.5}
    assert {u.reason.split(" ")[0] for u in matched.unmatched} == {"movie", "not"}
    assert "matched 7 of 9 rated movies" in out
    assert "not matched: The Chosen (1981, tt0082175): movie 5721 was never rated" in out
    assert "not matched: Everything Everywhere All at Once (2022, tt6710474): not in the warehouse's movies" in out
    _check_list(out, served, matched.ratings)


def test_letterboxd_export_matches_by_title_and_year(real_warehouse, capsys: pytest.CaptureFixture) -> None:
    served, matched, out = _recommend("letterboxd", LETTERBOXD, real_warehouse, capsys)
    assert matched.ratings == {1: 5.0, 2571: 4.5, 4993: 5.0, 29: 4.0, 4973: 4.5, 2959: 2.0}
    assert "matched 6 of 10 rated movies" in out
    assert "not matched: War of the Worlds (2005): fits 2 movies (34048, 64997)" in out
    assert "not matched: Star Wars (1977): not in the warehouse's movies" in out
    _check_list(out, served, matched.ratings)


def _check_list(out: str, served: ServedModel, ratings: dict[int, float]) -> None:
    """Ten movies the person has not rated, each explained by one they liked (>= 4 stars)."""
    header = next(i for i, line in enumerate(out.splitlines()) if line.startswith("rank"))
    assert out.splitlines()[header].endswith("because you liked")
    rows = out.splitlines()[header + 1:]
    assert len(rows) == 10
    recommended = [int(row.split()[1]) for row in rows]
    assert not set(recommended) & set(ratings)
    liked = {served.titles[m] for m, stars in ratings.items() if stars >= 4}
    assert all(any(row.endswith(title) for title in liked) for row in rows if " fold_in " in row)
    assert any(" fold_in " in row for row in rows)
