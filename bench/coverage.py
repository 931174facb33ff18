"""Coverage benchmark: which buildings each centre and camera covers, gridmap vs PostGIS.

What is measured, in one run, on the same seeded data:

* **gridmap** — ``circle_pairs`` (every building within a centre's service radius) plus
  ``sector_pairs`` (every building a camera sees) of ``gis.analysis.coverage`` on numpy arrays:
  candidates from cells of a local metric frame (the reach widened by the frame's
  distortion), then ``pyproj.Geod.inv`` on the candidates (distance ≤ radius/range; for cameras the
  forward azimuth within ± fov/2 of the camera's, across north; a building at the camera
  itself is seen).
* **PostGIS** — the buildings, centres and cameras go into temporary tables with a
  ``geography(Point, 4326)`` column (binary ``COPY`` of EWKB encoded with numpy), each with a
  GiST index on the geography, ``ANALYZE``d; then
  ``ST_DWithin(c.geog, p.geog, c.radius_m)`` for centres (geography: on the spheroid) and
  ``ST_DWithin(c.geog, p.geog, c.range_m)`` plus ``degrees(ST_Azimuth(c.geog, p.geog))``
  within the field of view for cameras (a NULL azimuth — the building at the camera — counts
  as seen), each result streamed back with ``COPY … TO STDOUT``.  Timed: loading (tables,
  COPY, indexes, ANALYZE) and the two queries, reported apart; the ratio is given both for
  the queries alone (tables already loaded, as in a live database) and for everything.
* **the full report** — what the coverage endpoint runs:
  ``gis.analysis.coverage.coverage_report`` for the centres and for the cameras over
  ``--grids`` grids (per-grid table, uncovered buildings, blind-spot polygons, grids without
  facility with the nearest one, per-facility rows, redundant centres), timed apart from the
  pairs (it computes them again inside).  Its totals are checked against the pairs: covered
  buildings and households and the number of pairs must be the same.  No roads are given
  (``roads=()``): the endpoint's cameras report also measures the roads' covered length, not
  timed here.

The two answers are compared as sets of (building, centre) and (building, camera) pairs.
The data include buildings placed exactly on the boundaries (``Geod.fwd`` at exactly the
radius or range, exactly on a field-of-view edge, and at a camera), where the two may
legitimately split on the last bit of a float; every differing pair is listed with its
distance to the boundary.  Elsewhere they must agree; the script fails loudly otherwise.

Data (seeded): a 20 km × 20 km city centred on 118.32°E 40.15°N; ``--points`` buildings,
70 % in 300 compounds (Gaussian, σ 250 m) and 30 % uniform; ``--centres`` centres
(5 % street centres r = 1 000 m, 20 % community stations 500 m, 75 % homes 300 m — the
settings' GB 50180 defaults) near compounds; ``--cameras`` cameras on compounds' edges:
azimuth uniform, field of view 30–90° (70 %), 90–180° (20 %) or 360° domes (10 %), range
30–150 m (domes 20–60 m).  Grids for the report (seeded apart, so the city is the same as
without them): Voronoi cells of ``--grids`` seeds drawn among the buildings (so grids are
smaller where buildings are dense), jittered by ± 50 m east and north, clipped to the buildings'
lon/lat bounding box; codes in rows of 2 km north to south, west to east, ten grids to a
community.  Buildings have 1–3 households (mean 1.7); a grid's registered households are
its buildings' ± 10 %, its population 2.3–3.0 per household.  Each building goes to the
lowest-index grid covering it (as ``gis.analysis.report.region_data`` does); centres carry only
their level (radius from the settings' defaults), cameras are all online.

Usage::

    .venv/bin/python bench/coverage.py [--points 100000] [--centres 200] [--cameras 3000]
        [--grids 400] [--repeat 3] [--seed 20240601]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import psycopg
import pyproj
import shapely
from common import bench_database, cpu_model, git_state, spaced
from pyproj import Geod

from gis.analysis.coverage import (
    DemandPoint,
    Facility,
    Grid,
    circle_pairs,
    coverage_report,
    sector_pairs,
)
from gis.settings import get_settings
from gis.store.cluster import Cluster
from gis.store.db import create_database, drop_database
from gis.store.watch import conninfo

CENTRE = (118.32, 40.15)
HALF_SIDE_M = 10_000.0
GOAL_S = 1.0
GRIDS = 400
GEOD = Geod(ellps="WGS84")
LEVELS = (("centre", 1000.0, 0.05), ("station", 500.0, 0.20), ("home", 300.0, 0.75))

CENTRES_SQL = (
    "SELECT p.id, c.id FROM centres c JOIN pts p ON ST_DWithin(c.geog, p.geog, c.radius_m)"
)
CAMERAS_SQL = (
    "SELECT p.id, c.id FROM cams c JOIN pts p ON ST_DWithin(c.geog, p.geog, c.range_m) "
    "CROSS JOIN LATERAL (SELECT degrees(ST_Azimuth(c.geog, p.geog)) - c.azimuth AS t) a "
    "CROSS JOIN LATERAL (SELECT a.t - 360.0 * floor(a.t / 360.0) AS turn) b "
    "WHERE c.fov >= 360 OR b.turn IS NULL "
    "OR b.turn <= c.fov / 2 OR b.turn >= 360 - c.fov / 2"
)


# --------------------------------------------------------------------------- data


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
    seeds = shapely.multipoints(shapely.points(slon, slat))
    cells = shapely.voronoi_polygons(seeds, extend_to=box, ordered=True)
    polygons = shapely.intersection(shapely.get_parts(cells), box)
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


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    """One tool's answer: pair keys (point × facilities + facility) and timed phases."""

    centres: np.ndarray
    cameras: np.ndarray
    phases: dict[str, float]

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def run_gridmap(city: City) -> Run:
    """``circle_pairs`` + ``sector_pairs`` on the arrays."""
    t0 = time.perf_counter()
    point, centre = circle_pairs(city.plon, city.plat, city.clon, city.clat, city.radius)
    t1 = time.perf_counter()
    seen, camera = sector_pairs(
        city.plon, city.plat, city.klon, city.klat, city.azimuth, city.fov, city.reach
    )
    t2 = time.perf_counter()
    return Run(
        point * len(city.clon) + centre,
        seen * len(city.klon) + camera,
        {"circle_pairs": t1 - t0, "sector_pairs": t2 - t1},
    )


