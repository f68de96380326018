"""The same data built on both engines, side by side: DuckDB (one process) against Spark (local[2], MLlib).

Usage:  .venv/bin/python benchmarks/bench_engines.py [--datasets small 1m 5m] [--work DIR]
        [--grid '{"rank": [10], "reg": [0.1], "iterations": [10]}'] [--cluster]

Each dataset is built twice by real `cinemart build` subprocesses with the
same vars (the same explicit grid, the `quick` implicit grid, so the engines
fit the same configurations): once with `--engine duckdb`, once with
`--engine spark`, each into a private warehouse. `small` is ml-latest-small
(CINEMART_DATA_DIR); 1m / 5m / 25m are the synthetic ml-25m-shaped sets of
bench_scale.py. Per stage: node seconds summed from dbt's run_results.json
and the peak RSS of the build's process tree while that stage ran (the JVM is
a child of the dbt process, so Spark's memory is counted). Accuracy: test
RMSE from als_model_runs, precision@10 of the served model from
ranking_evaluation, read back from each engine's tables (DuckDB file; Spark's
parquet files). The last columns are each Spark build's time / DuckDB's.

`--cluster` adds a third build, `spark-cluster`: `cinemart build --engine
spark` against a standalone master and two one-core workers on 127.0.0.1
(cinemart.spark.standalone, started for that build and stopped after it),
with the package shipped as a zip through spark.submit.pyFiles as docs/spark.md
tells cluster users. Its wall time excludes starting the cluster, and its
peak RSS is the driver's alone: the executors are the workers' children.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import duckdb

from bench_scale import STAGES, BuildRun, dataset_folder, run_build

DEFAULT_GRID = {"rank": [10], "reg": [0.1], "iterations": [10]}
ENGINES = ("duckdb", "spark")
CLUSTER = "spark-cluster"


def accuracy(engine: str, warehouse: Path) -> tuple[float, float]:
    """(test RMSE, served precision@10) from the engine's own tables."""
    queries = ("select test_rmse from {als_model_runs} order by finished_at desc limit 1",
               "select precision_at_10 from {ranking_evaluation} where is_served")
    if engine == "duckdb":
        with duckdb.connect(str(warehouse / "cinemart.duckdb"), read_only=True) as con:
            return tuple(con.execute(q.format(als_model_runs="als_model_runs",
                                              ranking_evaluation="ranking_evaluation")).fetchall()[0][0]
                         for q in queries)
    tables = warehouse / "spark" / "cinemart_build.db"
    relations = {name: f"read_parquet('{tables / name}/*.parquet')" for name in ("als_model_runs", "ranking_evaluation")}
    with duckdb.connect() as con:
        return tuple(con.execute(q.format(**relations)).fetchall()[0][0] for q in queries)


def build(engine: str, name: str, data: Path, work: Path, grid: dict) -> tuple[BuildRun, tuple[float, float]]:
    warehouse = work / f"{engine}-{name}"
    variables = json.dumps({"als_grid": grid, "implicit_grid": "quick"})
    env = {"CINEMART_SPARK_WAREHOUSE_DIR": str(warehouse / "spark"), "CINEMART_SPARK_MASTER": "local[2]"}
    with contextlib.ExitStack() as stack:
        if engine == CLUSTER:
            from cinemart.spark.standalone import StandaloneCluster, package_zip

            cluster = stack.enter_context(StandaloneCluster(work / f"cluster-{name}"))
            conf = {"spark.submit.pyFiles": str(package_zip(work / "cinemart.zip")), "spark.executor.memory": "1g"}
            env.update(CINEMART_SPARK_MASTER=cluster.master_url, CINEMART_SPARK_CONF=json.dumps(conf))
        print(f"building {name} on {engine} …", file=sys.stderr, flush=True)
        run = run_build(["--engine", engine.removesuffix("-cluster"), "--from", str(data), "--vars", variables],
                        warehouse, work / f"build-{engine}-{name}.log", env)
    return run, accuracy(engine, warehouse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=["small", "1m", "5m", "25m"], default=["small", "1m", "5m"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cinemart-engines"))
    parser.add_argument("--grid", type=json.loads, default=DEFAULT_GRID, help="explicit ALS grid, as JSON")
    parser.add_argument("--cluster", action="store_true",
                        help="also build on a standalone Spark cluster on 127.0.0.1 (two one-core workers)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    engines = [*ENGINES, *([CLUSTER] if args.cluster else [])]
    for name in args.datasets:
        data = dataset_folder(args.work, name)
        runs = {engine: build(engine, name, data, args.work, args.grid) for engine in engines}
        print(f"\n{name}: node seconds / peak RSS per stage", flush=True)
        print(f"{'stage':<22}" + "".join(f"{e:>22}" for e in engines) + "".join(f"{e + '/duckdb':>22}" for e in engines[1:]))
        stage_rows = {engine: run.stages() for engine, (run, _) in runs.items()}
        for stage in [*STAGES, "data tests", "other"]:
            cells = [stage_rows[e].get(stage, (0.0, 0)) for e in engines]
            ratios = "".join((f"{c[0] / cells[0][0]:.1f}x" if cells[0][0] > 0 else "-").rjust(22) for c in cells[1:])
            print(f"{stage:<22}" + "".join(f"{s:8.1f}s {p / 2**20:6.2f} GiB".rjust(22) for s, p in cells) + ratios)
        builds = [runs[e][0] for e in engines]
        print(f"{'whole build (wall)':<22}" + "".join(f"{r.wall:8.1f}s {r.peak_kib / 2**20:6.2f} GiB".rjust(22)
                                                        for r in builds)
              + "".join(f"{r.wall / builds[0].wall:.1f}x".rjust(22) for r in builds[1:]))
        print(f"{'test RMSE':<22}" + "".join(f"{runs[e][1][0]:>22.4f}" for e in engines))
        print(f"{'served precision@10':<22}" + "".join(f"{runs[e][1][1]:>22.4f}" for e in engines), flush=True)


if __name__ == "__main__":
    main()
