"""Exact blocked top-n on Spark: query rows stream through `mapInArrow`, candidates are broadcast.

The candidate side (movies x k factors: the model, not users x movies) is
broadcast once; each Arrow batch of query rows is scored against it in
blocks of at most BLOCK_CELLS scores, so no users x movies or movies x movies
matrix ever exists, on the driver or anywhere else. Per query row the
`exclude` ids (seen movies, the movie itself) are masked, and the top n are
taken in (score desc, candidate id asc) order: ties are broken by id, exactly.
Scores are float64 dot products; given the same partitioning they are the
same bits run after run.
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


def _top_rows(scores: np.ndarray, n: int) -> list[np.ndarray]:
    """Per row, column indices of the n best finite scores, (score desc, index asc)."""
    if scores.shape[1] == 0:
        return [np.empty(0, dtype=np.int64)] * scores.shape[0]
    kth = min(n, scores.shape[1]) - 1
    threshold = -np.partition(-scores, kth, axis=1)[:, kth]
    rows = []
    for r in range(scores.shape[0]):
        candidates = np.flatnonzero((scores[r] >= threshold[r]) & np.isfinite(scores[r]))
        order = np.lexsort((candidates, -scores[r, candidates]))
        rows.append(candidates[order][:n])
    return rows


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
            excluded = batch.column("exclude").to_pylist()
            out_key, out_rank, out_item, out_score = [], [], [], []
            for start in range(0, keys.size, block):
                stop = min(start + block, keys.size)
                scores = vectors[start:stop] @ matrix.T + offsets[start:stop, None]
                for r, row in enumerate(range(start, stop)):
                    if excluded[row]:
                        scores[r, _present(ids, excluded[row])] = -np.inf
                for r, best in enumerate(_top_rows(scores, n)):
                    out_key.append(np.full(best.size, keys[start + r], dtype=np.int64))
                    out_rank.append(np.arange(1, best.size + 1, dtype=np.int32))
                    out_item.append(ids[best])
                    out_score.append(scores[r, best])
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


def _present(ids: np.ndarray, wanted: list) -> np.ndarray:
    """Indices in sorted `ids` of the wanted ids that occur there."""
    wanted = np.asarray(wanted, dtype=np.int64)
    if ids.size == 0:
        return np.empty(0, dtype=np.int64)
    pos = np.minimum(np.searchsorted(ids, wanted), ids.size - 1)
    return pos[ids[pos] == wanted]
