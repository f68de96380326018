"""Argument checks shared by every layer, so a bad value fails with the same message everywhere.

bool is an int subclass in Python: `rank=True` is a bug, not a rank of 1, so
every integer check rejects it explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def require_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def require_number(name: str, value: object, ok: Callable[[float], bool] = lambda v: True,
                   allowed: str = "") -> float:
    """A finite real number satisfying `ok`; `allowed` says what `ok` demands (e.g. ">= 0")."""
    is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or not ok(value):
        raise ValueError(f"{name} must be a finite number {allowed}".rstrip() + f", got {value!r}")
    return float(value)


def require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def index_array(name: str, values: object, bound: int) -> np.ndarray:
    """`values` as a 1-D int64 array of indices in 0..bound-1, or a ValueError naming them."""
    array = np.asarray(values)
    # an empty Python list arrives as float64; only non-empty arrays must be integer
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D integer array, got dtype {array.dtype}, shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= bound):
        raise ValueError(f"{name} must lie in 0..{bound - 1}, got {array.min()}..{array.max()}")
    return array.astype(np.int64, copy=False)
