"""The explicit-ALS family, as the warehouse tables it produces.

Each configuration is fitted once per build:
  grid_search_table -> als_grid_search  (k-fold CV over the grid on train; computes the run id once)
  fits_table        -> int_als_factors  (the chosen point refit on train and on all clean ratings)
  predictions_table -> als_predictions  (train and test ratings scored by the train fit: no fitting)
The train fit also serves ranking_evaluation, and the all-ratings fit becomes
als_factors / user_factors / movie_factors, so no refit is repeated.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from cinemart.console import Progress, print_progress
from cinemart.data.ratings import IndexedRatings, SplitRatings
from cinemart.models.explicit_als import SOLVERS, ALSConfig
from cinemart.settings import FamilySettings, with_defaults
from cinemart.models.explicit import fit_explicit, time_detrended
from cinemart.tuning.explicit import (MODES, PRESETS, SELECTION_RULES, GridPoint, GridResult, cross_validate_grid,
                                      default_grid_for, describe, expand_grid, select)
from cinemart.tuning.grid import resolve_grid
from cinemart.tuning.plan import TuningPolicy, plan_tuning
from cinemart.validation import require_bool, require_int
from cinemart.warehouse.audit import library_versions, run_id
from cinemart.warehouse.factor_tables import ServedFactors, empty_factor_table, factor_table

MODEL_NAME = "explicit_als"
#: als_solver's value that picks the solver by data size (`ExplicitSettings.for_data`).
AUTO_SOLVER = "auto"
#: Why the explicit tables are empty on implicit feedback; als_model_runs.not_built_reason and
#: ranking_evaluation.scope carry it.
NOT_BUILT_ON_IMPLICIT = ("skipped: the data are interactions without ratings (implicit feedback), and explicit "
                         "ALS predicts star ratings")


@dataclass(frozen=True)
class ExplicitSettings(FamilySettings):
    """What a user can set through dbt vars, validated before any work starts."""

    biased: bool
    solver: str
    dtype: str
    selection_rule: str

    @classmethod
    def from_config(cls, given: Mapping[str, Any]) -> ExplicitSettings:
        """From dbt vars; what `given` leaves out comes from `cinemart.settings.DEFAULTS`."""
        values = with_defaults(given)
        if values["als_solver"] not in (AUTO_SOLVER, *SOLVERS):
            raise ValueError(f"als_solver must be one of {AUTO_SOLVER}, {', '.join(SOLVERS)}; got "
                             f"{values['als_solver']!r}")
        grid_name, grid = resolve_grid("als_grid", values["als_grid"], PRESETS)
        expand_grid(grid)  # raises on unknown keys or bad values
        settings = cls(
            grid_name=grid_name,
            grid=grid,
            biased=require_bool("als_biased", values["als_biased"]),
            solver=str(values["als_solver"]),
            dtype=str(values["als_dtype"]),
            selection_rule=selection_rule_for(str(values["als_selection_rule"]), grid_name),
            seed=require_int("als_seed", values["als_seed"], 0),
            tuning=TuningPolicy.from_config(values),
        )
        for solver in SOLVERS if settings.solver == AUTO_SOLVER else (settings.solver,):  # what auto may become
            for point in expand_grid(grid):
                replace(settings, solver=solver).config(point)  # raises on a bad dtype, or a point's method's
        return settings

    def config(self, point: GridPoint) -> ALSConfig:
        """The fit of `point`; the solver must be resolved (`for_data`) so that no fit silently takes one."""
        if self.solver == AUTO_SOLVER:
            raise ValueError("als_solver auto depends on the data's size: resolve it with for_data(data) first")
        return point.config(ALSConfig(biased=self.biased, solver=self.solver, dtype=self.dtype, seed=self.seed))

    def for_data(self, data: SplitRatings) -> ExplicitSettings:
        """These settings with als_solver `auto` resolved for `data`: Cholesky up to tuning_max_ratings train
        ratings, CG past them.

        Forming a row's normal equations costs O(n d^2) and dominates large
        fits; warm-started CG (`ALSConfig.cg_steps` steps a sweep) costs
        O(n d) per step and lands on the same model: on the synthetic 25M set
        at rank 50 test RMSE 0.55960 (CG, 2 steps) against 0.55956 (Cholesky)
        in 0.6x the time, and the sampled grid chooses the same point
        (benchmarks/RESULTS.md). Small data keep the exact solve.
        """
        if self.solver != AUTO_SOLVER:
            return self
        large = int(data.train.sum()) > self.tuning.max_ratings
        return replace(self, solver="cg" if large else "cholesky")

    def grid_for(self, strategy: str, modes: tuple[str, ...] = MODES) -> Any:
        """The grid a tuning strategy scores: the default preset's parts for it (`default_grid_for`), else as given."""
        return default_grid_for(strategy, modes) if self.grid_name == "default" else self.grid


