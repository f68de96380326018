"""Hyper-parameter grid search for ExplicitALS with k-fold cross-validation.

Grid points that differ only in `iterations` lie on one ALS trajectory: the
state after 5 iterations is exactly the state a 5-iteration fit ends in.  So
for each (rank, reg) and fold we fit once up to the largest iteration count
and score the held-out fold at every requested checkpoint, instead of
refitting per point.  Fold ids come from upstream SQL and are used as given,
so the Python and SQL sides agree on which rows each fold holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cinemart.evaluation.rating import rmse
from cinemart.models.explicit_als import ALSConfig, ExplicitALS, validate_ratings
from cinemart.tuning.grid import GridSpec, select_lowest
from cinemart.validation import require_int, require_number

PRESETS: dict[str, dict[str, list]] = {
    # The grid of the original Spark notebook, for parity runs in plain mode.
    "spark_seed": {"rank": [5, 10, 15], "reg": [0.1, 0.01, 0.001], "iterations": [3, 5, 10]},
    # For the default biased model.  Picked by 5-fold CV on ml-latest-small
    # over rank 5-300, reg 0.02-0.3, 3-30 iterations: CV RMSE falls
    # steeply up to rank ~100 (0.875 at rank 10, 0.853 at 50, 0.851 at 100)
    # and then flattens (0.850 at rank 200-300 for 2-4x the time); the reg
    # optimum sits at 0.1-0.15 with 0.05 bracketing it for larger catalogues,
    # and with n-scaled lambda 5-10 sweeps are converged (more only
    # overfits at high rank).  18 points, ~10 s on 2 cores.
    "default": {"rank": [25, 50, 100], "reg": [0.05, 0.1, 0.15], "iterations": [5, 10]},
}


@dataclass(frozen=True)
class GridPoint:
    """One explicit-ALS grid point; a key a grid leaves out takes ALSConfig's default."""

    rank: int = ALSConfig.rank
    reg: float = ALSConfig.reg
    iterations: int = ALSConfig.iterations

    def __post_init__(self) -> None:
        require_int("rank", self.rank, 1)
        require_number("reg", self.reg, lambda v: v >= 0, ">= 0")
        require_int("iterations", self.iterations, 1)
        object.__setattr__(self, "rank", int(self.rank))
        object.__setattr__(self, "reg", float(self.reg))
        object.__setattr__(self, "iterations", int(self.iterations))


GRID = GridSpec(GridPoint)


@dataclass
class GridResult:
    """Cross-validated score of one grid point.

    `fit_seconds` is, summed over folds, the fitting time from the start of
    the trajectory fit until this point's iteration count was reached (time
    spent scoring earlier checkpoints excluded): what cross-validating this
    point alone would have cost.  Points on one trajectory share that time,
    so these figures add up to more than the wall-clock time.
    """

    point: GridPoint
    fold_rmse: list[float]
    mean_rmse: float
    std_rmse: float  # population std (ddof=0) over folds, as scikit-learn reports
    fit_seconds: float


def expand_grid(grid: dict[str, list]) -> list[GridPoint]:
    """The grid's points in rank, reg, iterations order (`cinemart.tuning.grid`)."""
    return GRID.expand(grid)


def _validate_folds(fold: np.ndarray, n_rows: int) -> tuple[np.ndarray, int]:
    folds = np.asarray(fold)
    if folds.shape != (n_rows,):
        raise ValueError(f"fold must be 1-D with one id per rating ({n_rows}), got shape {folds.shape}")
    if not np.issubdtype(folds.dtype, np.integer):
        raise ValueError(f"fold must hold integer fold ids, got dtype {folds.dtype}")
    if folds.min() < 0:
        raise ValueError(f"fold ids must be >= 0, found {int(folds.min())}")
    counts = np.bincount(folds)
    if counts.size < 2 or (counts == 0).any():
        raise ValueError(f"fold ids must cover 0..k-1 with k >= 2 and no empty fold; rows per id: {counts.tolist()}")
    return folds, counts.size


