"""The points of the HTTP lookup benchmark (``bench/lookup_http.py``): uniform over the
grids (most covered, the rest in holes between them: outside, near — or, where the grids
leave no holes, up to 0.005° (~500 m) outside their box), and outside far."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from common import ROOT

from gis.query.lookup import GridIndex

sys.path.insert(0, str(ROOT / "tests"))
from large_city import CELL, ORIGIN

LOOKUP = "/api/v1/lookup"


@dataclass(frozen=True)
class Points:
    """The request points (WGS84, rounded as sent) and which grid covers each (-1: none)."""

    lon: np.ndarray
    lat: np.ndarray
    found: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.found >= 0

    def path(self, i: int) -> str:
        return f"{LOOKUP}?lon={self.lon[i]:.6f}&lat={self.lat[i]:.6f}&crs=wgs84"


def grid_box(index: GridIndex, county: int) -> tuple[float, float, float, float]:
    """The box of the demo's grids, or of ``large_city``'s county of ``county`` grids."""
    if not county:
        x0, y0, x1, y1 = index.arrays["grid.bounds"].tolist()
        return x0, y0, x1, y1
    rows = -(-county // 200)
    return ORIGIN[0], ORIGIN[1], ORIGIN[0] + 200 * CELL[0], ORIGIN[1] + rows * CELL[1]


def make_points(index: GridIndex, n: int, seed: int, county: int = 0) -> Points:
    """``n`` points uniform in the box of the grids (:func:`grid_box`), rounded to 1e-6°."""
    xmin, ymin, xmax, ymax = grid_box(index, county)
    rng = np.random.default_rng(seed)
    lon = np.round(rng.uniform(xmin, xmax, n), 6)
    lat = np.round(rng.uniform(ymin, ymax, n), 6)
    return Points(lon, lat, index.covering(lon, lat))


def far_points(
    index: GridIndex, n: int, seed: int, county: int = 0, gaps: tuple[float, float] = (0.05, 0.2)
) -> Points:
    """``n`` points ``gaps`` degrees (by default ~5–20 km) outside the box of the grids, on
    every side."""
    xmin, ymin, xmax, ymax = grid_box(index, county)
    rng = np.random.default_rng(seed)
    gap, side = rng.uniform(*gaps, n), rng.integers(0, 4, n)
    along = rng.uniform(0, 1, n)
    lon = np.select([side == 0, side == 1], [xmin - gap, xmax + gap], xmin + along * (xmax - xmin))
    lat = np.select([side == 2, side == 3], [ymin - gap, ymax + gap], ymin + along * (ymax - ymin))
    lon, lat = np.round(lon, 6), np.round(lat, 6)
    return Points(lon, lat, index.covering(lon, lat))
