"""`cinemart serve --engine spark`: the Spark Thrift Server plus the mirror, in the foreground.

The command imports no pyspark until it runs, so the CLI stays light on the
DuckDB path. The server runs in its own process group and is stopped with
the command (Ctrl-C or SIGTERM): no JVM outlives it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
from pathlib import Path

from cinemart.spark.readers.mirror import MirrorError, follow
from cinemart.spark.readers.thrift_server import ThriftServer, ThriftServerError, port_is_free
from cinemart.warehouse.dbt import find_project_dir

#: Failures the user can fix (cinemart.cli prints them as one line).
SERVE_ERRORS: tuple[type[Exception], ...] = (ThriftServerError, MirrorError)


def add_serve(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve the published Spark build over HiveServer2 (JDBC/ODBC) for BI tools",
        description="Start the Spark Thrift Server from pyspark's jars on 127.0.0.1 and keep it serving the "
        "Spark build's published version (the serving schema's views, recommend_for and similar_to), "
        "following every publish and rollback. Runs until interrupted. DuckDB readers need no server: "
        "they open warehouse/cinemart.duckdb read-only (docs/bi-tools.md).",
    )
    parser.add_argument("--engine", choices=["spark", "duckdb"], default="spark")
    parser.add_argument("--port", type=int, default=10000, help="HiveServer2 port (default 10000)")
    parser.add_argument("--master", default="local[2]", help="the server's Spark master (default local[2])")
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between checks for a new published version (default 2)")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from cinemart.spark.environment import check_spark_environment, spark_warehouse_dir

    if args.engine == "duckdb":
        raise ThriftServerError("DuckDB needs no server: point BI tools at warehouse/cinemart.duckdb, read-only "
                                "(docs/bi-tools.md); `cinemart serve` serves the Spark engine")
    if not 0 < args.port < 65536:
        raise ThriftServerError(f"--port must be 1-65535, got {args.port}")
    check_spark_environment(args.master)
    project = find_project_dir()
    warehouse = Path(spark_warehouse_dir())
    if "://" in str(warehouse):
        raise ThriftServerError(f"cinemart serve mirrors a local Spark warehouse; {warehouse} is a URL: "
                                "point a cluster's Thrift Server at its shared Hive metastore (docs/spark.md)")
    server = ThriftServer((warehouse if warehouse.is_absolute() else project / warehouse).resolve(),
                          port=args.port, master=args.master)
    if not port_is_free(server.host, server.port):
        raise ThriftServerError(f"{server.host}:{server.port} is already in use: pick another --port")
    serving = os.environ.get("CINEMART_SPARK_SERVING_SCHEMA", "cinemart")
    print(f"starting the Spark Thrift Server on {server.host}:{server.port} (log: {server.log_path})", flush=True)
    process = server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        server.wait_until_listening(process)
        print(f"listening: {server.jdbc_url}  (PyHive: hive://{server.host}:{server.port}/{serving})", flush=True)
        follow(server, project, serving, stop, interval=args.interval, report=lambda line: print(line, flush=True))
    finally:
        _stop(process)
    return 0


def _stop(process: subprocess.Popen) -> None:
    """Stop the server's process group (spark-submit and its JVM), forcefully after 30 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
