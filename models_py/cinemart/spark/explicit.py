"""The explicit model on Spark: MLlib ALS, as the tables the DuckDB path writes.

  als_grid_search(split, settings_json)                    -> als_grid_search
  int_als_factors(split, grid_search, settings_json)       -> int_als_factors (fit = 'validation' | 'train' |
                                                              'temporal' | 'all')
  als_predictions(split, int_als_factors, settings_json)   -> als_predictions (scored by the train fit)

Same grid (the als_grid var and its presets), same folds (the cv_fold column
of int_ratings_split), same selection (`cinemart.tuning.explicit.select`:
one standard error or lowest, var als_selection_rule), same cold-start drop.
MLlib has no Bayesian ALS: the default preset's Bayesian part is left out on
this engine, and a custom grid naming method bayesian is refused in one line
(`settings_of`, and `cinemart.warehouse.dbt.check_engine_vars` before any work).

Biases. MLlib ALS has none. With `als_biased: true` (the default) the biases
are modelled around it, in Spark SQL: global mean mu, damped movie biases
b_i = sum(r - mu) / (n_i + ITEM_DAMPING), then damped user biases
b_u = sum(r - mu - b_i) / (n_u + USER_DAMPING); ALS is fitted on the
residuals r - mu - b_u - b_i and the prediction is mu + b_u + b_i + p_u.q_i,
the formula every factor table and SQL macro already uses. This is a
two-stage fit (biases first, then factors), not the joint biased ALS of the
DuckDB path, so the figures differ a little (benchmarks/RESULTS.md, "DuckDB and Spark engines").
`als_biased: false` is plain MLlib ALS (bias and global_mean are 0).
"""

from __future__ import annotations

import time
from functools import reduce
from dataclasses import asdict, dataclass

import numpy as np
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.spark._compat import (AUTO_SOLVER, NOT_BUILT_ON_IMPLICIT, ExplicitSettings, GridPoint, GridResult,
                                    expand_grid, grid_columns, point_of, require_methods, rmse_standard_error,
                                    select, selection_line)
from cinemart.spark.frames import (Feedback, als_input, factor_table, fingerprint, fit_als, library_versions, score_pairs,
                                   single_row, spark_run_id, split_frame, tuning_rows)
from cinemart.spark.resources import Held, release_after_write

MODEL_NAME = "explicit_als"
ITEM_DAMPING = 10.0  # ratings' worth of prior pull of a movie bias towards 0
USER_DAMPING = 10.0
MIN_RATING, MAX_RATING = 0.5, 5.0
VALIDATION_FOLD = 0  # the one fold a sampled holdout scores (cinemart.warehouse.explicit_tables)
#: What MLlib ALS does, the only values of als_solver (besides auto) / als_dtype the Spark engine accepts
#: (cinemart.warehouse.dbt.ENGINE_ONLY_VALUES refuses others before any work).
MLLIB_SOLVER, MLLIB_DTYPE = "cholesky", "float32"


#: The explicit modes MLlib has (`cinemart.tuning.explicit.MODES`): ALS, without Bayesian sampling or time terms.
MLLIB_METHODS = ("als",)


def settings_of(settings_json: str) -> ExplicitSettings:
    settings = ExplicitSettings.from_dbt(settings_json)
    require_methods(settings.grid_name, settings.grid, MLLIB_METHODS)
    for name, given, mllib, accepted in (("als_solver", settings.solver, MLLIB_SOLVER, (AUTO_SOLVER, MLLIB_SOLVER)),
                                         ("als_dtype", settings.dtype, MLLIB_DTYPE, (MLLIB_DTYPE,))):
        if given not in accepted:  # auto is MLlib's Cholesky here
            raise ValueError(f"var {name} {given!r} applies to the DuckDB engine only: MLlib ALS solves by "
                             f"Cholesky with float32 factors (leave {name} out, or set {mllib!r})")
    return settings


def mllib_solver(als: ALS) -> str:
    """The solver MLlib ALS runs for `als`: NNLS when nonnegative, else Cholesky of the normal equations."""
    return "nnls" if als.getNonnegative() else "cholesky"


@dataclass(frozen=True)
class FittedExplicit:
    """A fitted model as a warehouse factor table (users and movies), plus its global mean."""

    table: DataFrame
    global_mean: float
    fit_seconds: float


def fit(ratings: DataFrame, settings: ExplicitSettings, point: GridPoint, run: str = "") -> FittedExplicit:
    """Fit on `ratings` (user_id, movie_id, rating): biases in SQL (if biased), MLlib ALS on what is left."""
    started = time.perf_counter()
    with Held() as held:  # the bias frames and MLlib's factor RDDs, released once the table is cached
        table, mu = _fit(ratings, settings, point, run, held)
        table = table.cache()
        try:
            table.count()
        except BaseException:
            table.unpersist()
            raise
    return FittedExplicit(table, mu, time.perf_counter() - started)


