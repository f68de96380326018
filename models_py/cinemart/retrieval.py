"""Batched top-N retrieval, similar items and "because you liked" explanations.

Everything returns flat, equally long NumPy arrays (a ``NamedTuple``), so
``pyarrow.table(result._asdict())`` is the whole hand-off to the warehouse.

Two implicit quirks shape the code: ``recommend``/``similar_items`` return
filtered items with score ``-FLT_MAX`` when fewer than ``N`` candidates
remain, and pad with item 0 / score 0 when ``N`` exceeds the catalogue. ``N``
is therefore capped at the catalogue size and filtered slots are dropped, so a
user with fewer than ``n`` unseen movies gets all of them and never a seen one.

implicit's top-k already runs one OpenMP thread per query chunk; letting each
of them also start a multithreaded BLAS product oversubscribes the cores, so
retrieval runs under ``threadpool_limits(1, "blas")`` like fitting does
(measured on ml-latest-small: top-10 for all users 0.13 s -> 0.08 s, 10
similar for all movies 1.7 s -> 0.4 s; identical results).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from implicit.cpu.matrix_factorization_base import MatrixFactorizationBase
from threadpoolctl import threadpool_limits

from cinemart.ranking import as_index_array, item_embeddings

#: implicit's score for a filtered-out slot (float32 lowest).
_FILTERED_SCORE = np.finfo(np.float32).min


class TopN(NamedTuple):
    user: np.ndarray  # int32
    rank: np.ndarray  # int16, 1..n
    item: np.ndarray  # int32
    score: np.ndarray  # float32


class SimilarItems(NamedTuple):
    item: np.ndarray  # int32, the query item
    rank: np.ndarray  # int16, 1..n
    similar_item: np.ndarray  # int32
    similarity: np.ndarray  # float32 cosine in [-1, 1]


class Explanations(NamedTuple):
    item: np.ndarray  # int32, the liked movie (-1: user has no ratings)
    similarity: np.ndarray  # float32 cosine to the recommended movie (NaN if none)


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_ids(name: str, ids: np.ndarray, bound: int) -> np.ndarray:
    return as_index_array(name, ids, bound).astype(np.int32)


def _flatten(
    query: np.ndarray, ids: np.ndarray, scores: np.ndarray, valid: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the first ``n`` valid slots per row, numbering them 1..n."""
    rank = np.cumsum(valid, axis=1)
    keep = valid & (rank <= n)
    rows = np.nonzero(keep)[0]
    return (
        query[rows],
        rank[keep].astype(np.int16),
        ids[keep].astype(np.int32),
        scores[keep].astype(np.float32),
    )


def _rescore(query: np.ndarray, item: np.ndarray, query_vectors: np.ndarray,
             item_vectors: np.ndarray, clip: bool = False) -> list[np.ndarray]:
    """Exact float64 dot products for the retrieved pairs, re-ranked by (score desc, item).

    implicit's multithreaded kernels can differ in the last float32 bit from
    run to run; scoring the few retrieved pairs again, one pair at a time,
    makes the published scores and ranks identical build to build.
    """
    score = np.einsum("ij,ij->i", query_vectors[query].astype(np.float64), item_vectors[item].astype(np.float64))
    if clip:
        score = np.clip(score, -1.0, 1.0)
    order = np.lexsort((item, -score, query))
    query, item, score = query[order], item[order], score[order]
    starts = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    rank = np.arange(query.size) - np.repeat(starts, np.diff(np.r_[starts, query.size])) + 1
    return [query, rank.astype(np.int16), item, score.astype(np.float32)]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros(vectors.shape, dtype=np.float64), where=norms > 0)


