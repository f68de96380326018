"""Where personalisation starts to pay for a user who gives only k ratings: fold-in vs the popular fallback.

Usage:  .venv/bin/python benchmarks/bench_thin_users.py [--warehouse warehouse/cinemart.duckdb] [--k 1 3 5 10 20]

ml-latest-small has no user with fewer than 20 ratings, so the 1-5 bucket of
ranking_evaluation_by_activity is empty. This simulates it on a built
warehouse: the served implicit configuration (ranking_evaluation.parameters)
is fitted on the train part; for every evaluated test user, k of their train
ratings are drawn (seeded, without replacement) and folded in
(`cinemart.models.fold_in`), and the top 10 is judged by the protocol of the
table (relevant = test rating >= 4.0, every train-rated movie excluded, so
the candidates do not depend on k). The fallback is popular_movies' 'train'
fit under the same exclusions. A user whose k ratings leave an all-zero
factor row (threshold confidence, nothing >= 4.0) gets the fallback, as
`cinemart recommend` does; the share of such users is printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import numpy as np

from cinemart.data.ratings import SPLIT_COLUMNS, SplitRatings
from cinemart.evaluation.ranking import ranking_metrics
from cinemart.models.base import Factors
from cinemart.models.fold_in import FoldIn, fold_in
from cinemart.models.implicit_als import ImplicitParams, fit_implicit_als
from cinemart.serving.scoring import top_n
from cinemart.warehouse.ranking_tables import EvaluationProtocol, RankingSettings, fallback_factors

SEED = 2020


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=Path("warehouse/cinemart.duckdb"))
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3, 5, 10, 20])
    args = parser.parse_args()
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        data = SplitRatings.from_columns(con.sql(f"select {SPLIT_COLUMNS} from int_ratings_split "
                                                 "order by user_id, movie_id").fetchnumpy())
        (parameters,), = con.execute("select parameters from ranking_evaluation where model = 'implicit_als' "
                                     "and protocol = 'random'").fetchall()
        popular = con.sql("select movie_id, damped_mean_rating from int_popular_movies where fit = 'train'").fetchnumpy()
    params = ImplicitParams(**json.loads(parameters))
    fold = FoldIn.from_parameters("implicit_als", parameters)
    protocol = EvaluationProtocol.of(data, RankingSettings.from_config({}))  # the build's user sample, if any
    train = protocol.train
    n_users, n_movies = len(train.users), len(train.movies)
    fitted = fit_implicit_als(train.user_idx, train.movie_idx, train.rating, n_users, n_movies, params, SEED)
    items = fitted.item_factors.astype(np.float64)
    gram = items.T @ items
    fallback = protocol.top_k(fallback_factors(train.users, train.movies, popular), 10)
    full = protocol.top_k(fitted, 10)
    starts = np.r_[0, np.cumsum(np.bincount(train.user_idx, minlength=n_users))]
    order = np.argsort(train.user_idx, kind="stable")
    rng = np.random.default_rng(SEED)

    def metrics(top):
        m = ranking_metrics(top, protocol.relevant)
        return f"{m.precision:.4f} / {m.ndcg:.4f}"

    print(f"{len(protocol.eval_users)} evaluated users; precision@10 / NDCG@10 (relevant = test >= 4.0)")
    print(f"{'k ratings':>9}  {'fold-in':>16}  {'fallback':>16}  zero-row users answered by the fallback")
    for k in args.k:
        top = fallback.copy()
        n_fallback = 0
        for user in protocol.eval_users:
            rows = order[starts[user]:starts[user + 1]]
            chosen = rng.choice(rows, size=min(k, rows.size), replace=False)
            x, _ = fold_in(fold, fitted.item_factors, fitted.item_bias, 0.0, train.movie_idx[chosen],
                           train.rating[chosen], gram)
            if not np.any(x):
                n_fallback += 1
                continue
            one = Factors(x[None, :], fitted.item_factors, np.zeros(1), fitted.item_bias)
            found = top_n(one, protocol.seen[user], np.array([0]), n=10)
            top[user] = -1
            top[user, found.rank - 1] = found.item
        print(f"{k:>9}  {metrics(top):>16}  {metrics(fallback):>16}  {n_fallback / len(protocol.eval_users):.1%}")
    print(f"{'all':>9}  {metrics(full):>16}  {metrics(fallback):>16}  (the fit's own user rows: ranking_evaluation)")


if __name__ == "__main__":
    main()
