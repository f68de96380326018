"""One memory budget for a build: DuckDB's share and the model plugin's arrays together.

A DuckDB build runs in one process: DuckDB's buffer pool (its `memory_limit`,
beyond which it spills sorts and joins to disk) and the model plugin's NumPy
arrays (the split ratings, the sparse matrices each fit builds, factors,
score blocks) live side by side. Neither knows about the other, so unplanned,
a dataset too large for the machine would fail as an OOM kill halfway through
the build, after the load and the EDA. Here the two are planned together, within
CINEMART_MEMORY_LIMIT (default: 75% of the memory this process may use, the
rest left to the OS page cache and other programs):

* the plugin's peak is estimated from the number of ratings
  (`PLUGIN_BYTES_PER_RATING`, measured by `benchmarks/bench_scale.py`);
* DuckDB gets what is left, at most a third of the budget (it spills; the
  arrays cannot; on 24 GiB that is ~6 GB, the profile's default for plain dbt), unless
  CINEMART_DUCKDB_MEMORY_LIMIT fixes it; while the ratings load, before any
  array exists, it gets that third even when the arrays will leave it less
  (`duckdb_loading`, applied by macros/memory_limits.sql);
* when what is left is under `DUCKDB_MIN_BYTES`, the build stops before any
  work with one line saying what it needs and which setting to change.

`cinemart build` plans from the ratings file's line count (the preflight
counts it) and hands DuckDB its share. A plain `dbt build` cannot choose
DuckDB's limit (the profile has set it), so `check_beside_duckdb` refuses only
data the budget cannot hold at all and warns when DuckDB's limit leaves the
arrays short, before the first fit reads the ratings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MEMORY_LIMIT_ENV = "CINEMART_MEMORY_LIMIT"
DUCKDB_MEMORY_LIMIT_ENV = "CINEMART_DUCKDB_MEMORY_LIMIT"
#: Set by `cinemart build` only: DuckDB's limit for the models that load the ratings (macros/memory_limits.sql).
DUCKDB_LOAD_MEMORY_LIMIT_ENV = "CINEMART_DUCKDB_LOAD_MEMORY_LIMIT"
GIB = 1 << 30
MIB = 1 << 20

#: The default budget's share of the memory this process may use.
DEFAULT_SHARE = 0.75
#: The interpreter, dbt, DuckDB's and numba's code and the libraries, before any data: a round
#: allowance (the whole ml-latest-small build, 100k ratings, peaked at 1.15 GiB in bench_engines.py).
PROCESS_BASE_BYTES = 1 * GIB
#: Peak resident bytes per clean rating above the process base, while the
#: models run: the whole build process peaked at 4.62 GiB in those stages at
#: synthetic 25M (benchmarks/bench_scale.py, benchmarks/RESULTS.md "Memory plan"). That
#: figure includes the pages DuckDB still holds from loading, and the plan
#: adds DuckDB's share on top, so it errs on the safe side. (The loading
#: stages peak higher, 5.74 GiB, but that is DuckDB working within its share.)
PLUGIN_BYTES_PER_RATING = 156
#: DuckDB's share is at most budget / this, when the user does not fix it.
DUCKDB_SHARE_DIVISOR = 3
#: Below this DuckDB spills even the staging models' sorts: a build would crawl, not fail.
DUCKDB_MIN_BYTES = 512 * MIB

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


class MemoryBudgetError(RuntimeError):
    """The data cannot fit the memory budget; the message says what it needs and what to change."""


def parse_size(text: str, name: str) -> int:
    """'16GB', '1.5 GiB', '512MB' or plain bytes -> bytes.

    Units as DuckDB reads them (so one string means the same to both): KB, MB,
    GB and TB are powers of 1000, KiB, MiB, GiB and TiB powers of 1024.
    """
    match = _SIZE.match(text)
    if not match:
        raise MemoryBudgetError(f"{name} must be a size such as 16GB, 512MB or 1.5GiB, got {text!r}")
    number, prefix, binary = float(match.group(1)), match.group(2).lower(), bool(match.group(3))
    return int(number * (1024 if binary else 1000) ** _POWERS[prefix])


def available_memory() -> int:
    """RAM this process may use: the machine's, or its cgroup's limit when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def memory_budget() -> int:
    """CINEMART_MEMORY_LIMIT in bytes, else DEFAULT_SHARE of `available_memory()`."""
    configured = os.environ.get(MEMORY_LIMIT_ENV)
    if configured:
        return parse_size(configured, MEMORY_LIMIT_ENV)
    return int(available_memory() * DEFAULT_SHARE)