def selection_rule_for(var: str, grid_name: str) -> str:
    """The rule var als_selection_rule names; `auto` is one_se, except lowest for the spark_seed preset, whose
    seed notebook chose the lowest CV RMSE (so the preset reproduces its choice)."""
    if var not in ("auto", *SELECTION_RULES):
        raise ValueError(f"als_selection_rule {var!r} is not known; allowed: auto, {', '.join(SELECTION_RULES)}")
    if var != "auto":
        return var
    return "lowest" if grid_name == "spark_seed" else "one_se"


def training_run_id(data: SplitRatings, settings: ExplicitSettings) -> str:
    return run_id(MODEL_NAME, data.fingerprint, asdict(settings))


def grid_run_id(grid: Mapping[str, np.ndarray]) -> str:
    """The run id als_grid_search computed (hashing the data once per family, not once per table)."""
    return str(grid["run_id"][0])


def grid_search_table(data: SplitRatings, settings: ExplicitSettings, progress: Progress = print_progress) -> pa.Table:
    """Score every grid point on the train part; one row per point, the best flagged.

    Small data: k-fold CV on all train rows. Past tuning_max_ratings: one
    validation fold (fold 0) on a user sample (`cinemart.tuning.plan`).
    On implicit feedback, no rows (NOT_BUILT_ON_IMPLICIT).
    """
    rid = training_run_id(data, settings)
    settings = settings.for_data(data)
    if data.implicit:
        progress(f"explicit ALS grid search: {NOT_BUILT_ON_IMPLICIT}")
        return grid_columns([], None, None, settings, rid, "none", 0, 0, data.fingerprint, settings.solver,
                            library_versions())
    plan = plan_tuning(data, settings.tuning, settings.seed)
    tuning = IndexedRatings.build(data, plan.rows)
    folds = data.cv_fold[plan.rows]
    n_folds = int(folds.max()) + 1
    score_folds = None if plan.strategy == "kfold" else [0]
    grid = settings.grid_for(plan.strategy)
    if grid != settings.grid:
        progress("explicit ALS grid search: the default grid's Bayesian points are scored by k-fold CV only, "
                 f"up to tuning_max_ratings ({settings.tuning.max_ratings:,} train ratings); left out here")
    progress(f"explicit ALS grid search ({plan.strategy}): {len(expand_grid(grid))} configurations x "
             f"{n_folds if score_folds is None else 1} fold(s) on {tuning.rating.size:,} train ratings "
             f"({len(tuning.users):,} users, {len(tuning.movies):,} movies; ALS solver {settings.solver})")
    started = time.perf_counter()
    results = cross_validate_grid(tuning.user_idx, tuning.movie_idx, tuning.rating, folds, len(tuning.users),
                                  len(tuning.movies), grid, settings.config(GridPoint(1)),
                                  progress=progress, score_folds=score_folds, days=data.days(plan.rows))
    best, chosen = select(results, settings.selection_rule)
    progress(f"explicit ALS grid search done in {time.perf_counter() - started:.1f}s: "
             f"{selection_line(best, chosen, settings.selection_rule)}")
    return grid_columns(results, best, chosen, settings, rid, plan.strategy, plan.n_ratings, plan.n_users,
                        data.fingerprint, settings.solver, library_versions())


def selection_line(best: GridResult, chosen: GridResult, rule: str) -> str:
    """What the grid chose and why, for the build log (both engines)."""
    def point(r: GridResult) -> str:
        return f"{describe(r.point)} iterations={r.point.iterations} (CV RMSE {r.mean_rmse:.4f})"
    if chosen is best:
        return f"chose {point(best)}, the lowest ({rule})"
    return (f"lowest {point(best)} +- {best.standard_error:.4f}; chose the least complex point within one "
            f"standard error: {point(chosen)}")


