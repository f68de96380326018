"""The explicit-ALS model run, as the warehouse tables it produces.

One dbt Python model per table calls one function here:
  grid_search_table  -> als_grid_search  (k-fold CV over the grid on train)
  predictions_table  -> als_predictions  (chosen config refit on train, scored on train and test)
  factors_table      -> als_factors      (chosen config refit on all clean ratings: the served factors)
Each refit is cheap next to the grid search, so repeating it keeps every
model to one table without passing fitted objects between dbt models.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pyarrow as pa

from cinemart.als import ALSConfig, ExplicitALS
from cinemart.ratings_data import (IndexedRatings, SplitRatings, TuningPolicy, library_versions, plan_tuning,
                                   run_id)
from cinemart.settings import load_settings, require_bool, require_int, resolve_grid
from cinemart.tuning import PRESETS, GridPoint, cross_validate_grid, expand_grid, select_best

MODEL_NAME = "explicit_als"
Progress = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class ExplicitSettings:
    """What a user can set through dbt vars, validated before any work starts."""

    grid_name: str
    grid: dict[str, list]
    biased: bool = True
    solver: str = "cholesky"
    dtype: str = "float32"
    seed: int = 2020
    tuning: TuningPolicy = TuningPolicy()


    @classmethod
    def from_dbt(cls, model_settings: str) -> ExplicitSettings:
        """From the `model_settings` JSON a dbt Python model gets (see dbt_project.yml)."""
        return cls.from_config(load_settings(model_settings))

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> ExplicitSettings:
        grid_name, grid = resolve_grid("als_grid", values.get("als_grid", "default"), PRESETS)
        expand_grid(grid)  # raises on unknown keys or bad values
        settings = cls(
            grid_name=grid_name,
            grid=grid,
            biased=require_bool("als_biased", values.get("als_biased", True)),
            solver=str(values.get("als_solver", "cholesky")),
            dtype=str(values.get("als_dtype", "float32")),
            seed=require_int("als_seed", values.get("als_seed", 2020), 0),
            tuning=TuningPolicy.from_config(values),
        )
        settings.config(GridPoint(rank=1, reg=0.0, iterations=1))  # raises on a bad solver or dtype
        return settings

    def config(self, point: GridPoint) -> ALSConfig:
        return ALSConfig(rank=point.rank, reg=point.reg, iterations=point.iterations, biased=self.biased,
                         solver=self.solver, dtype=self.dtype, seed=self.seed)


def training_run_id(data: SplitRatings, settings: ExplicitSettings) -> str:
    return run_id(MODEL_NAME, data.fingerprint, asdict(settings))


def grid_search_table(data: SplitRatings, settings: ExplicitSettings, progress: Progress = _print) -> pa.Table:
    """Score every grid point on the train part; one row per point, the best flagged.

    Small data: k-fold CV on all train rows. Past tuning_max_ratings: one
    validation fold (fold 0) on a user sample (ratings_data.plan_tuning).
    """
    plan = plan_tuning(data, settings.tuning, settings.seed)
    tuning = IndexedRatings.build(data, plan.rows)
    folds = data.cv_fold[plan.rows]
    n_folds = int(folds.max()) + 1
    score_folds = None if plan.strategy == "kfold" else [0]
    progress(f"explicit ALS grid search ({plan.strategy}): {len(expand_grid(settings.grid))} configurations x "
             f"{n_folds if score_folds is None else 1} fold(s) on {tuning.rating.size:,} train ratings "
             f"({len(tuning.users):,} users, {len(tuning.movies):,} movies)")
    started = time.perf_counter()
    results = cross_validate_grid(tuning.user_idx, tuning.movie_idx, tuning.rating, folds, len(tuning.users),
                                  len(tuning.movies), settings.grid, settings.config(GridPoint(1, 0.0, 1)),
                                  progress=progress, score_folds=score_folds)
    best = select_best(results)
    progress(f"explicit ALS grid search done in {time.perf_counter() - started:.1f}s: best rank={best.point.rank} "
             f"reg={best.point.reg} iterations={best.point.iterations} CV RMSE={best.mean_rmse:.4f}")
    rid = training_run_id(data, settings)
    n = len(results)
    return pa.table({
        "run_id": [rid] * n,
        "config_id": list(range(1, n + 1)),
        "rank": [r.point.rank for r in results],
        "reg": [float(r.point.reg) for r in results],
        "iterations": [r.point.iterations for r in results],
        "biased": [settings.biased] * n,
        "fold_rmse": pa.array([r.fold_rmse for r in results], type=pa.list_(pa.float64())),
        "mean_rmse": [r.mean_rmse for r in results],
        "std_rmse": [r.std_rmse for r in results],
        "fit_seconds": [r.fit_seconds for r in results],
        "is_chosen": [r is best for r in results],
        "grid_name": [settings.grid_name] * n,
        "solver": [settings.solver] * n,
        "seed": [settings.seed] * n,
        "tuning_strategy": [plan.strategy] * n,
        "n_tuning_ratings": [plan.n_ratings] * n,
        "n_tuning_users": [plan.n_users] * n,
        "dataset_fingerprint": [data.fingerprint] * n,
        "library_versions": [library_versions()] * n,
    })


def chosen_point(grid: Mapping[str, np.ndarray]) -> GridPoint:
    """The flagged row of als_grid_search (as fetched columns)."""
    chosen = np.flatnonzero(np.asarray(grid["is_chosen"], dtype=bool))
    if chosen.size != 1:
        raise ValueError(f"als_grid_search must flag exactly one chosen configuration, found {chosen.size}")
    i = int(chosen[0])
    return GridPoint(rank=int(grid["rank"][i]), reg=float(grid["reg"][i]), iterations=int(grid["iterations"][i]))


def fit(ratings: IndexedRatings, settings: ExplicitSettings, point: GridPoint) -> ExplicitALS:
    return ExplicitALS(settings.config(point)).fit(ratings.user_idx, ratings.movie_idx, ratings.rating,
                                                   len(ratings.users), len(ratings.movies))


def predictions_table(data: SplitRatings, settings: ExplicitSettings, point: GridPoint,
                      progress: Progress = _print) -> pa.Table:
    """Refit the chosen point on train; predict every train and test rating.

    Test rows whose user or movie never occurs in train get a null prediction
    and is_cold_start = true: they are left out of the test RMSE (Spark's
    coldStartStrategy = "drop") but kept so the drop is counted, not hidden.
    """
    started = time.perf_counter()
    train = IndexedRatings.build(data, data.train)
    model = fit(train, settings, point)
    users = train.users.encode(data.user_id)
    movies = train.movies.encode(data.movie_id)
    cold = (users < 0) | (movies < 0)
    prediction = np.full(data.rating.size, np.nan)
    prediction[~cold] = model.predict(users[~cold], movies[~cold])
    progress(f"explicit ALS refit on train ({train.rating.size:,} ratings) and scored in "
             f"{time.perf_counter() - started:.1f}s; {int(cold.sum()):,} cold-start test rows dropped")
    return pa.table({
        "run_id": pa.array([training_run_id(data, settings)] * data.rating.size),
        "split": pa.array(np.where(data.is_test, "test", "train")),
        "user_id": data.user_id,
        "movie_id": data.movie_id,
        "rating": data.rating,
        "prediction": pa.array(prediction, mask=cold),
        "is_cold_start": cold,
    })


def factor_column(factors: np.ndarray) -> pa.FixedSizeListArray:
    """(n, k) -> FLOAT[k] column (DuckDB reads an Arrow fixed-size list as an ARRAY)."""
    flat = pa.array(np.ascontiguousarray(factors, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, factors.shape[1])


def factors_table(data: SplitRatings, settings: ExplicitSettings, point: GridPoint,
                  progress: Progress = _print) -> pa.Table:
    """Refit the chosen point on all clean ratings: the factors that are served."""
    started = time.perf_counter()
    everything = IndexedRatings.build(data)
    model = fit(everything, settings, point)
    progress(f"explicit ALS final refit on all {everything.rating.size:,} ratings in "
             f"{time.perf_counter() - started:.1f}s")
    rid = training_run_id(data, settings)
    n_users, n_movies = len(everything.users), len(everything.movies)
    user_counts = np.bincount(everything.user_idx, minlength=n_users)
    movie_counts = np.bincount(everything.movie_idx, minlength=n_movies)
    return pa.table({
        "run_id": [rid] * (n_users + n_movies),
        "entity": ["user"] * n_users + ["movie"] * n_movies,
        "id": np.concatenate([everything.users.ids, everything.movies.ids]),
        "bias": np.concatenate([model.user_bias, model.item_bias]).astype(np.float32),
        "factors": factor_column(np.vstack([model.user_factors, model.item_factors])),
        "n_ratings": np.concatenate([user_counts, movie_counts]),
        "global_mean": np.full(n_users + n_movies, model.global_mean),
    })
