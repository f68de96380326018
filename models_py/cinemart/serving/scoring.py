"""The one scorer behind every served list: user_recommendations, similar_movies and the SQL macros.

    recommendations: score(u, i) = p_u . q_i + b_i + b_u + mu   (`Factors`; zeros where a model has no bias)
    similar movies:  cosine(q_i, q_j), or a blended query . candidate (`nearest`, cinemart.similarity.blend)

Both run as tiled float64 matrix products (a tile of users x a tile of
movies, small enough to stay in cache), each tile finished and scanned for
the best n by one numba kernel (`_tile_top`), keeping every row's best n so
far across its tiles. The order is deterministic: score descending, ties by
item index. Item
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
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numba import njit

from cinemart.models.base import Factors
from cinemart.models.threads import cpu_slot, thread_budget
from cinemart.validation import index_array, require_int

#: A tile of scores: TILE_ROWS queries x TILE_COLUMNS items of float64, 2 MiB,
#: so the product, the finishing arithmetic and the scan meet it in cache.
#: Whole-row blocks of 128 MiB made six passes through memory per cell
#: (product, three additions, the seen mask, the scan), which at 25M ratings
#: cost more than the arithmetic. Fixed sizes: results do not depend on them.
TILE_ROWS = 256
TILE_COLUMNS = 1024


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


@dataclass(frozen=True)
class _Finish:
    """How a raw product tile becomes scores, and which cells are never listed.

    Factor scores: ((dot + item_add) + query_add) + constant, the macros'
    order. Cosines (`clip`): the dot clipped to [-1, 1]. Items outside
    `allowed` (empty: all allowed) and each query's `excluded` items are
    skipped; `excluded(batch)` returns them as CSR (indptr, sorted indices).
    """

    excluded: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    clip: bool = False
    item_add: np.ndarray = field(default_factory=lambda: np.empty(0))
    query_add: np.ndarray = field(default_factory=lambda: np.empty(0))
    constant: float = 0.0
    allowed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.bool_))


@njit(cache=True, nogil=True)
def _tile_top(tile: np.ndarray, first_column: int, clip: bool, item_add: np.ndarray, query_add: np.ndarray,
              constant: float, allowed: np.ndarray, excluded_ptr: np.ndarray, excluded: np.ndarray,
              cursor: np.ndarray, top: np.ndarray, kept: np.ndarray, counts: np.ndarray) -> None:
    """Finish one tile's scores in place and merge them into each row's best so far (`top`, `kept`, `counts`).

    Per row, three passes over the cached tile: the arithmetic (branch-free,
    so it vectorizes), the never-listed cells set to -inf (`cursor[r]` walks
    row r's sorted excluded columns), then the scan. Tiles reach a row in
    increasing column order and a newcomer must beat a kept score strictly
    to pass it, so equal scores keep the lower column first and a score equal
    to the k-th best never displaces it: the tie rule of the SQL macros.
    Non-finite scores are never listed.
    """
    n_rows, width = tile.shape
    k = top.shape[1]
    stop_column = first_column + width
    for r in range(n_rows):
        row = tile[r]
        if clip:
            for c in range(width):
                value = row[c]
                row[c] = 1.0 if value > 1.0 else (-1.0 if value < -1.0 else value)
        else:
            shift = query_add[r] if query_add.size else 0.0
            if item_add.size:
                for c in range(width):
                    row[c] = (row[c] + item_add[first_column + c]) + shift
            elif query_add.size:
                for c in range(width):
                    row[c] = row[c] + shift
            for c in range(width):
                row[c] = row[c] + constant
        if allowed.size:
            for c in range(width):
                if not allowed[first_column + c]:
                    row[c] = -np.inf
        at, end = cursor[r], excluded_ptr[r + 1]
        while at < end and excluded[at] < stop_column:
            if excluded[at] >= first_column:
                row[excluded[at] - first_column] = -np.inf
            at += 1
        cursor[r] = at
        count = counts[r]
        bar = kept[r, k - 1] if count == k else -np.inf
        for c in range(width):
            value = row[c]
            if not value > bar or value == np.inf:  # NaN and -inf fail the first test
                continue
            if count < k:
                slot = count
                count += 1
            else:
                slot = k - 1  # the k-th best so far drops out
            while slot > 0 and kept[r, slot - 1] < value:
                kept[r, slot] = kept[r, slot - 1]
                top[r, slot] = top[r, slot - 1]
                slot -= 1
            kept[r, slot] = value
            top[r, slot] = first_column + c
            if count == k:
                bar = kept[r, k - 1]
        counts[r] = count


#: `product` for `_ranked`: batch -> tile(start, stop) -> raw float64 scores.
Product = Callable[[np.ndarray], Callable[[int, int], np.ndarray]]


def _ranked(query: np.ndarray, product: Product, finish: _Finish, n: int,
            n_items: int) -> list[np.ndarray]:
    """Each query's best `n` items: (query, rank, item, score), score descending, ties by item.

    `product(batch)` prepares what the batch's tiles share (its query rows,
    gathered once rather than once per tile) and returns `tile(start, stop)`:
    the raw float64 scores of the batch's queries against items
    start..stop-1, as a new C-ordered array the kernel may overwrite. Batches of TILE_ROWS queries run in parallel on the
    threads the process budget grants (BLAS stays on one thread, see
    `cinemart.models.threads`); each batch is independent, so the result
    does not depend on how many ran at once.
    """
    batches = [query[start:start + TILE_ROWS] for start in range(0, query.size, TILE_ROWS)]
    k = min(n, n_items)
    if not batches or k == 0:
        return [np.empty(0, np.int32), np.empty(0, np.int16), np.empty(0, np.int32), np.empty(0, np.float32)]

    def best_of(batch: np.ndarray) -> tuple[np.ndarray, ...]:
        top = np.empty((batch.size, k), dtype=np.int64)
        kept = np.empty((batch.size, k), dtype=np.float64)
        counts = np.zeros(batch.size, dtype=np.int64)
        excluded_ptr, excluded = finish.excluded(batch)
        excluded_ptr, excluded = excluded_ptr.astype(np.int64), excluded.astype(np.int64)
        cursor = excluded_ptr[:-1].copy()
        query_add = finish.query_add[batch] if finish.query_add.size else finish.query_add
        tiles = product(batch)
        for start in range(0, n_items, TILE_COLUMNS):
            tile = tiles(start, min(start + TILE_COLUMNS, n_items))
            _tile_top(tile, start, finish.clip, finish.item_add, query_add, finish.constant, finish.allowed,
                      excluded_ptr, excluded, cursor, top, kept, counts)
        rows, slots = np.nonzero(np.arange(k)[None, :] < counts[:, None])
        return batch[rows], slots + 1, top[rows, slots], kept[rows, slots]

    with cpu_slot(min(thread_budget(), len(batches))) as workers, ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(best_of, batches))
    query, rank, item, score = (np.concatenate(column) for column in zip(*parts))
    return [query.astype(np.int32), rank.astype(np.int16), item.astype(np.int32), score.astype(np.float32)]


def _query_rows(queries: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """The batch's query rows in float64 (exact from float32: the caller's factors are converted a batch at a
    time, never whole; at 25M ratings the blend's user side is 1.2 GB in float64)."""
    return np.asarray(queries[batch], dtype=np.float64)


