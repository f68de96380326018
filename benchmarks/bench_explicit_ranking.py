"""Why a rating model ranks badly on synthetic MovieLens: explicit ALS against the planted truth and popularity.

At 25M synthetic ratings `ranking_evaluation` gives explicit ALS precision@10
0.0000. This script separates the two possible causes, a scoring bug or the
model itself, by ranking one random 80/20 split three ways with the same
metric code (`cinemart.evaluation.ranking`):

* explicit ALS, fitted on train (rank 10, reg 0.05, 10 iterations: the
  one-point grid of the scale benchmark);
* the planted rating model, the noiseless truth the ratings were drawn from;
* popularity (train ratings >= 4.0 per movie), which knows nothing of ratings.

If even the truth scores near zero, the figure is the objective's, not a bug:
which movies a user rates (what precision counts) follows exposure, which a
rating model does not model. The last columns show what a fitted rating model
puts on top: movies with one or two train ratings, whose biases ALS-WR
shrinks by reg x n, almost nothing when n is 1 or 2.

    python benchmarks/bench_explicit_ranking.py --ratings 25000095 --work /tmp/bench-explicit
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cinemart.data.synth import SynthConfig, planted_model, synthesize
from cinemart.evaluation.ranking import RELEVANT_MIN_RATING, ranking_metrics
from cinemart.models.explicit_als import ALSConfig, ExplicitALS

TOP = 10


def ranked(scores: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Top-10 column indices per row, `excluded` cells (seen or never rated in train) never chosen."""
    scores = np.where(excluded, -np.inf, scores)
    best = np.argpartition(-scores, TOP, axis=1)[:, :TOP]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1)


def compare(release: Path, n_users: int, seed: int) -> list[tuple[str, float, int, float, float]]:
    """(ranking, precision@10, distinct listed movies, median train ratings of a listed movie, share listed
    with <= 2 train ratings) for explicit ALS, the planted model and popularity on `n_users` sampled users."""
    ratings = pd.read_csv(release / "ratings.csv", usecols=[0, 1, 2])
    users, user_ids = pd.factorize(ratings["userId"])
    movies, movie_ids = pd.factorize(ratings["movieId"])
    stars = ratings["rating"].to_numpy(np.float32)
    n_u, n_m = user_ids.size, movie_ids.size
    rng = np.random.default_rng(seed)
    train = rng.random(stars.size) >= 0.2
    liked = ~train & (stars >= RELEVANT_MIN_RATING)
    relevant = sp.csr_matrix((np.ones(liked.sum()), (users[liked], movies[liked])), shape=(n_u, n_m))
    judged = rng.choice(np.flatnonzero(np.diff(relevant.indptr)), n_users, replace=False)
    support = np.bincount(movies[train], minlength=n_m)
    excluded = sp.csr_matrix((np.ones(train.sum()), (users[train], movies[train])), shape=(n_u, n_m))[judged]
    excluded = excluded.toarray().astype(bool) | (support == 0)[None, :]

    fit = ExplicitALS(ALSConfig(rank=10, reg=0.05, iterations=10, seed=seed)).fit(
        users[train], movies[train], stars[train], n_u, n_m)
    fitted = (fit.global_mean + fit.user_bias[judged, None] + fit.item_bias[None, :]
              + fit.user_factors[judged] @ fit.item_factors.T)
    truth = planted_model(SynthConfig(**json.loads((release / "synth_manifest.json").read_text())["config"]))
    u, m = user_ids.to_numpy()[judged] - 1, movie_ids.to_numpy() - 1  # the planted model indexes id - 1
    planted = (truth.global_mean + truth.user_bias[u, None] + truth.item_bias[None, m]
               + truth.user_factors[u] @ truth.item_factors[m].T)
    likes = np.bincount(movies[train & (stars >= RELEVANT_MIN_RATING)], minlength=n_m).astype(float)

    rows = []
    for name, scores in (("explicit ALS (fitted)", fitted), ("planted rating model (the truth)", planted),
                         ("popularity", np.broadcast_to(likes, (judged.size, n_m)))):
        top = ranked(scores, excluded)
        metrics = ranking_metrics(top, relevant[judged], n_catalogue=int((support > 0).sum()))
        listed = support[top]
        rows.append((name, metrics.precision, int(np.unique(top).size), float(np.median(listed)),
                     float((listed <= 2).mean())))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratings", type=int, default=25_000_095, help="synthetic release size")
    parser.add_argument("--users", type=int, default=3000, help="test users ranked (sampled)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, required=True, help="folder for the synthetic release (reused)")
    args = parser.parse_args(argv)
    release = args.work / f"synth-{args.ratings}"
    if not (release / "synth_manifest.json").exists():
        print(f"writing {args.ratings:,} synthetic ratings to {release}", file=sys.stderr)
        synthesize(SynthConfig.scaled(args.ratings, seed=args.seed), release)
    print(f"{args.ratings:,} synthetic ratings, random 80/20 split, {args.users:,} test users")
    print(f"{'ranking':34} {'P@10':>7} {'vs popularity':>14} {'distinct listed':>16} "
          f"{'median train ratings':>21} {'listed with <= 2':>17}")
    rows = compare(release, args.users, args.seed)
    reference = rows[-1][1]
    for name, precision, distinct, median, thin in rows:
        print(f"{name:34} {precision:7.4f} {precision / reference:13.3f}x {distinct:16,} {median:21.0f} {thin:17.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
