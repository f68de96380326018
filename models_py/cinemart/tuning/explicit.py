"""Hyper-parameter grid search for ExplicitALS with k-fold cross-validation.

Grid points that differ only in `iterations` lie on one trajectory: the
state after 5 iterations is exactly the state a 5-iteration fit ends in (for
the Bayesian method, the samples kept by sweep 60 are those a 60-sweep chain
keeps).  So for each (method, rank, reg, burn_in) and fold we fit once up to
the largest iteration count and score the held-out fold at every requested
checkpoint, instead of refitting per point.  Fold ids come from upstream SQL
and are used as given, so the Python and SQL sides agree on which rows each
fold holds.

The choice among points follows a rule (`SELECTION_RULES`): `one_se`, the
default, takes the cheapest point whose CV RMSE is within one standard error
of the lowest (Hastie, Tibshirani & Friedman, ESL 7.10), because differences
inside the folds' own spread are noise and the larger model costs every
later fit; `lowest` takes the lowest CV RMSE.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from cinemart.evaluation.rating import rmse
from cinemart.models.explicit import explicit_model, time_detrended
from cinemart.models.explicit_als import METHODS, ALSConfig, validate_ratings
from cinemart.models.time_biases import TIME_BINS
from cinemart.tuning.grid import GridSpec, select_lowest
from cinemart.validation import require_int, require_number

SELECTION_RULES = ("one_se", "lowest")
#: A Bayesian point's sweeps and discarded sweeps when its grid leaves them out (100 samples kept).
DEFAULT_BAYESIAN_SWEEPS, DEFAULT_BURN_IN = 110, 10

PRESETS: dict[str, dict[str, list] | list[dict[str, list]]] = {
    # The grid of the original Spark notebook, for parity runs in plain mode.
    "spark_seed": {"rank": [5, 10, 15], "reg": [0.1, 0.01, 0.001], "iterations": [3, 5, 10]},
    # For the default biased model.  Picked by 5-fold CV on ml-latest-small
    # over rank 5-300, reg 0.02-0.3, 3-30 iterations: CV RMSE falls
    # steeply up to rank ~100 (0.875 at rank 10, 0.853 at 50, 0.851 at 100)
    # and then flattens (0.850 at rank 200-300 for 2-4x the time); the reg
    # optimum sits at 0.1-0.15 with 0.05 bracketing it for larger catalogues,
    # and with n-scaled lambda 5-10 sweeps are converged (more only
    # overfits at high rank).  18 ALS points, ~10 s on 2 cores.
    # The Bayesian part: on ml-latest-small's test split, rank 10 with 100
    # kept samples scores RMSE 0.822 (rank 5: 0.829, rank 25: 0.821 at
    # 2.5x the time); 50 samples score 0.825. It is scored by k-fold CV only,
    # on data up to tuning_max_ratings: past that a fit costs ~10 ALS fits
    # and serves rank x samples columns (`default_grid_for`). With and
    # without Koren's time biases: on ml-latest-small they take its CV RMSE
    # from 0.840 to 0.833 for ~10% more time.
    "default": [{"rank": [25, 50, 100], "reg": [0.05, 0.1, 0.15], "iterations": [5, 10]},
                {"method": ["bayesian"], "rank": [10], "iterations": [DEFAULT_BAYESIAN_SWEEPS],
                 "burn_in": [DEFAULT_BURN_IN], "time_biases": [False, True]}],
}


#: What an engine's explicit model can do: the methods, and Koren's time terms (`time_biases`).
MODES = (*METHODS, "time_biases")


def _modes_of(part: dict) -> set[str]:
    timed = any(part.get("time_biases", [False]))
    return {*part.get("method", ["als"]), *(("time_biases",) if timed else ())}


def default_grid_for(strategy: str, modes: tuple[str, ...] = MODES) -> list[dict[str, list]]:
    """The default preset's parts for a tuning strategy and the modes an engine has.

    Bayesian points are kept for k-fold CV (train parts up to
    tuning_max_ratings) on an engine that has the method; parts naming a mode
    the engine lacks are dropped. A custom grid is taken as given (and refused
    by an engine without one of its modes, `require_methods`).
    """
    return [part for part in PRESETS["default"] if _modes_of(part) <= set(modes) and
            (strategy == "kfold" or "bayesian" not in part.get("method", ["als"]))]


def require_methods(grid_name: str, grid, modes: tuple[str, ...]) -> None:
    """One line when a custom grid names a mode an engine lacks (the default preset drops it instead,
    `default_grid_for`): MLlib, the Spark engine's, has no Bayesian ALS and no time terms."""
    if grid_name == "default":
        return
    points = expand_grid(grid)
    lacking = sorted({point.method for point in points} - set(modes))
    if lacking:
        raise ValueError(f"als_grid method {', '.join(lacking)} applies to the DuckDB engine only: MLlib has no "
                         "Bayesian ALS (leave method out of the grid, or build with --engine duckdb)")
    if "time_biases" not in modes and any(point.time_biases for point in points):
        raise ValueError("als_grid time_biases true applies to the DuckDB engine only: MLlib ALS has no time "
                         "terms (leave time_biases out of the grid, or build with --engine duckdb)")