def _dot_tiles(queries: np.ndarray, items: np.ndarray) -> Product:
    """`product` for `_ranked`: queries[batch] . items[start:stop] (one row per vector)."""
    items = np.asarray(items, dtype=np.float64)

    def product(batch: np.ndarray) -> Callable[[int, int], np.ndarray]:
        rows = _query_rows(queries, batch)
        return lambda start, stop: rows @ items[start:stop].T
    return product


#: Factor columns non-zero for at most this share of the items are scored as a sparse product (`_dot_split`).
SPARSE_COLUMN_SHARE = 0.1
#: Item rows per block when `_dot_split` looks for the items its sparse columns touch (no whole-matrix copy).
GATHER_ROWS = 4096


def _dot_split(queries: np.ndarray, items: np.ndarray, sparse: np.ndarray) -> Product:
    """`product` for `_ranked` when the factor columns `sparse` are zero for most items: those columns as a
    sparse product, the others dense.

    The blend at 25M ratings: EASE's 873 columns are non-zero only for the 873
    movies it keeps, 1.5% of 59,000, beside implicit ALS's 16 dense ones, and
    a user's EASE row is 0/1 (times a weight) over those movies, with a few
    dozen ones. Per batch, the sparse part is one product of the batch's rows
    as CSR with the kept movies' columns (dense): the scores of the kept
    movies only, with work in the users' non-zeros, made once and added into
    each tile. Scoring EASE's columns densely is ~55x the work, and a sparse
    product per tile would gather the batch's rows once per tile (60 times
    across 59,000 movies): at 25M ratings this halves a blend list. Each kept
    movie's score sums the same non-zero products in the same column order as
    the full product over those columns (a zero on either side adds an exact
    zero), the two parts added last: the same on every run and for every
    tile size.
    """
    dense = np.setdiff1d(np.arange(items.shape[1]), sparse)
    dense_items = items[:, dense].astype(np.float64)
    touched = np.flatnonzero(np.concatenate([  # items with a non-zero sparse column, ascending
        items[start:start + GATHER_ROWS][:, sparse].any(axis=1) for start in range(0, items.shape[0], GATHER_ROWS)]))
    touched_items = np.ascontiguousarray(items[np.ix_(touched, sparse)].astype(np.float64).T)  # sparse x touched

    def product(batch: np.ndarray) -> Callable[[int, int], np.ndarray]:
        rows = _query_rows(queries, batch)
        left = rows[:, dense]
        right = np.asarray(sp.csr_matrix(rows[:, sparse]) @ touched_items)  # batch x touched items

        def tile(start: int, stop: int) -> np.ndarray:
            scores = left @ dense_items[start:stop].T
            first, last = np.searchsorted(touched, (start, stop))
            scores[:, touched[first:last] - start] += right[:, first:last]
            return scores
        return tile
    return product


