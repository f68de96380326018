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


def tune_ranking(points: Sequence[Any], fit: Fit, user_idx: np.ndarray, item_idx: np.ndarray, ratings: np.ndarray,
                 is_validation: np.ndarray, n_users: int, n_items: int, k: int = 10,
                 progress: Callable[[str], None] | None = print) -> list[TuningResult]:
    """Fit every point on the non-validation rows; score NDCG@k on the rest. Results come back in grid order.

    ``is_validation`` is one flag per row (bool, or 0/1 ints as SQL returns
    them). Raw fold ids are rejected rather than guessed at: use
    ``validation_mask(fold)``. A point `fit` returns None for is left out of
    the results (the caller says why).
    """
    user_idx, item_idx, ratings = (np.asarray(a) for a in (user_idx, item_idx, ratings))
    flag = _flag(is_validation, user_idx.shape)
    relevant = relevant_matrix(user_idx[flag], item_idx[flag], ratings[flag], n_users, n_items)
    eval_users = np.flatnonzero(np.diff(relevant.indptr))
    if eval_users.size == 0:
        raise ValueError("no validation row has a relevant rating; cannot tune")
    fit_users, fit_items, fit_ratings = user_idx[~flag], item_idx[~flag], ratings[~flag]
    seen = interaction_matrix(fit_users, fit_items, np.ones(fit_users.size), n_users, n_items)

    results = []
    started = time.perf_counter()
    for i, params in enumerate(points, start=1):
        t0 = time.perf_counter()
        model = fit(params, fit_users, fit_items, fit_ratings, n_users, n_items)
        fit_seconds = time.perf_counter() - t0
        shown = ", ".join(f"{f.name}={getattr(params, f.name)}" for f in fields(params))
        if model is None:
            if progress is not None:
                progress(f"[{i}/{len(points)}] {shown}: not fitted")
            continue
        recs = top_n(model, seen, eval_users, n=k)
        metrics = ranking_metrics(top_k_matrix(recs.user, recs.rank, recs.item, n_users, k), relevant)
        results.append(TuningResult(params, metrics, fit_seconds))
        if progress is not None:
            elapsed = time.perf_counter() - started
            remaining = elapsed / i * (len(points) - i)
            progress(
                f"[{i}/{len(points)}] {shown}: ndcg@{k}={metrics.ndcg:.4f} "
                f"(elapsed {_format_seconds(elapsed)}, ~{_format_seconds(remaining)} left)"
            )
    return results


def select_best(results: Sequence[TuningResult]) -> TuningResult:
    """Highest validation NDCG; exact ties go to the point earlier in grid order."""
    return select_lowest(results, key=lambda r: -r.ndcg)
