"""The one scorer behind every served list: user_recommendations, similar_movies and the SQL macros.

    recommendations: score(u, i) = p_u . q_i + b_i + b_u + mu   (`Factors`; zeros where a model has no bias)
    similar movies:  cosine(q_i, q_j), or a blended query . candidate (`nearest`, cinemart.similarity.blend)

Both run as blocked float64 matrix products, then `argpartition` for the top
n, then a deterministic order: score descending, ties by item index. Item
indices follow sorted MovieLens ids (`cinemart.data.ids.IdIndex`), so ties go
to the lowest `movie_id`, exactly as the SQL macros' `order by score desc,
movie_id` (macros/serving/create_serving_macros.sql) — popularity scores are
integer counts, where exact ties are the rule. float64 sums of float32 factors
differ from DuckDB's by rounding far below any real gap between two scores,
and the additions run in the macros' order; a test compares table and macro
for every served model type.

Everything returns flat, equally long NumPy arrays (a `NamedTuple`), so
`pyarrow.table(result._asdict())` is the whole hand-off to the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numba import njit

from cinemart.models.base import Factors
from cinemart.models.threads import cpu_slot, thread_budget
from cinemart.validation import index_array, require_int

#: Score-matrix cells per block (float64): 128 MiB, whatever the catalogue size.
BLOCK_CELLS = 1 << 24


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


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 in float64; all-zero rows stay zero (they have no direction)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _block_rows(n_items: int) -> int:
    return max(1, BLOCK_CELLS // max(n_items, 1))


@njit(cache=True, nogil=True)
def _row_top(scores: np.ndarray, k: int, top: np.ndarray) -> np.ndarray:
    """Fill `top[r, :count]` with row r's best finite columns, best first; returns each row's count.

    One pass per row keeping the k best so far in order. Columns are scanned
    in increasing order and a newcomer must beat a kept score strictly to
    pass it, so equal scores keep the lower column first, and a score equal
    to the k-th best never displaces it: the tie rule of the SQL macros.
    """
    n_rows, width = scores.shape
    counts = np.zeros(n_rows, dtype=np.int64)
    kept = np.empty(k, dtype=scores.dtype)
    for r in range(n_rows):
        count = 0
        for c in range(width):
            value = scores[r, c]
            if not np.isfinite(value) or (count == k and not value > kept[k - 1]):
                continue
            if count < k:
                slot = count
                count += 1
            else:
                slot = k - 1  # the k-th best so far drops out
            while slot > 0 and kept[slot - 1] < value:
                kept[slot] = kept[slot - 1]
                top[r, slot] = top[r, slot - 1]
                slot -= 1
            kept[slot] = value
            top[r, slot] = c
        counts[r] = count
    return counts


def _best(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the `n` best finite scores: (row, rank 1..n, column), ordered by score desc, then column.

    A fused scan (`_row_top`) instead of partition + mask + sort: at 25M
    ratings the partition passes over every (user, movie) cell cost more
    than the matrix product that made the scores.
    """
    k = min(n, scores.shape[1])
    top = np.empty((scores.shape[0], k), dtype=np.int64)
    counts = _row_top(scores, k, top) if k else np.zeros(scores.shape[0], dtype=np.int64)
    rows, slots = np.nonzero(np.arange(k)[None, :] < counts[:, None])
    return rows, slots + 1, top[rows, slots]


def _ranked(query: np.ndarray, score_block: Callable[[np.ndarray], np.ndarray], n: int,
            n_items: int) -> list[np.ndarray]:
    """Score `query` in blocks and keep each row's best `n`: (query, rank, item, score).

    `score_block(batch)` returns the batch's (len(batch), n_items) float64
    scores with excluded cells at -inf. Blocks run in parallel on the threads
    the process budget grants (BLAS stays on one thread, see
    `cinemart.models.threads`); each block is independent, so the result does
    not depend on how many ran at once.
    """
    step = _block_rows(n_items)
    batches = [query[start:start + step] for start in range(0, query.size, step)]
    if not batches:
        return [np.empty(0, np.int32), np.empty(0, np.int16), np.empty(0, np.int32), np.empty(0, np.float32)]

    def best_of(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        scores = score_block(batch)
        rows, rank, cols = _best(scores, n)
        return batch[rows], rank, cols, scores[rows, cols]

    with cpu_slot(min(thread_budget(), len(batches))) as workers, ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(best_of, batches))
    query, rank, item, score = (np.concatenate(column) for column in zip(*parts))
    return [query.astype(np.int32), rank.astype(np.int16), item.astype(np.int32), score.astype(np.float32)]


