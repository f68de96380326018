"""One grid format and one selection rule for every model's hyper-parameter search.

A grid is a mapping of key -> list of values (a preset is a named grid); its
points are the ordered Cartesian product. A key left out takes the model's
default value, so `{"rank": [25, 50]}` is a valid explicit-ALS grid. Each
point is built by the model's own parameter class, whose checks name the bad
value before any minute of fitting is spent. The best point is the lowest
`key(result)`; exact ties go to the earlier point in grid order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

Point = TypeVar("Point")
Result = TypeVar("Result")


@dataclass(frozen=True)
class GridSpec(Generic[Point]):
    """A model's grid: the parameter class of one point (a dataclass whose fields are the keys)."""

    point: type[Point]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.point))  # type: ignore[arg-type]

    def expand(self, grid: Mapping[str, Sequence]) -> list[Point]:
        """The points of `grid`, in key order; raises ValueError on an unknown key or a bad value."""
        unknown = sorted(set(grid) - set(self.keys))
        if unknown:
            raise ValueError(f"unknown grid key(s) {unknown}; allowed: {', '.join(self.keys)}")
        for key, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise ValueError(f"grid[{key!r}] must be a non-empty list, got {values!r}")
            try:
                distinct = len(set(values))
            except TypeError:
                raise ValueError(f"grid[{key!r}] must hold scalars, got {list(values)!r}") from None
            if distinct != len(values):
                raise ValueError(f"grid[{key!r}] has duplicate values: {list(values)}")
        keys = [k for k in self.keys if k in grid]
        return [self.point(**dict(zip(keys, values))) for values in itertools.product(*(grid[k] for k in keys))]


def resolve_grid(var: str, value: Any, presets: Mapping[str, dict[str, list]]) -> tuple[str, dict[str, list]]:
    """A preset name -> (name, its grid); a mapping of lists -> ("custom", the mapping)."""
    if isinstance(value, str):
        if value not in presets:
            raise ValueError(f"{var} {value!r} is not a preset; allowed: {', '.join(sorted(presets))} or a mapping")
        return value, presets[value]
    if isinstance(value, Mapping):
        return "custom", dict(value)
    raise ValueError(f"{var} must be a preset name or a mapping of lists, got {value!r}")


def select_lowest(results: Sequence[Result], key: Callable[[Result], Any]) -> Result:
    """The result with the lowest `key`; exact ties go to the earlier one (grid order)."""
    if not results:
        raise ValueError("no tuning results to select from")
    return min(results, key=key)
