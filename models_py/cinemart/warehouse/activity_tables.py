"""ranking_evaluation split by user activity, as the warehouse table (docs/serving-and-new-users.md).

  ranking_evaluation_by_activity_table -> int_ranking_evaluation_by_activity

Every model ranking_evaluation judges, plus the fallback list recommend_for
gives a user without factors (popular_movies' 'train' fit, from SQL:
models/intermediate/recommender/int_popular_movies.sql), on the same protocol
(`EvaluationProtocol`: train fit, test relevant >= 4.0, train-seen movies
excluded) and the same scorer, with the metrics averaged per train-profile
bucket (`cinemart.evaluation.activity`).

Cost: within one `dbt build` the models' lists are the ones
int_ranking_evaluation made (`ranking_tables.evaluation_lists`); run on its own,
this model fits the implicit configuration on train again (seeded, so the same
lists; the explicit train fit is read back from int_als_factors, popularity
and the fallback are counts). Either way the buckets' user-weighted means give
back ranking_evaluation's figures (a test checks it).
"""

from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import pyarrow as pa

from cinemart.console import Progress, print_progress
from cinemart.data.ratings import SplitRatings
from cinemart.evaluation.activity import metrics_by_activity
from cinemart.models.implicit_als import ImplicitParams
from cinemart.warehouse.ease_tables import EaseChoice
from cinemart.warehouse.factor_tables import ServedFactors
from cinemart.warehouse.ranking_tables import (FALLBACK_MODEL, EvaluationProtocol, RankingSettings, evaluation_lists,
                                               fallback_factors, train_models)

def ranking_evaluation_by_activity_table(data: SplitRatings, settings: RankingSettings, implicit: ImplicitParams,
                                         rid: str, ease: EaseChoice, blend_weight: float | None,
                                         explicit_train_fit: ServedFactors, served_model: str,
                                         popular_train: Mapping[str, np.ndarray],
                                         progress: Progress = print_progress) -> pa.Table:
    """One row per (model, activity bucket): ranking_evaluation's metrics over the bucket's test users.

    `ease`: ease_grid_search's choice; `blend_weight`: the EASE weight ranking_evaluation chose for the
    blend (None when EASE is skipped: neither has rows then)."""
    protocol = EvaluationProtocol.of(data, settings)
    train = protocol.train
    n_train = np.bincount(train.user_idx, minlength=len(train.users))
    weights = () if blend_weight is None else (blend_weight,)
    models = {model.name: (model.make, model.fit_key) for model
              in train_models(protocol, settings, implicit, ease, explicit_train_fit, "", weights)
              if model.make is not None}
    models[FALLBACK_MODEL] = (lambda: fallback_factors(train.users, train.movies, popular_train), None)
    rows = []
    for name, (make, fit_key) in models.items():
        started = time.perf_counter()
        lists = protocol.top_k(make(), settings.top_n) if fit_key is None else \
            evaluation_lists(data, protocol, name, fit_key, make, settings.top_n).top
        buckets = metrics_by_activity(lists, protocol.relevant, n_train)
        rows += [{"model": name, **bucket} for bucket in buckets]
        progress(f"ranking evaluation by activity {name}: "
                 + ", ".join(f"{b['activity_bucket']} {b['n_users']} users ndcg@10="
                             + ("-" if b["ndcg"] is None else f"{b['ndcg']:.3f}") for b in buckets)
                 + f" ({time.perf_counter() - started:.1f}s)")
    return pa.table({
        "run_id": [rid] * len(rows),
        "model": [r["model"] for r in rows],
        "activity_bucket": [r["activity_bucket"] for r in rows],
        "bucket_order": pa.array([r["bucket_order"] for r in rows], pa.int32()),
        "min_train_ratings": pa.array([r["min_train_ratings"] for r in rows], pa.int64()),
        "max_train_ratings": pa.array([r["max_train_ratings"] for r in rows], pa.int64()),
        "n_users_evaluated": pa.array([r["n_users"] for r in rows], pa.int64()),
        "precision_at_10": pa.array([r["precision"] for r in rows], pa.float64()),
        "recall_at_10": pa.array([r["recall"] for r in rows], pa.float64()),
        "ndcg_at_10": pa.array([r["ndcg"] for r in rows], pa.float64()),
        "map_at_10": pa.array([r["ap"] for r in rows], pa.float64()),
        "is_served": [r["model"] == served_model for r in rows],
        "is_user_sample": [protocol.is_user_sample] * len(rows),
    })
