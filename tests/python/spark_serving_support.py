"""Stand-in recommender tables and checks of the Spark serving functions, shared by the tests that
publish a Spark build (test_spark_publish) and serve it over HiveServer2 (test_spark_thrift)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from movielens_fixtures import write_csv_dataset
from spark_sql_support import layout_vars


class Reader(threading.Thread):
    """Runs `read` (one query on the reader's own connection or session, as a BI client would)
    every `pause` seconds until stopped; keeps each answer and the first line of each error."""

    def __init__(self, read: Callable[[], tuple], pause: float):
        super().__init__(daemon=True)
        self.read, self.pause = read, pause
        self.seen: list[tuple] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.seen.append(self.read())
            except Exception as error:  # any failure a reader would see
                self.errors.append(str(error).splitlines()[0][:300])
            time.sleep(self.pause)


def two_releases(work: Path, seeds: tuple[int, int]) -> list[tuple[dict, tuple[int, int]]]:
    """Two different csv releases under `work`: (data vars, expected (clean, quarantined) counts) each."""
    old = write_csv_dataset(work / "old", n_users=20, seed=seeds[0])
    new = write_csv_dataset(work / "new", n_users=35, seed=seeds[1])
    counts = [(f.n_clean_ratings, f.n_source_ratings - f.n_clean_ratings) for f in (old, new)]
    assert counts[0] != counts[1]
    return [(layout_vars(f.path), c) for f, c in zip((old, new), counts)]


def add_factor_tables(spark, build: str) -> None:
    """Stand-ins for the recommender's tables (built by the Python models, not by
    this test) so that the publish creates recommend_for / similar_to: two
    factors per user and movie, from their ids, and the similarity vectors of
    movies whose lists are collaborative (the unit factors)."""
    spark.sql(f"create table {build}.serving_settings using parquet as "
              "select 'implicit_als' as recommendations_model, 'implicit_als' as similar_movies_model, "
              "cast(10 as bigint) as similar_movies_min_ratings")
    spark.sql(f"create table {build}.movies using parquet as "
              f"select movie_id, title from {build}.stg_movielens__movies")
    spark.sql(f"""create table {build}.implicit_factors using parquet as
        select 'user' as entity, user_id as id, array(cast(1 as float), cast(user_id % 3 as float)) as factors,
               cast(0 as float) as bias, cast(0 as double) as global_mean, count(*) as n_ratings
        from {build}.stg_movielens__ratings group by user_id
        union all
        select 'movie', movie_id, array(cast(movie_id % 7 as float), cast(movie_id % 2 as float)),
               cast(0 as float), cast(0 as double), 100
        from {build}.stg_movielens__movies""")
    # the fallback recommend_for serves a user without factors: three movies, scores from their ids
    spark.sql(f"""create table {build}.popular_movies using parquet as
        select cast(row_number() over (order by movie_id desc) as bigint) as rank, movie_id,
               cast(movie_id as double) as score
        from (select movie_id from {build}.stg_movielens__movies order by movie_id limit 3)""")
    # similar_to scores query . candidate vectors; here both are the unit factors (collaborative lists)
    spark.sql(f"""create table {build}.int_movie_similarity_vectors using parquet as
        with unit as (
            select id as movie_id, n_ratings,
                   case when exists(factors, x -> x <> 0)
                        then transform(factors, x -> cast(x / sqrt(aggregate(factors, 0D, (a, y) -> a + y * y)) as float))
                        else factors end as v,
                   exists(factors, x -> x <> 0) as has_direction
            from {build}.implicit_factors where entity = 'movie')
        select movie_id, n_ratings, 1D as support_weight, 'collaborative' as source, has_direction as is_query,
               has_direction as is_candidate, v as query_vector, v as candidate_vector,
               'implicit_als' as model, 'stand-in' as run_id
        from unit""")


def check_serving_functions(query: Callable[[str], list[tuple]], serving: str) -> None:
    """recommend_for / similar_to of `serving` give what the same scoring computed here gives.

    `query` runs SQL and returns rows as tuples: a SparkSession or a HiveServer2 client."""
    ratings = query(f"select user_id, movie_id from {serving}.stg_movielens__ratings")
    movies = [movie_id for (movie_id,) in query(f"select movie_id from {serving}.movies")]
    user = 1
    rated = {movie_id for user_id, movie_id in ratings if user_id == user}
    score = {m: 1.0 * (m % 7) + (user % 3) * (m % 2) for m in movies if m not in rated}
    expected = sorted(score, key=lambda m: (-score[m], m))[:5]
    got = query(f"select rank, movie_id, score, model from {serving}.recommend_for({user}, 5)")
    assert [(rank, movie, model) for rank, movie, _, model in got] == \
        [(i + 1, m, "implicit_als") for i, m in enumerate(expected)]
    assert [r[2] for r in got] == pytest.approx([score[m] for m in expected])
    assert {source for (source,) in query(f"select source from {serving}.recommend_for({user}, 5)")} == {"personalised"}
    # an id without factors gets popular_movies, best first, never nothing
    popular = sorted(movies)[:3][::-1]
    got = query(f"select rank, movie_id, score, model, source from {serving}.recommend_for(987654321, 5)")
    assert [tuple(r) for r in got] == \
        [(i + 1, m, float(m), "popular_movies", "popular_fallback") for i, m in enumerate(popular)]

    def vector(m):
        return (m % 7, m % 2)

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    target = next(m for m in movies if m % 7 and m % 2)
    eligible = [m for m in movies if m != target and any(vector(m))]
    similarity = {m: cosine(vector(target), vector(m)) for m in eligible}
    best = sorted(similarity.values(), reverse=True)[:5]
    got = query(f"select rank, similar_movie_id, similarity from {serving}.similar_to({target}, 5)")
    # parallel factor vectors tie up to the last bit, so the ids are checked through their similarity
    assert [rank for rank, _, _ in got] == [1, 2, 3, 4, 5]
    ids = {movie for _, movie, _ in got}
    assert len(ids) == 5 and target not in ids
    assert [similarity[movie] for _, movie, _ in got] == pytest.approx(best)
    assert [value for _, _, value in got] == pytest.approx(best)
