"""The coverage benchmark's data: a seeded city of buildings, party-service centres and
cameras (with boundary probes), and the grids and report inputs over it (see ``coverage``'s
docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from cities import voronoi_cells
from pyproj import Geod

from gis.analysis.coverage import DemandPoint, Facility, Grid

CENTRE = (118.32, 40.15)

HALF_SIDE_M = 10_000.0

GRIDS = 400

GEOD = Geod(ellps="WGS84")

LEVELS = (("centre", 1000.0, 0.05), ("station", 500.0, 0.20), ("home", 300.0, 0.75))


@dataclass
class City:
    """Buildings, centres and cameras as arrays, and how many buildings are boundary probes."""

    plon: np.ndarray
    plat: np.ndarray
    clon: np.ndarray
    clat: np.ndarray
    radius: np.ndarray
    klon: np.ndarray
    klat: np.ndarray
    azimuth: np.ndarray
    fov: np.ndarray
    reach: np.ndarray
    level: np.ndarray
    probes: dict[str, int] = field(default_factory=dict)


def _offsets(
    lon: np.ndarray, lat: np.ndarray, east: np.ndarray, north: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``east``/``north`` metres from lon/lat (geodesic moves, east then north)."""
    x, y, _ = GEOD.fwd(lon, lat, np.where(east >= 0, 90.0, 270.0), np.abs(east))
    x, y, _ = GEOD.fwd(x, y, np.where(north >= 0, 0.0, 180.0), np.abs(north))
    return np.asarray(x), np.asarray(y)


def make_city(points: int, centres: int, cameras: int, seed: int) -> City:
    """The seeded city (see the module docstring)."""
    rng = np.random.default_rng(seed)

    def uniform(k: int) -> tuple[np.ndarray, np.ndarray]:
        east, north = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, (2, k))
        return _offsets(np.full(k, CENTRE[0]), np.full(k, CENTRE[1]), east, north)

    compounds = np.column_stack(uniform(300))
    clustered = int(points * 0.7)
    which = rng.integers(0, len(compounds), clustered)
    spread = np.clip(rng.normal(0, 250, (2, clustered)), -1000, 1000)
    blon, blat = _offsets(compounds[which, 0], compounds[which, 1], *spread)
    ulon, ulat = uniform(points - clustered)
    plon, plat = np.r_[blon, ulon], np.r_[blat, ulat]

    # centres near compounds, levels and radii as the settings' defaults
    levels = rng.choice(len(LEVELS), centres, p=[w for _, _, w in LEVELS])
    radius = np.array([r for _, r, _ in LEVELS])[levels]
    home = rng.integers(0, len(compounds), centres)
    clon, clat = _offsets(compounds[home, 0], compounds[home, 1], *rng.normal(0, 150, (2, centres)))

    # cameras at compounds' edges, looking anywhere
    site = rng.integers(0, len(compounds), cameras)
    klon, klat = _offsets(compounds[site, 0], compounds[site, 1], *rng.normal(0, 300, (2, cameras)))
    kind = rng.choice(3, cameras, p=[0.7, 0.2, 0.1])
    fov = np.choose(kind, [rng.uniform(30, 90, cameras), rng.uniform(90, 180, cameras), 360.0])
    azimuth = rng.uniform(0, 360, cameras)
    reach = np.where(kind == 2, rng.uniform(20, 60, cameras), rng.uniform(30, 150, cameras))

    # boundary probes replace some buildings: exactly on the circle, on the range on the
    # axis, on a field-of-view edge (at 10–90 % of the range), at the camera itself
    probes = {"on a centre's circle": 2000, "on a camera's range": 1000}
    probes |= {"on a camera's fov edge": 1000, "at a camera": 200}
    slots = rng.choice(points, sum(probes.values()), replace=False)
    at = np.split(slots, np.cumsum(list(probes.values()))[:-1])
    c = rng.integers(0, centres, len(at[0]))
    x, y, _ = GEOD.fwd(clon[c], clat[c], rng.uniform(-180, 180, len(c)), radius[c])
    plon[at[0]], plat[at[0]] = x, y
    k = rng.integers(0, cameras, len(at[1]))
    x, y, _ = GEOD.fwd(klon[k], klat[k], azimuth[k], reach[k])
    plon[at[1]], plat[at[1]] = x, y
    k = rng.integers(0, cameras, len(at[2]))
    edge = azimuth[k] + np.where(rng.random(len(k)) < 0.5, -1, 1) * fov[k] / 2
    x, y, _ = GEOD.fwd(klon[k], klat[k], edge, reach[k] * rng.uniform(0.1, 0.9, len(k)))
    plon[at[2]], plat[at[2]] = x, y
    k = rng.integers(0, cameras, len(at[3]))
    plon[at[3]], plat[at[3]] = klon[k], klat[k]
    level = np.array([name for name, _, _ in LEVELS])[levels]
    return City(plon, plat, clon, clat, radius, klon, klat, azimuth, fov, reach, level, probes)


