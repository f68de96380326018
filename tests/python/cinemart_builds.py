"""Real `cinemart build` subprocesses into a private warehouse folder, shared by the tests that publish.

Publishing and serving are about files, locks and processes, not accuracy: every
build here trains one small configuration per model (a default-grid build of
ml-latest-small costs minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import LATEST_SMALL_DIR

CINEMART = str(Path(sys.executable).parent / "cinemart")
QUICK_VARS = {"als_grid": {"rank": [10], "reg": [0.1], "iterations": [10]}, "cv_folds": 2, "implicit_grid": "quick",
              "ease_grid": "quick", "ease_max_memory": "160MiB"}


def build_env(warehouse: Path) -> dict[str, str]:
    return {**os.environ, "CINEMART_WAREHOUSE_DIR": str(warehouse), "CINEMART_DATA_DIR": str(LATEST_SMALL_DIR),
            "DBT_TARGET_PATH": str(warehouse / "dbt-target"), "DBT_LOG_PATH": str(warehouse / "dbt-logs")}


def build_command(*args: str, **extra_vars) -> list[str]:
    return [CINEMART, "build", *args, "--vars", json.dumps({**QUICK_VARS, **extra_vars})]


def run_build(warehouse: Path, *args: str, **extra_vars) -> subprocess.CompletedProcess:
    return subprocess.run(build_command(*args, **extra_vars), env=build_env(warehouse), capture_output=True,
                          text=True, timeout=900)


def start_build(warehouse: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(build_command(*args), env=build_env(warehouse), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
