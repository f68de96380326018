"""Because you liked": for each recommendation, the liked movie most similar to it."""

from __future__ import annotations

from typing import NamedTuple

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from numba import njit

from cinemart.models.threads import cpu_slot, thread_budget
from cinemart.validation import index_array

_CHUNK = 65_536  # recommendations per task: many tasks per thread, each well above the dispatch cost


class Explanations(NamedTuple):
    item: np.ndarray  # int32, the liked movie (-1: user has no ratings)
    similarity: np.ndarray  # float32 cosine to the recommended movie (NaN if none)


def _liked_items(user_ratings: sp.csr_matrix, min_rating: float) -> sp.csr_matrix:
    """Per user, ratings >= ``min_rating``, or the top-rated ones if none are."""
    ratings = user_ratings.tocsr(copy=True)
    ratings.eliminate_zeros()
    ratings.sort_indices()
    lengths = np.diff(ratings.indptr)
    row_max = np.full(ratings.shape[0], -np.inf)
    nonempty = lengths > 0
    row_max[nonempty] = np.maximum.reduceat(ratings.data, ratings.indptr[:-1][nonempty])
    entry_max = np.repeat(row_max, lengths)
    keep = (ratings.data >= min_rating) | ((entry_max < min_rating) & (ratings.data == entry_max))
    liked = sp.csr_matrix(
        (keep.astype(np.int8), ratings.indices, ratings.indptr), shape=ratings.shape
    )
    liked.eliminate_zeros()
    return liked


@njit(cache=True, nogil=True)
def _most_similar_liked(unit: np.ndarray, indptr: np.ndarray, indices: np.ndarray, rec_users: np.ndarray,
                        rec_items: np.ndarray, explanation: np.ndarray, similarity: np.ndarray) -> None:
    """Per recommendation, the liked movie of highest cosine, written in place.

    Liked movies are scanned in index order and a newcomer must beat the best
    so far strictly, so ties go to the lower index; the recommended movie
    itself and non-finite similarities never win.
    """
    width = unit.shape[1]
    for r in range(rec_users.size):
        user, target = rec_users[r], rec_items[r]
        best, best_item = -np.inf, -1
        for k in range(indptr[user], indptr[user + 1]):
            candidate = indices[k]
            if candidate == target:
                continue
            sim = unit[target, 0] * unit[candidate, 0]
            for j in range(1, width):
                sim += unit[target, j] * unit[candidate, j]
            if sim > best and sim < np.inf:
                best, best_item = sim, candidate
        if best_item >= 0:
            explanation[r] = best_item
            similarity[r] = min(max(best, -1.0), 1.0)


def because_you_liked(
    item_factors: np.ndarray,
    user_ratings: sp.csr_matrix,
    rec_users: np.ndarray,
    rec_items: np.ndarray,
    min_rating: float = 4.0,
) -> Explanations:
    """For each recommended (user, item), the liked movie most similar to it.

    "Liked" = rated >= ``min_rating`` in ``user_ratings`` (users x items CSR of
    raw ratings); users with no such rating fall back to their highest-rated
    movies, so every user with any rating gets an explanation. Similarity is
    cosine on ``item_factors`` (``Factors.item_factors``: taste, not biases); ties go
    to the lower item index. The recommended item itself is never its own
    explanation. One fused scan per recommendation (`_most_similar_liked`)
    rather than gathering (recommendation, liked movie) pairs into blocks and
    sorting them: at 25M ratings the top-10 lists meet ~115M such pairs, and
    the blocked NumPy version spent most of `int_user_recommendations` there.
    Chunks of recommendations run on the threads the process budget grants;
    each recommendation is independent, so the result does not depend on it.
    """
    item_factors = np.asarray(item_factors, dtype=np.float32)
    n_users, n_items = user_ratings.shape
    if item_factors.ndim != 2 or item_factors.shape[0] != n_items:
        raise ValueError(
            f"item_factors must have one row per item ({n_items}), got shape {item_factors.shape}"
        )
    rec_users = index_array("rec_users", rec_users, n_users)
    rec_items = index_array("rec_items", rec_items, n_items)
    if rec_users.shape != rec_items.shape:
        raise ValueError(f"rec_users and rec_items differ in length: {rec_users.size} vs {rec_items.size}")

    norms = np.linalg.norm(item_factors, axis=1, keepdims=True)
    unit = np.divide(item_factors, norms, out=np.zeros_like(item_factors), where=norms > 0)
    liked = _liked_items(user_ratings, min_rating)
    explanation = np.full(rec_users.size, -1, dtype=np.int32)
    similarity = np.full(rec_users.size, np.nan, dtype=np.float32)
    if unit.shape[1] == 0 or rec_users.size == 0:
        return Explanations(explanation, similarity)
    indptr, indices = liked.indptr.astype(np.int64), liked.indices.astype(np.int64)
    users, items = rec_users.astype(np.int64), rec_items.astype(np.int64)
    bounds = list(range(0, users.size, _CHUNK)) + [users.size]

    def explain(chunk: int) -> None:
        part = slice(bounds[chunk], bounds[chunk + 1])
        _most_similar_liked(unit, indptr, indices, users[part], items[part], explanation[part], similarity[part])

    with cpu_slot(min(thread_budget(), len(bounds) - 1)) as workers, ThreadPoolExecutor(workers) as pool:
        list(pool.map(explain, range(len(bounds) - 1)))
    return Explanations(explanation, similarity)
