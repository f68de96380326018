"""Top-N ranking metrics, vectorised over users.

Evaluation protocol
-------------------
* **Relevant**: a held-out (test or validation) rating >= 4.0. Lower held-out
  ratings are not relevant, they are simply not hits: a 2-star test rating
  says the user *watched* the film, but recommending it was not a success.
* **Candidates**: every catalogue movie except those the user rated in the
  training part (the retrieval layer filters them; see ``cinemart.serving.scoring``).
  Re-recommending a seen film would be an easy, useless hit.
* **Users averaged over**: users with at least one relevant held-out movie.
  Users without one have no defined recall/NDCG/AP; including them as zeros
  would measure the split, not the model. A user that has relevant movies but
  no recommendations still counts, with zero hits.
* ``k`` below is the list length (10 in the warehouse); ``denom = min(k, R)``
  where ``R`` is the user's number of relevant held-out movies.
* **precision@k** = hits / k. Always divided by ``k`` (not by the list
  length actually returned), so a model cannot score higher by returning
  shorter lists.
* **recall@k** = hits / min(k, R). Plain hits / R punishes users with more
  than ``k`` relevant movies for something no top-k list can fix; capping the
  denominator at ``k`` makes 1.0 reachable for every user. This is the
  LensKit ``recall@k`` convention and the normaliser implicit uses.
* **NDCG@k**: binary gains, discount 1 / log2(rank + 1); the ideal DCG puts
  ``min(k, R)`` hits at ranks 1..min(k, R).
* **MAP@k**: AP@k = sum over hit ranks r of (hits within the first r) / r,
  divided by min(k, R); mean over users.
* **Catalogue coverage** = distinct movies across the top-k lists of the
  evaluated users / movies in the train part (the candidates). Evaluated users
  are those averaged over above, or the seeded sample of them past
  ``ranking_eval_max_users``: every model's lists are for the same users, so
  coverage compares models. It flags models that hand everyone the same
  blockbusters. Both engines compute it so (``cinemart.spark.retrieval``).

Relation to ``implicit.evaluation.ranking_metrics_at_k``
--------------------------------------------------------
``ndcg`` and ``map`` there use exactly the definitions above (macro average
over users with a held-out item, ideal DCG and AP normalised by min(k, R)), so
they agree to float precision when fed the relevant-only held-out matrix.
implicit's ``precision`` is neither of ours: it is the *micro* average
sum(hits) / sum(min(k, R)), i.e. a pooled recall. ``RankingMetrics.pooled_recall``
reproduces it so the two can be cross-checked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

#: Held-out ratings at or above this count as relevant.
RELEVANT_MIN_RATING = 4.0


@dataclass(frozen=True)
class RankingMetrics:
    """Means over evaluated users (see module docstring for definitions)."""

    k: int
    precision: float
    recall: float
    ndcg: float
    map: float
    coverage: float
    pooled_recall: float
    n_users: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def relevant_matrix(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    ratings: np.ndarray,
    n_users: int,
    n_items: int,
    min_rating: float = RELEVANT_MIN_RATING,
) -> sp.csr_matrix:
    """Users x items boolean CSR of held-out ratings >= ``min_rating``.

    Sorted, duplicate-free indices make row lookups a binary search.
    """
    user_idx = np.asarray(user_idx)
    item_idx = np.asarray(item_idx)
    ratings = np.asarray(ratings)
    if not (user_idx.shape == item_idx.shape == ratings.shape):
        raise ValueError(
            f"user_idx, item_idx and ratings must have the same shape, got "
            f"{user_idx.shape}, {item_idx.shape}, {ratings.shape}"
        )
    keep = ratings >= min_rating
    matrix = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=bool), (user_idx[keep], item_idx[keep])),
        shape=(n_users, n_items),
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def top_k_matrix(
    users: np.ndarray, ranks: np.ndarray, items: np.ndarray, n_users: int, k: int
) -> np.ndarray:
    """Dense ``(n_users, k)`` item matrix from long-format lists; -1 = no item.

    The long format is what ``retrieval.top_n`` and the warehouse table hold;
    the dense form lets every metric be a row-wise array operation.
    """
    users = np.asarray(users, dtype=np.int64)
    ranks = np.asarray(ranks, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if ranks.size and (ranks.min() < 1 or ranks.max() > k):
        raise ValueError(f"ranks must lie in 1..{k}, got {ranks.min()}..{ranks.max()}")
    if users.size and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(f"users must lie in 0..{n_users - 1}, got {users.min()}..{users.max()}")
    top = np.full((n_users, k), -1, dtype=np.int64)
    top[users, ranks - 1] = items
    return top


def hit_matrix(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(n_users, k)``: is ``top[u, r]`` relevant for user ``u``.

    Works on (user, item) keys with one ``searchsorted`` over the sorted
    relevant keys instead of a per-user set lookup.
    """
    top = np.asarray(top)
    if top.ndim != 2 or top.shape[0] != relevant.shape[0]:
        raise ValueError(
            f"top must be (n_users, k) with n_users = {relevant.shape[0]}, got shape {top.shape}"
        )
    n_items = relevant.shape[1]
    rel = relevant.tocsr(copy=True)
    rel.sum_duplicates()
    rel.sort_indices()
    rel_rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    rel_keys = rel_rows * n_items + rel.indices
    if rel_keys.size == 0:
        return np.zeros(top.shape, dtype=bool)
    query = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_items + top
    pos = np.minimum(np.searchsorted(rel_keys, query), rel_keys.size - 1)
    return (rel_keys[pos] == query) & (top >= 0)


