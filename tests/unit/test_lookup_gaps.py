"""The nearest-grid search's bounds (``gis.query.lookup_gaps``) against the geodesic: a lower
bound never exceeds the metres from the point to the nearest point of a box (pyproj's
Karney on the WGS 84 ellipsoid, over each box's outline densely sampled), and near the box
it is within a few per cent of them (scaled at the box's latitude)."""

from __future__ import annotations

import numpy as np
import pytest

from gis.geo.geodesy import GEOD
from gis.query.lookup_gaps import ChordGaps, PlanarGaps, ecef, ecef_point


def _nearest_metres(x: float, y: float, left: float, low: float, side: float) -> float:
    """The metres from (x, y) to the nearest point of the box's outline (0 inside it):
    the outline sampled every side/2000, then finely around the best sample."""
    if left <= x <= left + side and low <= y <= low + side:
        return 0.0
    t = np.linspace(0.0, 1.0, 2001)
    edges = [
        (left + side * t, np.full_like(t, low)),
        (left + side * t, np.full_like(t, low + side)),
        (np.full_like(t, left), low + side * t),
        (np.full_like(t, left + side), low + side * t),
    ]
    best = np.inf
    for lon, lat in edges:
        metres = np.asarray(GEOD.inv(np.full(len(t), x), np.full(len(t), y), lon, lat)[2])
        i = int(np.argmin(metres))
        lo, hi = max(i - 1, 0), min(i + 1, len(t) - 1)
        fine_lon = np.linspace(lon[lo], lon[hi], 2001)
        fine_lat = np.linspace(lat[lo], lat[hi], 2001)
        fine = GEOD.inv(np.full(len(fine_lon), x), np.full(len(fine_lon), y), fine_lon, fine_lat)
        best = min(best, float(np.min(fine[2])))
    return best


@pytest.mark.parametrize("latitude", [-35.0, 0.5, 21.0, 30.0, 41.0, 53.5, 69.0])
def test_planar_bounds_are_lower_bounds_and_tight_near_the_box(latitude: float) -> None:
    rng = np.random.default_rng(int(abs(latitude) * 10))
    x, y = 110.0, latitude
    gaps, chord = PlanarGaps(x, y), ChordGaps(x, y)
    cases = [  # (degrees east, degrees north, side): near, a few km, and far across a province
        *[
            (dx, dy, side)
            for dx, dy, side in rng.uniform((-0.3, -0.3, 1e-3), (0.3, 0.3, 0.05), (12, 3))
        ],
        *[(dx, dy, side) for dx, dy, side in rng.uniform((-30, -8, 0.01), (30, 8, 0.5), (8, 3))],
        (0.02, 0.0, 0.01),
        (-0.5, 0.001, 0.004),
        (25.0, 0.0, 0.1),  # far east at the same latitude: the great circle bulges poleward
        (55.0, 0.0, 0.1),  # (beyond the 1 % spared at 69°)
    ]
    for dx, dy, side in cases:
        left, low = np.array([x + dx]), np.array([y + dy])
        if abs(low[0]) + side >= 89.0:
            continue
        lower, upper = gaps(left, low, side)
        truth = _nearest_metres(x, y, float(left[0]), float(low[0]), side)
        assert lower[0] <= truth + 1e-6, (dx, dy, side, lower[0], truth)
        assert lower[0] <= upper[0]
        if 0 < truth < 30_000:  # near: the box's own latitude, not a far town's
            assert lower[0] >= 0.97 * truth, (dx, dy, side, lower[0], truth)
        assert chord(left, low, side)[0][0] <= truth + 1e-6


def test_one_point_s_earth_centred_metres_are_the_arrays() -> None:
    """``ecef_point`` (plain floats, a single lookup) agrees with ``ecef`` (numpy) to well
    under a micrometre, from pole to pole and round the antimeridian; and with pyproj's
    geocentric conversion (an independent implementation) to well under a millimetre."""
    from pyproj import Transformer

    rng = np.random.default_rng(3)
    lon = np.r_[rng.uniform(-180, 180, 500), -180.0, 180.0, 0.0, 131.0]
    lat = np.r_[rng.uniform(-90, 90, 500), 90.0, -90.0, 0.0, 45.77]
    many = ecef(lon, lat)
    to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    geocentric = np.array(to_ecef.transform(lon, lat, np.zeros_like(lon)))
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        one = ecef_point(x, y)
        assert one.shape == (3,)
        assert np.abs(one - many[:, i]).max() < 1e-6
        assert np.abs(one - geocentric[:, i]).max() < 1e-3
