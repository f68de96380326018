"""Is Spark usable here? One clear line when it is not, and the small local session the tests use.

pyspark needs a Java runtime and a reachable master; both fail deep inside
py4j with pages of JVM output. `check_spark_environment` turns each into a
`SparkEnvironmentError` whose message is one line the CLI can print.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess


#: The command that adds the Spark engine to the project's venv (`make test` installs it too).
INSTALL_SPARK = ".venv/bin/pip install -c constraints.txt -e '.[spark]'"


class SparkEnvironmentError(RuntimeError):
    """Spark cannot start here; the message says why in one line."""


def _java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def spark_warehouse_dir() -> str:
    """Where the Spark engine keeps its tables and Hive metastore, as profiles.yml's spark output computes it.

    CINEMART_SPARK_WAREHOUSE_DIR, else the spark/ folder of CINEMART_WAREHOUSE_DIR
    (default warehouse/): the setting that moves the DuckDB engine's output
    moves the Spark engine's too, so a build pointed elsewhere never replaces
    the checkout's Spark warehouse.
    """
    return (os.environ.get("CINEMART_SPARK_WAREHOUSE_DIR")
            or os.path.join(os.environ.get("CINEMART_WAREHOUSE_DIR") or "warehouse", "spark"))


def check_spark_conf() -> None:
    """CINEMART_SPARK_CONF must be a JSON object that leaves the session time zone UTC.

    Ratings' timestamps are UTC epochs and the tables' times are UTC; profiles.yml
    pins the zone after applying CINEMART_SPARK_CONF, so a different one given
    there would be ignored: say so before any work instead."""
    text = os.environ.get("CINEMART_SPARK_CONF", "{}")
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SparkEnvironmentError(f"CINEMART_SPARK_CONF is not JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise SparkEnvironmentError(f"CINEMART_SPARK_CONF must be a JSON object of Spark settings, got {text!r}")
    zone = conf.get("spark.sql.session.timeZone", "UTC")
    if zone != "UTC":
        raise SparkEnvironmentError(f"CINEMART_SPARK_CONF sets spark.sql.session.timeZone to {zone!r}: the Spark "
                                    "engine always runs in UTC (the ratings' timestamps are UTC epochs)")


def check_spark_environment(master: str = "local[2]") -> None:
    """Raise SparkEnvironmentError (one line) when pyspark, Java, the settings or the master are unusable."""
    import importlib.util

    missing = [name for name, module in (("pyspark", "pyspark"), ("dbt-spark", "dbt.adapters.spark"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise SparkEnvironmentError(
            f"the Spark engine is not installed ({' and '.join(missing)} missing; `make run` installs the DuckDB "
            f"engine only): {INSTALL_SPARK}")
    java = _java_binary()
    if java is None:
        raise SparkEnvironmentError("Java is missing: Spark needs a JDK 17+ on PATH or JAVA_HOME")
    probe = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        raise SparkEnvironmentError(f"Java at {java} does not run: {probe.stderr.strip().splitlines()[:1]}")
    check_spark_conf()
    if not master.startswith("local"):
        _check_master_reachable(master)


def _check_master_reachable(master: str) -> None:
    """spark://host:port (or a comma-separated HA list): at least one TCP endpoint answers."""
    import socket

    if not master.startswith("spark://"):
        return  # yarn, k8s://...: the cluster manager's own client reports its errors
    for endpoint in master.removeprefix("spark://").split(","):
        host, _, port = endpoint.partition(":")
        try:
            with socket.create_connection((host, int(port or 7077)), timeout=5):
                return
        except OSError:
            continue
    raise SparkEnvironmentError(f"Spark master {master} is unreachable (no answer on any of its endpoints)")


def use_this_python() -> None:
    """Python workers (mapInArrow in cinemart.spark.blocked) run this interpreter, with its
    numpy/pyarrow, unless PYSPARK_PYTHON says otherwise. Must run before the SparkContext starts."""
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def local_session(app_name: str = "cinemart", master: str = "local[2]", shuffle_partitions: int = 4):
    """A small local SparkSession (tests, benchmarks): few shuffle partitions, quiet logs.

    Checks the environment first so a missing Java is one line, not a py4j trace.
    """
    check_spark_environment(master)
    use_this_python()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(master).appName(app_name)
             .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
             .config("spark.default.parallelism", str(shuffle_partitions))
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.ansi.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark
