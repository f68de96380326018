"""Benchmark cinemart's ALS sweep against `implicit`, plus the CV grid search.

Usage:  .venv/bin/python benchmarks/bench_als.py [--ratings 5000000] [--ranks 10 64]
                                                  [--iterations 3] [--skip-grid]

Sweep time = wall time of one full iteration (user step + item step),
averaged over --iterations iterations that follow a first, discarded one
(timestamps taken in each library's per-iteration callback, so CSR building
and factor initialization are excluded on both sides).  A warm-up fit before
each measurement keeps numba compilation out of the numbers.  `implicit`
runs with BLAS limited to one thread (its own OpenMP loop still uses every
core, as do our numba kernels).  Ratios compare each of our solvers with the
faster of implicit's two solvers on the same matrix and rank.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from cinemart.als import ALSConfig, ExplicitALS
from cinemart.tuning import PRESETS, cross_validate_grid

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from ml_small import RATINGS_CSV, load_split  # noqa: E402

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


def _timed_iterations(run: Callable[[Callable[[], None]], None], iterations: int) -> float:
    """Mean seconds per iteration over iterations 2..iterations+1 of one fit."""
    stamps: list[float] = []
    run(lambda: stamps.append(time.perf_counter()))
    assert len(stamps) == iterations + 1, stamps
    return (stamps[-1] - stamps[0]) / iterations


def ours_sweep(data: Dataset, rank: int, solver: str, iterations: int) -> float:
    _, users, items, ratings, n_users, n_items = data

    def run(tick: Callable[[], None]) -> None:
        config = ALSConfig(rank=rank, reg=0.1, iterations=iterations + 1, solver=solver)
        ExplicitALS(config).fit(
            users, items, ratings, n_users, n_items,
            checkpoints=range(1, iterations + 2), on_checkpoint=lambda it, model: tick(),
        )

    warm = ALSConfig(rank=rank, reg=0.1, iterations=1, solver=solver)
    ExplicitALS(warm).fit(users[:1000], items[:1000], ratings[:1000], n_users, n_items)
    return _timed_iterations(run, iterations)


def implicit_sweep(data: Dataset, rank: int, use_cg: bool, iterations: int) -> float:
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
        return _timed_iterations(run, iterations)


def sweep_table(datasets: list[Dataset], ranks: list[int], iterations: int) -> None:
    header = (
        f"{'dataset':<16}{'k':>4}  {'solver':<9}{'ours s/it':>11}{'implicit cg':>13}"
        f"{'implicit chol':>15}{'ours/best':>11}"
    )
    print(header)
    print("-" * len(header))
    for data in datasets:
        for rank in ranks:
            imp_cg = implicit_sweep(data, rank, True, iterations)
            imp_chol = implicit_sweep(data, rank, False, iterations)
            best = min(imp_cg, imp_chol)
            for solver in ("cg", "cholesky"):
                ours = ours_sweep(data, rank, solver, iterations)
                print(
                    f"{data[0]:<16}{rank:>4}  {solver:<9}{ours:>11.4f}{imp_cg:>13.4f}{imp_chol:>15.4f}"
                    f"{ours / best:>10.2f}x",
                    flush=True,
                )


def grid_timing() -> None:
    split = load_split()
    base = ALSConfig(biased=False)
    args = (split.train_user, split.train_item, split.train_rating, split.train_fold, split.n_users, split.n_items)
    # Warm-up (numba compile / cache load) on a one-point grid.
    cross_validate_grid(*args, {"rank": [5], "reg": [0.1], "iterations": [1]}, base, progress=None)
    started = time.perf_counter()
    results = cross_validate_grid(*args, PRESETS["spark_seed"], base, progress=None)
    seconds = time.perf_counter() - started
    print()
    print(f"{'grid search (ml-latest-small, 5-fold CV)':<44}{'points':>7}{'ours s':>9}{'Spark s (reference)':>21}")
    print(f"{'spark_seed preset, plain mode':<44}{len(results):>7}{seconds:>9.2f}{SPARK_GRID_SECONDS:>21.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=5_000_000, help="size of the synthetic matrix (0 = skip)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[10, 64])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per measurement")
    parser.add_argument("--skip-grid", action="store_true", help="skip the grid-search timing")
    args = parser.parse_args()

    datasets: list[Dataset] = []
    if RATINGS_CSV.exists():
        split = load_split()
        datasets.append(
            ("ml-latest-small", split.train_user, split.train_item, split.train_rating, split.n_users, split.n_items)
        )
    else:
        print(f"{RATINGS_CSV} not found: skipping the ml-latest-small rows and the grid timing")
    if args.ratings > 0:
        datasets.append(synthetic_ratings(args.ratings))
    sweep_table(datasets, args.ranks, args.iterations)
    if RATINGS_CSV.exists() and not args.skip_grid:
        grid_timing()


if __name__ == "__main__":
    main()
