"""`cinemart build --engine spark` refuses what cannot work in one line, before data, dbt or a JVM.

The successful path (dbt build --target spark, then publish_spark_build) runs
in tests/python/test_spark_build.py, which builds through this command.
"""

from __future__ import annotations

import json

import pytest

from cinemart.cli import main
from spark_ml_data import ML_SMALL_DIR


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("cinemart: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "py4j" not in err and "at org.apache" not in err
    return err


def test_spark_engine_without_java_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH ...
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))  # ... nor under JAVA_HOME
    code = main(["build", "--engine", "spark", "--from", str(ML_SMALL_DIR)])
    assert code == 2
    assert "Java is missing" in one_line_error(capsys)


def test_spark_engine_with_an_unreachable_master_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CINEMART_SPARK_MASTER", "spark://nohost:7077")
    code = main(["build", "--engine", "spark", "--from", str(ML_SMALL_DIR)])
    assert code == 2
    assert "spark://nohost:7077 is unreachable" in one_line_error(capsys)


def test_spark_only_var_on_the_duckdb_engine_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CINEMART_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    code = main(["build", "--from", str(ML_SMALL_DIR), "--vars", json.dumps({"spark_serving_schema": "elsewhere"})])
    assert code == 2
    assert "spark_serving_schema applies to --engine spark only" in one_line_error(capsys)
    assert not (tmp_path / "warehouse").exists()  # refused before any work


def test_bad_model_vars_are_refused_on_spark_as_on_duckdb(capsys):
    assert main(["build", "--engine", "spark", "--from", str(ML_SMALL_DIR), "--vars", '{"als_seed": -1}']) == 2
    spark_error = one_line_error(capsys)
    assert main(["build", "--from", str(ML_SMALL_DIR), "--vars", '{"als_seed": -1}']) == 2
    assert one_line_error(capsys) == spark_error


def test_unknown_engine_is_a_usage_error(capsys):
    assert main(["build", "--engine", "oracle"]) == 2
    assert "invalid choice: 'oracle'" in capsys.readouterr().err


@pytest.mark.parametrize("part, refusal", [
    ({"method": ["bayesian"], "rank": [10], "iterations": [60]},
     "als_grid method bayesian applies to the DuckDB engine only: MLlib has no Bayesian ALS"),
    ({"rank": [10], "reg": [0.05], "time_biases": [True]},
     "als_grid time_biases true applies to the DuckDB engine only: MLlib ALS has no time terms"),
])
def test_a_grid_naming_a_mode_mllib_lacks_is_refused_on_spark_before_any_work(part, refusal, tmp_path, monkeypatch,
                                                                             capsys):
    """MLlib has no Bayesian ALS and no time terms: a custom grid naming either fails in one line; the default
    preset drops those parts instead (cinemart.tuning.explicit.default_grid_for)."""
    monkeypatch.setenv("CINEMART_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    grid = [{"rank": [10], "reg": [0.1]}, part]
    code = main(["build", "--engine", "spark", "--from", str(ML_SMALL_DIR), "--vars", json.dumps({"als_grid": grid})])
    assert code == 2
    assert refusal in one_line_error(capsys)
    assert not (tmp_path / "warehouse").exists()
