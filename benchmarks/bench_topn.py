"""Top-10 unseen for every user from a model that ranks everybody alike: one order vs every cell.

Usage:  .venv/bin/python benchmarks/bench_topn.py [--users 40000 --movies 20000 --ratings 5000000]
        .venv/bin/python benchmarks/bench_topn.py --shape 25m     (ml-25m's users, movies and 80% of its ratings)

Popularity and the fallback list give every user the same scores, so
`cinemart.serving.scoring.top_n` lists them from the catalogue's one order,
skipping each user's seen movies (`_top_unseen_in_one_order`). The reference
is the general path, which scores every (user, movie) cell in blocks. Both run
here on the same popularity factors and the same seen matrix, power-law
popularity as in MovieLens; the script checks that the lists are identical
and prints the two times side by side with their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from cinemart.models.popularity import fit_popularity
from cinemart.serving import scoring

#: users, movies, train ratings (80% of the ratings) of the synthetic 25M set (ml-25m's shape)
SHAPES = {"25m": (162_541, 62_423, 20_000_076)}


def seen_matrix(users: int, movies: int, ratings: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """A users x movies CSR of ~`ratings` distinct pairs, Zipf-like movie popularity, and the pairs' ratings."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, movies + 1) ** 0.9
    movie = rng.choice(movies, size=ratings, p=weights / weights.sum())
    user = rng.integers(0, users, size=ratings)
    seen = sp.csr_matrix((np.ones(ratings, np.float32), (user, movie)), shape=(users, movies))
    seen.sum_duplicates()
    return seen, seen.indices, rng.integers(1, 11, size=seen.nnz) / 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), help="overrides --users/--movies/--ratings")
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--movies", type=int, default=20_000)
    parser.add_argument("--ratings", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    users, movies, ratings = SHAPES[args.shape] if args.shape else (args.users, args.movies, args.ratings)

    seen, movie_of_rating, rating = seen_matrix(users, movies, ratings, args.seed)
    model = fit_popularity(movie_of_rating, rating, users, movies)
    everyone = np.arange(users)
    print(f"popularity top-10 for {users:,} users over {movies:,} movies, {seen.nnz:,} seen pairs")

    started = time.perf_counter()
    fast = scoring.top_n(model, seen, everyone)
    one_order = time.perf_counter() - started

    shared = scoring._shared_scores
    scoring._shared_scores = lambda factors: None  # the general path: every cell scored
    try:
        started = time.perf_counter()
        blocked = scoring.top_n(model, seen, everyone)
        every_cell = time.perf_counter() - started
    finally:
        scoring._shared_scores = shared

    identical = all(np.array_equal(a, b) for a, b in zip(fast, blocked))
    print(f"\n{'path':<36} {'seconds':>9} {'ratio':>7}")
    print(f"{'every cell scored (reference)':<36} {every_cell:9.2f} {1.0:7.2f}")
    print(f"{'one order, seen skipped':<36} {one_order:9.2f} {one_order / every_cell:7.3f}")
    print(f"lists identical: {identical}")
    if not identical:
        raise SystemExit("the two paths disagree")


if __name__ == "__main__":
    main()
