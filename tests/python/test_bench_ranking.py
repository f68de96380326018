"""benchmarks/bench_ranking.py end to end on a stand-in warehouse: both tables, every fit recipe.

The stand-in holds only what the benchmark reads (int_ratings_split,
ranking_evaluation, implicit_grid_search, als_grid_search), on a few
thousand random ratings, so the whole run (one fresh process per model)
takes seconds. The ease and blend rows exercise their recipes; a model the
warehouse lacks must be skipped with a note, not fail the run. Figures are
the benchmark's to report, not asserted here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ranking.py"
METRICS = ("precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10", "catalogue_coverage", "novelty")
IMPLICIT = {"factors": 8, "regularization": 1.0, "alpha": 2.0, "iterations": 3, "confidence": "threshold",
            "threshold": 4.0}
EASE = {"regularization": 50.0, "min_rating": 4.0, "max_bytes": 256 << 20}
HAS_BLEND = importlib.util.find_spec("cinemart.models.blend") is not None


def stand_in_warehouse(path: Path, models: dict[str, dict]) -> None:
    rng = np.random.default_rng(0)
    pairs = {(u, m) for u, m in zip(rng.integers(1, 81, 4000), rng.integers(1, 121, 4000))}
    users, movies = np.array(sorted(pairs)).T
    n = users.size
    con = duckdb.connect(str(path))
    con.execute("create table int_ratings_split (user_id bigint, movie_id bigint, rating double, is_test boolean, "
                "cv_fold integer, is_after_cut boolean, rated_at timestamp default timestamp '2000-01-01', "
                "play_count double)")
    con.executemany("insert into int_ratings_split (user_id, movie_id, rating, is_test, cv_fold, is_after_cut) "
                    "values (?, ?, ?, ?, ?, ?)",
                    [(int(u), int(m), float(r), bool(t), None if t else int(f), bool(c)) for u, m, r, t, f, c in
                     zip(users, movies, rng.integers(1, 11, n) / 2, rng.random(n) < 0.2, rng.integers(0, 5, n),
                         rng.random(n) < 0.2)])
    metric_columns = ", ".join(f"{m} double" for m in METRICS)
    con.execute(f"create table ranking_evaluation (model varchar, protocol varchar, {metric_columns}, "
                "validation_ndcg_at_10 double, is_served boolean, parameters varchar, evaluation_seconds double)")
    for i, (model, parameters) in enumerate(models.items()):
        for protocol in ("random", "temporal"):
            con.execute("insert into ranking_evaluation values (?, ?, " + ", ".join("?" * len(METRICS))
                        + ", ?, ?, ?, 1.0)",
                        [model, protocol, *(0.1 * (i + 1) for _ in METRICS),
                         0.2 * (i + 1) if protocol == "random" else None,
                         model == "implicit_als" and protocol == "random", json.dumps(parameters)])
    con.execute("create table implicit_grid_search as select 2020 as seed, true as is_chosen")
    con.execute("create table als_grid_search as select 4 as rank, 0.1 as reg, 3 as iterations, true as biased, "
                "'cholesky' as solver, 0 as seed, true as is_chosen")
    con.close()


def test_prints_every_model_protocol_metric_and_each_fit(tmp_path):
    models = {"implicit_als": IMPLICIT, "popularity": {"score": "train ratings >= 4.0 per movie"},
              "explicit_als": {"rank": 4, "reg": 0.1, "iterations": 3, "biased": True}, "ease": EASE}
    if HAS_BLEND:
        models["ease_implicit_blend"] = {"ease_weight": 0.25, "ease": EASE, "implicit_als": IMPLICIT}
    warehouse = tmp_path / "cinemart.duckdb"
    stand_in_warehouse(warehouse, models)

    done = subprocess.run([sys.executable, str(BENCH), "--warehouse", str(warehouse)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("protocol"))
    assert header.split()[2:] == list(models)  # the reference first, then every model
    for protocol in ("random", "temporal"):
        for metric in METRICS:
            row = next(line for line in lines if line.split()[:2] == [protocol, metric]).split()
            assert row[3] == "1.000x"  # implicit_als against itself
            assert row[5] == "2.000x"  # popularity's stand-in figures are twice implicit's
    validation = [line.split() for line in lines if line.split()[:2] == ["random", "validation_ndcg_at_10"]]
    assert len(validation) == 1 and not any(line.split()[1:2] == ["validation_ndcg_at_10"] and
                                            line.startswith("temporal") for line in lines)

    fits = {line.split()[0]: line.split() for line in lines[lines.index(next(line for line in lines
                                                                             if line.startswith("model "))) + 1:]
            if line.split() and line.split()[0] in set(models) | {"ease_implicit_blend"}}
    for model in models:
        row = fits[model]
        assert int(row[1].replace(",", "")) > 0, row  # train ratings
        assert float(row[4]) >= 0 and float(row[6]) >= 0, row  # fit seconds, peak MiB above the pre-fit RSS
    assert fits["implicit_als"][5] == "1.000x"
    for model in ("ease", "ease_implicit_blend") if HAS_BLEND else ("ease",):
        notes = " ".join(fits[model][8:])
        assert "budget max_bytes=268,435,456" in notes and "skipped" not in notes and "no model" not in notes
    if not HAS_BLEND:
        assert "not in this warehouse's ranking_evaluation: skipped" in " ".join(fits["ease_implicit_blend"])