def _item_product(queries: np.ndarray, items: np.ndarray) -> Product:
    """`_dot_split` when some factor columns are non-zero for at most SPARSE_COLUMN_SHARE of the items,
    else `_dot_tiles` (both take the factors as stored and convert to float64 only what they multiply)."""
    share = np.count_nonzero(items, axis=0) / max(1, items.shape[0])
    sparse = np.flatnonzero(share <= SPARSE_COLUMN_SHARE)
    if sparse.size == 0 or sparse.size == items.shape[1]:
        return _dot_tiles(queries, items)
    return _dot_split(queries, items, sparse)


def _dot_used_columns(queries: np.ndarray, items: np.ndarray) -> Product:
    """`product` for `_ranked` over only the columns some query of the batch has non-zero.

    A zero query entry adds exactly 0, so the scores are those of the full
    product; bit for bit when every product and partial sum is exact, as for
    the blend's quantized vectors (`cinemart.similarity.blend`), where a
    collaborative query is zero across the content columns and a content
    query across the taste ones.
    """
    def product(batch: np.ndarray) -> Callable[[int, int], np.ndarray]:
        rows = _query_rows(queries, batch)
        used = np.flatnonzero(rows.any(axis=0))
        if used.size == rows.shape[1]:
            return lambda start, stop: rows @ items[start:stop].T
        rows = rows[:, used]
        return lambda start, stop: rows @ items[start:stop, used].T
    return product


def _one_each(excluded: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`excluded` for `_Finish`: query q never gets item excluded[q] (-1: nothing)."""
    def rows(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        own = excluded[batch]
        return np.concatenate([[0], np.cumsum(own >= 0)]), own[own >= 0]
    return rows


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
    candidates = np.flatnonzero(np.isfinite(factors.item_bias))
    if candidates.size < factors.n_items:
        # items with a non-finite bias are never listed: score only the others (EASE past its budget keeps a
        # few hundred of 59,000 movies at 25M; scoring the rest would be ~70x the work for nothing)
        kept = Factors(factors.user_factors, factors.item_factors[candidates], factors.user_bias,
                       factors.item_bias[candidates], factors.global_mean)
        found = top_n(kept, seen[:, candidates].tocsr(), user_ids, n) if candidates.size else \
            TopN(np.empty(0, np.int32), np.empty(0, np.int16), np.empty(0, np.int32), np.empty(0, np.float32))
        return found._replace(item=candidates[found.item].astype(np.int32))
    shared = _shared_scores(factors)
    if shared is not None:
        return TopN(*_top_unseen_in_one_order(shared, seen, user_ids, n))
    if not seen.has_sorted_indices:
        seen = seen.sorted_indices()

    def rated(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = seen[batch]
        return rows.indptr, rows.indices

    finish = _Finish(rated, item_add=factors.item_bias.astype(np.float64),
                     query_add=factors.user_bias.astype(np.float64), constant=float(factors.global_mean))
    product = _item_product(factors.user_factors, factors.item_factors)
    return TopN(*_ranked(user_ids, product, finish, n, factors.n_items))


def _shared_scores(factors: Factors) -> np.ndarray | None:
    """The item scores every user shares, when the model ranks the catalogue the same for everybody; else None.

    That is a rank-1 model whose users all have the same factor and bias: the
    popularity baseline and the fallback list. With one factor the product
    is a single multiplication, so the scores are bit for bit those of the
    tiled path (same operations, same order).
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
    allowed = np.empty(0, dtype=bool)  # every item
    if restrict_to is not None:
        allowed = np.zeros(n_items, dtype=bool)
        allowed[index_array("restrict_to", restrict_to, n_items)] = True
    finish = _Finish(_one_each(np.arange(n_items)), clip=True, allowed=allowed)  # never an item's own neighbour
    return SimilarItems(*_ranked(item_ids, _dot_tiles(unit, unit), finish, n, n_items))


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
    candidates = np.asarray(candidates, dtype=np.float64)
    n_items = candidates.shape[0]
    exclude = np.asarray(exclude, dtype=np.int64)
    if queries.shape[1] != candidates.shape[1] or exclude.shape != (queries.shape[0],):
        raise ValueError(f"queries {queries.shape}, candidates {candidates.shape} and exclude {exclude.shape} "
                         "do not match")
    finish = _Finish(_one_each(exclude), clip=True,
                     allowed=np.empty(0, dtype=np.bool_) if allowed is None else np.asarray(allowed, dtype=bool))
    # Queries with the same non-zero columns side by side, so most tiles multiply only the columns they use
    # (at 25M ratings the blend's 75 columns shrink to 16 for collaborative queries); lists come back per query.
    used = queries != 0
    order = np.lexsort(used.T[::-1]) if queries.shape[0] else np.arange(0)
    query, rank, item, score = _ranked(order, _dot_used_columns(queries, candidates), finish, n, n_items)
    back = np.lexsort((rank, query))
    return SimilarItems(query[back], rank[back], item[back], score[back])
