"""EASE and its blend with implicit ALS, as the warehouse tables they produce.

  ease_grid_search_table  -> ease_grid_search   (NDCG@10 on the validation fold of train; each point's scope)
  ease_factors_table      -> int_ease_factors   (the chosen lambda refit on all clean ratings; empty when skipped)
  blend_factors_table     -> int_blend_factors  (served implicit ALS and EASE factors blended with the weight
                                                 ranking_evaluation chose on validation)

EASE is a dense movies x movies model, so every fit runs within the budget of
var `ease_max_memory` (`cinemart.models.ease.ease_items`): past it the fit
keeps the most-liked movies that fit and the tables say so in a `scope`
column; when not even two fit, EASE (and the blend) is skipped, and the
tables say that. The budget bounds the time too: the fit's cost grows as m^3
in the m kept movies, and m <= sqrt(budget / 8).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping, NamedTuple

import numpy as np
import pyarrow as pa

from cinemart.console import Progress, print_progress
from cinemart.data.ratings import VALIDATION_FOLD, IndexedRatings, SplitRatings
from cinemart.memory import parse_size
from cinemart.models.blend import blend
from cinemart.models.ease import EaseFit, EaseParams, EaseScope, ease_items, fit_ease
from cinemart.settings import load_settings, with_defaults
from cinemart.tuning.ease import PRESETS, tune_ease, validate_grid
from cinemart.tuning.grid import resolve_grid
from cinemart.tuning.plan import plan_tuning
from cinemart.tuning.ranking import select_best
from cinemart.warehouse.audit import run_id
from cinemart.warehouse.factor_tables import ServedFactors, empty_factor_table, factor_table

MODEL_NAME = "ease"
BLEND_MODEL = "ease_implicit_blend"
#: ranking_evaluation.scope of the models that score every movie of their fit part.
FULL_SCOPE = "all movies"


@dataclass(frozen=True)
class EaseSettings:
    """vars ease_grid (preset or mapping over EaseParams' fields) and ease_max_memory (the fit's budget)."""

    grid_name: str
    grid: dict[str, list]
    max_bytes: int

    @classmethod
    def from_config(cls, given: Mapping[str, Any]) -> EaseSettings:
        values = with_defaults(given)
        grid_name, grid = resolve_grid("ease_grid", values["ease_grid"], PRESETS)
        validate_grid(grid)
        return cls(grid_name, grid, parse_size(str(values["ease_max_memory"]), "ease_max_memory"))

    @classmethod
    def from_dbt(cls, model_settings: str | None, engine: str = "duckdb") -> EaseSettings:
        """From the `model_settings` JSON a dbt Python model gets (see dbt_project.yml), over `engine`'s
        defaults (`cinemart.settings.SPARK_DEFAULTS`)."""
        return cls.from_config(load_settings(model_settings, engine))


def scope_text(scope: EaseScope) -> str:
    """The `scope` column: every liked movie, or the budget's one-line reason (restricted / skipped)."""
    return scope.reason or f"all {scope.n_liked:,} liked movies"


def _params_json(params: EaseParams, max_bytes: int) -> str:
    return json.dumps({**asdict(params), "max_bytes": max_bytes}, sort_keys=True)


def ease_run_id(data: SplitRatings, settings: EaseSettings, tuning: object) -> str:
    return run_id(MODEL_NAME, data.fingerprint, {"ease": asdict(settings), "tuning": asdict(tuning)})


def ease_grid_search_table(data: SplitRatings, settings: EaseSettings, tuning: Any, seed: int,
                           progress: Progress = print_progress) -> pa.Table:
    """Tune EASE on train as implicit ALS is tuned (fit on folds != 0, NDCG@10 on fold 0; the same user
    sample past tuning_max_ratings, drawn with `seed`). A point the budget skips has null metrics and is never
    chosen; when every point is skipped, none is chosen and EASE is skipped."""
    plan = plan_tuning(data, tuning, seed)
    train = IndexedRatings.build(data, plan.rows)
    is_validation = data.cv_fold[plan.rows] == VALIDATION_FOLD
    points = validate_grid(settings.grid)
    progress(f"EASE grid search ({plan.strategy}): {len(points)} configurations, budget "
             f"{settings.max_bytes / 2**30:.2f} GiB, validation fold {VALIDATION_FOLD}")
    full = None if plan.strategy == "kfold" else validation_fit_scopes(data, points, settings.max_bytes)
    tuned = tune_ease(train.user_idx, train.movie_idx, train.rating, is_validation, len(train.users),
                      len(train.movies), settings.grid, settings.max_bytes, progress=progress,
                      scopes_of=None if full is None else {
                          rating: _encoded(train.movies, ids) for rating, (ids, _) in full.items()})
    results, scopes = {r.params: r for r in tuned.results}, tuned.scopes
    if full is not None:  # the scope the choice is for: the validation fit's, on every user
        scopes = {p: full[p.min_rating][1] for p in points}
    best = select_best(tuned.results) if tuned.results else None
    rid = ease_run_id(data, settings, tuning)
    n = len(points)
    fitted = [results.get(p) for p in points]
    return pa.table({
        "run_id": [rid] * n,
        "config_id": list(range(1, n + 1)),
        "regularization": [float(p.regularization) for p in points],
        "min_rating": [float(p.min_rating) for p in points],
        "validation_ndcg_at_10": pa.array([r.metrics.ndcg if r else None for r in fitted], pa.float64()),
        "validation_precision_at_10": pa.array([r.metrics.precision if r else None for r in fitted], pa.float64()),
        "fit_seconds": pa.array([r.fit_seconds if r else None for r in fitted], pa.float64()),
        "n_movies_kept": [scopes[p].m for p in points],
        "n_movies_liked": [scopes[p].n_liked for p in points],
        "scope": [scope_text(scopes[p]) for p in points],
        "max_memory_bytes": pa.array([settings.max_bytes] * n, pa.int64()),
        "is_chosen": [best is not None and r is best for r in fitted],
        "grid_name": [settings.grid_name] * n,
        "tuning_strategy": ["holdout" if plan.strategy == "kfold" else plan.strategy] * n,
        "n_tuning_ratings": [plan.n_ratings] * n,
    })