#: als_grid_search's columns, typed so that a grid with no rows (implicit feedback) keeps the contract.
GRID_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("config_id", pa.int64()), ("method", pa.string()), ("rank", pa.int64()),
    ("reg", pa.float64()), ("iterations", pa.int64()), ("burn_in", pa.int64()), ("time_biases", pa.bool_()),
    ("biased", pa.bool_()), ("fold_rmse", pa.list_(pa.float64())), ("mean_rmse", pa.float64()),
    ("std_rmse", pa.float64()), ("rmse_standard_error", pa.float64()), ("complexity", pa.int64()),
    ("fit_seconds", pa.float64()), ("is_lowest_rmse", pa.bool_()), ("is_chosen", pa.bool_()),
    ("selection_rule", pa.string()), ("grid_name", pa.string()), ("solver", pa.string()), ("seed", pa.int64()),
    ("tuning_strategy", pa.string()), ("n_tuning_ratings", pa.int64()), ("n_tuning_users", pa.int64()),
    ("dataset_fingerprint", pa.string()), ("library_versions", pa.string())])


def grid_columns(results: list[GridResult], best: GridResult | None, chosen: GridResult | None,
                 settings: ExplicitSettings, rid: str, strategy: str, n_ratings: int, n_users: int, fingerprint: str,
                 solver: str, versions: str) -> pa.Table:
    """als_grid_search's rows, one per point (both engines: `solver` is what ALS points ran, `versions` the
    engine's library versions); `best` and `chosen` are None only when there are no results."""
    n = len(results)
    return pa.table({
        "run_id": [rid] * n,
        "config_id": list(range(1, n + 1)),
        "method": [r.point.method for r in results],
        "rank": [r.point.rank for r in results],
        "reg": [r.point.reg for r in results],
        "iterations": [r.point.iterations for r in results],
        "burn_in": [r.point.burn_in for r in results],
        "time_biases": [r.point.time_biases for r in results],
        "biased": [settings.biased] * n,
        "fold_rmse": [r.fold_rmse for r in results],
        "mean_rmse": [r.mean_rmse for r in results],
        "std_rmse": [r.std_rmse for r in results],
        "rmse_standard_error": [r.standard_error for r in results],
        "complexity": [r.point.complexity for r in results],
        "fit_seconds": [r.fit_seconds for r in results],
        "is_lowest_rmse": [r is best for r in results],
        "is_chosen": [r is chosen for r in results],
        "selection_rule": [settings.selection_rule] * n,
        "grid_name": [settings.grid_name] * n,
        "solver": [r.point.solver_of(solver) for r in results],
        "seed": [settings.seed] * n,
        "tuning_strategy": [strategy] * n,
        "n_tuning_ratings": [n_ratings] * n,
        "n_tuning_users": [n_users] * n,
        "dataset_fingerprint": [fingerprint] * n,
        "library_versions": [versions] * n,
    }, schema=GRID_SCHEMA)


def chosen_point(grid: Mapping[str, np.ndarray]) -> GridPoint:
    """The flagged row of als_grid_search (as fetched columns)."""
    chosen = np.flatnonzero(np.asarray(grid["is_chosen"], dtype=bool))
    if chosen.size != 1:
        raise ValueError(f"als_grid_search must flag exactly one chosen configuration, found {chosen.size}")
    i = int(chosen[0])
    return point_of({key: grid[key][i] for key in POINT_COLUMNS.split(", ")})


#: The columns of als_grid_search that make up its GridPoint.
POINT_COLUMNS = "method, rank, reg, iterations, burn_in, time_biases"


def point_of(row: Mapping[str, Any]) -> GridPoint:
    """The GridPoint of an als_grid_search row (reg is null, masked or NaN for a bayesian point)."""
    reg = row["reg"]
    missing = reg is None or np.ma.is_masked(reg) or reg != reg
    return GridPoint(rank=int(row["rank"]), reg=None if missing else float(reg),
                     iterations=int(row["iterations"]), method=str(row["method"]), burn_in=int(row["burn_in"]),
                     time_biases=bool(row["time_biases"]))


def chosen_parameters(grid: Mapping[str, np.ndarray]) -> str:
    """The chosen configuration as ranking_evaluation.parameters records it (JSON); '{}' when the grid has no
    rows (implicit feedback)."""
    if len(grid["is_chosen"]) == 0:
        return "{}"
    point = chosen_point(grid)
    return json.dumps({**asdict(point), "biased": bool(grid["biased"][0])})


