"""EASE against the served model, part by part, on a built warehouse's own split.

Fits `cinemart.models.ease` over a grid of λ and two positive thresholds on
each part the warehouse evaluates (validation: train without CV fold 0,
judged on it; test: the random split; temporal: after the cut), with the
warehouse's protocol and scorer (`ranking_tables.EvaluationProtocol`), and
prints NDCG@10 and precision@10 beside the served model's figures read from
`ranking_evaluation`, as a ratio. Only the validation column may choose.

    python benchmarks/bench_ease.py --warehouse warehouse/cinemart.duckdb
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from cinemart.data.ratings import SPLIT_COLUMNS, SplitRatings
from cinemart.evaluation.ranking import ranking_metrics
from cinemart.models.ease import EaseParams, fit_ease
from cinemart.warehouse.ranking_tables import EvaluationProtocol, RankingSettings

PART_COLUMNS = {"validation": ("validation_ndcg_at_10", "validation_precision_at_10", "random"),
                "test": ("ndcg_at_10", "precision_at_10", "random"),
                "temporal": ("ndcg_at_10", "precision_at_10", "temporal")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, default=Path("warehouse/cinemart.duckdb"))
    parser.add_argument("--lambdas", type=float, nargs="+", default=[100.0, 250.0, 500.0, 1000.0])
    parser.add_argument("--min-ratings", type=float, nargs="+", default=[0.5, 4.0],
                        help="positive threshold: 0.5 counts every rating, 4.0 the liked ones")
    parser.add_argument("--max-gib", type=float, default=4.0, help="EASE memory budget")
    args = parser.parse_args(argv)
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        data = SplitRatings.from_columns(con.sql(f"select {SPLIT_COLUMNS} from int_ratings_split "
                                                 "order by user_id, movie_id").fetchnumpy())
        served = {part: con.execute(f"select model, {ndcg}, {precision} from ranking_evaluation "
                                    f"where protocol = '{protocol}' and model = (select model from "
                                    "ranking_evaluation where is_served)").fetchone()
                  for part, (ndcg, precision, protocol) in PART_COLUMNS.items()}
    settings = RankingSettings.from_config({})
    print(f"{'part':10} {'positives':>9} {'lambda':>7} {'movies':>7} {'fit s':>6} {'NDCG@10':>8} "
          f"{'vs served':>9} {'P@10':>7} {'vs served':>9}")
    for part, (model, ndcg_ref, precision_ref) in served.items():
        protocol = EvaluationProtocol.of(data, settings, part)
        train = protocol.train
        for min_rating in args.min_ratings:
            for lam in args.lambdas:
                started = time.perf_counter()
                fit = fit_ease(train.user_idx, train.movie_idx, train.rating, len(train.users), len(train.movies),
                               EaseParams(lam, min_rating), int(args.max_gib * (1 << 30)))
                seconds = time.perf_counter() - started
                m = ranking_metrics(protocol.top_k(fit.factors, 10), protocol.relevant)
                print(f"{part:10} {'>= ' + format(min_rating, 'g'):>9} {lam:7g} {fit.scope.m:7,} {seconds:6.1f} "
                      f"{m.ndcg:8.4f} {m.ndcg / ndcg_ref:8.3f}x {m.precision:7.4f} {m.precision / precision_ref:8.3f}x",
                      flush=True)
        print(f"{part:10} served {model}: NDCG@10 {ndcg_ref:.4f}, P@10 {precision_ref:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