def _concat(parts: list[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    """Join per-block ``_flatten`` outputs; typed empty arrays when there are none."""
    if not parts:
        return [np.empty(0, dtype=t) for t in (np.int32, np.int16, np.int32, np.float32)]
    return [np.concatenate(column) for column in zip(*parts)]


def top_n(
    model: MatrixFactorizationBase,
    user_items: sp.csr_matrix,
    user_ids: np.ndarray,
    n: int = 10,
    filter_seen: bool = True,
    block: int = 4096,
) -> TopN:
    """Top-``n`` unseen items for each of ``user_ids``, ``block`` users per call.

    ``user_items`` is the full users x items train matrix (any non-zero value
    marks "seen"). Blocks bound the dense (block, n) buffers implicit returns;
    the per-user order inside a block is implicit's (score descending).
    Results do not depend on the model's ``num_threads``; changing ``block``
    can move scores by one float32 ulp (BLAS picks kernels by batch shape),
    so keep it fixed where bit-identical output matters.
    """
    _check_positive("n", n)
    _check_positive("block", block)
    n_users, n_items = model.user_factors.shape[0], model.item_factors.shape[0]
    if not sp.isspmatrix_csr(user_items) or user_items.shape != (n_users, n_items):
        raise ValueError(
            f"user_items must be a CSR matrix of shape {(n_users, n_items)}, "
            f"got {type(user_items).__name__} {getattr(user_items, 'shape', None)}"
        )
    user_ids = _check_ids("user_ids", user_ids, n_users)
    request = min(n, n_items)
    parts = []
    with threadpool_limits(1, "blas"):  # see module docstring
        for start in range(0, user_ids.size, block):
            batch = user_ids[start : start + block]
            ids, scores = model.recommend(
                batch, user_items[batch], N=request, filter_already_liked_items=filter_seen
            )
            parts.append(_flatten(batch, ids, scores, scores > _FILTERED_SCORE, n))
    user, _, item, _ = _concat(parts)
    return TopN(*_rescore(user, item, model.user_factors, model.item_factors))


def similar(
    model: MatrixFactorizationBase,
    item_ids: np.ndarray,
    n: int = 10,
    restrict_to: np.ndarray | None = None,
    block: int = 4096,
) -> SimilarItems:
    """The ``n`` most cosine-similar items to each of ``item_ids``, itself excluded.

    ``restrict_to`` limits the *answers* (e.g. to films with enough ratings to
    have trustworthy factors); query items outside it are still answered.
    """
    _check_positive("n", n)
    _check_positive("block", block)
    n_items = model.item_factors.shape[0]
    item_ids = _check_ids("item_ids", item_ids, n_items)
    allowed = np.ones(n_items, dtype=bool)
    filter_items = None
    if restrict_to is not None:
        allowed[:] = False
        allowed[_check_ids("restrict_to", restrict_to, n_items)] = True
        filter_items = np.flatnonzero(~allowed).astype(np.int32)
    # one extra slot for the query item itself (cosine 1), dropped below
    request = min(n + 1, n_items)
    parts = []
    with threadpool_limits(1, "blas"):  # see module docstring
        for start in range(0, item_ids.size, block):
            batch = item_ids[start : start + block]
            ids, scores = model.similar_items(batch, N=request, filter_items=filter_items)
            valid = allowed[ids] & (ids != batch[:, None])
            parts.append(_flatten(batch, ids, np.clip(scores, -1.0, 1.0), valid, n))
    query, _, item, _ = _concat(parts)
    unit = _unit_rows(item_embeddings(model))
    return SimilarItems(*_rescore(query, item, unit, unit, clip=True))


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


def because_you_liked(
    item_factors: np.ndarray,
    user_ratings: sp.csr_matrix,
    rec_users: np.ndarray,
    rec_items: np.ndarray,
    min_rating: float = 4.0,
    max_pairs: int = 4096,
) -> Explanations:
    """For each recommended (user, item), the liked movie most similar to it.

    "Liked" = rated >= ``min_rating`` in ``user_ratings`` (users x items CSR of
    raw ratings); users with no such rating fall back to their highest-rated
    movies, so every user with any rating gets an explanation. Similarity is
    cosine on ``item_factors`` (use ``ranking.item_embeddings(model)``); ties go
    to the lower item index. The recommended item itself is never its own
    explanation. Work is split so at most ``max_pairs`` (recommendation, liked
    movie) pairs are materialised at once: the two gathered factor blocks then
    stay cache-sized (4096 pairs: 0.06 s for all 6,100 top-10 pairs of
    ml-latest-small; 1M-pair blocks were 4x slower and used ~1 GB).
    """
    _check_positive("max_pairs", max_pairs)
    item_factors = np.asarray(item_factors, dtype=np.float32)
    n_users, n_items = user_ratings.shape
    if item_factors.ndim != 2 or item_factors.shape[0] != n_items:
        raise ValueError(
            f"item_factors must have one row per item ({n_items}), got shape {item_factors.shape}"
        )
    rec_users = _check_ids("rec_users", rec_users, n_users)
    rec_items = _check_ids("rec_items", rec_items, n_items)
    if rec_users.shape != rec_items.shape:
        raise ValueError(f"rec_users and rec_items differ in length: {rec_users.size} vs {rec_items.size}")

    norms = np.linalg.norm(item_factors, axis=1, keepdims=True)
    unit = np.divide(item_factors, norms, out=np.zeros_like(item_factors), where=norms > 0)
    liked = _liked_items(user_ratings, min_rating)

    counts = np.diff(liked.indptr)[rec_users].astype(np.int64)
    cum = np.cumsum(counts)
    explanation = np.full(rec_users.size, -1, dtype=np.int32)
    similarity = np.full(rec_users.size, np.nan, dtype=np.float32)
    start = 0
    while start < rec_users.size:
        done = cum[start - 1] if start else 0
        stop = max(int(np.searchsorted(cum, done + max_pairs, side="right")), start + 1)
        # the block's (recommendation, liked item) pairs, recommendation-major
        n_b = counts[start:stop]
        rec = np.repeat(np.arange(start, stop), n_b)
        offset = np.arange(rec.size) - np.repeat(np.cumsum(n_b) - n_b, n_b)
        cand = liked.indices[liked.indptr[rec_users[rec]] + offset]
        sims = np.einsum("ij,ij->i", unit[rec_items[rec]], unit[cand])
        sims[cand == rec_items[rec]] = -np.inf  # never explain a film by itself
        # best pair per recommendation: sort by (rec, -sim, item), keep each rec's first
        order = np.lexsort((cand, -sims, rec))
        is_first = np.ones(order.size, dtype=bool)
        is_first[1:] = rec[order][1:] != rec[order][:-1]
        best = order[is_first]
        best = best[np.isfinite(sims[best])]
        explanation[rec[best]] = cand[best]
        similarity[rec[best]] = np.clip(sims[best], -1.0, 1.0)
        start = stop
    return Explanations(explanation, similarity)
