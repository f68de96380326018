"""Build in one file, serve another: readers are never blocked, never see half a build.

DuckDB lets one process open a file read-write or many read-only, never both,
so dbt cannot write the file a BI tool has open. A build therefore works on
`build/cinemart.duckdb` (seeded with a copy of the serving file, so append-only
tables keep their history) and only a fully green build is published by an
atomic rename over `cinemart.duckdb`. A reader that has the old file open keeps
its inode, and with it the previous complete version, until it reconnects.
The replaced version is kept as `previous/cinemart.duckdb` for `cinemart rollback`.
A killed build leaves the serving file as it was: nothing touches it before the rename.
"""

from __future__ import annotations

import fcntl
import os
import shutil
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
    def lock(self) -> Path:
        return self.root / ".build.lock"

    @classmethod
    def for_project(cls, project_dir: Path) -> WarehousePaths:
        """CINEMART_WAREHOUSE_DIR, else <project>/warehouse."""
        configured = os.environ.get("CINEMART_WAREHOUSE_DIR")
        root = Path(configured) if configured else Path("warehouse")
        return cls(root if root.is_absolute() else project_dir / root)


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
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
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


def prepare_build_file(paths: WarehousePaths) -> Path:
    """A fresh build file: a copy of the serving file (history of append-only tables), or nothing."""
    paths.build.parent.mkdir(parents=True, exist_ok=True)
    _remove(paths.build)
    if paths.serving.exists():
        shutil.copyfile(paths.serving, paths.build)
    return paths.build


def publish(paths: WarehousePaths) -> Path:
    """Atomically make the finished build file the serving file; keep the old one as previous."""
    if not paths.build.exists():
        raise PublishError(f"nothing to publish: {paths.build} does not exist")
    with duckdb.connect(str(paths.build)) as con:  # fold the WAL into the file before it moves
        con.execute("checkpoint")
    with open(paths.build, "rb") as handle:
        os.fsync(handle.fileno())
    if paths.serving.exists():
        paths.previous.parent.mkdir(parents=True, exist_ok=True)
        staged = paths.previous.with_name(FILE_NAME + ".staged")
        staged.unlink(missing_ok=True)
        os.link(paths.serving, staged)
        os.replace(staged, paths.previous)
    os.replace(paths.build, paths.serving)
    _fsync_dir(paths.root)
    return paths.serving


def rollback(paths: WarehousePaths) -> Path:
    """Swap the serving and previous versions (a second rollback undoes the first)."""
    if not paths.previous.exists():
        raise PublishError(f"no previous version to roll back to ({paths.previous} does not exist)")
    if not paths.serving.exists():
        os.replace(paths.previous, paths.serving)
    else:
        staged = paths.root / (FILE_NAME + ".rollback")
        staged.unlink(missing_ok=True)
        os.link(paths.serving, staged)
        os.replace(paths.previous, paths.serving)
        os.replace(staged, paths.previous)
    _fsync_dir(paths.root)
    return paths.serving
