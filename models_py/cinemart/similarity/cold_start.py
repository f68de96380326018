"""The cold start, simulated: how well does each source rebuild a movie's list from only k of its ratings?

Take movies with >= MIN_RATINGS ratings (at most MAX_MOVIES of them, a seeded
sample, so a 25M build stays cheap). For each k in KS keep k of a movie's
ratings, the first k of a seeded random order (so the k = 3 ratings include
the k = 1 one), fold the movie's taste factors in from them alone
(`cinemart.models.fold_in`, against the served user factors) and rebuild its
top-10 against the full-data candidates (`cinemart.similarity.blend`), by

  collaborative  the folded-in factors alone (w = 1)
  content        the content vector alone (w = 0; the same list at every k)
  blend          w = min(1, k / T) for each candidate threshold T (var similar_movies_min_ratings)

and compare with the movie's list from all its ratings (the served one):
overlap@10 (share of the full-data top 10 rebuilt) and top1_in_top10 (share of
movies whose full-data nearest neighbour is still in the top 10).

The user factors were fitted with the movie's ratings in them, so the k
ratings are not quite unseen: all three methods share that optimism, and the
comparison between them stays fair.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cinemart.data.ids import IdIndex
from cinemart.models.fold_in import FoldIn, fold_in
from cinemart.serving.scoring import nearest, unit_rows
from cinemart.similarity.blend import SimilarityVectors, query_vectors, support_weight

MIN_RATINGS = 50
MAX_MOVIES = 1000
KS = (1, 3, 5, 10)
THRESHOLDS = (2, 5, 10, 20, 50)  # candidate settings of similar_movies_min_ratings
TOP_N = 10


def sample_movies(vectors: SimilarityVectors, seed: int, min_ratings: int = MIN_RATINGS,
                  max_movies: int = MAX_MOVIES) -> np.ndarray:
    """Catalogue rows of the movies to simulate: >= min_ratings ratings and a taste direction, sorted."""
    eligible = np.flatnonzero((vectors.n_ratings >= min_ratings) & np.any(vectors.unit_cf != 0, axis=1))
    if eligible.size > max_movies:
        eligible = np.sort(np.random.default_rng(seed).choice(eligible, max_movies, replace=False))
    return eligible


def pick_order(movie_id: np.ndarray, user_id: np.ndarray, movies: np.ndarray, max_k: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (into the rating arrays) of the first max_k ratings of each of `movies` in a seeded random order.

    Returns (rows, pick) with pick = 0, 1, ... per movie; the same ratings and
    seed give the same picks in whatever order the rows come.
    """
    movie_id = np.asarray(movie_id, dtype=np.int64)
    user_id = np.asarray(user_id, dtype=np.int64)
    rows = np.flatnonzero(np.isin(movie_id, movies))
    rows = rows[np.lexsort((user_id[rows], movie_id[rows]))]  # whatever order the engine fetched them in
    key = np.random.default_rng(seed).random(rows.size)
    rows = rows[np.lexsort((key, movie_id[rows]))]
    starts = np.flatnonzero(np.r_[True, movie_id[rows][1:] != movie_id[rows][:-1]])
    pick = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    keep = pick < max_k
    return rows[keep], pick[keep]


