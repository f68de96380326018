"""The whole project parses on both targets and compiles to Spark SQL.

A DuckDB-only construct in a model, a macro without a spark__ twin or a YAML
test written in DuckDB's dialect fails here, without running Spark: `dbt
compile --target spark` renders every model and data test (the Python models
included), and Spark's own SQL parser (CatalystSqlParser, in a bare JVM: no
SparkContext) must accept every compiled statement. Functions Spark parses but
does not have are caught by the parity builds (test_spark_parity.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dbt.adapters.spark")

PROJECT_DIR = Path(__file__).resolve().parents[2]

# DuckDB spellings with no meaning (or another one) in Spark SQL, looked for
# outside string literals.
DUCKDB_ONLY = {
    "'::' cast": r"::\s*[a-z]",
    "varchar": r"\bvarchar\b",
    "len()": r"\blen\s*\(",
    "array_inner_product": r"\barray_inner_product\b",
    "array_cosine_similarity": r"\barray_cosine_similarity\b",
    "read_csv": r"\bread_csv\b",
    "struct_pack": r"\bstruct_pack\b",
    "list_transform": r"\blist_transform\b",
    "string_split": r"\bstring_split\b",
    "regexp_full_match": r"\bregexp_full_match\b",
    "unnest": r"\bunnest\s*\(",
    "FLOAT[k]": r"\bfloat\s*\[",
    "double-quoted identifier": r'"[A-Za-z_]\w*"',
}


def dbt(*args: str, work: Path) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [str(executable), *args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        cwd=PROJECT_DIR, env={**os.environ, "CINEMART_DUCKDB_PATH": str(work / "parse.duckdb")},
        capture_output=True, text=True, check=False)


def without_string_literals(sql: str) -> str:
    """SQL with every '...' literal (Spark escapes: \\' and '') emptied."""
    return re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", sql)


@pytest.fixture(scope="module")
def compiled_spark_sql(tmp_path_factory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("spark_compile")
    result = dbt("compile", "--target", "spark", "--no-populate-cache", work=work)
    assert result.returncode == 0, result.stdout[-3000:]
    root = work / "target" / "compiled"
    return {str(path.relative_to(root)): path.read_text() for path in root.rglob("*.sql")}


@pytest.mark.parametrize("target", ["dev", "spark"])
def test_project_parses(tmp_path, target):
    result = dbt("parse", "--target", target, work=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_model_and_data_test_compiles_for_spark(compiled_spark_sql):
    models = [name for name in compiled_spark_sql if "/models/" in name and ".yml/" not in name]
    data_tests = [name for name in compiled_spark_sql if ".yml/" in name or "/tests/" in name]
    # the recommender's SQL marts downstream of the Python models are compiled too
    assert any(name.endswith("recommender/user_recommendations.sql") for name in models)
    assert len(models) >= 30 and len(data_tests) >= 100


def test_no_duckdb_only_construct_reaches_spark(compiled_spark_sql):
    found = {}
    for name, sql in compiled_spark_sql.items():
        code = without_string_literals(sql)
        hits = [label for label, pattern in DUCKDB_ONLY.items() if re.search(pattern, code, re.IGNORECASE)]
        if hits:
            found[name] = hits
    assert found == {}


def test_the_duckdb_only_scan_catches_duckdb_sql():
    """The scan above is only worth something if it flags real DuckDB SQL."""
    duckdb_sql = ("select cast(x as varchar), len(l), y::int, \"timestamp\", "
                  "cast([1, 2] as float[2]) from read_csv('a.csv')")
    code = without_string_literals(duckdb_sql)
    hits = {label for label, pattern in DUCKDB_ONLY.items() if re.search(pattern, code, re.IGNORECASE)}
    assert hits == {"varchar", "len()", "'::' cast", "double-quoted identifier", "FLOAT[k]", "read_csv"}
    assert not re.search(DUCKDB_ONLY["'::' cast"], without_string_literals("split(x, '::')"))


def test_spark_parses_every_compiled_statement(compiled_spark_sql):
    pytest.importorskip("pyspark")
    from pyspark.java_gateway import launch_gateway

    gateway = launch_gateway()
    try:
        # the Scala object's instance: py4j sees no static forwarders for its inherited methods
        parser = getattr(gateway.jvm.org.apache.spark.sql.catalyst.parser, "CatalystSqlParser$").__getattr__("MODULE$")
        rejected = {}
        for name, sql in compiled_spark_sql.items():
            try:
                parser.parsePlan(sql)
            except Exception as error:  # py4j wraps Spark's ParseException
                rejected[name] = error.java_exception.getMessage().splitlines()[0][:300]
        # and the parser does reject DuckDB's dialect
        with pytest.raises(Exception):
            parser.parsePlan("select cast([1, 2] as float[2])")
    finally:
        gateway.shutdown()
    assert rejected == {}


def test_a_spark_only_var_on_duckdb_is_one_clear_error(tmp_path):
    result = dbt("compile", "--select", "stg_movielens__links", "--vars", "{spark_serving_schema: serving}",
                 work=tmp_path)
    assert result.returncode != 0
    assert "var spark_serving_schema applies to --target spark only; target 'dev' is duckdb" in result.stdout
