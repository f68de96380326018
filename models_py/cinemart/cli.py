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
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cinemart import __version__
from cinemart.data.catalog import RELEASES, UnknownDatasetError
from cinemart.data.fetch import (
    BASE_URL_ENV,
    DATA_DIR_ENV,
    DEFAULT_DEST,
    ConsoleReporter,
    FetchError,
    fetch,
)
from cinemart.data.layout import DatasetLayoutError, detect_layout
from cinemart.publish import BuildLock, PublishError, WarehousePaths, prepare_build_file, publish, rollback
from cinemart.warehouse import WarehouseError, find_project_dir, headline, run_dbt

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
    WarehouseError,
    PublishError,
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


DATA_ACTIONS: list[Register] = [_add_fetch, _add_detect]


def _add_data(commands: Subcommands) -> None:
    parser = commands.add_parser("data", help="get MovieLens data onto disk")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add in DATA_ACTIONS:
        add(actions)


def _add_build(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "build",
        help="get the data (fetch or local copy), then dbt build every table",
        description="Resolve the dataset like `cinemart data fetch`, detect its layout, run `dbt build` "
        "and print where the warehouse is with a few headline figures.",
    )
    parser.add_argument("name", metavar="NAME", nargs="?", default="ml-latest-small",
                        help=f"one of: {', '.join(RELEASES)} (default: ml-latest-small)")
    parser.add_argument("--from", dest="source", metavar="DIR",
                        help=f"use this local copy without network access (default: ${DATA_DIR_ENV})")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, metavar="DIR",
                        help="folder that receives downloads (default: ./data)")
    parser.add_argument("--vars", dest="dbt_vars", default="{}", metavar="JSON",
                        help='extra dbt vars as a JSON object, e.g. \'{"als_grid": "spark_seed"}\'')
    parser.add_argument("--select", nargs="+", default=[], metavar="SELECTOR", help="dbt node selection")
    parser.add_argument("--wait", action="store_true",
                        help="if another build is running, wait for it instead of failing")
    parser.set_defaults(handler=_run_build)


def _run_build(args: argparse.Namespace) -> int:
    try:
        extra = json.loads(args.dbt_vars)
    except json.JSONDecodeError as exc:
        raise WarehouseError(f"--vars must be a JSON object: {exc}") from None
    if not isinstance(extra, dict):
        raise WarehouseError(f"--vars must be a JSON object, got {args.dbt_vars!r}")
    folder = fetch(args.name, args.dest, source=args.source, reporter=ConsoleReporter())
    layout = detect_layout(folder)
    project = find_project_dir()
    paths = WarehousePaths.for_project(project)
    with BuildLock(paths, wait=args.wait):
        build_file = prepare_build_file(paths)
        result = run_dbt("build", layout, project_dir=project, database=build_file,
                         extra_vars=extra, select=args.select)
        if result.returncode != 0:
            raise WarehouseError(f"dbt build failed (exit {result.returncode}); its output above names the failing "
                                 f"node. Nothing was published: {paths.serving} is unchanged")
        serving = publish(paths)
    print(f"\nwarehouse (published, open read-only): {serving}")
    for name, value in headline(serving):
        print(f"  {name:<28} {value}")
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
    print(serving)
    return 0


COMMANDS: list[Register] = [_add_data, _add_build, _add_rollback]


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
