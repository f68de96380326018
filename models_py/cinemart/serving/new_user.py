"""Recommendations for a user the served model has never seen, from a handful of ratings, without a retrain.

    served = ServedModel.load("warehouse/cinemart.duckdb")
    for rec in served.recommend({260: 5.0, 1196: 4.5, 1210: 4.0}, n=10):
        print(rec.rank, rec.movie_id, rec.title, rec.score, rec.source)

The user's factor row is solved from their ratings against the served model's
movie factors (`cinemart.models.fold_in`: one ALS half-step, what `implicit`'s
`recalculate_user` does, for every served model kind), then scored by the
one scorer every served list uses (`cinemart.serving.scoring.top_n`), the
rated movies excluded. Everything comes from the published warehouse, read
only: serving_settings says which model serves recommendations, its factor
table gives the movie side, ranking_evaluation.parameters its settings, so a
fold-in follows every publish and rollback. DuckDB warehouses only (the Spark
engine's tables live in a metastore; the same code works on its factor table
exported to a DuckDB file).

When the ratings teach the model nothing (a folded-in row the model cannot
personalise: `cinemart.models.base.Factors.personalised`), the answer is the
popular_movies fallback, tagged source = 'popular_fallback', as recommend_for
and user_recommendations give such a user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
import scipy.sparse as sp

from cinemart.data.ids import IdIndex
from cinemart.models.base import Factors
from cinemart.models.blend import BlendWeights, blend_user_rows
from cinemart.models.fold_in import FoldIn, fold_in
from cinemart.serving.explanations import because_you_liked
from cinemart.serving.scoring import top_n
from cinemart.warehouse.ease_tables import BLEND_MODEL
from cinemart.warehouse.factor_tables import ServedFactors

#: The factor table behind each servable model (the dbt models' names).
FACTOR_TABLES = {"implicit_als": "implicit_factors", "explicit_als": "als_factors", "popularity": "popularity_factors",
                 "ease": "ease_factors", "ease_implicit_blend": "blend_factors"}
#: Fold-in kinds that solve against the movie side's Y'Y (computed once per load; the others never need it, and
#: for EASE's movies x m side it would cost m^2 x movies).
GRAM_KINDS = ("implicit", "mllib_implicit")
#: The blend's halves, in its column order (cinemart.models.blend).
BLEND_HALVES = ("ease", "implicit_als")
#: MovieLens's rating scale (half stars; ml-100k and ml-1m use whole stars within it).
RATING_RANGE = (0.5, 5.0)


class RecommendError(ValueError):
    """Input or warehouse the caller can fix; the message is one line naming what is wrong."""


class Recommendation(NamedTuple):
    rank: int
    movie_id: int
    title: str
    score: float
    source: str  # fold_in | popular_fallback | personalised (a known user's served list)


def parse_ratings(text: str) -> dict[int, float]:
    """'260:5,1196:4.5' -> {260: 5.0, 1196: 4.5}; a RecommendError names the first bad pair."""
    pairs = [part.strip() for part in str(text).split(",") if part.strip()]
    if not pairs:
        raise RecommendError("--ratings is empty; give movie_id:rating pairs, e.g. 260:5,1196:4.5")
    ratings: dict[int, float] = {}
    for pair in pairs:
        movie, sep, value = pair.partition(":")
        try:
            movie_id, rating = int(movie), float(value)
        except ValueError:
            movie_id, rating = None, None
        if not sep or movie_id is None or not np.isfinite(rating):
            raise RecommendError(f"--ratings: {pair!r} is not movie_id:rating (e.g. 260:5)")
        if not RATING_RANGE[0] <= rating <= RATING_RANGE[1]:
            raise RecommendError(f"--ratings: rating {value.strip()} for movie {movie_id} is outside "
                                 f"{RATING_RANGE[0]}..{RATING_RANGE[1]}")
        if movie_id in ratings:
            raise RecommendError(f"--ratings: movie {movie_id} is rated twice")
        ratings[movie_id] = rating
    return ratings


def connect(database: Path):
    """A read-only connection to a built warehouse, or one line saying why there is none."""
    import duckdb

    database = Path(database)
    if not database.is_file():
        raise RecommendError(f"no warehouse at {database}; build one with `cinemart build`")
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error as exc:
        raise RecommendError(f"cannot open {database} read-only: {str(exc).splitlines()[0]}") from None
    missing = {"serving_settings", "ranking_evaluation", "movies", "popular_movies"} - {
        name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
    if missing:
        con.close()
        raise RecommendError(f"{database} is not a complete Cinemart warehouse (no {', '.join(sorted(missing))}); "
                             "run `cinemart build`")
    return con


@dataclass(frozen=True)
class FoldSide:
    """One model's movie side as fold-in solves a user row against it."""

    fold: FoldIn
    item_factors: np.ndarray
    item_bias: np.ndarray
    global_mean: float
    gram: np.ndarray | None  # item_factors' Y'Y in float64, for GRAM_KINDS

    @classmethod
    def of(cls, fold: FoldIn, factors: Factors) -> FoldSide:
        items = factors.item_factors.astype(np.float64)
        return cls(fold, factors.item_factors, factors.item_bias.astype(np.float64), factors.global_mean,
                   items.T @ items if fold.kind in GRAM_KINDS else None)

    def row(self, idx: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float]:
        return fold_in(self.fold, self.item_factors, self.item_bias, self.global_mean, idx, values, self.gram)


