"""The whole project compiles to Spark SQL that Spark's parser accepts, with no DuckDB-only construct.

A DuckDB-only construct in a model, a macro without a spark__ twin or a YAML
test written in DuckDB's dialect fails here: every model and data test
(the Python models included) as `dbt build --target spark` compiled it in the
run's one Spark build (conftest `full_spark_build`, which also proves the
project parses and compiles for Spark), and Spark's own SQL parser must accept
every compiled statement. Functions Spark parses but does not have are caught
by the builds themselves (test_spark_build.py, test_spark_parity.py).
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("dbt.adapters.spark")

from spark_sql_support import dbt_cli as dbt  # noqa: E402

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


def without_string_literals(sql: str) -> str:
    """SQL with every '...' literal (Spark escapes: \\' and '') emptied."""
    return re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", sql)


@pytest.fixture(scope="module")
def compiled_spark_sql(full_spark_build) -> dict[str, str]:
    """What the Spark build compiled: dbt keeps every node's SQL under target/compiled."""
    root = full_spark_build.work / "spark" / "target" / "compiled"
    return {str(path.relative_to(root)): path.read_text() for path in root.rglob("*.sql")}


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


def test_spark_parses_every_compiled_statement(spark, compiled_spark_sql):
    parser = spark._jsparkSession.sessionState().sqlParser()
    rejected = {}
    for name, sql in compiled_spark_sql.items():
        try:
            parser.parsePlan(sql)
        except Exception as error:  # py4j wraps Spark's ParseException
            rejected[name] = error.java_exception.getMessage().splitlines()[0][:300]
    assert rejected == {}
    # and the parser does reject DuckDB's dialect
    with pytest.raises(Exception, match="PARSE_SYNTAX_ERROR|ParseException|mismatched|error"):
        parser.parsePlan("select cast([1, 2] as float[2])")


def test_a_spark_only_var_on_duckdb_is_one_clear_error(tmp_path):
    result = dbt("compile", "--select", "stg_movielens__links", "--vars", "{spark_serving_schema: serving}",
                 work=tmp_path)
    assert result.returncode != 0
    assert "var spark_serving_schema applies to --target spark only; target 'dev' is duckdb" in result.stdout