def als_for(settings: ExplicitSettings, point: GridPoint) -> ALS:
    """The MLlib estimator of one grid point (on the columns of `frames.als_input`)."""
    return ALS(rank=point.rank, regParam=point.reg, maxIter=point.iterations, seed=settings.seed,
               userCol="user", itemCol="item", ratingCol="rating", nonnegative=False, implicitPrefs=False)


def _fit(ratings: DataFrame, settings: ExplicitSettings, point: GridPoint, run: str,
         held: Held) -> tuple[DataFrame, float]:
    """The factor table (uncached) over frames and an ALS model `held` keeps, and the global mean."""
    ratings = ratings.select("user_id", "movie_id", "rating")
    mu = float(ratings.agg(F.avg("rating")).first()[0]) if settings.biased else 0.0
    if settings.biased:
        movie_bias = ratings.groupBy("movie_id").agg(
            (F.sum(F.col("rating") - mu) / (F.count(F.lit(1)) + ITEM_DAMPING)).alias("b_i"))
        user_bias = ratings.join(movie_bias, "movie_id").groupBy("user_id").agg(
            (F.sum(F.col("rating") - mu - F.col("b_i")) / (F.count(F.lit(1)) + USER_DAMPING)).alias("b_u"))
    else:
        movie_bias = ratings.select("movie_id").distinct().withColumn("b_i", F.lit(0.0))
        user_bias = ratings.select("user_id").distinct().withColumn("b_u", F.lit(0.0))
    movie_bias, user_bias = held.cache(movie_bias), held.cache(user_bias)
    residual = (ratings.join(movie_bias, "movie_id").join(user_bias, "user_id")
                .withColumn("residual", F.col("rating") - mu - F.col("b_u") - F.col("b_i")))
    model = held.model(fit_als(als_for(settings, point), als_input(residual, "residual")))
    counts_u = ratings.groupBy("user_id").count()
    counts_m = ratings.groupBy("movie_id").count()
    users = (user_bias.join(counts_u, "user_id")
             .join(model.userFactors.withColumnRenamed("id", "user_id"), "user_id")
             .select(F.col("user_id").alias("id"), F.col("b_u").alias("bias"), F.col("features").alias("factors"),
                     F.col("count").alias("n_ratings")))
    movies = (movie_bias.join(counts_m, "movie_id")
              .join(model.itemFactors.withColumnRenamed("id", "movie_id"), "movie_id")
              .select(F.col("movie_id").alias("id"), F.col("b_i").alias("bias"), F.col("features").alias("factors"),
                      F.col("count").alias("n_ratings")))
    return factor_table(run, users, movies, mu), mu


def clipped(score):
    return F.least(F.greatest(score, F.lit(MIN_RATING)), F.lit(MAX_RATING))


def rmse(held_out: DataFrame, fitted: FittedExplicit) -> tuple[float, float]:
    """RMSE over held-out rows whose user and movie have factors (coldStartStrategy='drop'), and its
    rating-level standard error (`cinemart.tuning.explicit.single_fold_standard_error`)."""
    scored = score_pairs(held_out, fitted.table).where(F.col("score").isNotNull())
    squared = (clipped(F.col("score")) - F.col("rating")) ** 2
    row = scored.agg(F.avg(squared).alias("mse"), F.stddev_samp(squared).alias("sd"), F.count(F.lit(1)).alias("n")).first()
    mse, sd, n = float(row["mse"]), float(row["sd"] or 0.0), int(row["n"])
    error = 0.0 if n < 2 or mse == 0 else sd / n ** 0.5 / (2 * mse ** 0.5)
    return mse ** 0.5, error


def training_run_id(data_fingerprint: str, settings: ExplicitSettings) -> str:
    return spark_run_id(MODEL_NAME, data_fingerprint, asdict(settings))


GRID_SCHEMA = ("run_id string, config_id bigint, method string, rank bigint, reg double, iterations bigint, "
               "burn_in bigint, time_biases boolean, biased boolean, fold_rmse array<double>, mean_rmse double, std_rmse double, "
               "rmse_standard_error double, complexity bigint, fit_seconds double, is_lowest_rmse boolean, "
               "is_chosen boolean, selection_rule string, grid_name string, solver string, seed bigint, "
               "tuning_strategy string, n_tuning_ratings bigint, n_tuning_users bigint, dataset_fingerprint string, "
               "library_versions string")


