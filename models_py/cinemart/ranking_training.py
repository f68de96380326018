"""The ranking side of a build, as the warehouse tables it produces.

  implicit_grid_search_table -> implicit_grid_search (NDCG@10 on a validation fold of train)
  ranking_evaluation_table   -> ranking_evaluation   (implicit ALS, popularity, explicit ALS on test)
  implicit_factors_table     -> implicit_factors     (chosen implicit config refit on all clean ratings)
  recommendations_table      -> int_user_recommendations (served model, from its factor *table*)
  similar_movies_table       -> int_similar_movies

Serving reads the factors back from the warehouse tables rather than from a
fitted object, so the materialized lists and the SQL macros recommend_for /
similar_to score from exactly the same numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any, Callable, Mapping

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from cinemart.explicit_training import ExplicitSettings, factor_column, fit as fit_explicit
from cinemart.indexing import IdIndex
from cinemart.ranking import ExplicitFactorModel, ImplicitParams, fit_implicit_als, fit_popularity, interaction_matrix
from cinemart.ranking_metrics import ranking_metrics, relevant_matrix, top_k_matrix
from cinemart.ranking_tuning import PRESETS, select_best, tune_implicit, validate_grid
from cinemart.ratings_data import (IndexedRatings, SplitRatings, TuningPolicy, library_versions, plan_tuning,
                                   run_id)
from cinemart.settings import load_settings, require_int, resolve_grid
from cinemart.retrieval import because_you_liked, similar, top_n
from cinemart.tuning import GridPoint

Progress = Callable[[str], None]
TASTE_MODELS = ("implicit_als", "explicit_als")  # factor models whose movie vectors mean "taste"
VALIDATION_FOLD = 0


def _print(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class RankingSettings:
    grid_name: str
    grid: dict[str, list]
    seed: int = 2020
    top_n: int = 10
    similar_min_ratings: int = 10
    tuning: TuningPolicy = TuningPolicy()


    @classmethod
    def from_dbt(cls, model_settings: str) -> RankingSettings:
        """From the `model_settings` JSON a dbt Python model gets (see dbt_project.yml)."""
        return cls.from_config(load_settings(model_settings))

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> RankingSettings:
        grid_name, grid = resolve_grid("implicit_grid", values.get("implicit_grid", "default"), PRESETS)
        validate_grid(grid)
        return cls(grid_name=grid_name, grid=grid,
                   seed=require_int("implicit_seed", values.get("implicit_seed", 2020), 0),
                   similar_min_ratings=require_int("similar_movies_min_ratings",
                                                   values.get("similar_movies_min_ratings", 10), 1),
                   tuning=TuningPolicy.from_config(values))


def _params_json(params: ImplicitParams) -> str:
    return json.dumps(asdict(params), sort_keys=True)


def ranking_run_id(data: SplitRatings, settings: RankingSettings) -> str:
    return run_id("implicit_als", data.fingerprint, asdict(settings))


def implicit_grid_search_table(data: SplitRatings, settings: RankingSettings, progress: Progress = _print) -> pa.Table:
    """Tune implicit ALS on train: fit on folds != 0, NDCG@10 on fold 0 (never the test part).

    Past tuning_max_ratings the same is done on a user sample (ratings_data.plan_tuning).
    """
    plan = plan_tuning(data, settings.tuning, settings.seed)
    train = IndexedRatings.build(data, plan.rows)
    is_validation = data.cv_fold[plan.rows] == VALIDATION_FOLD
    n_points = len(validate_grid(settings.grid))
    progress(f"implicit ALS grid search ({plan.strategy}): {n_points} configurations, validation fold "
             f"{VALIDATION_FOLD} ({int(is_validation.sum()):,} of {train.rating.size:,} train ratings)")
    results = tune_implicit(train.user_idx, train.movie_idx, train.rating, is_validation, len(train.users),
                            len(train.movies), settings.grid, seed=settings.seed, k=settings.top_n, progress=progress)
    best = select_best(results)
    rid = ranking_run_id(data, settings)
    return pa.table({
        "run_id": [rid] * len(results),
        "config_id": list(range(1, len(results) + 1)),
        "factors": [r.params.factors for r in results],
        "regularization": [float(r.params.regularization) for r in results],
        "alpha": [float(r.params.alpha) for r in results],
        "iterations": [r.params.iterations for r in results],
        "confidence": [r.params.confidence for r in results],
        "confidence_threshold": [float(r.params.threshold) for r in results],
        "validation_ndcg_at_10": [r.metrics.ndcg for r in results],
        "validation_precision_at_10": [r.metrics.precision for r in results],
        "fit_seconds": [r.fit_seconds for r in results],
        "is_chosen": [r is best for r in results],
        "grid_name": [settings.grid_name] * len(results),
        "seed": [settings.seed] * len(results),
        "tuning_strategy": ["holdout" if plan.strategy == "kfold" else plan.strategy] * len(results),
        "n_tuning_ratings": [plan.n_ratings] * len(results),
    })


def chosen_params(grid: Mapping[str, np.ndarray]) -> ImplicitParams:
    chosen = np.flatnonzero(np.asarray(grid["is_chosen"], dtype=bool))
    if chosen.size != 1:
        raise ValueError(f"implicit_grid_search must flag exactly one chosen configuration, found {chosen.size}")
    i = int(chosen[0])
    return ImplicitParams(factors=int(grid["factors"][i]), regularization=float(grid["regularization"][i]),
                          alpha=float(grid["alpha"][i]), iterations=int(grid["iterations"][i]),
                          confidence=str(grid["confidence"][i]), threshold=float(grid["confidence_threshold"][i]))


def ranking_evaluation_table(data: SplitRatings, settings: RankingSettings, implicit: ImplicitParams,
                             explicit_settings: ExplicitSettings, explicit: GridPoint,
                             progress: Progress = _print) -> pa.Table:
    """Every model fitted on train and judged on test by the same protocol.

    Test ratings of users or movies absent from train cannot be recommended by
    any model and are left out of the relevant sets (counted in n_cold_start_test_rows).
    """
    train = IndexedRatings.build(data, data.train)
    n_users, n_movies = len(train.users), len(train.movies)
    test_users = train.users.encode(data.user_id[data.is_test])
    test_movies = train.movies.encode(data.movie_id[data.is_test])
    warm = (test_users >= 0) & (test_movies >= 0)
    relevant = relevant_matrix(test_users[warm], test_movies[warm], data.rating[data.is_test][warm], n_users, n_movies)
    eval_users = np.flatnonzero(np.diff(relevant.indptr))
    seen = interaction_matrix(train.user_idx, train.movie_idx, np.ones(train.rating.size), n_users, n_movies)

    models = {
        "implicit_als": (lambda: fit_implicit_als(train.user_idx, train.movie_idx, train.rating, n_users, n_movies,
                                                  implicit, settings.seed), _params_json(implicit)),
        "popularity": (lambda: fit_popularity(train.movie_idx, train.rating, n_users, n_movies),
                       json.dumps({"score": "train ratings >= 4.0 per movie"})),
        "explicit_als": (lambda: ExplicitFactorModel(fit_explicit(train, explicit_settings, explicit)),
                         json.dumps({**asdict(explicit), "biased": explicit_settings.biased})),
    }
    rows = []
    for name, (make, params) in models.items():
        started = time.perf_counter()
        model = make()
        recs = top_n(model, seen, eval_users, n=settings.top_n)
        metrics = ranking_metrics(top_k_matrix(recs.user, recs.rank, recs.item, n_users, settings.top_n), relevant)
        seconds = time.perf_counter() - started
        progress(f"ranking evaluation {name}: precision@10={metrics.precision:.4f} ndcg@10={metrics.ndcg:.4f} "
                 f"({seconds:.1f}s)")
        rows.append({"model": name, "parameters": params, **metrics.as_dict(), "seconds": seconds})
    served = max(rows, key=lambda r: r["ndcg"])["model"]
    # cosine on popularity's rank-1 factors is 1 for every pair: similarity and
    # explanations come from the best taste model when popularity is served
    taste = max((r for r in rows if r["model"] in TASTE_MODELS), key=lambda r: r["ndcg"])["model"]
    rid = ranking_run_id(data, settings)
    return pa.table({
        "run_id": [rid] * len(rows),
        "model": [r["model"] for r in rows],
        "precision_at_10": [r["precision"] for r in rows],
        "recall_at_10": [r["recall"] for r in rows],
        "ndcg_at_10": [r["ndcg"] for r in rows],
        "map_at_10": [r["map"] for r in rows],
        "catalogue_coverage": [r["coverage"] for r in rows],
        "n_users_evaluated": [r["n_users"] for r in rows],
        "n_cold_start_test_rows": [int((~warm).sum())] * len(rows),
        "is_served": [r["model"] == served for r in rows],
        "serves_similarity": [r["model"] == taste for r in rows],
        "parameters": [r["parameters"] for r in rows],
        "evaluation_seconds": [r["seconds"] for r in rows],
        "library_versions": [library_versions()] * len(rows),
    })


def implicit_factors_table(data: SplitRatings, settings: RankingSettings, params: ImplicitParams,
                           progress: Progress = _print) -> pa.Table:
    """The chosen implicit configuration refit on all clean ratings: the factors that are served."""
    started = time.perf_counter()
    everything = IndexedRatings.build(data)
    n_users, n_movies = len(everything.users), len(everything.movies)
    model = fit_implicit_als(everything.user_idx, everything.movie_idx, everything.rating, n_users, n_movies,
                             params, settings.seed)
    progress(f"implicit ALS final refit on all {everything.rating.size:,} ratings in {time.perf_counter() - started:.1f}s")
    n = n_users + n_movies
    return pa.table({
        "run_id": [ranking_run_id(data, settings)] * n,
        "entity": ["user"] * n_users + ["movie"] * n_movies,
        "id": np.concatenate([everything.users.ids, everything.movies.ids]),
        "bias": np.zeros(n, dtype=np.float32),
        "factors": factor_column(np.vstack([model.user_factors, model.item_factors])),
        "n_ratings": np.concatenate([np.bincount(everything.user_idx, minlength=n_users),
                                     np.bincount(everything.movie_idx, minlength=n_movies)]),
        "global_mean": np.zeros(n),
    })


@dataclass(frozen=True)
class ServedFactors:
    """A factor table (als_factors or implicit_factors) loaded for retrieval."""

    model_name: str
    run_id: str
    users: IdIndex
    movies: IdIndex
    model: ExplicitFactorModel
    movie_ratings: np.ndarray  # ratings per movie the factors were fitted on

    @classmethod
    def from_table(cls, model_name: str, table: pa.Table) -> ServedFactors:
        entity = np.asarray(table.column("entity").to_numpy(zero_copy_only=False))
        ids = table.column("id").to_numpy()
        k = table.schema.field("factors").type.list_size
        factors = table.column("factors").combine_chunks().flatten().to_numpy().reshape(-1, k)
        bias = table.column("bias").to_numpy()
        mean = table.column("global_mean").to_numpy()
        is_user, is_movie = entity == "user", entity == "movie"
        u_order = np.argsort(ids[is_user], kind="stable")
        m_order = np.argsort(ids[is_movie], kind="stable")
        fitted = SimpleNamespace(
            user_factors=factors[is_user][u_order], item_factors=factors[is_movie][m_order],
            user_bias=bias[is_user][u_order], item_bias=bias[is_movie][m_order],
            global_mean=float(mean[0]) if mean.size else 0.0,
        )
        return cls(model_name, str(table.column("run_id")[0]), IdIndex(ids[is_user][u_order]),
                   IdIndex(ids[is_movie][m_order]), ExplicitFactorModel(fitted),
                   table.column("n_ratings").to_numpy()[is_movie][m_order])


def flagged_model(evaluation: Mapping[str, np.ndarray], flag: str) -> str:
    """The model ranking_evaluation flags with `flag` (is_served or serves_similarity)."""
    flagged = [str(m) for m, f in zip(evaluation["model"], evaluation[flag]) if f]
    if len(flagged) != 1:
        raise ValueError(f"ranking_evaluation must flag exactly one model {flag}, found {flagged}")
    return flagged[0]


def recommendations_table(data: SplitRatings, served: ServedFactors, taste: ServedFactors, settings: RankingSettings,
                          progress: Progress = _print) -> pa.Table:
    """Top-N unseen movies for every user from `served`, each with the liked movie most similar in `taste`."""
    started = time.perf_counter()
    users = served.users.encode(data.user_id)
    movies = served.movies.encode(data.movie_id)
    if (users < 0).any() or (movies < 0).any():
        raise ValueError("served factors do not cover every clean rating; rebuild the factor tables")
    shape = (len(served.users), len(served.movies))
    ratings = sp.csr_matrix((data.rating.astype(np.float32), (users, movies)), shape=shape)
    ratings.sort_indices()
    recs = top_n(served.model, ratings, np.arange(shape[0]), n=settings.top_n)
    why = because_you_liked(_aligned_taste_factors(served, taste), ratings, recs.user, recs.item)
    progress(f"recommendations: top-{settings.top_n} for {shape[0]:,} users from {served.model_name} "
             f"in {time.perf_counter() - started:.1f}s")
    return pa.table({
        "user_id": served.users.decode(recs.user),
        "rank": recs.rank.astype(np.int32),
        "movie_id": served.movies.decode(recs.item),
        "score": recs.score,
        "because_you_liked_movie_id": pa.array(served.movies.decode(np.maximum(why.item, 0)), mask=why.item < 0),
        "because_similarity": pa.array(why.similarity, mask=why.item < 0),
        "model": [served.model_name] * recs.user.size,
        "run_id": [served.run_id] * recs.user.size,
    })


def _aligned_taste_factors(served: ServedFactors, taste: ServedFactors) -> np.ndarray:
    """`taste`'s movie vectors in `served`'s movie order (both are fitted on every clean rating)."""
    rows = taste.movies.encode(served.movies.ids)
    if (rows < 0).any():
        raise ValueError("the taste model's factors do not cover the served model's movies")
    return taste.model.taste_model.item_factors[rows]


def similar_movies_table(served: ServedFactors, settings: RankingSettings, progress: Progress = _print) -> pa.Table:
    """Top-N cosine neighbours for every movie with enough ratings, among such movies.

    Factors of a movie rated a handful of times are mostly prior; listing it,
    or listing it as a neighbour, would be noise (README "Similar movies").
    A movie whose factors are all zero (implicit ALS with threshold confidence
    and no rating >= the threshold) has no direction, so no cosine: left out too.
    """
    started = time.perf_counter()
    has_direction = np.abs(served.model.taste_model.item_factors).sum(axis=1) > 0
    eligible = np.flatnonzero((served.movie_ratings >= settings.similar_min_ratings) & has_direction)
    if eligible.size < 2:
        return pa.table({"movie_id": pa.array([], pa.int64()), "rank": pa.array([], pa.int32()),
                         "similar_movie_id": pa.array([], pa.int64()), "similarity": pa.array([], pa.float32()),
                         "model": pa.array([], pa.string()), "run_id": pa.array([], pa.string())})
    found = similar(served.model, eligible, n=settings.top_n, restrict_to=eligible)
    progress(f"similar movies: top-{settings.top_n} for {eligible.size:,} movies with >= "
             f"{settings.similar_min_ratings} ratings in {time.perf_counter() - started:.1f}s")
    return pa.table({
        "movie_id": served.movies.decode(found.item),
        "rank": found.rank.astype(np.int32),
        "similar_movie_id": served.movies.decode(found.similar_item),
        "similarity": found.similarity,
        "model": [served.model_name] * found.item.size,
        "run_id": [served.run_id] * found.item.size,
    })
