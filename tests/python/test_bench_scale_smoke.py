"""The scale benchmark's smallest size, end to end, as CI's smoke test of the large-data path.

250k synthetic ratings through `cinemart data synth` and a real `cinemart build`:
every stage must run and the table must come out. Timings are reported by the
benchmark, not asserted here. One grid point per model: the stages are under
test, not the grids (tests/python/test_tuning*.py and the real-data bands cover those).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"

pytestmark = pytest.mark.slow  # a whole build of 250k ratings


ONE_POINT_GRIDS = {"als_grid": {"rank": [10], "reg": [0.05], "iterations": [10]},
                   "implicit_grid": {"factors": [16], "regularization": [40.0], "alpha": [2.0], "iterations": [10],
                                     "confidence": ["threshold"]}}


def test_smoke_size_builds_end_to_end(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--sizes", "250k", "--skip-als-sweep", "--work", str(tmp_path),
                           "--vars", json.dumps(ONE_POINT_GRIDS)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    table = {line[:34].strip(): line[34:].split() for line in lines if line[:34].strip()}
    for stage in ("load + validate", "tuning", "final fit", "recommendations", "similar movies"):
        # a stage none of whose nodes ran is printed with peak RSS 0 (its time, 0.0s, proves nothing:
        # a fast stage rounds to 0.0s too)
        assert float(table[stage][1]) > 0, f"stage {stage} did not run"
    assert table["tuning strategy"] == ["kfold"]  # 200k train ratings: below tuning_max_ratings
    achieved, floor = table["test RMSE / planted floor (ratio)"][0].split("/")
    assert float(floor) < float(achieved) < float(floor) + 0.15  # ALS recovers the planted model
