"""The three tools of the lookup batch benchmark, each timed on the same points: gridmap's
``GridIndex.covering``, PostGIS (temp table, ``COPY``, the ``ST_Covers`` join) and geopandas
(``sjoin``); and the check that their answers are the same (see ``lookup_batch``'s
docstring)."""

from __future__ import annotations

import cProfile
import pstats
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
from lookup_batch_cities import City
from meters import peak_rss
from pgcopy import copy_out, points_copy

from gis.query.lookup import GridIndex
from gis.store.watch import conninfo

BREAKDOWN_CALLS = 5
"""Calls of ``GridIndex.covering`` named in its breakdown."""

QUERY = (
    "SELECT p.id, min(r.code) FROM pts p JOIN regions r ON ST_Covers(r.geom, p.geom) "
    "WHERE r.level = 'grid' AND r.valid_to IS NULL GROUP BY p.id"
)


@dataclass
class Step:
    """One timed step: seconds, its phases, the answer (grid index per point, -1: none)."""

    seconds: float
    answer: np.ndarray
    phases: dict[str, float] = field(default_factory=dict)
    rss_before_kib: int = 0
    rss_peak_kib: int = 0
    note: str = ""


def run_gridmap(index: GridIndex, lon: np.ndarray, lat: np.ndarray) -> Step:
    """``index.covering`` on the whole array."""
    with peak_rss() as rss:
        start = time.perf_counter()
        found = index.covering(lon, lat)
        seconds = time.perf_counter() - start
    return Step(seconds, found, rss_before_kib=rss["before"], rss_peak_kib=rss["peak"])


def gridmap_breakdown(index: GridIndex, lon: np.ndarray, lat: np.ndarray) -> dict[str, float]:
    """Where ``GridIndex.covering`` spends its time: the profiler's own seconds of its
    :data:`BREAKDOWN_CALLS` costliest calls, in one extra run (the calls it makes, so the
    breakdown follows the code; the profiler adds a little to each)."""
    profile = cProfile.Profile()
    profile.runcall(index.covering, lon, lat)
    own = {
        name if file == "~" else f"{Path(file).stem}.{name}": stat[2]
        for (file, _, name), stat in pstats.Stats(profile).stats.items()
    }
    return dict(sorted(own.items(), key=lambda kv: -kv[1])[:BREAKDOWN_CALLS])


def run_postgis(
    url: str,
    lon: np.ndarray,
    lat: np.ndarray,
    codes: np.ndarray,
    *,
    pts_index: str,
    jit: str,
    explain: bool,
) -> Step:
    """COPY the points into a temp table, ANALYZE, the ST_Covers join; answer as grid indexes."""
    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cur:
        if jit != "default":
            cur.execute(f"SET jit = {jit}")
        cur.execute("SELECT 1")
        t0 = time.perf_counter()
        cur.execute("CREATE TEMP TABLE pts (id int4 NOT NULL, geom geometry(Point, 4326) NOT NULL)")
        with cur.copy("COPY pts (id, geom) FROM STDIN (FORMAT binary)") as copy:
            copy.write(points_copy(lon, lat))
        t1 = time.perf_counter()
        if pts_index == "gist":
            cur.execute("CREATE INDEX ON pts USING gist (geom)")
        cur.execute("ANALYZE pts")
        t2 = time.perf_counter()
        tokens = copy_out(cur, QUERY).split()
        ids = np.array(tokens[0::2]).astype(np.int64)
        got = np.array(tokens[1::2])
        t3 = time.perf_counter()
        plan = ""
        if explain:
            cur.execute(f"EXPLAIN {QUERY}")
            plan = "\n".join(r[0] for r in cur.fetchall())
        conn.rollback()
    found = np.full(len(lon), -1, dtype=np.int64)
    sorted_codes = codes.astype(bytes)
    idx = np.searchsorted(sorted_codes, got)
    idx = np.minimum(idx, len(sorted_codes) - 1)
    if len(got) and not (sorted_codes[idx] == got).all():
        raise RuntimeError("PostGIS returned a code that is not a current grid")
    if len(np.unique(ids)) != len(ids):
        raise RuntimeError("PostGIS returned a point twice")
    found[ids] = idx
    phases = {"COPY": t1 - t0, "index + ANALYZE": t2 - t1, "query + fetch": t3 - t2}
    return Step(t3 - t0, found, phases, note=plan)


def build_frames(
    lon: np.ndarray, lat: np.ndarray, codes: np.ndarray, geoms: np.ndarray
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, float]:
    """Fresh points and grids GeoDataFrames, and the seconds it took to build them."""
    start = time.perf_counter()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat, crs="EPSG:4326"))
    grids = gpd.GeoDataFrame({"code": codes}, geometry=gpd.GeoSeries(geoms.copy(), crs="EPSG:4326"))
    return points, grids, time.perf_counter() - start


def run_geopandas(points: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> Step:
    """``sjoin(..., predicate="covered_by")`` and the lowest code (row) per point."""
    with peak_rss() as rss:
        t0 = time.perf_counter()
        joined = gpd.sjoin(points, grids, predicate="covered_by")
        t1 = time.perf_counter()
        lowest = joined.groupby(level=0)["index_right"].min()
        found = np.full(len(points), -1, dtype=np.int64)
        found[lowest.index.to_numpy()] = lowest.to_numpy()
        t2 = time.perf_counter()
    shared = int((np.bincount(joined.index.to_numpy(), minlength=len(points)) > 1).sum())
    return Step(
        t2 - t0,
        found,
        {"sjoin": t1 - t0, "lowest code": t2 - t1},
        rss["before"],
        rss["peak"],
        note=str(shared),
    )


def check_same(
    city: City, lon: np.ndarray, lat: np.ndarray, answers: dict[str, np.ndarray]
) -> None:
    """Stop loudly unless every tool gave every point the same grid (or none)."""
    reference = answers["gridmap"]
    for tool, found in answers.items():
        bad = np.flatnonzero(found != reference)
        if len(bad):

            def code(i: int) -> str:
                return city.codes[i] if i >= 0 else "none"

            examples = "; ".join(
                f"point {i} ({lon[i]!r}, {lat[i]!r}): gridmap {code(reference[i])}, "
                f"{tool} {code(found[i])}"
                for i in bad[:5].tolist()
            )
            raise SystemExit(
                f"DIFFERENT ANSWERS on the {city.title}: {tool} differs from gridmap on "
                f"{len(bad)} of {len(lon)} points, e.g. {examples}"
            )