def _blend_sides(con, parameters: str, served: ServedFactors) -> tuple[tuple[FoldSide, ...], BlendWeights]:
    """The blend's two halves, from their own served factor tables, and the weights int_blend_factors used."""
    p = json.loads(parameters)
    halves = [ServedFactors.from_table(name, con.sql(f"select * from {FACTOR_TABLES[name]}").to_arrow_table())
              for name in BLEND_HALVES]
    ease, implicit = (half.aligned(served.users, served.movies) for half in halves)
    weights = BlendWeights.of(ease, implicit, float(p["ease_weight"]))
    return (FoldSide.of(FoldIn.from_parameters("ease", p["ease"]), ease),
            FoldSide.of(FoldIn.from_parameters("implicit_als", p["implicit_als"]), implicit)), weights


@dataclass(frozen=True)
class ServedModel:
    """The served recommendations model's movie side, loaded from a warehouse, ready to fold users in."""

    model: str
    run_id: str
    sides: tuple[FoldSide, ...]  # the model's own movie side; the blend's two halves
    blend: BlendWeights | None  # how the blend combines its halves' user rows
    movie_ids: np.ndarray  # sorted MovieLens ids of the factor table's movies
    item_factors: np.ndarray  # (n_movies, k) float32, as stored
    item_bias: np.ndarray  # (n_movies,)
    global_mean: float
    titles: Mapping[int, str]
    catalogue: frozenset[int]  # every movie_id of `movies`, rated or not
    popular: tuple[tuple[int, float], ...]  # popular_movies (movie_id, damped mean) in rank order

    @classmethod
    def load(cls, database: Path) -> ServedModel:
        con = connect(database)
        try:
            (model, run_id), = con.execute(
                "select recommendations_model, recommendations_run_id from serving_settings").fetchall()
            found = con.execute("select parameters from ranking_evaluation where model = ? and protocol = 'random'",
                                [model]).fetchall()
            if len(found) != 1:
                raise RecommendError(f"{database}: ranking_evaluation has no parameters for the served model {model}")
            served = ServedFactors.from_table(model, con.sql(f"select * from {FACTOR_TABLES[model]}").to_arrow_table())
            if model == BLEND_MODEL:
                sides, blend = _blend_sides(con, found[0][0], served)
            else:
                sides, blend = (FoldSide.of(FoldIn.from_parameters(model, found[0][0], "duckdb"), served.factors),), None
            titles = dict(con.execute("select movie_id, title from movies").fetchall())
            popular = tuple(con.execute("select movie_id, score from popular_movies "
                                        "order by rank").fetchall())
        finally:
            con.close()
        f = served.factors
        return cls(model, run_id, sides, blend, served.movies.ids, f.item_factors, f.item_bias.astype(np.float64),
                   f.global_mean, titles, frozenset(titles), popular)

    def movie_index(self, movie_ids: np.ndarray) -> np.ndarray:
        """Rows of `movie_ids` in the factor table; a RecommendError names every id the model cannot use."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        pos = IdIndex(self.movie_ids).encode(movie_ids)
        found = pos >= 0
        if not found.all():
            missing = movie_ids[~found].tolist()
            unknown = [m for m in missing if m not in self.catalogue]
            unrated = [m for m in missing if m in self.catalogue]
            parts = ([f"{', '.join(map(str, unknown))} (not in movies)"] if unknown else []) + \
                ([f"{', '.join(map(str, unrated))} (in movies, but never rated, so the model has no factors for it)"]
                 if unrated else [])
            raise RecommendError(f"unknown movie id{'s' if len(missing) > 1 else ''}: {'; '.join(parts)}")
        return pos

    def fold_in(self, ratings: Mapping[int, float]) -> Factors:
        """A one-user `Factors` whose user row is solved from `ratings` (movie_id -> rating)."""
        idx = self.movie_index(np.fromiter(ratings.keys(), np.int64, len(ratings)))
        values = np.fromiter(ratings.values(), np.float64, len(ratings))
        if self.blend is None:
            x, b_u = self.sides[0].row(idx, values)
        else:
            x, b_u = blend_user_rows(self.blend, *(side.row(idx, values)[0][None, :] for side in self.sides))[0], 0.0
        return Factors(x[None, :], self.item_factors, np.array([b_u], np.float64), self.item_bias, self.global_mean)

    def recommend(self, ratings: Mapping[int, float], n: int = 10) -> list[Recommendation]:
        """Top-n movies not in `ratings` for a user who rated `ratings`, best first."""
        if not ratings:
            raise RecommendError("give at least one rating")
        factors = self.fold_in(ratings)
        if not factors.personalised()[0]:
            return self.fallback(ratings, n)
        idx = self.movie_index(np.fromiter(ratings.keys(), np.int64, len(ratings)))
        seen = sp.csr_matrix((np.ones(idx.size), (np.zeros(idx.size, np.int64), idx)), shape=(1, self.movie_ids.size))
        seen.sort_indices()
        found = top_n(factors, seen, np.array([0]), n=n)
        return [Recommendation(int(rank), int(self.movie_ids[item]), self.titles.get(int(self.movie_ids[item]), ""),
                               float(score), "fold_in")
                for rank, item, score in zip(found.rank, found.item, found.score)]

    @property
    def rated(self) -> frozenset[int]:
        """The movie ids the model has factors for: the ones a fold-in can use."""
        return frozenset(self.movie_ids.tolist())

    def because_you_liked(self, ratings: Mapping[int, float], recommendations: list[Recommendation]) -> list[int | None]:
        """Per recommendation, the movie of `ratings` the person liked (>= 4 stars, else their best) that is most
        similar to it: cosine on the served model's movie factors (`serving.explanations`); None when none is."""
        idx = self.movie_index(np.fromiter(ratings.keys(), np.int64, len(ratings)))
        user = sp.csr_matrix((np.fromiter(ratings.values(), np.float64, len(ratings)),
                              (np.zeros(idx.size, np.int64), idx)), shape=(1, self.movie_ids.size))
        items = self.movie_index(np.array([r.movie_id for r in recommendations], np.int64))
        found = because_you_liked(self.item_factors, user, np.zeros(items.size, np.int64), items).item
        return [int(self.movie_ids[i]) if i >= 0 else None for i in found]

    def fallback(self, exclude: Mapping[int, float], n: int) -> list[Recommendation]:
        """The top of popular_movies minus `exclude`: recommend_for's answer for a user it cannot personalise."""
        kept = [(m, s) for m, s in self.popular if m not in exclude][:n]
        return [Recommendation(i, m, self.titles.get(m, ""), float(s), "popular_fallback")
                for i, (m, s) in enumerate(kept, start=1)]


def fold_in_user(database: Path, ratings: Mapping[int, float], n: int = 10) -> list[Recommendation]:
    """One-shot `ServedModel.load(database).recommend(ratings, n)` (load once to fold in many users)."""
    return ServedModel.load(database).recommend(ratings, n)


def served_list(database: Path, user_id: int, n: int = 10) -> list[Recommendation]:
    """What `recommend_for(user_id, n)` serves: a user's personalised list, or the popular fallback for an id the
    model has no factor row for or cannot personalise; the same list user_recommendations holds for a user."""
    con = connect(database)
    try:
        rows = con.execute("select rank, movie_id, title, score, source from recommend_for(?, ?) order by rank",
                           [user_id, n]).fetchall()
    finally:
        con.close()
    return [Recommendation(int(r), int(m), t, float(s), src) for r, m, t, s, src in rows]
