"""Top-N, cosine neighbours, explanations and ranking metrics as distributed Spark jobs.

Top-N and neighbours are exact blocked scoring (cinemart.spark.blocked): the
movie side of a factor table is broadcast, users (or movies) stream past it
in Arrow batches, seen movies (the movie itself) are masked per row and the
order is (score desc, movie_id asc). Nothing the size of users x movies or
movies x movies is materialized or collected.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from cinemart.spark._compat import RELEVANT_MIN_RATING
from cinemart.spark.blocked import top_n_against
from cinemart.spark.frames import TuningRows, dot, entity, fingerprint, split_frame, tuning_rows, unit
from cinemart.spark.resources import Held

#: The CV fold the grids are scored on (as `cinemart.data.ratings.VALIDATION_FOLD`).
VALIDATION_FOLD = 0


def _ranked(candidates: DataFrame, key, item: str, score: str, n: int) -> DataFrame:
    order = Window.partitionBy(key).orderBy(F.desc(score), F.asc(item))
    return candidates.withColumn("rank", F.row_number().over(order).cast("int")).where(F.col("rank") <= n)


def _movie_side(frame: DataFrame, vector: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of a small per-movie frame on the driver: movies x k, the model itself."""
    rows = frame.select("id", vector).where(F.col(vector).isNotNull()).collect()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    width = len(rows[0][1]) if rows else 0
    return ids, np.array([r[1] for r in rows], dtype=np.float64).reshape(len(rows), width)


def top_n_unseen(table: DataFrame, seen: DataFrame, users: DataFrame, n: int) -> DataFrame:
    """Top-n movies per user of `users` (user_id) not in `seen` (user_id, movie_id), scored from `table`.

    Score = global_mean + b_u + b_i + p_u.q_i (the factor tables' formula): the
    movie side [q_i, b_i] is broadcast, each user row carries [p_u, 1], the
    offset global_mean + b_u and its seen list.
    Returns user_id, rank (int, 1..n), movie_id, score (double).
    """
    ids, movies = _movie_side(entity(table, "movie").select(
        "id", F.concat("factors", F.array(F.col("bias"))).alias("v")), "v")
    seen_lists = seen.groupBy("user_id").agg(F.collect_list("movie_id").alias("exclude"))
    queries = (users.select("user_id").distinct()
               .join(entity(table, "user").select(F.col("id").alias("user_id"), "bias", "factors", "global_mean"),
                     "user_id")
               .join(seen_lists, "user_id", "left")
               .select("user_id", F.concat("factors", F.array(F.lit(1.0))).alias("vector"), "exclude",
                       (F.col("global_mean") + F.col("bias")).alias("offset")))
    return top_n_against(queries, "user_id", ids, movies, n, "movie_id", "score")


def similar_by_vectors(vectors: DataFrame, n: int) -> DataFrame:
    """Top-n by query_vector . candidate_vector (int_movie_similarity_vectors), itself excluded.

    Candidates (is_candidate) are broadcast; every is_query movie streams past them.
    Returns movie_id, rank, similar_movie_id, similarity (double, clipped to [-1, 1]).
    """
    ids, candidates = _movie_side(vectors.where("is_candidate").select(
        F.col("movie_id").alias("id"), F.col("candidate_vector").cast("array<double>").alias("c")), "c")
    queries = vectors.where("is_query").select(
        "movie_id", F.col("query_vector").cast("array<double>").alias("vector"), F.array("movie_id").alias("exclude"),
        F.lit(0.0).alias("offset"))
    found = top_n_against(queries, "movie_id", ids, candidates, n, "similar_movie_id", "similarity")
    return found.withColumn("similarity", F.least(F.greatest("similarity", F.lit(-1.0)), F.lit(1.0)))


def because_you_liked(recommendations: DataFrame, ratings: DataFrame, taste: DataFrame) -> DataFrame:
    """recommendations (user_id, movie_id, ...) + because_you_liked_movie_id, because_similarity.

    Liked = the user's ratings >= 4.0, or their top-rated movies when none is;
    the liked movie with the highest cosine (taste model's movie factors) to
    the recommendation explains it, ties to the lower movie id; a movie never
    explains itself. Rows: recommendations x liked movies of that user.
    """
    top = F.max("rating").over(Window.partitionBy("user_id"))
    liked = (ratings.select("user_id", "movie_id", "rating").withColumn("top", top)
             .where((F.col("rating") >= RELEVANT_MIN_RATING) | (F.col("rating") == F.col("top")))
             .select("user_id", F.col("movie_id").alias("liked_id")))
    vectors = entity(taste, "movie").select("id", unit("factors").alias("v"))
    pairs = (recommendations.select("user_id", "movie_id").join(liked, "user_id")
             .where(F.col("movie_id") != F.col("liked_id"))
             .join(vectors.select(F.col("id").alias("movie_id"), F.col("v").alias("a")), "movie_id")
             .join(vectors.select(F.col("id").alias("liked_id"), F.col("v").alias("b")), "liked_id")
             .where(F.col("a").isNotNull() & F.col("b").isNotNull())
             .withColumn("sim", F.least(F.greatest(dot("a", "b"), F.lit(-1.0)), F.lit(1.0))))
    best = _ranked(pairs, F.array("user_id", "movie_id"), "liked_id", "sim", 1).select(
        "user_id", "movie_id", F.col("liked_id").alias("because_you_liked_movie_id"),
        F.col("sim").alias("because_similarity"))
    return recommendations.join(best, ["user_id", "movie_id"], "left")


