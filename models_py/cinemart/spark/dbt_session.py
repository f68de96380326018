"""dbt Python models on open-source Spark, run in dbt's own SparkSession.

dbt-spark submits Python models only to Databricks (submission methods
`all_purpose_cluster`, `job_cluster`; dbt-labs/dbt-adapters#478). With its
`method: session` connection the SparkSession already lives in the dbt
process, so the compiled model can simply run there:
`SessionPythonJobHelper.submit` execs the script dbt compiled (the
`py_write_table` macro: the model's code, then `dbt = dbtObj(spark.table);
df = model(dbt, spark); df.write...saveAsTable(...)`) with that session bound
as the global `spark`.

Registration (`install`) adds the helper to `SparkAdapter.python_submission_helpers`
under the name `session` and makes `session` the default submission method when
the target's connection method is `session` (other methods keep dbt-spark's
default, so a model needs no `submission_method` config at all and the same
model files still submit normally on thrift/http targets or dbt-databricks,
whose adapter overrides both properties).

How it runs in a plain `dbt build --target spark`: dbt-core's plugin system
(dbt.plugins) imports every top-level module whose name starts with `dbt_`
at the start of each command and instantiates the `dbtPlugin` classes listed
in its `plugins` attribute. The shim module `dbt_cinemart_spark` (beside the
`cinemart` package in models_py/) re-exports `plugins` from here, and
`CinemartSparkSession.initialize` calls `install` (and, unless PYSPARK_PYTHON
is set, points Spark's Python workers at dbt's own interpreter). No .pth file, no
interpreter-wide import hook, no profile change: only dbt processes load it,
and only when dbt-spark is installed does it do anything.
"""

from __future__ import annotations

import importlib.util
from typing import Any

SUBMISSION_METHOD = "session"

try:  # dbt-core is a hard dependency of cinemart, but keep the module importable without it
    from dbt.adapters.base import PythonJobHelper
    from dbt.plugins.manager import dbtPlugin
except ImportError:  # pragma: no cover - cinemart always installs dbt-core
    PythonJobHelper = object  # type: ignore[assignment,misc]
    dbtPlugin = object  # type: ignore[assignment,misc]


def active_spark_session():
    """The SparkSession dbt-spark's session connection created in this process (getOrCreate returns it)."""
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()


class SessionPythonJobHelper(PythonJobHelper):
    """Runs a compiled dbt Python model in the current process's SparkSession."""

    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.parsed_model = parsed_model
        self.credentials = credentials

    def submit(self, compiled_code: str) -> Any:
        name = f"{self.parsed_model.get('schema', '')}.{self.parsed_model.get('alias', 'model')}"
        namespace = {"spark": active_spark_session(), "__name__": f"dbt_python_model_{name.replace('.', '_')}"}
        from cinemart.spark.resources import release_written

        try:
            exec(compile(compiled_code, f"<dbt python model {name}>", "exec"), namespace)  # noqa: S102
        finally:  # the model's table is written (or failed): free what it kept cached for the write
            release_written()
        return None


def _is_session_method(credentials: Any) -> bool:
    method = getattr(credentials, "method", None)
    return getattr(method, "value", method) == SUBMISSION_METHOD


def install() -> bool:
    """Register the `session` submission method on dbt-spark's SparkAdapter; idempotent.

    Returns False (and changes nothing) when dbt-spark is not installed.
    """
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        return False
    from dbt.adapters.spark.impl import SparkAdapter

    if getattr(SparkAdapter, "_cinemart_session_submission", False):
        return True
    helpers = SparkAdapter.python_submission_helpers
    default = SparkAdapter.default_python_submission_method

    def python_submission_helpers(self):
        return {**helpers.fget(self), SUBMISSION_METHOD: SessionPythonJobHelper}

    def default_python_submission_method(self):
        if _is_session_method(self.config.credentials):
            return SUBMISSION_METHOD
        return default.fget(self)

    SparkAdapter.python_submission_helpers = property(python_submission_helpers)
    SparkAdapter.default_python_submission_method = property(default_python_submission_method)
    SparkAdapter._cinemart_session_submission = True
    return True


class CinemartSparkSession(dbtPlugin):
    """dbt-core plugin whose only job is `install()` at the start of every dbt command."""

    def initialize(self) -> None:
        # before dbt-spark opens its session: Python workers get dbt's interpreter (numpy, pyarrow)
        from cinemart.spark.environment import use_this_python

        try:
            installed = install()
        except Exception as error:  # never break a dbt command (DuckDB builds load this plugin too)
            import sys

            print(f"cinemart: in-session Spark Python models unavailable: {error}", file=sys.stderr)
            return
        if installed:
            use_this_python()


plugins = [CinemartSparkSession]
