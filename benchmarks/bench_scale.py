"""Scale suite: the whole `cinemart build` per dataset size, stage by stage.

Usage:  .venv/bin/python benchmarks/bench_scale.py [--sizes 250k 1m 5m 25m] [--work DIR] [--skip-als-sweep]
                                                 [--vars JSON]

For each size a synthetic MovieLens set (`cinemart data synth`, ml-25m shape
scaled down) is generated once into --work, then built end to end by a real
`cinemart build` subprocess into a private warehouse. Stage times come from
dbt's run_results.json (node wall times, grouped by stage); peak RSS per stage
is the highest resident memory of the build's process tree sampled every
0.2 s while that stage's nodes ran (stages overlap on 2 threads, so a shared
peak may be charged to both). The ALS rows time one sweep of our solver and
of `implicit`'s on the same train matrix (reusing bench_als), and the RMSE
rows set the achieved test RMSE against the planted noise floor recorded by
the generator.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from cinemart.data.fetch import REPO_DATA, fetch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SIZES = {  # ratings, users, movies: ml-25m's ratios (162,541 users, 62,423 movies for 25M)
    "250k": (250_000, 1_625, 624),  # CI's smoke size: every stage, in minutes rather than tens of minutes
    "1m": (1_000_000, 6_502, 2_497),
    "5m": (5_000_000, 32_508, 12_485),
    "25m": (25_000_095, 162_541, 62_423),
    "100m": (100_000_380, 650_164, 249_692),  # the large target: ml-25m x 4 in ratings, users and movies
}
STAGES = {  # stage -> dbt model names; a trailing * matches a prefix
    "load + validate": ["base_movielens__*", "stg_movielens__*", "quarantine_*"],
    "split + EDA": ["int_ratings_split", "int_movie_genres", "dataset_overview", "movies", "movie_genres",
                    "genre_summary", "rating_distribution", "user_activity", "movie_popularity", "unrated_movies",
                    "rarely_rated_movies", "movies_by_release_year", "tag_summary"],
    "tuning": ["int_als_grid_search", "als_grid_search", "implicit_grid_search", "ease_grid_search"],
    "evaluation": ["als_predictions", "als_test_predictions", "int_ranking_evaluation", "ranking_evaluation", "als_model_runs",
                   "int_ranking_evaluation_by_activity", "ranking_evaluation_by_activity"],
    "final fit": ["int_als_factors", "als_factors", "int_implicit_factors", "implicit_factors", "popularity_factors", "user_factors", "movie_factors",
                  "implicit_user_factors", "implicit_movie_factors", "int_ease_factors", "ease_factors",
                  "int_blend_factors", "blend_factors"],
    "recommendations": ["serving_settings", "int_user_recommendations", "user_recommendations", "int_popular_movies",
                        "popular_movies"],
    "similar movies": ["int_movie_content_vectors", "int_movie_similarity_vectors", "int_similar_movies", "similar_movies",
                       "int_similar_movies_cold_start", "similar_movies_cold_start"],
}


def stage_of(node: str) -> str:
    name = node.split(".")[-1]
    if node.startswith("test."):
        return "data tests"
    for stage, names in STAGES.items():
        if any(name == n or (n.endswith("*") and name.startswith(n[:-1])) for n in names):
            return stage
    return "other"


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Sampler:
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.is_set():
            self.samples.append((time.time(), tree_rss_kib(self.pid)))
            time.sleep(0.2)

    def peak(self, start: float, end: float) -> int:
        inside = [rss for t, rss in self.samples if start - 0.2 <= t <= end + 0.2]
        return max(inside, default=0)


def ensure_dataset(work: Path, size: str) -> Path:
    out = work / f"synth-{size}"
    if (out / "synth_manifest.json").exists():
        return out
    ratings, users, movies = SIZES[size]
    subprocess.run([BIN / "cinemart", "data", "synth", "--ratings", str(ratings), "--users", str(users),
                    "--movies", str(movies), "--seed", "1", "--out", str(out), "--force"], check=True)
    return out


def dataset_folder(work: Path, name: str) -> Path:
    """`small` is ml-latest-small (CINEMART_DATA_DIR, else the shipped archive, unpacked into data/);
    a size (250k, 1m, 5m, 25m) is generated once into `work`."""
    if name != "small":
        return ensure_dataset(work, name)
    return fetch(None, REPO_DATA)


@dataclass
class BuildRun:
    """One finished `cinemart build` subprocess: wall time, memory samples, dbt's node timings."""
    wall: float
    sampler: Sampler
    results: dict

    @property
    def peak_kib(self) -> int:
        return max(rss for _, rss in self.sampler.samples)

    def slowest(self, n: int = 12) -> list[tuple[str, float]]:
        """The `n` nodes with the longest execute time: where a build's time goes."""
        times = [(node["unique_id"].split(".")[-1], span_seconds(spans[0])) for node in self.results["results"]
                 if (spans := [t for t in node["timing"] if t["name"] == "execute"])]
        return sorted(times, key=lambda pair: -pair[1])[:n]

    def stages(self) -> dict[str, tuple[float, int]]:
        """stage -> (node seconds summed, peak RSS KiB while its nodes ran)."""
        windows: dict[str, list[float]] = {}
        for node in self.results["results"]:
            spans = [t for t in node["timing"] if t["name"] == "execute"]
            if not spans:
                continue
            begin = datetime.fromisoformat(spans[0]["started_at"].replace("Z", "+00:00")).timestamp()
            end = datetime.fromisoformat(spans[0]["completed_at"].replace("Z", "+00:00")).timestamp()
            window = windows.setdefault(stage_of(node["unique_id"]), [begin, end, 0.0])
            window[0], window[1] = min(window[0], begin), max(window[1], end)
            window[2] += end - begin
        return {s: (w[2], self.sampler.peak(w[0], w[1])) for s, w in windows.items()}


