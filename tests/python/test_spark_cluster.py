"""The cluster path of docs/spark.md, run on a Spark standalone cluster on this machine.

A master and two one-core workers on 127.0.0.1 (pyspark's `spark-class`,
cinemart.spark.standalone) run `cinemart build --engine spark` of
ml-latest-small with the vars of the run's local[2] build (conftest's
`full_spark_build`). The package reaches the executors only as the docs say:
a zip through `spark.submit.pyFiles`. The executors' Python has numpy, pyarrow
and pyspark but not cinemart, and the workers do not inherit PYTHONPATH, so
the top-N scoring (mapInArrow over cinemart.spark.blocked) can only work
from the zip. Bands against the local[2] build: every SQL-layer table
identical row for row; MLlib's figures within the parity test's bands
(test_spark_build.py: test RMSE within 0.005, precision@10 within 0.02).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from spark_sql_support import (  # noqa: E402
    FULL_BUILD_SCHEMA,
    FULL_BUILD_VARS,
    PROJECT_DIR,
    SMALL_DATA_SPARK_CONF,
    differences,
    full_build_env,
    parquet_folder_files,
    sql_layer_tables,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RMSE_BAND, PRECISION_BAND = 0.005, 0.02


def python_without_cinemart(folder: Path) -> Path:
    """A venv whose site-packages reaches this venv's libraries (numpy, pyarrow, pyspark) through a
    .pth line but not the editable cinemart install (.pth files of a .pth-added folder are not run)."""
    import sysconfig

    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project-libraries.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = subprocess.run([str(python), "-c", "import numpy, pyarrow, pyspark; import cinemart"],
                           capture_output=True, text=True)
    assert "No module named 'cinemart'" in probe.stderr, probe.stderr
    return python


@pytest.fixture(scope="module")
def cluster_build(tmp_path_factory, request):
    """`cinemart build --engine spark` on the standalone cluster, beside the run's local[2] build."""
    from conftest import LATEST_SMALL_DIR

    from cinemart.spark.standalone import StandaloneCluster, package_zip

    work = tmp_path_factory.mktemp("cluster")
    started = time.perf_counter()
    with StandaloneCluster(work / "cluster") as cluster:
        conf = {**SMALL_DATA_SPARK_CONF, "spark.submit.pyFiles": str(package_zip(work / "cinemart.zip")),
                "spark.executor.memory": "1g"}
        env = {**full_build_env(work / "spark"), "CINEMART_SPARK_MASTER": cluster.master_url,
               "CINEMART_SPARK_CONF": json.dumps(conf), "PYSPARK_PYTHON": str(python_without_cinemart(work / "bare"))}
        (work / "spark").mkdir()
        with open(work / "spark" / "cli.out", "w") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).with_name("cinemart")), "build", "--engine", "spark",
                 "--from", str(LATEST_SMALL_DIR), "--vars", json.dumps(FULL_BUILD_VARS)],
                cwd=PROJECT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                local = request.getfixturevalue("full_spark_build")  # the local[2] build runs meanwhile
                code = process.wait()
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        wall = time.perf_counter() - started
        executors = sorted(p.relative_to(cluster.work).as_posix()
                           for p in cluster.work.glob("worker-*/app-*/*") if p.is_dir())
    output = (work / "spark" / "cli.out").read_text()
    assert code == 0, f"cinemart build --engine spark on {cluster.master_url} failed:\n{output[-5000:]}"
    print(f"cinemart build --engine spark on the standalone cluster: {wall:.0f} s (cluster start included)")
    return work / "spark" / "warehouse" / f"{FULL_BUILD_SCHEMA}.db", local, executors


def test_the_build_ran_on_both_workers(cluster_build):
    _, _, executors = cluster_build
    assert {e.split("/")[0] for e in executors} == {"worker-0", "worker-1"}, executors


def test_sql_tables_are_identical_to_the_local_build(cluster_build):
    tables_dir, local, _ = cluster_build
    tables = sql_layer_tables(local.duckdb)
    assert len(tables) == 25
    assert differences(None, parquet_folder_files(tables_dir), tables,
                       reference=parquet_folder_files(local.spark_tables)) == {}


def figures(tables_dir: Path) -> dict[str, float]:
    with duckdb.connect() as con:
        rmse = con.execute(f"select test_rmse from read_parquet('{tables_dir}/als_model_runs/*.parquet') "
                           "order by finished_at desc limit 1").fetchall()[0][0]
        precision = con.execute(f"select model, protocol, precision_at_10 from "
                                f"read_parquet('{tables_dir}/ranking_evaluation/*.parquet')").fetchall()
    assert len({(model, protocol) for model, protocol, _ in precision}) == len(precision) == 10
    return {"test_rmse": rmse, **{f"precision_at_10 {model} {protocol}": value for model, protocol, value in precision}}


def test_mllib_figures_are_within_the_parity_bands(cluster_build):
    tables_dir, local, _ = cluster_build
    on_cluster, on_local = figures(tables_dir), figures(local.spark_tables)
    print("cluster vs local[2]:", {k: (round(on_cluster[k], 5), round(on_local[k], 5)) for k in on_local})
    assert on_cluster.keys() == on_local.keys()
    assert on_cluster["test_rmse"] == pytest.approx(on_local["test_rmse"], abs=RMSE_BAND)
    for key in on_local:
        if key.startswith("precision_at_10"):
            assert on_cluster[key] == pytest.approx(on_local[key], abs=PRECISION_BAND), key