@dataclass(frozen=True)
class GridPoint:
    """One explicit grid point; a key a grid leaves out takes ALSConfig's default.

    `method` "als" solves (reg applies, burn_in is 0); "bayesian" samples:
    `iterations` sweeps (default DEFAULT_BAYESIAN_SWEEPS) of which the first
    `burn_in` (default DEFAULT_BURN_IN) are discarded, and no reg (its prior
    is learned). `time_biases` adds Koren's time terms to either method.
    """

    rank: int = ALSConfig.rank
    reg: float | None = None
    iterations: int | None = None
    method: str = "als"
    burn_in: int | None = None
    time_biases: bool = False

    def __post_init__(self) -> None:
        require_int("rank", self.rank, 1)
        if not isinstance(self.time_biases, bool):
            raise ValueError(f"time_biases must be true or false, got {self.time_biases!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        default_sweeps = ALSConfig.iterations if self.method == "als" else DEFAULT_BAYESIAN_SWEEPS
        iterations = default_sweeps if self.iterations is None else self.iterations
        require_int("iterations", iterations, 1)
        if self.method == "als":
            reg = ALSConfig.reg if self.reg is None else self.reg
            require_number("reg", reg, lambda v: v >= 0, ">= 0")
            if self.burn_in not in (None, 0):
                raise ValueError(f"burn_in applies to method 'bayesian' only, got burn_in={self.burn_in!r} "
                                 "with method 'als'")
            reg, burn_in = float(reg), 0
        else:
            if self.reg is not None:
                raise ValueError(f"reg does not apply to method 'bayesian' (its prior is learned from the data), "
                                 f"got reg={self.reg!r}: leave reg out of that part of the grid")
            burn_in = DEFAULT_BURN_IN if self.burn_in is None else self.burn_in
            require_int("burn_in", burn_in, 0)
            if burn_in >= iterations:
                raise ValueError(f"method 'bayesian' needs iterations > burn_in, got iterations={iterations}, "
                                 f"burn_in={burn_in}")
            reg = None
        object.__setattr__(self, "rank", int(self.rank))
        object.__setattr__(self, "reg", reg)
        object.__setattr__(self, "iterations", int(iterations))
        object.__setattr__(self, "burn_in", int(burn_in))

    @property
    def complexity(self) -> int:
        """What the one-standard-error rule minimises: parameters per user or movie (rank + bias) x sweeps;
        time terms add a user's drift and a movie's TIME_BINS bin biases to both."""
        return (self.rank + 1 + self.time_biases * (1 + TIME_BINS)) * self.iterations

    def config(self, base: ALSConfig) -> ALSConfig:
        """`base` (biased, solver, seed, ...) at this point; a Bayesian point draws through Cholesky whatever
        solver `base` names for ALS points (`solver_of`)."""
        return replace(base, rank=self.rank, reg=ALSConfig.reg if self.reg is None else self.reg,
                       iterations=self.iterations, method=self.method, burn_in=self.burn_in,
                       solver=self.solver_of(base.solver), time_biases=self.time_biases)

    def solver_of(self, als_solver: str) -> str:
        """The solver this point runs: the var als_solver for ALS, Cholesky for Bayesian ALS's draws."""
        return als_solver if self.method == "als" else "cholesky"


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
    standard_error: float = 0.0  # of mean_rmse: see `rmse_standard_error`


def rmse_standard_error(fold_rmse: Sequence[float], single_fold_error: float) -> float:
    """The standard error of a mean CV RMSE.

    Over k >= 2 folds, ESL's: the folds' sample standard deviation / sqrt(k).
    One scored fold (a sampled holdout) has no spread across folds, so the
    error is the rating-level one, `single_fold_error` (see
    `single_fold_standard_error`).
    """
    if len(fold_rmse) >= 2:
        return float(np.std(fold_rmse, ddof=1) / np.sqrt(len(fold_rmse)))
    return float(single_fold_error)


def single_fold_standard_error(squared_errors: np.ndarray) -> float:
    """The standard error of one fold's RMSE from its ratings' squared errors (delta method:
    se(sqrt(m)) = se(m) / (2 sqrt(m)) for the mean squared error m)."""
    n = squared_errors.size
    mse = float(squared_errors.mean())
    if n < 2 or mse == 0:
        return 0.0
    return float(np.std(squared_errors, ddof=1) / np.sqrt(n) / (2 * np.sqrt(mse)))


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

    def __init__(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, offsets: np.ndarray | None):
        self.users, self.items, self.ratings, self.offsets = users, items, ratings, offsets
        self.rmse_at: dict[int, float] = {}
        self.error_at: dict[int, float] = {}  # single_fold_standard_error
        self.seconds_at: dict[int, float] = {}
        self._scoring_seconds = 0.0
        self._fit_start = time.perf_counter()

    def __call__(self, iteration: int, model) -> None:
        entered = time.perf_counter()
        self.seconds_at[iteration] = entered - self._fit_start - self._scoring_seconds
        predicted = model.predict(self.users, self.items, self.offsets)
        self.rmse_at[iteration] = rmse(self.ratings, predicted)
        self.error_at[iteration] = single_fold_standard_error((predicted - self.ratings) ** 2)
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
    days: np.ndarray | None = None,
) -> list[GridResult]:
    """Score every grid point by k-fold CV; results follow `expand_grid` order.

    `base` supplies everything the grid does not (biased, solver, seed, ...).
    Held-out rows whose user or item has no rating in that fold's training
    part are dropped from the RMSE (Spark's coldStartStrategy="drop"): the
    model has nothing to say about them, and the test protocol drops them too.
    `score_folds` holds out only those folds (a single-fold holdout at scale,
    where fitting k times per configuration would dominate the build).
    `days` (each rating's day) is needed by points with time_biases; their
    held-out rows are scored at their own days with the terms of the fold's
    training part.
    """
    points = expand_grid(grid)
    users, items, values = validate_ratings(user_idx, item_idx, ratings, n_users, n_items)
    folds, n_folds = _validate_folds(fold, values.shape[0])
    if days is not None:
        days = np.asarray(days, dtype=np.float64)

    trajectories: dict[GridPoint, list[int]] = {}  # keyed by the trajectory's point at 1 sweep past burn-in
    for point in points:
        trajectories.setdefault(replace(point, iterations=point.burn_in + 1), []).append(point.iterations)

    fold_rmse: dict[GridPoint, list[float]] = {point: [] for point in points}
    fit_seconds: dict[GridPoint, float] = {point: 0.0 for point in points}
    fold_error: dict[GridPoint, float] = {}
    started = time.perf_counter()
    scored = list(range(n_folds)) if score_folds is None else [int(f) for f in score_folds]
    if not scored or any(f < 0 or f >= n_folds for f in scored):
        raise ValueError(f"score_folds must name folds in 0..{n_folds - 1}, got {score_folds!r}")
    total_fits = len(trajectories) * len(scored)
    for config_no, (start, iteration_counts) in enumerate(trajectories.items(), start=1):
        config = replace(start, iterations=max(iteration_counts)).config(base)
        for position, f in enumerate(scored):
            train = folds != f
            seen_user = np.bincount(users[train], minlength=n_users) > 0
            seen_item = np.bincount(items[train], minlength=n_items) > 0
            held_out = ~train & seen_user[users] & seen_item[items]
            if not held_out.any():
                raise ValueError(f"fold {f} has no held-out rows whose user and item occur in its training part")
            terms, target = time_detrended(config, users[train], items[train], values[train], n_users, n_items,
                                           None if days is None else days[train])
            offsets = None if terms is None else terms.offsets(users[held_out], items[held_out], days[held_out])
            scorer = _CheckpointScorer(users[held_out], items[held_out], values[held_out], offsets)
            explicit_model(config).fit(users[train], items[train], target, n_users, n_items,
                                       checkpoints=iteration_counts, on_checkpoint=scorer)
            for iterations in iteration_counts:
                point = replace(start, iterations=iterations)
                fold_rmse[point].append(scorer.rmse_at[iterations])
                fit_seconds[point] += scorer.seconds_at[iterations]
                fold_error[point] = scorer.error_at[iterations]
            if progress is not None:
                done = (config_no - 1) * len(scored) + position + 1
                elapsed = time.perf_counter() - started
                left = elapsed / done * (total_fits - done)
                progress(
                    f"config {config_no}/{len(trajectories)} {describe(start)} fold {position + 1}/{len(scored)}, "
                    f"elapsed {elapsed:.1f}s, ~{left:.1f}s left"
                )

    return [
        GridResult(
            point=point,
            fold_rmse=fold_rmse[point],
            mean_rmse=float(np.mean(fold_rmse[point])),
            std_rmse=float(np.std(fold_rmse[point])),
            fit_seconds=fit_seconds[point],
            standard_error=rmse_standard_error(fold_rmse[point], fold_error[point]),
        )
        for point in points
    ]


