"""What a reader sees during a Spark build (macros/spark/publish_spark_build.sql).

dbt rebuilds the build schema while readers query the serving schema, whose
views point at an immutable copy of the last published build. A reader
polling all the while must never get an error and never a count that is
neither the old nor the new dataset's (a half-written table); after the
publish it sees the new build, and a rollback serves the old one again.
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from movielens_fixtures import write_csv_dataset  # noqa: E402
from spark_sql_support import dbt_cli, dbt_spark, layout_vars, record_whole_build  # noqa: E402

BUILD, SERVING = "publish_build", "cinemart"
# the ratings chain only: enough tables to rebuild, cheap to build twice
MODELS = ["+stg_movielens__ratings", "+quarantine_ratings"]
READ = f"select (select count(*) from {SERVING}.stg_movielens__ratings), (select count(*) from {SERVING}.quarantine_ratings)"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Two different csv releases: (data vars, expected (clean, quarantined) counts)."""
    work = tmp_path_factory.mktemp("data")
    old = write_csv_dataset(work / "old", n_users=20, seed=3)
    new = write_csv_dataset(work / "new", n_users=35, seed=4)
    counts = [(f.n_clean_ratings, f.n_source_ratings - f.n_clean_ratings) for f in (old, new)]
    assert counts[0] != counts[1]
    return [(layout_vars(f.path), c) for f, c in zip((old, new), counts)]


def publish(work, dbt_vars, **args) -> bool:
    """The publish step (or a rollback), with the vars of the last build: one
    target folder and unchanged vars let dbt reuse its parse (partial parsing)."""
    import json

    command = ["run-operation", "publish_spark_build"] + (["--args", json.dumps(args)] if args else [])
    return dbt_spark(command, work, schema=BUILD, dbt_vars=dbt_vars)


def build(spark, work, dbt_vars) -> bool:
    """The ratings chain, recorded as a whole build (publish_spark_build publishes only those)."""
    built = dbt_spark(["run"], work, schema=BUILD, dbt_vars=dbt_vars, select=MODELS)
    if built:
        record_whole_build(spark, BUILD)
    return built


