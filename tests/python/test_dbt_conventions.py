"""The dbt project's conventions hold: unit tests, contracts, and md5 values worked out by hand.

The split unit tests (models/intermediate/_intermediate__unit_tests.yml) spell
their expected buckets and folds as numbers; a number copied wrong would make
the SQL look wrong or, worse, agree with a wrong SQL. Here Python's hashlib
recomputes each one from the protocol's definition. The other tests read the
artifacts of the session's real build (the `real_warehouse` fixture), so
`make test` proves that every unit test ran and passed and that every model a
dashboard or a user reads is public with an enforced contract.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]


def declared_unit_tests() -> list[dict]:
    tests = []
    for path in sorted((PROJECT_DIR / "models").rglob("*.yml")):
        tests += (yaml.safe_load(path.read_text()) or {}).get("unit_tests", [])
    return tests


def md5_bucket(key: str, modulus: int) -> int:
    """The protocol of int_ratings_split: the first 8 hex digits of md5 as an integer, mod `modulus`."""
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % modulus


def test_the_split_unit_tests_expect_what_hashlib_computes():
    split_tests = [t for t in declared_unit_tests() if t["model"] == "int_ratings_split"]
    assert len(split_tests) >= 2
    for test in split_tests:
        seed, test_percent, folds = (test["overrides"]["vars"][k] for k in ("split_seed", "test_percent", "cv_folds"))
        given = [(r["user_id"], r["movie_id"]) for r in test["given"][0]["rows"]]
        expected = test["expect"]["rows"]
        assert [(r["user_id"], r["movie_id"]) for r in expected] == given
        for row in expected:
            key = f"{row['user_id']}-{row['movie_id']}-{seed}"
            bucket = md5_bucket(key, 100)
            assert row["split_bucket"] == bucket, (test["name"], key)
            assert row["is_test"] == (bucket < test_percent), (test["name"], key)
            assert row["cv_fold"] == (None if bucket < test_percent else md5_bucket(key + "-fold", folds)), key
        # each test holds rows of both parts, so a flipped comparison would fail it
        assert {row["is_test"] for row in expected} == {True, False}


@pytest.fixture(scope="module")
def build_artifacts(real_warehouse) -> tuple[dict, dict]:
    """(run_results, manifest) of the session's full `dbt build` on ml-latest-small."""
    target = real_warehouse.database.parent / "target"
    return (json.loads((target / "run_results.json").read_text()),
            json.loads((target / "manifest.json").read_text()))


def test_the_sql_with_logic_is_unit_tested_and_every_unit_test_passed_in_the_build(build_artifacts):
    """The parsing, splitting and genre models have dbt unit tests, and the build ran each declared one."""
    run_results, _ = build_artifacts
    declared = declared_unit_tests()
    assert {"base_movielens__ratings", "base_movielens__movies", "int_ratings_split", "int_movie_genres",
            "stg_movielens__movies", "movie_popularity"} <= {t["model"] for t in declared}
    ran = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in run_results["results"]
           if r["unique_id"].startswith("unit_test.")}
    assert sorted(ran) == sorted(t["name"] for t in declared)  # each declared test ran once, under its own name
    assert set(ran.values()) == {"pass"}


def test_every_exposed_model_is_public_grouped_and_contracted(build_artifacts):
    """What an exposure (a dashboard, the report) reads, and every public model, has an enforced contract."""
    _, manifest = build_artifacts
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    exposed = {dep.split(".")[-1] for e in manifest["exposures"].values() for dep in e["depends_on"]["nodes"]}
    public = {name for name, n in models.items() if n["access"] == "public"}
    assert exposed <= public
    assert {"user_factors", "movie_factors", "implicit_user_factors", "implicit_movie_factors", "als_factors",
            "implicit_factors", "ranking_evaluation", "als_model_runs"} <= public
    for name in public:
        node = models[name]
        assert node["contract"]["enforced"] and node["language"] == "sql" and node["group"], name
        assert all(column["data_type"] for column in node["columns"].values()), name


def test_no_python_model_can_run_beside_duckdbs_loading_share(build_artifacts):
    """The memory plan (macros/memory_limits.sql, cinemart.memory) as the DAG guarantees it.

    The models that load the ratings raise DuckDB's instance-wide memory_limit
    to the loading share, which assumes no model-plugin array exists yet. With
    two dbt threads that holds only if every Python model waits for all of
    them: each must be downstream of every model that takes the loading share.
    """
    _, manifest = build_artifacts
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    loading = {uid for uid, n in nodes.items()
               if any("duckdb_memory_limit_hook('loading')" in hook["sql"] for hook in n["config"]["pre-hook"])}
    assert {nodes[uid]["name"] for uid in loading} == {"base_movielens__ratings", "stg_movielens__ratings",
                                                       "int_ratings_split"}

    def ancestors(uid: str) -> set[str]:
        seen, stack = set(), [uid]
        while stack:
            for parent in manifest["nodes"].get(stack.pop(), {}).get("depends_on", {}).get("nodes", []):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    python_models = [uid for uid, n in nodes.items() if n["language"] == "python"]
    assert len(python_models) > 10
    assert [nodes[uid]["name"] for uid in python_models if not loading <= ancestors(uid)] == []