@dataclass
class Reports:
    """The full reports for centres and cameras, and their times."""

    centres: dict
    cameras: dict
    phases: dict[str, float]

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def run_reports(region: Region, default_radius_m: dict[str, float]) -> Reports:
    """``coverage_report`` for the centres, then for the cameras (as the endpoint: no roads)."""
    t0 = time.perf_counter()
    centres = coverage_report(
        region.grids, region.demand, region.centres, "centres", default_radius_m=default_radius_m
    )
    t1 = time.perf_counter()
    cameras = coverage_report(
        region.grids, region.demand, region.cameras, "cameras", default_radius_m=default_radius_m
    )
    t2 = time.perf_counter()
    return Reports(centres, cameras, {"report centres": t1 - t0, "report cameras": t2 - t1})


def check_reports(reports: Reports, gridmap: Run, region: Region) -> None:
    """The reports' totals must be the pairs' answer: covered buildings and households, and
    the pairs per facility adding up to all pairs; the grids' rows adding up to the totals."""
    for kind, n in (("centres", len(region.centres)), ("cameras", len(region.cameras))):
        report, keys = getattr(reports, kind), getattr(gridmap, kind)
        covered = np.unique(keys // n)
        totals = report["totals"]
        expect = {
            "covered_buildings": len(covered),
            "covered_households": int(region.households[covered].sum()),
            "pairs": len(keys),
            "grids' covered households": int(region.households[covered].sum()),
        }
        got = {
            "covered_buildings": totals["covered_buildings"],
            "covered_households": totals["covered_households"],
            "pairs": sum(f["buildings"] for f in report["facilities"]),
            "grids' covered households": sum(g["covered_households"] for g in report["grids"]),
        }
        if got != expect:
            raise SystemExit(f"the {kind} report disagrees with the pairs: {got} != {expect}")


def copy_payload(lon: np.ndarray, lat: np.ndarray, *values: np.ndarray) -> bytes:
    """Rows (id int4, EWKB point SRID 4326, float8 …) as a binary COPY stream."""
    fields = [("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("geom_len", ">i4")]
    fields += [("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
    for i in range(len(values)):
        fields += [(f"v{i}_len", ">i4"), (f"v{i}", ">f8")]
    rows = np.empty(len(lon), dtype=np.dtype(fields))
    rows["fields"] = 2 + len(values)
    rows["id_len"], rows["id"] = 4, np.arange(len(lon))
    rows["geom_len"], rows["order"], rows["type"], rows["srid"] = 25, 1, 0x20000001, 4326
    rows["x"], rows["y"] = lon, lat
    for i, v in enumerate(values):
        rows[f"v{i}_len"], rows[f"v{i}"] = 8, v
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


def _fetch(cur: psycopg.Cursor, sql: str, n_facilities: int) -> np.ndarray:
    with cur.copy(f"COPY ({sql}) TO STDOUT") as copy:
        data = b"".join(bytes(block) for block in copy)
    numbers = np.array(data.split(), dtype=np.int64)
    return numbers[0::2] * n_facilities + numbers[1::2]


def run_postgis(url: str, city: City, explain: bool) -> tuple[Run, dict[str, str]]:
    """Temp tables, COPY, GiST indexes on geography, ANALYZE, the two queries."""
    tables = {
        "pts": ("", (city.plon, city.plat)),
        "centres": (", radius_m float8", (city.clon, city.clat, city.radius)),
        "cams": (
            ", azimuth float8, fov float8, range_m float8",
            (city.klon, city.klat, city.azimuth, city.fov, city.reach),
        ),
    }
    plans = {}
    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cur:
        cur.execute("SET jit = off")
        t0 = time.perf_counter()
        for name, (columns, arrays) in tables.items():
            cur.execute(
                f"CREATE TEMP TABLE {name} (id int4 NOT NULL, "
                f"geog geography(Point, 4326) NOT NULL{columns})"
            )
            with cur.copy(f"COPY {name} FROM STDIN (FORMAT binary)") as copy:
                copy.write(copy_payload(*arrays))
            cur.execute(f"CREATE INDEX ON {name} USING gist (geog)")
            cur.execute(f"ANALYZE {name}")
        t1 = time.perf_counter()
        centres = _fetch(cur, CENTRES_SQL, len(city.clon))
        t2 = time.perf_counter()
        cameras = _fetch(cur, CAMERAS_SQL, len(city.klon))
        t3 = time.perf_counter()
        if explain:
            for key, sql in (("centres", CENTRES_SQL), ("cameras", CAMERAS_SQL)):
                cur.execute(f"EXPLAIN {sql}")
                plans[key] = "\n".join(r[0] for r in cur.fetchall())
        conn.rollback()
    phases = {"load": t1 - t0, "centres query": t2 - t1, "cameras query": t3 - t2}
    return Run(np.sort(centres), np.sort(cameras), phases), plans


# --------------------------------------------------------------------------- checking

RADIANS_PER_DEGREE = 0.0174532925199432957692
"""PostgreSQL's constant in ``degrees()``."""
TIE = 1e-6
"""Within this many metres (or degrees) of a boundary a pair is on it."""


@dataclass(frozen=True)
class Difference:
    """A pair only one tool found: where it lies, how far beyond the boundary (metres past
    the radius or range, degrees past the fov edge; negative: inside), and whether
    PostGIS's own answer comes back when its degree ↔ radian round trips are replayed."""

    kind: str
    where: str
    who: str
    offset: float
    replayed: bool


def _roundtrip(degrees: np.ndarray) -> np.ndarray:
    """PostGIS turns a geography point's degrees into radians (π·d/180) for its spherical
    steps and hands GeographicLib r·180/π back: the coordinates it measures, to the bit."""
    return (np.pi * degrees / 180.0) * 180.0 / np.pi


def _facilities(city: City, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if kind == "centres":
        return city.clon, city.clat, city.radius
    return city.klon, city.klat, city.reach


def _postgis_like(city: City, kind: str, point: np.ndarray, fac: np.ndarray) -> np.ndarray:
    """The PostGIS decision recomputed with pyproj on round-tripped coordinates (and, for
    the azimuth, its radians, [0, 2π) and ``degrees()``)."""
    lon, lat, limit = _facilities(city, kind)
    azi, _, d = GEOD.inv(
        _roundtrip(lon[fac]),
        _roundtrip(lat[fac]),
        _roundtrip(city.plon[point]),
        _roundtrip(city.plat[point]),
    )
    within = np.asarray(d) <= limit[fac]
    if kind == "centres":
        return within
    rad = np.asarray(azi) * np.pi / 180.0
    rad = np.where(rad < 0.0, rad + 2.0 * np.pi, rad)
    t = rad / RADIANS_PER_DEGREE - city.azimuth[fac]
    turn = t - 360.0 * np.floor(t / 360.0)
    half = city.fov[fac] / 2
    seen = (city.fov[fac] >= 360) | (turn <= half) | (turn >= 360 - half) | (np.asarray(d) == 0)
    return within & seen


def compare(city: City, gridmap: Run, postgis: Run) -> list[Difference]:
    """Every pair only one tool found, located and explained."""
    out = []
    for kind in ("centres", "cameras"):
        mine, theirs = getattr(gridmap, kind), getattr(postgis, kind)
        keys = np.setxor1d(mine, theirs)
        lon, lat, limit = _facilities(city, kind)
        point, fac = np.divmod(keys, len(lon))
        in_postgis = np.isin(keys, theirs)
        replayed = _postgis_like(city, kind, point, fac) == in_postgis
        bearing, _, d = GEOD.inv(lon[fac], lat[fac], city.plon[point], city.plat[point])
        bearing, d = np.asarray(bearing), np.asarray(d)
        beyond = d - limit[fac]
        for i in range(len(keys)):
            who = "PostGIS only" if in_postgis[i] else "gridmap only"
            where, offset = "elsewhere", float(beyond[i])
            if abs(beyond[i]) <= TIE:
                where = "on a circle" if kind == "centres" else "on a range"
            elif kind == "cameras":
                f = int(fac[i])
                off = abs((bearing[i] - city.azimuth[f] + 180.0) % 360.0 - 180.0)
                edge = off - city.fov[f] / 2
                if d[i] <= TIE:
                    where, offset = "at a camera", float(d[i])
                elif abs(edge) <= TIE:
                    where, offset = "on a fov edge", float(edge)
            out.append(Difference(kind, where, who, offset, bool(replayed[i])))
    return out


def summarise(diffs: list[Difference]) -> list[tuple[str, str, str, int, float, int]]:
    """(kind, where, who, count, largest |offset|, replayed) per group."""
    groups: dict[tuple[str, str, str], list[Difference]] = {}
    for d in diffs:
        groups.setdefault((d.kind, d.where, d.who), []).append(d)
    return [
        (*key, len(ds), max(abs(d.offset) for d in ds), sum(d.replayed for d in ds))
        for key, ds in sorted(groups.items())
    ]


# --------------------------------------------------------------------------- reporting


def environment(url: str) -> dict[str, str]:
    with psycopg.connect(conninfo(url)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        gis = conn.execute("SELECT postgis_full_version()").fetchone()
    full = gis[0] if gis else ""
    pieces = {p.split("=")[0]: p.split("=", 1)[1].strip('"') for p in full.split() if "=" in p}
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "shapely": f"{shapely.__version__} (GEOS {shapely.geos_version_string})",
        "pyproj": f"{pyproj.__version__} (PROJ {pyproj.proj_version_str})",
        "postgres": f"PostgreSQL {pg[0] if pg else '?'}",
        "postgis": f"PostGIS {pieces.get('POSTGIS', '?')} (PROJ {pieces.get('PROJ', '?')})",
        "code": git_state(),
    }


def _plan_nodes(plan: str) -> str:
    lines = plan.splitlines()
    nodes = [
        line.split("(cost")[0].replace("->", "").strip()
        for i, line in enumerate(lines)
        if i == 0 or "->" in line
    ]
    return " ← ".join(n for n in nodes if n)


def markdown(
    args: argparse.Namespace,
    env: dict[str, str],
    city: City,
    region: Region,
    rounds: list[dict[str, Run]],
    reports: list[Reports],
    orders: list[str],
    diffs: list[Difference],
    plans: dict[str, str],
    load: tuple[float, float],
) -> str:
    """The results section for ``bench/RESULTS.md``."""
    g = [r["gridmap"] for r in rounds]
    p = [r["PostGIS"] for r in rounds]
    med = statistics.median
    g_total = med(x.seconds for x in g)
    p_query = med(x.phases["centres query"] + x.phases["cameras query"] for x in p)
    p_total = med(x.seconds for x in p)
    pairs = (len(g[0].centres), len(g[0].cameras))
    command = (
        f".venv/bin/python bench/coverage.py --points {args.points} --centres {args.centres} "
        f"--cameras {args.cameras}"
        + (f" --grids {args.grids}" if args.grids != GRIDS else "")
        + f" --repeat {args.repeat} --seed {args.seed}"
    )
    r_centres = med(x.phases["report centres"] for x in reports)
    r_cameras = med(x.phases["report cameras"] for x in reports)
    r_total = med(x.seconds for x in reports)
    grid_hh = np.array([grid.households for grid in region.grids])
    grid_buildings = np.bincount([d.grid for d in region.demand], minlength=len(region.grids))
    one = reports[0]
    totals = one.centres["totals"]
    lines = [
        f"## Coverage: {spaced(args.points)} buildings × {args.centres} centres × "
        f"{spaced(args.cameras)} cameras, gridmap vs PostGIS",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {env['nproc']} cores ({env['cpu']}), load average {load[0]:.1f} → "
        f"{load[1]:.1f} over the run; Python {env['python']}; numpy {env['numpy']}, shapely "
        f"{env['shapely']}, pyproj {env['pyproj']}; {env['postgres']}, {env['postgis']} "
        f"(gridmap's embedded cluster, jit off). gridmap code: {env['code']}.",
        "",
        "Data (seeded): a 20 km × 20 km city around 118.32°E 40.15°N; buildings 70 % in 300 "
        "compounds, 30 % uniform; centres at the settings' radii (5 % 1 000 m, 20 % 500 m, "
        "75 % 300 m); cameras with fov 30–180° or 360° domes, range 20–150 m. Boundary probes "
        "among the buildings: "
        + ", ".join(f"{spaced(v)} {k}" for k, v in city.probes.items())
        + f". Answers: {spaced(pairs[0])} (building, centre) pairs and "
        f"{spaced(pairs[1])} (building, camera) pairs.",
        "",
        f"Grids for the full report (seeded apart from the city, which is unchanged): "
        f"{len(region.grids)} Voronoi cells of seeds drawn among the buildings, clipped to the "
        f"buildings' lon/lat bounding box ({totals['area_km2']:.0f} km²); buildings 1–3 "
        f"households each ({spaced(totals['households'])} in all), each in the lowest-index "
        f"grid covering it (as `region_data`); per grid {int(np.median(grid_buildings))} "
        f"buildings and {int(np.median(grid_hh))} registered households at the median "
        f"({int(grid_hh.min())}–{spaced(int(grid_hh.max()))}; registered = its buildings' "
        f"± 10 %), population 2.3–3.0 per household ({spaced(totals['population'])} in all). "
        "Centres carry only their level (radius from the settings' defaults, "
        "`default_radius_m`); cameras all online.",
        "",
        "gridmap = `circle_pairs` + `sector_pairs` on numpy arrays (candidates from cells of a "
        "local metric frame, the reach widened by its distortion, then `Geod.inv` on them). "
        "PostGIS = temp tables with `geography(Point, 4326)` + binary `COPY` + GiST index on "
        "each + `ANALYZE` (*load*), then `ST_DWithin(c.geog, p.geog, c.radius_m)` and "
        "`ST_DWithin(c.geog, p.geog, c.range_m)` + `degrees(ST_Azimuth(c.geog, p.geog))` "
        "within ± fov/2 (*queries*, results via `COPY … TO STDOUT`; one core: temp tables "
        "are not scanned in parallel). Rounds alternate which tool goes first.",
        "",
        "| round | first | gridmap circles (s) | gridmap sectors (s) | gridmap (s) "
        "| PostGIS load (s) | PostGIS centres (s) | PostGIS cameras (s) "
        "| queries / gridmap | all / gridmap |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (gr, pr, first) in enumerate(zip(g, p, orders, strict=True), 1):
        q = pr.phases["centres query"] + pr.phases["cameras query"]
        lines.append(
            f"| {i} | {first} | {gr.phases['circle_pairs']:.3f} | "
            f"{gr.phases['sector_pairs']:.3f} | {gr.seconds:.3f} | {pr.phases['load']:.2f} | "
            f"{pr.phases['centres query']:.2f} | {pr.phases['cameras query']:.2f} | "
            f"{q / gr.seconds:.1f}× | {pr.seconds / gr.seconds:.1f}× |"
        )
    lines.append(
        f"| **median** | | {med(x.phases['circle_pairs'] for x in g):.3f} | "
        f"{med(x.phases['sector_pairs'] for x in g):.3f} | **{g_total:.3f}** | "
        f"{med(x.phases['load'] for x in p):.2f} | "
        f"{med(x.phases['centres query'] for x in p):.2f} | "
        f"{med(x.phases['cameras query'] for x in p):.2f} | **{p_query / g_total:.1f}×** | "
        f"**{p_total / g_total:.1f}×** |"
    )
    lines += [
        "",
        "Full report = `coverage_report(grids, demand, facilities, kind, "
        "default_radius_m=settings.centre_radius_m)` for `centres` and for `cameras`, in the "
        "same rounds after both tools, as the coverage endpoint runs it once the region's rows "
        "are read (not timed: reading them from the database, building the `Grid` / "
        "`DemandPoint` / `Facility` objects, JSON encoding; no roads given, so the cameras' "
        "road lengths are not in it). It computes the pairs again inside, then the per-grid "
        "table, uncovered buildings, blind-spot polygons (GeoJSON), grids without facility "
        "with the nearest one, per-facility rows and, for centres, redundant centres.",
        "",
        "| round | report centres (s) | report cameras (s) | full report, both (s) "
        "| pairs only, both (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for i, (rep, gr) in enumerate(zip(reports, g, strict=True), 1):
        lines.append(
            f"| {i} | {rep.phases['report centres']:.3f} | {rep.phases['report cameras']:.3f} "
            f"| {rep.seconds:.3f} | {gr.seconds:.3f} |"
        )
    lines.append(
        f"| **median** | {r_centres:.3f} | {r_cameras:.3f} | **{r_total:.3f}** "
        f"| **{g_total:.3f}** |"
    )
    sizes = []
    for kind, report in (("centres", one.centres), ("cameras", one.cameras)):
        t = report["totals"]
        size = (
            f"{kind}: {spaced(t['covered_buildings'])} buildings "
            f"({t['covered_buildings_pct']} %) and {spaced(t['covered_households'])} "
            f"households ({t['covered_households_pct']} %) covered, "
            f"{spaced(len(report['uncovered']))} uncovered buildings listed, "
            f"{len(report['blind_spots'])} grids with blind spots "
            f"({t['blind_area_pct']} % of the area), "
            f"{len(report['grids_without_facility'])} grids without facility"
        )
        if "redundant_centres" in report:
            size += f", {len(report['redundant_centres'])} redundant centres"
        sizes.append(size)
    verdict = "met" if r_total <= GOAL_S else "**not met**"
    lines += [
        "",
        "Reports (the same totals in every round): "
        + "; ".join(sizes)
        + ". Checked in every round: "
        "each report's covered buildings and covered households, and its per-facility "
        "buildings summed, equal the pairs' answer (the distinct buildings of the pairs, "
        "their households, the number of pairs); its grids' covered households add up to the "
        "total.",
        "",
        f"Goal ≤ {GOAL_S:.0f} s, judged on the **full report of both layers** (centres + "
        f"cameras, median of the rounds' sums): {verdict} — **{r_total:.3f} s** "
        f"({r_centres:.3f} s centres + {r_cameras:.3f} s cameras, medians). The pairs alone "
        f"(`circle_pairs` + `sector_pairs`) take {g_total:.3f} s. PostGIS computes only the "
        f"pairs, so its ratios are against gridmap's pairs: queries alone / gridmap "
        f"**{p_query / g_total:.1f}×**; with loading the tables **{p_total / g_total:.1f}×**.",
        "",
    ]
    if not diffs:
        lines.append(
            "Answers: identical sets of pairs for centres and for cameras in every round, "
            "boundary probes included."
        )
    else:
        lines += [
            f"Answers: {len(diffs)} pairs differ (the same in every round), every one a "
            "boundary probe; all else identical. *Replayed*: PostGIS's answer recomputed with "
            "pyproj after its degree → radian → degree round trip of the coordinates "
            "(PostGIS measures geography points as radians, converted back to degrees for "
            "GeographicLib) and, for azimuths, its radians and `degrees()`. The few not "
            "replayed are presumably last-bit differences between the GeographicLib code in "
            "PostGIS's PROJ and in pyproj's (versions above; not verified).",
            "",
            "| facilities | where | found by | pairs | largest distance to the boundary "
            "| replayed |",
            "|---|---|---|---:|---:|---:|",
        ]
        for kind, where, who, count, largest, replayed in summarise(diffs):
            unit = "°" if where == "on a fov edge" else " m"
            lines.append(
                f"| {kind} | {where} | {who} | {count} | {largest:.1e}{unit} "
                f"| {replayed} of {count} |"
            )
    lines += [
        "",
        f"PostGIS plans: centres {_plan_nodes(plans.get('centres', ''))}; cameras "
        f"{_plan_nodes(plans.get('cameras', ''))}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000, help="buildings")
    parser.add_argument("--centres", type=int, default=200, help="party-service centres")
    parser.add_argument("--cameras", type=int, default=3000, help="cameras")
    parser.add_argument("--grids", type=int, default=GRIDS, help="grids of the full report")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per tool")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the data")
    args = parser.parse_args(argv)

    settings = get_settings()
    url, started = bench_database(settings, "coverage")
    create_database(url)
    try:
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        env = environment(url)
        print(f"{env['postgres']}, {env['postgis']}; pyproj {env['pyproj']}; {env['code']}")
        load_before = os.getloadavg()[0]
        city = make_city(args.points, args.centres, args.cameras, args.seed)
        region = make_region(city, args.grids, args.seed)
        defaults = dict(settings.centre_radius_m)
        if any(defaults.get(name) != radius for name, radius, _ in LEVELS):
            raise SystemExit(f"the settings' radii {defaults} are not the data's {LEVELS}")
        rounds: list[dict[str, Run]] = []
        reports: list[Reports] = []
        orders: list[str] = []
        plans: dict[str, str] = {}
        diffs: list[Difference] = []
        for r in range(args.repeat):
            first = ("gridmap", "PostGIS")[r % 2]
            steps: dict[str, Run] = {}
            for tool in (first, "PostGIS" if first == "gridmap" else "gridmap"):
                if tool == "gridmap":
                    steps[tool] = run_gridmap(city)
                else:
                    steps[tool], got = run_postgis(url, city, explain=r == 0)
                    plans |= got
            rep = run_reports(region, defaults)
            check_reports(rep, steps["gridmap"], region)
            if reports and (rep.centres["totals"], rep.cameras["totals"]) != (
                reports[0].centres["totals"],
                reports[0].cameras["totals"],
            ):
                raise SystemExit("the reports' totals changed between rounds")
            now = compare(city, steps["gridmap"], steps["PostGIS"])
            if r and now != diffs:
                raise SystemExit("the differences changed between rounds")
            diffs = now
            rounds.append(steps)
            reports.append(rep)
            orders.append(first)
            g, p = steps["gridmap"], steps["PostGIS"]
            print(
                f"round {r + 1} ({first} first): gridmap {g.seconds:.3f} s "
                f"[{', '.join(f'{k} {v:.3f}' for k, v in g.phases.items())}], PostGIS "
                f"{p.seconds:.2f} s [{', '.join(f'{k} {v:.2f}' for k, v in p.phases.items())}]; "
                f"pairs {len(g.centres)} / {len(g.cameras)}; differing pairs {len(now)}; "
                f"full reports {rep.seconds:.3f} s "
                f"[{', '.join(f'{k} {v:.3f}' for k, v in rep.phases.items())}], totals = pairs",
                flush=True,
            )
        stray = [d for d in diffs if d.where == "elsewhere"]
        if stray:
            raise SystemExit(f"DIFFERENT ANSWERS away from the boundaries: {stray[:10]}")
        for row in summarise(diffs):
            print("  ", row)
        print()
        print(
            markdown(
                args,
                env,
                city,
                region,
                rounds,
                reports,
                orders,
                diffs,
                plans,
                (load_before, os.getloadavg()[0]),
            )
        )
    finally:
        drop_database(url)
        if started:
            Cluster.from_settings(settings).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
