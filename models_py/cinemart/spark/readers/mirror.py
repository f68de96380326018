"""Keeping the Thrift Server's metastore in step with what the build published.

The build (one JVM, embedded Derby) and the Thrift Server (another JVM) cannot
share a Derby metastore, and pyspark's jars have no Derby network server. They
share files instead: a published version `<serving>__v<version>` is written
once and never changed, and the build's `serving_history` table, whose latest
row names the served version, is appended to on every publish and rollback.
So the mirror reads the latest row from that table's parquet files (no JVM),
and, when it names a version the server does not serve yet, runs
`dbt run-operation mirror_spark_serving --target spark_thrift`, which
registers that version's tables as external tables over the same files and
repoints the server's serving views and functions (macros/spark/mirror_serving.sql).
A reader of the server therefore sees the old version until the new one is
whole, like a reader of the build's own session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from cinemart.spark.readers.thrift_server import ThriftServer


class MirrorError(RuntimeError):
    """A published version could not be mirrored; the message says why in one line."""


def _data_files(folder: Path) -> list[Path]:
    """A Spark table folder's committed files (Spark stages uncommitted ones under _temporary)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))


def served_version(warehouse: Path, serving: str) -> str | None:
    """The version the build serves: serving_history's latest row, read from its parquet files."""
    import pyarrow.parquet as pq

    latest: tuple | None = None
    for path in _data_files(warehouse / f"{serving}.db" / "serving_history"):
        rows = pq.read_table(path, columns=["version", "served_since"]).to_pylist()
        for row in rows:
            key = (row["served_since"], row["version"])
            if latest is None or key > latest:
                latest = key
    return None if latest is None else latest[1]


def version_dir(warehouse: Path, serving: str, version: str) -> Path:
    return warehouse / f"{serving}__v{version}.db"


def version_tables(warehouse: Path, serving: str, version: str) -> list[str]:
    """The tables of a published version: one folder each in its schema's folder."""
    folder = version_dir(warehouse, serving, version)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def mirror_version(server: ThriftServer, project: Path, serving: str, version: str) -> int:
    """Register `version` in the server's metastore and serve it there; the number of tables mirrored."""
    tables = version_tables(server.warehouse, serving, version)
    if not tables:
        raise MirrorError(f"version {version} has no table folders under {version_dir(server.warehouse, serving, version)}")
    args = {"version": version, "tables": tables, "serving_schema": serving,
            "version_dir": version_dir(server.warehouse, serving, version).resolve().as_uri()}
    dbt = Path(sys.executable).with_name("dbt")
    state = server.state_dir
    env = {**os.environ, "CINEMART_SPARK_THRIFT_HOST": server.host, "CINEMART_SPARK_THRIFT_PORT": str(server.port)}
    result = subprocess.run(
        [str(dbt), "run-operation", "mirror_spark_serving", "--args", json.dumps(args), "--target", "spark_thrift",
         "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(state / "dbt-target"), "--log-path", str(state / "dbt-logs")],
        cwd=project, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        raise MirrorError(f"mirroring version {version} failed: {' '.join(lines[-2:])[-400:]}")
    return len(tables)


def follow(server: ThriftServer, project: Path, serving: str, stop: threading.Event, *, interval: float = 2.0,
           report: Callable[[str], None] = print) -> None:
    """Mirror every version the build serves, checking every `interval` seconds, until `stop` is set.

    A failed mirror is reported and retried at the next check; the server keeps
    serving the version it had."""
    mirrored: str | None = None
    while True:
        version = served_version(server.warehouse, serving)
        if version is None and mirrored is None:
            report(f"waiting for a published Spark build in {server.warehouse} (schema {serving})")
            mirrored = ""
        elif version is not None and version != mirrored:
            try:
                count = mirror_version(server, project, serving, version)
            except MirrorError as error:
                report(str(error))
            else:
                report(f"serving {serving} version {version} ({count} tables)")
                mirrored = version
        if stop.wait(interval):
            return
