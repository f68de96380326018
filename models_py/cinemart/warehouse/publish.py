"""A working copy for dbt, a served copy for readers; only whole warehouses are published.

DuckDB lets one process open a file read-write or many read-only, never both,
so dbt cannot write the file a BI tool has open. dbt therefore always writes
`build/cinemart.duckdb`, the working copy (profiles.yml's dev path): `cinemart
build` and plain `dbt run/test/build/show/docs` work on that same file, so after
a build every dbt command sees the warehouse just built. Readers open
`cinemart.duckdb`, which nothing ever opens read-write: publishing copies the
working copy beside it (`copy_file_range`, a reflink on btrfs/XFS, a full copy
elsewhere) and renames the copy over it atomically. A reader that has the old
file open keeps its inode until it reconnects; the replaced version is kept as
`previous/cinemart.duckdb` for `cinemart rollback`.

Only a whole warehouse is published: the working copy records every writing
dbt command in `cinemart_meta.dbt_invocations` (macros/working_copy), and
`whole` is true only after a green full `dbt build`, or a green `cinemart
build --select` (which rebuilds everything downstream of its selection on a
whole working copy). A full `cinemart build` starts from an empty file; the
append-only tables' history is carried by dbt's on-run-start through read-only
ATTACHes of the served file, previous/ and the old working copy (`carry_from`),
not by copying a whole file. A killed build leaves the served file as it was:
nothing touches it before the rename.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

FILE_NAME = "cinemart.duckdb"


class PublishError(RuntimeError):
    """Publishing or rolling back cannot proceed; the message says why."""


class BuildInProgressError(PublishError):
    """Another build holds the warehouse lock."""


@dataclass(frozen=True)
class WarehousePaths:
    root: Path

    @property
    def serving(self) -> Path:
        return self.root / FILE_NAME

    @property
    def build(self) -> Path:
        return self.root / "build" / FILE_NAME

    @property
    def previous(self) -> Path:
        return self.root / "previous" / FILE_NAME

    @property
    def replaced(self) -> Path:
        """Old working copies a full build set aside, kept until its on-run-start has carried their rows."""
        return self.root / "build" / "replaced"

    @property
    def lock(self) -> Path:
        return self.root / ".build.lock"

    @classmethod
    def for_project(cls, project_dir: Path) -> WarehousePaths:
        """CINEMART_WAREHOUSE_DIR, else <project>/warehouse."""
        configured = os.environ.get("CINEMART_WAREHOUSE_DIR")
        root = Path(configured) if configured else Path("warehouse")
        return cls(root if root.is_absolute() else project_dir / root)


#: Set while a process holds a warehouse folder's build lock, so the dbt commands it starts know
#: the lock is their own (cinemart.warehouse.working_copy_guard): the folder, resolved.
BUILD_LOCK_HELD_ENV = "CINEMART_BUILD_LOCK_HELD"


class BuildLock:
    """Exclusive, process-lifetime lock on the warehouse folder (released by the kernel even on SIGKILL)."""

    def __init__(self, paths: WarehousePaths, wait: bool = False):
        self.paths, self.wait = paths, wait
        self._fd: int | None = None

    def __enter__(self) -> BuildLock:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BuildInProgressError(
                f"another build is running on {self.paths.root} (pid {holder}); "
                "wait for it or pass --wait to queue behind it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        os.environ[BUILD_LOCK_HELD_ENV] = str(self.paths.root.resolve())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        os.environ.pop(BUILD_LOCK_HELD_ENV, None)
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _remove(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: The working copy's own record of the dbt commands that wrote it (macros/working_copy).
INVOCATION_LOG = "cinemart_meta.dbt_invocations"


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def holder_of(path: Path) -> str | None:
    """Who holds DuckDB's write lock on `path` ("program (pid N)"), None if it can be opened read-write."""
    if not path.exists():
        return None
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException as exc:
        found = _LOCK_HOLDER.search(str(exc))
        return f"{found['program']} (pid {found['pid']})" if found else str(exc)
    return None


