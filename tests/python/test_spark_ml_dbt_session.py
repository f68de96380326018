"""In-session dbt Python models on local Spark (cinemart.spark.dbt_session).

The subprocess test is the one that matters: a plain `dbt build` (no cinemart
CLI, no model config naming a submission method) on a two-model project,
a SQL model and a Python model reading it, with a `type: spark, method:
session` profile. dbt-spark alone fails that Python model ("Submission method
all_purpose_cluster ..." needs Databricks credentials); it builds only because
dbt's plugin loader imports `dbt_cinemart_spark` from models_py, which
registers the `session` method. The result is read back from the parquet
files dbt wrote, without Spark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("dbt.adapters.spark")

from cinemart.spark import is_spark_session  # noqa: E402
from cinemart.spark.dbt_session import SUBMISSION_METHOD, SessionPythonJobHelper, install  # noqa: E402


MODELS_PY = Path(__file__).resolve().parents[2] / "models_py"
DBT = Path(sys.executable).with_name("dbt")

PROFILE = """
tiny:
  target: spark
  outputs:
    spark:
      type: spark
      method: session
      schema: tiny
      host: localhost
      threads: 1
      server_side_parameters:
        spark.master: "local[1]"
        spark.sql.shuffle.partitions: "2"
        spark.sql.catalogImplementation: "in-memory"
        spark.sql.warehouse.dir: "{warehouse}"
        spark.ui.enabled: "false"
"""

PROJECT = """
name: tiny
version: "1.0"
config-version: 2
profile: tiny
models:
  tiny:
    +materialized: table
    +file_format: parquet
"""

PYTHON_MODEL = '''
from cinemart.spark import is_spark_session


def model(dbt, session):
    assert is_spark_session(session), type(session)
    numbers = dbt.ref("numbers")
    return numbers.withColumn("doubled", numbers.n * 2)
'''


def test_helper_runs_compiled_code_with_the_active_session_as_spark(spark):
    """submit() execs the script with `spark` bound to this process's session (what py_write_table expects)."""
    code = "result = spark.range(3).selectExpr('sum(id) as s').first().s\nassert result == 3, result\n"
    helper = SessionPythonJobHelper({"schema": "s", "alias": "m", "config": {}}, credentials=None)
    assert helper.submit(code) is None
    assert is_spark_session(spark) and not is_spark_session(object())


def test_install_registers_session_method_and_default_only_for_session_targets():
    from types import SimpleNamespace

    from dbt.adapters.spark.impl import SparkAdapter

    assert install() is True and install() is True  # idempotent
    fake = SimpleNamespace(config=SimpleNamespace(credentials=SimpleNamespace(method=SUBMISSION_METHOD)))
    assert SparkAdapter.python_submission_helpers.fget(fake)[SUBMISSION_METHOD] is SessionPythonJobHelper
    assert "all_purpose_cluster" in SparkAdapter.python_submission_helpers.fget(fake)
    assert SparkAdapter.default_python_submission_method.fget(fake) == SUBMISSION_METHOD
    thrift = SimpleNamespace(config=SimpleNamespace(credentials=SimpleNamespace(method="thrift")))
    assert SparkAdapter.default_python_submission_method.fget(thrift) == "all_purpose_cluster"


@pytest.mark.skipif(not DBT.exists(), reason=f"no dbt executable beside {sys.executable}")
def test_plain_dbt_build_runs_a_python_model_in_session(tmp_path):
    project = tmp_path / "tiny"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT)
    (project / "profiles.yml").write_text(PROFILE.format(warehouse=tmp_path / "warehouse"))
    (project / "models" / "numbers.sql").write_text("select id as n from range(1, 6)")
    (project / "models" / "doubled.py").write_text(PYTHON_MODEL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(MODELS_PY), os.environ.get("PYTHONPATH", "")]),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    run = subprocess.run([str(DBT), "build", "--profiles-dir", str(project)], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    assert {r["unique_id"]: r["status"] for r in results} == {"model.tiny.numbers": "success",
                                                              "model.tiny.doubled": "success"}
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "warehouse" / "tiny.db" / "doubled").sort_by("n")
    assert table.column("doubled").to_pylist() == [2, 4, 6, 8, 10]
    shutil.rmtree(tmp_path / "warehouse", ignore_errors=True)
