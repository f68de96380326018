"""Model-plugin vars are validated before any work: one line naming the value and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cinemart.cli import main
from cinemart.data.layout import detect_layout
from cinemart.settings import DEFAULTS, KNOWN_VARS, SettingsError, check_var_names
from cinemart.warehouse.dbt import find_project_dir, run_dbt
from cinemart.warehouse.explicit_tables import ExplicitSettings
from cinemart.warehouse.ranking_tables import RankingSettings


@pytest.mark.parametrize("vars_json, message", [
    ('{"als_grid": "nope"}', "als_grid 'nope' is not a preset; allowed: default, spark_seed"),
    ('{"als_grid": {"rnk": [5]}}', "unknown grid key(s) ['rnk']"),
    ('{"als_grid": {"rank": [0]}}', "rank"),
    ('{"als_grid": {"reg": [-0.1]}}', "reg"),
    ('{"als_biased": "yes"}', "als_biased must be true or false, got 'yes'"),
    ('{"als_solver": "lu"}', "solver must be one of"),
    ('{"als_selection_rule": "cheapest"}', "als_selection_rule 'cheapest' is not known; allowed: auto, one_se, lowest"),
    ('{"als_grid": [{"method": ["bayesian"], "reg": [0.1]}]}', "reg does not apply to method 'bayesian'"),
    ('{"als_grid": [{"method": ["bayesian"], "iterations": [10]}]}', "method 'bayesian' needs iterations > burn_in, got iterations=10, burn_in=10"),
    ('{"implicit_grid": {"alpha": [0]}}', "alpha"),
    ('{"similar_movies_min_ratings": 0}', "similar_movies_min_ratings must be an integer >= 1, got 0"),
    ('{"tuning_strategy": "fast"}', "tuning_strategy 'fast' is not known; allowed: auto, kfold, sampled_holdout"),
    ('{"tuning_max_ratings": 10}', "tuning_max_ratings must be an integer >= 1000, got 10"),
    ('{"ease_grid": {"regularization": [0]}}', "regularization must be a finite number > 0, got 0"),
    ('{"ease_max_memory": "lots"}', "ease_max_memory must be a size such as 16GB, 512MB or 1.5GiB, got 'lots'"),
    ('[1, 2]', "--vars must be a JSON object"),
    ('{"als_gird": "default"}', "unknown var 'als_gird' (did you mean als_grid?)"),
    ('{"tuning_strategy": "kfold", "implict_seed": 1}', "unknown var 'implict_seed' (did you mean implicit_seed?)"),
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
    assert explicit.selection_rule == "lowest"  # auto: the seed notebook's rule for its grid
    assert ExplicitSettings.from_config({}).selection_rule == "one_se"
    assert ExplicitSettings.from_config({"als_grid": "spark_seed", "als_selection_rule": "one_se"}).selection_rule \
        == "one_se"
    ranking = RankingSettings.from_config({})
    assert ranking.grid_name == "default" and ranking.similar_min_ratings == 10
    assert ranking.tuning.strategy == "auto" and ranking.tuning.max_ratings == 2_000_000


def test_a_var_far_from_any_known_one_lists_them_all():
    with pytest.raises(SettingsError) as caught:
        check_var_names({"split_seed": 1, "zzzz": 1, "als_gird": 1})

    message = str(caught.value)
    assert message.startswith("unknown vars 'zzzz', 'als_gird' (did you mean als_grid?); known vars: als_grid, ")
    assert "\n" not in message


def test_known_var_lists_cover_every_var_the_project_reads():
    """settings.KNOWN_VARS, the list in macros/validate_vars.sql and the var() calls cannot drift apart."""
    project = find_project_dir()
    macro = (project / "macros" / "validate_vars.sql").read_text()
    macro_list = re.search(r"set known = \[(.*?)\]", macro, re.S).group(1)
    assert re.findall(r"'([a-z_0-9]+)'", macro_list) == list(KNOWN_VARS)

    sources = [project / "dbt_project.yml", *project.glob("models/**/*.sql"), *project.glob("models/**/*.yml"),
               *project.glob("macros/**/*.sql")]
    read = {name for path in sources for name in re.findall(r"var\(\s*['\"]([a-z_0-9]+)['\"]", path.read_text())}
    assert read and read <= set(KNOWN_VARS)
    model_settings = re.search(r"for name in \[(.*?)\]", (project / "dbt_project.yml").read_text(), re.S).group(1)
    assert re.findall(r'"([a-z_0-9]+)"', model_settings) == list(DEFAULTS)


@pytest.mark.slow
def test_plain_dbt_refuses_a_misspelled_var(make_movielens_folder, tmp_path, capfd):
    """The on-run-start check: dbt itself would accept any key and build with the defaults."""
    layout = detect_layout(make_movielens_folder("csv"))

    result = run_dbt("parse", layout, project_dir=find_project_dir(), database=tmp_path / "x.duckdb",
                     extra_vars={"als_gird": "default"}, target_dir=tmp_path)

    assert result.returncode != 0
    assert "unknown var 'als_gird' (did you mean als_grid?)" in capfd.readouterr().out


def test_spark_takes_its_own_ease_budget_unless_the_var_is_set():
    """SPARK_DEFAULTS: EASE's factor tables are Spark rows of one float per kept movie, so the Spark engine's
    default budget is smaller; a set ease_max_memory wins on both engines."""
    from cinemart.settings import SPARK_DEFAULTS
    from cinemart.warehouse.ease_tables import EaseSettings

    assert EaseSettings.from_dbt("{}").max_bytes == 1 << 30
    assert EaseSettings.from_dbt("{}", engine="spark").max_bytes == 160 << 20 == \
        EaseSettings.from_config({"ease_max_memory": SPARK_DEFAULTS["ease_max_memory"]}).max_bytes
    assert EaseSettings.from_dbt('{"ease_max_memory": "1GiB"}', engine="spark").max_bytes == 1 << 30
