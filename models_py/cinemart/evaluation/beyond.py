"""Beyond-accuracy measures of top-k lists: how wide, how novel, how varied, how popular, how personal.

Precision rewards whatever users rate next, and on MovieLens that is mostly
the popular head: a model can win on accuracy by handing everyone the same
blockbusters. These figures show the price. The definitions follow Microsoft
Recommenders' evaluation module (`recommenders.evaluation.python_evaluation`);
novelty is Castells et al.'s (2011) self-information of an item. All of them
are computed over the lists ranking_evaluation judges (the evaluated users:
every eligible one, or the seeded sample), against the part the model was
fitted on, on both engines with this one function.

* **distributional coverage**: the Shannon entropy, in bits, of how the list
  slots spread over movies: -sum p(i) log2 p(i), p(i) = slots holding movie i /
  all filled slots. log2(distinct movies) at most; 0 when everyone gets the
  same movies.
* **novelty**: mean over filled slots of -log2(users who rated the movie in the
  fit part / users in the fit part). Higher means less-known movies.
* **intra-list diversity**: mean over lists of 1 - the mean pairwise cosine of
  the list's movies on their content vectors (genres, release decade and
  tags, `cinemart.similarity.content`): a representation no ranked model
  learned, so it compares models fairly. Pairs with a content-less movie
  count as cosine 0; lists with fewer than two movies are left out.
* **popularity percentile**: mean over filled slots of the movie's percentile
  among the fit part's movies by number of raters (1.0 = the most rated;
  ties share their average rank).
* **personalised list share**: the share of evaluated users who get a full
  list ranked by their own taste: the model personalises (popularity does
  not: every user gets one order) and the user's row is not all zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

from cinemart.serving.scoring import unit_rows

#: Lists per block when gathering content vectors for the diversity (bounded memory at 50,000 users).
DIVERSITY_BLOCK = 4096


@dataclass(frozen=True)
class BeyondAccuracy:
    distributional_coverage: float
    novelty: float
    intra_list_diversity: float
    popularity_percentile: float
    personalised_list_share: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def intra_list_diversity(lists: np.ndarray, item_vectors: np.ndarray) -> float:
    """1 - mean pairwise cosine within each list of >= 2 movies, averaged over those lists."""
    unit = unit_rows(item_vectors)
    per_list = []
    for start in range(0, lists.shape[0], DIVERSITY_BLOCK):
        block = lists[start:start + DIVERSITY_BLOCK]
        filled = block >= 0
        n = filled.sum(axis=1)
        gathered = unit[np.where(filled, block, 0)] * filled[..., None]
        gram = np.einsum("lid,ljd->lij", gathered, gathered)
        pair_sum = (gram.sum(axis=(1, 2)) - np.einsum("lii->l", gram)) / 2
        pairs = n * (n - 1) / 2
        keep = pairs > 0
        per_list.append(1.0 - pair_sum[keep] / pairs[keep])
    values = np.concatenate(per_list) if per_list else np.empty(0)
    return float(values.mean()) if values.size else float("nan")


def beyond_accuracy(lists: np.ndarray, item_raters: np.ndarray, n_fit_users: int, item_vectors: np.ndarray,
                    personalised: np.ndarray, personalises: bool) -> BeyondAccuracy:
    """The measures above for `lists` (evaluated users x k item indices, -1 = empty slot).

    item_raters: users who rated each item in the fit part; n_fit_users: users
    in the fit part; item_vectors: each item's content vector; personalised:
    per list, whether the model's row for that user is not all zero;
    personalises: False for a model that ranks every user alike (popularity).
    """
    lists = np.asarray(lists, dtype=np.int64)
    item_raters = np.asarray(item_raters, dtype=np.float64)
    if lists.ndim != 2 or lists.shape[0] == 0:
        raise ValueError(f"lists must be a non-empty (users, k) matrix, got shape {lists.shape}")
    slots = lists[lists >= 0]
    if slots.size == 0:
        raise ValueError("no list holds a movie; beyond-accuracy measures are undefined")
    if (item_raters[slots] < 1).any() or n_fit_users < item_raters.max():
        raise ValueError("every listed movie must have a rater in the fit part, and no movie more raters than "
                         f"its {n_fit_users} users")
    share = np.bincount(slots, minlength=item_raters.size) / slots.size
    share = share[share > 0]
    percentile = rankdata(item_raters, method="average") / item_raters.size
    full = (lists >= 0).all(axis=1)
    return BeyondAccuracy(
        distributional_coverage=float(-(share * np.log2(share)).sum()),
        novelty=float(np.mean(-np.log2(item_raters[slots] / n_fit_users))),
        intra_list_diversity=intra_list_diversity(lists, item_vectors),
        popularity_percentile=float(percentile[slots].mean()),
        personalised_list_share=float((full & np.asarray(personalised, dtype=bool)).mean()) if personalises else 0.0,
    )
