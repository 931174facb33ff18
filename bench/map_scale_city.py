"""The map scale benchmark's city: regions with codes and people, the address registry,
centres and cameras, generated from the outlines and loaded into gridmap's database (see
``map_scale``'s docstring)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from cities import sample_inside
from common import ROOT
from map_scale_geometry import (
    KM_PER_DEG_LAT,
    KM_PER_DEG_LON,
    boundaries,
    in_reading_order,
    rng_for,
    to_deg,
    to_km,
)
from sqlalchemy import Engine, text

from gis.catalogue.schema import CAMERA_TYPE_CODES
from gis.query.addresses import AddressRecord, write_addresses
from gis.store.seed import CAMERA_INSERT, CENTRE_INSERT
from gis.store.versions import RegionRecord, commit_regions

sys.path.insert(0, str(ROOT / "data" / "boundaries"))
from demo_build.cameras import CAMERA_INDUSTRY, CAMERA_KINDS, CAMERA_NETWORK, IP_CAMERA_SHARE

COUNTY_CODE = "230900"
COUNTY_NAME = "七台河市（模拟城区）"
PROVINCE_CITY = "黑龙江省七台河市"
N_STATIONS = 12  # + 1 centre = 13
N_CAMERAS = 2567
OFFLINE_SHARE = 0.05
MISSING_SHARE = 0.03  # each grid attribute is missing in about this share of grids
STREET_NAMES = ("新兴街道", "越秀街道", "兴华街道", "红旗街道", "长兴街道", "北山街道", "河南街道")
CAMERA_CENTRE_CODE = "23090000"  # GB/T 28181 digits 1-8: 七台河市 2309 + 0000
CAMERA_MIX = {"枪机": 0.55, "球机": 0.20, "半球": 0.25}
COMPOUND_CAMERA_SHARE = 0.65
LEVEL_ORDER = ("county", "street", "community", "grid")

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


def one_inside(domain: Any, rng: np.random.Generator) -> tuple[float, float]:
    """One uniform point inside ``domain``."""
    x, y = sample_inside(domain, 1, rng, batch=12)[0]
    return x, y


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
    nested = boundaries(n_streets, spacing_m, seed)
    rng = rng_for(seed, "names")
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
            order = in_reading_order(grid_geoms, geom)
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
    _people(units["grid"], rng_for(seed, "people"))
    for level in ("community", "street", "county"):
        for u in units[level]:
            members = [c for c in units[_CHILD[level]] if c.parent_code == u.code]
            u.households = sum(m.households or 0 for m in members)
            u.population = sum(m.population or 0 for m in members)
    addresses, compounds = _addresses(units, rng_for(seed, "addresses"))
    centres = _centres(units, rng_for(seed, "centres"))
    cameras = _cameras(units, compounds, rng_for(seed, "cameras"))
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
    inner = to_km(geom).buffer(-metres / 1000.0)
    return to_deg(inner) if not inner.is_empty else geom


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
        lon, lat = one_inside(inner, rng)
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
            x, y = one_inside(area if area.area > 0 else inner, rng)
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
    near = to_deg(to_km(county.centroid).buffer(0.5)).intersection(_inset(county, 50))
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

    lon, lat = one_inside(near, rng)
    add("七台河市党群服务中心", "centre", lon, lat)
    for i in sorted(rng.choice(len(units["community"]), N_STATIONS, replace=False).tolist()):
        community = units["community"][i]
        lon, lat = one_inside(_inset(community.geom, 50), rng)
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
            lon, lat = one_inside(county, rng)
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
