"""The two tools of the coverage benchmark on the same city — gridmap's ``circle_pairs`` /
``sector_pairs`` (and its full reports) and PostGIS's ``ST_DWithin`` queries — and where
their answers differ (boundary ties, replayed the PostGIS way)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import psycopg
from coverage_city import GEOD, City, Region
from pgcopy import copy_out, points_copy

from gis.analysis.coverage import circle_pairs, coverage_report, sector_pairs
from gis.store.watch import conninfo

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


def _fetch(cur: psycopg.Cursor, sql: str, n_facilities: int) -> np.ndarray:
    """The (point, facility) pairs of ``sql`` as keys point × facilities + facility."""
    numbers = np.array(copy_out(cur, sql).split(), dtype=np.int64)
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
                copy.write(points_copy(*arrays))
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