def describe(point: GridPoint) -> str:
    """A trajectory in progress lines: `rank=50 reg=0.1` or `bayesian rank=10 burn_in=10`."""
    timed = " time_biases" if point.time_biases else ""
    if point.method == "bayesian":
        return f"bayesian rank={point.rank} burn_in={point.burn_in}{timed}"
    return f"rank={point.rank} reg={point.reg:g}{timed}"


def _tie_break(result: GridResult) -> tuple:
    """Among equals, the cheaper, more regularized point: fewer sweeps, smaller rank, larger reg, ALS first,
    no time terms first."""
    point = result.point
    return (point.iterations, point.rank, -(point.reg or 0.0), point.method != "als", point.time_biases)


def select_best(results: Sequence[GridResult]) -> GridResult:
    """Lowest mean RMSE; exact ties go to the cheaper, more regularized model (`_tie_break`)."""
    return select_lowest(results, key=lambda r: (r.mean_rmse, *_tie_break(r)))


def select(results: Sequence[GridResult], rule: str) -> tuple[GridResult, GridResult]:
    """(best, chosen) under `rule`: `lowest` chooses the best; `one_se` the least complex point whose
    mean RMSE is within the best's standard error of it (ties: lower RMSE, then `_tie_break`).
    The one rule of both engines."""
    if rule not in SELECTION_RULES:
        raise ValueError(f"selection rule must be one of {SELECTION_RULES}, got {rule!r}")
    best = select_best(results)
    if rule == "lowest":
        return best, best
    within = [r for r in results if r.mean_rmse <= best.mean_rmse + best.standard_error]
    return best, select_lowest(within, key=lambda r: (r.point.complexity, r.mean_rmse, *_tie_break(r)))
