"""One grid format and one selection rule for every model's hyper-parameter search.

A grid is a mapping of key -> list of values (a preset is a named grid); its
points are the ordered Cartesian product. A key left out takes the model's
default value, so `{"rank": [25, 50]}` is a valid explicit-ALS grid. A list of
such mappings is the union of their products, in order: models whose modes
take different keys (explicit ALS's `als` and `bayesian` methods) are tuned
in one grid without crossing keys that do not apply. Each
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

    def expand(self, grid: Mapping[str, Sequence] | Sequence[Mapping[str, Sequence]]) -> list[Point]:
        """The points of `grid` (a mapping, or a list of mappings in order); raises ValueError on an
        unknown key, a bad value or a point listed twice."""
        if isinstance(grid, Mapping):
            return self._expand_one(grid)
        if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or not grid:
            raise ValueError(f"a grid must be a mapping of lists or a non-empty list of them, got {grid!r}")
        points: list[Point] = []
        for part in grid:
            if not isinstance(part, Mapping):
                raise ValueError(f"each part of a grid list must be a mapping of lists, got {part!r}")
            points.extend(self._expand_one(part))
        twice = sorted({str(p) for p in points if points.count(p) > 1})
        if twice:
            raise ValueError(f"the grid lists {', '.join(twice)} more than once")
        return points

    def _expand_one(self, grid: Mapping[str, Sequence]) -> list[Point]:
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


def resolve_grid(var: str, value: Any, presets: Mapping[str, Any]) -> tuple[str, Any]:
    """A preset name -> (name, its grid); a mapping of lists (or a list of them) -> ("custom", it)."""
    if isinstance(value, str):
        if value not in presets:
            raise ValueError(f"{var} {value!r} is not a preset; allowed: {', '.join(sorted(presets))} or a mapping")
        return value, presets[value]
    if isinstance(value, Mapping):
        return "custom", dict(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes) and all(isinstance(v, Mapping) for v in value):
        return "custom", [dict(v) for v in value]
    raise ValueError(f"{var} must be a preset name, a mapping of lists or a list of such mappings, got {value!r}")


def select_lowest(results: Sequence[Result], key: Callable[[Result], Any]) -> Result:
    """The result with the lowest `key`; exact ties go to the earlier one (grid order)."""
    if not results:
        raise ValueError("no tuning results to select from")
    return min(results, key=key)
