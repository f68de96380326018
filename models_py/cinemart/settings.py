"""Model-plugin settings as users give them (dbt vars), checked before any work starts.

The vars arrive in a dbt Python model as one JSON object (`model_settings`,
see dbt_project.yml); each training module reads its part through
`from_settings_json` and validates it with the helpers here, so a bad value
fails with one line naming the var and what is allowed.
"""

from __future__ import annotations

import json
from typing import Any, Mapping


def load_settings(model_settings: str) -> dict[str, Any]:
    values = json.loads(model_settings)
    if not isinstance(values, dict):
        raise ValueError(f"model_settings must be a JSON object, got {model_settings!r}")
    return values


def resolve_grid(var: str, value: Any, presets: Mapping[str, dict[str, list]]) -> tuple[str, dict[str, list]]:
    """A preset name -> (name, its grid); a mapping of lists -> ("custom", the mapping)."""
    if isinstance(value, str):
        if value not in presets:
            raise ValueError(f"{var} {value!r} is not a preset; allowed: {', '.join(sorted(presets))} or a mapping")
        return value, presets[value]
    if isinstance(value, Mapping):
        return "custom", dict(value)
    raise ValueError(f"{var} must be a preset name or a mapping of lists, got {value!r}")


def require_int(var: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{var} must be an integer >= {minimum}, got {value!r}")
    return value


def require_bool(var: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{var} must be true or false, got {value!r}")
    return value


class SettingsError(ValueError):
    """A user-given setting is invalid; the message names it and what is allowed."""
