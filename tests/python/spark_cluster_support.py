"""The run's build on a Spark standalone cluster (test_spark_cluster.py), started in the background.

conftest starts it as soon as the tests that need it are collected, beside
the run's local[2] build (spark_sql_support.start_full_spark), so its minutes
overlap the DuckDB tests, as that build's do. A master and two one-core
workers on 127.0.0.1 (cinemart.spark.standalone) run `cinemart build --engine
spark` of ml-latest-small with the local build's vars and Spark settings. The
package reaches the executors only as docs/spark.md tells cluster users: a
zip through spark.submit.pyFiles. The executors' Python has numpy, pyarrow and
pyspark but not cinemart, and the workers do not inherit PYTHONPATH, so the
top-N scoring (mapInArrow over cinemart.spark.blocked) can only work from the zip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from spark_sql_support import FULL_BUILD_SCHEMA, FULL_BUILD_VARS, PROJECT_DIR, SMALL_DATA_SPARK_CONF, full_build_env


def python_without_cinemart(folder: Path) -> Path:
    """A venv whose site-packages reaches this venv's libraries (numpy, pyarrow, pyspark) through a
    .pth line but not the editable cinemart install (.pth files of a .pth-added folder are not run)."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project-libraries.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = subprocess.run([str(python), "-c", "import numpy, pyarrow, pyspark; import cinemart"],
                           capture_output=True, text=True)
    if "No module named 'cinemart'" not in probe.stderr:
        raise RuntimeError(f"the executors' Python must lack cinemart and have numpy, pyarrow, pyspark: {probe.stderr}")
    return python


@dataclass
class ClusterBuild:
    """What the cluster build left: its build schema's folder, the executors' folders, its wall time."""

    tables: Path
    executors: list[str]
    wall: float


@dataclass
class RunningClusterBuild:
    work: Path
    cluster: object  # cinemart.spark.standalone.StandaloneCluster
    process: subprocess.Popen
    started: float

    def stop(self) -> None:
        """Kill the build and stop the cluster (a run that ends without waiting for them)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.cluster.stop()


def start_cluster_build(work: Path) -> RunningClusterBuild:
    from conftest import LATEST_SMALL_DIR

    from cinemart.spark.standalone import StandaloneCluster, package_zip

    started = time.perf_counter()
    conf = {**SMALL_DATA_SPARK_CONF, "spark.submit.pyFiles": str(package_zip(work / "cinemart.zip")),
            "spark.executor.memory": "1g"}
    python = python_without_cinemart(work / "bare")
    cluster = StandaloneCluster(work / "cluster").start()
    try:
        env = {**full_build_env(work / "spark"), "CINEMART_SPARK_MASTER": cluster.master_url,
               "CINEMART_SPARK_CONF": json.dumps(conf), "PYSPARK_PYTHON": str(python)}
        (work / "spark").mkdir(parents=True, exist_ok=True)
        with open(work / "spark" / "cli.out", "w") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).with_name("cinemart")), "build", "--engine", "spark",
                 "--from", str(LATEST_SMALL_DIR), "--vars", json.dumps(FULL_BUILD_VARS)],
                cwd=PROJECT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    except BaseException:
        cluster.stop()
        raise
    return RunningClusterBuild(work, cluster, process, started)


def finish_cluster_build(running: RunningClusterBuild) -> ClusterBuild:
    """Wait for the build, stop the cluster; fail with the build's output if it failed."""
    code = running.process.wait()
    wall = time.perf_counter() - running.started
    executors = sorted(p.relative_to(running.cluster.work).as_posix()
                       for p in running.cluster.work.glob("worker-*/app-*/*") if p.is_dir())
    running.stop()
    output = (running.work / "spark" / "cli.out").read_text()
    assert code == 0, f"cinemart build --engine spark on the standalone cluster failed:\n{output[-5000:]}"
    print(f"cinemart build --engine spark on the standalone cluster: {wall:.0f} s (cluster start included)")
    return ClusterBuild(running.work / "spark" / "warehouse" / f"{FULL_BUILD_SCHEMA}.db", executors, wall)
