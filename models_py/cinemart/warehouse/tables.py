"""The DuckDB engine's front door: one function per dbt Python model.

Each dbt Python model (models/marts/recommender/, models/intermediate/recommender/) is one line: it passes the
relations it refs (`dbt.ref(...)` stays literally in the model file, where dbt
parses it) and the `model_settings` JSON to the function of the same name here,
and returns the Arrow table it gets back. The relations are DuckDB relations;
the Spark engine (`cinemart.spark.tables`) provides the same functions over
Spark DataFrames, and `cinemart.engine.tables_for(session)` picks one by the
session the model receives.

Internal DAG (-> = refs; every configuration is fitted once per build). dbt
enforces contracts on SQL models only, so a public table a Python model makes
is an `int_` Python model plus a contracted SQL model of the public name:

    int_ratings_split -> int_als_grid_search -> als_grid_search (SQL)
    als_grid_search -> int_als_factors -> als_predictions; -> als_factors (SQL) -> user_factors, movie_factors
    int_ratings_split -> implicit_grid_search -> int_implicit_factors -> implicit_factors (SQL)
    int_ratings_split -> popularity_factors
    int_ratings_split -> ease_grid_search -> int_ease_factors -> ease_factors (SQL)
    int_ratings_split, implicit_grid_search, ease_grid_search, als_grid_search, int_als_factors,
        int_movie_content_vectors -> int_ranking_evaluation -> ranking_evaluation (SQL)
    ranking_evaluation, implicit_factors, ease_factors -> int_blend_factors -> blend_factors (SQL)
    ranking_evaluation + factor tables -> serving_settings; with int_popular_movies -> int_user_recommendations
    stg_movielens__movies, stg_movielens__tags -> int_movie_content_vectors
    ranking_evaluation + taste factor tables + int_movie_content_vectors -> int_movie_similarity_vectors
        -> int_similar_movies -> similar_movies (SQL); and with int_ratings_split -> int_similar_movies_cold_start
        -> similar_movies_cold_start (SQL)
    int_ratings_split -> int_popular_movies (SQL) -> popular_movies (SQL, recommend_for's fallback)
    int_ratings_split, ranking_evaluation, implicit_grid_search, ease_grid_search, int_als_factors,
        int_popular_movies -> int_ranking_evaluation_by_activity -> ranking_evaluation_by_activity (SQL)
        (in one dbt build it reuses int_ranking_evaluation's lists: ranking_tables.evaluation_lists)
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pyarrow as pa

from cinemart.data.ratings import PARTS, SPLIT_COLUMNS, SplitRatings
from cinemart.memory import check_beside_duckdb, parse_size
from cinemart.warehouse import activity_tables as activity
from cinemart.warehouse import ease_tables as ease
from cinemart.warehouse import explicit_tables as explicit
from cinemart.warehouse import ranking_tables as ranking
from cinemart.warehouse import similarity_tables as similarity
from cinemart.warehouse.factor_tables import ServedFactors

Relation = Any  # a duckdb.DuckDBPyRelation, as dbt.ref() returns it

#: Which table holds each model's served factors (the relations the serving models ref, in this order).
FACTOR_TABLES = ("implicit_als", "explicit_als", "popularity", ease.MODEL_NAME, ease.BLEND_MODEL)


class _SplitOnce:
    """int_ratings_split read into NumPy once per process, shared by every Python model of the build.

    Seven models need the split. Fetching, sorting and hashing it once per
    model would cost, at 25M ratings, 725 MB and seconds of work per copy,
    with two copies alive when dbt runs two models at once. The key is the
    split's content, taken by DuckDB in one parallel scan (row count and an
    order-free xor of row hashes; rows are unique per (user, movie)), so a
    rebuilt or changed split is read afresh and an unchanged one is never
    re-read, whatever dbt invocation or thread asks. The lock makes a second
    model wait for the first one's read instead of starting its own. One
    split is kept: the memory stays held until the process (the dbt run) ends.
    """

    KEY = "count(*), bit_xor(hash(user_id, movie_id, rating, is_test, cv_fold, rated_day, play_count))"
    LIMIT = "current_setting('memory_limit')"  # DuckDB's share, as this connection has it

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._data: SplitRatings | None = None

    def __call__(self, relation: Relation) -> SplitRatings:
        split = relation.project(SPLIT_COLUMNS)
        ((*key, duckdb_limit),) = split.aggregate(f"{self.KEY}, {self.LIMIT}").fetchall()
        key = tuple(key)
        with self._lock:
            if key != self._key:
                self._key, self._data = None, None  # free the old split before reading the new one
                # a plain `dbt build` meets the budget here, before the first fit reads the ratings
                check_beside_duckdb(key[0], parse_size(duckdb_limit, "DuckDB's memory_limit"))
                # Sorted by DuckDB (parallel) so Python does not sort again.
                data = SplitRatings.from_columns(split.order("user_id, movie_id").fetchnumpy())
                for column in vars(data).values():  # shared: a model that wrote into it would corrupt the others
                    if isinstance(column, np.ndarray):
                        column.flags.writeable = False
                self._key, self._data = key, data
            return self._data


_split = _SplitOnce()


def _columns(relation: Relation, columns: str = "*") -> dict:
    return relation.project(columns).fetchnumpy()


def int_als_grid_search(split: Relation, model_settings: str) -> pa.Table:
    return explicit.grid_search_table(_split(split), explicit.ExplicitSettings.from_dbt(model_settings))


def int_als_factors(split: Relation, als_grid_search: Relation, model_settings: str) -> pa.Table:
    grid = _columns(als_grid_search, f"run_id, {explicit.POINT_COLUMNS}, is_chosen")
    return explicit.fits_table(_split(split), explicit.ExplicitSettings.from_dbt(model_settings), grid)


def _fit(relation: Relation, fit: str, model_name: str) -> ServedFactors | None:
    """One fit ('validation' | 'train' | 'temporal' | 'all') of int_als_factors, loaded for scoring; None when
    the table has no rows (the explicit model is not built on implicit feedback)."""
    return _loaded(model_name, relation.filter(f"fit = '{fit}'"))


def als_predictions(split: Relation, int_als_factors: Relation, als_grid_search: Relation,
                    model_settings: str) -> pa.RecordBatchReader:
    train_fit = _fit(int_als_factors, "train", explicit.MODEL_NAME)
    if train_fit is None:
        return explicit.PREDICTIONS_SCHEMA.empty_table().to_reader()
    grid = _columns(als_grid_search, f"{explicit.POINT_COLUMNS}, is_chosen")
    return explicit.predictions_table(_split(split), train_fit, explicit.ExplicitSettings.from_dbt(model_settings),
                                      explicit.chosen_point(grid))


def implicit_grid_search(split: Relation, model_settings: str) -> pa.Table:
    return ranking.implicit_grid_search_table(_split(split), ranking.RankingSettings.from_dbt(model_settings))


def int_implicit_factors(split: Relation, implicit_grid_search: Relation, model_settings: str) -> pa.Table:
    grid = _columns(implicit_grid_search)
    return ranking.implicit_factors_table(_split(split), ranking.RankingSettings.from_dbt(model_settings),
                                          ranking.chosen_params(grid), str(grid["run_id"][0]))


def ease_grid_search(split: Relation, model_settings: str) -> pa.Table:
    ranking_settings = ranking.RankingSettings.from_dbt(model_settings)
    return ease.ease_grid_search_table(_split(split), ease.EaseSettings.from_dbt(model_settings),
                                       ranking_settings.tuning, ranking_settings.seed)


def int_ease_factors(split: Relation, ease_grid_search: Relation, model_settings: str) -> pa.Table:
    return ease.ease_factors_table(_split(split), ease.chosen_ease(_columns(ease_grid_search)))


def _blend_weight(evaluation: Relation) -> float | None:
    """The EASE weight ranking_evaluation chose for the blend; None when EASE was skipped."""
    rows = evaluation.filter(f"model = '{ease.BLEND_MODEL}' and protocol = 'random' "
                             "and validation_ndcg_at_10 is not null").project("parameters").fetchall()
    return ease.blend_weight(rows[0][0]) if rows else None


def _loaded(model_name: str, relation: Relation) -> ServedFactors | None:
    """A factor table loaded back; None when it has no rows (EASE and the blend when the budget skipped EASE)."""
    table = relation.arrow().read_all()
    return ServedFactors.from_table(model_name, table) if table.num_rows else None


def int_blend_factors(split: Relation, evaluation: Relation, implicit_factors: Relation, ease_factors: Relation,
                      model_settings: str) -> pa.Table:
    return ease.blend_factors_table(_split(split), _loaded("implicit_als", implicit_factors),
                                    _loaded(ease.MODEL_NAME, ease_factors), _blend_weight(evaluation))


def popularity_factors(split: Relation, model_settings: str) -> pa.Table:
    return ranking.popularity_factors_table(_split(split))


def int_ranking_evaluation(split: Relation, implicit_grid_search: Relation, ease_grid_search: Relation,
                           als_grid_search: Relation, int_als_factors: Relation, int_movie_content_vectors: Relation,
                           model_settings: str) -> pa.Table:
    grid = _columns(implicit_grid_search)
    explicit_grid = _columns(als_grid_search, f"{explicit.POINT_COLUMNS}, is_chosen, biased")
    return ranking.ranking_evaluation_table(_split(split), ranking.RankingSettings.from_dbt(model_settings),
                                            ranking.chosen_params(grid), str(grid["run_id"][0]),
                                            ease.chosen_ease(_columns(ease_grid_search)),
                                            {part: _fit(int_als_factors, "train" if part == "test" else part,
                                                        explicit.MODEL_NAME) for part in PARTS},
                                            explicit.chosen_parameters(explicit_grid),
                                            similarity.read_content(int_movie_content_vectors.arrow().read_all()))


def _served(evaluation: Relation, flag: str, factor_tables: dict[str, Relation]) -> ServedFactors:
    """The factors of the model ranking_evaluation flags with `flag`."""
    name = ranking.flagged_model(_columns(evaluation, f"model, {flag}"), flag)
    return ServedFactors.from_table(name, factor_tables[name].arrow().read_all())


def serving_settings(evaluation: Relation, implicit_factors: Relation, als_factors: Relation,
                     popularity_factors: Relation, ease_factors: Relation, blend_factors: Relation,
                     model_settings: str) -> pa.Table:
    tables = dict(zip(FACTOR_TABLES, (implicit_factors, als_factors, popularity_factors, ease_factors, blend_factors)))
    return ranking.serving_settings_table(_served(evaluation, "is_served", tables),
                                          _served(evaluation, "serves_similarity", tables),
                                          ranking.RankingSettings.from_dbt(model_settings))


def int_user_recommendations(split: Relation, evaluation: Relation, implicit_factors: Relation,
                             als_factors: Relation, popularity_factors: Relation, ease_factors: Relation,
                             blend_factors: Relation, int_popular_movies: Relation, model_settings: str) -> pa.Table:
    tables = dict(zip(FACTOR_TABLES, (implicit_factors, als_factors, popularity_factors, ease_factors, blend_factors)))
    return ranking.recommendations_table(_split(split), _served(evaluation, "is_served", tables),
                                         _served(evaluation, "serves_similarity", tables),
                                         _loaded(ease.MODEL_NAME, ease_factors),
                                         _columns(int_popular_movies.filter("fit = 'all'"),
                                                  "movie_id, score"),
                                         ranking.RankingSettings.from_dbt(model_settings))


def int_movie_content_vectors(movies: Relation, tags: Relation, model_settings: str) -> pa.Table:
    catalogue = movies.project("movie_id, genres, release_year").arrow().read_all()
    tagged = _columns(tags, "movie_id, tag")
    return similarity.content_vectors_table(
        catalogue.column("movie_id").to_numpy(), catalogue.column("genres").to_pylist(),
        catalogue.column("release_year").to_numpy(zero_copy_only=False).astype(np.float64),
        tagged["movie_id"], list(tagged["tag"]))


def _taste(evaluation: Relation, implicit_factors: Relation, als_factors: Relation) -> ServedFactors:
    return _served(evaluation, "serves_similarity", {"implicit_als": implicit_factors, "explicit_als": als_factors})


def int_movie_similarity_vectors(evaluation: Relation, implicit_factors: Relation, als_factors: Relation,
                                 content_vectors: Relation, model_settings: str) -> pa.Table:
    return similarity.similarity_vectors_table(content_vectors.arrow().read_all(),
                                               _taste(evaluation, implicit_factors, als_factors),
                                               ranking.RankingSettings.from_dbt(model_settings))


def int_similar_movies(similarity_vectors: Relation, model_settings: str) -> pa.Table:
    return similarity.similar_movies_table(similarity_vectors.arrow().read_all(),
                                           ranking.RankingSettings.from_dbt(model_settings))


def int_similar_movies_cold_start(split: Relation, evaluation: Relation, implicit_factors: Relation,
                                  als_factors: Relation, content_vectors: Relation, model_settings: str) -> pa.Table:
    taste = _taste(evaluation, implicit_factors, als_factors)
    (parameters,) = evaluation.filter(f"model = '{taste.model_name}'").project("parameters").fetchall()[0]
    data = _split(split)
    return similarity.cold_start_table(content_vectors.arrow().read_all(), taste, parameters, "duckdb",
                                       {"movie_id": data.movie_id, "user_id": data.user_id, "rating": data.rating},
                                       ranking.RankingSettings.from_dbt(model_settings))


def int_ranking_evaluation_by_activity(split: Relation, evaluation: Relation, implicit_grid_search: Relation,
                                       ease_grid_search: Relation, int_als_factors: Relation,
                                       int_popular_movies: Relation, model_settings: str) -> pa.Table:
    grid = _columns(implicit_grid_search)
    served = ranking.flagged_model(_columns(evaluation, "model, is_served"), "is_served")
    popular = _columns(int_popular_movies.filter("fit = 'train'"), "movie_id, score")
    return activity.ranking_evaluation_by_activity_table(
        _split(split), ranking.RankingSettings.from_dbt(model_settings), ranking.chosen_params(grid),
        str(grid["run_id"][0]), ease.chosen_ease(_columns(ease_grid_search)), _blend_weight(evaluation),
        _fit(int_als_factors, "train", explicit.MODEL_NAME), served, popular)
