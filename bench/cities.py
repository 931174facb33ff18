"""Generated cities: Voronoi cells of random points clipped to a domain, optionally relaxed
(Lloyd), and numbered in reading order — the grids of the upload, lookup and map benchmarks.

Every function takes its random generator from the caller and draws in a fixed order, so a
seed gives the same city on every run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely


def sample_inside(domain: Any, n: int, rng: np.random.Generator, batch: int) -> np.ndarray:
    """``n`` uniform points inside ``domain`` (rejection sampling, ``batch`` candidates at a
    time), as an (n, 2) array."""
    x0, y0, x1, y1 = domain.bounds
    shapely.prepare(domain)
    points = np.empty((0, 2))
    while len(points) < n:
        cand = rng.uniform([x0, y0], [x1, y1], size=(batch, 2))
        points = np.vstack([points, cand[shapely.contains_xy(domain, cand[:, 0], cand[:, 1])]])
    return points[:n]


def voronoi_cells(points: np.ndarray, domain: Any, envelope: Any) -> np.ndarray:
    """The Voronoi cell of each point (in the points' order), built out to ``envelope`` and
    clipped to ``domain``."""
    cells = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=envelope, ordered=True)
    return np.asarray(shapely.intersection(shapely.get_parts(cells), domain), dtype=object)


def relaxed_cells(points: np.ndarray, domain: Any, envelope: Any, iterations: int) -> np.ndarray:
    """Voronoi cells after ``iterations`` Lloyd steps: each point moves to its cell's centroid
    (to a point on the cell's surface when the centroid falls outside the domain)."""
    for _ in range(iterations):
        cells = voronoi_cells(points, domain, envelope)
        centroids = shapely.centroid(cells)
        inside = shapely.contains(domain, centroids)
        centroids = np.where(inside, centroids, shapely.point_on_surface(cells))
        points = shapely.get_coordinates(centroids)
    return voronoi_cells(points, domain, envelope)


def reading_order(xy: np.ndarray, rows: int, top: float, height: float) -> np.ndarray:
    """Indices of the points ``xy`` (e.g. cell centroids) in reading order: ``rows`` bands
    from ``top`` down over ``height``, north to south, each band west to east."""
    row = np.minimum(rows - 1, ((top - xy[:, 1]) / height * rows).astype(int))
    return np.lexsort((xy[:, 0], row))
