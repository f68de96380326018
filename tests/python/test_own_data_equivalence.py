"""ml-latest-small exported as own data (Parquet, renamed columns) builds the MovieLens path's warehouse.

The export carries ratings, movies and the links' IMDb and TMDb ids under
other column names; its integer ids are kept by the id mapping, so the split,
every model fit and every list must come out the same. Left out of the
comparison: timings and the build's moment (VOLATILE), the raw text columns
of the base models (each reader spells a field its own way before the
checks trim it), and everything the tags feed (TAG_FED): own data has no
tags file, and the tags are a third of every movie's content vector, so
similar-movie lists and intra-list diversity differ with them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cinemart.data.own import OwnData
from cinemart.warehouse.dbt import find_project_dir, run_dbt

#: Columns that record when or how long; they differ between any two builds.
VOLATILE = {"started_at", "finished_at", "invocation_id", "fit_seconds", "evaluation_seconds"}
#: Tables (None: the whole table) and columns the tags feed.
TAG_FED = {"tag_summary": None, "stg_movielens__tags": None, "base_movielens__tags": None, "quarantine_tags": None,
           "int_movie_content_vectors": None, "int_movie_similarity_vectors": None, "int_similar_movies": None,
           "similar_movies": None, "int_similar_movies_cold_start": None, "similar_movies_cold_start": None,
           "dataset_overview": {"n_tags"}, "ranking_evaluation": {"intra_list_diversity"},
           "int_ranking_evaluation": {"intra_list_diversity"}, "serving_settings": {"similar_movies_run_id"}}


@pytest.fixture(scope="module")
def own_warehouse(real_warehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("own_latest_small")
    data = real_warehouse.data_dir
    duckdb.execute(f"""copy (select userId as u, movieId as m, rating as stars, timestamp as ts
                             from read_csv('{data}/ratings.csv')) to '{work}/ratings.parquet'""")
    duckdb.execute(f"""copy (select movies.movieId as item, title as name, genres as kind, imdbId as imdb, tmdbId as tmdb
                             from read_csv('{data}/movies.csv', all_varchar=true) as movies
                             left join read_csv('{data}/links.csv', all_varchar=true) as links using (movieId))
                       to '{work}/movies.parquet'""")
    own = OwnData.from_arguments(str(work / "ratings.parquet"), str(work / "movies.parquet"),
                                 "user=u,movie=m,rating=stars,timestamp=ts,catalogue_movie=item,title=name,genres=kind,"
                                 "imdb=imdb,tmdb=tmdb")
    database = work / "cinemart.duckdb"
    result = run_dbt("build", own, project_dir=find_project_dir(), database=database, target_dir=work)
    assert result.returncode == 0, f"dbt build of the own-data export failed; logs in {work / 'logs'}"
    return database


def test_the_export_builds_the_same_tables(real_warehouse, own_warehouse: Path) -> None:
    con = duckdb.connect()
    con.execute(f"attach '{real_warehouse.database}' as movielens (read_only)")
    con.execute(f"attach '{own_warehouse}' as own (read_only)")
    tables = {name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_catalog = 'movielens' "
        "and table_schema = 'main' and table_type = 'BASE TABLE'").fetchall()}
    tables -= {name for name, columns in TAG_FED.items() if columns is None}
    assert {"movies", "users", "quarantine_ratings", "user_recommendations", "ranking_evaluation", "user_factors",
            "als_predictions", "popular_movies"} <= tables
    differing = {}
    for table in sorted(tables):
        columns = [name for (name,) in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'movielens' "
            "and table_name = ? order by ordinal_position", [table]).fetchall()
            if name not in VOLATILE | TAG_FED.get(table, set()) and not name.startswith("raw_")]
        listed = ", ".join(f'"{c}"' for c in columns)
        n = con.execute(f"select count(*) from movielens.main.{table}").fetchone()[0]
        extra = con.execute(f"select count(*) from (select {listed} from movielens.main.{table} except all "
                            f"select {listed} from own.main.{table})").fetchone()[0]
        missing = con.execute(f"select count(*) from (select {listed} from own.main.{table} except all "
                              f"select {listed} from movielens.main.{table})").fetchone()[0]
        if extra or missing:
            differing[table] = (n, extra, missing)
    assert differing == {}, "table: (rows, rows only on the MovieLens path, rows only from the export)"
