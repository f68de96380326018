"""EASE and its blend with implicit ALS on Spark, as the DuckDB engine's tables (`cinemart.warehouse.ease_tables`).

  ease_grid_search(split, settings_json)                               -> ease_grid_search
  ease_factors(split, ease_grid_search, settings_json)                 -> int_ease_factors
  blend_factors(split, evaluation, implicit_factors, ease_factors, settings_json) -> int_blend_factors

EASE is fitted by `cinemart.spark.ease.fit_ease_table`: the Gram matrix on
the executors, the inverse on the driver with the DuckDB engine's LAPACK
code, within the same budget rule (`ease_max_memory`). The blend combines a
fit's EASE and implicit-ALS factor tables on the driver with the NumPy of
`cinemart.models.blend`: users x (m + k) values, as the taste model's table
is read there for similar movies. Spark's implicit ALS is MLlib's, so its
blend is not DuckDB's; EASE is the same model on both engines.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.spark._compat import EaseChoice, EaseSettings, ServedFactors, blend, ease_items, validate_ease_grid
from cinemart.spark._compat import ease_tables as shared
from cinemart.spark.ease import fit_ease_table
from cinemart.spark.frames import fingerprint, spark_run_id, split_frame
from cinemart.spark.resources import Held, release_after_write
from cinemart.spark.retrieval import ranking_metrics, top_n_unseen, validation_part

TOP_N = 10
FULL_SCOPE = shared.FULL_SCOPE

GRID_SCHEMA = ("run_id string, config_id bigint, regularization double, min_rating double, "
               "validation_ndcg_at_10 double, validation_precision_at_10 double, fit_seconds double, "
               "n_movies_kept bigint, n_movies_liked bigint, scope string, max_memory_bytes bigint, "
               "is_chosen boolean, grid_name string, tuning_strategy string, n_tuning_ratings bigint")
FACTOR_SCHEMA = ("run_id string, entity string, id bigint, bias float, factors array<float>, n_ratings bigint, "
                 "global_mean double")


def release(table: DataFrame | None) -> None:
    """Unpersist a fit's cached factor table."""
    if table is not None and table.is_cached:
        table.unpersist()


def ease_grid_search(split: DataFrame, settings_json: str, ranking_settings) -> DataFrame:
    """Each EASE grid point fitted on train minus CV fold 0 (the implicit grid's user sample past
    tuning_max_ratings), NDCG@10 on fold 0; the table of `ease_tables.ease_grid_search_table`."""
    settings = EaseSettings.from_dbt(settings_json, engine="spark")
    points = validate_ease_grid(settings.grid)
    with Held() as held:
        data_fingerprint, plan, fit_part, relevant, users, n_catalogue = validation_part(
            split, held, ranking_settings.tuning, ranking_settings.seed)
        results = []
        for params in points:
            started = time.perf_counter()
            table, scope = fit_ease_table(fit_part, params, settings.max_bytes)
            seconds = time.perf_counter() - started
            try:
                metrics = None if table is None else ranking_metrics(
                    top_n_unseen(table, fit_part, users, TOP_N), relevant, TOP_N, n_catalogue)
            finally:
                release(table)
            results.append((params, scope, metrics, seconds if table is not None else None))
    fitted = [r for r in results if r[2] is not None]
    best = max(fitted, key=lambda r: r[2]["ndcg"]) if fitted else None  # ties: the earlier point
    run = spark_run_id(shared.MODEL_NAME, data_fingerprint, {"ease": settings.__dict__,
                                                             "tuning": ranking_settings.tuning.__dict__})
    strategy = "holdout" if plan.strategy == "kfold" else plan.strategy
    rows = [(run, i, float(p.regularization), float(p.min_rating), m["ndcg"] if m else None,
             m["precision"] if m else None, s, scope.m, scope.n_liked, shared.scope_text(scope), settings.max_bytes,
             r is best, settings.grid_name, strategy, plan.n_ratings)
            for i, r in enumerate(results, start=1) for p, scope, m, s in [r]]
    return fit_part.sparkSession.createDataFrame(rows, GRID_SCHEMA)


def chosen(grid_search: DataFrame) -> EaseChoice:
    """ease_grid_search's choice, read by the DuckDB engine's own function."""
    rows = grid_search.orderBy("config_id").toPandas()
    return shared.chosen_ease({column: rows[column].to_numpy() for column in rows.columns})