def als_grid_search(split: DataFrame, settings_json: str) -> DataFrame:
    """Every grid point scored on the train part, as on DuckDB (`cinemart.tuning.plan`): k-fold CV
    (folds = int_ratings_split.cv_fold) on all train rows, or past tuning_max_ratings (`auto`) or
    with `sampled_holdout`, fold 0 only on a user sample."""
    settings = settings_of(settings_json)
    if Feedback.of(split_frame(split)).implicit:
        print(f"explicit ALS grid search: {NOT_BUILT_ON_IMPLICIT}", flush=True)
        return split.sparkSession.createDataFrame([], GRID_SCHEMA)
    with Held() as held:
        split = held.cache(split_frame(split))
        data_fingerprint = fingerprint(split)
        plan = tuning_rows(split.where(~F.col("is_test")), settings.tuning, settings.seed)
        points = expand_grid(settings.grid_for(plan.strategy, MLLIB_METHODS))
        train = held.cache(plan.rows)
        folds = sorted(r[0] for r in train.select("cv_fold").distinct().collect())
        if len(folds) < 2 or None in folds:
            raise ValueError(f"train rows need cv_fold ids covering >= 2 folds, found {folds}")
        scored = folds if plan.strategy == "kfold" else [VALIDATION_FOLD]  # as score_folds=[0] on DuckDB
        if VALIDATION_FOLD not in folds:
            raise ValueError(f"the tuning rows hold no cv_fold {VALIDATION_FOLD} to validate on; folds {folds}")
        results = []
        for point in points:
            fold_rmse, seconds, error = [], 0.0, 0.0
            for fold in scored:
                fitted = fit(train.where(F.col("cv_fold") != fold), settings, point)
                try:
                    fold_value, error = rmse(train.where(F.col("cv_fold") == fold), fitted)
                    fold_rmse.append(fold_value)
                finally:
                    fitted.table.unpersist()
                seconds += fitted.fit_seconds
            results.append(GridResult(point, fold_rmse, float(np.mean(fold_rmse)), float(np.std(fold_rmse)), seconds,
                                      rmse_standard_error(fold_rmse, error)))
    best, chosen = select(results, settings.selection_rule)
    print(f"explicit ALS grid search: {selection_line(best, chosen, settings.selection_rule)}", flush=True)
    table = grid_columns(results, best, chosen, settings, training_run_id(data_fingerprint, settings), plan.strategy,
                         plan.n_ratings, plan.n_users, data_fingerprint, mllib_solver(als_for(settings, points[0])),
                         library_versions())
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return split.sparkSession.createDataFrame(rows, GRID_SCHEMA)


def chosen_point(grid_search: DataFrame) -> tuple[GridPoint, str]:
    """The flagged configuration of als_grid_search and its run id."""
    row = single_row(grid_search, "is_chosen", "als_grid_search")
    return point_of(row), str(row["run_id"])


def train_fit(int_als_factors: DataFrame, part: str = "train") -> DataFrame | None:
    """One fit of int_als_factors as a factor table: 'train' scores test (predictions, ranking_evaluation),
    'validation' scores the validation fold (ranking_evaluation's choice), 'temporal' the part after the cut;
    None when the table has no rows (implicit feedback: the explicit model is not built)."""
    table = int_als_factors.where(F.col("fit") == part).drop("fit")
    return None if table.isEmpty() else table


#: int_als_factors' columns (the factor tables' and the fit).
FITS_SCHEMA = ("run_id string, entity string, id bigint, bias float, factors array<float>, n_ratings bigint, "
               "global_mean double, fit string")
PREDICTIONS_SCHEMA = ("run_id string, split string, user_id bigint, movie_id bigint, rating double, "
                      "prediction double, is_cold_start boolean")


def int_als_factors(split: DataFrame, grid_search: DataFrame, settings_json: str) -> DataFrame:
    """The chosen point fitted on train without the validation fold (fit = 'validation'), on train (fit =
    'train'), on the ratings up to the temporal cut (fit = 'temporal') and on all clean ratings (fit = 'all',
    served), as on DuckDB (cinemart.warehouse.explicit_tables)."""
    settings = settings_of(settings_json)
    if grid_search.isEmpty():  # implicit feedback (als_grid_search)
        return split.sparkSession.createDataFrame([], FITS_SCHEMA)
    point, run = chosen_point(grid_search)
    split = split_frame(split)
    train = split.where(~F.col("is_test"))
    # each fit's table stays cached until dbt has written this model's table (resources.release_after_write)
    fits = [release_after_write(fit(ratings, settings, point, run).table).withColumn("fit", F.lit(name))
            for name, ratings in (("validation", train.where(F.col("cv_fold") != VALIDATION_FOLD)),
                                  ("train", train), ("temporal", split.where(~F.col("is_after_cut"))),
                                  ("all", split))]
    return reduce(DataFrame.unionByName, fits)


def als_predictions(split: DataFrame, int_als_factors: DataFrame, settings_json: str) -> DataFrame:
    """Every train and test rating scored by the train fit (null + is_cold_start for cold rows)."""
    settings_of(settings_json)  # same validation as every other explicit table
    table = train_fit(int_als_factors)
    if table is None:  # implicit feedback
        return split.sparkSession.createDataFrame([], PREDICTIONS_SCHEMA)
    run = str(table.select("run_id").first()[0])
    scored = score_pairs(split_frame(split), table)
    cold = F.col("score").isNull()
    return scored.select(
        F.lit(run).alias("run_id"), F.when(F.col("is_test"), "test").otherwise("train").alias("split"),
        "user_id", "movie_id", "rating",
        F.when(cold, F.lit(None).cast("double")).otherwise(clipped(F.col("score"))).alias("prediction"),
        cold.alias("is_cold_start"))
