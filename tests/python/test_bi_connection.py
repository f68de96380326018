"""Connect a BI tool: SQLAlchemy + duckdb-engine exactly as docs/bi-tools.md tells Superset and friends.

The URL and connect_args below are the documented ones; if this file needs a
different spelling to pass, docs/bi-tools.md is wrong too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError


@pytest.fixture
def engine(real_warehouse) -> Iterator[Engine]:
    engine = create_engine("duckdb:///" + str(real_warehouse.database), connect_args={"read_only": True})
    yield engine
    engine.dispose()  # pooled connections would otherwise keep the file open for the rest of the session


def test_top_genres_by_movie_count(engine):
    with engine.connect() as con:
        rows = con.execute(text("select genre, n_movies from genre_summary order by n_movies desc limit 3")).all()
    assert [tuple(r) for r in rows] == [("Drama", 4361), ("Comedy", 3756), ("Thriller", 1894)]


def test_a_users_recommendations(engine):
    with engine.connect() as con:
        rows = con.execute(text("select rank, title, because_you_liked from user_recommendations "
                                "where user_id = :user order by rank"), {"user": 1}).all()
    assert [r.rank for r in rows] == list(range(1, 11))
    assert all(r.title and r.because_you_liked for r in rows)


def test_a_movies_similar_movies(engine):
    with engine.connect() as con:
        rows = con.execute(text("select similar_title, similarity from similar_movies "
                                "where title = :title order by rank"), {"title": "Toy Story"}).all()
    assert len(rows) == 10
    assert "Toy Story 2" in {r.similar_title for r in rows}
    similarities = [r.similarity for r in rows]
    assert similarities == sorted(similarities, reverse=True)


@pytest.mark.parametrize("statement", [
    "delete from user_recommendations",
    "create table notes (note varchar)",
])
def test_the_documented_connection_cannot_write(engine, statement):
    with engine.connect() as con, pytest.raises(DBAPIError, match="read-only mode"):
        con.execute(text(statement))
    with engine.connect() as con:
        assert con.execute(text("select count(*) from user_recommendations where user_id = 1")).scalar() == 10
