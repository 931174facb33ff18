"""The map scale benchmark's outlines: a county blob split into streets, communities and
grids (Voronoi cells of Lloyd-relaxed points, each level clipped to its parent), cut from
one noded arrangement, densified and bent (see ``map_scale``'s docstring)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shapely
from cities import reading_order, relaxed_cells, sample_inside

CENTRE = (131.0, 45.77)  # 七台河市 (lon, lat)
SEMI_AXES_KM = (7.5, 6.0)  # the county blob: about 15 km × 12 km
KM_PER_DEG_LAT = 111.2
KM_PER_DEG_LON = KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[1]))
N_GRIDS = 824
N_COMMUNITIES = 62


def rng_for(seed: int, key: str) -> np.random.Generator:
    """The random generator of one part of the city: the same for a seed whatever else runs."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def to_km(geom: Any) -> Any:
    """Degrees → km east/north of CENTRE (a plate carrée frame: fine over the county)."""
    scale = np.array([KM_PER_DEG_LON, KM_PER_DEG_LAT])
    return shapely.transform(geom, lambda c: (c - np.array(CENTRE)) * scale)


def to_deg(geom: Any) -> Any:
    """km east/north of CENTRE → degrees (the inverse of ``to_km``)."""
    scale = np.array([KM_PER_DEG_LON, KM_PER_DEG_LAT])
    return shapely.transform(geom, lambda c: c / scale + np.array(CENTRE))


def _blob(rng: np.random.Generator) -> shapely.Polygon:
    """A smooth irregular ellipse of SEMI_AXES_KM around the origin (km)."""
    theta = np.linspace(0.0, 2.0 * math.pi, 256, endpoint=False)
    radius = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        radius += (
            rng.uniform(0.03, 0.08) / (k - 1) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
        )
    a, b = SEMI_AXES_KM
    return shapely.Polygon(np.c_[a * radius * np.cos(theta), b * radius * np.sin(theta)])


def _cells(domain: Any, n: int, rng: np.random.Generator, iterations: int) -> list[Any]:
    """Voronoi cells, clipped to ``domain``, of ``n`` Lloyd-relaxed random points; retried
    until every cell is one polygon."""
    envelope = shapely.box(*domain.bounds).buffer(10.0)
    for _ in range(100):
        points = sample_inside(domain, n, rng, batch=4 * n + 8)
        cells = relaxed_cells(points, domain, envelope, iterations)
        if all(isinstance(c, shapely.Polygon) and c.area > 0 for c in cells):
            return list(cells)
    raise RuntimeError("could not make single-part cells; change --seed")


def in_reading_order(geoms: Sequence[Any], frame: Any) -> list[int]:
    """Indices of ``geoms`` in reading order (rows = √n bands of ``frame``'s bounding box,
    by centroid)."""
    _, y0, _, y1 = frame.bounds
    centroids = shapely.get_coordinates(shapely.centroid(np.asarray(geoms, dtype=object)))
    return reading_order(centroids, max(1, round(math.sqrt(len(geoms)))), y1, y1 - y0).tolist()


def _apportion(areas: Sequence[float], total: int, minimum: int) -> list[int]:
    """``total`` split in proportion to ``areas`` (largest remainders), each ≥ ``minimum``."""
    quota = [total * a / sum(areas) for a in areas]
    counts = [max(minimum, math.floor(q)) for q in quota]
    while sum(counts) < total:
        counts[max(range(len(areas)), key=lambda j: (quota[j] - counts[j], -j))] += 1
    while sum(counts) > total:
        spare = [j for j in range(len(areas)) if counts[j] > minimum]
        counts[min(spare, key=lambda j: (quota[j] - counts[j], j))] -= 1
    return counts


def _displacement(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A smooth displacement field (km → km): ± 15 m over 0.3–1.5 km plus ± 1 m over
    20–40 m, per axis; its Lipschitz constant stays below 0.6, so it bends the arrangement
    without folding it (shared edges stay shared, nothing crosses)."""
    waves = []
    for amplitude, (low, high) in ((0.005, (0.3, 1.5)), (0.0003, (0.02, 0.04))):
        for axis in (0, 1):
            for _ in range(3):
                angle = rng.uniform(0, 2 * math.pi)
                k = 2 * math.pi / rng.uniform(low, high)
                waves.append(
                    (axis, amplitude, k * math.cos(angle), k * math.sin(angle), rng.uniform(0, 7))
                )

    def move(c: np.ndarray) -> np.ndarray:
        out = c.copy()
        for axis, amplitude, kx, ky, phase in waves:
            out[:, axis] += amplitude * np.sin(kx * c[:, 0] + ky * c[:, 1] + phase)
        return out

    return move


def boundaries(n_streets: int, spacing_m: float, seed: int) -> list[list[list[Any]]]:
    """The grids as polygons in degrees, nested: ``out[s][c]`` the grids of community ``c``
    of street ``s`` (streets and communities in reading order, grids not yet)."""
    rng = rng_for(seed, "boundaries")
    county = _blob(rng)
    streets = _cells(county, n_streets, rng, iterations=6)
    streets = [streets[i] for i in in_reading_order(streets, county)]
    per_street = _apportion([s.area for s in streets], N_COMMUNITIES, 3)
    communities = []
    for street, k in zip(streets, per_street, strict=True):
        cells = _cells(street, k, rng, iterations=3)
        communities.append([cells[i] for i in in_reading_order(cells, street)])
    flat = [c for cs in communities for c in cs]
    per_community = _apportion([c.area for c in flat], N_GRIDS, 4)
    grid_cells = [_cells(c, k, rng, iterations=3) for c, k in zip(flat, per_community, strict=True)]

    # one noded arrangement of every edge (km, 1 cm snap), densified and bent, in degrees
    lines = [county.boundary, *(c.boundary for cells in grid_cells for c in cells)]
    noded = shapely.get_parts(shapely.line_merge(shapely.union_all(lines, grid_size=1e-5)))
    bent = shapely.transform(shapely.segmentize(noded, spacing_m / 1000.0), _displacement(rng))
    faces = shapely.get_parts(shapely.polygonize(bent))
    flat_grids = [c for cells in grid_cells for c in cells]
    tree = shapely.STRtree(flat_grids)
    owner = np.empty(len(faces), dtype=int)
    for i, face in enumerate(faces):
        candidates = tree.query(face)
        overlap = shapely.area(shapely.intersection(face, tree.geometries[candidates]))
        owner[i] = candidates[int(np.argmax(overlap))]
    pieces: list[list[Any]] = [[] for _ in flat_grids]
    for face, g in zip(faces, owner.tolist(), strict=True):
        pieces[g].append(to_deg(face))
    grids_deg = []
    for g, parts in enumerate(pieces):
        geom = parts[0] if len(parts) == 1 else shapely.coverage_union_all(parts)
        if not isinstance(geom, shapely.Polygon) or not geom.is_valid:
            raise RuntimeError(f"grid {g} came out as {geom.geom_type}; change --seed")
        grids_deg.append(geom)
    starts = np.cumsum([0, *per_community])
    chunks = [grids_deg[starts[j] : starts[j + 1]] for j in range(len(flat))]
    firsts = np.cumsum([0, *per_street])
    return [chunks[firsts[s] : firsts[s + 1]] for s in range(len(streets))]
