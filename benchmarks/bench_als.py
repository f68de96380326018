"""Benchmark cinemart's ALS sweep against `implicit`, the CV grid search, and the explicit modes.

Usage:  .venv/bin/python benchmarks/bench_als.py [--ratings 5000000] [--ranks 10 64]
                                                  [--iterations 3] [--repeats 2] [--skip-grid]
                                                  [--modes-only] [--modes-size 1m]

Modes table: each explicit mode side by side with plain ALS (rank 10, reg
0.1, 10 iterations): the default grid's best ALS point, Bayesian ALS, and
both with Koren's time biases (fitted from each rating's timestamp). For
each: 5-fold CV RMSE on the train part, test RMSE of a fit on all of train
(scored at each test rating's day), seconds per sweep (time terms' fit
included) and peak memory of that fit (VmHWM above the
RSS before it, reset through /proc/self/clear_refs), each as a ratio to
plain ALS. The synthetic modes rows are a `cinemart data synth` set (bench_scale's sizes), split like
the warehouse (md5 buckets, 20% test, 5 CV folds).

Sweep time = wall time of one full iteration (user step + item step): the
time for --iterations iterations divided by their number, measured from the
end of a first, discarded iteration (timestamps come from each library's
per-iteration callback, so CSR building and factor initialization are
excluded on both sides).  A warm-up fit before each measurement keeps numba
compilation out of the numbers, and the best of --repeats fits counts, to
filter out time stolen by other processes on a shared machine.  `implicit`
runs with BLAS limited to one thread (its own OpenMP loop still uses every
core, as do our numba kernels).  Both models use the same matrix and rank;
ours is the default biased model, so it solves rank + 1 unknowns per row.

The ml-latest-small rows use the training part of the project split
(80,644 ratings).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from cinemart.evaluation.rating import rmse
from cinemart.models.explicit import fit_explicit
from cinemart.models.explicit_als import ALSConfig, ExplicitALS
from cinemart.tuning.explicit import PRESETS, GridPoint, cross_validate_grid

from cinemart.evaluation.protocol import RATINGS_CSV, Split, load_split

# Wall time of the spark_seed grid (27 points, 5-fold CV) in the Spark
# notebook on this machine; a reference figure, not re-measured here.
SPARK_GRID_SECONDS = 308.0

Dataset = tuple[str, np.ndarray, np.ndarray, np.ndarray, int, int]


def synthetic_ratings(n_ratings: int, seed: int = 0) -> Dataset:
    """~n_ratings distinct (user, item) pairs with power-law popularity on
    both sides (popular ids first, the hard case for static row splitting)
    and ratings from a planted rank-8 model on the half-star scale."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(n_ratings // 100, 10), max(n_ratings // 400, 10)
    user_p = 1.0 / np.arange(1, n_users + 1) ** 0.6
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    keys = np.empty(0, dtype=np.int64)
    while keys.size < n_ratings:  # popular pairs repeat; draw until enough are distinct
        draws = 2 * (n_ratings - keys.size)
        users = rng.choice(n_users, size=draws, p=user_p / user_p.sum())
        items = rng.choice(n_items, size=draws, p=item_p / item_p.sum())
        keys = np.unique(np.concatenate([keys, users * n_items + items]))
    keys = rng.permutation(keys)[:n_ratings]
    users, items = keys // n_items, keys % n_items
    user_f = rng.standard_normal((n_users, 8)) / np.sqrt(8)
    item_f = rng.standard_normal((n_items, 8))
    raw = 3.5 + np.einsum("ij,ij->i", user_f[users], item_f[items]) + 0.5 * rng.standard_normal(users.size)
    ratings = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    return (f"synthetic {users.size / 1e6:.1f}M", users, items, ratings, n_users, n_items)


def _seconds_per_iteration(run: Callable[[Callable[[], None]], None], iterations: int, repeats: int) -> float:
    """Best over `repeats` fits of the mean time of iterations 2..iterations+1.

    The minimum filters out time stolen by other processes on a shared
    machine; the first iteration is skipped so per-fit setup is excluded.
    """
    best = float("inf")
    for _ in range(repeats):
        stamps: list[float] = []
        run(lambda: stamps.append(time.perf_counter()))
        assert len(stamps) == iterations + 1, stamps
        best = min(best, (stamps[-1] - stamps[0]) / iterations)
    return best


