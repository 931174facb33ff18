"""The three tools of the lookup batch benchmark, each timed on the same points: gridmap's
``GridIndex.covering``, PostGIS (temp table, ``COPY``, the ``ST_Covers`` join) and geopandas
(``sjoin``); and the check that their answers are the same (see ``lookup_batch``'s
docstring)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from lookup_batch_cities import City
from meters import peak_rss
from pgcopy import copy_out, points_copy

from gis.query.lookup import GridIndex
from gis.store.watch import conninfo

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
    """The steps of ``GridIndex.covering`` timed one by one (same calls, same order)."""
    out: dict[str, float] = {}
    assert index.cells is not None
    tree = shapely.STRtree(index.cells.polygons[np.arange(len(index.grids))])  # not timed
    t0 = time.perf_counter()
    points = shapely.points(lon, lat)
    t1 = time.perf_counter()
    point_idx, grid_idx = tree.query(points, predicate="covered_by")
    t2 = time.perf_counter()
    order = np.lexsort((grid_idx, point_idx))
    point_idx, grid_idx = point_idx[order], grid_idx[order]
    first = np.ones(len(point_idx), dtype=bool)
    first[1:] = point_idx[1:] != point_idx[:-1]
    found = np.full(len(points), -1, dtype=np.int64)
    found[point_idx[first]] = grid_idx[first]
    t3 = time.perf_counter()
    candidates = tree.query(points)  # bounding boxes only: how many exact tests
    out["shapely.points"] = t1 - t0
    out["STRtree.query covered_by"] = t2 - t1
    out["lowest code (lexsort)"] = t3 - t2
    out["candidate pairs"] = float(candidates.shape[1])
    out["hits"] = float(len(point_idx))
    return out


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
