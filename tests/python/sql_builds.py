"""DuckDB builds of the SQL layers (staging, the split, the EDA marts) from small MovieLens folders.

Several modules check the same builds from different sides (quarantine
verdicts, staging shape, engine parity); conftest's `sql_build` fixture makes
each one once per run through `build_sql_layers`.
"""

from __future__ import annotations

from pathlib import Path

from cinemart.data.layout import detect_layout
from cinemart.warehouse.dbt import find_project_dir, run_dbt

# the SQL layers only: models/intermediate/recommender holds the model plugin's Python steps
SQL_LAYERS = ["path:models/staging", "path:models/intermediate/int_ratings_split.sql",
              "path:models/intermediate/int_movie_genres.sql", "path:models/marts/eda"]


def build_sql_layers(data_dir: Path, work: Path, extra_env: dict[str, str] | None = None) -> Path:
    """`dbt build` of SQL_LAYERS (models and their data tests) from `data_dir` into work/warehouse.duckdb."""
    database = work / "warehouse.duckdb"
    result = run_dbt("build", detect_layout(data_dir), project_dir=find_project_dir(), database=database,
                     select=SQL_LAYERS, target_dir=work, extra_env=extra_env)
    assert result.returncode == 0, f"dbt build of {data_dir} failed, see {work / 'logs'}"
    return database
