"""The `cinemart` command line.

Commands register themselves through small `_add_*` functions listed in
COMMANDS (top level) and DATA_ACTIONS (under `cinemart data`); each sets a
`handler(args) -> int` default, so adding a command is one function and one
list entry.  Expected failures become a single `cinemart: error: ...` line and
exit code 2 (argparse's own convention), so Makefiles and CI logs stay readable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cinemart import __version__
from cinemart.bi.bundle import BUNDLE_SOURCE, BundleError, write_bundle
from cinemart.bi.superset import ADMIN_PASSWORD, ADMIN_USER, SupersetError, SupersetSite, stop
from cinemart.data.catalog import DEFAULT_RELEASE, RELEASES, UnknownDatasetError
from cinemart.data.fetch import (
    BASE_URL_ENV,
    DATA_DIR_ENV,
    DEFAULT_DEST,
    ConsoleReporter,
    FetchError,
    fetch,
)
from cinemart.data.layout import MOVIES_ENCODING_ENV, DatasetLayoutError, Layout, detect_layout
from cinemart.data.own import OwnData, OwnDataError, require_engine_can_read
from cinemart.data.preflight import PreflightError, check_dataset
from cinemart.data.synth import ConsoleProgress, SynthConfig, SynthError, synthesize
from cinemart.memory import (DUCKDB_LOAD_MEMORY_LIMIT_ENV, DUCKDB_MEMORY_LIMIT_ENV, MEMORY_LIMIT_ENV, MemoryBudgetError,
                             fixed_duckdb_limit, gib, plan_memory)
from cinemart.warehouse.explicit_tables import ExplicitSettings
from cinemart.warehouse.ease_tables import EaseSettings
from cinemart.warehouse.ranking_tables import RankingSettings
from cinemart.settings import SettingsError, check_var_names
from cinemart.warehouse.publish import (
    BuildLock,
    PublishError,
    WarehousePaths,
    carry_from,
    drop_replaced,
    mark_whole,
    prepare_fresh_build,
    publish,
    require_whole,
    rollback,
    write_atomically,
)
from cinemart.report import write_report
from cinemart.serving.exports import match_export, read_export
from cinemart.serving.new_user import RecommendError, Recommendation, ServedModel, parse_ratings, served_list
from cinemart.spark.environment import SparkEnvironmentError, check_spark_environment, spark_warehouse_dir
from cinemart.spark.readers.serve_command import SERVE_ERRORS, add_serve
from cinemart.warehouse.dbt import (
    WarehouseError,
    check_engine_vars,
    database_path,
    downstream_closure,
    find_project_dir,
    headline,
    run_dbt,
)

PROG = "cinemart"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# argparse has no public name for the object add_subparsers() returns.
Subcommands = argparse._SubParsersAction
Register = Callable[[Subcommands], None]

# Failures the user can fix; anything else is a bug and keeps its traceback.
# OSError covers the local filesystem (unwritable --dest, disk full).
USER_ERRORS: tuple[type[Exception], ...] = (
    FetchError,
    UnknownDatasetError,
    DatasetLayoutError,
    OwnDataError,
    PreflightError,
    MemoryBudgetError,
    SynthError,
    WarehouseError,
    PublishError,
    SettingsError,
    SparkEnvironmentError,
    RecommendError,
    *SERVE_ERRORS,
    BundleError,
    SupersetError,
    OSError,
)


def _add_fetch(actions: Subcommands) -> None:
    parser = actions.add_parser(
        "fetch",
        help="download, verify and unpack a MovieLens release (or use a local copy)",
        description="Print the dataset folder on stdout; progress goes to stderr.",
    )
    parser.add_argument("name", metavar="NAME", help=f"one of: {', '.join(RELEASES)}")
    parser.add_argument(
        "--dest",
        type=Path,
        default=DEFAULT_DEST,
        metavar="DIR",
        help="folder that receives NAME/ (default: ./data)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="DIR",
        help=f"use this local copy (DIR or DIR/NAME) without any network access "
        f"(default: ${DATA_DIR_ENV})",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"download from this mirror (default: ${BASE_URL_ENV}, else GroupLens)",
    )
    parser.add_argument(
        "--insecure-allow-unverified",
        action="store_true",
        help="accept an archive whose checksum cannot be obtained at all "
        "(a known checksum that does not match is still rejected)",
    )
    parser.set_defaults(handler=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    folder = fetch(
        args.name,
        args.dest,
        source=args.source,
        base_url=args.base_url,
        allow_unverified=args.insecure_allow_unverified,
        reporter=ConsoleReporter(),
    )
    print(folder)
    return 0


def _add_detect(actions: Subcommands) -> None:
    parser = actions.add_parser(
        "detect",
        help="print the dbt vars for a dataset folder as JSON",
    )
    parser.add_argument("folder", metavar="DIR", type=Path)
    parser.set_defaults(handler=_run_detect)


def _run_detect(args: argparse.Namespace) -> int:
    print(json.dumps(detect_layout(args.folder).dbt_vars()))
    return 0


def _add_synth(actions: Subcommands) -> None:
    defaults = SynthConfig()
    parser = actions.add_parser(
        "synth",
        help="generate a synthetic MovieLens CSV release with a planted low-rank model",
        description="Write ratings/movies/tags/links.csv and synth_manifest.json (planted model, "
        "achievable RMSE) into DIR and print DIR on stdout; progress goes to stderr. "
        "The defaults are ml-25m's size; --ratings alone scales users and movies in its proportions.",
    )
    parser.add_argument("--ratings", type=int, default=defaults.ratings, metavar="N",
                        help=f"number of ratings (default: {defaults.ratings})")
    parser.add_argument("--users", type=int, metavar="U",
                        help=f"number of users, each with at least 20 ratings (default: {defaults.users} "
                             "at the default --ratings; ml-25m's users per rating otherwise)")
    parser.add_argument("--movies", type=int, metavar="M",
                        help=f"number of movies (default: {defaults.movies} at the default --ratings; "
                             "ml-25m's movies per rating otherwise)")
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="S",
                        help="random seed; the same arguments give byte-identical files (default: 0)")
    parser.add_argument("--rank", type=int, default=defaults.rank, metavar="K",
                        help=f"rank of the planted model (default: {defaults.rank})")
    parser.add_argument("--noise-std", type=float, default=defaults.noise_std, metavar="SIGMA",
                        help=f"std of the rating noise before rounding (default: {defaults.noise_std})")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to create")
    parser.add_argument("--force", action="store_true",
                        help="replace DIR if it holds an earlier synthetic release (any other non-empty "
                             "folder is refused)")
    parser.set_defaults(handler=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    config = SynthConfig.scaled(args.ratings, users=args.users, movies=args.movies, seed=args.seed,
                                rank=args.rank, noise_std=args.noise_std)
    synthesize(config, args.out, force=args.force, progress=ConsoleProgress())
    print(args.out.resolve())
    return 0


DATA_ACTIONS: list[Register] = [_add_fetch, _add_detect, _add_synth]


def _add_data(commands: Subcommands) -> None:
    parser = commands.add_parser("data", help="get MovieLens data onto disk")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add in DATA_ACTIONS:
        add(actions)


def _add_build(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "build",
        help="get the data (shipped ml-latest-small, local copy or download), then dbt build every table",
        description="Resolve the dataset like `cinemart data fetch`, detect its layout, run `dbt build` "
        "and print where the warehouse is with a few headline figures.",
    )
    parser.add_argument("name", metavar="NAME", nargs="?",
                        help=f"one of: {', '.join(RELEASES)} (default: whatever --from / ${DATA_DIR_ENV} "
                             f"holds, detected from its files; without either, {DEFAULT_RELEASE}, unpacked from "
                             f"the shipped data/{DEFAULT_RELEASE}.zip with no network)")
    parser.add_argument("--from", dest="source", metavar="DIR",
                        help=f"use this local copy without network access (default: ${DATA_DIR_ENV}, "
                             "which must then hold NAME if one is given)")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, metavar="DIR",
                        help="folder that receives downloads (default: ./data)")
    parser.add_argument("--ratings", metavar="FILE",
                        help="own data instead of MovieLens: a CSV, TSV or Parquet ratings file, or PATH.duckdb:TABLE "
                             "(docs/use-your-own-data.md)")
    parser.add_argument("--movies", metavar="FILE", help="with --ratings: the catalogue file (optional)")
    parser.add_argument("--columns", metavar="ROLE=COLUMN,...",
                        help="with --ratings: the files' column names, e.g. user=customer_id,movie=sku,rating=stars,"
                             "timestamp=ts (roles: user, movie, rating, timestamp, plays; the catalogue's catalogue_movie, title, genres, imdb, tmdb; default: "
                             "MovieLens's names). Without a rating column the rows are implicit feedback (plays, "
                             "purchases), weighted by the plays column when there is one")
    parser.add_argument("--vars", dest="dbt_vars", default="{}", metavar="JSON",
                        help='extra dbt vars as a JSON object, e.g. \'{"als_grid": "spark_seed"}\'')
    parser.add_argument("--select", nargs="+", default=[], metavar="SELECTOR",
                        help="dbt node selection, rebuilt with everything downstream of it (DuckDB engine only)")
    parser.add_argument("--wait", action="store_true",
                        help="if another build is running, wait for it instead of failing")
    parser.add_argument("--engine", choices=ENGINES, default="duckdb",
                        help="duckdb (default): build and publish the DuckDB file; spark: dbt build --target spark "
                             "(CINEMART_SPARK_* settings, docs/spark.md), then publish_spark_build")
    parser.set_defaults(handler=_run_build)


ENGINES = ("duckdb", "spark")


def _run_build(args: argparse.Namespace) -> int:
    try:
        extra = json.loads(args.dbt_vars)
    except json.JSONDecodeError as exc:
        raise WarehouseError(f"--vars must be a JSON object: {exc}") from None
    if not isinstance(extra, dict):
        raise WarehouseError(f"--vars must be a JSON object, got {args.dbt_vars!r}")
    check_var_names(extra)
    try:  # bad model vars fail here, in one line, before any work
        ExplicitSettings.from_config(extra)
        RankingSettings.from_config(extra)
        EaseSettings.from_config(extra)
    except ValueError as exc:
        raise SettingsError(f"--vars: {exc}") from None
    check_engine_vars(extra, args.engine)
    if args.engine == "spark" and args.select:
        raise WarehouseError(
            "--select does not apply to --engine spark, which builds and publishes whole builds only: run "
            "`cinemart build --engine spark` without it (a partial `dbt build --target spark --select ...` "
            "is never published)")
    require_engine_can_read(args.engine, args.ratings, args.movies)
    if args.engine == "spark":  # Java and the master, before the data and before dbt starts a JVM
        check_spark_environment(os.environ.get("CINEMART_SPARK_MASTER", "local[*]"))
    layout, n_ratings = _resolve_data(args, extra)
    project = find_project_dir()
    if args.engine == "spark":
        return _build_on_spark(layout, project, extra, wait=args.wait)
    memory = _plan_memory(n_ratings)
    paths = WarehousePaths.for_project(project)
    with BuildLock(paths, wait=args.wait):
        if args.select:  # on the whole working copy: the selection and everything it invalidates
            require_whole(paths, f"build --select {' '.join(args.select)}")
            select = downstream_closure(layout, args.select, project_dir=project, database=paths.build,
                                        extra_vars=extra)
            # eager: every test touching a rebuilt table runs; its other tables are in the whole working copy
            result = run_dbt("build", layout, project_dir=project, database=paths.build, extra_vars=extra,
                             select=select, indirect_selection="eager", extra_env=memory)
        else:  # everything fresh; only the append-only history is carried from the earlier files
            result = run_dbt("build", layout, project_dir=project, database=prepare_fresh_build(paths),
                             extra_vars=extra, extra_env={**carry_from(paths), **memory})
            drop_replaced(paths)
        if result.returncode != 0:
            raise WarehouseError(f"dbt build failed (exit {result.returncode}); its output above names the failing "
                                 f"node. Nothing was published: {paths.serving} is unchanged")
        if args.select:
            mark_whole(paths)
        serving, report = _publish_with_report(paths)
    _print_published(serving, report)
    return 0


def _resolve_data(args: argparse.Namespace, extra: dict) -> tuple[Layout | OwnData, int]:
    """The data to build from (a MovieLens layout, or own data with --ratings), checked; its rating rows."""
    if args.ratings is None:
        if args.movies or args.columns:
            raise OwnDataError("--movies and --columns go with --ratings FILE")
        folder = fetch(args.name, args.dest, source=args.source, reporter=ConsoleReporter())
        layout = detect_layout(folder, movies_encoding=extra.get("movies_encoding")
                               or os.environ.get(MOVIES_ENCODING_ENV))
        return layout, check_dataset(layout).files[0].n_data_lines
    if args.name or args.source:
        raise OwnDataError("--ratings builds from own data: give it without a MovieLens NAME or --from")
    own = OwnData.from_arguments(args.ratings, args.movies, args.columns)
    n_rows = own.check()
    implicit = own.implicit_feedback()
    if implicit:
        print(implicit, flush=True)
    return own, n_rows


def _plan_memory(n_ratings: int) -> dict[str, str]:
    """The build's memory plan (cinemart.memory), from the ratings file's line count: DuckDB's share for dbt's env.

    Refuses, before dbt starts, a dataset the budget cannot hold."""
    plan = plan_memory(n_ratings, duckdb_limit=fixed_duckdb_limit())
    loading = f" ({gib(plan.duckdb_loading)} while the ratings load)" if plan.duckdb_loading > plan.duckdb else ""
    print(f"memory budget {gib(plan.budget)} ({MEMORY_LIMIT_ENV}): build process and model plugin "
          f"~{gib(plan.plugin)} for {plan.n_ratings:,} ratings, DuckDB {gib(plan.duckdb)}{loading}", flush=True)
    return {DUCKDB_MEMORY_LIMIT_ENV: plan.duckdb_setting, DUCKDB_LOAD_MEMORY_LIMIT_ENV: plan.duckdb_loading_setting}


def _publish_with_report(paths: WarehousePaths) -> tuple[Path, Path]:
    """Publish the whole working copy and its report together, under the caller's BuildLock.

    The report is rendered from the working copy first (the same tables), then
    the warehouse and the report are each renamed into place, back to back; if
    publishing fails, the rendered report is removed and the served one stays.
    """
    report = paths.serving.with_name("report.html")
    with write_atomically(report) as staged_report:
        write_report(paths.build, staged_report)
        serving = publish(paths)
    return serving, report


def _print_published(serving: Path, report: Path) -> None:
    print(f"\nwarehouse (published, open read-only): {serving}")
    for name, value in headline(serving):
        print(f"  {name:<28} {value}")
    print(f"  {'report':<28} {report}")


def spark_build_lock_paths(project: Path) -> WarehousePaths:
    """Where the Spark engine's build lock lives: `.build.lock` in the Spark warehouse folder.

    A warehouse the driver names by URL (s3a://, hdfs://, dbfs:/) has no local
    folder to lock: the lock is then the checkout's warehouse/spark folder, so
    it serializes the builds started from this checkout."""
    warehouse = spark_warehouse_dir()
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", warehouse) and not warehouse.lower().startswith("file:"):
        return WarehousePaths(WarehousePaths.for_project(project).root / "spark")
    root = Path(warehouse.removeprefix("file://").removeprefix("file:"))
    return WarehousePaths(root if root.is_absolute() else project / root)


def _build_on_spark(layout, project: Path, extra: dict, wait: bool = False) -> int:
    """`dbt build --target spark` (the whole DAG, Python models in the session), then publish_spark_build,
    both in this process and under the Spark warehouse's build lock: one JVM and SparkSession for the two
    commands, and one Spark build at a time.

    dbt writes the build schema; the publish step copies it into a new version
    and repoints the serving schema's views, only after every model and test
    passed (publish_spark_build itself refuses a build schema whose last dbt
    command was not a green full `dbt build`). Paths come from
    spark_warehouse_dir(), DBT_TARGET_PATH and DBT_LOG_PATH as dbt reads them
    (profiles.yml), so isolated builds can run side by side.
    """
    warehouse = spark_warehouse_dir()
    scratch = WarehousePaths.for_project(project).build  # unused by the spark target, kept off the served file
    with BuildLock(spark_build_lock_paths(project), wait=wait):
        result = run_dbt("build", layout, project_dir=project, database=scratch, extra_vars=extra,
                         target="spark", in_process=True)
        if result.returncode != 0:
            raise WarehouseError(f"dbt build --target spark failed (exit {result.returncode}); its output above "
                                 "names the failing node. Nothing was published: the serving schema is unchanged")
        # The publish step's artifacts go to <target>/publish, so target/run_results.json stays the build's
        # (what `dbt build` users and bench_engines read).
        target_path = project / os.environ.get("DBT_TARGET_PATH", "target")
        published = run_dbt("run-operation publish_spark_build", layout, project_dir=project, database=scratch,
                            extra_vars=extra, target="spark",
                            extra_env={"DBT_TARGET_PATH": str(target_path / "publish")}, in_process=True)
        if published.returncode != 0:
            raise WarehouseError(f"dbt run-operation publish_spark_build failed (exit {published.returncode}); "
                                 "the serving schema still serves the previous version")
    serving = extra.get("spark_serving_schema") or os.environ.get("CINEMART_SPARK_SERVING_SCHEMA", "cinemart")
    print(f"\nwarehouse (published): Spark schema {serving}, tables and metastore under {warehouse}")
    print(f"  select * from {serving}.recommend_for(1, 10)")
    return 0


def _add_rollback(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "rollback",
        help="serve the previously published warehouse again (run twice to undo)",
    )
    parser.set_defaults(handler=_run_rollback)


def _run_rollback(args: argparse.Namespace) -> int:
    paths = WarehousePaths.for_project(find_project_dir())
    with BuildLock(paths):
        serving = rollback(paths)
        with write_atomically(serving.with_name("report.html")) as report:  # it follows the warehouse it describes
            write_report(serving, report)
    print(serving)
    return 0


def _add_publish(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "publish",
        help="publish the dbt working copy (warehouse/build) after a green plain `dbt build`",
        description="Copy the working copy dbt writes over the served warehouse/cinemart.duckdb atomically, "
        "with its report, only if the last dbt command that wrote it was a green full `dbt build`.",
    )
    parser.add_argument("--wait", action="store_true",
                        help="if a build is running, wait for it instead of failing")
    parser.set_defaults(handler=_run_publish)


def _run_publish(args: argparse.Namespace) -> int:
    paths = WarehousePaths.for_project(find_project_dir())
    with BuildLock(paths, wait=args.wait):
        require_whole(paths, "publish")
        serving, report = _publish_with_report(paths)
    _print_published(serving, report)
    return 0


def _add_report(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "report",
        help="write one self-contained HTML report of the warehouse (opens offline)",
        description="Read the warehouse read-only and write a single HTML file with inline charts: "
        "dataset overview, EDA, ALS tuning, ranking evaluation, sample recommendations and similar movies.",
    )
    parser.add_argument("--database", type=Path, metavar="PATH",
                        help="warehouse to read (default: the published warehouse/cinemart.duckdb)")
    parser.add_argument("--out", type=Path, metavar="PATH",
                        help="HTML file to write (default: report.html beside the database)")
    parser.set_defaults(handler=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    database = args.database or database_path(find_project_dir())
    print(write_report(database, args.out or database.with_name("report.html")))
    return 0


def _add_recommend(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "recommend",
        help="top movies for new ratings (fold-in, no retrain) or for a user id",
        description="--ratings: solve a new user's factors from movie_id:rating pairs against the served model "
        "(no retrain) and print their top movies; --user: print what recommend_for serves that id (its list, "
        "or the popular_movies fallback for an id the model does not know or cannot personalise). "
        "Reads the warehouse read-only.",
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--ratings", metavar="ID:RATING,...", help="e.g. 260:5,1196:4.5,1210:4 (ratings 0.5..5)")
    who.add_argument("--user", type=int, metavar="ID", help="a user id of the warehouse (or any other id)")
    who.add_argument("--imdb", type=Path, metavar="FILE",
                     help="a person's IMDb ratings export (Const, Your Rating 1-10), matched by IMDb id")
    who.add_argument("--letterboxd", type=Path, metavar="FILE",
                     help="a person's Letterboxd ratings.csv (Name, Year, Rating in half stars), matched by title "
                          "and year")
    parser.add_argument("-n", type=int, default=10, metavar="N", help="list length (default 10)")
    parser.add_argument("--warehouse", type=Path, metavar="PATH",
                        help="warehouse to read (default: the published warehouse/cinemart.duckdb)")
    parser.set_defaults(handler=_run_recommend)


def _run_recommend(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise RecommendError(f"-n must be at least 1, got {args.n}")
    database = args.warehouse or database_path(find_project_dir())
    if args.imdb or args.letterboxd:
        return _recommend_from_export("imdb" if args.imdb else "letterboxd", args.imdb or args.letterboxd,
                                      database, args.n)
    if args.ratings is not None:
        ratings = parse_ratings(args.ratings)
        recommendations = ServedModel.load(database).recommend(ratings, args.n)
    else:
        recommendations = served_list(database, args.user, args.n)
    _print_recommendations(recommendations)
    return 0


def _recommend_from_export(kind: str, path: Path, database: Path, n: int) -> int:
    """Match a person's export to the warehouse, fold them in, print the match report and their list."""
    served = ServedModel.load(database)
    matched = match_export(kind, read_export(kind, path), database, served.rated)
    print(f"matched {len(matched.ratings)} of {matched.n_rows} rated movies in {path.name}")
    for row in matched.unmatched:
        print(f"  not matched: {row.label}: {row.reason}")
    if not matched.ratings:
        raise RecommendError(f"--{kind}: none of the {matched.n_rows} movies matched the warehouse's movies")
    recommendations = served.recommend(matched.ratings, n)
    liked = (served.because_you_liked(matched.ratings, recommendations)
             if recommendations and recommendations[0].source == "fold_in" else [None] * len(recommendations))
    print()
    _print_recommendations(recommendations, [served.titles.get(m, str(m)) if m is not None else "" for m in liked])
    return 0


def _print_recommendations(recommendations: Sequence[Recommendation], because: Sequence[str] = ()) -> None:
    width = min(60, max([len("title"), *(len(r.title) for r in recommendations)]))
    tail = f"{'source':<16}  because you liked" if because else "source"
    print(f"{'rank':>4}  {'movie_id':>8}  {'title':<{width}}  {'score':>8}  {tail}")
    for r, liked in zip(recommendations, because or [""] * len(recommendations)):
        title = r.title if len(r.title) <= width else r.title[:width - 1] + "…"
        print(f"{r.rank:>4}  {r.movie_id:>8}  {title:<{width}}  {r.score:>8.4f}  {r.source:<16}  {liked}".rstrip())


def _add_bi(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "bi",
        help="serve the shipped Superset dashboard on the published warehouse (127.0.0.1)",
        description="Zip the Superset bundle (bi/superset/bundle) with the database pointed read-only at the "
        "published warehouse, import it into a fresh metadata database and serve Superset on 127.0.0.1 "
        "until Ctrl-C. Needs Superset's own venv (`make bi-setup`; `make bi` does both).",
    )
    parser.add_argument("--superset-venv", type=Path, default=Path(".bi-venv"), metavar="PATH",
                        help="the venv Superset is installed in (default: .bi-venv of the project)")
    parser.add_argument("--home", type=Path, default=Path(".bi-home"), metavar="PATH",
                        help="Superset's config, metadata database and log (default: .bi-home of the project)")
    parser.add_argument("--port", type=int, default=8088, help="port on 127.0.0.1 (default 8088)")
    parser.add_argument("--no-serve", action="store_true", help="set up and import, then exit")
    parser.set_defaults(handler=_run_bi)


def _run_bi(args: argparse.Namespace) -> int:
    project = find_project_dir()
    warehouse = database_path(project)
    if not warehouse.is_file():
        raise WarehouseError(f"no published warehouse at {warehouse}: run `make run` (cinemart build) first")
    site = SupersetSite(project / args.superset_venv, project / args.home, args.port)
    site.check_installed()
    bundle = write_bundle(project / BUNDLE_SOURCE, warehouse, site.home / "cinemart_dashboard.zip")
    site.initialise(bundle)
    if args.no_serve:
        print(f"Superset is set up in {site.home}; `cinemart bi` serves it")
        return 0
    server = site.start()
    # A terminated `cinemart bi` (kill, a service manager) must take its server down with it, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(f"Superset: {site.dashboard_url}  (login {ADMIN_USER} / {ADMIN_PASSWORD}; Ctrl-C stops it; log {site.log})")
    try:
        return server.wait()
    finally:
        stop(server)


COMMANDS: list[Register] = [_add_data, _add_build, _add_publish, _add_rollback, _add_report, _add_recommend, _add_bi, add_serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Cinemart: MovieLens recommendation warehouse tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (argparse usage errors included)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0)
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
