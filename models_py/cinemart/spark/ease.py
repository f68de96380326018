"""EASE on Spark: the item-item Gram matrix counted on executors, solved on the driver.

  fit_ease_table(ratings, params, max_bytes, run) -> (factor table | None, EaseScope)

The model and its factor layout are `cinemart.models.ease`'s (module
docstring there). Where each step runs, and why:

* Per-movie positive counts: a Spark aggregate; one row per movie comes to
  the driver, where `ease_items` (the DuckDB engine's function, on counts in
  ascending movie-id order, as `IdIndex` orders them) picks the kept movies.
  Both engines therefore keep the same movies for the same budget.
* G = X'X over the kept movies: executors. The positives are hash-partitioned
  by user, so each partition holds whole rows of X; a Python worker counts its
  rows' co-occurrences with a sparse product (cells j >= i, a block of rows of
  G at a time, one output row per i with its columns and counts); the partial
  rows are then hash-partitioned by i and summed per cell. This is the part
  that grows with the ratings (sum over users of their kept positives
  squared), and integer counts sum exactly in any order and partitioning, so
  the G that reaches the driver equals the DuckDB engine's bit for bit. Only
  its summed non-zero upper cells (at most m (m + 1) / 2) are collected.
* (G + lambda I)^-1 and B: the driver, `weights_from_gram` in one
  `cpu_slot` token (BLAS on one thread), the very LAPACK calls the DuckDB
  engine makes, laid out by `ease_item_factors`. The m x m solve is
  LAPACK-bound and needs all of G at once; a distributed inverse would round
  differently and the engines would no longer give the same factors.
* The factor table: executors. User rows (0/1 over the kept movies) are built
  from each user's positives in a Python worker; movie rows come from the
  kept rows of item_factors, broadcast (m x m float32).

`max_bytes` is the DuckDB fit's estimate (`ease_peak_bytes`) so that a budget
means the same scope on both engines; on Spark the driver holds less than that
(G, item_factors and the collected cells; the user rows stay distributed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cinemart.models.ease import (BLOCK_CELLS, EaseParams, EaseScope, contributing_columns, ease_item_factors,
                                  ease_items, weights_from_gram)
from cinemart.models.threads import cpu_slot
from cinemart.spark.frames import factor_table
from cinemart.spark.resources import Held

GRAM_SCHEMA = "i int, j array<int>, n array<bigint>"  # row i of G: its columns and counts
ROW_SCHEMA = "id bigint, bias float, factors array<float>, n_ratings bigint"


def _rows_per_chunk(m: int) -> int:
    """Rows of m floats a worker builds at once (BLOCK_CELLS cells)."""
    return max(1, BLOCK_CELLS // max(m, 1))


def _columns(kept_ids: np.ndarray, movie_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in sorted `kept_ids`, is kept) per movie id."""
    if kept_ids.size == 0:
        return np.zeros(movie_ids.size, np.int64), np.zeros(movie_ids.size, bool)
    pos = np.minimum(np.searchsorted(kept_ids, movie_ids), kept_ids.size - 1)
    return pos, kept_ids[pos] == movie_ids


def _list_column(rows: np.ndarray) -> pa.ListArray:
    """(k, m) float32 -> list<float> (Spark's array<float> in Arrow)."""
    k, m = rows.shape
    return pa.ListArray.from_arrays(pa.array(np.arange(k + 1, dtype=np.int32) * m),
                                    pa.array(np.ascontiguousarray(rows).reshape(-1)))


def _cell_rows(i: np.ndarray, j: np.ndarray, n: np.ndarray) -> pa.RecordBatch:
    """Cells of G sorted by (i, j) -> one row per i: (i, its columns j, their counts n)."""
    starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]]) if i.size else np.empty(0, np.int64)
    offsets = pa.array(np.r_[starts, i.size].astype(np.int32))
    return pa.RecordBatch.from_arrays(
        [pa.array(i[starts].astype(np.int32)), pa.ListArray.from_arrays(offsets, pa.array(j.astype(np.int32))),
         pa.ListArray.from_arrays(offsets, pa.array(n.astype(np.int64)))], names=["i", "j", "n"])


