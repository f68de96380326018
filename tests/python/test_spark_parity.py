"""The SQL layers give the same tables on Spark as on DuckDB, row for row.

Both engines build staging, quarantine, the split and the EDA marts from the
same files; every table is then compared as a multiset of rows (doubles
rounded to 9 decimals: the engines add in different orders). On
ml-latest-small the two sides are the run's one full build of each engine
(conftest's `full_spark_build`, shared with test_spark_build.py), so every
data test runs on Spark as well. Small generated folders cover the .dat and
ml-100k layouts and the hostile corpus, whose verdicts (hostile_corpus.py)
are the quarantine specification on both engines; those run dbt in this
process on the run's SparkSession (spark_sql_support.py).
"""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from spark_sql_support import (  # noqa: E402
    dbt_duckdb,
    dbt_spark,
    differences,
    layout_vars,
    parquet_folder_files,
    schema_files,
    sql_layer_tables,
)

# Each layout's small build: the tables the reading and quarantine rules make
# (the split and the EDA marts are compared on ml-latest-small).
STAGING = ["path:models/staging"]


def test_every_sql_table_is_identical_on_ml_latest_small(full_spark_build):
    tables = sql_layer_tables(full_spark_build.duckdb)
    # the layers' public and internal tables: a table silently not built would not be compared
    assert {"stg_movielens__ratings", "quarantine_ratings", "int_ratings_split", "dataset_overview",
            "genre_summary", "user_activity", "movies", "users"} <= set(tables)
    assert len(tables) == 26
    assert differences(full_spark_build.duckdb, parquet_folder_files(full_spark_build.spark_tables), tables) == {}


def test_the_popular_movies_fallback_is_identical(full_spark_build):
    """popular_movies is plain SQL (int_popular_movies): the same list, ranks included, on both engines."""
    tables = ["int_popular_movies", "popular_movies"]
    assert differences(full_spark_build.duckdb, parquet_folder_files(full_spark_build.spark_tables), tables) == {}


def test_the_split_is_the_same_rating_by_rating(full_spark_build):
    """The md5 protocol on its own: the same ratings land in test and in each fold."""
    import duckdb

    query = ("select count(*), sum(case when is_test then 1 else 0 end), "
             "sum(coalesce(cv_fold, -1) * movie_id) from {}")
    with duckdb.connect(str(full_spark_build.duckdb), read_only=True) as con:
        duck = con.execute(query.format("int_ratings_split")).fetchall()[0]
        sparked = con.execute(query.format(parquet_folder_files(full_spark_build.spark_tables)("int_ratings_split"))
                              ).fetchall()[0]
    assert sparked == duck
    assert 0.15 < duck[1] / duck[0] < 0.25  # test_percent 20: the hash really splits


@pytest.mark.parametrize("layout", ["hostile_csv", "hostile_dat", "100k"])
def test_small_layouts_are_identical(spark, tmp_path_factory, sql_build, layout):
    work = tmp_path_factory.mktemp(layout)
    shared = sql_build(layout)  # DuckDB's side: the run's one build of that folder
    written, database = shared.written, shared.database
    # Spark reads a plainly named copy: Hadoop paths read braces as a glob
    shutil.copytree(shared.folder, work / "data")
    built = dbt_spark(["run"], work / "spark", schema=f"parity_{layout}", dbt_vars=layout_vars(work / "data"),
                      select=STAGING)
    assert built, f"dbt run --target spark failed; logs in {work / 'spark' / 'logs'}"

    tables = sql_layer_tables(database, STAGING)
    assert len(tables) == 12
    assert differences(database, schema_files(spark, f"parity_{layout}"), tables) == {}

    if isinstance(written, dict):  # the hostile corpus: each row's verdict, on Spark too
        for file in written.values():
            table = file.name.split(".")[0]
            reasons = Counter(dict(spark.sql(
                f"select reason, count(*) from parity_{layout}.quarantine_{table} group by reason").collect()))
            assert reasons == file.quarantined, file.name