class _CheckpointScorer:
    """on_checkpoint callback: scores one fold's held-out rows and books the
    fit time up to each checkpoint, net of its own scoring time."""

    def __init__(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray):
        self.users, self.items, self.ratings = users, items, ratings
        self.rmse_at: dict[int, float] = {}
        self.seconds_at: dict[int, float] = {}
        self._scoring_seconds = 0.0
        self._fit_start = time.perf_counter()

    def __call__(self, iteration: int, model: ExplicitALS) -> None:
        entered = time.perf_counter()
        self.seconds_at[iteration] = entered - self._fit_start - self._scoring_seconds
        self.rmse_at[iteration] = rmse(self.ratings, model.predict(self.users, self.items))
        self._scoring_seconds += time.perf_counter() - entered


def cross_validate_grid(
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    ratings: np.ndarray,
    fold: np.ndarray,
    n_users: int,
    n_items: int,
    grid: dict,
    base: ALSConfig,
    progress: Callable[[str], None] | None = print,
    score_folds: Sequence[int] | None = None,
) -> list[GridResult]:
    """Score every grid point by k-fold CV; results follow `expand_grid` order.

    `base` supplies everything the grid does not (biased, solver, seed, ...).
    Held-out rows whose user or item has no rating in that fold's training
    part are dropped from the RMSE (Spark's coldStartStrategy="drop"): the
    model has nothing to say about them, and the test protocol drops them too.
    `score_folds` holds out only those folds (a single-fold holdout at scale,
    where fitting k times per configuration would dominate the build).
    """
    points = expand_grid(grid)
    users, items, values = validate_ratings(user_idx, item_idx, ratings, n_users, n_items)
    folds, n_folds = _validate_folds(fold, values.shape[0])

    trajectories: dict[tuple[int, float], list[int]] = {}
    for point in points:
        trajectories.setdefault((point.rank, point.reg), []).append(point.iterations)

    fold_rmse: dict[GridPoint, list[float]] = {point: [] for point in points}
    fit_seconds: dict[GridPoint, float] = {point: 0.0 for point in points}
    started = time.perf_counter()
    scored = list(range(n_folds)) if score_folds is None else [int(f) for f in score_folds]
    if not scored or any(f < 0 or f >= n_folds for f in scored):
        raise ValueError(f"score_folds must name folds in 0..{n_folds - 1}, got {score_folds!r}")
    total_fits = len(trajectories) * len(scored)
    for config_no, ((rank, reg), iteration_counts) in enumerate(trajectories.items(), start=1):
        config = replace(base, rank=rank, reg=reg, iterations=max(iteration_counts))
        for position, f in enumerate(scored):
            train = folds != f
            seen_user = np.bincount(users[train], minlength=n_users) > 0
            seen_item = np.bincount(items[train], minlength=n_items) > 0
            held_out = ~train & seen_user[users] & seen_item[items]
            if not held_out.any():
                raise ValueError(f"fold {f} has no held-out rows whose user and item occur in its training part")
            scorer = _CheckpointScorer(users[held_out], items[held_out], values[held_out])
            ExplicitALS(config).fit(
                users[train],
                items[train],
                values[train],
                n_users,
                n_items,
                checkpoints=iteration_counts,
                on_checkpoint=scorer,
            )
            for iterations in iteration_counts:
                point = GridPoint(rank, reg, iterations)
                fold_rmse[point].append(scorer.rmse_at[iterations])
                fit_seconds[point] += scorer.seconds_at[iterations]
            if progress is not None:
                done = (config_no - 1) * len(scored) + position + 1
                elapsed = time.perf_counter() - started
                left = elapsed / done * (total_fits - done)
                progress(
                    f"config {config_no}/{len(trajectories)} rank={rank} reg={reg:g} fold {position + 1}/{len(scored)}, "
                    f"elapsed {elapsed:.1f}s, ~{left:.1f}s left"
                )

    return [
        GridResult(
            point=point,
            fold_rmse=fold_rmse[point],
            mean_rmse=float(np.mean(fold_rmse[point])),
            std_rmse=float(np.std(fold_rmse[point])),
            fit_seconds=fit_seconds[point],
        )
        for point in points
    ]


def select_best(results: list[GridResult]) -> GridResult:
    """Lowest mean RMSE; exact ties go to the cheaper, more regularized model
    (fewer iterations, then smaller rank, then larger reg)."""
    return select_lowest(results, key=lambda r: (r.mean_rmse, r.point.iterations, r.point.rank, -r.point.reg))