def _lists(vectors: SimilarityVectors, queries: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """(len(sample), TOP_N) candidate rows, -1 where a list is shorter; no list for an all-zero query."""
    found = nearest(queries, vectors.candidate, sample, TOP_N, allowed=vectors.is_candidate)
    lists = np.full((sample.size, TOP_N), -1, dtype=np.int64)
    lists[found.item, found.rank.astype(np.int64) - 1] = found.similar_item
    lists[~np.any(queries != 0, axis=1)] = -1  # nothing to search from: every score 0, the order meaningless
    return lists


def _agreement(lists: np.ndarray, reference: np.ndarray) -> tuple[float | None, float | None]:
    """(mean overlap@10, share with the full-data top 1 kept); None for no movie (a small catalogue), not NaN."""
    if lists.shape[0] == 0:
        return None, None
    hits = (lists[:, :, None] == reference[:, None, :]) & (reference[:, None, :] >= 0)
    overlap = hits.any(axis=1).sum(axis=1) / np.maximum((reference >= 0).sum(axis=1), 1)
    top1 = (lists == reference[:, :1]).any(axis=1)
    return float(overlap.mean()), float(top1.mean())


def cold_start_table(vectors: SimilarityVectors, sample: np.ndarray, picked_movie_id: np.ndarray,
                     picked_user_id: np.ndarray, picked_rating: np.ndarray, pick: np.ndarray, users: IdIndex,
                     user_factors: np.ndarray, user_bias: np.ndarray, global_mean: float, fold: FoldIn,
                     served_threshold: int, model: str, run_id: str, ks: tuple[int, ...] = KS,
                     thresholds: tuple[int, ...] = THRESHOLDS) -> pa.Table:
    """One row per (k, method[, threshold]) for the `sample` rows of `vectors` (module docstring).

    picked_*: the kept ratings of the sample movies with their pick order
    (`pick_order`); a movie's first k picks are its k ratings.
    """
    reference = _lists(vectors, vectors.query[sample], sample)
    content_lists = _lists(vectors, query_vectors(vectors.unit_cf[sample], vectors.content[sample],
                                                  np.zeros(sample.size)), sample)
    content_scores = _agreement(content_lists, reference)
    y = np.asarray(user_factors, dtype=np.float64)
    gram = y.T @ y
    movie_of = vectors.movies.encode(picked_movie_id)
    user_of = users.encode(picked_user_id)
    if (user_of < 0).any():
        raise ValueError("a kept rating's user is missing from the served factors; rebuild the factor tables")
    position = np.full(len(vectors.movies), -1)
    position[sample] = np.arange(sample.size)
    columns: dict[str, list] = {name: [] for name in ("k", "method", "threshold", "support_weight", "n_movies",
                                                       "overlap_at_10", "top1_in_top10", "is_default")}

    def add(k: int, method: str, threshold: int | None, weight: float, scores: tuple[float, float]) -> None:
        for name, value in zip(columns, (k, method, threshold, weight, int(sample.size), *scores,
                                         method == "blend" and threshold == served_threshold)):
            columns[name].append(value)

    for k in ks:
        folded = np.zeros((sample.size, y.shape[1]))
        for row in range(sample.size):
            mine = np.flatnonzero((position[movie_of] == row) & (pick < k))
            folded[row] = fold_in(fold, y, user_bias, global_mean, user_of[mine], picked_rating[mine], gram)[0]
        unit_cf = unit_rows(folded)
        has_direction = np.any(unit_cf != 0, axis=1)
        add(k, "collaborative", None, 1.0,  # a movie whose k ratings give no direction gets no list
            _agreement(_lists(vectors, query_vectors(unit_cf, vectors.content[sample], np.ones(sample.size)), sample),
                       reference))
        add(k, "content", None, 0.0, content_scores)
        for threshold in thresholds:
            weight = support_weight(np.full(sample.size, k), has_direction, threshold)
            add(k, "blend", threshold, min(1.0, k / threshold),
                _agreement(_lists(vectors, query_vectors(unit_cf, vectors.content[sample], weight), sample), reference))
    n = len(columns["k"])
    return pa.table({
        "k": pa.array(columns["k"], pa.int32()),
        "method": pa.array(columns["method"], pa.string()),
        "threshold": pa.array(columns["threshold"], pa.int32()),
        "support_weight": pa.array(columns["support_weight"], pa.float64()),
        "n_movies": pa.array(columns["n_movies"], pa.int64()),
        "overlap_at_10": pa.array(columns["overlap_at_10"], pa.float64()),
        "top1_in_top10": pa.array(columns["top1_in_top10"], pa.float64()),
        "is_default": pa.array(columns["is_default"], pa.bool_()),
        "model": pa.array([model] * n, pa.string()),
        "run_id": pa.array([run_id] * n, pa.string()),
    })