def ours_sweep(data: Dataset, rank: int, solver: str, iterations: int, repeats: int) -> float:
    _, users, items, ratings, n_users, n_items = data

    def run(tick: Callable[[], None]) -> None:
        config = ALSConfig(rank=rank, reg=0.1, iterations=iterations + 1, solver=solver)
        ExplicitALS(config).fit(
            users, items, ratings, n_users, n_items,
            checkpoints=range(1, iterations + 2), on_checkpoint=lambda it, model: tick(),
        )

    warm = ALSConfig(rank=rank, reg=0.1, iterations=1, solver=solver)
    ExplicitALS(warm).fit(users[:1000], items[:1000], ratings[:1000], n_users, n_items)
    return _seconds_per_iteration(run, iterations, repeats)


def implicit_sweep(data: Dataset, rank: int, use_cg: bool, iterations: int, repeats: int) -> float:
    _, users, items, ratings, n_users, n_items = data
    matrix = sp.csr_matrix((ratings.astype(np.float32), (users, items)), shape=(n_users, n_items))

    def run(tick: Callable[[], None]) -> None:
        model = AlternatingLeastSquares(
            factors=rank, regularization=0.1, iterations=iterations + 1, use_cg=use_cg, random_state=0
        )
        model.fit(matrix, show_progress=False, callback=lambda *args: tick())

    with threadpool_limits(1, "blas"):
        AlternatingLeastSquares(factors=rank, iterations=1, use_cg=use_cg, random_state=0).fit(
            matrix, show_progress=False
        )
        return _seconds_per_iteration(run, iterations, repeats)


def sweep_table(datasets: list[Dataset], ranks: list[int], iterations: int, repeats: int) -> None:
    header = (
        f"{'dataset':<17}{'k':>3}{'ours cg':>10}{'ours chol':>11}{'impl cg':>10}{'impl chol':>11}"
        f"{'cg/cg':>8}{'chol/chol':>11}{'ours/best-implicit':>20}"
    )
    print("seconds per ALS iteration (user step + item step)")
    print(header)
    print("-" * len(header))
    for data in datasets:
        for rank in ranks:
            ours_cg = ours_sweep(data, rank, "cg", iterations, repeats)
            ours_chol = ours_sweep(data, rank, "cholesky", iterations, repeats)
            imp_cg = implicit_sweep(data, rank, True, iterations, repeats)
            imp_chol = implicit_sweep(data, rank, False, iterations, repeats)
            best_ratio = min(ours_cg, ours_chol) / min(imp_cg, imp_chol)
            print(
                f"{data[0]:<17}{rank:>3}{ours_cg:>10.4f}{ours_chol:>11.4f}{imp_cg:>10.4f}{imp_chol:>11.4f}"
                f"{ours_cg / imp_cg:>7.2f}x{ours_chol / imp_chol:>10.2f}x{best_ratio:>19.2f}x",
                flush=True,
            )


def grid_timing(split: Split, repeats: int) -> None:
    base = ALSConfig(biased=False)
    args = (split.train_user, split.train_item, split.train_rating, split.train_fold, split.n_users, split.n_items)
    # Warm-up (numba compile / cache load) on a one-point grid.
    cross_validate_grid(*args, {"rank": [5], "reg": [0.1], "iterations": [1]}, base, progress=None)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        results = cross_validate_grid(*args, PRESETS["spark_seed"], base, progress=None)
        best = min(best, time.perf_counter() - started)
    print()
    print(f"{'grid search (ml-latest-small, 5-fold CV)':<44}{'points':>7}{'ours s':>9}{'Spark s (reference)':>21}")
    print(f"{'spark_seed preset, plain mode':<44}{len(results):>7}{best:>9.2f}{SPARK_GRID_SECONDS:>21.0f}")


#: The modes side by side: label and grid point (biased model, the warehouse default).
MODES = [
    ("plain ALS", GridPoint(rank=10, reg=0.1, iterations=10)),
    ("ALS, default grid's best", GridPoint(rank=100, reg=0.1, iterations=5)),
    ("Bayesian ALS", GridPoint(rank=10, iterations=110, method="bayesian", burn_in=10)),
    ("ALS r100 + time biases", GridPoint(rank=100, reg=0.1, iterations=5, time_biases=True)),
    ("Bayesian + time biases", GridPoint(rank=10, iterations=110, method="bayesian", burn_in=10, time_biases=True)),
]
#: A modes data set: (train, its CV folds, test, train days, test days).
ModesData = tuple[Dataset, np.ndarray, Dataset, np.ndarray, np.ndarray]


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def mode_row(modes_data: ModesData, point: GridPoint) -> dict[str, float]:
    """CV RMSE, test RMSE, seconds per sweep and peak MiB of one mode (time terms' fitting included)."""
    (_, users, items, ratings, n_users, n_items), fold, test, days, test_days = modes_data
    config = point.config(ALSConfig(seed=2020))
    grid = {key: [getattr(point, key)] for key in ("rank", "iterations", "method", "time_biases")}
    grid.update({"burn_in": [point.burn_in]} if point.method == "bayesian" else {"reg": [point.reg]})
    (cv,) = cross_validate_grid(users, items, ratings, fold, n_users, n_items, grid, ALSConfig(seed=2020),
                                progress=None, days=days)
    gc.collect()
    before = _kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    model = fit_explicit(config, users, items, ratings, n_users, n_items, days)
    seconds = time.perf_counter() - started
    peak = max(0.0, (_kib("VmHWM") - before) / 1024)  # VmHWM below the RSS before: nothing resolvable
    return {"cv": cv.mean_rmse, "se": cv.standard_error,
            "test": rmse(test[3], model.predict(test[1], test[2], test_days)),
            "sweep": seconds / point.iterations, "seconds": seconds, "peak": peak}


