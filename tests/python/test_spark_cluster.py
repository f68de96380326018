"""The cluster path of docs/spark.md, proven on a Spark standalone cluster on this machine.

conftest's `cluster_spark_build` is `cinemart build --engine spark` of
ml-latest-small on a master and two one-core workers on 127.0.0.1, with the
package shipped to the executors only as a zip through spark.submit.pyFiles
(spark_cluster_support.py says how that is enforced). It is compared with the
run's local[2] build of the same data and vars (`full_spark_build`). Bands:
every SQL-layer table identical row for row; MLlib's figures within the
bands of test_spark_build.py (test RMSE within 0.005, precision@10 within 0.02).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from spark_sql_support import differences, parquet_folder_files, sql_layer_tables  # noqa: E402

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RMSE_BAND, PRECISION_BAND = 0.005, 0.02


def test_the_build_ran_on_both_workers(cluster_spark_build):
    # one executor folder per worker that ran the application's tasks
    assert {e.split("/")[0] for e in cluster_spark_build.executors} == {"worker-0", "worker-1"}, \
        cluster_spark_build.executors


def test_sql_tables_are_identical_to_the_local_build(cluster_spark_build, full_spark_build):
    tables = sql_layer_tables(full_spark_build.duckdb)
    assert len(tables) == 26
    assert differences(None, parquet_folder_files(cluster_spark_build.tables), tables,
                       reference=parquet_folder_files(full_spark_build.spark_tables)) == {}


def figures(tables: Path) -> dict[str, float]:
    """The latest explicit ALS test RMSE and every (model, protocol)'s precision@10."""
    with duckdb.connect() as con:
        rmse = con.execute(f"select test_rmse from read_parquet('{tables}/als_model_runs/*.parquet') "
                           "order by finished_at desc limit 1").fetchall()[0][0]
        precision = con.execute(f"select model, protocol, precision_at_10 from "
                                f"read_parquet('{tables}/ranking_evaluation/*.parquet')").fetchall()
    assert len({(model, protocol) for model, protocol, _ in precision}) == len(precision) == 10
    return {"test_rmse": rmse, **{f"precision_at_10 {model} {protocol}": value for model, protocol, value in precision}}


def test_mllib_figures_are_within_the_parity_bands(cluster_spark_build, full_spark_build):
    on_cluster, on_local = figures(cluster_spark_build.tables), figures(full_spark_build.spark_tables)
    print("cluster vs local[2]:", {k: (round(on_cluster[k], 5), round(on_local[k], 5)) for k in on_local})
    assert on_cluster.keys() == on_local.keys()
    assert on_cluster["test_rmse"] == pytest.approx(on_local["test_rmse"], abs=RMSE_BAND)
    for key in on_local:
        if key.startswith("precision_at_10"):
            assert on_cluster[key] == pytest.approx(on_local[key], abs=PRECISION_BAND), key