def top_n(factors: Factors, seen: sp.csr_matrix, user_ids: np.ndarray, n: int = 10) -> TopN:
    """Top-`n` unseen items for each of `user_ids` by the model's score.

    `seen` is the users x items matrix of what each user rated (any stored
    entry counts as seen, as in the macro's `not exists`); a user with fewer
    than `n` unseen items gets all of them and never a seen one.
    """
    require_int("n", n, 1)
    shape = (factors.n_users, factors.n_items)
    if not sp.issparse(seen) or seen.format != "csr" or seen.shape != shape:
        raise ValueError(f"seen must be a CSR matrix of shape {shape}, "
                         f"got {type(seen).__name__} {getattr(seen, 'shape', None)}")
    user_ids = index_array("user_ids", user_ids, factors.n_users)
    shared = _shared_scores(factors)
    if shared is not None:
        return TopN(*_top_unseen_in_one_order(shared, seen, user_ids, n))
    p = factors.user_factors.astype(np.float64)
    q_t = factors.item_factors.astype(np.float64).T
    b_i = factors.item_bias.astype(np.float64)
    b_u = factors.user_bias.astype(np.float64)

    def score_block(batch: np.ndarray) -> np.ndarray:
        scores = p[batch] @ q_t  # the macro's order: dot, + b_i, + b_u, + mu
        scores += b_i[None, :]
        scores += b_u[batch, None]
        scores += factors.global_mean
        rated = seen[batch]
        scores[np.repeat(np.arange(batch.size), np.diff(rated.indptr)), rated.indices] = -np.inf
        return scores

    return TopN(*_ranked(user_ids, score_block, n, factors.n_items))


def _shared_scores(factors: Factors) -> np.ndarray | None:
    """The item scores every user shares, when the model ranks the catalogue the same for everybody; else None.

    That is a rank-1 model whose users all have the same factor and bias: the
    popularity baseline and the fallback list. With one factor the product
    is a single multiplication, so the scores are bit for bit those of the
    blocked path (same operations, same order).
    """
    if factors.user_factors.shape[1] != 1 or factors.n_users == 0:
        return None
    p, b_u = factors.user_factors[:, 0], factors.user_bias
    if not ((p == p[0]).all() and (b_u == b_u[0]).all()):
        return None
    scores = np.float64(p[0]) * factors.item_factors[:, 0].astype(np.float64)
    scores += factors.item_bias.astype(np.float64)
    scores += np.float64(b_u[0])
    scores += factors.global_mean
    return scores


#: Candidate cells per batch of users in `_top_unseen_in_one_order` (a few int64 arrays of that length).
ORDER_BATCH_CELLS = 1 << 23


