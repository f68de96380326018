"""Tuning any ranking model on NDCG@10 over a validation split of TRAIN.

Implicit ALS and EASE tune the same way: every grid point is fitted on
train minus the validation rows and ranked for the users with a relevant
validation rating, by the served scorer; the best NDCG wins. Only the fit
differs, so it is passed in. The test part never enters: callers pass only
train rows plus a per-row validation flag (upstream SQL assigns fold ids;
``validation_mask`` turns them into the flag).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from cinemart.evaluation.ranking import RankingMetrics, ranking_metrics, relevant_matrix, top_k_matrix
from cinemart.models.base import Factors
from cinemart.models.implicit_als import interaction_matrix
from cinemart.serving.scoring import top_n
from cinemart.tuning.grid import select_lowest

#: fit(params, user_idx, item_idx, ratings, n_users, n_items) -> Factors, or None when the point cannot be fitted
#: (an EASE scope the budget skips).
Fit = Callable[[Any, np.ndarray, np.ndarray, np.ndarray, int, int], "Factors | None"]


@dataclass(frozen=True)
class TuningResult:
    params: Any  # the model's parameter dataclass
    metrics: RankingMetrics
    fit_seconds: float
    n_ratings: int  # rows (fit and validation) of the users the point was scored on

    @property
    def ndcg(self) -> float:
        return self.metrics.ndcg


def validation_mask(fold: np.ndarray, validation_fold: int = 0) -> np.ndarray:
    """Boolean validation flag from the fold ids assigned upstream."""
    fold = np.asarray(fold)
    if not np.issubdtype(fold.dtype, np.integer):
        raise ValueError(f"fold must be an integer array, got dtype {fold.dtype}")
    return fold == validation_fold


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


def _flag(is_validation: np.ndarray, shape: tuple) -> np.ndarray:
    flag = np.asarray(is_validation)
    if flag.shape != shape:
        raise ValueError(f"is_validation has shape {flag.shape}, expected {shape}")
    if flag.dtype != bool:
        if not np.isin(flag, (0, 1)).all():
            raise ValueError(
                f"is_validation must be boolean or 0/1, got values {np.unique(flag)[:10]}; "
                "for fold ids use validation_mask(fold)"
            )
        flag = flag.astype(bool)
    return flag


#: Successive halving's factor (`halving_rungs`): each rung keeps the best third of its points and scores
#: them on three times the users.
HALVING_ETA = 3


def halving_rungs(n_points: int, eta: int = HALVING_ETA) -> int:
    """How many times successive halving cuts `n_points` (floor of log_eta; 0: score every point once).

    24 points: 2 (24 on a ninth of the users, the best 8 on a third, the best 3 on all); 4 or fewer: at most 1.
    """
    rungs = 0
    while eta ** (rungs + 1) <= n_points:
        rungs += 1
    return rungs


def tune_ranking(points: Sequence[Any], fit: Fit, user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray,
                 is_validation: np.ndarray, n_users: int, n_items: int, k: int = 10,
                 progress: Callable[[str], None] | None = print, halving_seed: int | None = None) -> list[TuningResult]:
    """Fit every point on the non-validation rows; score NDCG@k on the rest. Results come back in grid order.

    ``is_validation`` is one flag per row (bool, or 0/1 ints as SQL returns
    them). Raw fold ids are rejected rather than guessed at: use
    ``validation_mask(fold)``. A point `fit` returns None for is left out of
    the results (the caller says why).

    With `halving_seed`, successive halving (Jamieson & Talwalkar, "Non-stochastic Best Arm Identification
    and Hyperparameter Optimization", AISTATS 2016): every point is fitted and scored on a seeded share
    of the users (all of their rows), 1 / HALVING_ETA ** `halving_rungs`; the best 1 / HALVING_ETA of them
    go on to HALVING_ETA times the users, until the last points are scored on every user. A fit and its
    validation lists cost in proportion to the users, so a 24-point grid costs about 8 points' work. Each
    point's result is that of the last rung it reached (`TuningResult.n_ratings` says on how many rows);
    `select_best` chooses among the points of the last rung.
    """
    user_idx, item_idx, ratings = (np.asarray(a) for a in (user_idx, item_idx, ratings))
    flag = _flag(is_validation, user_idx.shape)
    rungs = 0 if halving_seed is None else halving_rungs(len(points))
    if rungs == 0:
        scored = _score(list(enumerate(points)), len(points), fit, np.ones(user_idx.size, bool), user_idx,
                        item_idx, ratings, flag, n_users, n_items, k, progress)
        return [result for _, result in scored]
    position = np.empty(n_users, np.int64)
    position[np.random.default_rng(halving_seed).permutation(n_users)] = np.arange(n_users)
    alive, found = list(enumerate(points)), {}
    for rung in range(rungs + 1):
        share = float(HALVING_ETA) ** (rung - rungs)
        rows = position[user_idx] < max(1, int(np.ceil(n_users * share)))
        if progress is not None:
            progress(f"successive halving, rung {rung + 1}/{rungs + 1}: {len(alive)} configurations on "
                     f"{share:.0%} of the users ({int(rows.sum()):,} ratings)")
        scored = _score(alive, len(points), fit, rows, user_idx, item_idx, ratings, flag, n_users, n_items, k,
                        progress)
        found.update(scored)
        ranked = sorted(scored, key=lambda pair: -pair[1].ndcg)  # stable: ties keep grid order
        kept = {i for i, _ in ranked[:-(-len(ranked) // HALVING_ETA)]}
        alive = [(i, point) for i, point in alive if i in kept]
    return [found[i] for i in sorted(found)]


def _score(points: list[tuple[int, Any]], n_points: int, fit: Fit, rows: np.ndarray, user_idx: np.ndarray,
           item_idx: np.ndarray, ratings: np.ndarray, flag: np.ndarray, n_users: int, n_items: int, k: int,
           progress: Callable[[str], None] | None) -> list[tuple[int, TuningResult]]:
    """`tune_ranking` of (grid position, point) pairs on `rows` (a mask over the rows): (position, result) of
    each point fitted, in the given order."""
    held = rows & flag
    relevant = relevant_matrix(user_idx[held], item_idx[held], ratings[held], n_users, n_items)
    eval_users = np.flatnonzero(np.diff(relevant.indptr))
    if eval_users.size == 0:
        raise ValueError("no validation row has a relevant rating; cannot tune")
    fitted = rows & ~flag
    fit_users, fit_items, fit_ratings = user_idx[fitted], item_idx[fitted], ratings[fitted]
    seen = interaction_matrix(fit_users, fit_items, np.ones(fit_users.size), n_users, n_items)
    n_ratings = int(rows.sum())

    results = []
    started = time.perf_counter()
    for done, (i, params) in enumerate(points, start=1):
        t0 = time.perf_counter()
        model = fit(params, fit_users, fit_items, fit_ratings, n_users, n_items)
        fit_seconds = time.perf_counter() - t0
        shown = ", ".join(f"{f.name}={getattr(params, f.name)}" for f in fields(params))
        if model is None:
            if progress is not None:
                progress(f"[{i + 1}/{n_points}] {shown}: not fitted")
            continue
        recs = top_n(model, seen, eval_users, n=k)
        metrics = ranking_metrics(top_k_matrix(recs.user, recs.rank, recs.item, n_users, k), relevant)
        results.append((i, TuningResult(params, metrics, fit_seconds, n_ratings)))
        if progress is not None:
            elapsed = time.perf_counter() - started
            remaining = elapsed / done * (len(points) - done)
            progress(
                f"[{i + 1}/{n_points}] {shown}: ndcg@{k}={metrics.ndcg:.4f} "
                f"(elapsed {_format_seconds(elapsed)}, ~{_format_seconds(remaining)} left)"
            )
    return results


def select_best(results: Sequence[TuningResult]) -> TuningResult:
    """Highest validation NDCG among the points scored on the most rows (successive halving's last rung; every
    point otherwise); exact ties go to the point earlier in grid order."""
    most = max((r.n_ratings for r in results), default=0)
    return select_lowest([r for r in results if r.n_ratings == most], key=lambda r: -r.ndcg)