def per_user_ranking_metrics(recommendations: DataFrame, relevant: DataFrame, k: int) -> DataFrame:
    """user_id, precision, recall, ndcg, map of every user with a relevant held-out movie.

    Definitions as cinemart.evaluation.ranking.per_user_metrics (recall and
    ideal DCG over min(k, R), AP normalised by min(k, R)); recommendations:
    user_id, rank, movie_id. A user with no recommendation scores zeros.
    """
    per_user = relevant.groupBy("user_id").agg(F.count(F.lit(1)).alias("n_relevant"))
    hits = (recommendations.select("user_id", "rank", "movie_id").join(relevant.select("user_id", "movie_id"),
                                                                     ["user_id", "movie_id"])
            .withColumn("hits_so_far", F.row_number().over(Window.partitionBy("user_id").orderBy("rank"))))
    gains = hits.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("hits"), F.sum(1.0 / F.log2(F.col("rank") + 1)).alias("dcg"),
        F.sum(F.col("hits_so_far") / F.col("rank")).alias("ap_sum"))
    denom = F.least(F.lit(k), F.col("n_relevant"))
    ideal = F.expr(f"aggregate(sequence(1, least({k}, n_relevant)), cast(0 as double), "
                   f"(acc, i) -> acc + 1 / log2(i + 1))")
    return per_user.join(gains, "user_id", "left").fillna(0, ["hits", "dcg", "ap_sum"]).select(
        "user_id", (F.col("hits") / k).alias("precision"), (F.col("hits") / denom).alias("recall"),
        (F.col("dcg") / ideal).alias("ndcg"), (F.col("ap_sum") / denom).alias("map"))


def ranking_metrics(recommendations: DataFrame, relevant: DataFrame, k: int, n_catalogue: int) -> dict:
    """precision/recall/NDCG/MAP@k averaged over users with a relevant held-out movie, plus coverage."""
    scored = per_user_ranking_metrics(recommendations, relevant, k)
    row = scored.agg(*(F.avg(c).alias(c) for c in ("precision", "recall", "ndcg", "map")),
                     F.count(F.lit(1)).alias("n_users")).first()
    if not row["n_users"]:
        raise ValueError("no user has a relevant held-out movie; ranking metrics are undefined")
    coverage = recommendations.select("movie_id").distinct().count() / n_catalogue
    return {**row.asDict(), "coverage": coverage}


def relevant_warm(held_out: DataFrame, fitted_on: DataFrame) -> DataFrame:
    """Held-out ratings >= 4.0 whose user and movie occur in `fitted_on` (others no model can rank)."""
    return (held_out.where(F.col("rating") >= RELEVANT_MIN_RATING)
            .join(fitted_on.select("user_id").distinct(), "user_id")
            .join(fitted_on.select("movie_id").distinct(), "movie_id").select("user_id", "movie_id"))


class ValidationPart(NamedTuple):
    """What a grid search scores on: train minus fold 0 (fit_part), fold 0's relevant rows and their users."""

    data_fingerprint: str
    plan: TuningRows
    fit_part: DataFrame
    relevant: DataFrame
    users: DataFrame
    n_catalogue: int


def validation_part(split: DataFrame, held: Held, policy, seed: int) -> ValidationPart:
    """int_ratings_split's tuning rows as a grid search scores them (every train rating, or past
    tuning_max_ratings a user sample: `frames.tuning_rows`), split into fit part and validation fold;
    what it caches is released with `held`."""
    split = held.cache(split_frame(split))
    data_fingerprint = fingerprint(split)
    plan = tuning_rows(split.where(~F.col("is_test")), policy, seed)
    train = held.cache(plan.rows) if plan.strategy != "kfold" else plan.rows
    fit_part = held.cache(train.where(F.col("cv_fold") != VALIDATION_FOLD))
    relevant = held.cache(relevant_warm(train.where(F.col("cv_fold") == VALIDATION_FOLD), fit_part))
    return ValidationPart(data_fingerprint, plan, fit_part, relevant, relevant.select("user_id").distinct(),
                          fit_part.select("movie_id").distinct().count())
