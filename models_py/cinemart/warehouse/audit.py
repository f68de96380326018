"""What identifies a training run exactly: its data, its settings, the code and the libraries.

Every row a training run writes carries `run_id`; two builds share an id only
when they saw the same ratings with the same split and folds, the same
settings, the same cinemart source and the same library versions. A run id
that left any of these out would call two different models the same run.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import metadata
from pathlib import Path

#: The libraries whose versions change the numbers a run produces.
LIBRARIES = ("numpy", "scipy", "numba", "implicit", "duckdb", "pyarrow", "dbt-core", "dbt-duckdb")


@cache
def code_version() -> str:
    """sha256 prefix of the cinemart package's source: an edit anywhere in it is a new version.

    The package version string alone would not move on an unreleased change.
    """
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@cache
def library_versions() -> str:
    """JSON of cinemart's code version and the library versions, for the audit rows."""
    versions: dict[str, str | None] = {"cinemart": code_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return json.dumps(versions, sort_keys=True)


def run_id(model: str, dataset_fingerprint: str, settings: object) -> str:
    """Deterministic id of one training run: model, data (split and folds), settings, code, libraries."""
    payload = json.dumps([model, dataset_fingerprint, settings, library_versions()], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