@dataclass
class Region:
    """The report's inputs: grids, buildings as demand points, centres and cameras."""

    grids: list[Grid]
    demand: list[DemandPoint]
    households: np.ndarray
    centres: list[Facility]
    cameras: list[Facility]


def make_region(city: City, n_grids: int, seed: int) -> Region:
    """Grids over the city and the report's inputs (see the module docstring)."""
    rng = np.random.default_rng([seed, 1])  # apart from the city's stream
    x0, y0 = city.plon.min(), city.plat.min()
    x1, y1 = city.plon.max(), city.plat.max()
    box = shapely.box(x0, y0, x1, y1)
    pick = rng.choice(len(city.plon), n_grids, replace=False)
    slon, slat = _offsets(city.plon[pick], city.plat[pick], *rng.uniform(-50, 50, (2, n_grids)))
    slon, slat = np.clip(slon, x0, x1), np.clip(slat, y0, y1)
    _, north, _ = GEOD.inv(np.full(n_grids, x0), np.full(n_grids, y1), np.full(n_grids, x0), slat)
    order = np.lexsort((slon, np.floor(np.asarray(north) / 2000.0)))
    slon, slat = slon[order], slat[order]
    polygons = voronoi_cells(np.column_stack([slon, slat]), box, box)
    if len(polygons) != n_grids or not shapely.is_valid(polygons).all():
        raise SystemExit(f"{len(polygons)} Voronoi cells for {n_grids} seeds")

    # each building to its lowest-index covering grid, as region_data
    point, grid = shapely.STRtree(polygons).query(
        shapely.points(city.plon, city.plat), predicate="covered_by"
    )
    pgrid = np.full(len(city.plon), n_grids)
    np.minimum.at(pgrid, point, grid)
    if (pgrid == n_grids).any():
        raise SystemExit(f"{int((pgrid == n_grids).sum())} buildings outside every grid")
    households = rng.choice([1, 2, 3], len(city.plon), p=[0.5, 0.3, 0.2])
    registered = np.bincount(pgrid, households, minlength=n_grids)
    registered = np.maximum(np.round(registered * rng.uniform(0.9, 1.1, n_grids)), 1)
    population = np.round(registered * rng.uniform(2.3, 3.0, n_grids))
    grids = [
        Grid(
            code=f"G{g:04d}",
            name=f"网格 {g + 1}",
            community_code=f"C{g // 10:03d}",
            community_name=f"社区 {g // 10 + 1}",
            households=int(registered[g]),
            population=int(population[g]),
            polygon=polygons[g],
        )
        for g in range(n_grids)
    ]
    demand = [
        DemandPoint(f"B{i:06d}", lon, lat, h, g)
        for i, (lon, lat, h, g) in enumerate(
            zip(
                city.plon.tolist(),
                city.plat.tolist(),
                households.tolist(),
                pgrid.tolist(),
                strict=True,
            )
        )
    ]
    centres = [
        Facility(i, f"中心 {i + 1}", lon, lat, level=level)
        for i, (lon, lat, level) in enumerate(
            zip(city.clon.tolist(), city.clat.tolist(), city.level.tolist(), strict=True)
        )
    ]
    cameras = [
        Facility(
            i, f"摄像机 {i + 1}", lon, lat, azimuth_deg=a, fov_deg=f, range_m=r, status="online"
        )
        for i, (lon, lat, a, f, r) in enumerate(
            zip(
                city.klon.tolist(),
                city.klat.tolist(),
                city.azimuth.tolist(),
                city.fov.tolist(),
                city.reach.tolist(),
                strict=True,
            )
        )
    ]
    return Region(grids, demand, households.astype(float), centres, cameras)