def fit_choice(choice: EaseChoice, ratings: DataFrame, run: str = "") -> DataFrame | None:
    """The chosen EASE fitted on `ratings` (cached: release() it); None when nothing fits."""
    if choice.params is None:
        return None
    table, _ = fit_ease_table(ratings, choice.params, choice.max_bytes, run)
    return table


def scope_on(choice: EaseChoice, ratings: DataFrame) -> str:
    """ranking_evaluation.scope of the chosen EASE on `ratings` (the budget rule on its positives; no fit)."""
    if choice.params is None:
        return str(choice.skipped_reason)
    per_movie = (ratings.groupBy("movie_id")
                 .agg(F.count(F.when(F.col("rating") >= F.lit(float(choice.params.min_rating)), 1)).alias("n"))
                 .orderBy("movie_id").toArrow())
    n_users = ratings.select("user_id").distinct().count()
    return shared.scope_text(ease_items(per_movie.column("n").to_numpy().astype(np.int64), n_users,
                                        choice.max_bytes))


def ease_factors(split: DataFrame, grid_search: DataFrame, settings_json: str) -> DataFrame:
    """The chosen EASE refit on all clean ratings (cached until dbt has written it); no rows when skipped."""
    choice = chosen(grid_search)
    table = fit_choice(choice, split_frame(split), choice.run_id)
    if table is None:
        return split.sparkSession.createDataFrame([], FACTOR_SCHEMA)
    return release_after_write(table)


def blended(ease_table: DataFrame, implicit_table: DataFrame, weight: float, run: str = "") -> DataFrame:
    """The blend of two factor tables of one fit part, made on the driver (`cinemart.models.blend.blend`)."""
    from cinemart.spark.serving import _on_driver, _to_frame

    implicit_rows = _on_driver(implicit_table)
    implicit = ServedFactors.from_table("implicit_als", implicit_rows)
    ease = ServedFactors.from_table(shared.MODEL_NAME, _on_driver(ease_table)).aligned(implicit.users, implicit.movies)
    factors, _ = blend(ease, implicit.factors, weight)
    ids = implicit_rows.column("id").to_numpy()
    is_user = np.asarray(implicit_rows.column("entity").to_numpy(zero_copy_only=False)) == "user"
    n_ratings = {side: dict(zip(ids[mask], implicit_rows.column("n_ratings").to_numpy()[mask]))
                 for side, mask in (("user", is_user), ("movie", ~is_user))}
    sides = (("user", implicit.users.ids, factors.user_factors), ("movie", implicit.movies.ids, factors.item_factors))
    entity = [name for name, side_ids, _ in sides for _ in side_ids]
    all_ids = np.concatenate([side_ids for _, side_ids, _ in sides])
    vectors = np.vstack([rows for _, _, rows in sides]).astype(np.float32)
    table = pa.table({
        "run_id": [run] * all_ids.size, "entity": entity, "id": pa.array(all_ids, pa.int64()),
        "bias": pa.array(np.zeros(all_ids.size, np.float32)),
        "factors": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1]),
        "n_ratings": pa.array([int(n_ratings[e][i]) for e, i in zip(entity, all_ids)], pa.int64()),
        "global_mean": pa.array(np.zeros(all_ids.size)),
    })
    return _to_frame(implicit_table.sparkSession, table)


def chosen_blend_weight(evaluation: DataFrame) -> float | None:
    """The EASE weight ranking_evaluation chose for the blend on validation; None when EASE was skipped."""
    rows = (evaluation.where((F.col("model") == shared.BLEND_MODEL) & (F.col("protocol") == "random")
                             & F.col("validation_ndcg_at_10").isNotNull()).select("parameters").collect())
    return shared.blend_weight(rows[0][0]) if rows else None


def blend_factors(split: DataFrame, evaluation: DataFrame, implicit_factors: DataFrame, ease_factors: DataFrame,
                  settings_json: str) -> DataFrame:
    """The served blend: served implicit ALS and EASE (all clean ratings) with the EASE weight ranking_evaluation
    chose on validation; no rows when EASE was skipped."""
    weight = chosen_blend_weight(evaluation)
    spark = split.sparkSession
    if weight is None or ease_factors.limit(1).count() == 0:
        return spark.createDataFrame([], FACTOR_SCHEMA)
    runs = [str(t.select("run_id").first()[0]) for t in (implicit_factors, ease_factors)]
    run = spark_run_id(shared.BLEND_MODEL, fingerprint(split_frame(split)),
                       {"implicit_als": runs[0], "ease": runs[1], "ease_weight": weight})
    return blended(ease_factors, implicit_factors, weight, run)
