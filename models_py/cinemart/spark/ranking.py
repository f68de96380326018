"""The ranking side on Spark: MLlib ALS with implicitPrefs, as the DuckDB path's tables.

  implicit_grid_search(split, settings_json)                             -> implicit_grid_search
  implicit_factors(split, implicit_grid_search, settings_json)           -> implicit_factors
  popularity_factors(split, settings_json)                               -> popularity_factors
  ranking_evaluation(split, implicit_grid_search, als_grid_search, int_als_factors, settings_json)
                                                                         -> ranking_evaluation

Ratings become implicit feedback as in cinemart.models.implicit_als.confidence:
binary (every rating 1), linear (the rating), threshold (ratings >= threshold,
as 1; the others dropped), plays (log2(1 + play count), on interactions without
ratings). MLlib then uses confidence 1 + alpha x value, as the `implicit`
library does.

Regularization is NOT on the `implicit` library's scale: MLlib multiplies
regParam by each user's (movie's) number of interactions (ALS-WR), the
library does not. So the implicit_grid presets have Spark counterparts of the
same names (SPARK_PRESETS, measured on ml-latest-small); a custom grid's
regularization values are taken as MLlib regParam.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace

import numpy as np

from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.evaluation.lists_cache import ListsOnce
from cinemart.spark import ease_ranking, explicit
from cinemart.spark._compat import (BEYOND_COLUMNS, BLEND_WEIGHTS, EaseChoice, NON_PERSONAL_MODELS, ease_tables, POPULAR_MIN_RATING, PROTOCOL_PARTS,
                                    NOT_BUILT_ON_IMPLICIT, ContentVectors,
                                    EvaluationUsers, IdIndex, ImplicitParams, RankingSettings, beyond_accuracy,
                                    content_of, evaluation_users, expand_implicit_grid, grid_for_feedback,
                                    non_finite_factors)
from cinemart.spark.frames import (Feedback, als_input, entity, factor_table, fingerprint, fit_als, library_versions,
                                   personalised, single_row, spark_run_id, split_frame)
from cinemart.spark.resources import Held, release_after_write
from cinemart.spark.retrieval import VALIDATION_FOLD, ranking_metrics, relevant_warm, top_n_unseen, validation_part

TASTE_MODELS = ("implicit_als", "explicit_als")
EASE_MODEL, BLEND_MODEL = ease_tables.MODEL_NAME, ease_tables.BLEND_MODEL
#: A skipped model's metrics (its row says why in `scope`).
NO_METRICS = dict.fromkeys(("precision", "recall", "ndcg", "map", "coverage", "n_users"))

#: MLlib-scale counterparts of cinemart.ranking_tuning.PRESETS (regParam is per interaction).
SPARK_PRESETS: dict[str, dict[str, list]] = {
    "default": {"factors": [64], "regularization": [0.05, 0.2], "alpha": [2.0, 8.0],
                "iterations": [10], "confidence": ["binary", "linear", "threshold"]},
    "quick": {"factors": [32], "regularization": [0.1], "alpha": [2.0, 8.0], "iterations": [10],
              "confidence": ["threshold"]},
}


def settings_of(settings_json: str) -> RankingSettings:
    settings = RankingSettings.from_dbt(settings_json)
    if settings.grid_name != "custom":
        settings = replace(settings, grid=SPARK_PRESETS[settings.grid_name])
    return settings


def interactions(ratings: DataFrame, params: ImplicitParams) -> DataFrame:
    """(user_id, movie_id, value) of the ratings that count as interactions, as ranking.confidence."""
    if params.confidence == "binary":
        return ratings.select("user_id", "movie_id", F.lit(1.0).alias("value"))
    if params.confidence == "linear":
        return ratings.select("user_id", "movie_id", F.col("rating").alias("value"))
    if params.confidence == "plays":
        return ratings.select("user_id", "movie_id",
                              F.log2(1.0 + F.coalesce(F.col("play_count"), F.lit(1.0))).alias("value"))
    return (ratings.where(F.col("rating") >= params.threshold)
            .select("user_id", "movie_id", F.lit(1.0).alias("value")))


def fit_implicit(ratings: DataFrame, params: ImplicitParams, seed: int, run: str = "") -> DataFrame:
    """MLlib implicit ALS on `ratings`, as a factor table covering every user and movie of
    `ratings` (all-zero factors for one without a counted interaction, as the DuckDB path); NaN or
    infinite factors fail the fit as they do there (`non_finite_factors`).

    The table comes back cached (the caller unpersists it); MLlib's factor RDDs are released here.
    """
    als = ALS(rank=params.factors, regParam=params.regularization, alpha=params.alpha, maxIter=params.iterations,
              implicitPrefs=True, seed=seed, userCol="user", itemCol="item", ratingCol="rating")
    zeros = F.array_repeat(F.lit(0.0).cast("float"), params.factors)

    def side(key: str, factors: DataFrame) -> DataFrame:
        return (ratings.groupBy(key).agg(F.count(F.lit(1)).alias("n_ratings"))
                .join(factors.withColumnRenamed("id", key), key, "left")
                .select(F.col(key).alias("id"), F.lit(0.0).alias("bias"),
                        F.coalesce("features", zeros).alias("factors"), "n_ratings"))
    non_finite = F.exists("factors", lambda x: F.isnan(x) | (F.abs(x) == float("inf")))
    with Held() as held:
        model = held.model(fit_als(als, als_input(interactions(ratings, params), "value")))
        table = factor_table(run, side("user_id", model.userFactors), side("movie_id", model.itemFactors),
                             0.0).cache()
        try:
            bad = table.where(non_finite).groupBy("entity").count().collect()  # the one pass also fills the cache
        except BaseException:
            table.unpersist()
            raise
    if bad:
        table.unpersist()
        raise non_finite_factors(bad[0]["entity"], bad[0]["count"], params)
    return table


def popularity_table(ratings: DataFrame, run: str = "") -> DataFrame:
    """Popularity as a rank-1 factor table: user [1], movie [count of ratings >= 4.0] (popularity_factors)."""
    users = ratings.groupBy("user_id").agg(F.count(F.lit(1)).alias("n_ratings")).select(
        F.col("user_id").alias("id"), F.lit(0.0).alias("bias"), F.array(F.lit(1.0)).alias("factors"), "n_ratings")
    movies = ratings.groupBy("movie_id").agg(
        F.count(F.lit(1)).alias("n_ratings"),
        F.sum(F.when(F.col("rating") >= POPULAR_MIN_RATING, 1.0).otherwise(0.0)).alias("liked")).select(
        F.col("movie_id").alias("id"), F.lit(0.0).alias("bias"), F.array("liked").alias("factors"), "n_ratings")
    return factor_table(run, users, movies, 0.0)


def popularity_factors(split: DataFrame, settings_json: str) -> DataFrame:
    """Popularity on all clean ratings with its own run id (data + code + engine, no settings), as on DuckDB."""
    settings_of(settings_json)
    split = split_frame(split)
    run = spark_run_id("popularity", fingerprint(split), {"min_rating": POPULAR_MIN_RATING})
    return popularity_table(split, run)


def ranking_run_id(data_fingerprint: str, settings: RankingSettings) -> str:
    return spark_run_id("implicit_als", data_fingerprint, asdict(settings))


GRID_SCHEMA = ("run_id string, config_id bigint, factors bigint, regularization double, alpha double, "
               "iterations bigint, confidence string, confidence_threshold double, validation_ndcg_at_10 double, "
               "validation_precision_at_10 double, fit_seconds double, is_chosen boolean, grid_name string, "
               "seed bigint, tuning_strategy string, n_tuning_ratings bigint")


def implicit_grid_search(split: DataFrame, settings_json: str) -> DataFrame:
    """Fit every grid point on train minus CV fold 0; NDCG@10 on fold 0 (never the test part).

    Past tuning_max_ratings (`auto`), or with `sampled_holdout`, the same on the train ratings of a
    user sample (`frames.tuning_rows`: the DuckDB engine's rule and users)."""
    settings = settings_of(settings_json)
    feedback = Feedback.of(split_frame(split))
    with Held() as held:
        data_fingerprint, plan, fit_part, relevant, users, n_catalogue = validation_part(
            split, held, settings.tuning, settings.seed)
        results = []
        for params in expand_implicit_grid(grid_for_feedback(settings.grid, feedback.implicit, feedback.counted)):
            started = time.perf_counter()
            table = fit_implicit(fit_part, params, settings.seed)
            seconds = time.perf_counter() - started
            try:
                recs = top_n_unseen(table, fit_part, users, settings.top_n)
                results.append((params, ranking_metrics(recs, relevant, settings.top_n, n_catalogue), seconds))
            finally:
                table.unpersist()
    best = max(results, key=lambda r: r[1]["ndcg"])  # ties: earlier grid point (max keeps the first)
    run = ranking_run_id(data_fingerprint, settings)
    strategy = "holdout" if plan.strategy == "kfold" else plan.strategy  # as implicit_grid_search on DuckDB
    rows = [(run, i, p.factors, float(p.regularization), float(p.alpha), p.iterations, p.confidence,
             float(p.threshold), m["ndcg"], m["precision"], s, r is best, settings.grid_name,
             settings.seed, strategy, plan.n_ratings)
            for i, r in enumerate(results, start=1) for p, m, s in [r]]
    return split.sparkSession.createDataFrame(rows, GRID_SCHEMA)


def chosen_params(grid_search: DataFrame) -> tuple[ImplicitParams, str]:
    row = single_row(grid_search, "is_chosen", "implicit_grid_search")
    params = ImplicitParams(factors=int(row["factors"]), regularization=float(row["regularization"]),
                            alpha=float(row["alpha"]), iterations=int(row["iterations"]),
                            confidence=str(row["confidence"]), threshold=float(row["confidence_threshold"]))
    return params, str(row["run_id"])


def implicit_factors(split: DataFrame, grid_search: DataFrame, settings_json: str) -> DataFrame:
    """The chosen implicit configuration refit on all clean ratings: the served factors."""
    settings = settings_of(settings_json)
    params, run = chosen_params(grid_search)
    # cached until dbt has written the table (resources.release_after_write)
    return release_after_write(fit_implicit(split_frame(split), params, settings.seed, run))


EVALUATION_SCHEMA = ("run_id string, model string, protocol string, scope string, precision_at_10 double, recall_at_10 double, ndcg_at_10 double, "
                     "map_at_10 double, catalogue_coverage double, "
                     + "".join(f"{column} double, " for column in BEYOND_COLUMNS)
                     + "n_users_evaluated bigint, n_users_eligible bigint, "
                     "is_user_sample boolean, n_cold_start_test_rows bigint, validation_ndcg_at_10 double, "
                     "validation_precision_at_10 double, n_users_validated bigint, is_served boolean, serves_similarity boolean, "
                     "parameters string, evaluation_seconds double, library_versions string")


def train_models(train: DataFrame, params: ImplicitParams, seed: int, int_als_factors: DataFrame,
                 ease: EaseChoice, explicit_parameters: str = "", part: str = "test",
                 blend_weights: tuple[float, ...] = ()) -> tuple[list[tuple], PartFits]:
    """Each ranked model on `part`'s fit rows `train`, as (name, its factor table made on call or None when
    EASE's budget skips it, its parameters JSON, what identifies its fit for `evaluation_lists`, its scope),
    the blend once per weight in `blend_weights`, and the part's `PartFits` (the caller releases it). The
    explicit fit of the part comes from int_als_factors; implicit ALS and EASE are fitted once for the part
    and shared with the blend: their makers hand `evaluation_lists` a view, so it does not unpersist them."""
    implicit_parameters = json.dumps(asdict(params), sort_keys=True)
    explicit_fit = explicit.train_fit(int_als_factors, "train" if part == "test" else part)  # None: implicit data
    fits = PartFits(train, params, seed, ease)
    scope = fits.ease_scope()
    usable = not scope.startswith("skipped")
    ease_parameters = ease.parameters
    models = [
        ("implicit_als", lambda: fits.implicit().select("*"), implicit_parameters, f"{implicit_parameters} seed {seed} {part}",
         ease_ranking.FULL_SCOPE),
        ("popularity", lambda: popularity_table(train), json.dumps({"score": "train ratings >= 4.0 per movie"}),
         part, ease_ranking.FULL_SCOPE),
        ("explicit_als", None, explicit_parameters, part, NOT_BUILT_ON_IMPLICIT) if explicit_fit is None
        else ("explicit_als", lambda: explicit_fit, explicit_parameters,
              f"{explicit_fit.select('run_id').first()[0]} {part}", ease_ranking.FULL_SCOPE),
        (EASE_MODEL, (lambda: fits.ease().select("*")) if usable else None, ease_parameters, f"{ease_parameters} {part}", scope),
    ]
    for weight in blend_weights:
        parameters = ease_tables.blend_parameters(weight, ease_parameters, implicit_parameters)
        models.append((BLEND_MODEL, (lambda w=weight: fits.blend(w)) if usable else None, parameters,
                       f"{parameters} seed {seed} {part}", f"{ease_ranking.FULL_SCOPE}; EASE half: {scope}"))
    return models, fits


class PartFits:
    """A part's implicit ALS and EASE factor tables, each fitted once and kept (cached) until `release`:
    the blend is made from them. The lists `evaluation_lists` persists outlive them."""

    def __init__(self, train: DataFrame, params: ImplicitParams, seed: int, ease: EaseChoice) -> None:
        self.train, self.params, self.seed, self.choice = train, params, seed, ease
        self._implicit: DataFrame | None = None
        self._ease: DataFrame | None = None
        self._scope: str | None = None

    def implicit(self) -> DataFrame:
        if self._implicit is None:
            self._implicit = fit_implicit(self.train, self.params, self.seed)
        return self._implicit

    def ease(self) -> DataFrame:
        if self._ease is None:
            self._ease = ease_ranking.fit_choice(self.choice, self.train)
        return self._ease

    def ease_scope(self) -> str:
        """ranking_evaluation.scope of EASE on this part (the budget rule on its positives; no fit)."""
        if self._scope is None:
            self._scope = ease_ranking.scope_on(self.choice, self.train)
        return self._scope

    def blend(self, weight: float) -> DataFrame:
        return ease_ranking.blended(self.ease(), self.implicit(), weight)

    def release(self) -> None:
        for table in (self._implicit, self._ease):
            ease_ranking.release(table)
        self._implicit = self._ease = None


def evaluated_users(relevant: DataFrame, settings: RankingSettings,
                    held: Held | None = None) -> tuple[DataFrame, DataFrame, EvaluationUsers]:
    """`relevant` and its users, cut to the users the evaluation scores (cinemart.evaluation.users).

    The eligible ids come to the driver so the sample is drawn by the same
    function, from the same sorted ids and seed, as on DuckDB. What is cached
    for a sample is cached through `held` (released with it) when given.
    """
    cache = held.cache if held is not None else (lambda frame: frame.cache())
    ids = np.array([row[0] for row in relevant.select("user_id").distinct().collect()], dtype=np.int64)
    chosen = evaluation_users(ids, settings.eval_max_users, settings.seed)
    if not chosen.is_sample:
        return relevant, relevant.select("user_id").distinct(), chosen
    users = cache(relevant.sparkSession.createDataFrame([(int(u),) for u in chosen.ids], "user_id bigint"))
    return cache(relevant.join(users, "user_id", "left_semi")), users, chosen


#: The evaluation's top-n lists (persisted) for the current split and SparkSession, shared with its activity split.
ranked_lists: ListsOnce[DataFrame] = ListsOnce(release=lambda recs: recs.unpersist())


def lists_key(split: DataFrame) -> tuple[str, str]:
    """What `evaluation_lists` are valid for: these split rows, in this Spark application."""
    return fingerprint(split), split.sparkSession.sparkContext.applicationId


def evaluation_lists(split_key: tuple[str, str], train: DataFrame, users: DataFrame, name: str, fit_key: str, make,
                     top_n: int) -> DataFrame:
    """Model `name`'s top-n unseen movies for `users` (fitted by `make`, identified by `fit_key`), once per split,
    with `personalised`: whether the model's row for the user is not all zero.

    The lists are persisted and filled at once; then the fit `make` cached (an implicit ALS table) is released.
    """
    def compute() -> DataFrame:
        table = make()
        personal = entity(table, "user").select(F.col("id").alias("user_id"), personalised().alias("personalised"))
        recs = top_n_unseen(table, train, users, top_n).join(personal, "user_id", "left").persist()
        try:
            recs.count()
        except BaseException:
            recs.unpersist()
            raise
        finally:
            if table.is_cached:
                table.unpersist()
        return recs

    return ranked_lists.get(split_key, (name, fit_key, top_n), compute)


def collected_content(content_vectors: DataFrame) -> ContentVectors:
    """int_movie_content_vectors on the driver (one vector per catalogue movie: tens of MB at ml-25m's size)."""
    rows = content_vectors.select("movie_id", "content").toPandas().sort_values("movie_id")
    return ContentVectors(IdIndex(rows["movie_id"].to_numpy(np.int64)),
                          np.stack(rows["content"].to_numpy()).astype(np.float32), ())


def beyond_of(recs: DataFrame, train: DataFrame, content: ContentVectors, name: str, top_n: int) -> dict:
    """`cinemart.evaluation.beyond` on the evaluated users' lists, collected to the driver (at most
    ranking_eval_max_users x top_n rows), against the fit part `train`: the NumPy function DuckDB runs."""
    lists = recs.select("user_id", "rank", "movie_id", "personalised").toPandas()
    raters = train.groupBy("movie_id").agg(F.count(F.lit(1)).alias("n")).toPandas()
    movies = IdIndex(np.sort(raters["movie_id"].to_numpy(np.int64)))
    item_raters = np.zeros(len(movies), dtype=np.int64)
    item_raters[movies.encode(raters["movie_id"].to_numpy(np.int64))] = raters["n"].to_numpy()
    users, row = np.unique(lists["user_id"].to_numpy(np.int64), return_inverse=True)
    top = np.full((users.size, top_n), -1, dtype=np.int64)
    top[row, lists["rank"].to_numpy(np.int64) - 1] = movies.encode(lists["movie_id"].to_numpy(np.int64))
    personal = np.zeros(users.size, dtype=bool)
    personal[row] = lists["personalised"].fillna(False).to_numpy(bool)
    n_fit_users = train.select("user_id").distinct().count()
    return beyond_accuracy(top, item_raters, n_fit_users, content_of(movies, content), personal,
                           personalises=name not in NON_PERSONAL_MODELS).as_dict()


def part_frames(split: DataFrame, part: str) -> tuple[DataFrame, DataFrame]:
    """(fit rows, held-out rows) of `part`, as SplitRatings.part_rows splits them on DuckDB."""
    if part == "temporal":
        return split.where(~F.col("is_after_cut")), split.where(F.col("is_after_cut"))
    train = split.where(~F.col("is_test"))
    if part == "validation":
        return train.where(F.col("cv_fold") != VALIDATION_FOLD), train.where(F.col("cv_fold") == VALIDATION_FOLD)
    return train, split.where(F.col("is_test"))


def ranking_evaluation(split: DataFrame, implicit_grid: DataFrame, ease_grid: DataFrame, als_grid: DataFrame,
                       int_als_factors: DataFrame, content_vectors: DataFrame, settings_json: str) -> DataFrame:
    """Every ranked model fitted on each part, judged by one protocol; chosen on validation.

    As on DuckDB (cinemart.warehouse.ranking_tables): one row per model and
    protocol (random: the test part; temporal: the ratings after the cut);
    the validation part (train without the validation fold, judged on it)
    chooses the blend's EASE weight, then the served and the taste model,
    flagged on the random rows; the test parts only report. The explicit
    model is not refit: its fit of each part comes from int_als_factors. A
    model EASE's budget skips has null metrics and the reason in `scope`.
    Every protocol's lists are also measured beyond accuracy, by DuckDB's own
    function.
    """
    settings = settings_of(settings_json)
    params, run = chosen_params(implicit_grid)
    ease = ease_ranking.chosen(ease_grid)
    # the explicit model's configuration; none on implicit feedback, where als_grid_search has no rows
    explicit_parameters = "{}" if als_grid.isEmpty() else json.dumps(
        {**asdict(explicit.chosen_point(als_grid)[0]),
         "biased": bool(single_row(als_grid, "is_chosen", "als_grid_search")["biased"])})
    scored: dict[str, dict[str, tuple]] = {}
    judged: dict[str, tuple] = {}  # per protocol part: (EvaluationUsers, cold held-out rows)
    content = collected_content(content_vectors)
    weights = BLEND_WEIGHTS
    with Held() as held:
        split = held.cache(split_frame(split))
        key = lists_key(split)
        for part in ("validation", *PROTOCOL_PARTS.values()):
            fit_rows, held_out = part_frames(split, part)
            train = held.cache(fit_rows)
            relevant, users, chosen = evaluated_users(held.cache(relevant_warm(held_out, train)), settings, held)
            n_catalogue = train.select("movie_id").distinct().count()
            n_warm = (held_out.join(train.select("user_id").distinct(), "user_id", "left_semi")
                      .join(train.select("movie_id").distinct(), "movie_id", "left_semi").count())
            judged[part] = (chosen, held_out.count() - n_warm)
            models, fits = train_models(train, params, settings.seed, int_als_factors, ease, explicit_parameters,
                                        part, weights)
            try:
                for name, make, parameters, fit_key, scope in models:
                    started = time.perf_counter()
                    if make is None:
                        result = (NO_METRICS, {}, parameters, 0.0, scope)
                    else:
                        recs = evaluation_lists(key, train, users, name, fit_key, make, settings.top_n)
                        metrics = ranking_metrics(recs, relevant, settings.top_n, n_catalogue)
                        beyond = beyond_of(recs, train, content, name, settings.top_n) if part != "validation" \
                            else {}
                        result = (metrics, beyond, parameters, time.perf_counter() - started, scope)
                    best = scored.setdefault(name, {}).get(part)
                    if best is None or (result[0]["ndcg"] or 0.0) > (best[0]["ndcg"] or 0.0):  # the blend's weight
                        scored[name][part] = result
            finally:
                fits.release()
            if part == "validation" and scored[BLEND_MODEL][part][0]["ndcg"] is not None:
                weights = (ease_tables.blend_weight(scored[BLEND_MODEL][part][2]),)
    names = list(scored)
    validated = [n for n in names if scored[n]["validation"][0]["ndcg"] is not None]
    served = max(validated, key=lambda name: scored[name]["validation"][0]["ndcg"])
    taste = max((n for n in validated if n in TASTE_MODELS), key=lambda name: scored[name]["validation"][0]["ndcg"])
    versions = library_versions()
    rows = []
    for protocol, part in PROTOCOL_PARTS.items():
        (chosen, n_cold), chooses = judged[part], protocol == "random"
        for name in names:
            (m, beyond, parameters, seconds, scope), (v, _, _, validation_seconds, _) = scored[name][part], \
                scored[name]["validation"]
            rows.append((run, name, protocol, scope, m["precision"], m["recall"], m["ndcg"], m["map"], m["coverage"],
                         *(beyond.get(column) for column in BEYOND_COLUMNS), m["n_users"], chosen.n_eligible,
                         chosen.is_sample, n_cold, v["ndcg"] if chooses else None,
                         v["precision"] if chooses else None, v["n_users"] if chooses else None,
                         chooses and name == served, chooses and name == taste, parameters,
                         seconds + (validation_seconds if chooses else 0.0), versions))
    return split.sparkSession.createDataFrame(rows, EVALUATION_SCHEMA)
