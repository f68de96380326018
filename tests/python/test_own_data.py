"""Own data (docs/use-your-own-data.md): ratings and catalogue files in the analyst's own shape.

The files are written (own_data_fixtures.py) from a generated MovieLens folder, renamed and
re-keyed the way real exports are: Parquet with UUID-like user ids and
`tt`-prefixed movie ids, a CSV with no catalogue, a CSV of plays without
ratings (implicit feedback), a TSV, a DuckDB table.
Each build is the SQL layers (staging, split, EDA marts) with their data
tests, which include the reconciliation of source rows with kept plus
quarantined rows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cinemart.cli import main
from cinemart.data.own import OwnData, OwnDataError, parse_columns
from cinemart.report.build import render_report
from cinemart.warehouse.dbt import find_project_dir, run_dbt
from own_data_fixtures import (CSV_REASONS, HOSTILE, PLAYS_REASONS, PLAYS_REPEATED, RENAMED, duckdb_build, exported,
                               movie_key, user_key, write_csv_without_catalogue, write_parquet_export,
                               write_plays_csv)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def parquet_build(tmp_path_factory: pytest.TempPathFactory):
    """own_data_fixtures.write_parquet_export, checked and built."""
    tmp = tmp_path_factory.mktemp("own_parquet")
    files = write_parquet_export(tmp)
    assert files.own.check() == files.n_source + len(HOSTILE)
    return duckdb_build(files.own, tmp / "work"), files.ml, files.n_source


@pytest.mark.slow
def test_parquet_with_renamed_columns_and_uuid_users(parquet_build) -> None:
    con, ml, n_source = parquet_build
    reasons = dict(con.execute("select reason, count(*) from quarantine_ratings group by reason").fetchall())
    assert reasons == {reason: 1 for reason in HOSTILE.values()}
    assert _scalar(con, "select count(*) from stg_movielens__ratings") == n_source
    assert _scalar(con, "select n_ratings + n_quarantined_ratings from dataset_overview") == n_source + len(HOSTILE)
    # the UUID-like ids are numbered 1..n in text order; the original is kept for joining back
    users = con.execute("select user_id, source_user_id from users order by user_id").fetchall()
    source_ids = sorted(row[1] for row in users)
    assert [row[1] for row in users] == source_ids and [row[0] for row in users][:3] == [1, 2, 3]
    ml_users = {row[0] for row in duckdb.sql(f"select {user_key('userId')} from read_csv('{ml}/ratings.csv')")
                .fetchall()}
    assert set(source_ids) == ml_users  # 'c-extra' has no clean rating
    # every clean rating joins back to the user and movie ids of its source row
    joined_back = _scalar(con, f"""
        select count(*) from stg_movielens__ratings r
        join users u using (user_id) join movies m using (movie_id)
        join read_csv('{ml}/ratings.csv', all_varchar=true) s
          on u.source_user_id = {user_key('s.userId')} and m.source_movie_id = {movie_key('s.movieId')}
         and r.rating = s.rating::double""")
    assert joined_back == n_source
    # the catalogue's titles; the quarantined row's unknown movie is not invented into it
    assert con.execute("select title, release_year from movies where source_movie_id = 'tt0000001'").fetchall() \
        == [("Toy Story", 1995)]
    assert _scalar(con, "select count(*) from movies where source_movie_id = 'tt9999999'") == 0


@pytest.mark.slow
def test_the_id_mapping_is_deterministic(parquet_build, tmp_path: Path) -> None:
    """The same files, rows in another order, give the same ids."""
    con, ml, _ = parquet_build
    shuffled = tmp_path / "shuffled.parquet"
    duckdb.execute(f"copy (select * from read_parquet('{ml.parent}/ratings.parquet') "
                   f"order by md5(item || watched_at::varchar) desc) to '{shuffled}'")
    again = duckdb_build(OwnData.from_arguments(str(shuffled), str(ml.parent / "movies.parquet"), RENAMED),
                   tmp_path / "work")
    assert again.execute("select * from users order by 1").fetchall() == \
        con.execute("select * from users order by 1").fetchall()
    assert again.execute("select movie_id, source_movie_id from movies order by 1").fetchall() == \
        con.execute("select movie_id, source_movie_id from movies order by 1").fetchall()


@pytest.mark.slow
def test_csv_without_a_catalogue(tmp_path: Path) -> None:
    """Titles fall back to the ids, no genres; integer user ids are kept as they are."""
    files = write_csv_without_catalogue(tmp_path)
    movie_ids = {line.split(",")[1] for line in (files.ml / "ratings.csv").read_text().splitlines()[1:]}
    con = duckdb_build(files.own, tmp_path / "work")
    reasons = dict(con.execute("select reason, count(*) from quarantine_ratings group by reason").fetchall())
    assert reasons == CSV_REASONS
    assert _scalar(con, "select count(*) from stg_movielens__ratings") == files.n_source + 1  # the ISO-timed row
    assert _scalar(con, "select rated_at from stg_movielens__ratings join movies using (movie_id) "
                   "where user_id = 99 and source_movie_id = 'x-3'") == \
        datetime(2001, 9, 9, 1, 46, 40)
    assert _scalar(con, "select count(*) from movies") == len(movie_ids)
    assert _scalar(con, "select count(*) from movies where title <> source_movie_id or len(genres) > 0") == 0
    assert con.execute("select genre, count(*) from movie_genres group by genre").fetchall() == \
        [("(no genres listed)", len(movie_ids))]
    assert _scalar(con, "select count(*) from users where source_user_id <> user_id::varchar") == 0


@pytest.mark.slow
def test_whole_warehouse_without_a_catalogue(parquet_build, tmp_path: Path) -> None:
    """Every model and data test, from UUID-keyed ratings and no catalogue: nothing to compare for content.

    With no catalogue the row of tt9999999 is a clean rating, the only one of its movie and, the other rows of
    'c-extra' being quarantined, of its user. EASE scores nothing from a movie nobody else liked, so that user
    must not get a list of zero-score ties labelled personalised (a case MovieLens's 20 ratings per user never
    reach; the data tests assert_no_all_zero_list_is_personalised and assert_recommendations_complete guard
    it too)."""
    _, ml, n_source = parquet_build
    con = duckdb_build(OwnData.from_arguments(str(ml.parent / "ratings.parquet"), None, RENAMED), tmp_path,
                       whole=True)
    assert _scalar(con, "select n_ratings + n_quarantined_ratings from dataset_overview") == n_source + 4
    assert _scalar(con, "select count(*) from quarantine_ratings") == 3
    # EASE serves; that user's row is all zero, so they get the fallback, which has nothing to list here:
    # popular_movies asks more ratings of a movie than these files give any
    assert _scalar(con, "select recommendations_model from serving_settings") == "ease"
    assert _scalar(con, "select list_max(list_transform(e.factors, lambda x: abs(x))) from ease_factors e join users u "
                        "on e.entity = 'user' and e.id = u.user_id where u.source_user_id = 'c-extra'") == 0
    assert _scalar(con, "select count(*) from popular_movies") == 0
    assert _scalar(con, "select count(*) from user_recommendations r join users u using (user_id) "
                        "where u.source_user_id = 'c-extra'") == 0
    # the lists join back to the analyst's ids (assert_recommendations_complete checks the lists themselves)
    n_listed = _scalar(con, "select count(*) from user_recommendations")
    assert n_listed > 0 and _scalar(con, "select count(*) from user_recommendations join users using (user_id) "
                                         "where source_user_id is not null") == n_listed
    assert _scalar(con, "select count(*) from user_recommendations r join movies m using (movie_id) "
                        "where m.title <> m.source_movie_id") == 0
    sources = {s for (s,) in con.execute("select distinct source from similar_movies").fetchall()}
    assert "content" not in sources and "collaborative" in sources


@pytest.mark.slow
def test_plays_without_ratings_build_every_table(tmp_path: Path) -> None:
    """Implicit feedback: each row an interaction weighted by its plays, repeats summed, the explicit tables
    empty with the reason, every held-out interaction relevant, the fallback ranked by interactions."""
    files = write_plays_csv(tmp_path)
    source = [line.split(",") for line in (files.ml / "ratings.csv").read_text().splitlines()[1:]]
    # the fallback lists movies with 5 interactions (these files give none 20, the default)
    con = duckdb_build(files.own, tmp_path / "work", whole=True, extra_vars={"popular_min_ratings": 5})
    reasons = dict(con.execute("select reason, count(*) from quarantine_ratings group by reason").fetchall())
    assert reasons == {**PLAYS_REASONS, "duplicate_counted_in_latest_interaction": PLAYS_REPEATED}
    assert _scalar(con, "select feedback from dataset_overview") == "implicit"
    assert _scalar(con, "select n_ratings + n_quarantined_ratings from dataset_overview") == \
        len(source) + PLAYS_REPEATED + len(PLAYS_REASONS) + 2  # every file row: kept or quarantined
    assert _scalar(con, "select count(*) from stg_movielens__ratings where rating is null") == files.n_source
    # plays: twice the stars of the source rating, plus the earlier single play of each repeated pair
    assert _scalar(con, "select sum(play_count) from stg_movielens__ratings") == \
        sum(round(float(r) * 2) for _, _, r, _ in source) + PLAYS_REPEATED
    user, movie, rating, ts = source[0]
    assert con.execute("select play_count, epoch(rated_at) from stg_movielens__ratings s join users u using (user_id) "
                       "where u.source_user_id = ? and s.movie_id = ?", [f"u-{user}", int(movie)]).fetchall() == \
        [(round(float(rating) * 2) + 1, int(ts))]
    assert _scalar(con, "select count(*) from rating_distribution") == 0
    for table in ("als_grid_search", "als_factors", "als_predictions", "als_test_predictions", "user_factors"):
        assert _scalar(con, f"select count(*) from {table}") == 0, table
    assert "implicit feedback" in _scalar(con, "select not_built_reason from als_model_runs")
    assert _scalar(con, "select scope from ranking_evaluation where model = 'explicit_als' and protocol = 'random'") \
        .startswith("skipped: ")
    assert {c for (c,) in con.execute("select distinct confidence from implicit_grid_search").fetchall()} == \
        {"binary", "plays"}
    # relevance: every held-out interaction whose user and movie are in train makes its user eligible
    assert _scalar(con, "select n_users_eligible from ranking_evaluation where model = 'popularity' and "
                        "protocol = 'random'") == _scalar(con, """
        select count(distinct t.user_id) from int_ratings_split t
        where t.is_test and t.user_id in (select user_id from int_ratings_split where not is_test)
          and t.movie_id in (select movie_id from int_ratings_split where not is_test)""")
    popular = con.execute("select score, n_ratings, mean_rating from popular_movies order by rank").fetchall()
    assert len(popular) > 10 and all(score == n and mean is None for score, n, mean in popular)
    assert [n for _, n, _ in popular] == sorted((n for _, n, _ in popular), reverse=True)
    assert _scalar(con, "select count(distinct user_id) from user_recommendations") == \
        _scalar(con, "select n_users from dataset_overview")
    con.close()
    html = render_report(tmp_path / "work" / "warehouse.duckdb")
    assert "interactions (implicit feedback)" in html and "Not built: the data are interactions" in html
    assert "relevant = every held-out interaction" in html and "Mean rating" not in html


@pytest.mark.slow
def test_tsv_and_duckdb_table_inputs(tmp_path: Path) -> None:
    """A TSV file and a table of a DuckDB database read like the CSV they hold."""
    ml = exported(tmp_path)
    tsv = tmp_path / "ratings.tsv"
    duckdb.execute(f"copy (select * from read_csv('{ml}/ratings.csv')) to '{tsv}' (delimiter '\t', header)")
    database = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(f"create table ratings as select * from read_csv('{ml}/ratings.csv')")
    n_source = len((ml / "ratings.csv").read_text().splitlines()) - 1
    for source in (str(tsv), f"{database}:ratings"):
        own = OwnData.from_arguments(source, str(ml / "movies.csv"), None)
        assert own.check() == n_source
        con = duckdb_build(own, tmp_path / f"work-{Path(source).suffix[1:4]}")
        assert _scalar(con, "select count(*) from stg_movielens__ratings") == n_source
        assert _scalar(con, "select count(*) from quarantine_ratings") == 0


def test_columns_are_parsed_and_bad_mappings_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert parse_columns("user=a, movie = b") == {"user": "a", "movie": "b"}
    with pytest.raises(OwnDataError, match="unknown role 'usr'"):
        parse_columns("usr=a")
    with pytest.raises(OwnDataError, match="role=column pairs"):
        parse_columns("user")
    ratings = tmp_path / "r.csv"
    ratings.write_text("uid,mid,stars,ts\n1,1,4.0,1000000000\n")
    assert main(["build", "--ratings", str(ratings), "--columns", "user=uid,movie=mid,rating=score,timestamp=ts"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "has no column 'score' (--columns rating=score); its columns: uid, mid, stars, ts" in err
    assert main(["build", "--ratings", str(ratings)]) == 2
    assert "no column 'userId' (the default name for user)" in capsys.readouterr().err
    assert main(["build", "--ratings", str(tmp_path / "missing.parquet")]) == 2
    assert "is not a file" in capsys.readouterr().err
    assert main(["build", "--movies", str(ratings)]) == 2
    assert "go with --ratings" in capsys.readouterr().err
    assert main(["build", "--ratings", f"{tmp_path / 'theirs.duckdb'}:ratings", "--engine", "spark"]) == 2
    assert "theirs.duckdb:ratings is a table of a DuckDB database, which --engine spark cannot read" in \
        capsys.readouterr().err


def test_implicit_feedback_is_announced_and_a_plays_column_on_ratings_refused(tmp_path: Path) -> None:
    """No rating column: one line says the rows are interactions and names the file's columns (a misnamed
    rating column shows there); a plays column named for data with ratings would be ignored, so it is refused."""
    plays = tmp_path / "plays.csv"
    plays.write_text("who,what,n,ts\n1,2,3,1000000000\n")
    own = OwnData.from_arguments(str(plays), None, "user=who,movie=what,timestamp=ts,plays=n")
    assert own.check() == 1
    line = own.implicit_feedback()
    assert "has no rating column (its columns: who, what, n, ts): building implicit feedback" in line
    assert "weighted by its plays (n)" in line
    assert "counted once (no plays column)" in OwnData.from_arguments(str(plays), None, "user=who,movie=what,"
                                                                      "timestamp=ts").implicit_feedback()
    assert "--columns rating=COLUMN" in line
    rated = tmp_path / "rated.csv"
    rated.write_text("who,what,rating,n,ts\n1,2,4.0,3,1000000000\n")
    assert OwnData.from_arguments(str(rated), None, "user=who,movie=what,timestamp=ts").implicit_feedback() is None
    with pytest.raises(OwnDataError, match="a play count weighs interactions without ratings"):
        OwnData.from_arguments(str(rated), None, "user=who,movie=what,timestamp=ts,plays=n").implicit_feedback()


@pytest.mark.parametrize("columns, message", [
    ({"ratng": "stars"}, "own_columns: unknown role 'ratng'"),
    ({"plays": "n"}, "own_columns plays=... weighs interactions without ratings"),
])
def test_plain_dbt_refuses_a_misspelt_role_and_plays_on_ratings(tmp_path: Path, columns: dict, message: str) -> None:
    """Through dbt vars as through the CLI: a misspelt rating role would read rated data as interactions."""
    rated = tmp_path / "rated.csv"
    rated.write_text("userId,movieId,rating,timestamp,n\n1,2,4.0,1000000000,3\n")
    done = run_dbt("run", OwnData(str(rated), None, columns), project_dir=find_project_dir(),
                   database=tmp_path / "w.duckdb", select=["base_movielens__ratings"], target_dir=tmp_path,
                   capture=True)
    assert done.returncode != 0 and message in done.output
