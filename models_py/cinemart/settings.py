"""Model-plugin settings as users give them (dbt vars): their defaults, in one place.

The vars reach a dbt Python model as one JSON object (`model_settings`, see
dbt_project.yml), which holds only the vars the user actually set; every
default lives in `DEFAULTS` below, so dbt_project.yml, the settings classes
and the serving macros cannot disagree about them. Each training module reads
its part and validates it (`cinemart.validation`), so a bad value fails with
one line naming the var and what is allowed.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any, Mapping

#: Every model-plugin var and its default (docs/models-and-evaluation.md, docs/large-datasets.md).
DEFAULTS: dict[str, Any] = {
    "als_grid": "default",  # preset (default, spark_seed), a mapping of lists over GridPoint's keys, or a list of them
    "als_biased": True,  # false = Spark's plain model, for parity with the seed notebook
    "als_solver": "auto",  # cholesky, cg, or auto: cg on train parts past tuning_max_ratings (DuckDB engine; MLlib: cholesky)
    "als_dtype": "float32",  # or float64 (DuckDB engine only, likewise)
    "als_selection_rule": "auto",  # one_se | lowest; auto = one_se, lowest for spark_seed (cinemart.tuning.explicit)
    "als_seed": 2020,
    "implicit_grid": "default",  # preset (default, quick) or a mapping over ImplicitParams' fields
    "implicit_seed": 2020,
    "ease_grid": "default",  # preset (default, quick) or a mapping over regularization, min_rating
    "ease_max_memory": "1GiB",  # EASE's budget: past it, only the most-liked movies that fit (docs/models-and-evaluation.md)
    "similar_movies_min_ratings": 10,  # ratings from which similar lists are collaborative; below: blended with content
    "tuning_strategy": "auto",  # auto | kfold | sampled_holdout
    "tuning_max_ratings": 2_000_000,  # auto: k-fold CV up to this many train ratings
    "ranking_eval_max_users": 50_000,  # ranking_evaluation scores a seeded sample of test users past this many
}

#: Defaults the Spark engine sets differently, for the engine's own reason. EASE's factor tables are Spark
#: rows of one float per kept movie for every user and movie; with the 1 GiB budget, ml-latest-small keeps
#: all 5,746 liked movies and the blend's table (10,352 rows of 5,756 floats) exhausts a 4 GiB driver heap
#: (benchmarks/RESULTS.md). 160 MiB keeps about 700 there; a set var wins on either engine.
SPARK_DEFAULTS: dict[str, Any] = {"ease_max_memory": "160MiB"}

#: Every other var the dbt project reads: the dataset layout (`cinemart build`
#: detects it) or own data files, the evaluation protocol (dbt_project.yml) and engine-only vars.
#: macros/validate_vars.sql holds the same list for plain `dbt build`
#: (tests/python/test_settings.py keeps the two, and every var() in the project, in step).
PROJECT_VARS: tuple[str, ...] = (
    "data_dir", "movielens_format", "movies_encoding", "has_tags", "has_links",
    "ratings_file", "movies_file", "own_columns",
    "split_seed", "test_percent", "cv_folds", "temporal_test_percent", "popularity_prior_weight",
    "spark_serving_schema", "popular_prior_ratings", "popular_min_ratings",
)
KNOWN_VARS: tuple[str, ...] = (*DEFAULTS, *PROJECT_VARS)


class SettingsError(ValueError):
    """A user-given setting is invalid; the message names it and what is allowed."""


def check_var_names(values: Mapping[str, Any]) -> None:
    """Refuse a var no model reads, naming the closest known one.

    dbt accepts any `--vars` key and a misspelled one (`als_gird`) would
    silently leave the default in place for a whole, long build.
    """
    unknown = [name for name in values if name not in KNOWN_VARS]
    if not unknown:
        return
    described, guessed_all = [], True
    for name in unknown:
        close = difflib.get_close_matches(str(name), KNOWN_VARS, n=1)
        described.append(f"{name!r} (did you mean {close[0]}?)" if close else repr(name))
        guessed_all = guessed_all and bool(close)
    known = "" if guessed_all else f"; known vars: {', '.join(KNOWN_VARS)}"
    raise SettingsError(f"unknown var{'s' if len(unknown) > 1 else ''} {', '.join(described)}{known}")


def with_defaults(values: Mapping[str, Any], engine: str = "duckdb") -> dict[str, Any]:
    """The model-plugin vars among `values` (other dbt vars pass through the CLI too), over `DEFAULTS` (and,
    on Spark, `SPARK_DEFAULTS`)."""
    return {**DEFAULTS, **(SPARK_DEFAULTS if engine == "spark" else {}),
            **{key: value for key, value in values.items() if key in DEFAULTS}}


def load_settings(model_settings: str | None, engine: str = "duckdb") -> dict[str, Any]:
    """The `model_settings` JSON a dbt Python model gets, over the engine's defaults."""
    values = json.loads(model_settings or "{}")
    if not isinstance(values, dict):
        raise ValueError(f"model_settings must be a JSON object, got {model_settings!r}")
    return with_defaults(values, engine)


@dataclass(frozen=True)
class FamilySettings:
    """What every model family's settings hold: its grid (by preset name), seed and tuning policy.

    Subclasses add their own vars and build themselves in `from_config(values)`.
    """

    grid_name: str
    grid: dict[str, list]
    seed: int
    tuning: Any  # cinemart.tuning.plan.TuningPolicy (kept untyped here: settings sit below tuning)

    @classmethod
    def from_dbt(cls, model_settings: str | None):  # -> the subclass
        """From the `model_settings` JSON a dbt Python model gets (see dbt_project.yml)."""
        return cls.from_config(load_settings(model_settings))  # type: ignore[attr-defined]
