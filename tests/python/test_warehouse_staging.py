"""dbt builds the staging layer and the EDA marts from every MovieLens layout.

Each layout is written in miniature by movielens_fixtures; the build runs for
real (dbt subprocess, DuckDB file in tmp). Only the SQL layers are selected here:
the model plugin has its own tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from cinemart.data.layout import detect_layout
from cinemart.warehouse.dbt import find_project_dir, run_dbt
from movielens_fixtures import write_csv_dataset, write_dat_dataset
from sql_builds import build_sql_layers

pytestmark = pytest.mark.slow  # dbt builds



#: The memory plan as `cinemart build` hands it to dbt (cinemart.memory), for the csv fixture's build.
PLANNED_MEMORY = {"CINEMART_DUCKDB_MEMORY_LIMIT": "1000MiB", "CINEMART_DUCKDB_LOAD_MEMORY_LIMIT": "1234MiB"}


@pytest.fixture(scope="module")
def csv_build(tmp_path_factory):
    work = tmp_path_factory.mktemp("csv")
    fixture = write_csv_dataset(work / "data")
    return fixture, build_sql_layers(fixture.path, work, PLANNED_MEMORY)


def test_the_loading_models_take_duckdbs_loading_share_and_give_it_back(csv_build):
    """macros/memory_limits.sql: each model that loads the ratings raises DuckDB's limit and restores the plan's."""
    _, database = csv_build
    log = (database.parent / "logs" / "dbt.log").read_text()
    for model in ("base_movielens__ratings", "stg_movielens__ratings", "int_ratings_split"):
        statements = re.findall(rf"On model\.cinemart\.{model}: /\*[^*]*\*/\s*(set memory_limit = '\w+')", log)
        assert statements == ["set memory_limit = '1234MiB'", "set memory_limit = '1000MiB'"], model
    assert log.count("set memory_limit") == 6  # no other model touches it


def test_every_bad_row_is_quarantined_with_its_reason(csv_build):
    fixture, database = csv_build
    with duckdb.connect(str(database), read_only=True) as con:
        reasons = dict(con.execute("select reason, count(*) from quarantine_ratings group by reason").fetchall())
    assert reasons == fixture.expected_quarantine


def test_rows_in_equal_rows_kept_plus_rows_quarantined(csv_build):
    fixture, database = csv_build
    with duckdb.connect(str(database), read_only=True) as con:
        kept = con.execute("select count(*) from stg_movielens__ratings").fetchone()[0]
        quarantined = con.execute("select count(*) from quarantine_ratings").fetchone()[0]
    assert kept == fixture.n_clean_ratings
    assert kept + quarantined == fixture.n_source_ratings


def test_duplicate_keeps_the_latest_rating(csv_build):
    fixture, database = csv_build
    with duckdb.connect(str(database), read_only=True) as con:
        kept = con.execute("select epoch(rated_at) from stg_movielens__ratings where user_id = 1 and movie_id = "
                       "(select min(movie_id) from stg_movielens__ratings where user_id = 1)").fetchall()
        dropped = con.execute("select raw_timestamp from quarantine_ratings "
                          "where reason = 'duplicate_superseded_by_later_rating'").fetchall()
    assert len(kept) == 1
    assert int(dropped[0][0]) < kept[0][0]


def test_movie_titles_years_and_genres_are_parsed(csv_build):
    _, database = csv_build
    with duckdb.connect(str(database), read_only=True) as con:
        movies = {r[0]: r[1:] for r in con.execute(
            "select movie_id, title, release_year, genres from stg_movielens__movies").fetchall()}
        links = con.execute("select imdb_id, tmdb_id from stg_movielens__links where movie_id in (1, 10) order by movie_id").fetchall()
    assert movies[1][:2] == ("Toy Story", 1995)
    assert movies[2][:2] == ("Great Escape, The", 1963)
    assert movies[3][:2] == ("Café Society", 2016)
    assert movies[4][:2] == ("Hyena Road", None)
    assert movies[60][2] == []
    assert links == [("0000001", 801), ("0000010", None)]


def test_eda_marts_agree_with_the_clean_ratings(csv_build):
    fixture, database = csv_build
    with duckdb.connect(str(database), read_only=True) as con:
        overview = con.execute("select n_ratings, n_movies, n_quarantined_ratings from dataset_overview").fetchone()
        by_genre = con.execute("select sum(n_movies) from genre_summary").fetchone()[0]
        per_movie_genre = con.execute("select count(*) from movie_genres").fetchone()[0]
        tags = dict(con.execute("select tag, n_uses from tag_summary").fetchall())
        histogram = con.execute("select sum(n_ratings) from rating_distribution").fetchone()[0]
    assert overview == (fixture.n_clean_ratings, fixture.n_movies, sum(fixture.expected_quarantine.values()))
    assert by_genre == per_movie_genre
    assert tags == {"pixar": 2, "funny, clever": 1}
    assert histogram == fixture.n_clean_ratings


@pytest.mark.parametrize("layout", ["dat", "100k"])
def test_other_layouts_land_in_the_same_staging_shape(layout, tmp_path, sql_build):
    if layout == "100k":  # the run's one build of it, which the engine parity test reads too
        fixture, database = sql_build("100k").written, sql_build("100k").database
    else:
        fixture = write_dat_dataset(tmp_path / "data")
        database = build_sql_layers(fixture.path, tmp_path)
    with duckdb.connect(str(database), read_only=True) as con:
        n_ratings = con.execute("select count(*) from stg_movielens__ratings").fetchone()[0]
        columns = [r[0] for r in con.execute("describe stg_movielens__movies").fetchall()]
        cafe = con.execute("select title, release_year from stg_movielens__movies where movie_id = 3").fetchone()
        no_genre = con.execute("select genres from stg_movielens__movies where movie_id = ?", [fixture.n_movies]).fetchone()[0]
        quarantined = con.execute("select count(*) from quarantine_ratings").fetchone()[0]
    assert n_ratings == fixture.n_source_ratings and quarantined == 0
    assert columns == ["movie_id", "source_movie_id", "title", "full_title", "release_year", "genres"]
    assert cafe == ("Café Society", 2016)
    if layout == "100k":
        assert no_genre == []


@pytest.mark.parametrize("ease_budget", ["1GiB", "1MiB"])
def test_the_whole_pipeline_runs_on_a_small_generated_dataset(tmp_path, ease_budget):
    """Every model and data test, including the model plugin, on the hostile fixture; with EASE fitted, and
    with a budget that skips it (its rows and the blend's then say why, and neither can be served)."""
    fixture = write_csv_dataset(tmp_path / "data", n_users=60, n_movies=80)
    database = tmp_path / "warehouse.duckdb"
    result = run_dbt("build", detect_layout(fixture.path), project_dir=find_project_dir(), database=database,
                     target_dir=tmp_path, extra_vars={"als_grid": {"rank": [2, 4], "reg": [0.1], "iterations": [5]},
                                                      "implicit_grid": "quick", "ease_grid": "quick",
                                                      "ease_max_memory": ease_budget})
    assert result.returncode == 0, f"dbt build failed, see {tmp_path / 'logs'}"
    with duckdb.connect(str(database), read_only=True) as con:
        users = con.execute("select count(distinct user_id) from stg_movielens__ratings").fetchone()[0]
        recommended = con.execute("select count(distinct user_id) from user_recommendations").fetchone()[0]
        served = con.execute("select count(*) from ranking_evaluation where is_served").fetchone()[0]
        runs = con.execute("select count(*), min(test_rmse) from als_model_runs").fetchone()
        ease = con.execute("select scope, ndcg_at_10, is_served from ranking_evaluation "
                           "where model in ('ease', 'ease_implicit_blend')").fetchall()
        ease_rows = con.execute("select (select count(*) from ease_factors), (select count(*) from blend_factors)"
                                ).fetchone()
    assert recommended == users == 60
    assert served == 1
    assert runs[0] == 1 and 0 < runs[1] < 2
    assert len(ease) == 4
    if ease_budget == "1MiB":
        assert all("skipped: " in scope and ndcg is None and not is_served for scope, ndcg, is_served in ease)
        assert ease_rows == (0, 0)
    else:
        assert all("skipped" not in scope and ndcg is not None for scope, ndcg, _ in ease)
        assert ease_rows[0] > 0 and ease_rows[1] > 0