def validation_fit_scopes(data: SplitRatings, points: list[EaseParams],
                          max_bytes: int) -> dict[float, tuple[np.ndarray, EaseScope]]:
    """Per min_rating of `points`: the movie ids EASE keeps within `max_bytes` when fitted on train without the
    validation fold (ranking_evaluation's validation fit, which the grid's choice is judged by), and that scope.

    Only counts: the same `ease_items` rule over the same users and movies as `scope_of` on that part."""
    rows = data.part_rows("validation")[0]
    movies, movie_idx = np.unique(data.movie_id[rows], return_inverse=True)
    n_users = int(np.unique(data.user_id[rows]).size)
    found = {}
    for rating in sorted({p.min_rating for p in points}):
        positive = data.rating[rows] >= rating
        scope = ease_items(np.bincount(movie_idx[positive], minlength=movies.size), n_users, max_bytes)
        found[rating] = (movies[scope.kept], scope)
    return found


def _encoded(index, ids: np.ndarray) -> np.ndarray:
    """`ids`' indices in `index` (an IdIndex), those it lacks left out."""
    idx = index.encode(ids)
    return idx[idx >= 0]


class EaseChoice(NamedTuple):
    """What ease_grid_search chose: the params (None when every point was skipped) and the grid's run id."""

    params: EaseParams | None
    max_bytes: int
    run_id: str
    skipped_reason: str | None  # the budget's reason when nothing was chosen

    @property
    def parameters(self) -> str:
        """The chosen point as ranking_evaluation's `parameters` JSON (its budget included)."""
        return _params_json(self.params, self.max_bytes) if self.params else json.dumps({"max_bytes": self.max_bytes})


def chosen_ease(grid: Mapping[str, np.ndarray]) -> EaseChoice:
    """The chosen row of ease_grid_search; when none is chosen, every point was skipped and the first says why."""
    chosen = np.flatnonzero(np.asarray(grid["is_chosen"], dtype=bool))
    if chosen.size > 1:
        raise ValueError(f"ease_grid_search must flag at most one chosen configuration, found {chosen.size}")
    rid, budget = str(grid["run_id"][0]), int(grid["max_memory_bytes"][0])
    if chosen.size == 0:
        return EaseChoice(None, budget, rid, str(grid["scope"][0]))
    i = int(chosen[0])
    return EaseChoice(EaseParams(float(grid["regularization"][i]), float(grid["min_rating"][i])), budget, rid, None)


def fit_choice(choice: EaseChoice, ratings: IndexedRatings) -> EaseFit | None:
    """The chosen EASE fitted on `ratings`; None when nothing was chosen."""
    if choice.params is None:
        return None
    return fit_ease(ratings.user_idx, ratings.movie_idx, ratings.rating, len(ratings.users), len(ratings.movies),
                    choice.params, choice.max_bytes)


def scope_of(choice: EaseChoice, ratings: IndexedRatings) -> EaseScope | None:
    """Which movies the chosen EASE would keep on `ratings` (no fit); None when nothing was chosen."""
    if choice.params is None:
        return None
    positive = ratings.rating >= choice.params.min_rating
    return ease_items(np.bincount(ratings.movie_idx[positive], minlength=len(ratings.movies)), len(ratings.users),
                      choice.max_bytes)


def ease_factors_table(data: SplitRatings, choice: EaseChoice, progress: Progress = print_progress) -> pa.Table:
    """The chosen EASE refit on all clean ratings (the served factors); no rows when EASE is skipped."""
    started = time.perf_counter()
    everything = IndexedRatings.build(data)
    fit = fit_choice(choice, everything)
    if fit is None or fit.factors is None:
        reason = choice.skipped_reason if fit is None else fit.scope.reason
        progress(f"EASE final refit: skipped ({reason})")
        return empty_factor_table(data, choice.run_id)
    progress(f"EASE final refit on all {everything.rating.size:,} ratings ({scope_text(fit.scope)}) in "
             f"{time.perf_counter() - started:.1f}s")
    return factor_table(choice.run_id, everything, fit.factors)


def blend_weight(parameters: str) -> float:
    """The EASE weight in the blend's ranking_evaluation parameters JSON."""
    return float(json.loads(parameters)["ease_weight"])


def blend_parameters(ease_weight: float, ease: str, implicit: str) -> str:
    return json.dumps({"ease_weight": ease_weight, "ease": json.loads(ease), "implicit_als": json.loads(implicit)},
                      sort_keys=True)


def blend_factors_table(data: SplitRatings, implicit: ServedFactors, ease: ServedFactors | None,
                        ease_weight: float | None) -> pa.Table:
    """The served blend: the served implicit ALS and EASE factors (both fitted on all clean ratings) blended
    with the weight chosen on validation; no rows when EASE is skipped (`ease` or `ease_weight` None)."""
    rid = run_id(BLEND_MODEL, data.fingerprint, {"implicit_als": implicit.run_id,
                                                 "ease": None if ease is None else ease.run_id,
                                                 "ease_weight": ease_weight})
    if ease is None or ease_weight is None:
        return empty_factor_table(data, rid)
    everything = IndexedRatings.build(data)
    factors, _ = blend(ease.aligned(everything.users, everything.movies),
                       implicit.aligned(everything.users, everything.movies), ease_weight)
    return factor_table(rid, everything, factors)