def _check_not_open(path: Path) -> None:
    """Fail in one line if another process (a running dbt, a notebook) holds the working copy."""
    holder = holder_of(path)
    if holder is not None:
        raise PublishError(f"{path} is open in another process (a dbt command still running?): {holder}")


def prepare_fresh_build(paths: WarehousePaths) -> Path:
    """Empty the working copy for a full build: every table is built fresh.

    Nothing of the old warehouse is copied, so tables of renamed or removed
    models disappear. The old working copy is set aside in `replaced/`, not
    deleted: its append-only tables may hold rows no published file has (a
    green plain `dbt build` never published, a build since rolled back), and
    dbt's on-run-start carries them forward (see `carry_from`).
    """
    paths.build.parent.mkdir(parents=True, exist_ok=True)
    _check_not_open(paths.build)  # its connection also folds any WAL into the file
    if paths.build.exists():
        paths.replaced.mkdir(exist_ok=True)
        os.replace(paths.build, paths.replaced / f"{time.time_ns()}.duckdb")
    _remove(paths.build)
    return paths.build


def carry_from(paths: WarehousePaths) -> dict[str, str]:
    """Environment telling dbt's on-run-start which files the append-only history comes from (none on a first build).

    The union of the served file, previous/ and the working copies set aside:
    after a rollback the served file lacks the rolled-back build's rows, and an
    unpublished `dbt build` has its rows in the working copy only.
    """
    sources = [p for p in (paths.serving, paths.previous) if p.exists()] + sorted(paths.replaced.glob("*.duckdb"))
    return {"CINEMART_CARRY_FROM": json.dumps([str(p) for p in sources])} if sources else {}


def drop_replaced(paths: WarehousePaths) -> None:
    """Delete the working copies set aside once the fresh one records a dbt command.

    The record is written by the on-run-start hook that follows the carry, so
    the fresh working copy holds their rows; a build that stopped before it
    leaves them for the next build to carry.
    """
    if paths.build.exists() and _last_invocation(paths.build) is not None:
        shutil.rmtree(paths.replaced, ignore_errors=True)


def whole_problem(paths: WarehousePaths) -> str | None:
    """Why the working copy is not a whole warehouse, or None when it is one.

    Whole means: the last dbt command that wrote it finished green and was a
    full `dbt build` (or a `cinemart build --select`, which marks itself).
    """
    if not paths.build.exists():
        return f"{paths.build} does not exist"
    _check_not_open(paths.build)
    last = _last_invocation(paths.build)
    if last is None:
        return f"{paths.build} has no record of the dbt build that made it"
    command, selection, finished_at, succeeded, whole = last
    if finished_at is None:
        return f"the last dbt {command} on {paths.build} never finished (killed?)"
    if not succeeded:
        return f"the last dbt {command} on {paths.build} failed"
    if not whole:
        return (f"the last dbt command on {paths.build} was `dbt {command}{_flags(selection)}`, not a full "
                "`dbt build`: tables downstream of what it wrote may be stale")
    return None


def _last_invocation(database: Path) -> tuple | None:
    """(command, selection, finished_at, succeeded, whole) of the last dbt command that wrote `database`, if any."""
    with duckdb.connect(str(database), read_only=True) as con:
        logged = con.execute("select count(*) from duckdb_tables() where schema_name = 'cinemart_meta' "
                             "and table_name = 'dbt_invocations'").fetchall()[0][0]
        last = con.execute(f"select command, selection, finished_at, succeeded, whole from {INVOCATION_LOG} "
                           "order by started_at desc limit 1").fetchall() if logged else []
    return last[0] if last else None


def _flags(selection: str) -> str:
    """The recorded selection as command-line flags: ' --select marts.eda'."""
    given = json.loads(selection or "{}")
    flags = [f" --{name} {' '.join(value) if isinstance(value, list) else value}"
             for name, value in given.items() if value and name != "empty"]
    return "".join(flags) + (" --empty" if given.get("empty") else "")


