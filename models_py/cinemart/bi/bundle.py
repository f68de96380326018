"""The Superset export bundle: readable YAML in bi/superset/bundle, zipped at import time.

The YAML is the one source of truth. Two things cannot live in it: the
warehouse's absolute path (the database's sqlalchemy_uri) and each chart's
query_context, the JSON Superset's chart-data API runs for a saved chart.
The query_context is derived here from the chart's params (its form data), so
the dashboard and the API answer the same query.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import yaml

#: Folder (under the project) holding the bundle's YAML sources.
BUNDLE_SOURCE = Path("bi") / "superset" / "bundle"
#: Superset wants a single root folder inside the zip.
ROOT = "cinemart_dashboard"


class BundleError(ValueError):
    """A bundle source that cannot become an importable zip."""


def database_uri(warehouse: Path) -> str:
    """duckdb-engine's URL for an absolute path: four slashes."""
    return "duckdb:///" + str(warehouse.resolve())


def _filters(params: dict[str, Any]) -> list[dict[str, Any]]:
    filters = []
    for adhoc in params.get("adhoc_filters", []):
        if adhoc.get("expressionType") != "SIMPLE" or adhoc.get("clause") != "WHERE":
            raise BundleError(f"only simple WHERE filters are supported, got {adhoc}")
        filters.append({"col": adhoc["subject"], "op": adhoc["operator"], "val": adhoc["comparator"]})
    return filters


def query_context(params: dict[str, Any]) -> dict[str, Any]:
    """The chart-data request a chart's form data stands for (the datasource is set at import).

    Raw tables select their columns in the chart's order; bar and line charts
    group by the x axis and sort by x_axis_sort. Post-processing (pivots) is
    left out: the API then returns plain rows, one per x value.
    """
    viz = params.get("viz_type")
    query: dict[str, Any] = {"filters": _filters(params), "extras": {"having": "", "where": ""},
                             "applied_time_extras": {}, "row_limit": params.get("row_limit", 10000),
                             "series_limit": 0, "url_params": {}, "custom_params": {},
                             "custom_form_data": {}, "annotation_layers": [], "post_processing": []}
    if viz == "table" and params.get("query_mode") == "raw":
        query.update(columns=list(params["all_columns"]), metrics=[],
                     orderby=[json.loads(order) for order in params.get("order_by_cols", [])])
    elif viz in ("echarts_timeseries_bar", "echarts_timeseries_line"):
        metrics = params["metrics"]
        sort = params.get("x_axis_sort", params["x_axis"])
        by = next((m for m in metrics if m.get("label") == sort), sort)
        query.update(columns=[params["x_axis"]], metrics=metrics,
                     orderby=[[by, bool(params.get("x_axis_sort_asc", True))]])
    else:
        raise BundleError(f"no query_context for viz_type {viz!r} (query_mode {params.get('query_mode')!r})")
    return {"datasource": {"id": 0, "type": "table"}, "force": False, "queries": [query],
            "form_data": params, "result_format": "json", "result_type": "full"}


def _load(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BundleError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None


def write_bundle(source: Path, warehouse: Path, out: Path) -> Path:
    """Zip `source` into `out` with the database pointed at `warehouse`; returns `out`."""
    if not (source / "metadata.yaml").is_file():
        raise BundleError(f"{source} holds no Superset bundle (metadata.yaml is missing)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*.yaml")):
            relative = path.relative_to(source)
            config = _load(path)
            if relative.parts[0] == "databases":
                config["sqlalchemy_uri"] = database_uri(warehouse)
            elif relative.parts[0] == "charts":
                config["query_context"] = json.dumps(query_context(config["params"]))
            archive.writestr(f"{ROOT}/{relative.as_posix()}", yaml.safe_dump(config, sort_keys=False))
    return out
