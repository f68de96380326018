"""Every ranking model x protocol x metric of built warehouses, beside implicit ALS, and each model's fit cost.

Why: the warehouse judges every ranking model (implicit ALS, popularity,
explicit ALS, and EASE and the EASE + implicit ALS blend once they are built)
under two protocols, but its tables give one build at a time and say nothing
of what a model costs to fit. This prints, in one run and for each warehouse
given (ml-latest-small and the synthetic 5M set side by side):

1. every model x protocol x metric of `ranking_evaluation` (every DOUBLE
   column but evaluation_seconds: the top-10 metrics, the beyond-accuracy
   ones, and on the random rows the validation figures that chose the served
   model), each with its ratio to implicit_als, the reference, on the same
   protocol;
2. each model's fit time and peak memory on the random protocol's fit part
   (the train part of `int_ratings_split`, through
   `ranking_tables.EvaluationProtocol`, as the warehouse fits it), with the
   parameters the warehouse chose, and the ratio of both to implicit_als.

Each fit runs in a fresh subprocess (`--fit-one MODEL`) so no model inherits
another's memory: it loads the split, fits once on a small slice of it (so
numba's cached kernels, implicit's and BLAS's first-call setup are not
timed), then resets the peak RSS (writes 5 to /proc/self/clear_refs), times
one fit, and reports VmHWM minus the RSS just before the fit: the memory the
fit itself needed, on top of the loaded ratings. Linux only. Fits use the
process's default thread budget (CINEMART_THREADS, else every CPU), so
run it on an otherwise idle machine. Tables go to stdout, progress to stderr.

Models and the parameters they are fitted with:
  implicit_als         ranking_evaluation.parameters, seed from implicit_grid_search
  popularity           fit_popularity (ratings >= 4 per movie)
  explicit_als         als_grid_search's chosen row (rank, reg, iterations, biased, solver, seed)
  ease                 ranking_evaluation.parameters: regularization, min_rating and the memory budget
                       (max_bytes or max_memory; if neither is recorded, the ease_max_memory default)
  ease_implicit_blend  its parameters' "ease" and "implicit_als" fits, blended at "ease_weight"
A model the warehouse does not hold (EASE and the blend before they are
built) is skipped with a note.

Run (warehouses are opened read-only, so a published warehouse is fine):

    .venv/bin/python benchmarks/bench_ranking.py        # warehouse/cinemart.duckdb (ml-latest-small)
    .venv/bin/python benchmarks/bench_ranking.py --warehouse warehouse/cinemart.duckdb \\
        --warehouse /tmp/wh5m/cinemart.duckdb

The synthetic 5M warehouse (ml-25m's shape scaled to 5M ratings, as
bench_scale.py's 5m size), built once outside the repository's warehouse
(synth: seconds; build: 5.5 minutes on 2 cores, 1.8 GiB peak RSS):

    .venv/bin/cinemart data synth --ratings 5000000 --users 32508 --movies 12485 --seed 1 --out /tmp/synth5m
    CINEMART_WAREHOUSE_DIR=/tmp/wh5m .venv/bin/cinemart build --from /tmp/synth5m
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable

REFERENCE = "implicit_als"
#: Every model with a fit recipe below, in the order the fit table prints them.
FIT_MODELS = ("implicit_als", "popularity", "explicit_als", "ease", "ease_implicit_blend")
#: ranking_evaluation's DOUBLE columns that are not metrics.
NOT_METRICS = {"evaluation_seconds"}
#: What the child prints before its JSON result on stdout.
RESULT_MARK = "RESULT "
#: Ratings in the warm-up fit (a slice of the fit part, on its own small index).
WARM_UP_RATINGS = 20_000
#: EASE's budget when the parameters do not record one: the settings' default.
EASE_FALLBACK_BUDGET = "1GiB"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- the child: one model's fit


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _only_fields(cls: type, given: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in given.items() if k in names}


def _ease_budget(*sources: dict[str, Any]) -> tuple[int, str]:
    """EASE's max_bytes from the first parameters object recording one, else the settings' default."""
    from cinemart.memory import parse_size

    for params in sources:
        for key in ("max_bytes", "max_memory_bytes", "budget_bytes"):
            if params.get(key) is not None:
                return int(params[key]), f"budget {key}={int(params[key]):,}"
        for key in ("max_memory", "ease_max_memory", "budget"):
            if params.get(key) is not None:
                return parse_size(str(params[key]), key), f"budget {key}={params[key]}"
    try:
        from cinemart.settings import DEFAULTS
        default = str(DEFAULTS.get("ease_max_memory", EASE_FALLBACK_BUDGET))
    except ImportError:
        default = EASE_FALLBACK_BUDGET
    return parse_size(default, "ease_max_memory"), f"budget not in parameters: default {default}"


Fit = Callable[[Any, Any, Any, int, int], Any]  # (user_idx, movie_idx, rating, n_users, n_movies) -> Factors | None


def _implicit_fit(params: dict[str, Any], seed: int) -> Fit:
    from cinemart.models.implicit_als import ImplicitParams, fit_implicit_als

    chosen = ImplicitParams(**_only_fields(ImplicitParams, params))
    return lambda u, m, r, nu, nm: fit_implicit_als(u, m, r, nu, nm, chosen, seed)


def _ease_fit(params: dict[str, Any], max_bytes: int, notes: list[str]) -> Fit:
    from cinemart.models.ease import EaseParams, fit_ease

    chosen = EaseParams(**_only_fields(EaseParams, params))

    def fit(u, m, r, nu, nm):
        result = fit_ease(u, m, r, nu, nm, chosen, max_bytes)
        if result.scope.reason:
            notes.append(result.scope.reason)
        return result.factors

    return fit


def recipe(con, model: str, notes: list[str], fit_notes: list[str]) -> Fit | None:
    """How the warehouse fitted `model`, from what it recorded; None (and a note) when it holds no such model.

    `notes`: what the recipe says (the EASE budget used); `fit_notes`: what each fit says (EASE's scope).
    """
    rows = con.execute("select parameters from ranking_evaluation where model = ? and protocol = 'random'",
                       [model]).fetchall()
    if not rows:
        notes.append("not in this warehouse's ranking_evaluation: skipped")
        return None
    params = json.loads(rows[0][0]) if rows[0][0] else {}
    if model == "popularity":
        from cinemart.models.popularity import fit_popularity

        return lambda u, m, r, nu, nm: fit_popularity(m, r, nu, nm)
    if model == "implicit_als":
        seed = int(con.execute("select seed from implicit_grid_search limit 1").fetchall()[0][0])
        return _implicit_fit(params, seed)
    if model == "explicit_als":  # as explicit_tables.fits_table refits the chosen point (dtype: the default)
        from cinemart.models.explicit_als import ExplicitALS
        from cinemart.tuning.explicit import GridPoint
        from cinemart.warehouse.explicit_tables import ExplicitSettings

        rank, reg, iterations, biased, solver, seed = con.execute(
            "select rank, reg, iterations, biased, solver, seed from als_grid_search where is_chosen").fetchall()[0]
        settings = ExplicitSettings.from_config({"als_biased": bool(biased), "als_solver": solver,
                                                 "als_seed": int(seed)})
        config = settings.config(GridPoint(rank=int(rank), reg=float(reg), iterations=int(iterations)))
        return lambda u, m, r, nu, nm: ExplicitALS(config).fit_factors(u, m, r, nu, nm)
    if model == "ease":
        if "regularization" not in params:  # the warehouse recorded only the budget: EASE did not fit within it
            notes.append(f"the warehouse fitted no EASE (parameters {json.dumps(params)}): skipped")
            return None
        max_bytes, budget = _ease_budget(params)
        notes.append(budget)
        return _ease_fit(params, max_bytes, fit_notes)
    if model == "ease_implicit_blend":
        from cinemart.models.blend import blend

        missing = [key for key in ("ease", "implicit_als", "ease_weight") if params.get(key) is None]
        if missing or "regularization" not in params["ease"]:
            notes.append(f"the warehouse fitted no blend (parameters {json.dumps(params)}): skipped")
            return None
        seed = int(con.execute("select seed from implicit_grid_search limit 1").fetchall()[0][0])
        ease_rows = con.execute("select parameters from ranking_evaluation where model = 'ease' "
                                "and protocol = 'random'").fetchall()
        ease_row = json.loads(ease_rows[0][0]) if ease_rows and ease_rows[0][0] else {}
        max_bytes, budget = _ease_budget(params.get("ease", {}), params, ease_row)
        notes.append(budget)
        ease_half = _ease_fit(params["ease"], max_bytes, fit_notes)
        implicit_half = _implicit_fit(params["implicit_als"], seed)
        weight = float(params["ease_weight"])

        def fit(u, m, r, nu, nm):
            ease_factors = ease_half(u, m, r, nu, nm)
            if ease_factors is None:
                return None
            return blend(ease_factors, implicit_half(u, m, r, nu, nm), weight)[0]

        return fit
    notes.append("no fit recipe in bench_ranking.py: skipped")
    return None


def _warm_up(fit: Fit, user_idx, movie_idx, rating) -> None:
    """One fit on the first WARM_UP_RATINGS ratings, re-indexed to their own users and movies."""
    import numpy as np

    n = min(WARM_UP_RATINGS, rating.size)
    users, u = np.unique(user_idx[:n], return_inverse=True)
    movies, m = np.unique(movie_idx[:n], return_inverse=True)
    try:
        fit(u, m, rating[:n], users.size, movies.size)
    except Exception as error:  # a slice too small for the model: the timed fit says what is wrong, if anything
        progress(f"  warm-up fit failed ({error}); timing a cold fit")


def fit_one(warehouse: Path, model: str) -> dict[str, Any]:
    """Fit `model` as the warehouse did on the random protocol's fit part: seconds, peak KiB above the pre-fit RSS."""
    import duckdb

    from cinemart.data.ratings import SPLIT_COLUMNS, SplitRatings
    from cinemart.warehouse.ranking_tables import EvaluationProtocol, RankingSettings

    notes: list[str] = []
    fit_notes: list[str] = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        fit = recipe(con, model, notes, fit_notes)
        if fit is None:
            return {"model": model, "notes": notes}
        progress(f"  {model}: loading int_ratings_split")
        data = SplitRatings.from_columns(con.sql(f"select {SPLIT_COLUMNS} from int_ratings_split "
                                                 "order by user_id, movie_id").fetchnumpy())
    train = EvaluationProtocol.of(data, RankingSettings.from_config({}), "test").train
    del data
    u, m, r, n_users, n_movies = train.user_idx, train.movie_idx, train.rating, len(train.users), len(train.movies)
    progress(f"  {model}: warm-up fit on {min(WARM_UP_RATINGS, r.size):,} ratings")
    _warm_up(fit, u, m, r)
    fit_notes.clear()  # the warm-up slice's EASE scope is not the fit's
    progress(f"  {model}: fitting on {r.size:,} ratings ({n_users:,} users, {n_movies:,} movies)")
    gc.collect()
    before = _kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    started = time.perf_counter()
    factors = fit(u, m, r, n_users, n_movies)
    seconds = time.perf_counter() - started
    peak = _kib("VmHWM")
    if factors is None:
        fit_notes.append("the fit returned no model (EASE's budget skipped it)")
    return {"model": model, "seconds": seconds, "peak_kib": peak - before, "base_kib": before,
            "n_ratings": int(r.size), "n_users": n_users, "n_movies": n_movies, "notes": notes + fit_notes}


# ----------------------------------------------------------------- the parent: tables


def read_warehouse(path: Path) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        try:
            types = {row[0]: row[1] for row in con.execute("describe ranking_evaluation").fetchall()}
        except duckdb.CatalogException:
            raise SystemExit(f"{path} has no ranking_evaluation table: build it first (cinemart build)") from None
        metrics = [c for c, t in types.items() if t == "DOUBLE" and c not in NOT_METRICS]
        names = ["model", "protocol", "is_served", "parameters", *metrics]
        rows = [dict(zip(names, row)) for row in con.execute(
            f"select {', '.join(names)} from ranking_evaluation order by protocol, model").fetchall()]
        n_ratings, n_users, n_movies = con.execute(
            "select count(*), count(distinct user_id), count(distinct movie_id) from int_ratings_split").fetchall()[0]
    present = {r["model"] for r in rows}
    models = [m for m in FIT_MODELS if m in present] + sorted(present - set(FIT_MODELS))
    return {"rows": rows, "metrics": metrics, "models": models, "size": (n_ratings, n_users, n_movies),
            "served": [r["model"] for r in rows if r["is_served"]]}


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or reference is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if reference == 0:
        return "n/a"
    return f"{value / reference:.3f}x"


def print_metrics(path: Path, info: dict[str, Any]) -> None:
    n_ratings, n_users, n_movies = info["size"]
    print(f"\n== {path}: {n_ratings:,} ratings, {n_users:,} users, {n_movies:,} movies; "
          f"served: {', '.join(info['served']) or '-'}")
    models = info["models"]
    if REFERENCE not in models:
        print(f"   (no {REFERENCE} row: no reference, ratios left out)")
    by_key = {(r["model"], r["protocol"]): r for r in info["rows"]}
    header = f"{'protocol':9} {'metric':28}" + "".join(f" {m[:20]:>20}" for m in models)
    print(header)
    print(f"{'':38}" + "".join(f" {'value':>10} {'/' + REFERENCE[:8]:>9}" for _ in models))
    for protocol in sorted({r["protocol"] for r in info["rows"]}):
        for metric in info["metrics"]:
            values = [by_key.get((m, protocol), {}).get(metric) for m in models]
            if all(v is None for v in values):
                continue  # validation figures sit on the random rows only
            reference = by_key.get((REFERENCE, protocol), {}).get(metric)
            cells = "".join(f" {'-' if v is None else format(v, '10.4f'):>10} {ratio(v, reference):>9}"
                            for v in values)
            print(f"{protocol:9} {metric:28}{cells}")
    print("parameters (random protocol):")
    for m in models:
        row = by_key.get((m, "random"))
        if row is not None:
            print(f"  {m:20} {row['parameters']}")


def run_fit(warehouse: Path, model: str) -> dict[str, Any]:
    """`--fit-one` in a fresh interpreter; its progress goes to our stderr."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--fit-one", model,
                           "--warehouse", str(warehouse)], stdout=subprocess.PIPE, text=True)
    results = [line[len(RESULT_MARK):] for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not results:
        return {"model": model, "notes": [f"fit subprocess failed (exit {done.returncode}); see stderr"]}
    return json.loads(results[-1])


def print_fits(path: Path, fits: list[dict[str, Any]]) -> None:
    reference = next((f for f in fits if f["model"] == REFERENCE and "seconds" in f), None)
    print(f"\nfit on the random protocol's fit part (train), one fresh process each: {path}")
    print(f"{'model':20} {'ratings':>10} {'users':>7} {'movies':>7} {'fit s':>9} {'/' + REFERENCE:>13} "
          f"{'peak MiB':>9} {'/' + REFERENCE:>13}  notes")
    for f in fits:
        notes = "; ".join(f.get("notes", []))
        if "seconds" not in f:
            print(f"{f['model']:20} {'-':>10} {'-':>7} {'-':>7} {'-':>9} {'-':>13} {'-':>9} {'-':>13}  {notes}")
            continue
        mib = f["peak_kib"] / 1024
        print(f"{f['model']:20} {f['n_ratings']:>10,} {f['n_users']:>7,} {f['n_movies']:>7,} {f['seconds']:9.3f} "
              f"{ratio(f['seconds'], reference and reference['seconds']):>13} {mib:9.2f} "
              f"{ratio(mib, reference and reference['peak_kib'] / 1024):>13}  {notes}")
    if fits and "base_kib" in fits[0]:
        print(f"(peak MiB: VmHWM during the fit minus RSS just before it, {fits[0]['base_kib'] / 1024:.0f} MiB "
              "with the split loaded)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, action="append",
                        help="a built warehouse (repeatable; default warehouse/cinemart.duckdb)")
    parser.add_argument("--skip-fits", action="store_true", help="print the metrics table only")
    parser.add_argument("--models", nargs="+", default=list(FIT_MODELS), metavar="MODEL",
                        help=f"models to fit (default: {' '.join(FIT_MODELS)})")
    parser.add_argument("--fit-one", metavar="MODEL", help=argparse.SUPPRESS)  # the child's entry point
    args = parser.parse_args(argv)
    warehouses = args.warehouse or [Path("warehouse/cinemart.duckdb")]
    if args.fit_one:
        print(RESULT_MARK + json.dumps(fit_one(warehouses[0], args.fit_one)), flush=True)
        return 0
    for path in warehouses:
        if not path.is_file():
            raise SystemExit(f"no warehouse at {path}")
    for path in warehouses:
        progress(f"reading {path}")
        info = read_warehouse(path)
        print_metrics(path, info)
        sys.stdout.flush()
        if args.skip_fits:
            continue
        fits = []
        for model in args.models:
            if model not in info["models"]:
                fits.append({"model": model, "notes": ["not in this warehouse's ranking_evaluation: skipped"]})
                continue
            progress(f"{path}: fitting {model} in a fresh process")
            fits.append(run_fit(path, model))
        print_fits(path, fits)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