def fits_table(data: SplitRatings, settings: ExplicitSettings, grid: Mapping[str, np.ndarray],
               progress: Progress = print_progress) -> pa.Table:
    """The chosen point of als_grid_search (`grid`, as fetched columns) refit with a `fit` column: on train
    without the validation fold ('validation': scored on that fold, where ranking_evaluation chooses the
    served model), on train (for scoring test), on the ratings up to the temporal cut ('temporal':
    ranking_evaluation's temporal protocol) and on all clean ratings (served). No rows on implicit feedback."""
    if data.implicit:
        table = empty_factor_table(data, training_run_id(data, settings))
        return table.append_column("fit", pa.array([], pa.string()))
    point, rid, settings = chosen_point(grid), grid_run_id(grid), settings.for_data(data)
    parts = []
    for fit, rows in (("validation", data.part_rows("validation")[0]), ("train", data.train),
                      ("temporal", data.part_rows("temporal")[0]), ("all", slice(None))):
        started = time.perf_counter()
        ratings = IndexedRatings.build(data, rows)
        factors = fit_explicit(settings.config(point), ratings.user_idx, ratings.movie_idx, ratings.rating,
                               len(ratings.users), len(ratings.movies), data.days(rows)).factors()
        progress(f"explicit ALS refit on {fit} ({ratings.rating.size:,} ratings) in "
                 f"{time.perf_counter() - started:.1f}s")
        table = factor_table(rid, ratings, factors)
        parts.append(table.append_column("fit", pa.array([fit] * table.num_rows)))
    return pa.concat_tables(parts)


#: Rows per batch of als_predictions: it is streamed to DuckDB, never whole in memory.
PREDICTION_BATCH_ROWS = 1 << 20
PREDICTIONS_SCHEMA = pa.schema([("run_id", pa.string()), ("split", pa.string()), ("user_id", pa.int64()),
                                ("movie_id", pa.int64()), ("rating", pa.float64()), ("prediction", pa.float64()),
                                ("is_cold_start", pa.bool_())])


def predictions_table(data: SplitRatings, train_fit: ServedFactors, settings: ExplicitSettings, point: GridPoint,
                      progress: Progress = print_progress) -> pa.RecordBatchReader:
    """Every train and test rating scored by the train fit (int_als_factors, fit = 'train').

    With time terms (the chosen `point`'s time_biases) each rating is scored
    at its own day: the train fit's factors serve the terms as of the data's
    end, so the terms are refitted from the train rows (a function of them
    alone, `cinemart.models.explicit.time_detrended`) and moved to the day.

    Test rows whose user or movie never occurs in train get a null prediction
    and is_cold_start = true: they are left out of the test RMSE (Spark's
    coldStartStrategy = "drop") but kept so the drop is counted, not hidden.
    The rows stream out in batches (dbt-duckdb writes a RecordBatchReader as
    it reads it): whole, the table is ~2 GB of Arrow at 25M ratings.
    """
    settings = settings.for_data(data)
    bounds = settings.config(GridPoint())
    run_id = train_fit.run_id
    train = IndexedRatings.build(data, data.train)
    terms, _ = time_detrended(settings.config(point), train.user_idx, train.movie_idx, train.rating,
                              len(train.users), len(train.movies), data.days(data.train))

    def batches():
        n_cold = 0
        for start in range(0, data.rating.size, PREDICTION_BATCH_ROWS):
            rows = slice(start, start + PREDICTION_BATCH_ROWS)
            users, movies = train_fit.users.encode(data.user_id[rows]), train_fit.movies.encode(data.movie_id[rows])
            cold = (users < 0) | (movies < 0)
            prediction = np.full(cold.size, np.nan)
            score = train_fit.factors.score_pairs(users[~cold], movies[~cold])
            if terms is not None:  # fitted on the train fit's own indices (the same train rows)
                score += terms.since_end(users[~cold], movies[~cold], data.rated_day[rows][~cold])
            prediction[~cold] = np.clip(score, bounds.rating_min, bounds.rating_max)
            n_cold += int(cold.sum())
            yield pa.record_batch([
                pa.array([run_id] * cold.size, pa.string()), pa.array(np.where(data.is_test[rows], "test", "train")),
                data.user_id[rows], data.movie_id[rows], data.rating[rows], pa.array(prediction, mask=cold), cold,
            ], schema=PREDICTIONS_SCHEMA)
        progress(f"explicit ALS predictions: {data.rating.size - n_cold:,} scored, "
                 f"{n_cold:,} cold-start test rows dropped")

    return pa.RecordBatchReader.from_batches(PREDICTIONS_SCHEMA, batches())
