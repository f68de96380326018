"""The Superset bundle's YAML and its zip, and `cinemart bi`'s refusals: no Superset needed.

test_superset.py imports the zip into a real Superset; these catch a broken
source file, or a refusal that turns into a traceback, in the fast suite.
"""

from __future__ import annotations

import json
import zipfile

import pytest
import yaml

from cinemart.bi.bundle import BUNDLE_SOURCE, ROOT, BundleError, query_context, write_bundle
from cinemart.cli import main
from cinemart.warehouse.dbt import find_project_dir

SOURCE = find_project_dir() / BUNDLE_SOURCE


@pytest.fixture
def bundle(tmp_path) -> dict[str, dict]:
    warehouse = tmp_path / "somewhere else" / "cinemart.duckdb"
    out = write_bundle(SOURCE, warehouse, tmp_path / "bundle.zip")
    with zipfile.ZipFile(out) as archive:
        return {name.removeprefix(f"{ROOT}/"): yaml.safe_load(archive.read(name)) for name in archive.namelist()}


def test_the_zip_points_read_only_at_the_given_warehouse(bundle, tmp_path):
    (database,) = [config for name, config in bundle.items() if name.startswith("databases/")]
    assert database["sqlalchemy_uri"] == f"duckdb:///{tmp_path / 'somewhere else' / 'cinemart.duckdb'}"
    assert database["sqlalchemy_uri"].startswith("duckdb:////")
    assert database["extra"]["engine_params"]["connect_args"] == {"read_only": True}


def test_every_chart_is_on_the_dashboard_with_a_query_over_a_bundled_dataset(bundle):
    charts = {config["uuid"]: config for name, config in bundle.items() if name.startswith("charts/")}
    datasets = {config["uuid"]: config for name, config in bundle.items() if name.startswith("datasets/")}
    (dashboard,) = [config for name, config in bundle.items() if name.startswith("dashboards/")]
    placed = {node["meta"]["uuid"] for node in dashboard["position"].values()
              if isinstance(node, dict) and node.get("type") == "CHART"}
    assert placed == set(charts) and len(charts) == 6
    for chart in charts.values():
        dataset = datasets[chart["dataset_uuid"]]
        columns = {column["column_name"] for column in dataset["columns"]}
        (query,) = json.loads(chart["query_context"])["queries"]
        asked = {c for c in query["columns"]} | {f["col"] for f in query["filters"]}
        assert asked <= columns, f"{chart['slice_name']} asks {asked - columns} of {dataset['table_name']}"


def test_a_chart_type_without_a_query_translation_is_refused():
    with pytest.raises(BundleError, match="no query_context for viz_type 'pie'"):
        query_context({"viz_type": "pie", "adhoc_filters": []})


def test_cinemart_bi_refuses_in_one_line_without_a_warehouse_or_without_superset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CINEMART_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    assert main(["bi", "--superset-venv", str(tmp_path / "no-venv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cinemart: error: no published warehouse at ") and err.count("\n") == 1

    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "cinemart.duckdb").write_bytes(b"")
    assert main(["bi", "--superset-venv", str(tmp_path / "no-venv")]) == 2
    err = capsys.readouterr().err
    assert err == f"cinemart: error: Superset is not installed in {tmp_path / 'no-venv'}: run `make bi-setup` first\n"
