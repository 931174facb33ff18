"""Placing points in the demo city: the covering grid, the registry's compounds, pulling a
point back inside, and the invented road lines the centres and cameras refer to.

The road lines are drawn here (stream ``roads``): the seven 路 of the registry run roughly
west→east, one per equal band of 栗乡街道's bounding box from the south, the five 街 roughly
south→north, one per band from the west; each shifted by up to ±15 % of its band and tilted
by up to ±8 %.  ``demo_build.roads`` writes them, cut to the street, into the roads file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from demo_build.addresses import ROADS
from demo_build.frame import INSET_DEG, rng, rounded, to_deg, to_km
from demo_build.sources import URBAN_STREET_CODE


class GridIndex:
    """The demo grids, for placing points: the covering grid (lowest code on a tie) and
    whether a point keeps ``INSET_DEG`` from every grid edge (7-decimal rounding safe)."""

    def __init__(self, grids: Sequence[dict[str, Any]]) -> None:
        ordered = sorted(grids, key=lambda g: g["properties"]["code"])
        self.codes = [g["properties"]["code"] for g in ordered]
        self.parents = [g["properties"]["parent_code"] for g in ordered]
        self.geoms = [g["geometry"] for g in ordered]
        self.shrunk = [shapely.buffer(g, -INSET_DEG, join_style="mitre") for g in self.geoms]
        self.tree = shapely.STRtree(self.geoms)
        self.safe_tree = shapely.STRtree(self.shrunk)

    def code_at(self, lon: float, lat: float) -> str | None:
        hits = self.tree.query(shapely.Point(lon, lat), predicate="covered_by")
        return min((self.codes[i] for i in hits.tolist()), default=None)

    def safe_grid(self, point: np.ndarray) -> int | None:
        """Index of the shrunk grid containing ``point`` (rounded to 7 decimals), if any."""
        lon, lat = rounded(point)
        hits = self.safe_tree.query(shapely.Point(lon, lat), predicate="within").tolist()
        return hits[0] if hits else None

    def area(self, indices: Sequence[int]) -> Any:
        return shapely.union_all([self.shrunk[i] for i in indices])


def urban_street(features: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """栗乡街道's feature among ``regions.generate``'s features."""
    return next(f for f in features["street"] if f["properties"]["code"] == URBAN_STREET_CODE)


def toward(point: np.ndarray, target: np.ndarray, inside: Any) -> np.ndarray:
    """``target`` if it lies in ``inside``, else the first of the points halfway back
    towards ``point`` (which must lie in ``inside``) that does."""
    for _ in range(20):
        if shapely.contains_xy(inside, *rounded(target)):
            return target
        target = (point + target) / 2.0
    return point


def point_of(row: dict[str, Any]) -> np.ndarray:
    """The (lon, lat) of a registry row."""
    return np.array([float(row["lon"]), float(row["lat"])])


def doorplates(addresses: Sequence[dict[str, Any]]) -> set[tuple[str, int]]:
    """The (road, number) doorplates the registry uses."""
    return {(r["road"], int(r["road_number"])) for r in addresses if r.get("road_number")}


def compounds(
    addresses: Sequence[dict[str, Any]], index: GridIndex
) -> list[tuple[dict[str, Any], int]]:
    """The registry's compound rows (their centres) with the index of their (shrunk) grid."""
    out = []
    for row in addresses:
        if row.get("compound") and not row.get("building"):
            grid = index.safe_grid(point_of(row))
            if grid is None:
                raise RuntimeError(f"compound {row['compound']} lies too close to a grid edge")
            out.append((row, grid))
    return out


@dataclass(frozen=True)
class Road:
    """An invented road line (its name from the registry's)."""

    name: str
    axis: str  # "ew" (路, west→east) or "ns" (街, south→north)
    line: Any  # the full line in degrees
    clipped: Any  # its part inside 栗乡街道


def demo_roads(street: Any) -> list[Road]:
    """Invented road lines across 栗乡街道 for the registry's 12 road names: the 路 run
    roughly west→east in equal bands from the south, the 街 roughly south→north in equal
    bands from the west, each slightly shifted and tilted (seeded)."""
    stream = rng("roads")
    street_km = to_km(street)
    minx, miny, maxx, maxy = street_km.bounds
    out = []
    for axis, suffix in (("ew", "路"), ("ns", "街")):
        names = [r for r in ROADS if r.endswith(suffix)]
        names = [names[i] for i in stream.permutation(len(names)).tolist()]
        low, high = (miny, maxy) if axis == "ew" else (minx, maxx)
        band = (high - low) / len(names)
        for i, name in enumerate(names):
            at = low + (i + 0.5) * band + float(stream.uniform(-0.15, 0.15)) * band
            tilt = float(stream.uniform(-0.08, 0.08))
            if axis == "ew":
                ends = [
                    (minx - 1.0, at - tilt * (maxx - minx)),
                    (maxx + 1.0, at + tilt * (maxx - minx)),
                ]
            else:
                ends = [
                    (at - tilt * (maxy - miny), miny - 1.0),
                    (at + tilt * (maxy - miny), maxy + 1.0),
                ]
            line = to_deg(shapely.LineString(ends))
            out.append(Road(name, axis, line, line.intersection(street)))
    return out


def crossings(roads: Sequence[Road], inside: Any) -> list[tuple[Road, Road, np.ndarray]]:
    """(路, 街, point) for every crossing of a 路 and a 街 inside ``inside``."""
    out = []
    for ew in (r for r in roads if r.axis == "ew"):
        for ns in (r for r in roads if r.axis == "ns"):
            point = ew.line.intersection(ns.line)
            if isinstance(point, shapely.Point) and inside.contains(point):
                out.append((ew, ns, np.array([point.x, point.y])))
    return out
