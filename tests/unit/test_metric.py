"""The metric frames of ``gis.geo.geodesy`` against Karney's geodesics (``pyproj.Geod``) on
the committed demo boundaries: upload validation's equal-area areas and lookup's
equidistant distances are true metres."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from gis.geo.geodesy import (
    DENSIFY_DEG,
    GEOD,
    AzimuthalFrame,
    EqualAreaFrame,
    geodesic_area_m2,
)

BOUNDARIES = Path(__file__).resolve().parents[2] / "data" / "boundaries"
LEVELS = ("county", "streets", "communities", "grids")


def _regions(level: str) -> np.ndarray:
    features = json.loads((BOUNDARIES / f"{level}.geojson").read_text(encoding="utf-8"))
    return np.array([shape(f["geometry"]) for f in features["features"]], dtype=object)


@pytest.mark.parametrize("level", LEVELS)
def test_equal_area_frame_is_the_geodesic_area(level: str) -> None:
    """Each region's area in the Lambert equal-area frame is the geodesic area of the same
    densified outline within 1e-9 relative (edges straight in degrees, as PostGIS has them)."""
    regions = _regions(level)
    frame = EqualAreaFrame(list(regions))
    measured = np.array([frame.area(region) for region in regions])
    geodesic = geodesic_area_m2(shapely.segmentize(regions, DENSIFY_DEG))
    assert measured == pytest.approx(geodesic, rel=1e-9)


@pytest.mark.parametrize("level", LEVELS)
def test_azimuthal_frame_distances_from_its_centre_are_geodesic(level: str) -> None:
    """Every vertex lies at its geodesic distance from the frame's centre (the middle of the
    regions' bounding box) within 1e-6 m, and comes back where it was."""
    regions = _regions(level)
    frame = AzimuthalFrame(regions)
    lon, lat = shapely.get_coordinates(regions).T
    west, south, east, north = shapely.total_bounds(regions)
    centre = np.full(len(lon), (west + east) / 2), np.full(len(lat), (south + north) / 2)
    _, _, metres = GEOD.inv(*centre, lon, lat)
    x, y = frame.forward(lon, lat)
    assert np.hypot(x, y) == pytest.approx(metres, abs=1e-6)
    assert np.column_stack(frame.inverse(x, y)) == pytest.approx(
        np.column_stack([lon, lat]), abs=1e-9
    )