def gib(n_bytes: float) -> str:
    return f"{n_bytes / GIB:.1f} GiB"


@dataclass(frozen=True)
class MemoryPlan:
    """How a build of `n_ratings` ratings splits `budget` bytes."""

    n_ratings: int
    budget: int
    plugin: int  # estimated peak of the model plugin's arrays
    duckdb: int  # DuckDB's memory_limit
    duckdb_loading: int  # DuckDB's memory_limit while the ratings load, before any array exists

    @property
    def duckdb_setting(self) -> str:
        """DuckDB's memory_limit value (whole MiB)."""
        return f"{self.duckdb // MIB}MiB"

    @property
    def duckdb_loading_setting(self) -> str:
        """DuckDB's memory_limit for the loading models (macros/memory_limits.sql), whole MiB."""
        return f"{self.duckdb_loading // MIB}MiB"


def plan_memory(n_ratings: int, *, budget: int | None = None, duckdb_limit: int | None = None) -> MemoryPlan:
    """Split the budget for `n_ratings` ratings, or raise MemoryBudgetError before any work.

    `duckdb_limit` is DuckDB's share when it is fixed (CINEMART_DUCKDB_MEMORY_LIMIT,
    or the limit a running DuckDB reports); None lets the plan choose it.
    """
    budget = memory_budget() if budget is None else budget
    plugin = PROCESS_BASE_BYTES + PLUGIN_BYTES_PER_RATING * n_ratings
    left = budget - plugin
    duckdb = min(left, budget // DUCKDB_SHARE_DIVISOR) if duckdb_limit is None else duckdb_limit
    if left < max(duckdb, DUCKDB_MIN_BYTES):
        needed = plugin + max(duckdb, DUCKDB_MIN_BYTES)
        lower = "" if duckdb_limit is None else f", lower DuckDB's memory_limit ({DUCKDB_MEMORY_LIMIT_ENV})"
        raise MemoryBudgetError(
            f"{n_ratings:,} ratings need about {gib(needed)} ({gib(plugin)} for the build process and the model "
            f"plugin's arrays, {gib(needed - plugin)} for DuckDB) but the memory budget is {gib(budget)}: raise "
            f"{MEMORY_LIMIT_ENV} (this machine has {gib(available_memory())}){lower}, or build a smaller dataset")
    # Before the first fit nothing but the process base sits beside DuckDB: it may take the share it would
    # get with no arrays at all (a limit the user fixed holds throughout).
    loading = max(duckdb, min(budget - PROCESS_BASE_BYTES, budget // DUCKDB_SHARE_DIVISOR)) \
        if duckdb_limit is None else duckdb_limit
    return MemoryPlan(n_ratings, budget, plugin, duckdb, loading)


def fixed_duckdb_limit() -> int | None:
    """CINEMART_DUCKDB_MEMORY_LIMIT in bytes when the user set it."""
    configured = os.environ.get(DUCKDB_MEMORY_LIMIT_ENV)
    return parse_size(configured, DUCKDB_MEMORY_LIMIT_ENV) if configured else None


def check_beside_duckdb(n_ratings: int, duckdb_limit: int) -> MemoryPlan:
    """The plain-dbt check, run by the model plugin beside a DuckDB already configured.

    Refuses (MemoryBudgetError) what `plan_memory` refuses; when DuckDB's own
    limit plus the arrays exceed the budget, says so in the build log and goes
    on: DuckDB's limit is a ceiling it may never reach, and a DuckDB
    connection's default (80% of RAM) would otherwise refuse every build.
    """
    plan = plan_memory(n_ratings)
    if plan.plugin + duckdb_limit > plan.budget:
        print(f"cinemart: warning: DuckDB's memory_limit ({gib(duckdb_limit)}) and the model plugin's "
              f"~{gib(plan.plugin)} for {n_ratings:,} ratings exceed the memory budget {gib(plan.budget)} "
              f"({MEMORY_LIMIT_ENV}): set {DUCKDB_MEMORY_LIMIT_ENV} to at most "
              f"{gib(plan.budget - plan.plugin)} (cinemart build does)", flush=True)
    return plan
