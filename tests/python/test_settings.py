"""Model-plugin vars are validated before any work: one line naming the value and what is allowed."""

from __future__ import annotations

import pytest

from cinemart.cli import main
from cinemart.warehouse.explicit_tables import ExplicitSettings
from cinemart.warehouse.ranking_tables import RankingSettings


@pytest.mark.parametrize("vars_json, message", [
    ('{"als_grid": "nope"}', "als_grid 'nope' is not a preset; allowed: default, spark_seed"),
    ('{"als_grid": {"rnk": [5]}}', "unknown grid key(s) ['rnk']"),
    ('{"als_grid": {"rank": [0]}}', "rank"),
    ('{"als_grid": {"reg": [-0.1]}}', "reg"),
    ('{"als_biased": "yes"}', "als_biased must be true or false, got 'yes'"),
    ('{"als_solver": "lu"}', "solver must be one of"),
    ('{"implicit_grid": {"alpha": [0]}}', "alpha"),
    ('{"similar_movies_min_ratings": 0}', "similar_movies_min_ratings must be an integer >= 1, got 0"),
    ('{"tuning_strategy": "fast"}', "tuning_strategy 'fast' is not known; allowed: auto, kfold, sampled_holdout"),
    ('{"tuning_max_ratings": 10}', "tuning_max_ratings must be an integer >= 1000, got 10"),
    ('[1, 2]', "--vars must be a JSON object"),
])
def test_bad_vars_fail_in_one_line_before_any_work(vars_json, message, capsys, closed_port_url, monkeypatch):
    monkeypatch.setenv("CINEMART_DOWNLOAD_BASE_URL", closed_port_url)  # no fetch may even start
    monkeypatch.delenv("CINEMART_DATA_DIR", raising=False)
    code = main(["build", "--vars", vars_json])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("cinemart: error: ") and err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def test_defaults_and_presets_resolve():
    explicit = ExplicitSettings.from_config({"als_grid": "spark_seed", "als_biased": False})
    assert (explicit.grid_name, explicit.biased, explicit.grid["rank"]) == ("spark_seed", False, [5, 10, 15])
    ranking = RankingSettings.from_config({})
    assert ranking.grid_name == "default" and ranking.similar_min_ratings == 10
    assert ranking.tuning.strategy == "auto" and ranking.tuning.max_ratings == 2_000_000
