"""Plain dbt on the DuckDB working copy: one line that says what to do, never a raw DuckDB error.

profiles.yml lists this module as a dbt-duckdb plugin of the `dev` output, so
dbt-duckdb calls `Plugin.update_connection_config` just before it opens the
working copy read-write, once per dbt process. Three things can stop that open
with an error from deep inside DuckDB, and each gets a sentence instead:

- the working copy's folder does not exist yet (a fresh clone): it is created;
- a `cinemart build` holds the build lock of the warehouse folder (it builds,
  then publishes this very file): the sentence names its pid;
- another process holds DuckDB's own lock on the file (a plain dbt command
  still running, a notebook opened it read-write): the sentence names it.

`cinemart build` runs dbt under its own build lock and says so in the
environment (publish.BUILD_LOCK_HELD_ENV), so its dbt processes pass.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import Any

from cinemart.warehouse.publish import BUILD_LOCK_HELD_ENV, WarehousePaths, holder_of


class WorkingCopyBusyError(RuntimeError):
    """The working copy cannot be opened read-write now; the message says who holds it."""


def check_working_copy(database: Path) -> None:
    """Make `database` openable read-write by dbt, or raise WorkingCopyBusyError in one line.

    Only a file at `<warehouse>/build/<name>` has a build lock beside its
    warehouse folder; any other path is checked for DuckDB's lock alone.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    warehouse = WarehousePaths(database.parent.parent)
    if database.parent.name == "build" and os.environ.get(BUILD_LOCK_HELD_ENV) != str(warehouse.root.resolve()):
        holder = _build_lock_holder(warehouse.lock)
        if holder is not None:
            raise WorkingCopyBusyError(
                f"{database} is being built by `cinemart build` (pid {holder}), which publishes it when green: "
                "wait for it to finish, then run dbt again")
    holder = holder_of(database)
    if holder is not None:
        raise WorkingCopyBusyError(
            f"{database} is open read-write in {holder}: wait for that dbt command to finish or close that "
            "connection (readers open the published warehouse/cinemart.duckdb read-only), then run dbt again")


def _build_lock_holder(lock: Path) -> str | None:
    """The pid recorded in a held build lock, None when nobody holds it."""
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise
            return os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


try:  # dbt-duckdb is a dependency of cinemart; keep the pure check importable without it
    from dbt.adapters.duckdb.plugins import BasePlugin
    from dbt_common.exceptions import DbtRuntimeError
except ImportError:  # pragma: no cover
    BasePlugin = object  # type: ignore[assignment,misc]
    DbtRuntimeError = RuntimeError  # type: ignore[assignment,misc]


class Plugin(BasePlugin):
    """The dbt-duckdb plugin profiles.yml names: `check_working_copy` before the file is opened."""

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        path = str(creds.path)
        if path == ":memory:" or ":" in path.split("/")[0]:  # in memory, md:, s3:...
            return
        try:
            check_working_copy(Path(path))
        except WorkingCopyBusyError as exc:
            raise DbtRuntimeError(str(exc)) from None
