"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019) as a ranking model.

X = users x movies, 1 where a train rating is >= ``min_rating``. With
G = X'X (float64) and P = (G + lambda I)^-1, the closed form is

    B[i, j] = -P[i, j] / P[j, j]  (i != j),  B[j, j] = 0,      scores = X B.

As `cinemart.models.base.Factors`, over the m *kept* movies (ascending item
index; see the budget below): user_factors = X[:, kept] (float32 0/1, dense,
n_users x m), item_factors row kept[p] = B[:, p] (row j holds column j of B:
what each kept movie contributes to j's score), so user_factors[u] .
item_factors[j] = score(u, j). Movies not kept get a zero row and item_bias
-inf: the scorer never lists a non-finite score, so they are never a
candidate. user_bias and global_mean are 0. A user with no positive on a kept
movie has an all-zero row: `Factors.personalised` is False and every engine
serves them the popular fallback. A kept movie whose row of B is zero adds to
no score (everyone who liked it liked no other kept movie: G is block
diagonal there); its user column is zeroed (`contributing_columns`), so a user
who liked only such movies is not personalised either. Which column is which
movie is recoverable from the factors alone: ``kept_items(item_bias)``.

Budget. EASE is a dense movies x movies model. `ease_items` keeps the m most
liked movies (most positives, ties to the lower index, never a movie without a
positive) for the largest m whose peak estimate fits ``max_bytes``. The fit
runs in three phases, each freeing what the next does not need; with P the
positives of all movies, p(m) those of the m kept ones, in bytes:

    build   = 25 P + 44 p(m)               the positives' (user, movie) pairs (16 P), their kept
                                           columns (8 P) and mask (1 P); the kept pairs (16 p),
                                           scipy's int32 copies (8 p), the ones (8 p), X as CSC (12 p)
    solve   = 24 p(m) + 8 m^2 + 4 m n_items  X as CSC and its transpose as CSR (24 p); G, turned
                                           into P and then B in place (one float64 m x m array);
                                           item_factors (float32) filled from B
    factors = 28 p(m) + 4 m (n_items + n_users)  X, its float32 copy and that as CSR (the
                                           last alone remains as the dense rows fill); item_factors
                                           and the dense float32 user rows, what the fit returns

    peak(m) = max(build, solve, factors) + FIT_WORKING_BYTES (buffers, 128 MiB)

The caller's input arrays are not counted. Each phase grows with m, so the
estimate does: m is found by one search over the sorted counts. For scale:
at 25M-like data (162,541 users, 59,373 movies) the dense user rows and
item_factors dominate (4 m (n_items + n_users) = 0.77 GB at m = 873), not the
m x m array. A restricted scope says so in one line (`EaseScope.reason`);
when not even two movies fit (one movie's B is [0]: no score) it is
"skipped" and `fit_ease` returns no factors. Nothing is capped silently.

Checked against peak RSS (VmHWM reset before the fit, minus RSS then; 2-core
machine under load), measured / estimated: ml-latest-small train, positives
>= 4, m = 5,746: 511 / 594 MiB, fit 4-11 s; every rating a positive,
m = 8,992: 1,014 / 1,080 MiB, fit 11-29 s; budget 248 MiB, m = 2,209: 143 /
248 MiB; synthetic 25M, budget 1 GiB, m = 873 of 52,838 liked: 857 / 1,023
MiB, fit 4.3-7 s.

Determinism and threads: the fit runs in one `cinemart.models.threads.cpu_slot`
token with BLAS on one thread (the process-wide rule), G is an exact integer
count matrix, and the inverse is LAPACK's Cholesky (dpotrf + dpotri, in
place) on the symmetric positive definite G + lambda I, so the same input gives
the same bytes. The solve stands alone (`weights_from_gram`) and so does the
layout of B (`ease_item_factors`): `cinemart.spark.ease` counts G on Spark
executors and hands it to both on the driver, which is why the engines give
the same factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from cinemart.memory import GIB, MIB
from cinemart.models.base import Factors
from cinemart.models.popularity import POPULAR_MIN_RATING
from cinemart.models.threads import cpu_slot
from cinemart.validation import index_array, require_int, require_number

#: Cells of G built per sparse block product, and symmetrised per block (a few tens of MiB of buffers).
BLOCK_CELLS = 1 << 21
#: The fit's buffers beside the estimated arrays: one block's sparse product (<= 12 bytes a cell, 24 MiB),
#: its dense copy (16 MiB), one transposed strip while symmetrising (16 MiB) and OpenBLAS's LAPACK buffers
#: (28 MiB measured in dpotrf), with room to spare. Measured at ml-latest-small, every rating a positive
#: (m = 8,992): the fit peaked 63 MiB above its arrays.
FIT_WORKING_BYTES = 128 * MIB
#: Bytes per positive (all movies) and per kept positive in each phase (module docstring).
BUILD_BYTES_PER_POSITIVE = 25
BUILD_BYTES_PER_KEPT_POSITIVE = 44
SOLVE_BYTES_PER_KEPT_POSITIVE = 24
FACTORS_BYTES_PER_KEPT_POSITIVE = 28


@dataclass(frozen=True)
class EaseParams:
    """EASE's L2 penalty lambda (> 0: G + lambda I must be positive definite) and what counts as a positive.

    ``min_rating`` defaults to popularity's threshold, the evaluation's ">= 4 is relevant".
    """

    regularization: float
    min_rating: float = POPULAR_MIN_RATING

    def __post_init__(self) -> None:
        require_number("regularization", self.regularization, lambda v: v > 0, "> 0")
        require_number("min_rating", self.min_rating)


def ease_peak_bytes(m: int | np.ndarray, n_users: int, n_items: int, kept_positives: int | np.ndarray,
                    all_positives: int) -> np.ndarray:
    """The fit's peak memory estimate in bytes (module docstring): m kept movies holding `kept_positives`
    of the `all_positives` positives, n_users x n_items."""
    m = np.asarray(m, dtype=np.float64)
    p = np.asarray(kept_positives, dtype=np.float64)
    build = BUILD_BYTES_PER_POSITIVE * float(all_positives) + BUILD_BYTES_PER_KEPT_POSITIVE * p
    solve = SOLVE_BYTES_PER_KEPT_POSITIVE * p + 8.0 * m * m + 4.0 * m * n_items
    factors = FACTORS_BYTES_PER_KEPT_POSITIVE * p + 4.0 * m * (n_items + n_users)
    return np.maximum(np.maximum(build, solve), factors) + FIT_WORKING_BYTES


def _size(n_bytes: float) -> str:
    return f"{n_bytes / GIB:.1f} GiB" if n_bytes >= GIB else f"{n_bytes / MIB:.1f} MiB"


@dataclass(frozen=True)
class EaseScope:
    """Which movies an EASE fit covers, and why not all of them."""

    kept: np.ndarray  # int64 item indices, ascending; empty when skipped
    n_liked: int  # movies with at least one positive (the most that can be kept)
    n_items: int
    estimate_bytes: int  # peak estimate for `kept` (0 when skipped)
    full_bytes: int  # peak estimate for all liked movies
    max_bytes: int
    reason: str | None  # one line when restricted or skipped; None when every liked movie is kept

    @property
    def m(self) -> int:
        return int(self.kept.size)

    @property
    def skipped(self) -> bool:
        return self.kept.size == 0

    @property
    def restricted(self) -> bool:
        return self.m < self.n_liked


def ease_items(positive_counts_per_item: np.ndarray, n_users: int, max_bytes: int) -> EaseScope:
    """The m most-liked movies whose fit fits `max_bytes` (ties to the lower index; movies with 0 positives never).

    m is the largest value with ease_peak_bytes(m) <= max_bytes (the estimate
    grows with m); fewer than 2 is "skipped".
    """
    counts = np.asarray(positive_counts_per_item)
    if counts.ndim != 1 or (counts.size and (not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0)):
        raise ValueError(f"positive_counts_per_item must be a 1-D array of counts >= 0, got {counts.dtype} "
                         f"{counts.shape}")
    n_users = require_int("n_users", n_users, 0)
    max_bytes = require_int("max_bytes", max_bytes, 0)
    n_items = counts.size
    order = np.argsort(-counts.astype(np.int64), kind="stable")  # most positives first, ties by index
    n_liked = int(np.count_nonzero(counts))
    order = order[:n_liked]
    cumulative = np.cumsum(counts[order], dtype=np.int64)
    sizes = np.arange(1, n_liked + 1)
    estimates = ease_peak_bytes(sizes, n_users, n_items, cumulative, int(counts.sum()))
    m = int(np.searchsorted(estimates, max_bytes, side="right"))  # estimates increase with m
    full = int(estimates[-1]) if n_liked else 0
    if n_liked < 2:
        return EaseScope(np.empty(0, np.int64), n_liked, n_items, 0, full, max_bytes,
                         f"skipped: {n_liked:,} movie(s) have a positive, EASE needs at least 2")
    if m < 2:
        return EaseScope(np.empty(0, np.int64), n_liked, n_items, 0, full, max_bytes,
                         f"skipped: even the 2 most-liked of {n_liked:,} movies need {_size(estimates[1])}, "
                         f"budget {_size(max_bytes)}")
    kept = np.sort(order[:m]).astype(np.int64)
    reason = None if m == n_liked else (
        f"restricted to the {m:,} most-liked of {n_liked:,} movies: all of them need {_size(full)}, "
        f"budget {_size(max_bytes)}")
    return EaseScope(kept, n_liked, n_items, int(estimates[m - 1]), full, max_bytes, reason)


class EaseFit(NamedTuple):
    factors: Factors | None  # None when the scope is skipped
    scope: EaseScope


def _gram(x_csc: sp.csc_matrix) -> np.ndarray:
    """X'X as a dense float64 Fortran array, built a block of columns at a time (no m x m sparse copy)."""
    m = x_csc.shape[1]
    gram = np.empty((m, m), dtype=np.float64, order="F")
    left = x_csc.T.tocsr()  # m x n_users
    step = max(1, BLOCK_CELLS // max(m, 1))
    for start in range(0, m, step):
        stop = min(start + step, m)
        gram[:, start:stop] = (left @ x_csc[:, start:stop]).toarray(order="F")
    return gram


def _symmetrise_from_upper(a: np.ndarray) -> None:
    """Copy the upper triangle of square `a` onto its lower one, in place, a block of columns at a time."""
    m = a.shape[0]
    step = max(1, BLOCK_CELLS // max(m, 1))
    for start in range(0, m, step):
        stop = min(start + step, m)
        a[stop:, start:stop] = a[start:stop, stop:].T
        block = a[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        block[lower] = block.T[lower]


def weights_from_gram(gram: np.ndarray, regularization: float) -> np.ndarray:
    """B (m x m float64, Fortran order, zero diagonal) from G = X'X, computed in `gram`'s own memory.

    `gram` must be G as a float64 Fortran-order m x m array (LAPACK reads its
    upper triangle). It is consumed: G + lambda I, its Cholesky factor, P and
    then B all overwrite it and the returned array is that memory, so the
    solve holds one m x m array, as the budget counts. Any other layout would
    make LAPACK work on a silent copy, hence the refusal. Whoever builds the
    exact integer G (`ease_weights` from a CSC here, executors on Spark) gets
    the same bytes back from this one code path.
    """
    if gram.dtype != np.float64 or gram.ndim != 2 or gram.shape[0] != gram.shape[1] or not gram.flags.f_contiguous:
        raise ValueError(f"gram must be a square float64 Fortran-order array, got {gram.dtype} {gram.shape} "
                         f"(Fortran order: {gram.flags.f_contiguous})")
    a = gram
    m = a.shape[0]
    a.flat[:: m + 1] += regularization
    c, info = lapack.dpotrf(a, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"G + lambda I is not positive definite (dpotrf info {info})")
    p, info = lapack.dpotri(c, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverting G + lambda I failed (dpotri info {info})")
    del a, c
    _symmetrise_from_upper(p)
    diagonal = p.diagonal().copy()
    np.divide(p, -diagonal[None, :], out=p)  # column j over -P[j, j]
    p.flat[:: m + 1] = 0.0
    return p


def ease_weights(x_csc: sp.csc_matrix, regularization: float) -> np.ndarray:
    """B (m x m float64, Fortran order, zero diagonal) for the 0/1 matrix `x_csc`."""
    return weights_from_gram(_gram(x_csc), regularization)


def ease_item_factors(weights: np.ndarray, kept: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(item_factors, item_bias) of the module docstring from B over the `kept` movies.

    item_factors is float32 n_items x m, row kept[j] = column j of B, zero
    rows elsewhere; item_bias is 0 on kept movies and -inf on the others. One
    function, so every engine lays out and rounds B the same way.
    """
    item_factors = np.zeros((n_items, kept.size), dtype=np.float32)
    item_factors[kept] = weights.T  # row kept[j] = column j of B
    item_bias = np.full(n_items, -np.inf, dtype=np.float32)
    item_bias[kept] = 0.0
    return item_factors, item_bias


def fit_ease(user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int,
             params: EaseParams, max_bytes: int) -> EaseFit:
    """EASE on the positives of the movies `ease_items` keeps within `max_bytes`; factors None when skipped.

    The phases of the memory estimate (module docstring) in order: only the
    positives of the kept movies become a matrix.
    """
    if not isinstance(params, EaseParams):
        raise ValueError(f"params must be EaseParams, got {type(params).__name__}")
    user_idx = index_array("user_idx", user_idx, n_users)
    item_idx = index_array("item_idx", item_idx, n_items)
    ratings = np.asarray(ratings)
    if not (user_idx.shape == item_idx.shape == ratings.shape):
        raise ValueError(f"user_idx, item_idx and ratings must have equal length, got shapes "
                         f"{user_idx.shape}, {item_idx.shape}, {ratings.shape}")
    positive = ratings >= params.min_rating
    users, items = user_idx[positive], item_idx[positive]
    del positive
    scope = ease_items(np.bincount(items, minlength=n_items), n_users, max_bytes)
    if scope.skipped:
        return EaseFit(None, scope)
    kept, m = scope.kept, scope.m
    column_of = np.full(n_items, -1, dtype=np.int64)
    column_of[kept] = np.arange(m)
    columns = column_of[items]
    del items
    inside = columns >= 0
    users, columns = users[inside], columns[inside]
    del inside
    x = sp.csc_matrix((np.ones(users.size), (users, columns)), shape=(n_users, m))
    if x.nnz != users.size:  # the constructor sums duplicates: a broken join upstream, not a 2
        raise ValueError(f"{users.size - x.nnz} duplicated (user, item) pairs")
    del users, columns
    x.sort_indices()
    with cpu_slot(1):  # one LAPACK call on one BLAS thread (cinemart.models.threads)
        weights = ease_weights(x, float(params.regularization))
        item_factors, item_bias = ease_item_factors(weights, kept, n_items)
        del weights
        rows = x.astype(np.float32).tocsr()
        del x
        user_factors = rows.toarray()  # C order (a CSC's toarray is Fortran order)
        user_factors[:, ~contributing_columns(item_factors)] = 0.0
    return EaseFit(Factors(user_factors, item_factors, np.zeros(n_users, np.float32), item_bias, 0.0), scope)


def contributing_columns(item_factors: np.ndarray) -> np.ndarray:
    """Per kept column p, whether kept movie p adds to any movie's score: column p of item_factors is row p of B.

    A user's 1 on a column that adds nothing would make their row non-zero
    while every score they get is 0: a list of ties labelled personalised.
    Every path that builds user rows (`fit_ease`, the Spark fit, fold-in)
    zeroes these columns, so `Factors.personalised` stays the one rule.
    """
    return np.asarray(item_factors).any(axis=0)


def kept_items(item_bias: np.ndarray) -> np.ndarray:
    """The kept movies of an EASE `Factors` (finite item_bias), ascending: column p of the factors is kept[p]."""
    return np.flatnonzero(np.isfinite(np.asarray(item_bias))).astype(np.int64)


class EaseContributions(NamedTuple):
    item: np.ndarray  # int32, the liked movie contributing most to the recommendation (-1: none)
    contribution: np.ndarray  # float32, its B[liked, recommended] (NaN when none)


#: (recommendation, liked movie) pairs gathered per block in `ease_contributions`.
CONTRIBUTION_BLOCK_PAIRS = 1 << 22
#: Users per block when `ease_contributions` lists each user's liked columns (a block's 0/1 rows are scanned).
LIKED_BLOCK_ROWS = 4096


def liked_columns(user_factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices): each user's non-zero columns, ascending, as CSR; a block of users at a time."""
    counts, columns = [], []
    for start in range(0, user_factors.shape[0], LIKED_BLOCK_ROWS):
        block = user_factors[start:start + LIKED_BLOCK_ROWS]
        rows, cols = np.nonzero(block)  # row-major: by user, then column
        counts.append(np.bincount(rows, minlength=block.shape[0]))
        columns.append(cols)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts or [np.zeros(0, np.int64)]))]).astype(np.int64)
    return indptr, np.concatenate(columns or [np.zeros(0, np.int64)]).astype(np.int64)


def ease_contributions(user_factors: np.ndarray, item_factors: np.ndarray, rec_users: np.ndarray,
                       rec_items: np.ndarray, kept: np.ndarray) -> EaseContributions:
    """"Because you liked" for EASE: per (user, recommended movie j), the liked movie i of largest B[i, j].

    B[i, j] is i's term in the score of j (user_factors are 0/1), so this is
    the liked movie that contributes most, even when every contribution is
    negative; ties go to the lower index; the recommended movie itself never
    explains itself (its own term is B[j, j] = 0). -1 / NaN only when the user
    has no liked kept movie other than j. `kept` maps factor columns to item
    indices (`kept_items`, or `EaseScope.kept`).

    Only each user's liked columns are read (`liked_columns`: a few dozen of
    the m kept movies), not every recommendation's m values of both sides:
    half the time on a 25M-shaped case (200,000 lists, 879 kept movies, 6%
    of them liked per user), the same answers.
    """
    user_factors = np.asarray(user_factors)
    item_factors = np.asarray(item_factors)
    kept = np.asarray(kept, dtype=np.int64)
    m = user_factors.shape[1]
    if item_factors.shape[1] != m or kept.shape != (m,):
        raise ValueError(f"factor widths {user_factors.shape[1]}, {item_factors.shape[1]} and kept {kept.shape} "
                         "do not match")
    rec_users = index_array("rec_users", rec_users, user_factors.shape[0])
    rec_items = index_array("rec_items", rec_items, item_factors.shape[0])
    if rec_users.shape != rec_items.shape:
        raise ValueError(f"rec_users and rec_items differ in length: {rec_users.size} vs {rec_items.size}")
    column_of = np.full(item_factors.shape[0], -1, dtype=np.int64)
    column_of[kept] = np.arange(m)
    explanation = np.full(rec_users.size, -1, dtype=np.int32)
    contribution = np.full(rec_users.size, np.nan, dtype=np.float32)
    indptr, indices = liked_columns(user_factors)
    pairs = np.diff(indptr)[rec_users]
    ends = np.cumsum(pairs)
    start = 0
    while start < rec_users.size:
        before = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + CONTRIBUTION_BLOCK_PAIRS, side="right")))
        count = pairs[start:stop]
        rec = np.repeat(np.arange(count.size), count)  # each pair's recommendation, in the block
        first = np.cumsum(count) - count
        columns = indices[np.repeat(indptr[rec_users[start:stop]], count) + np.arange(count.sum()) -
                          np.repeat(first, count)]
        items = rec_items[start:stop][rec]
        values = item_factors[items, columns]
        values[columns == column_of[items]] = -np.inf  # never the recommended movie itself
        has = np.flatnonzero(count)
        if has.size:
            best = np.repeat(np.maximum.reduceat(values, first[has]), count[has])
            at_best = np.flatnonzero(values == best)
            recs, leading = np.unique(rec[at_best], return_index=True)  # first maximum: the lowest column
            pick = at_best[leading]
            found = values[pick] > -np.inf
            explanation[start + recs[found]] = kept[columns[pick[found]]]
            contribution[start + recs[found]] = values[pick[found]]
        start = stop
    return EaseContributions(explanation, contribution)
