"""Map scale benchmark: a 七台河-sized city on one map page, gridmap vs a plain Folium page.

Goal (issue 6): a city of 824 grids + 13 centres + 2 567 cameras stays ≤ 2 MB of HTML and
renders in headless Chromium in ≤ 1.5 s.

Data (seeded, generated here; modelled on 七台河市: 824 urban grids of ~350 households,
62 communities, 13 party-service centres; 2 567 cameras as in 大连西岗区):

* a county (code 230900) shaped as a smooth blob of about 15 km × 12 km around
  131.0°E 45.77°N, split into ``--streets`` streets, 62 communities and 824 grids — Voronoi
  cells of Lloyd-relaxed seeded points, each level clipped to its parent's cell
  (communities apportioned to streets and grids to communities by area), all cut from one
  noded arrangement so that children tile their parent exactly; codes follow GB/T 2260
  (street 9 digits, community 12) and the grid scheme (community + 3-digit sequence, in
  reading order).  Every edge of the arrangement is densified to a vertex every
  ``--vertex-spacing-m`` metres and bent by a smooth displacement field (± 15 m over
  0.3–1.5 km, plus ± 1 m over 20–40 m), so that grids have the hundreds of vertices a
  digitised boundary has rather than a Voronoi cell's six; coordinates are full doubles, as
  after a CGCS2000 → WGS84 transformation.
* grid attributes: households from a triangular distribution 120–600 (mode 340; some
  below and about 8 % above the 150–500 band), population 2.3–2.9 per household, grid
  worker, phone and party branch — each missing in a few grids;
* 13 centres: one 党群服务中心 near the middle (level ``centre``) and 12 党群服务站 in 12
  communities (``station``), radii from the settings' defaults;
* 2 567 cameras with valid GB/T 28181 IDs (centre code 23090000, industry 00/01, type
  131/132, network 0, serial): 65 % around the compounds, 35 % anywhere; 枪机 (fov 40–90°,
  50–120 m), 球机 (360°, 60–120 m), 半球 (80–110°, 30–50 m); 5 % offline;
* an address registry: one compound per grid with buildings (units × floors × 2
  households) adding up to about the grid's households — the demand of the coverage figures.

Loaded into a throwaway database of gridmap's embedded cluster (or ``GRIDMAP_DATABASE_URL``'s
server): migrated, boundaries with ``commit_regions`` (one version), the registry with
``write_addresses``, centres and cameras with plain ``INSERT``s; dropped at the end.

Measured, in one run, on that database:

* **gridmap, link mode** — ``GET /maps`` of the app under uvicorn (started like the browser
  tests' ``support.serve_app``): HTML bytes and the server's time to answer (``--server-repeat``
  requests); the same page built in-process, timed by phase (``subtree``, the coverage
  reports for centres and for cameras, the rest of ``region_map``, Folium's render,
  ``offline_html``).
* **gridmap, export** — the file ``gridmap map export`` writes (run as a new process, timed;
  ``page_html(region_map(...), inline=True)``): Leaflet and the plugins inside, served by a
  static server.
* **peer** — what a straightforward Folium page of the same data looks like: one
  ``folium.GeoJson`` per level of the unsimplified polygons at full precision (grids with a
  ``GeoJsonTooltip`` and a ``GeoJsonPopup``, coloured by households), a ``folium.Circle``
  per centre, a ``folium.CircleMarker`` per camera and a ``folium.Polygon`` per online
  camera's sector (``gis.geo.geodesy.sector_polygons``, 10° steps as gridmap), each with a
  ``folium.Popup`` and/or a tooltip; Folium's CDN references rewritten by
  ``gis.web.map_assets.offline_html`` (Leaflet, and jQuery, which ``folium.Popup`` needs;
  Folium's bootstrap and font files dropped as gridmap drops them), in link mode (served with
  ``/vendor``) and inline.

Each page is loaded ``--loads`` times in headless Debian Chromium (``tests/browser.py``:
``launch``, ``guarded_page``; a fresh context per load, pages in rotating order, every
request off this machine aborted and recorded).  An init script polls on every animation
frame until ``path.gm-grid`` count equals the number of grids, then waits one more frame:
*drawn* is ``performance.now()`` then (milliseconds since navigation start); the response's
timing comes from ``PerformanceNavigationTiming``; the wall clock runs from ``page.goto``
until Playwright sees the mark.  After each load the drawn paths are counted per class
(grids, communities, centres, reaches, cameras, sectors …) and the guard's log is reported
(console errors, page errors, failed or external requests: it should be empty).  Medians.

Where the bytes go: each layer's share of gridmap's page (the page rendered without that
layer, subtracted), and the per-level vertices stored versus drawn (``SIMPLIFY_M``).  With
``--profile``, gridmap's page built without single layers is loaded too, to show where the
browser's time goes.

The markdown section is printed and appended to ``bench/RESULTS.md`` (``--no-append``: only
printed).

Usage::

    .venv/bin/python bench/map_scale.py [--loads 5] [--server-repeat 5] [--seed 20240601]
        [--profile] [--no-append]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import folium
import httpx2 as httpx
import numpy as np
import shapely
from common import ROOT, bench_database, cpu_model, git_state, spaced
from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from shapely.geometry import mapping
from sqlalchemy import Connection, Engine, text

from gis.analysis import report as analysis
from gis.catalogue.schema import CAMERA_TYPE_CODES
from gis.geo.geodesy import sector_polygons
from gis.query.addresses import AddressRecord, write_addresses
from gis.settings import Settings, get_settings
from gis.store.cluster import Cluster
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.seed import CAMERA_INSERT, CENTRE_INSERT
from gis.store.versions import RegionRecord, commit_regions
from gis.web import map_assets, region_page, styles
from gis.web.page import MapOptions, page_html
from gis.web.page_data import SIMPLIFY_M

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "data" / "boundaries"))
from browser import guarded_page, launch, serve_directory
from demo_build.cameras import CAMERA_INDUSTRY, CAMERA_KINDS, CAMERA_NETWORK, IP_CAMERA_SHARE
from support import serve_app

GOAL_BYTES = 2_000_000
GOAL_RENDER_S = 1.5

CENTRE = (131.0, 45.77)  # 七台河市 (lon, lat)
SEMI_AXES_KM = (7.5, 6.0)  # the county blob: about 15 km × 12 km
KM_PER_DEG_LAT = 111.2
KM_PER_DEG_LON = KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[1]))
COUNTY_CODE = "230900"
COUNTY_NAME = "七台河市（模拟城区）"
PROVINCE_CITY = "黑龙江省七台河市"
N_GRIDS = 824
N_COMMUNITIES = 62
N_STATIONS = 12  # + 1 centre = 13
N_CAMERAS = 2567
OFFLINE_SHARE = 0.05
MISSING_SHARE = 0.03  # each grid attribute is missing in about this share of grids
STREET_NAMES = ("新兴街道", "越秀街道", "兴华街道", "红旗街道", "长兴街道", "北山街道", "河南街道")
CAMERA_CENTRE_CODE = "23090000"  # GB/T 28181 digits 1-8: 七台河市 2309 + 0000
CAMERA_MIX = {"枪机": 0.55, "球机": 0.20, "半球": 0.25}
COMPOUND_CAMERA_SHARE = 0.65

_NAME_HEADS = "东西南北新光明和平康兴盛安福华"
_NAME_TAILS = "苑园里城府湾庭居坊林岭河"
_ROADS = (
    "山湖路", "中心大街", "学府街", "桃源路", "大同街", "东风路", "胜利路", "青年路", "工农路",
    "新华街", "和平街", "建设路", "团结路", "振兴街", "奋斗路", "长征路", "利民街", "富强路",
)  # fmt: skip
_COMPOUND_TAILS = ("小区", "花园", "家园", "嘉园", "新城", "雅苑")
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN = "明丽静伟磊敏军勇艳杰涛霞平刚娜鹏芳洋建国秀英志强海燕春梅淑珍卫东桂兰玉兰红梅文静立新"
_MOBILE = ("130", "131", "132", "135", "137", "138", "139", "150", "151", "155", "158", "186")


# --------------------------------------------------------------------------- the city


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def _to_km(geom: Any) -> Any:
    scale = np.array([KM_PER_DEG_LON, KM_PER_DEG_LAT])
    return shapely.transform(geom, lambda c: (c - np.array(CENTRE)) * scale)


def _to_deg(geom: Any) -> Any:
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


def _sample(domain: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform points inside ``domain`` (rejection sampling)."""
    x0, y0, x1, y1 = domain.bounds
    shapely.prepare(domain)
    points = np.empty((0, 2))
    while len(points) < n:
        cand = rng.uniform([x0, y0], [x1, y1], size=(4 * n + 8, 2))
        points = np.vstack([points, cand[shapely.contains_xy(domain, cand[:, 0], cand[:, 1])]])
    return points[:n]