def require_whole(paths: WarehousePaths, action: str) -> None:
    problem = whole_problem(paths)
    if problem is not None:
        raise PublishError(f"cannot {action}: {problem}. Run a full `cinemart build` (or `dbt build`) first")


def mark_whole(paths: WarehousePaths) -> None:
    """Mark the last, green dbt command whole: `cinemart build --select` rebuilt everything its selection invalidates."""
    with duckdb.connect(str(paths.build)) as con:
        con.execute(f"update {INVOCATION_LOG} set whole = true where succeeded and started_at = "
                    f"(select max(started_at) from {INVOCATION_LOG})")


def _clone(source: Path, target: Path) -> None:
    """Copy a file with copy_file_range: a reflink on btrfs/XFS (no data copied), an in-kernel copy elsewhere."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        try:
            copied = 0
            while copied < size:
                step = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
                if step == 0:
                    break
                copied += step
        except OSError:  # filesystems without copy_file_range across these files
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, 16 << 20)
        dst.flush()
        os.fsync(dst.fileno())


@contextmanager
def write_atomically(target: Path) -> Iterator[Path]:
    """A temporary file beside `target` for the block to write: renamed over `target` when the block
    succeeds, removed when it fails, so a failure leaves neither a half-written target nor a staged file."""
    handle, staged = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    os.chmod(staged, 0o644)  # mkstemp's 0600 would hide the file from readers running as other users
    try:
        yield Path(staged)
        os.replace(staged, target)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def publish(paths: WarehousePaths) -> Path:
    """Atomically make a copy of the working copy the serving file; keep the old one as previous.

    The caller holds the BuildLock and has checked the working copy is whole.
    The working copy stays in place, so dbt keeps seeing the warehouse just published.
    """
    if not paths.build.exists():
        raise PublishError(f"nothing to publish: {paths.build} does not exist")
    with duckdb.connect(str(paths.build)) as con:  # fold the WAL into the file before it is copied
        con.execute("checkpoint")
    staged = paths.root / (FILE_NAME + ".publishing")
    staged.unlink(missing_ok=True)
    _clone(paths.build, staged)
    if paths.serving.exists():
        paths.previous.parent.mkdir(parents=True, exist_ok=True)
        kept = paths.previous.with_name(FILE_NAME + ".staged")
        kept.unlink(missing_ok=True)
        os.link(paths.serving, kept)
        os.replace(kept, paths.previous)
    os.replace(staged, paths.serving)
    _fsync_dir(paths.root)
    return paths.serving


def rollback(paths: WarehousePaths) -> Path:
    """Swap the serving and previous versions in one step (a second rollback undoes the first).

    One exchange, never two renames: a rollback killed at any moment leaves
    both versions in place, each under one of the two names.
    """
    if not paths.previous.exists():
        raise PublishError(f"no previous version to roll back to ({paths.previous} does not exist)")
    if paths.serving.exists():
        _exchange(paths.serving, paths.previous)
    else:
        os.replace(paths.previous, paths.serving)
    _fsync_dir(paths.root)
    _fsync_dir(paths.previous.parent)
    return paths.serving


_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # <fcntl.h>, <linux/fs.h>


def _exchange(a: Path, b: Path) -> None:
    """Atomically swap two paths on one filesystem: renameat2(RENAME_EXCHANGE), Linux 3.15+ and glibc 2.28+."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        raise PublishError("rollback needs renameat2(RENAME_EXCHANGE) (Linux 3.15+, glibc 2.28+), "
                           "which this system's C library does not provide")
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        error = ctypes.get_errno()
        if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise PublishError(f"cannot roll back: the filesystem of {a.parent} (or this kernel) does not support "
                               f"swapping two files atomically (renameat2 RENAME_EXCHANGE: {os.strerror(error)})")
        raise OSError(error, os.strerror(error), str(a), None, str(b))