def _cells(batches: list[pa.RecordBatch]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, n) int64 arrays of GRAM_SCHEMA rows."""
    if not batches:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    table = pa.Table.from_batches(batches).combine_chunks()
    lengths = table.column("j").chunk(0).value_lengths().to_numpy(zero_copy_only=False)
    i = np.repeat(table.column("i").to_numpy().astype(np.int64), lengths)
    j = table.column("j").chunk(0).flatten().to_numpy().astype(np.int64)
    n = table.column("n").chunk(0).flatten().to_numpy().astype(np.int64)
    return i, j, n


def _partial_gram(kept) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow: one partition's (user_id, movie_id) positives -> its non-zero cells j >= i of X'X.

    The partition must hold every positive of its users (hash-partitioned by
    user): X'X sums x_u x_u' over users, so whole rows make partial counts
    that simply add up. A block of rows of G at a time (BLOCK_CELLS cells at
    most), one output row per i, so Spark moves m rows of arrays per
    partition rather than a row per cell. A duplicated (user, movie) pair
    fails the fit, as in `fit_ease`.
    """
    def partial(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        kept_ids = kept.value
        m = kept_ids.size
        users, columns = [], []
        for batch in batches:
            user = batch.column("user_id").to_numpy(zero_copy_only=False).astype(np.int64)
            pos, inside = _columns(kept_ids, batch.column("movie_id").to_numpy(zero_copy_only=False))
            users.append(user[inside])
            columns.append(pos[inside])
        user = np.concatenate(users) if users else np.empty(0, np.int64)
        if user.size == 0:
            return
        distinct, row = np.unique(user, return_inverse=True)
        x = sp.csc_matrix((np.ones(user.size), (row, np.concatenate(columns))), shape=(distinct.size, m))
        if x.nnz != user.size:  # the constructor sums duplicates: a broken join upstream, not a 2
            raise ValueError(f"{user.size - x.nnz} duplicated (user, item) pairs")
        left = x.T.tocsr()
        step = _rows_per_chunk(m)
        for start in range(0, m, step):
            stop = min(start + step, m)
            block = (left[start:stop] @ x[:, start:]).tocoo()  # rows i of [start, stop), columns j >= start
            i, j = block.row.astype(np.int64) + start, block.col.astype(np.int64) + start
            upper = j >= i
            i, j, n = i[upper], j[upper], block.data[upper]
            order = np.lexsort((j, i))
            yield _cell_rows(i[order], j[order], n[order])
    return partial


def _summed_gram(m: int) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow: the partial rows of some i (all partitions' rows of each i) -> their summed cells."""
    def summed(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        i, j, n = _cells(list(batches))
        if i.size == 0:
            return
        cells, where = np.unique(i * m + j, return_inverse=True)  # sorted by (i, j)
        yield _cell_rows(cells // m, cells % m, np.bincount(where, weights=n).astype(np.int64))  # < 2^53: exact
    return summed


def _user_rows(kept) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow: (id, n_ratings, liked list<bigint>) -> factor rows, 1.0 at each liked kept movie that adds to
    a score (`kept` broadcasts the kept ids and `contributing_columns`)."""
    def rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        kept_ids, contributing = kept.value
        m = kept_ids.size
        step = _rows_per_chunk(m)
        for batch in batches:
            ids = batch.column("id").to_numpy(zero_copy_only=False).astype(np.int64)
            counts = batch.column("n_ratings").to_numpy(zero_copy_only=False).astype(np.int64)
            liked = batch.column("liked")
            lengths = liked.value_lengths().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            owner = np.repeat(np.arange(ids.size, dtype=np.int64), lengths)
            pos, inside = _columns(kept_ids, liked.flatten().to_numpy(zero_copy_only=False).astype(np.int64))
            inside &= contributing[pos]
            owner, pos = owner[inside], pos[inside]
            for start in range(0, ids.size, step):
                stop = min(start + step, ids.size)
                first, last = np.searchsorted(owner, (start, stop))
                dense = np.zeros((stop - start, m), dtype=np.float32)
                dense[owner[first:last] - start, pos[first:last]] = 1.0
                yield pa.RecordBatch.from_arrays(
                    [pa.array(ids[start:stop]), pa.array(np.zeros(stop - start, np.float32)), _list_column(dense),
                     pa.array(counts[start:stop])], names=["id", "bias", "factors", "n_ratings"])
    return rows


def _movie_rows(shared) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """mapInArrow: (id, n_ratings) -> factor rows: `ease_item_factors`' row and bias of each movie.

    `shared` holds the sorted movie ids with their item_bias, and the kept
    movies' ids with their rows of item_factors (every other row is zero).
    """
    def rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        movie_ids, item_bias, kept_ids, kept_rows = shared.value
        step = _rows_per_chunk(kept_ids.size)
        for batch in batches:
            ids = batch.column("id").to_numpy(zero_copy_only=False).astype(np.int64)
            counts = batch.column("n_ratings").to_numpy(zero_copy_only=False).astype(np.int64)
            bias = item_bias[np.searchsorted(movie_ids, ids)]
            pos, inside = _columns(kept_ids, ids)
            for start in range(0, ids.size, step):
                stop = min(start + step, ids.size)
                dense = np.zeros((stop - start, kept_ids.size), dtype=np.float32)
                here = inside[start:stop]
                dense[here] = kept_rows[pos[start:stop][here]]
                yield pa.RecordBatch.from_arrays(
                    [pa.array(ids[start:stop]), pa.array(bias[start:stop]), _list_column(dense),
                     pa.array(counts[start:stop])], names=["id", "bias", "factors", "n_ratings"])
    return rows


def gram_matrix(positives: DataFrame, kept_ids: np.ndarray) -> np.ndarray:
    """X'X (float64, Fortran order, m x m) over the kept movies, counted on executors.

    `positives`: (user_id, movie_id) of every positive; `kept_ids`: the kept
    movies' ids, ascending (column p of X is kept_ids[p]). Only the summed
    non-zero upper cells reach the driver, one row per i.
    """
    kept_ids = np.asarray(kept_ids, dtype=np.int64)
    m = kept_ids.size
    kept = positives.sparkSession.sparkContext.broadcast(kept_ids)
    try:
        rows = (positives.select(F.col("user_id").cast("bigint"), F.col("movie_id").cast("bigint"))
                .repartition("user_id").mapInArrow(_partial_gram(kept), GRAM_SCHEMA)
                .repartition("i").mapInArrow(_summed_gram(m), GRAM_SCHEMA).toArrow())
    finally:
        kept.destroy()
    i, j, n = _cells(rows.to_batches())
    del rows
    gram = np.zeros((m, m), dtype=np.float64, order="F")
    gram[i, j] = n
    gram[j, i] = n
    return gram


def fit_ease_table(ratings: DataFrame, params: EaseParams, max_bytes: int,
                   run: str = "") -> tuple[DataFrame | None, EaseScope]:
    """EASE on the positives of `ratings` (user_id, movie_id, rating: one fit part) as a factor table.

    The table has the implicit factor tables' shape (`frames.factor_table`):
    a row for every user and movie of `ratings`, n_ratings their count of
    ratings there (positive or not), bias 0 (users, kept movies) or -inf
    (movies not kept), global_mean 0; factors are `fit_ease`'s user rows and
    item_factors rows, so `fit_ease` on the same ratings indexed by ascending
    ids gives the same numbers: G is counted on the executors and solved on
    the driver by the DuckDB engine's own LAPACK code (module docstring: each
    step, where and why). The scope comes back with the table; a skipped
    scope gives (None, scope).

    The table comes back cached and filled (the caller unpersists it).
    """
    if not isinstance(params, EaseParams):
        raise ValueError(f"params must be EaseParams, got {type(params).__name__}")
    positive = F.col("rating") >= F.lit(float(params.min_rating))
    sc = ratings.sparkSession.sparkContext
    with Held() as held:
        movies = held.cache(ratings.groupBy("movie_id").agg(
            F.count(F.lit(1)).alias("n_ratings"), F.count(F.when(positive, 1)).alias("positives")))
        per_movie = movies.select("movie_id", "positives").toArrow()
        movie_ids = per_movie.column("movie_id").to_numpy().astype(np.int64)
        order = np.argsort(movie_ids, kind="stable")
        movie_ids = movie_ids[order]
        counts = per_movie.column("positives").to_numpy().astype(np.int64)[order]
        n_users = ratings.select("user_id").distinct().count()
        scope = ease_items(counts, n_users, max_bytes)
        if scope.skipped:
            return None, scope
        kept_ids = movie_ids[scope.kept]
        gram = gram_matrix(ratings.where(positive), kept_ids)
        with cpu_slot(1):  # one LAPACK call on one BLAS thread, as fit_ease (cinemart.models.threads)
            weights = weights_from_gram(gram, float(params.regularization))
            del gram  # the same memory as weights
            item_factors, item_bias = ease_item_factors(weights, scope.kept, movie_ids.size)
            del weights
        kept_rows = item_factors[scope.kept]
        del item_factors
        kept = sc.broadcast((kept_ids, contributing_columns(kept_rows)))
        shared = sc.broadcast((movie_ids, item_bias, kept_ids, kept_rows))
        del kept_rows
        users = (ratings.groupBy("user_id")
                 .agg(F.count(F.lit(1)).alias("n_ratings"),
                      F.collect_list(F.when(positive, F.col("movie_id").cast("bigint"))).alias("liked"))
                 .select(F.col("user_id").cast("bigint").alias("id"), "n_ratings", "liked")
                 .mapInArrow(_user_rows(kept), ROW_SCHEMA))
        movie_rows = (movies.select(F.col("movie_id").cast("bigint").alias("id"), "n_ratings")
                      .mapInArrow(_movie_rows(shared), ROW_SCHEMA))
        table = factor_table(run, users, movie_rows, 0.0).cache()
        try:
            sizes = dict(table.groupBy("entity").count().collect())  # the one pass also fills the cache
        except BaseException:
            table.unpersist()
            raise
    if sizes != {"user": n_users, "movie": movie_ids.size}:
        table.unpersist()
        raise RuntimeError(f"EASE factor table has {sizes} rows, expected {n_users} users and "
                           f"{movie_ids.size} movies")
    return table, scope