def _cells(domain: Any, n: int, rng: np.random.Generator, iterations: int) -> list[Any]:
    """Voronoi cells, clipped to ``domain``, of ``n`` Lloyd-relaxed random points; retried
    until every cell is one polygon."""
    envelope = shapely.box(*domain.bounds).buffer(10.0)
    for _ in range(100):
        points = _sample(domain, n, rng)
        for step in range(iterations + 1):
            voronoi = shapely.voronoi_polygons(
                shapely.MultiPoint(points), extend_to=envelope, ordered=True
            )
            cells = shapely.intersection(shapely.get_parts(voronoi), domain)
            if step < iterations:
                centroids = shapely.centroid(cells)
                inside = shapely.contains(domain, centroids)
                centroids = np.where(inside, centroids, shapely.point_on_surface(cells))
                points = shapely.get_coordinates(centroids)
        if all(isinstance(c, shapely.Polygon) and c.area > 0 for c in cells):
            return list(cells)
    raise RuntimeError("could not make single-part cells; change --seed")


def _reading_order(geoms: Sequence[Any], frame: Any) -> list[int]:
    """Indices of ``geoms`` in rows from the north, each row west → east (rows = √n bands
    of ``frame``'s bounding box, by centroid)."""
    rows = max(1, round(math.sqrt(len(geoms))))
    _, y0, _, y1 = frame.bounds
    height = (y1 - y0) / rows
    keys = []
    for i, geom in enumerate(geoms):
        c = geom.centroid
        keys.append((min(rows - 1, max(0, int((y1 - c.y) // height))), c.x, -c.y, i))
    return [k[-1] for k in sorted(keys)]


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


@dataclass
class Unit:
    """A region of the generated city (geometry in degrees)."""

    code: str
    level: str
    name: str
    parent_code: str | None
    geom: Any
    households: int | None = None
    population: int | None = None
    grid_worker: str | None = None
    grid_worker_phone: str | None = None
    party_branch: str | None = None

    def record(self) -> RegionRecord:
        return RegionRecord(
            code=self.code,
            level=self.level,
            name=self.name,
            parent_code=self.parent_code,
            wkb=shapely.to_wkb(shapely.MultiPolygon([self.geom])),
            households=self.households,
            population=self.population,
            grid_worker=self.grid_worker,
            grid_worker_phone=self.grid_worker_phone,
            party_branch=self.party_branch,
            attributes={"source": "bench/map_scale.py (synthetic)"},
        )


@dataclass
class City:
    """The generated city: regions by level, centres, cameras, the address registry."""

    units: dict[str, list[Unit]]
    centres: list[dict[str, Any]]
    cameras: list[dict[str, Any]]
    addresses: list[AddressRecord]
    vertex_spacing_m: float

    @property
    def grids(self) -> list[Unit]:
        return self.units["grid"]


def _boundaries(n_streets: int, spacing_m: float, seed: int) -> list[list[list[Any]]]:
    """The grids as polygons in degrees, nested: ``out[s][c]`` the grids of community ``c``
    of street ``s`` (streets and communities in reading order, grids not yet)."""
    rng = _rng(seed, "boundaries")
    county = _blob(rng)
    streets = _cells(county, n_streets, rng, iterations=6)
    streets = [streets[i] for i in _reading_order(streets, county)]
    per_street = _apportion([s.area for s in streets], N_COMMUNITIES, 3)
    communities = []
    for street, k in zip(streets, per_street, strict=True):
        cells = _cells(street, k, rng, iterations=3)
        communities.append([cells[i] for i in _reading_order(cells, street)])
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
        pieces[g].append(_to_deg(face))
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


def _people(grids: list[Unit], rng: np.random.Generator) -> None:
    """Households, population, worker, phone and party branch; each missing in a few."""
    names: set[str] = set()

    def present() -> bool:
        return bool(rng.uniform() >= MISSING_SHARE)

    for grid in grids:
        households = round(float(rng.triangular(120, 340, 600)))
        grid.households = households if present() else None
        if grid.households is not None and present():
            grid.population = round(grid.households * float(rng.uniform(2.3, 2.9)))
        if present():
            while True:
                name = str(rng.choice(list(_SURNAMES))) + "".join(
                    rng.choice(list(_GIVEN), size=int(rng.integers(1, 3)))
                )
                if name not in names:
                    break
            names.add(name)
            grid.grid_worker = name
            grid.grid_worker_phone = str(rng.choice(_MOBILE)) + "".join(
                str(d) for d in rng.integers(0, 10, 8)
            )
        if present():
            grid.party_branch = f"{grid.name}党支部"


def make_city(n_streets: int, spacing_m: float, seed: int) -> City:
    """The seeded city (see the module docstring)."""
    nested = _boundaries(n_streets, spacing_m, seed)
    rng = _rng(seed, "names")
    heads = rng.permutation([h + t for h in _NAME_HEADS for t in _NAME_TAILS])
    units: dict[str, list[Unit]] = {"county": [], "street": [], "community": [], "grid": []}
    k = 0
    for s, communities in enumerate(nested):
        street_code = f"{COUNTY_CODE}{s + 1:03d}"
        street_geoms = []
        for c, grid_geoms in enumerate(communities):
            community_code = f"{street_code}{c + 1:03d}"
            community_name = f"{heads[k]}社区"
            k += 1
            geom = shapely.coverage_union_all(grid_geoms)
            order = _reading_order(grid_geoms, geom)
            for seq, g in enumerate(order, start=1):
                units["grid"].append(
                    Unit(
                        f"{community_code}{seq:03d}",
                        "grid",
                        f"{community_name}第{seq}网格",
                        community_code,
                        grid_geoms[g],
                    )
                )
            units["community"].append(
                Unit(community_code, "community", community_name, street_code, geom)
            )
            street_geoms.append(geom)
        street = shapely.coverage_union_all(street_geoms)
        units["street"].append(
            Unit(street_code, "street", STREET_NAMES[s % len(STREET_NAMES)], COUNTY_CODE, street)
        )
    county = shapely.coverage_union_all([u.geom for u in units["street"]])
    units["county"].append(Unit(COUNTY_CODE, "county", COUNTY_NAME, None, county))
    for level, us in units.items():
        for u in us:
            if not isinstance(u.geom, shapely.Polygon) or not u.geom.is_valid:
                raise RuntimeError(f"{level} {u.code} is {u.geom.geom_type}; change --seed")
    _people(units["grid"], _rng(seed, "people"))
    for level in ("community", "street", "county"):
        for u in units[level]:
            members = [c for c in units[_CHILD[level]] if c.parent_code == u.code]
            u.households = sum(m.households or 0 for m in members)
            u.population = sum(m.population or 0 for m in members)
    addresses, compounds = _addresses(units, _rng(seed, "addresses"))
    centres = _centres(units, _rng(seed, "centres"))
    cameras = _cameras(units, compounds, _rng(seed, "cameras"))
    return City(units, centres, cameras, addresses, spacing_m)


_CHILD = {"county": "street", "street": "community", "community": "grid"}


class _Grids:
    """The grids for placing points: the covering grid with the lowest code."""

    def __init__(self, grids: list[Unit]) -> None:
        self.codes = [g.code for g in grids]
        self.tree = shapely.STRtree([g.geom for g in grids])

    def code_at(self, lon: float, lat: float) -> str | None:
        hits = self.tree.query(shapely.Point(lon, lat), predicate="covered_by").tolist()
        return min((self.codes[i] for i in hits), default=None)


def _inset(geom: Any, metres: float) -> Any:
    """``geom`` (degrees) shrunk by ``metres``, in degrees (the km frame in between)."""
    inner = _to_km(geom).buffer(-metres / 1000.0)
    return _to_deg(inner) if not inner.is_empty else geom


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (
        lon + east_m / 1000.0 / KM_PER_DEG_LON,
        lat + north_m / 1000.0 / KM_PER_DEG_LAT,
    )


def _addresses(
    units: dict[str, list[Unit]], rng: np.random.Generator
) -> tuple[list[AddressRecord], list[tuple[str, float, float]]]:
    """One compound per grid, its buildings adding up to about the grid's households (3–8
    buildings where households are missing); (compound name, lon, lat) of each compound."""
    streets = {u.code: u.name for u in units["street"]}
    communities = {u.code: u.parent_code for u in units["community"]}
    used: set[tuple[str, int]] = set()
    records: list[AddressRecord] = []
    compounds = []
    for grid in units["grid"]:
        inner = _inset(grid.geom, 30.0)
        lon, lat = _sample(inner, 1, rng)[0]
        while True:
            road, number = str(rng.choice(_ROADS)), int(rng.integers(1, 999))
            if (road, number) not in used:
                used.add((road, number))
                break
        compound = (
            str(rng.choice(list(_NAME_HEADS))) + str(rng.choice(list(_NAME_TAILS)))
            + str(rng.choice(_COMPOUND_TAILS))
        )  # fmt: skip
        compounds.append((compound, float(lon), float(lat)))
        street = streets[communities[grid.parent_code]]
        base = f"{PROVINCE_CITY}{street}{road}{number}号{compound}"
        area = inner.intersection(
            shapely.box(*_offset(lon, lat, -120, -120), *_offset(lon, lat, 120, 120))
        )
        target = grid.households
        n_fixed = int(rng.integers(3, 9))
        total, b = 0, 0
        while (target is not None and total < target) or (target is None and b < n_fixed):
            b += 1
            x, y = _sample(area if area.area > 0 else inner, 1, rng)[0]
            units_ = int(rng.integers(1, 5))
            floors = int(rng.integers(5, 19))
            households = units_ * floors * 2
            total += households
            records.append(
                AddressRecord(
                    code=f"DZ{grid.code}{b:03d}",
                    address=f"{base}{b}号楼",
                    lon=float(x),
                    lat=float(y),
                    road=road,
                    road_number=str(number),
                    compound=compound,
                    building=str(b),
                    units=units_,
                    floors=floors,
                    households=households,
                    region_code=grid.code,
                )
            )
    return records, compounds


def _centres(units: dict[str, list[Unit]], rng: np.random.Generator) -> list[dict[str, Any]]:
    """One 党群服务中心 within 500 m of the county's centroid, 12 党群服务站 in 12 communities."""
    grids = _Grids(units["grid"])
    county = units["county"][0].geom
    streets = {u.code: u.name for u in units["street"]}
    near = _to_deg(_to_km(county.centroid).buffer(0.5)).intersection(_inset(county, 50))
    rows = []

    def add(name: str, level: str, lon: float, lat: float) -> None:
        low, high = (1000, 1600) if level == "centre" else (300, 800)
        code = grids.code_at(lon, lat)
        street = streets[code[:9]] if code else ""
        rows.append(
            {
                "name": name,
                "level": level,
                "address": f"{PROVINCE_CITY}{street}{rng.choice(_ROADS)}{rng.integers(1, 999)}号",
                "floor_area_m2": float(rng.integers(low // 10, high // 10 + 1) * 10),
                "opening_hours": "周一至周五 8:30-17:30",
                "radius_m": None,
                "region_code": code,
                "lon": lon,
                "lat": lat,
            }
        )

    lon, lat = _sample(near, 1, rng)[0]
    add("七台河市党群服务中心", "centre", lon, lat)
    for i in sorted(rng.choice(len(units["community"]), N_STATIONS, replace=False).tolist()):
        community = units["community"][i]
        lon, lat = _sample(_inset(community.geom, 50), 1, rng)[0]
        add(f"{community.name}党群服务站", "station", lon, lat)
    return rows


def _cameras(
    units: dict[str, list[Unit]],
    compounds: list[tuple[str, float, float]],
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """N_CAMERAS cameras: 65 % around the compounds (σ 80 m), the rest anywhere."""
    grids = _Grids(units["grid"])
    county = units["county"][0].geom
    shapely.prepare(county)
    kinds = list(CAMERA_MIX)
    rows = []
    while len(rows) < N_CAMERAS:
        if rng.uniform() < COMPOUND_CAMERA_SHARE:
            name, clon, clat = compounds[int(rng.integers(len(compounds)))]
            lon, lat = _offset(clon, clat, *rng.normal(0, 80, 2))
            industry, label = CAMERA_INDUSTRY["compound"], f"{name}监控点"
        else:
            lon, lat = _sample(county, 1, rng)[0]
            industry, label = CAMERA_INDUSTRY["road"], f"{rng.choice(_ROADS)}路面监控点"
        if not county.contains(shapely.Point(lon, lat)):
            continue
        kind = kinds[int(rng.choice(len(kinds), p=list(CAMERA_MIX.values())))]
        fov, (r_low, r_high), (h_low, h_high) = CAMERA_KINDS[kind]
        type_code = CAMERA_TYPE_CODES[1 if rng.uniform() < IP_CAMERA_SHARE else 0]
        serial = len(rows) + 1
        rows.append(
            {
                "device_id": f"{CAMERA_CENTRE_CODE}{industry}{type_code}{CAMERA_NETWORK}"
                f"{serial:06d}",
                "name": f"{label}{serial:04d}",
                "azimuth_deg": round(float(rng.uniform(0, 360)), 1) % 360.0,
                "fov_deg": 360.0 if fov is None else float(round(rng.uniform(*fov))),
                "range_m": float(int(rng.integers(r_low // 5, r_high // 5 + 1)) * 5),
                "height_m": round(float(rng.uniform(h_low, h_high)), 1),
                "type": kind,
                "status": "online",
                "region_code": grids.code_at(float(lon), float(lat)),
                "lon": float(lon),
                "lat": float(lat),
            }
        )
    for i in rng.choice(N_CAMERAS, round(OFFLINE_SHARE * N_CAMERAS), replace=False).tolist():
        rows[i]["status"] = "offline"
    return rows


# --------------------------------------------------------------------------- loading


def load_city(engine: Engine, city: City) -> None:
    """Boundaries as one version, the registry, centres and cameras; then ANALYZE."""
    records = [u.record() for level in LEVEL_ORDER for u in city.units[level]]
    with engine.begin() as conn:
        commit_regions(conn, records, author="bench", action="load", message="map scale bench")
        write_addresses(conn, city.addresses)
        conn.execute(CENTRE_INSERT, city.centres)
        conn.execute(CAMERA_INSERT, city.cameras)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


LEVEL_ORDER = ("county", "street", "community", "grid")


def vertices_by_level(conn: Connection) -> dict[str, dict[str, int]]:
    """Per level: regions, vertices stored, and vertices gridmap draws (``SIMPLIFY_M``)."""
    stored = dict(
        conn.execute(
            text(
                "SELECT level, sum(ST_NPoints(geom)) FROM regions WHERE valid_to IS NULL "
                "GROUP BY level"
            )
        ).all()
    )
    roots = list(conn.scalars(text("SELECT code FROM regions WHERE level = 'county'")))
    features = region_page.subtree(conn, roots, simplify_m=SIMPLIFY_M)
    out: dict[str, dict[str, int]] = {}
    for level in LEVEL_ORDER:
        picked = [f for f in features if f["properties"]["level"] == level]
        drawn = sum(len(_coords(f["geometry"]["coordinates"])) for f in picked)
        out[level] = {"regions": len(picked), "stored": int(stored[level]), "drawn": drawn}
    return out


def _coords(nested: Any) -> list[Any]:
    if nested and isinstance(nested[0], int | float):
        return [nested]
    return [c for part in nested for c in _coords(part)]


# --------------------------------------------------------------------------- the peer page

PEER_OUTLINES = {
    "county": {"color": "#222222", "weight": 3, "fill": False},
    "street": {"color": "#444444", "weight": 2, "fill": False},
    "community": {"color": "#555555", "weight": 1.5, "fill": False},
}


def _band_colour(households: int | None, settings: Settings) -> str:
    if households is None:
        return "#d9d9d9"
    if households < settings.grid_households_min:
        return "#9ecae1"
    return "#fc9272" if households > settings.grid_households_max else "#a1d99b"


def peer_map(conn: Connection, settings: Settings) -> folium.Map:
    """The straightforward Folium page of the same data (see the module docstring)."""
    rows = (
        conn.execute(
            text(
                "SELECT r.code, r.level, r.name, r.households, r.population, r.grid_worker, "
                "r.grid_worker_phone, r.party_branch, p.name AS parent_name, "
                "ST_AsBinary(r.geom) AS wkb FROM regions r LEFT JOIN regions p "
                "ON p.code = r.parent_code AND p.valid_to IS NULL "
                "WHERE r.valid_to IS NULL ORDER BY r.code"
            )
        )
        .mappings()
        .all()
    )
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows])
    grid_i = [i for i, r in enumerate(rows) if r["level"] == "grid"]
    x0, y0, x1, y1 = shapely.total_bounds(geoms[grid_i])
    m = folium.Map(location=((y0 + y1) / 2, (x0 + x1) / 2), zoom_start=13, tiles=None)
    # Folium's defaults minus what has no offline copy (bootstrap, fonts, awesome-markers);
    # jQuery stays: folium.Popup builds its content with $(…)
    m.default_js = [(n, u) for n, u in m.default_js if n in ("leaflet", "jquery")]
    m.default_css = [(n, u) for n, u in m.default_css if n == "leaflet_css"]
    m.fit_bounds([[y0, x0], [y1, x1]])

    def collection(picked: list[int], keys: Sequence[str]) -> dict:
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": mapping(geoms[i]),
                    "properties": {k: rows[i][k] for k in keys},
                }
                for i in picked
            ],
        }

    for level in ("county", "street", "community"):
        picked = [i for i, r in enumerate(rows) if r["level"] == level]
        style = {**PEER_OUTLINES[level], "className": f"gm-{level}"}
        folium.GeoJson(
            collection(picked, ("code", "name")),
            name=styles.LEVEL_NAMES[level],
            style_function=lambda _f, style=style: style,
            tooltip=folium.GeoJsonTooltip(["name"], labels=False),
        ).add_to(m)
    fields = ("name", "code", "parent_name", "households", "population", "grid_worker")
    fields += ("grid_worker_phone", "party_branch")
    folium.GeoJson(
        collection(grid_i, fields),
        name="网格",
        style_function=lambda f: {
            "color": "#3b3b3b",
            "weight": 1,
            "fillColor": _band_colour(f["properties"]["households"], settings),
            "fillOpacity": 0.55,
            "className": "gm-grid",
        },
        tooltip=folium.GeoJsonTooltip(["name"], labels=False),
        popup=folium.GeoJsonPopup(
            list(fields),
            aliases=["网格", "编码", "社区", "户数", "人口", "网格员", "电话", "党支部"],
        ),
    ).add_to(m)

    centres = folium.FeatureGroup(name="党群服务中心").add_to(m)
    for c in conn.execute(
        text(
            "SELECT name, level, address, radius_m, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM centres ORDER BY id"
        )
    ).mappings():
        radius = c["radius_m"] or settings.centre_radius_m[c["level"]]
        label, colour = styles.CENTRE_STYLES[c["level"]]
        folium.Circle(
            [c["lat"], c["lon"]],
            radius=radius,
            color=colour,
            fill=True,
            fill_opacity=0.08,
            className="gm-reach",
            popup=folium.Popup(
                f"<b>{c['name']}</b><br>{label}<br>{c['address']}<br>服务半径 {radius:.0f} 米",
                max_width=300,
            ),
            tooltip=c["name"],
        ).add_to(centres)

    cams = (
        conn.execute(
            text(
                "SELECT device_id, name, status, azimuth_deg, fov_deg, range_m, type, "
                "ST_X(geom) AS lon, ST_Y(geom) AS lat FROM cameras ORDER BY id"
            )
        )
        .mappings()
        .all()
    )
    sectors_group = folium.FeatureGroup(name="摄像机视场").add_to(m)
    online = [c for c in cams if c["status"] == "online"]
    sectors = sector_polygons(
        [c["lon"] for c in online],
        [c["lat"] for c in online],
        [c["azimuth_deg"] for c in online],
        [c["fov_deg"] for c in online],
        [c["range_m"] for c in online],
        step_deg=10.0,
    )
    for c, sector in zip(online, sectors, strict=True):
        folium.Polygon(
            [(y, x) for x, y in sector.exterior.coords],
            color=styles.CAMERA_COLOURS["online"],
            weight=0.5,
            fill=True,
            fill_opacity=0.15,
            className="gm-sector",
            tooltip=c["device_id"],
        ).add_to(sectors_group)
    cameras_group = folium.FeatureGroup(name="摄像机").add_to(m)
    for c in cams:
        status = "在线" if c["status"] == "online" else "离线"
        folium.CircleMarker(
            [c["lat"], c["lon"]],
            radius=3,
            color=styles.CAMERA_COLOURS[c["status"]],
            fill=True,
            fill_opacity=1,
            className="gm-camera",
            popup=folium.Popup(
                f"<b>{c['name']}</b><br>国标编码 {c['device_id']}<br>{c['type']} · {status}<br>"
                f"方位角 {c['azimuth_deg']}° 视场角 {c['fov_deg']}° 可视距离 {c['range_m']} 米",
                max_width=300,
            ),
            tooltip=c["name"],
        ).add_to(cameras_group)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def peer_html(m: folium.Map, settings: Settings, *, inline: bool) -> str:
    """The peer's page with its CDN references made local, as ``page_html`` does."""
    html = m.get_root().render()
    return map_assets.offline_html(html, inline=inline, vendor_dir=settings.vendor_dir)


# --------------------------------------------------------------------------- gridmap's page


@contextlib.contextmanager
def patched(module: Any, name: str, replacement: Callable[..., Any]) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def build_gridmap(conn: Connection, settings: Settings) -> dict[str, float]:
    """``region_map`` + ``page_html`` as ``/maps`` runs them, timed by phase (the calls of
    ``subtree``, ``analysis.coverage`` and ``offline_html`` wrapped): seconds by phase."""
    phases: dict[str, float] = {}

    def timing(key: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                k = key(*args, **kwargs)
                phases[k] = phases.get(k, 0.0) + time.perf_counter() - t

        return wrapper

    with (
        patched(region_page, "subtree", timing(lambda *a, **k: "subtree", region_page.subtree)),
        patched(
            analysis,
            "coverage",
            timing(lambda _c, _r, layer, _s: f"coverage {layer}", analysis.coverage),
        ),
        patched(
            map_assets,
            "offline_html",
            timing(lambda *a, **k: f"offline_html {k['inline']}", map_assets.offline_html),
        ),
    ):
        t0 = time.perf_counter()
        m = region_page.region_map(conn, settings, None, MapOptions())
        t1 = time.perf_counter()
        page_html(m, settings, inline=False)
        t2 = time.perf_counter()
    queries = sum(v for k, v in phases.items() if k.startswith(("subtree", "coverage")))
    out = {
        "subtree": phases["subtree"],
        "coverage centres": phases["coverage centres"],
        "coverage cameras": phases.get("coverage cameras", 0.0),
        "rest of region_map": (t1 - t0) - queries,
        "render": (t2 - t1) - phases["offline_html False"],
        "offline_html": phases["offline_html False"],
    }
    out["total"] = t2 - t0
    return out


@contextlib.contextmanager
def memoized() -> Iterator[None]:
    """``subtree`` and ``analysis.coverage`` answered from a cache: cheap rebuilds of the
    same page (for the variants and the byte breakdown)."""
    cache: dict[Any, Any] = {}

    def memo(fn: Callable[..., Any], keyed: int) -> Callable[..., Any]:
        """``fn(conn, *args)`` cached on its first ``keyed`` arguments after ``conn``."""

        def wrapper(conn: Connection, *args: Any, **kwargs: Any) -> Any:
            key = (fn.__name__, json.dumps(args[:keyed]))
            if key not in cache:
                cache[key] = fn(conn, *args, **kwargs)
            return json.loads(json.dumps(cache[key]))

        return wrapper

    with (
        patched(region_page, "subtree", memo(region_page.subtree, 1)),  # (roots,), simplify_m
        patched(analysis, "coverage", memo(analysis.coverage, 2)),  # (region, layer), settings
    ):
        yield


def gridmap_variant(
    conn: Connection,
    settings: Settings,
    modify: Callable[[folium.Map], None] | None = None,
    *,
    inline: bool = False,
) -> str:
    """gridmap's page built afresh, changed by ``modify`` first (a what-if: gridmap's code
    is not changed)."""
    m = region_page.region_map(conn, settings, None, MapOptions())
    if modify is not None:
        modify(m)
    return page_html(m, settings, inline=inline)


def drop(*names: str) -> Callable[[folium.Map], None]:
    """A ``modify`` that leaves out the layers named (``layer_name``)."""

    def modify(m: folium.Map) -> None:
        for key, child in list(m._children.items()):
            if getattr(child, "layer_name", None) in names:
                del m._children[key]

    return modify


def layer_names(conn: Connection, settings: Settings) -> list[str]:
    m = region_page.region_map(conn, settings, None, MapOptions())
    return [
        child.layer_name
        for child in m._children.values()
        if isinstance(child, folium.GeoJson) and child.layer_name
    ]


# --------------------------------------------------------------------------- the browser

INIT_JS = """(() => {
  const selector = %s, want = %d;
  const tick = () => {
    if (document.querySelectorAll(selector).length >= want) {
      const seen = performance.now();
      requestAnimationFrame(() => {
        window.__mapScale = {seen: seen, drawn: performance.now()};
      });
    } else {
      requestAnimationFrame(tick);
    }
  };
  requestAnimationFrame(tick);
})();"""

METRICS_JS = """(classes) => {
  const nav = performance.getEntriesByType('navigation')[0];
  const counts = {};
  for (const c of classes) { counts[c] = document.querySelectorAll('path.' + c).length; }
  return {
    mark: window.__mapScale,
    responseStart: nav.responseStart,
    responseEnd: nav.responseEnd,
    counts: counts,
    paths: document.querySelectorAll('path').length,
    labels: document.querySelectorAll('.gm-label').length,
    nodes: document.getElementsByTagName('*').length,
    heap: performance.memory ? performance.memory.usedJSHeapSize : null,
  };
}"""

CLASSES = (
    "gm-county",
    "gm-street",
    "gm-community",
    "gm-grid",
    "gm-reach",
    "gm-centre",
    "gm-camera",
    "gm-sector",
    "gm-blind",
)


SETTLE_S = 30.0
"""How long the (untimed) wait for a page's load event may take before it is a problem."""


@dataclass
class Load:
    """One page load: milliseconds from navigation start, wall seconds, what was drawn."""

    response_start_ms: float
    response_end_ms: float
    seen_ms: float
    drawn_ms: float
    wall_s: float
    counts: dict[str, int]
    paths: int
    labels: int
    nodes: int
    heap_mb: float | None
    problems: dict[str, list[str]]
    load_average: float = 0.0
    """The machine's 1-minute load average as the load started."""

    @property
    def render_ms(self) -> float:
        """From the last byte of the HTML to the frame with every grid drawn."""
        return self.drawn_ms - self.response_end_ms


def load_page(browser: Browser, url: str, n_grids: int, timeout_s: float) -> Load:
    """Load ``url`` in a fresh guarded context until every grid path is drawn; then (not
    timed) until its load event and 0.5 s more, for the guard: a request still pending
    after ``SETTLE_S`` is reported as a problem (``stalled``)."""
    load_average = os.getloadavg()[0]
    context, log = guarded_page(browser)
    pending: set[str] = set()
    try:
        page = log.page
        page.on("request", lambda request: pending.add(request.url))
        page.on("requestfinished", lambda request: pending.discard(request.url))
        page.on("requestfailed", lambda request: pending.discard(request.url))
        page.add_init_script(INIT_JS % (json.dumps("path.gm-grid"), n_grids))
        timeout = timeout_s * 1000
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout)
        page.wait_for_function("() => window.__mapScale !== undefined", timeout=timeout)
        wall = time.perf_counter() - t0
        got = page.evaluate(METRICS_JS, list(CLASSES))
        problems: dict[str, list[str]] = {}
        try:
            page.wait_for_load_state("load", timeout=SETTLE_S * 1000)
            page.wait_for_timeout(500)
        except PlaywrightTimeoutError:
            problems["stalled"] = sorted(pending)
        heap = got["heap"]
        return Load(
            got["responseStart"],
            got["responseEnd"],
            got["mark"]["seen"],
            got["mark"]["drawn"],
            wall,
            got["counts"],
            got["paths"],
            got["labels"],
            got["nodes"],
            None if heap is None else heap / 1e6,
            log.problems() | problems,
            load_average,
        )
    finally:
        context.close()


@dataclass
class Page:
    """A page measured in the browser."""

    key: str
    title: str
    url: str
    html_bytes: int
    gzip_bytes: int
    loads: list[Load] = field(default_factory=list)
    server_s: list[float] = field(default_factory=list)
    goal: bool = True  # judged against the goals (gridmap's pages)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(x, attr) for x in self.loads)


def _gzip_size(html: str) -> int:
    return len(gzip.compress(html.encode(), compresslevel=6))


# --------------------------------------------------------------------------- reporting


def environment(conn: Connection) -> dict[str, str]:
    pg = conn.scalar(text("SHOW server_version"))
    full = conn.scalar(text("SELECT postgis_full_version()")) or ""
    pieces = {p.split("=")[0]: p.split("=", 1)[1].strip('"') for p in full.split() if "=" in p}
    leaflet = next(p.version for p in map_assets.PACKAGES if p.name == "leaflet")
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "folium": f"folium {folium.__version__}, branca {package_version('branca')}, "
        f"Leaflet {leaflet}",
        "shapely": f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string})",
        "playwright": f"Playwright {package_version('playwright')}",
        "postgres": f"PostgreSQL {pg}, PostGIS {pieces.get('POSTGIS', '?')}",
        "code": git_state(),
    }


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


@dataclass
class Results:
    """Everything the markdown section reports."""

    args: argparse.Namespace
    env: dict[str, str]
    city: City
    county_km2: float
    levels: dict[str, dict[str, int]]
    builds: list[dict[str, float]]
    export_s: float
    peer_build_s: float
    pages: list[Page]
    layer_bytes: list[tuple[str, int]]
    base_bytes: int
    variants: list[Page]
    load: tuple[float, float]


def expected_counts(city: City) -> dict[str, int]:
    """The paths gridmap's page should draw, per class (the peer has no centre markers)."""
    online = sum(c["status"] == "online" for c in city.cameras)
    out = {f"gm-{level}": len(city.units[level]) for level in LEVEL_ORDER}
    out |= {"gm-reach": len(city.centres), "gm-centre": len(city.centres)}
    out |= {"gm-camera": len(city.cameras), "gm-sector": online, "gm-blind": 0}
    return out


def _extra_table(pages: list[Page], base: Page | None) -> list[str]:
    """Rows of pages measured in the browser (what-ifs): size, render, what was drawn."""
    lines = [
        "| page | HTML MB | render (ms) | "
        + ("saved vs full | " if base else "")
        + "grids | sectors | cameras | guard |",
        "|---|---:|---:|" + ("---:|" if base else "") + "---:|---:|---:|---|",
    ]
    for p in pages:
        saved = f"{base.median('render_ms') - p.median('render_ms'):.0f} | " if base else ""
        counts = [sorted({x.counts[c] for x in p.loads}) for c in ("gm-grid", "gm-sector")]
        counts.append(sorted({x.counts["gm-camera"] for x in p.loads}))
        guard = "clean" if not any(x.problems for x in p.loads) else "**problems**"
        lines.append(
            f"| {p.title} | {_mb(p.html_bytes)} | {p.median('render_ms'):.0f} | {saved}"
            + " | ".join("/".join(map(str, c)) for c in counts)
            + f" | {guard} |"
        )
    return lines


def markdown(r: Results) -> str:
    city, args = r.city, r.args
    grids = city.grids
    stored = [shapely.get_num_coordinates(g.geom) for g in grids]
    households = [g.households for g in grids if g.households is not None]
    settings = get_settings()
    low, high = settings.grid_households_min, settings.grid_households_max
    online = sum(c["status"] == "online" for c in city.cameras)
    kinds = {k: sum(c["type"] == k for c in city.cameras) for k in CAMERA_MIX}
    command = (
        f".venv/bin/python bench/map_scale.py --loads {args.loads} --server-repeat "
        f"{args.server_repeat} --seed {args.seed}"
        + (f" --streets {args.streets}" if args.streets != 6 else "")
        + (f" --vertex-spacing-m {args.vertex_spacing_m:g}" if args.vertex_spacing_m != 10 else "")
        + (" --profile" if args.profile else "")
    )
    e = r.env
    loads = [x.load_average for p in (*r.pages, *r.variants) for x in p.loads]
    lines = [
        f"## Map scale: {len(grids)} grids + {len(city.centres)} centres + "
        f"{spaced(len(city.cameras))} cameras on one page, gridmap vs a plain Folium page",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {e['nproc']} cores ({e['cpu']}), load average {r.load[0]:.1f} → "
        f"{r.load[1]:.1f} over the run; Python {e['python']}; {e['folium']}; {e['shapely']}; "
        f"{e['postgres']} (gridmap's embedded cluster); headless {e['chromium']} "
        f"(Debian package) driven by {e['playwright']}. gridmap code: {e['code']}.",
        "",
        f"Data (seeded, `--seed {args.seed}`): a county blob of {r.county_km2:.0f} km² around "
        f"131.0°E 45.77°N (七台河市), {len(city.units['street'])} streets, "
        f"{len(city.units['community'])} communities, {len(grids)} grids (Voronoi cells of "
        f"Lloyd-relaxed points clipped to their community, one noded arrangement, edges "
        f"densified to a vertex every {city.vertex_spacing_m:g} m and bent by a smooth field: "
        f"{int(np.median(stored))} vertices per grid at the median, {min(stored)}–{max(stored)}, "
        "full-double coordinates). Grid households "
        f"{min(households)}–{max(households)} (median {int(np.median(households))}; "
        f"{sum(h < low for h in households)} below and {sum(h > high for h in households)} "
        f"above the {low}–{high} band, {len(grids) - len(households)} missing). "
        f"{len(city.centres)} centres (1 centre at 1 000 m, {len(city.centres) - 1} stations "
        f"at 500 m); {spaced(len(city.cameras))} cameras with GB/T 28181 IDs ("
        + ", ".join(f"{v} {k}" for k, v in kinds.items())
        + f"; {len(city.cameras) - online} offline, so {spaced(online)} sectors); "
        f"{spaced(len(city.addresses))} buildings with "
        f"{spaced(sum(a.households or 0 for a in city.addresses))} households in the address "
        "registry (one compound per grid).",
        "",
        "Pages: **gridmap /maps** = the app under uvicorn, link mode (scripts from `/vendor`); "
        "**gridmap export** = `gridmap map export` (everything inline), served by a static "
        "server; **peer** = a straightforward Folium page of the same data: one "
        "`folium.GeoJson` per level of the stored polygons at full precision (grids with "
        "`GeoJsonTooltip` + `GeoJsonPopup`, coloured by households), a `folium.Circle` per "
        "centre, a `folium.CircleMarker` per camera and a `folium.Polygon` per online "
        "camera's sector (10° steps, as gridmap), each with a `folium.Popup` and/or a "
        "tooltip, in feature groups, with a layer control; its CDN references rewritten by "
        "`gis.web.map_assets.offline_html` (Leaflet + jQuery, which `folium.Popup` needs), link "
        "mode (served with `/vendor`) and inline. No base map on any page (`basemap=none`).",
        "",
        f"Browser: {args.loads} loads per page, each in a fresh context (empty cache), all "
        "pages of this section (what-ifs included) in one rotation per round; *drawn* = "
        "`performance.now()` one animation frame after the frame "
        f"in which all {len(grids)} `path.gm-grid` exist (ms from navigation start); *render* "
        "= drawn − `responseEnd` of the HTML (for /maps, the server's build time is before "
        "`responseEnd`); *wall* = `page.goto` until Playwright sees the mark. Medians. "
        f"Load average as the loads started: median {statistics.median(loads):.1f}, "
        f"max {max(loads):.1f}.",
        "",
        "| page | HTML MB | gzip MB | response end (ms) | drawn (ms) | render (ms) | wall (s) "
        "| JS heap (MB) | ≤ 2 MB | render ≤ 1.5 s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for p in r.pages:
        heap = [x.heap_mb for x in p.loads if x.heap_mb is not None]
        size_ok = p.html_bytes <= GOAL_BYTES
        render_ok = p.median("render_ms") <= GOAL_RENDER_S * 1000
        lines.append(
            f"| {p.title} | {_mb(p.html_bytes)} | {_mb(p.gzip_bytes)} "
            f"| {p.median('response_end_ms'):.0f} | {p.median('drawn_ms'):.0f} "
            f"| **{p.median('render_ms'):.0f}** | {p.median('wall_s'):.2f} "
            f"| {statistics.median(heap):.0f} | "
            + (f"{_verdict(size_ok)} | {_verdict(render_ok)} |" if p.goal else "– | – |")
        )
    by = {p.key: p for p in r.pages}
    lines += [
        "",
        "| gridmap / peer | HTML size | render (median) |",
        "|---|---:|---:|",
    ]
    for ours, theirs in (("maps", "peer_link"), ("export", "peer_inline")):
        a, b = by[ours], by[theirs]
        lines.append(
            f"| {a.title} / {b.title} | {a.html_bytes / b.html_bytes:.2f}× "
            f"| {a.median('render_ms') / b.median('render_ms'):.2f}× |"
        )
    lines += [
        "",
        "Drawn paths (the same on every load; *expected* from the data) and the guard: ",
        "",
        "| page | " + " | ".join(c.removeprefix("gm-") for c in CLASSES) + " | all paths "
        "| DOM elements | guard |",
        "|---|" + "---:|" * (len(CLASSES) + 2) + "---|",
    ]
    for p in r.pages:
        counts = {c: sorted({x.counts[c] for x in p.loads}) for c in CLASSES}
        problems = [x.problems for x in p.loads if x.problems]
        guard = "clean" if not problems else f"**{len(problems)} loads with problems**"
        lines.append(
            f"| {p.title} | "
            + " | ".join("/".join(map(str, counts[c])) for c in CLASSES)
            + f" | {p.median('paths'):.0f} | {p.median('nodes'):.0f} | {guard} |"
        )
    expected = expected_counts(city)
    lines.append(
        "| *expected (gridmap)* | " + " | ".join(str(expected[c]) for c in CLASSES) + " | | | |"
    )
    phases = list(r.builds[0])
    maps_page = by["maps"]
    lines += [
        "",
        f"Server: `GET /maps` answered in **{statistics.median(maps_page.server_s):.2f} s** "
        f"(median of {len(maps_page.server_s)}: "
        + ", ".join(f"{s:.2f}" for s in maps_page.server_s)
        + f"); `gridmap map export` ran {r.export_s:.1f} s (a new process: imports, "
        f"connection, build, inline); the peer page took {r.peer_build_s:.1f} s to build and "
        "render in-process. gridmap's build in-process, by phase (median of "
        f"{len(r.builds)}; `subtree`, `analysis.coverage` and `offline_html` timed by "
        "wrapping them):",
        "",
        "| " + " | ".join(phases) + " |",
        "|" + "---:|" * len(phases),
        "| "
        + " | ".join(f"{statistics.median(b[k] for b in r.builds):.2f} s" for k in phases)
        + " |",
        "",
        "Geometry per level: stored vertices vs what gridmap draws "
        "(`gis.web.page_data.SIMPLIFY_M`, `ST_SimplifyPreserveTopology` in the UTM zone, "
        "then 6 decimals); the peer draws the stored ones at full precision.",
        "",
        "| level | regions | simplified at | vertices stored | vertices drawn | kept |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for level in LEVEL_ORDER:
        v = r.levels[level]
        lines.append(
            f"| {level} | {v['regions']} | {SIMPLIFY_M[level]:g} m | {spaced(v['stored'])} "
            f"| {spaced(v['drawn'])} | {100 * v['drawn'] / v['stored']:.0f} % |"
        )
    total = r.base_bytes
    lines += [
        "",
        "Where gridmap's bytes go (link mode; each layer's share = the page's size minus the "
        "size of the same page built without that layer: its GeoJSON, style and popup "
        "code):",
        "",
        "| layer | MB | share |",
        "|---|---:|---:|",
    ]
    for name, size in r.layer_bytes:
        lines.append(f"| {name} | {_mb(size)} | {100 * size / total:.0f} % |")
    rest = total - sum(s for _, s in r.layer_bytes)
    lines.append(
        f"| everything else (controls, legend, lookup box, page) | {_mb(rest)} "
        f"| {100 * rest / total:.0f} % |"
    )
    lines.append(
        f"| *inline Leaflet + plugins (export only)* | {_mb(by['export'].html_bytes - total)} | |"
    )
    if r.variants:
        lines += [
            "",
            "Where the browser's time goes: gridmap's link-mode page built without single "
            "layers, served statically (no server time), in the same rounds:",
            "",
        ]
        lines += _extra_table(r.variants, r.variants[0])
    ok_size = all(p.html_bytes <= GOAL_BYTES for p in r.pages if p.goal)
    ok_time = all(p.median("render_ms") <= GOAL_RENDER_S * 1000 for p in r.pages if p.goal)
    lines += [
        "",
        f"Goals (gridmap's pages): ≤ 2 MB of HTML {_verdict(ok_size)} "
        f"(/maps {_mb(by['maps'].html_bytes)} MB, export {_mb(by['export'].html_bytes)} MB); "
        f"render ≤ 1.5 s {_verdict(ok_time)} (/maps {by['maps'].median('render_ms'):.0f} ms "
        f"after the HTML arrived, {by['maps'].median('drawn_ms'):.0f} ms from navigation "
        f"start including the server's build; export {by['export'].median('render_ms'):.0f} "
        "ms).",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- running

VARIANTS = (
    ("without camera sectors", drop("摄像机视场")),
    ("without camera points", drop("摄像机")),
    ("without cameras (points and sectors)", drop("摄像机视场", "摄像机")),
    ("without blind spots (hidden layer)", drop("服务盲区")),
    ("without communities, streets, county", drop("社区", "街道", "区县")),
)


def run_loads(
    browser: Browser, pages: list[Page], n_grids: int, loads: int, timeout_s: float
) -> None:
    """``loads`` rounds over ``pages``, each round starting one page later (so that every
    page meets the same conditions: what-ifs and the pages they are compared with alike)."""
    for r in range(loads):
        order = pages[r % len(pages) :] + pages[: r % len(pages)]
        for p in order:
            got = load_page(browser, p.url, n_grids, timeout_s)
            p.loads.append(got)
            print(
                f"  round {r + 1}: {p.title}: drawn {got.drawn_ms:.0f} ms (response end "
                f"{got.response_end_ms:.0f} ms, render {got.render_ms:.0f} ms), wall "
                f"{got.wall_s:.2f} s, grids {got.counts['gm-grid']}, paths {got.paths}"
                + (f", PROBLEMS {got.problems}" if got.problems else ""),
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=5, help="browser loads per page (≥ 5)")
    parser.add_argument("--server-repeat", type=int, default=5, help="builds / GETs of /maps")
    parser.add_argument("--streets", type=int, default=6, help="streets of the county")
    parser.add_argument(
        "--vertex-spacing-m", type=float, default=10.0, help="a vertex every … m on every edge"
    )
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the city")
    parser.add_argument(
        "--profile", action="store_true", help="also load gridmap's page without single layers"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per page load")
    parser.add_argument(
        "--no-append", action="store_true", help="print the section, do not append it"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)

    settings = get_settings()
    url, started = bench_database(settings, "map_scale")
    load_before = os.getloadavg()[0]
    create_database(url)
    engine = None
    try:
        migrate(url)
        engine = make_engine(url)
        t = time.perf_counter()
        city = make_city(args.streets, args.vertex_spacing_m, args.seed)
        t_city = time.perf_counter() - t
        load_city(engine, city)
        print(
            f"city: {len(city.grids)} grids, {len(city.centres)} centres, "
            f"{len(city.cameras)} cameras, {len(city.addresses)} buildings (generated in "
            f"{t_city:.1f} s, loaded in {time.perf_counter() - t - t_city:.1f} s)",
            flush=True,
        )
        with engine.connect() as conn:
            env = environment(conn)
            county_km2 = conn.scalar(text("SELECT area_m2 FROM regions WHERE level = 'county'"))
            levels = vertices_by_level(conn)
            builds = []
            for i in range(args.server_repeat):
                builds.append(build_gridmap(conn, settings))
                print(
                    f"gridmap build {i + 1}: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in builds[-1].items()),
                    flush=True,
                )
            t = time.perf_counter()
            peer_link = peer_html(peer_map(conn, settings), settings, inline=False)
            peer_build_s = time.perf_counter() - t
            peer_inline = peer_html(peer_map(conn, settings), settings, inline=True)
            print(f"peer: built in {peer_build_s:.1f} s", flush=True)
            with memoized():
                full = gridmap_variant(conn, settings)
                names = layer_names(conn, settings)
                layer_bytes = [
                    (n, len(full.encode()) - len(gridmap_variant(conn, settings, drop(n)).encode()))
                    for n in names
                ]
                variants_html = []
                if args.profile:
                    variants_html = [("full page", full)] + [
                        (title, gridmap_variant(conn, settings, modify))
                        for title, modify in VARIANTS
                    ]
        with tempfile.TemporaryDirectory(prefix="map-scale-") as tmp:
            root = Path(tmp) / "site"
            root.mkdir()
            (root / "vendor").symlink_to(settings.vendor_dir)
            export_path = root / "export.html"
            t = time.perf_counter()
            done = subprocess.run(
                [str(Path(sys.executable).parent / "gridmap"), "map", "export", "-o",
                 str(export_path)],
                env={**os.environ, "GRIDMAP_DATABASE_URL": url},
                capture_output=True,
                text=True,
            )  # fmt: skip
            export_s = time.perf_counter() - t
            if done.returncode != 0:
                raise SystemExit(f"gridmap map export failed: {done.stderr}")
            export = export_path.read_text(encoding="utf-8")
            print(f"export: {len(export.encode()) / 1e6:.2f} MB in {export_s:.1f} s", flush=True)
            with (
                serve_app(url, Path(tmp) / "uvicorn.log") as base,
                serve_directory(root) as site,
            ):
                maps_page = Page("maps", "gridmap /maps (link)", f"{base}/maps", 0, 0)
                for _ in range(args.server_repeat):
                    t = time.perf_counter()
                    response = httpx.get(f"{base}/maps", timeout=args.timeout)
                    maps_page.server_s.append(time.perf_counter() - t)
                    response.raise_for_status()
                    print(f"GET /maps: {maps_page.server_s[-1]:.2f} s", flush=True)
                maps_page.html_bytes = len(response.content)
                maps_page.gzip_bytes = len(gzip.compress(response.content, compresslevel=6))

                def static(key: str, title: str, html: str, goal: bool) -> Page:
                    page_url = site.publish(f"{key}.html", html)
                    size = len(html.encode())
                    return Page(key, title, page_url, size, _gzip_size(html), goal=goal)

                pages = [
                    maps_page,
                    Page("export", "gridmap export (inline)", f"{site.base}/export.html",
                         len(export.encode()), _gzip_size(export)),
                    static("peer_link", "peer (link)", peer_link, goal=False),
                    static("peer_inline", "peer (inline)", peer_inline, goal=False),
                ]  # fmt: skip
                variants = [
                    static(f"variant{i}", title, html, goal=False)
                    for i, (title, html) in enumerate(variants_html)
                ]
                with sync_playwright() as playwright:
                    browser = launch(playwright)
                    try:
                        env["chromium"] = f"Chromium {browser.version}"
                        everything = pages + variants
                        print(
                            f"{env['chromium']}: {args.loads} rounds over {len(everything)} pages",
                            flush=True,
                        )
                        run_loads(browser, everything, len(city.grids), args.loads, args.timeout)
                    finally:
                        browser.close()
        results = Results(
            args,
            env,
            city,
            county_km2 / 1e6,
            levels,
            builds,
            export_s,
            peer_build_s,
            pages,
            layer_bytes,
            len(full.encode()),
            variants,
            (load_before, os.getloadavg()[0]),
        )
        section = markdown(results)
        print("\n" + section)
        if not args.no_append:
            with args.results.open("a", encoding="utf-8") as out:
                out.write("\n" + section)
            print(f"appended to {args.results}")
    finally:
        if engine is not None:
            engine.dispose()
        drop_database(url)
        if started:
            Cluster.from_settings(settings).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