def span_seconds(span: dict) -> float:
    """Seconds of one run_results timing span."""
    begin, end = (datetime.fromisoformat(span[key].replace("Z", "+00:00")) for key in ("started_at", "completed_at"))
    return (end - begin).total_seconds()


def run_build(args: list[str], warehouse: Path, log_path: Path, env: dict[str, str] | None = None,
              cwd: Path = ROOT) -> BuildRun:
    """`cinemart build ARGS` into a private warehouse, sampling the process tree's memory (a JVM included).

    `cwd` is the dbt project built (another checkout's, in bench_revisions)."""
    env = {**os.environ, "CINEMART_WAREHOUSE_DIR": str(warehouse), "DBT_TARGET_PATH": str(warehouse / "target"),
           "DBT_LOG_PATH": str(warehouse / "logs"), **(env or {})}
    with log_path.open("w") as log:
        started = time.time()
        process = subprocess.Popen([BIN / "cinemart", "build", *args], cwd=cwd, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        sampler = Sampler(process.pid)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        code = process.wait()
        wall = time.time() - started
        sampler.done.set()
        thread.join()
    if code != 0:
        raise SystemExit(f"cinemart build {' '.join(args)} failed (exit {code}); see {log_path}")
    return BuildRun(wall, sampler, json.loads((warehouse / "target" / "run_results.json").read_text()))


def build(work: Path, size: str, data: Path, dbt_vars: str) -> dict:
    warehouse = work / f"warehouse-{size}"
    run = run_build(["--from", str(data), "--vars", dbt_vars], warehouse, work / f"build-{size}.log")
    with duckdb.connect(str(warehouse / "cinemart.duckdb"), read_only=True) as con:
        test_rmse, strategy = con.execute(
            "select test_rmse, tuning_strategy from als_model_runs order by finished_at desc limit 1").fetchone()
        precision = con.execute("select precision_at_10 from ranking_evaluation where is_served").fetchone()[0]
        by_model = dict(con.execute("select model, precision_at_10 from ranking_evaluation where protocol = 'random'")
                        .fetchall())
    floor = json.loads((data / "synth_manifest.json").read_text())["achievable_rmse"]
    return {"wall": run.wall, "peak_kib": run.peak_kib, "test_rmse": test_rmse, "floor": floor,
            "precision": precision, "strategy": strategy, "stages": run.stages(), "slowest": run.slowest(),
            "implicit_vs_popularity": (by_model.get("implicit_als", float("nan")), by_model.get("popularity", float("nan")))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["1m", "5m", "25m"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cinemart-scale"))
    parser.add_argument("--skip-als-sweep", action="store_true", help="skip the ours-vs-implicit sweep timing")
    parser.add_argument("--vars", default="{}", metavar="JSON",
                        help="dbt vars for every build, e.g. one-point grids (default: the defaults)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    runs = {}
    for size in args.sizes:
        data = ensure_dataset(args.work, size)
        print(f"building {size} …", file=sys.stderr, flush=True)
        runs[size] = build(args.work, size, data, args.vars)

    order = list(STAGES) + ["data tests", "other"]
    print(f"\n{'stage (node seconds / peak RSS)':<34}" + "".join(f"{s:>22}" for s in runs))
    for stage in order:
        cells = []
        for run in runs.values():
            seconds, peak = run["stages"].get(stage, (0.0, 0))
            cells.append(f"{seconds:8.1f}s {peak / 2**20:6.2f} GiB")
        print(f"{stage:<34}" + "".join(f"{c:>22}" for c in cells))
    print(f"{'whole build: wall / peak RSS':<34}"
          + "".join(f"{r['wall']:8.1f}s {r['peak_kib'] / 2**20:6.2f} GiB" for r in runs.values()))
    print(f"{'tuning strategy':<34}" + "".join(f"{r['strategy']:>22}" for r in runs.values()))
    print(f"{'test RMSE / planted floor (ratio)':<34}"
          + "".join(f"{r['test_rmse']:.4f}/{r['floor']:.4f} ({r['test_rmse'] / r['floor']:.3f})".rjust(22)
                    for r in runs.values()))
    print(f"{'served precision@10':<34}" + "".join(f"{r['precision']:>22.4f}" for r in runs.values()))
    # The synthetic data plants taste-driven exposure, so implicit ALS should win here as on real MovieLens.
    print(f"{'precision@10 implicit / popularity':<34}"
          + "".join(f"{r['implicit_vs_popularity'][0]:.4f}/{r['implicit_vs_popularity'][1]:.4f}".rjust(22)
                    for r in runs.values()))
    print("targets: 25m whole build <= 240 s wall and <= 6 GiB peak RSS; 100m <= 1800 s and <= 16 GiB")
    for size, run in runs.items():
        print(f"\nslowest nodes at {size}: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in run["slowest"]))

    if not args.skip_als_sweep:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_als import sweep_table  # noqa: E402  (reuses the same sweep measurement)

        from cinemart.data.ratings import SPLIT_COLUMNS, IndexedRatings, SplitRatings  # noqa: E402

        datasets = []
        for size in runs:
            with duckdb.connect(str(args.work / f"warehouse-{size}" / "cinemart.duckdb"), read_only=True) as con:
                split = SplitRatings.from_columns(
                    con.sql(f"select {SPLIT_COLUMNS} from int_ratings_split").fetchnumpy())
            train = IndexedRatings.build(split, split.train)
            datasets.append((f"synth-{size} train", train.user_idx, train.movie_idx, train.rating,
                             len(train.users), len(train.movies)))
        print("\nALS seconds per iteration on each train matrix (ours vs implicit, same rank):")
        sweep_table(datasets, ranks=[10, 64], iterations=2, repeats=1)


if __name__ == "__main__":
    main()