def peak_ratio(peak: float, plain: float) -> str:
    """A ratio of peaks, or '-' when plain ALS's peak is below the 1 MiB the measurement resolves."""
    return f"{peak / plain:.1f}x" if plain >= 1 else "-"


def modes_table(datasets: list[ModesData]) -> None:
    header = (f"{'dataset':<17}{'mode':<27}{'CV RMSE':>9}{'+-SE':>8}{'test RMSE':>10}{'/plain':>8}"
              f"{'s/sweep':>9}{'/plain':>8}{'fit s':>8}{'peak MiB':>10}{'/plain':>8}")
    print("explicit modes: 5-fold CV on train, test RMSE of a fit on all of train")
    print(header)
    print("-" * len(header))
    for modes_data in datasets:
        rows = [(label, mode_row(modes_data, point)) for label, point in MODES]
        plain = rows[0][1]
        for label, r in rows:
            print(f"{modes_data[0][0]:<17}{label:<27}{r['cv']:>9.4f}{r['se']:>8.4f}{r['test']:>10.4f}"
                  f"{r['test'] / plain['test']:>7.3f}x{r['sweep']:>9.3f}{r['sweep'] / plain['sweep']:>7.2f}x"
                  f"{r['seconds']:>8.1f}{r['peak']:>10.0f}{peak_ratio(r['peak'], plain['peak']):>8}", flush=True)


def synthetic_modes_data(size: str, work: Path) -> ModesData:
    """A `cinemart data synth` set of bench_scale's `size`, split by the warehouse's md5 protocol."""
    from bench_scale import dataset_folder

    split = load_split(dataset_folder(work, size) / "ratings.csv")
    name = f"synthetic {size}"
    return ((name, split.train_user, split.train_item, split.train_rating, split.n_users, split.n_items),
            split.train_fold, (name, split.test_user, split.test_item, split.test_rating, split.n_users, split.n_items),
            split.train_day, split.test_day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=5_000_000, help="size of the synthetic matrix (0 = skip)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="fits per measurement; the fastest counts")
    parser.add_argument("--skip-grid", action="store_true", help="skip the grid-search timing")
    parser.add_argument("--modes-only", action="store_true", help="print only the explicit modes table")
    parser.add_argument("--skip-modes", action="store_true", help="skip the explicit modes table")
    parser.add_argument("--modes-size", default="1m", help="bench_scale size of the modes table's synthetic set "
                        "(250k, 1m, 5m; 'none' to skip)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cinemart-bench"),
                        help="where synthetic sets are generated once")
    args = parser.parse_args()
    split = load_split() if RATINGS_CSV.exists() else None
    if not args.modes_only:
        sweeps_and_grid(split, args)
    if args.skip_modes:
        return
    mode_sets = []
    if split is not None:
        train = ("ml-small", split.train_user, split.train_item, split.train_rating, split.n_users, split.n_items)
        test = ("ml-small", split.test_user, split.test_item, split.test_rating, split.n_users, split.n_items)
        mode_sets.append((train, split.train_fold, test, split.train_day, split.test_day))
    if args.modes_size != "none":
        mode_sets.append(synthetic_modes_data(args.modes_size, args.work))
    print()
    modes_table(mode_sets)


def sweeps_and_grid(split: Split | None, args: argparse.Namespace) -> None:
    datasets: list[Dataset] = []
    if split is not None:
        datasets.append(
            ("ml-small train", split.train_user, split.train_item, split.train_rating, split.n_users, split.n_items)
        )
    else:
        print(f"{RATINGS_CSV} not found: skipping the ml-latest-small rows and the grid timing")
    if args.ratings > 0:
        datasets.append(synthetic_ratings(args.ratings))
    sweep_table(datasets, args.ranks, args.iterations, args.repeats)
    if split is not None and not args.skip_grid:
        grid_timing(split, args.repeats)


if __name__ == "__main__":
    main()
