"""Time the ranking pipeline on ml-latest-small and print its test metrics.

Usage:  .venv/bin/python benchmarks/bench_ranking.py [--grid default] [--seed 2020]

Stages: grid search on the train/validation split, refit of the winner on all
of train, top-10 for every user, 10 similar items for every movie, and a
"because you liked" explanation for every recommendation. Popularity and
implicit's library defaults are scored alongside as reference points.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cinemart.evaluation.protocol import load_split
from cinemart.evaluation.ranking import ranking_metrics, relevant_matrix, top_k_matrix
from cinemart.models.implicit_als import ImplicitParams, fit_implicit_als, interaction_matrix
from cinemart.models.popularity import fit_popularity
from cinemart.serving.explanations import because_you_liked
from cinemart.serving.scoring import similar, top_n
from cinemart.tuning.implicit import PRESETS, select_best, tune_implicit, validate_grid, validation_mask

#: implicit's constructor defaults, for the "untuned" reference row.
LIBRARY_DEFAULTS = ImplicitParams(factors=100, regularization=0.01, alpha=1.0, iterations=15, confidence="binary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="default", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()

    s = load_split()
    seen = interaction_matrix(s.train_user, s.train_item, np.ones(s.train_user.size), s.n_users, s.n_items)
    ratings = interaction_matrix(s.train_user, s.train_item, s.train_rating, s.n_users, s.n_items)
    relevant = relevant_matrix(s.test_user, s.test_item, s.test_rating, s.n_users, s.n_items)
    all_users = np.arange(s.n_users)

    def timed(label: str, fn):
        started = time.perf_counter()
        result = fn()
        print(f"{label:<28} {time.perf_counter() - started:7.2f}s")
        return result

    n_points = len(validate_grid(PRESETS[args.grid]))
    results = timed(f"tune ({args.grid}, {n_points} points)", lambda: tune_implicit(
        s.train_user, s.train_item, s.train_rating, validation_mask(s.train_fold),
        s.n_users, s.n_items, PRESETS[args.grid], seed=args.seed, progress=None,
    ))
    best = select_best(results)
    print(f"  best {best.params} validation ndcg@10={best.ndcg:.4f}")
    model = timed("refit on train", lambda: fit_implicit_als(
        s.train_user, s.train_item, s.train_rating, s.n_users, s.n_items, best.params, seed=args.seed
    ))
    recs = timed("top-10, all users", lambda: top_n(model, seen, all_users))
    timed("10 similar, all movies", lambda: similar(model.item_factors, np.arange(s.n_items)))
    timed("because_you_liked, all recs", lambda: because_you_liked(model.item_factors, ratings, recs.user, recs.item))

    references = {
        "implicit (tuned)": model,
        "implicit (library defaults)": fit_implicit_als(
            s.train_user, s.train_item, s.train_rating, s.n_users, s.n_items, LIBRARY_DEFAULTS, seed=args.seed
        ),
        "popularity (ratings >= 4)": fit_popularity(s.train_item, s.train_rating, s.n_users, s.n_items),
    }
    print(f"\n{'model':<28} {'P@10':>6} {'R@10':>6} {'NDCG':>6} {'MAP':>6} {'cover':>6}")
    for name, candidate in references.items():
        r = top_n(candidate, seen, all_users)
        m = ranking_metrics(top_k_matrix(r.user, r.rank, r.item, s.n_users, 10), relevant)
        print(f"{name:<28} {m.precision:6.3f} {m.recall:6.3f} {m.ndcg:6.3f} {m.map:6.3f} {m.coverage:6.3f}")


if __name__ == "__main__":
    main()
