"""The engine front: one call picks the table functions by the session a dbt Python model receives."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from cinemart.engine import tables_for

MODELS_DIRS = [Path(__file__).resolve().parents[2] / "models" / d / "recommender" for d in ("marts", "intermediate")]


def fake_spark_session():
    """An object whose class looks like pyspark's SparkSession (no JVM is started)."""
    cls = type("SparkSession", (), {"__module__": "pyspark.sql.session"})
    return cls()


def test_a_duckdb_connection_gets_the_duckdb_tables_without_importing_pyspark():
    code = ("import sys, duckdb; from cinemart.engine import tables_for; "
            "print(tables_for(duckdb.connect()).__name__, 'pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["cinemart.warehouse.tables", "False"]


def test_a_spark_session_gets_the_spark_tables():
    pytest.importorskip("pyspark")
    assert tables_for(fake_spark_session()).__name__ == "cinemart.spark.tables"
    assert tables_for(duckdb.connect()).__name__ == "cinemart.warehouse.tables"


def public_functions(module) -> set[str]:
    return {name for name, f in inspect.getmembers(module, inspect.isfunction)
            if not name.startswith("_") and f.__module__ == module.__name__}


def test_both_engines_offer_every_python_model_with_the_same_signature():
    """A model file calls tables_for(session).<model name>(...): each engine must have that
    function, with the same parameters (the refs, in the same order, then model_settings),
    and neither engine module offers a function no model file calls."""
    pytest.importorskip("pyspark")
    duck, spark = tables_for(duckdb.connect()), tables_for(fake_spark_session())
    models = sorted(p.stem for d in MODELS_DIRS for p in d.glob("*.py"))
    assert models and public_functions(duck) == public_functions(spark) == set(models)
    for name in models:
        assert list(inspect.signature(getattr(duck, name)).parameters) == \
            list(inspect.signature(getattr(spark, name)).parameters), name


def test_the_duckdb_engine_reads_the_split_once_until_it_changes(monkeypatch):
    """Every Python model asks for int_ratings_split; only a changed split is read again."""
    from cinemart.data.ratings import SplitRatings
    from cinemart.warehouse import tables

    reads = []
    original = SplitRatings.from_columns.__func__
    monkeypatch.setattr(SplitRatings, "from_columns",
                        classmethod(lambda cls, columns: reads.append(1) or original(cls, columns)))
    monkeypatch.setattr(tables, "_split", tables._SplitOnce())
    con = duckdb.connect()
    con.execute("create table int_ratings_split as select *, timestamp '2000-01-01' as rated_at, "
                "cast(null as double) as play_count from (values "
                "(2, 10, 4.0, false, 1, true), (1, 10, 3.5, true, null, false), (1, 11, 5.0, false, 0, false)) "
                "t(user_id, movie_id, rating, is_test, cv_fold, is_after_cut)")
    first = tables._split(con.table("int_ratings_split"))
    assert tables._split(con.sql("select * from int_ratings_split")) is first
    assert len(reads) == 1
    assert first.user_id.tolist() == [1, 1, 2] and first.cv_fold.tolist() == [-1, 0, 1]
    with pytest.raises(ValueError, match="read-only"):
        first.rating[0] = 1.0
    con.execute("update int_ratings_split set rating = 4.5 where user_id = 2")
    changed = tables._split(con.table("int_ratings_split"))
    assert len(reads) == 2 and changed.rating.tolist() == [3.5, 5.0, 4.5]


def test_split_ratings_come_out_in_user_movie_order_whether_or_not_they_came_in_it():
    """DuckDB hands the split over sorted, so the sort is skipped; any other order is sorted here."""
    from cinemart.data.ratings import SplitRatings

    def columns(users, movies):
        return {"user_id": np.array(users), "movie_id": np.array(movies), "rating": np.arange(len(users)) + 1.0,
                "is_test": np.zeros(len(users), bool), "cv_fold": np.zeros(len(users), np.int32),
                "is_after_cut": np.zeros(len(users), bool)}

    sorted_in = SplitRatings.from_columns(columns([1, 1, 2, 3], [5, 7, 1, 1]))
    assert sorted_in.rating.tolist() == [1.0, 2.0, 3.0, 4.0]
    shuffled = SplitRatings.from_columns(columns([2, 1, 3, 1], [1, 7, 1, 5]))
    assert shuffled.user_id.tolist() == [1, 1, 2, 3] and shuffled.movie_id.tolist() == [5, 7, 1, 1]
    assert shuffled.rating.tolist() == [4.0, 2.0, 1.0, 3.0]


def test_interactions_without_ratings_become_top_ratings_with_their_plays():
    """Implicit feedback (every rating null): each interaction counts as a top rating and keeps its plays,
    sorted with its row; a rated split keeps its ratings and has no plays."""
    from cinemart.data.ratings import INTERACTION_RATING, SplitRatings

    base = {"user_id": np.array([2, 1]), "movie_id": np.array([1, 7]), "is_test": np.zeros(2, bool),
            "cv_fold": np.zeros(2, np.int32), "is_after_cut": np.zeros(2, bool)}
    nulls = np.ma.masked_all(2, np.float64)
    implicit = SplitRatings.from_columns({**base, "rating": nulls, "play_count": np.ma.array([3.0, 1.0])})
    assert implicit.implicit and implicit.rating.tolist() == [INTERACTION_RATING] * 2
    assert implicit.play_count.tolist() == [1.0, 3.0]  # user 1's row first
    rated = SplitRatings.from_columns({**base, "rating": np.array([4.0, 3.0]), "play_count": nulls})
    assert not rated.implicit and rated.play_count is None and rated.rating.tolist() == [3.0, 4.0]
    with pytest.raises(ValueError, match="lack play_count on some rows"):
        SplitRatings.from_columns({**base, "rating": nulls, "play_count": np.ma.array([1.0, 0.0], mask=[0, 1])})