class Reader(threading.Thread):
    """Polls the serving views from its own session (as a BI client would) until stopped."""

    def __init__(self, spark):
        super().__init__(daemon=True)
        self.session = spark.newSession()
        self.seen: list[tuple[int, int]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.seen.append(tuple(self.session.sql(READ).collect()[0]))
            except Exception as error:  # any failure a reader would see
                self.errors.append(str(error).splitlines()[0])
            time.sleep(0.05)


def test_readers_see_a_whole_version_during_a_rebuild_and_rollback(spark, datasets, tmp_path):
    (old_vars, old_counts), (new_vars, new_counts) = datasets
    assert build(spark, tmp_path, old_vars)
    assert publish(tmp_path, old_vars)
    assert tuple(spark.sql(READ).collect()[0]) == old_counts

    reader = Reader(spark)
    reader.start()
    try:
        assert build(spark, tmp_path, new_vars)  # drops and rewrites every build table
        during_build = len(reader.seen)
        add_factor_tables(spark)
        assert publish(tmp_path, new_vars)
        time.sleep(1)
    finally:
        reader.stop.set()
        reader.join()

    assert reader.errors == []
    assert during_build > 0 and set(reader.seen[:during_build]) == {old_counts}
    assert set(reader.seen) <= {old_counts, new_counts}
    assert reader.seen[-1] == new_counts

    check_serving_functions(spark)

    versions = spark.sql(f"select version, previous_version from {SERVING}.serving_version").collect()[0]
    assert publish(tmp_path, new_vars, rollback=True)
    assert tuple(spark.sql(READ).collect()[0]) == old_counts
    assert not spark.sql(f"show user functions in {SERVING}").collect()  # the old version has no factors
    assert publish(tmp_path, new_vars, rollback=True)
    assert tuple(spark.sql(READ).collect()[0]) == new_counts
    assert tuple(spark.sql(f"select version, previous_version from {SERVING}.serving_version").collect()[0]) == tuple(versions)


def add_factor_tables(spark):
    """Stand-ins for the recommender's tables (built by the Python models, not by
    this test) so that the publish creates recommend_for / similar_to: two
    factors per user and movie, from their ids, and the similarity vectors of
    movies whose lists are collaborative (the unit factors)."""
    spark.sql(f"create table {BUILD}.serving_settings using parquet as "
              "select 'implicit_als' as recommendations_model, 'implicit_als' as similar_movies_model, "
              "cast(10 as bigint) as similar_movies_min_ratings")
    spark.sql(f"create table {BUILD}.movies using parquet as "
              f"select movie_id, title from {BUILD}.stg_movielens__movies")
    spark.sql(f"""create table {BUILD}.implicit_factors using parquet as
        select 'user' as entity, user_id as id, array(cast(1 as float), cast(user_id % 3 as float)) as factors,
               cast(0 as float) as bias, cast(0 as double) as global_mean, count(*) as n_ratings
        from {BUILD}.stg_movielens__ratings group by user_id
        union all
        select 'movie', movie_id, array(cast(movie_id % 7 as float), cast(movie_id % 2 as float)),
               cast(0 as float), cast(0 as double), 100
        from {BUILD}.stg_movielens__movies""")
    # the fallback recommend_for serves a user without factors: three movies, damped means from their ids
    spark.sql(f"""create table {BUILD}.popular_movies using parquet as
        select cast(row_number() over (order by movie_id desc) as bigint) as rank, movie_id,
               cast(movie_id as double) as damped_mean_rating
        from (select movie_id from {BUILD}.stg_movielens__movies order by movie_id limit 3)""")
    # similar_to scores query . candidate vectors; here both are the unit factors (collaborative lists)
    spark.sql(f"""create table {BUILD}.int_movie_similarity_vectors using parquet as
        with unit as (
            select id as movie_id, n_ratings,
                   case when exists(factors, x -> x <> 0)
                        then transform(factors, x -> cast(x / sqrt(aggregate(factors, 0D, (a, y) -> a + y * y)) as float))
                        else factors end as v,
                   exists(factors, x -> x <> 0) as has_direction
            from {BUILD}.implicit_factors where entity = 'movie')
        select movie_id, n_ratings, 1D as support_weight, 'collaborative' as source, has_direction as is_query,
               has_direction as is_candidate, v as query_vector, v as candidate_vector,
               'implicit_als' as model, 'stand-in' as run_id
        from unit""")


def check_serving_functions(spark):
    """The functions give what the same scoring computed here gives."""
    import math

    ratings = spark.sql(f"select user_id, movie_id from {SERVING}.stg_movielens__ratings").collect()
    movies = [row.movie_id for row in spark.sql(f"select movie_id from {SERVING}.movies").collect()]
    user = 1
    rated = {r.movie_id for r in ratings if r.user_id == user}
    score = {m: 1.0 * (m % 7) + (user % 3) * (m % 2) for m in movies if m not in rated}
    expected = sorted(score, key=lambda m: (-score[m], m))[:5]
    got = spark.sql(f"select rank, movie_id, score, model from {SERVING}.recommend_for({user}, 5)").collect()
    assert [(r.rank, r.movie_id, r.model) for r in got] == [(i + 1, m, "implicit_als") for i, m in enumerate(expected)]
    assert [r.score for r in got] == pytest.approx([score[m] for m in expected])
    assert {r.source for r in spark.sql(f"select source from {SERVING}.recommend_for({user}, 5)").collect()} == \
        {"personalised"}
    # an id without factors gets popular_movies, best first, never nothing
    popular = sorted(movies)[:3][::-1]
    got = spark.sql(f"select rank, movie_id, score, model, source from {SERVING}.recommend_for(987654321, 5)").collect()
    assert [(r.rank, r.movie_id, r.score, r.model, r.source) for r in got] == \
        [(i + 1, m, float(m), "popular_movies", "popular_fallback") for i, m in enumerate(popular)]

    def vector(m):
        return (m % 7, m % 2)

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    target = next(m for m in movies if m % 7 and m % 2)
    eligible = [m for m in movies if m != target and any(vector(m))]
    similarity = {m: cosine(vector(target), vector(m)) for m in eligible}
    best = sorted(similarity.values(), reverse=True)[:5]
    got = spark.sql(f"select rank, similar_movie_id, similarity from {SERVING}.similar_to({target}, 5)").collect()
    # parallel factor vectors tie up to the last bit, so the ids are checked through their similarity
    assert [r.rank for r in got] == [1, 2, 3, 4, 5]
    assert len({r.similar_movie_id for r in got}) == 5 and target not in {r.similar_movie_id for r in got}
    assert [similarity[r.similar_movie_id] for r in got] == pytest.approx(best)
    assert [r.similarity for r in got] == pytest.approx(best)


def test_publish_refuses_the_duckdb_target(tmp_path):
    """One clear line, not a Spark error, when the operation meets the wrong engine."""
    completed = dbt_cli("run-operation", "publish_spark_build", work=tmp_path)
    assert completed.returncode != 0
    assert "publish_spark_build is for --target spark" in completed.stdout