def _top_unseen_in_one_order(scores: np.ndarray, seen: sp.csr_matrix, user_ids: np.ndarray,
                             n: int) -> list[np.ndarray]:
    """`top_n` when all users share `scores`: the catalogue's one order, each user's seen items skipped.

    The same lists as scoring every (user, item) cell (score descending, ties
    by item index, non-finite scores never listed), in O(users x n + their
    ratings) instead of O(users x items): a user's first n unseen items lie
    within the order's first n + (items they rated). At 25M ratings the
    popularity baseline's evaluation took minutes the other way.
    """
    finite = np.flatnonzero(np.isfinite(scores))
    order = finite[np.lexsort((finite, -scores[finite]))]  # item indices, best first
    position = np.full(scores.size, order.size, dtype=np.int64)  # order.size: never listed
    position[order] = np.arange(order.size)
    counts = np.diff(seen.indptr)[user_ids]
    windows = np.minimum(n + counts, order.size)
    ends = np.cumsum(windows)  # batches of users whose windows add up to about ORDER_BATCH_CELLS
    parts = []
    start = 0
    while start < user_ids.size:
        before = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + ORDER_BATCH_CELLS, side="right")))
        batch, window = user_ids[start:stop], windows[start:stop]
        first_cell = np.cumsum(window) - window
        row = np.repeat(np.arange(batch.size), window)
        offset = np.arange(window.sum()) - np.repeat(first_cell, window)
        rated = seen[batch]
        rated_row = np.repeat(np.arange(batch.size), np.diff(rated.indptr))
        rated_at = position[rated.indices]
        inside = rated_at < window[rated_row]  # seen items further down the order never reach a list
        unseen = np.ones(row.size, dtype=bool)
        unseen[first_cell[rated_row[inside]] + rated_at[inside]] = False
        row, offset = row[unseen], offset[unseen]
        first = np.searchsorted(row, row, side="left")
        rank = np.arange(row.size) - first + 1
        keep = rank <= n
        item = order[offset[keep]]
        parts.append((batch[row[keep]], rank[keep], item, scores[item]))
        start = stop
    if not parts:
        return [np.empty(0, np.int32), np.empty(0, np.int16), np.empty(0, np.int32), np.empty(0, np.float32)]
    query, rank, item, score = (np.concatenate(column) for column in zip(*parts))
    return [query.astype(np.int32), rank.astype(np.int16), item.astype(np.int32), score.astype(np.float32)]


def similar(item_factors: np.ndarray, item_ids: np.ndarray, n: int = 10,
            restrict_to: np.ndarray | None = None) -> SimilarItems:
    """The `n` most cosine-similar items to each of `item_ids`, itself excluded.

    `restrict_to` limits the *answers* (e.g. to films with enough ratings to
    have trustworthy factors); query items outside it are still answered.
    """
    require_int("n", n, 1)
    n_items = item_factors.shape[0]
    item_ids = index_array("item_ids", item_ids, n_items)
    unit = unit_rows(item_factors)
    allowed = np.ones(n_items, dtype=bool)
    if restrict_to is not None:
        allowed[:] = False
        allowed[index_array("restrict_to", restrict_to, n_items)] = True

    def score_block(batch: np.ndarray) -> np.ndarray:
        scores = np.clip(unit[batch] @ unit.T, -1.0, 1.0)
        scores[:, ~allowed] = -np.inf
        scores[np.arange(batch.size), batch] = -np.inf  # never an item's own neighbour
        return scores

    return SimilarItems(*_ranked(item_ids, score_block, n, n_items))


def nearest(queries: np.ndarray, candidates: np.ndarray, exclude: np.ndarray, n: int = 10,
            allowed: np.ndarray | None = None) -> SimilarItems:
    """The `n` candidates with the highest dot product queries[i] . candidates[j], for every query row i.

    For vectors built so that one dot product is the whole score (the blended
    similar movies). `exclude[i]` is the candidate index query i must never
    get (the movie itself), or -1; `allowed` (bool per candidate) limits the
    answers. `item` in the result is the query's row in `queries`.
    """
    require_int("n", n, 1)
    queries = np.asarray(queries, dtype=np.float64)
    candidates_t = np.asarray(candidates, dtype=np.float64).T
    n_items = candidates_t.shape[1]
    exclude = np.asarray(exclude, dtype=np.int64)
    if queries.shape[1] != candidates_t.shape[0] or exclude.shape != (queries.shape[0],):
        raise ValueError(f"queries {queries.shape}, candidates {candidates_t.T.shape} and exclude {exclude.shape} "
                         "do not match")
    mask = np.ones(n_items, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)

    def score_block(batch: np.ndarray) -> np.ndarray:
        scores = np.clip(queries[batch] @ candidates_t, -1.0, 1.0)
        scores[:, ~mask] = -np.inf
        own = exclude[batch]
        scores[np.flatnonzero(own >= 0), own[own >= 0]] = -np.inf
        return scores

    return SimilarItems(*_ranked(np.arange(queries.shape[0]), score_block, n, n_items))
