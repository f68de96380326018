"""Exact blocked top-n on Spark: query rows stream through `mapInArrow`, candidates are broadcast.

The candidate side (movies x k factors: the model, not users x movies) is
broadcast once; each Arrow batch of query rows is scored against it in
blocks of at most BLOCK_CELLS scores, so no users x movies or movies x movies
matrix ever exists, on the driver or anywhere else. Per query row the
`exclude` ids (seen movies, the movie itself) are masked, and the top n are
taken in (score desc, candidate id asc) order: ties are broken by id, exactly.
Scores are float64 dot products; given the same partitioning they are the
same bits run after run.

The per-row work (masking, the top n with exact ties) is vectorised NumPy
over a whole block (`_top_cells`): no Python loop over rows. The executors'
Python workers import this module (the `score` closure refers to its
functions), so they need `cinemart` importable (installed, or shipped as a zip
through `spark.submit.pyFiles`) with numpy and pyarrow; not numba, which only
the DuckDB engine's kernel (`cinemart.serving.scoring`) uses.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

BLOCK_CELLS = 1 << 22  # scores per block: 32 MB of float64


def _matrix(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(values.flatten().to_numpy(zero_copy_only=False), dtype=np.float64).reshape(-1, width)


def _top_cells(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column indices of its n best finite scores in (score desc, index asc) order,
    as flat (row, column) arrays in row order then rank order. Vectorised: no loop over rows.

    `argpartition` finds each row's k = min(n, width) best columns and so its threshold (the k-th
    best score); a row with more cells than k at or above it (a tie across the cut, or fewer than
    k finite scores) is redone exactly: every column above the threshold, then the lowest
    indices among those equal to it. Non-finite scores (the -inf of masked cells, NaN, +inf)
    are never taken.
    """
    n_rows, width = scores.shape
    if n_rows == 0 or width == 0 or n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    top = scores.max()
    if np.isnan(top) or top == np.inf:  # never in a real block; keep them out of the ranking
        scores = np.where(np.isfinite(scores), scores, -np.inf)
    k = min(n, width)
    cols = np.argpartition(scores, width - k, axis=1)[:, width - k:]  # no negated copy of the block
    threshold = scores[np.arange(n_rows)[:, None], cols].min(axis=1, keepdims=True)
    redo = np.flatnonzero(((scores >= threshold).sum(axis=1) > k) | np.isneginf(threshold[:, 0]))
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), k)
    cols = cols.reshape(-1).astype(np.int64)
    if redo.size:
        keep = ~np.isin(rows, redo)
        sub, bar = scores[redo], threshold[redo]
        finite = np.isfinite(sub)
        above = finite & (sub > bar)
        at = finite & (sub == bar)
        room = k - above.sum(axis=1, keepdims=True)
        fixed_rows, fixed_cols = np.nonzero(above | (at & (np.cumsum(at, axis=1, dtype=np.int32) <= room)))
        rows = np.concatenate([rows[keep], redo[fixed_rows]])
        cols = np.concatenate([cols[keep], fixed_cols.astype(np.int64)])
    order = np.lexsort((cols, -scores[rows, cols], rows))
    return rows[order], cols[order]


def _top_rows(scores: np.ndarray, n: int) -> list[np.ndarray]:
    """Per row, column indices of the n best finite scores, (score desc, index asc) (`_top_cells`, split by row)."""
    if scores.shape[0] == 0:
        return []
    rows, cols = _top_cells(scores, n)
    return np.split(cols, np.searchsorted(rows, np.arange(1, scores.shape[0])))


def _excluded_cells(exclude: pa.Array, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, index into sorted `ids`) of every excluded id of a list<bigint> column that occurs in `ids`."""
    offsets = exclude.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    wanted = exclude.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    owner = np.repeat(np.arange(offsets.size - 1, dtype=np.int64), np.diff(offsets))
    if ids.size == 0 or wanted.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    pos = np.minimum(np.searchsorted(ids, wanted), ids.size - 1)
    present = ids[pos] == wanted
    return owner[present], pos[present]


def top_n_against(queries: DataFrame, key: str, item_ids: np.ndarray, items: np.ndarray, n: int,
                  item_name: str, score_name: str) -> DataFrame:
    """For each query row (key bigint, vector array<double>, exclude array<bigint>, offset double):
    the n best items by offset + vector . items[j], excluded ids masked.

    `item_ids` must be sorted ascending (the tie-break order), `items` aligned with them.
    Returns key, rank (int 1..n), item_name (bigint), score_name (double).
    """
    order = np.argsort(item_ids, kind="stable")
    ids, matrix = np.asarray(item_ids, dtype=np.int64)[order], np.asarray(items, dtype=np.float64)[order]
    width = matrix.shape[1]
    shared = queries.sparkSession.sparkContext.broadcast((ids, matrix))
    block = max(1, BLOCK_CELLS // max(1, ids.size))

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ids, matrix = shared.value
        for batch in batches:
            keys = batch.column(key).to_numpy(zero_copy_only=False)
            vectors = _matrix(batch.column("vector"), width)
            offsets = batch.column("offset").to_numpy(zero_copy_only=False)
            excluded_row, excluded_col = _excluded_cells(batch.column("exclude"), ids)  # row-ordered
            out_key, out_rank, out_item, out_score = [], [], [], []
            for start in range(0, keys.size, block):
                stop = min(start + block, keys.size)
                scores = vectors[start:stop] @ matrix.T + offsets[start:stop, None]
                first, last = np.searchsorted(excluded_row, (start, stop))
                scores[excluded_row[first:last] - start, excluded_col[first:last]] = -np.inf
                rows, cols = _top_cells(scores, n)
                out_key.append(keys[start + rows].astype(np.int64))
                out_rank.append((np.arange(rows.size) - np.searchsorted(rows, rows) + 1).astype(np.int32))
                out_item.append(ids[cols])
                out_score.append(scores[rows, cols])
            yield pa.RecordBatch.from_arrays(
                [pa.array(np.concatenate(out_key) if out_key else np.empty(0, np.int64)),
                 pa.array(np.concatenate(out_rank) if out_rank else np.empty(0, np.int32)),
                 pa.array(np.concatenate(out_item) if out_item else np.empty(0, np.int64)),
                 pa.array(np.concatenate(out_score) if out_score else np.empty(0, np.float64))],
                names=[key, "rank", item_name, score_name])

    prepared = queries.select(F.col(key).cast("bigint"), F.col("vector").cast("array<double>"),
                              F.coalesce(F.col("exclude").cast("array<bigint>"),
                                         F.array().cast("array<bigint>")).alias("exclude"),
                              F.col("offset").cast("double"))
    return prepared.mapInArrow(score, f"{key} bigint, rank int, {item_name} bigint, {score_name} double")

