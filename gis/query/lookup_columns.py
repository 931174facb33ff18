"""Chosen fields of many lookups, as columns (``fields=``): the wire's share of a batch.

A full answer repeats the grid's fields and its community, street and county — codes and
names — for every point (~475 bytes).  A data desk placing a year of 12345 records wants the
codes, once per point, and each region's name once.  :func:`place` answers the chosen
:data:`FIELDS` of many WGS84 points as Arrow arrays, without a Python object per point: the
grid covering each point (the index's cells), else the deepest community, street or county
covering it; each level's code (and name) taken from per-region tables through the parent
links; ``nearest.code`` and ``distance_m`` (the nearest grid of a point outside every grid,
geodesic metres) only when asked for — they are searched point by point.  The same rules as a
single lookup (``gis.query.lookup_index``): the lowest code wins on a shared edge.

The tables are built once per index (:func:`tables`) from its arrays: a province's 10⁶ grids
take about a second, once per version per worker.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from gis.errors import InvalidInput
from gis.query.lookup_answers import AREA_LEVELS
from gis.query.lookup_index import GridIndex

LEVELS = ("grid", *AREA_LEVELS)
FIELDS = (
    "covered",
    *(f"{level}.{part}" for level in LEVELS for part in ("code", "name")),
    "nearest.code",
    "distance_m",
)
"""What ``fields=`` may name: whether a grid covers the point, each level's code and name,
and outside every grid the nearest grid's code and the distance to it (metres, geodesic)."""
CODES = tuple(f"{level}.code" for level in LEVELS)
"""The default fields of the stream: the codes of the grid and the regions above it."""


def parse_fields(text: str | None, default: tuple[str, ...] = CODES) -> tuple[str, ...]:
    """The fields of a ``fields=`` parameter (comma-separated; empty or None: ``default``);
    422 ``unknown_field`` naming those that are not in :data:`FIELDS`."""
    if text is None or not text.strip():
        return default
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"未知字段 {', '.join(unknown)[:200]}；可选：{', '.join(FIELDS)} "
            f"(unknown fields; choose from {', '.join(FIELDS)})",
            code="unknown_field",
            details={"unknown": unknown[:20], "fields": list(FIELDS)},
        )
    return names


@dataclass(frozen=True)
class Tables:
    """Per index: the code and name of each grid and each region above grids (as Arrow
    string arrays), and for each grid and each region its ancestor's number at each level
    above grids (-1: none)."""

    grid_code: pa.Array
    grid_name: pa.Array
    grid_region: np.ndarray
    """The region number of each grid's parent (-1: none)."""
    region_code: pa.Array
    region_name: pa.Array
    up: dict[str, np.ndarray]
    """Level → for each region, the number of itself or its ancestor at that level (-1)."""


def _pairs(blob: np.ndarray, offsets: np.ndarray, first: Any, second: Any) -> tuple[list, list]:
    """Two fields of each JSON record of a blob (all decoded in one parse)."""
    joined = b",".join(blob[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1))
    records = json.loads(b"[" + joined + b"]")
    return [r[first] for r in records], [r[second] for r in records]


def _build(index: GridIndex) -> Tables:
    arrays = index.arrays
    grid_code, grid_name = _pairs(arrays["grid.records"], arrays["grid.offsets"], "code", "name")
    region_code, region_name = _pairs(arrays["region.records"], arrays["region.offsets"], 0, 1)
    level, parent = arrays["region.level"], arrays["region.parent"].astype(np.int64)
    count = len(level)
    up = {}
    for depth, name in enumerate(AREA_LEVELS):
        found = np.full(count, -1, dtype=np.int64)
        at = np.arange(count, dtype=np.int64)
        for _ in range(len(AREA_LEVELS) + 1):  # parent links are at most this deep
            live = at >= 0
            hit = live & (found < 0)
            hit[hit] = level[at[hit]] == depth
            found[hit] = at[hit]
            at[live] = parent[at[live]]
        up[name] = found
    return Tables(
        pa.array(grid_code, pa.string()),
        pa.array(grid_name, pa.string()),
        arrays["grid.parent"].astype(np.int64),
        pa.array(region_code, pa.string()),
        pa.array(region_name, pa.string()),
        up,
    )


_TABLES: weakref.WeakKeyDictionary[GridIndex, Tables] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def tables(index: GridIndex) -> Tables:
    """The index's :class:`Tables`, built on first use and kept while the index lives."""
    with _LOCK:
        found = _TABLES.get(index)
        if found is None:
            found = _TABLES[index] = _build(index)
        return found


def _take(values: pa.Array, numbers: np.ndarray) -> pa.Array:
    """``values[numbers]`` with null where a number is -1."""
    return values.take(pa.array(numbers, mask=numbers < 0))


def _gather(values: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """``values[numbers]``, -1 where a number is -1 (and everywhere when ``values`` is empty:
    an index without grids or without regions above them)."""
    if not len(values):
        return np.full(len(numbers), -1, dtype=np.int64)
    return np.where(numbers >= 0, values[np.maximum(numbers, 0)], -1)


def deepest(index: GridIndex, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the covering grid (-1: none) and the deepest region above grids covering
    it — a grid's parent for a point in a grid (-1: none)."""
    table = tables(index)
    grid = index.covering(lon, lat)
    region = _gather(table.grid_region, grid)
    rest = np.flatnonzero(grid < 0)
    for level in index.areas:
        if not len(rest):
            break
        found = level.cells.covering(lon[rest], lat[rest])
        hit = found >= 0
        region[rest[hit]] = level.region[found[hit]]
        rest = rest[~hit]
    return grid, region


def place(
    index: GridIndex, lon: np.ndarray, lat: np.ndarray, fields: tuple[str, ...]
) -> dict[str, pa.Array]:
    """The chosen ``fields`` of each WGS84 point, as Arrow arrays in input order."""
    table = tables(index)
    grid, region = deepest(index, lon, lat)
    out: dict[str, pa.Array] = {}
    nearest: tuple[np.ndarray, np.ndarray] | None = None
    if {"nearest.code", "distance_m"} & set(fields):
        outside = np.flatnonzero(grid < 0)
        near, metres = np.full(len(lon), -1, np.int64), np.full(len(lon), np.nan)
        near[outside], metres[outside] = index.nearest(lon[outside], lat[outside])
        nearest = near, metres
    for field in fields:
        level, _, part = field.partition(".")
        if field == "covered":
            out[field] = pa.array(grid >= 0)
        elif level == "grid":
            out[field] = _take(table.grid_code if part == "code" else table.grid_name, grid)
        elif level in table.up:
            numbers = _gather(table.up[level], region)
            out[field] = _take(table.region_code if part == "code" else table.region_name, numbers)
        elif field == "nearest.code" and nearest is not None:
            out[field] = _take(table.grid_code, nearest[0])
        elif nearest is not None:  # distance_m
            metres = np.round(nearest[1], 2)
            out[field] = pa.array(metres, mask=np.isnan(metres))
    return out


def names(placed: dict[str, pa.Array]) -> dict[str, str]:
    """Each distinct region's name by its code, from placed ``<level>.code`` and
    ``<level>.name`` columns: the dictionary section of a compact answer."""
    found: dict[str, str] = {}
    for level in LEVELS:
        code, name = placed.get(f"{level}.code"), placed.get(f"{level}.name")
        if code is None or name is None:
            continue
        pairs = pa.Table.from_arrays([code, name], ["c", "n"]).group_by(["c", "n"]).aggregate([])
        for c, n in zip(pairs["c"].to_pylist(), pairs["n"].to_pylist(), strict=True):
            if c is not None:
                found[c] = n
    return found
