"""The Spark engine's settings as profiles.yml renders them: where its output goes, and its time zone.

The profile is rendered by dbt's own ProfileRenderer, so these are the values
`dbt build --target spark` and `cinemart build --engine spark` start Spark with.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

pytest.importorskip("dbt.adapters.spark")

from cinemart.cli import main  # noqa: E402
from cinemart.spark.environment import SparkEnvironmentError, check_spark_conf, spark_warehouse_dir  # noqa: E402
from cinemart.warehouse.dbt import find_project_dir  # noqa: E402


def spark_conf() -> dict:
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)
    raw = yaml.safe_load((find_project_dir() / "profiles.yml").read_text())
    return ProfileRenderer({}).render_data(raw["cinemart"]["outputs"]["spark"])["server_side_parameters"]


@pytest.mark.parametrize("env, expected", [
    ({}, "warehouse/spark"),
    ({"CINEMART_WAREHOUSE_DIR": "/srv/other"}, "/srv/other/spark"),
    ({"CINEMART_WAREHOUSE_DIR": "/srv/other", "CINEMART_SPARK_WAREHOUSE_DIR": "/srv/spark"}, "/srv/spark"),
])
def test_one_setting_moves_both_engines_output(monkeypatch, env, expected):
    monkeypatch.delenv("CINEMART_WAREHOUSE_DIR", raising=False)
    monkeypatch.delenv("CINEMART_SPARK_WAREHOUSE_DIR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    conf = spark_conf()

    assert conf["spark.sql.warehouse.dir"] == spark_warehouse_dir() == expected
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == \
        f"jdbc:derby:;databaseName={expected}/metastore_db;create=true"


def test_the_session_time_zone_stays_utc_and_another_is_refused_before_any_work(monkeypatch, capsys):
    monkeypatch.setenv("CINEMART_SPARK_CONF", '{"spark.sql.session.timeZone": "Europe/Paris", '
                                              '"spark.executor.memory": "3g"}')

    conf = spark_conf()
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.executor.memory"] == "3g"  # every other setting is the user's
    with pytest.raises(SparkEnvironmentError, match="always runs in UTC"):
        check_spark_conf()
    assert main(["build", "--engine", "spark", "--from", str(Path("/nonexistent"))]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "spark.sql.session.timeZone" in error
