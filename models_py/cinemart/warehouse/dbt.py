"""Run the dbt project against one dataset folder.

dbt needs to know where the files are and in which layout; users should not
have to spell that out as `--vars`. This module detects the layout, runs
`dbt build` in a subprocess (so its output streams to the terminal as the
build's progress) and reads a few headline figures back for the summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import duckdb

from cinemart.data.layout import Layout
from cinemart.data.own import OwnData
from cinemart.tuning.explicit import PRESETS as EXPLICIT_PRESETS, require_methods
from cinemart.tuning.grid import resolve_grid
from cinemart.warehouse.publish import WarehousePaths


class WarehouseError(RuntimeError):
    """The build could not start or did not succeed."""


@dataclass(frozen=True)
class BuildResult:
    database: Path
    returncode: int
    output: str = ""  # dbt's stdout when captured


def find_project_dir(start: Path | None = None) -> Path:
    """The dbt project root: CINEMART_PROJECT_DIR, else the nearest folder up from `start` with dbt_project.yml."""
    configured = os.environ.get("CINEMART_PROJECT_DIR")
    if configured:
        return Path(configured).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dbt_project.yml").is_file():
            return folder
    package_root = Path(__file__).resolve().parents[3]
    if (package_root / "dbt_project.yml").is_file():
        return package_root
    raise WarehouseError(f"no dbt_project.yml in {here} or its parents; run from the Cinemart checkout")


def database_path(project_dir: Path) -> Path:
    """The published (serving) warehouse file readers open; see cinemart.publish."""
    return WarehousePaths.for_project(project_dir).serving


def _dbt_executable() -> str:
    beside_python = Path(sys.executable).parent / "dbt"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("dbt")
    if found is None:
        raise WarehouseError("dbt is not installed in this environment (pip install -e . installs it)")
    return found


#: Vars that mean something on one engine only (mirrors macros/validate_vars.sql,
#: which refuses them inside dbt; the CLI refuses them before any work).
ENGINE_ONLY_VARS = {"spark_serving_schema": "spark"}
#: Vars whose other values only one engine honours: var -> (engine, the values every engine takes).
#: MLlib ALS has no solver or precision option: it solves the normal equations by Cholesky
#: (NNLS only with nonnegative, which cinemart never sets) into float32 factors; als_solver `auto`
#: is Cholesky there. Mirrors `validate_target_vars` (macros/validate_vars.sql), which refuses the
#: same in a plain `dbt build`.
ENGINE_ONLY_VALUES = {"als_solver": ("duckdb", ("auto", "cholesky")), "als_dtype": ("duckdb", ("float32",))}


def check_engine_vars(extra_vars: dict, engine: str) -> None:
    """One line naming the var when a var (or a value) of another engine is given."""
    for name, only in ENGINE_ONLY_VARS.items():
        if name in extra_vars and engine != only:
            raise WarehouseError(f"var {name} applies to --engine {only} only, not --engine {engine}")
    if engine == "spark" and "als_grid" in extra_vars:
        try:
            require_methods(*resolve_grid("als_grid", extra_vars["als_grid"], EXPLICIT_PRESETS), ("als",))
        except ValueError as error:
            raise WarehouseError(str(error)) from None
    for name, (only, common) in ENGINE_ONLY_VALUES.items():
        if name in extra_vars and engine != only and str(extra_vars[name]) not in common:
            raise WarehouseError(f"var {name} {json.dumps(extra_vars[name])} applies to --engine {only} only: "
                                 f"MLlib ALS on --engine {engine} solves by Cholesky with float32 factors "
                                 f"(leave {name} out, or set {common[-1]!r})")


def run_dbt(
    command: str,
    layout: Layout | OwnData,
    *,
    project_dir: Path,
    database: Path,
    extra_vars: dict | None = None,
    select: Sequence[str] = (),
    target_dir: Path | None = None,
    target: str | None = None,
    extra_env: dict[str, str] | None = None,
    capture: bool = False,
    indirect_selection: str = "cautious",
    in_process: bool = False,
) -> BuildResult:
    """Run `dbt <command>` (build, run, test, docs generate…) for the dataset in `layout`.

    `target` picks a profiles.yml output (e.g. "spark"; default: the profile's
    default, DuckDB). DBT_TARGET_PATH / DBT_LOG_PATH in the environment reach
    dbt unchanged unless `target_dir` overrides them. `extra_env` adds to the
    environment (CINEMART_CARRY_FROM); `capture` keeps dbt's stdout in the result.

    `in_process` runs dbt in this Python process (dbtRunner) instead of a
    subprocess: with dbt-spark's `method: session`, successive commands then
    share one JVM and SparkSession (the Spark engine's build and its publish
    step), instead of each starting Spark and the Hive metastore again.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    dbt_vars = {**layout.dbt_vars(), **(extra_vars or {})}
    argv = [
        _dbt_executable(), *command.split(),
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--vars", json.dumps(dbt_vars),
    ]
    if target is not None:
        argv += ["--target", target]
    if target_dir is not None:
        argv += ["--target-path", str(target_dir / "target"), "--log-path", str(target_dir / "logs")]
    if select:
        # cautious by default: a test runs only when all its models are selected,
        # so a partial build on a file that lacks the rest never tests tables it did not build
        argv += ["--select", *select, "--indirect-selection", indirect_selection]
    overrides = {"CINEMART_DUCKDB_PATH": str(database), **(extra_env or {})}
    if in_process:
        return BuildResult(database=database, returncode=_invoke_in_process(argv[1:], project_dir, overrides))
    env = {**os.environ, **overrides}
    completed = subprocess.run(argv, cwd=project_dir, env=env, check=False, capture_output=capture, text=True)
    return BuildResult(database=database, returncode=completed.returncode, output=completed.stdout or "")