def per_user_metrics(top: np.ndarray, relevant: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Per-user precision/recall/NDCG/AP for users with >= 1 relevant item.

    Returns arrays aligned with ``users`` (the evaluated user ids), plus the
    per-user ``hits`` and ``n_relevant`` needed for pooled statistics.
    """
    k = top.shape[1]
    hits = hit_matrix(top, relevant)
    n_relevant = np.diff(relevant.indptr)
    users = np.flatnonzero(n_relevant > 0)
    hits = hits[users]
    denom = np.minimum(k, n_relevant[users])

    n_hits = hits.sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_dcg = np.cumsum(discount)[denom - 1]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        "users": users,
        "hits": n_hits,
        "n_relevant": n_relevant[users],
        "precision": n_hits / k,
        "recall": n_hits / denom,
        "ndcg": (hits @ discount) / ideal_dcg,
        "ap": (precision_at_rank * hits).sum(axis=1) / denom,
    }


def catalogue_coverage(top: np.ndarray, n_catalogue: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    if n_catalogue < 1:
        raise ValueError(f"n_catalogue must be >= 1, got {n_catalogue}")
    top = np.asarray(top)
    return float(np.unique(top[top >= 0]).size / n_catalogue)


def ranking_metrics(
    top: np.ndarray, relevant: sp.csr_matrix, n_catalogue: int | None = None
) -> RankingMetrics:
    """All metrics for dense top-k lists ``top`` against ``relevant``.

    ``n_catalogue`` defaults to the number of item columns in ``relevant``.
    """
    per_user = per_user_metrics(top, relevant)
    n_users = int(per_user["users"].size)
    if n_users == 0:
        raise ValueError("no user has a relevant held-out item; metrics are undefined")
    k = top.shape[1]
    return RankingMetrics(
        k=k,
        precision=float(per_user["precision"].mean()),
        recall=float(per_user["recall"].mean()),
        ndcg=float(per_user["ndcg"].mean()),
        map=float(per_user["ap"].mean()),
        coverage=catalogue_coverage(
            top, relevant.shape[1] if n_catalogue is None else n_catalogue
        ),
        pooled_recall=float(
            per_user["hits"].sum() / np.minimum(k, per_user["n_relevant"]).sum()
        ),
        n_users=n_users,
    )
