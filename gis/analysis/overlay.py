"""Roads and areas under the coverage shapes: covered road lengths and blind spots.

The shapes are polygons (``gis.geo.geodesy``: vertices exactly on the arc), measured with
geodesic lengths and areas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from gis.geo.geodesy import geodesic_area_m2, geodesic_length_m


def _nearby_unions(targets: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Per target, the union of the shapes intersecting it (None where there are none)."""
    out = np.full(len(targets), None, dtype=object)
    if not len(targets) or not len(shapes):
        return out
    target, shape = shapely.STRtree(shapes).query(targets, predicate="intersects")
    if not len(target):
        return out
    order = np.lexsort((shape, target))
    target, shape = target[order], shape[order]
    starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
    for t, group in zip(target[starts].tolist(), np.split(shape, starts[1:]), strict=True):
        out[t] = shapes[group[0]] if len(group) == 1 else shapely.union_all(shapes[group])
    return out


def covered_length_m(lines: Any, shapes: Any) -> np.ndarray:
    """Per line, the geodesic length (m) of its parts inside the union of ``shapes``."""
    lines = np.atleast_1d(np.asarray(lines, dtype=object))
    unions = _nearby_unions(lines, np.atleast_1d(np.asarray(shapes, dtype=object)))
    covered = np.zeros(len(lines))
    near = np.flatnonzero(unions != None)  # noqa: E711 (elementwise)
    if len(near):
        covered[near] = geodesic_length_m(shapely.intersection(lines[near], unions[near]))
    return covered


@dataclass(frozen=True)
class RoadCoverage:
    """Per line its geodesic length and the metres of it inside the shapes."""

    length_m: np.ndarray
    covered_m: np.ndarray

    @property
    def total_m(self) -> float:
        return float(self.length_m.sum())

    @property
    def covered_total_m(self) -> float:
        return float(self.covered_m.sum())

    @property
    def percent(self) -> float:
        """Covered share of the total length, in % (0 for no length)."""
        return 100.0 * self.covered_total_m / self.total_m if self.total_m > 0 else 0.0


def road_coverage(lines: Any, shapes: Any) -> RoadCoverage:
    """Lengths and covered lengths of ``lines`` (lon/lat) under ``shapes`` (lon/lat)."""
    lines = np.atleast_1d(np.asarray(lines, dtype=object))
    return RoadCoverage(geodesic_length_m(lines), covered_length_m(lines, shapes))


def blind_spots(
    areas: Any, shapes: Any, min_area_m2: float = 1.0, area_m2: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per area, the (multi)polygon of its parts outside every shape and its geodesic area
    (m²); pieces smaller than ``min_area_m2`` (slivers between shapes) are dropped.

    ``area_m2`` (each area's geodesic area, when known): an area no shape meets is wholly
    blind, and is taken as it is with that area instead of being measured again — most of a
    large region's grids, and most of the time."""
    areas = np.atleast_1d(np.asarray(areas, dtype=object))
    unions = _nearby_unions(areas, np.atleast_1d(np.asarray(shapes, dtype=object)))
    rest = areas.copy()
    near = np.flatnonzero(unions != None)  # noqa: E711 (elementwise)
    if len(near):
        rest[near] = shapely.difference(areas[near], unions[near])
    if area_m2 is not None:
        whole = np.ones(len(areas), dtype=bool)
        whole[near] = False
        known = np.asarray(area_m2, float)
        out, measured = blind_spots(rest[~whole], [], min_area_m2)
        rest[~whole] = out
        blind = np.where(whole, np.where(known >= min_area_m2, known, 0.0), 0.0)
        blind[~whole] = measured
        rest[whole & (known < min_area_m2)] = shapely.MultiPolygon()
        single = np.flatnonzero(whole & (known >= min_area_m2) & (shapely.get_type_id(areas) == 3))
        rest[single] = shapely.multipolygons(areas[single, np.newaxis])
        return rest, blind
    parts, owner = shapely.get_parts(rest, return_index=True)
    polygonal = shapely.get_dimensions(parts) == 2
    parts, owner = parts[polygonal], owner[polygonal]
    area = geodesic_area_m2(parts)
    keep = area >= min_area_m2
    parts, owner, area = parts[keep], owner[keep], area[keep]
    out = np.array([shapely.MultiPolygon()] * len(areas), dtype=object)
    if len(parts):
        shapely.multipolygons(parts, indices=owner, out=out)
    return out, np.bincount(owner, area, minlength=len(areas))
