"""What a run id covers: the data with its split and folds, the settings, the code and the libraries."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from cinemart.data.ratings import SplitRatings
from cinemart.warehouse import audit


def _split(cv_fold: list[int]) -> SplitRatings:
    return SplitRatings.from_columns({
        "user_id": np.array([1, 1, 2, 2]), "movie_id": np.array([1, 2, 1, 2]), "rating": np.array([4.0, 3.0, 5.0, 2.0]),
        "is_test": np.array([False, False, False, True]), "cv_fold": np.array(cv_fold),
        "is_after_cut": np.array([False, True, False, False]),
    })


def test_the_fingerprint_sees_the_cv_folds():
    assert _split([0, 1, 1, -1]).fingerprint != _split([1, 0, 1, -1]).fingerprint


def test_run_id_covers_data_settings_code_and_libraries(monkeypatch):
    data = _split([0, 1, 1, -1])
    base = audit.run_id("explicit_als", data.fingerprint, {"rank": 5})
    assert base == audit.run_id("explicit_als", data.fingerprint, {"rank": 5})  # deterministic
    assert base != audit.run_id("explicit_als", _split([1, 0, 1, -1]).fingerprint, {"rank": 5})
    assert base != audit.run_id("explicit_als", data.fingerprint, {"rank": 6})
    assert base != audit.run_id("popularity", data.fingerprint, {"rank": 5})
    versions = json.loads(audit.library_versions())
    assert versions["cinemart"] == audit.code_version() and "numba" in versions and "implicit" in versions
    monkeypatch.setattr(audit, "library_versions", lambda: json.dumps({**versions, "numba": "0.0"}))
    assert base != audit.run_id("explicit_als", data.fingerprint, {"rank": 5})


def test_settings_enter_the_run_id_in_full():
    from cinemart.warehouse.explicit_tables import ExplicitSettings, training_run_id

    data = _split([0, 1, 1, -1])
    settings = ExplicitSettings.from_config({})
    assert training_run_id(data, settings) != training_run_id(data, dataclasses.replace(settings, seed=1))