@contextlib.contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ for the `with` body, the previous values (or their absence) restored after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _invoke_in_process(args: list[str], project_dir: Path, overrides: dict[str, str]) -> int:
    """dbt `args` through dbtRunner, run from `project_dir` (as the subprocess is: relative paths in
    profiles.yml resolve there) with `overrides` in the environment for the call; dbt's exit code."""
    from dbt.cli.main import dbtRunner

    with temporary_environment(overrides), contextlib.chdir(project_dir):
        result = dbtRunner().invoke(args)
    # dbt's own codes: 0 success, 1 a node failed, 2 dbt itself could not run
    return 0 if result.success else (2 if result.exception is not None else 1)


def downstream_closure(layout: Layout | OwnData, select: Sequence[str], *, project_dir: Path, database: Path,
                       extra_vars: dict | None = None) -> list[str]:
    """`--select` arguments for the selection and everything downstream of it (`node+` per node).

    A partial build that left a descendant untouched could serve, say,
    user_factors and user_recommendations from different training runs. dbt
    resolves the user's selectors (any syntax it accepts), then each node gets `+`.
    """
    listed = run_dbt("ls --resource-type model --resource-type seed --resource-type snapshot --output name --quiet",
                     layout, project_dir=project_dir, database=database, extra_vars=extra_vars, select=select,
                     capture=True)
    if listed.returncode != 0:
        raise WarehouseError(f"dbt ls could not resolve --select {' '.join(select)}: {listed.output.strip()}")
    names = [line.strip() for line in listed.output.splitlines() if line.strip()]
    if not names:
        raise WarehouseError(f"--select {' '.join(select)} matches no model, seed or snapshot")
    return [f"{name}+" for name in names]


def headline(database: Path) -> list[tuple[str, str]]:
    """Figures worth printing after a build, read from the finished warehouse."""
    queries = [
        ("users", "dataset_overview", "select n_users from dataset_overview"),
        ("movies (rated / unrated)", "dataset_overview", "select format('{:,} ({:,} / {:,})', n_movies, n_rated_movies, n_unrated_movies) "
                                     "from dataset_overview"),
        ("ratings", "dataset_overview", "select case when feedback = 'implicit' then format('{:,} interactions "
                                        "(implicit feedback)', n_ratings) else format('{:,}', n_ratings) end "
                                        "from dataset_overview"),
        ("quarantined ratings", "dataset_overview", "select n_quarantined_ratings from dataset_overview"),
        ("min ratings per user", "dataset_overview", "select min_ratings_per_user from dataset_overview"),
        ("explicit ALS test RMSE", "als_model_runs", "select case when not_built_reason is not null then "
                                   "'not built: ' || not_built_reason when method = 'bayesian' then format("
                                   "'{:.4f} (Bayesian, rank {}, {} samples{})', test_rmse, rank, iterations - burn_in, "
                                   "{timed}) else format('{:.4f} (rank {}, reg {}, {} iterations{})', test_rmse, rank, "
                                   "reg, iterations, {timed}) end from als_model_runs order by finished_at desc limit 1"
                                   .replace("{timed}", "case when time_biases then ', time biases' else '' end")),
        ("served model precision@10", "ranking_evaluation", "select format('{:.4f} ({}{})', precision_at_10, model, "
                                      "case when is_user_sample then format(', {:,} of {:,} test users', n_users_evaluated, "
                                      "n_users_eligible) else '' end) from ranking_evaluation where is_served"),
    ]
    figures = []
    with duckdb.connect(str(database), read_only=True) as con:
        tables = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
        for label, table, sql in queries:
            if table in tables:  # a partial build (--select) may not have made it
                row = con.execute(sql).fetchone()
                if row is not None:
                    figures.append((label, f"{row[0]:,}" if isinstance(row[0], int) else str(row[0])))
    return figures
