"""The demo roads (``roads.geojson``): the invented 路 and 街 inside 栗乡街道 and, as lanes, the
outlines of its grids.

The 路 and 街 are ``demo_build.places``'s lines, the ones the registry's doorplates, the
centres and the cameras name, cut to the street.  Grids are drawn along roads (横向到边、纵向到底),
so their outlines are the lanes between: with them the walking network reaches every block,
as a city's does, and a centre's walk is not a lie of 1 km between two 路.
"""

from __future__ import annotations

from typing import Any

import shapely

from demo_build.frame import rounded
from demo_build.places import demo_roads, urban_street

MAIN_ROAD = "secondary"
LANE = "residential"
"""The ``highway`` of the invented 路/街 and of the grid outlines (OpenStreetMap's words)."""


def _key(line: Any) -> tuple[float, ...]:
    x, y = rounded(line.coords[0])
    return (x, y, *rounded(line.coords[-1]))


def generate_roads(features: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Road features (``name``, ``highway``; LineString geometry): the named roads by name,
    then the grid outlines merged into lines, ordered by their first and last points."""
    street = urban_street(features)["geometry"]
    named = [
        {"properties": {"name": r.name, "highway": MAIN_ROAD}, "geometry": part}
        for r in sorted(demo_roads(street), key=lambda r: r.name)
        for part in shapely.get_parts(r.clipped).tolist()
    ]
    outlines = shapely.line_merge(
        shapely.union_all([shapely.boundary(g["geometry"]) for g in features["grid"]])
    )
    lanes = sorted(shapely.get_parts(outlines).tolist(), key=_key)
    return named + [{"properties": {"name": None, "highway": LANE}, "geometry": g} for g in lanes]
