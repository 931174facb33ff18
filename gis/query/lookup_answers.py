"""What a lookup answers, whichever index found it (``gis.query.lookup_index`` or PostGIS
in ``gis.query.lookup_sql``): the fields and levels of an answer, and its two renderings —
the JSON answer and the CSV columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

GRID_FIELDS = (
    "code",
    "name",
    "households",
    "population",
    "grid_worker",
    "grid_worker_phone",
    "party_branch",
)

AREA_LEVELS = ("community", "street", "county")
"""The levels above grids, deepest first: an answer names each beside the grid; a point
outside every grid is answered by the deepest of them that covers it, with its ancestors."""

DISTANCE_UNIT = "m"
"""Distances in answers: metres, geodesic on the WGS 84 ellipsoid."""


@dataclass(frozen=True)
class Located:
    """Where points are, per point: the covering grid (index, or -1); the chain of the
    deepest covering region (level → code and name: the grid's ancestors, or the covering
    community, street or county and its ancestors; empty outside everything); outside
    every grid the nearest grid (or -1 without grids) and its distance in metres."""

    grid: list[int]
    chain: list[dict[str, dict[str, str]]]
    nearest: list[int]
    metres: list[float]


@dataclass(frozen=True)
class Found:
    """One point's answer before rendering: its grid's fields (None outside every grid), the
    chain of the deepest covering region, the nearest grid described (``GridIndex.describe``)
    and its distance in metres (outside every grid)."""

    grid: dict[str, Any] | None
    chain: dict[str, dict[str, str]]
    nearest: dict[str, Any] | None
    metres: float


def render_answers(
    version: int | None, lon: np.ndarray, lat: np.ndarray, found: list[Found]
) -> list[dict[str, Any]]:
    """The lookup answers of points (in the shape ``api.schemas.LookupAnswer`` declares)."""
    return [
        {
            "covered": f.grid is not None,
            "grid": f.grid,
            **{level: f.chain.get(level) for level in AREA_LEVELS},
            "nearest": (
                {**f.nearest, "distance_m": round(f.metres, 2)} if f.nearest is not None else None
            ),
            "point": {"lon": round(x, 9), "lat": round(y, 9)},
            "version": version,
            "crs": "EPSG:4326",
            "distance_unit": DISTANCE_UNIT,
        }
        for x, y, f in zip(np.asarray(lon).tolist(), np.asarray(lat).tolist(), found, strict=True)
    ]


def render_rows(found: list[Found]) -> list[list[Any]]:
    """The ``OUTPUT_COLUMNS`` of points."""
    out = []
    for f in found:
        grid = f.grid or {}
        row = [
            f.grid is not None,
            *(grid.get(k) for k in ("code", "name", "grid_worker", "party_branch")),
        ]
        for level in AREA_LEVELS:
            part = f.chain.get(level) or {}
            row += [part.get("code"), part.get("name")]
        if f.nearest is not None:
            near = f.nearest["grid"]
            row += [near["code"], near["name"], round(f.metres, 2)]
        else:
            row += [None, None, None]
        out.append(row)
    return out
