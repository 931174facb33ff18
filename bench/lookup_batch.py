"""Lookup benchmark: 1 000 000 points → their grid, gridmap vs PostGIS vs geopandas.

What is measured, in one run, for two cities, each on its own set of points that all three
tools answer:

* **gridmap** — ``GridIndex.covering(lon, lat)`` of ``gis.query.lookup`` on the whole array (the
  in-process batch path behind ``/api/v1/lookup/batch`` and ``gridmap lookup``): for every
  point the lowest-code grid that covers it, or -1.  The index is built once per city with
  ``GridIndex.load(conn, version)`` (reading the grids from PostGIS, STRtree, prepared
  geometries); that build is timed and reported separately, not in the rounds.
* **PostGIS** — the points go into a temporary table ``pts (id, geom)`` of the same database
  with a binary ``COPY`` (the payload is encoded from the numpy arrays with numpy: EWKB
  points), the table is ``ANALYZE``d, and
  ``SELECT p.id, min(r.code) FROM pts p JOIN regions r ON ST_Covers(r.geom, p.geom)
  WHERE r.level = 'grid' AND r.valid_to IS NULL GROUP BY p.id`` runs with its result streamed
  back by ``COPY (...) TO STDOUT`` and parsed into numpy arrays.  Timed: CREATE TEMP TABLE,
  encoding + COPY, (index), ANALYZE, query and fetch.  Chosen as the fastest by measurement
  (``--pts-index``, ``--jit`` to compare): on the demo city the temp table gets a GiST index,
  so the planner loops over the 66 grids (each prepared once) and fetches their points from
  it; on the generated city it gets none — the planner probes the GiST index of ``regions``
  once per point whether or not the points are indexed, so an index only costs its build.
  The session runs with ``jit = off`` (JIT compilation made it slower on both cities).  A
  temporary table cannot be scanned by parallel workers, so the query runs on one core.
  ``regions`` is ANALYZEd after loading (not timed), as autovacuum would do.
* **geopandas** — ``geopandas.sjoin(points, grids, predicate="covered_by")`` (the same
  semantics as ``ST_Covers``: a point on a boundary is covered) and the lowest code per point,
  ``groupby(level=0)["index_right"].min()`` (the grid frame is in code order, so the lowest
  row is the lowest code; a ``groupby(...)["code"].min()`` on pandas' string column is
  pathologically slow — ~45 s for 1M points — and is not what anyone would keep).  Timed from
  GeoDataFrames already built; building them (``points_from_xy`` and the grid frame) is timed
  separately.  Both frames are built afresh for every round, so the spatial index geopandas
  caches on a frame is rebuilt inside each timed join, as in a one-off script.

The three answers must be identical for every point (the same grid code, or none); the run
stops with an error naming the first differing points otherwise.

Cities:

1. the demo city (``data/boundaries``, 66 grids) loaded with ``gis.store.seed.load_demo`` into a
   fresh migrated database;
2. a generated city of ``--grids`` grids: Voronoi cells of uniform random seeds (seeded) in a
   0.6° × 0.4° box around 118.3°E 40.1°N, coordinates rounded to 1e-7° (shared vertices stay
   identical, checked with ``shapely.coverage_is_valid``), numbered in reading order (north
   to south, west to east) with valid 15-digit codes (12-digit community codes, at most 999
   grids each; the communities themselves are not stored), committed as level ``grid`` with
   ``commit_regions`` in one transaction into a fresh migrated database.

Points (seeded): ``--points`` uniform points over the city's bounding box plus 5 % on every
side (so some fall outside every grid), of which ``--vertices`` are replaced by exact grid
vertices (points on shared boundaries, covered by several grids; drawn with replacement when
a city has fewer distinct vertices, as the demo city has).

Rounds rotate which tool goes first.  The script prints per-round times, medians, the ratios
PostGIS / gridmap and geopandas / gridmap (goals ≥ 10× and ≥ 3×), a breakdown of where
gridmap's time goes, the peak RSS of the gridmap and geopandas steps, and a markdown section
for ``bench/RESULTS.md``.

Usage::

    .venv/bin/python bench/lookup_batch.py [--points 1000000] [--grids 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from common import cpu_model, git_state, spaced, vm_kib
from sqlalchemy import Engine, make_url, text

from gis.query.lookup import GridIndex
from gis.settings import get_settings
from gis.store.db import create_database, database_url, drop_database, make_engine, migrate
from gis.store.seed import load_demo
from gis.store.versions import RegionRecord, commit_regions, current_version
from gis.store.watch import conninfo

COUNTY_CODE = "130227"
PER_PARENT = 999  # a code level has 3 digits for its sequence
CENTRE = (118.3, 40.1)
BOX_SIZE = (0.6, 0.4)
GRID_DEG = 1e-7  # generated coordinates rounded to 1e-7° (about 1 cm)
MARGIN = 0.05  # points are drawn over the bounding box plus 5 % on every side
GOALS = {"PostGIS": 10.0, "geopandas": 3.0}
TOOLS = ("gridmap", "PostGIS", "geopandas")

QUERY = (
    "SELECT p.id, min(r.code) FROM pts p JOIN regions r ON ST_Covers(r.geom, p.geom) "
    "WHERE r.level = 'grid' AND r.valid_to IS NULL GROUP BY p.id"
)


# --------------------------------------------------------------------------- cities


@dataclass
class City:
    """A city in its own database, and its current grids as stored (in code order)."""

    key: str
    title: str
    url: str
    version: int
    codes: np.ndarray  # str, sorted: the order of GridIndex.grids
    geoms: np.ndarray  # shapely geometries read back from PostGIS
    setup_s: float

    @property
    def vertices(self) -> float:
        """Mean number of vertices per grid (closing vertices not counted)."""
        rings = shapely.get_num_coordinates(self.geoms) - shapely.get_num_geometries(self.geoms)
        return float(np.mean(rings))


def community_code(k: int) -> str:
    """12-digit code of the k-th generated community (0-based): street + community."""
    street, community = divmod(k, PER_PARENT)
    return f"{COUNTY_CODE}{street + 1:03d}{community + 1:03d}"


def generate_grids(n: int, seed: int) -> list[RegionRecord]:
    """``n`` seamless Voronoi grid cells around CENTRE, in reading order, with valid codes."""
    rng = np.random.default_rng(seed)
    (cx, cy), (w, h) = CENTRE, BOX_SIZE
    box = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    seeds = rng.uniform([cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2], size=(n, 2))
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(seeds), extend_to=box.buffer(0.1), ordered=True
    )
    cells = shapely.set_precision(shapely.intersection(shapely.get_parts(cells), box), GRID_DEG)
    single = shapely.get_type_id(cells) == shapely.GeometryType.POLYGON
    if not single.all() or not shapely.is_valid(cells).all():
        raise RuntimeError("a Voronoi cell came out multi-part or invalid; change --seed")
    if not shapely.coverage_is_valid(cells):
        raise RuntimeError("the generated cells do not form a seamless coverage; change --seed")
    centroids = shapely.get_coordinates(shapely.centroid(cells))
    rows = max(1, round(np.sqrt(n * h / w)))
    row = np.minimum(rows - 1, ((cy + h / 2 - centroids[:, 1]) / h * rows).astype(int))
    cells = cells[np.lexsort((centroids[:, 0], row))]
    records = []
    for i, wkb in enumerate(shapely.to_wkb(cells).tolist()):
        community, seq = divmod(i, PER_PARENT)
        parent = community_code(community)
        records.append(
            RegionRecord(
                code=f"{parent}{seq + 1:03d}",
                level="grid",
                name=f"测试{community + 1}社区第{seq + 1}网格",
                parent_code=parent,
                wkb=wkb,
                households=int(rng.integers(150, 401)),
            )
        )
    return records


def _fresh_database(url: str) -> Engine:
    create_database(url)
    migrate(url)
    return make_engine(url)


def _analyze(engine: Engine) -> None:
    """Statistics on the regions, as autovacuum would soon gather on a live database."""
    with engine.connect() as conn:
        conn.execute(text("ANALYZE regions"))
        conn.commit()


def read_grids(engine: Engine) -> tuple[int, np.ndarray, np.ndarray]:
    """The current version and its grids (codes sorted, geometries as PostGIS stores them)."""
    with engine.connect() as conn:
        version = current_version(conn)
        rows = conn.execute(
            text(
                "SELECT code, ST_AsBinary(geom) FROM regions "
                "WHERE level = 'grid' AND valid_to IS NULL ORDER BY code"
            )
        ).all()
    if version is None or not rows:
        raise RuntimeError("the city has no grids")
    codes = np.array([r[0] for r in rows])
    geoms = shapely.from_wkb([bytes(r[1]) for r in rows])
    return version, codes, geoms


def make_demo_city(url: str) -> City:
    """The demo city in a fresh migrated database."""
    start = time.perf_counter()
    engine = _fresh_database(url)
    try:
        load_demo(engine, get_settings().demo_dir)
        _analyze(engine)
        version, codes, geoms = read_grids(engine)
    finally:
        engine.dispose()
    return City(
        "demo",
        "demo city (迁西县 栗乡街道)",
        url,
        version,
        codes,
        geoms,
        time.perf_counter() - start,
    )


def make_generated_city(url: str, n: int, seed: int) -> City:
    """``n`` generated grids committed as one version into a fresh migrated database."""
    start = time.perf_counter()
    records = generate_grids(n, seed)
    engine = _fresh_database(url)
    try:
        with engine.begin() as conn:
            commit_regions(conn, records, author="bench", action="load", message="lookup bench")
        _analyze(engine)
        version, codes, geoms = read_grids(engine)
    finally:
        engine.dispose()
    if len(codes) != n:
        raise RuntimeError(f"stored {len(codes)} grids, expected {n}")
    return City(
        "generated",
        f"generated city ({spaced(n)} Voronoi grids)",
        url,
        version,
        codes,
        geoms,
        time.perf_counter() - start,
    )


def make_points(city: City, n: int, vertices: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``n`` points over the city's bounds + MARGIN, ``vertices`` of them exact grid vertices."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.total_bounds(city.geoms)
    mx, my = MARGIN * (x1 - x0), MARGIN * (y1 - y0)
    lon = rng.uniform(x0 - mx, x1 + mx, n)
    lat = rng.uniform(y0 - my, y1 + my, n)
    corners = np.unique(shapely.get_coordinates(city.geoms), axis=0)
    k = min(vertices, n)
    where = rng.choice(n, k, replace=False)
    pick = rng.choice(len(corners), k, replace=k > len(corners))  # the demo has few vertices
    lon[where], lat[where] = corners[pick].T
    return lon, lat, k


# --------------------------------------------------------------------------- measuring


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """Peak RSS (KiB) of this process inside the block, and its RSS before it.

    Resets the kernel's high-water mark (``/proc/self/clear_refs``) first; without that,
    falls back to ``getrusage`` (the peak since the process started).
    """
    out: dict[str, int] = {"before": vm_kib("VmRSS")}
    try:
        Path("/proc/self/clear_refs").write_text("5")
        exact = True
    except OSError:
        exact = False
    yield out
    out["peak"] = vm_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


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
    t0 = time.perf_counter()
    points = shapely.points(lon, lat)
    t1 = time.perf_counter()
    point_idx, grid_idx = index.tree.query(points, predicate="covered_by")
    t2 = time.perf_counter()
    order = np.lexsort((grid_idx, point_idx))
    point_idx, grid_idx = point_idx[order], grid_idx[order]
    first = np.ones(len(point_idx), dtype=bool)
    first[1:] = point_idx[1:] != point_idx[:-1]
    found = np.full(len(points), -1, dtype=np.int64)
    found[point_idx[first]] = grid_idx[first]
    t3 = time.perf_counter()
    candidates = index.tree.query(points)  # bounding boxes only: how many exact tests
    out["shapely.points"] = t1 - t0
    out["STRtree.query covered_by"] = t2 - t1
    out["lowest code (lexsort)"] = t3 - t2
    out["candidate pairs"] = float(candidates.shape[1])
    out["hits"] = float(len(point_idx))
    return out


COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("id_len", ">i4"),
        ("id", ">i4"),
        ("geom_len", ">i4"),
        ("byte_order", "u1"),
        ("wkb_type", "<u4"),
        ("srid", "<u4"),
        ("x", "<f8"),
        ("y", "<f8"),
    ]
)
EWKB_POINT_SRID = 0x20000001


def copy_payload(lon: np.ndarray, lat: np.ndarray) -> bytes:
    """The points as a binary COPY stream of (id int4, geom EWKB point SRID 4326)."""
    rows = np.empty(len(lon), dtype=COPY_ROW)
    rows["fields"] = 2
    rows["id_len"] = 4
    rows["id"] = np.arange(len(lon))
    rows["geom_len"] = COPY_ROW.itemsize - 14
    rows["byte_order"] = 1
    rows["wkb_type"] = EWKB_POINT_SRID
    rows["srid"] = 4326
    rows["x"] = lon
    rows["y"] = lat
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


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
            copy.write(copy_payload(lon, lat))
        t1 = time.perf_counter()
        if pts_index == "gist":
            cur.execute("CREATE INDEX ON pts USING gist (geom)")
        cur.execute("ANALYZE pts")
        t2 = time.perf_counter()
        chunks = []
        with cur.copy(f"COPY ({QUERY}) TO STDOUT") as copy:
            chunks.extend(bytes(block) for block in copy)
        tokens = b"".join(chunks).split()
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


# --------------------------------------------------------------------------- reporting


def environment(url: str) -> dict[str, str]:
    """Versions of everything measured."""
    with psycopg.connect(conninfo(url)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        postgis = conn.execute("SELECT postgis_lib_version(), postgis_geos_version()").fetchone()
        jit = conn.execute("SHOW jit").fetchone()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "shapely": f"{shapely.__version__} (GEOS {shapely.geos_version_string})",
        "geopandas": gpd.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "postgres": f"PostgreSQL {pg[0] if pg else '?'}",
        "postgis": f"PostGIS {postgis[0] if postgis else '?'} "
        f"(GEOS {postgis[1].split('-')[0] if postgis else '?'})",
        "jit": str(jit[0] if jit else "?"),
        "code": git_state(),
    }


@dataclass
class CityResult:
    """Everything measured on one city."""

    city: City
    n_points: int
    n_vertices: int
    covered: int
    shared: int
    load_s: float
    frames_s: list[float]
    rounds: list[dict[str, Step]]
    orders: list[list[str]]
    breakdown: dict[str, float]
    plan: str
    pts_index: str
    load_avg: tuple[float, float]

    def median(self, tool: str) -> float:
        return statistics.median(r[tool].seconds for r in self.rounds)

    def phase(self, tool: str, name: str) -> float:
        return statistics.median(r[tool].phases[name] for r in self.rounds)

    def ratio(self, tool: str) -> float:
        return self.median(tool) / self.median("gridmap")

    def peak_mib(self, tool: str) -> tuple[float, float]:
        steps = [r[tool] for r in self.rounds]
        return (
            max(s.rss_peak_kib for s in steps) / 1024,
            max(s.rss_before_kib for s in steps) / 1024,
        )


def _verdict(ratio: float, goal: float) -> str:
    return "met" if ratio >= goal else "**not met**"


def _plan_nodes(plan: str) -> str:
    lines = plan.splitlines()
    nodes = [
        line.split("(cost")[0].replace("->", "").strip()
        for i, line in enumerate(lines)
        if i == 0 or "->" in line
    ]
    return " ← ".join(n for n in nodes if n)


def markdown(args: argparse.Namespace, env: dict[str, str], results: list[CityResult]) -> str:
    """The results section for ``bench/RESULTS.md``."""
    command = (
        f".venv/bin/python bench/lookup_batch.py --points {args.points} --grids {args.grids} "
        f"--repeat {args.repeat}"
    )
    if args.pts_index != "auto":
        command += f" --pts-index {args.pts_index}"
    if args.jit != "off":
        command += f" --jit {args.jit}"
    lines = [
        f"## Lookup batch: {spaced(args.points)} points, gridmap vs PostGIS vs geopandas",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {env['nproc']} cores ({env['cpu']}), shared: load average "
        + ", ".join(
            f"{r.load_avg[0]:.1f} → {r.load_avg[1]:.1f} over the {r.city.key} city" for r in results
        )
        + f"; Python {env['python']}; shapely "
        f"{env['shapely']}; geopandas {env['geopandas']}, pandas {env['pandas']}, numpy "
        f"{env['numpy']}; {env['postgres']}, {env['postgis']} (gridmap's embedded cluster; "
        f"server jit={env['jit']}, the PostGIS step ran with jit={args.jit}). "
        f"gridmap code: {env['code']}.",
        "",
        "Each tool answers, for every point, the lowest-code grid covering it (`ST_Covers`: "
        "boundary points are covered) or none; the answers were identical for every point in "
        "every round. gridmap = `GridIndex.covering` on the whole array (index built once, "
        "below); PostGIS = CREATE TEMP TABLE + binary `COPY` (EWKB encoded with numpy) + "
        "(index) + `ANALYZE` + the `ST_Covers` join with `min(code) … GROUP BY p.id`, result "
        "streamed back with `COPY … TO STDOUT` (one core: temp tables are not scanned in "
        "parallel); geopandas = "
        '`sjoin(points, grids, predicate="covered_by")` + lowest code per point '
        '(`groupby(level=0)["index_right"].min()`, grids in code order), from GeoDataFrames '
        "already built (below). Rounds rotate which tool goes first.",
        "",
        "| city | round | first | gridmap (s) | PostGIS (s) | geopandas (s) "
        "| PostGIS / gridmap | geopandas / gridmap |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        name = f"{res.city.key} ({spaced(len(res.city.codes))} grids)"
        for i, (steps, order) in enumerate(zip(res.rounds, res.orders, strict=True), 1):
            g, p, q = (steps[t].seconds for t in TOOLS)
            lines.append(
                f"| {name} | {i} | {order[0]} | {g:.3f} | {p:.2f} | {q:.2f} "
                f"| {p / g:.1f}× | {q / g:.1f}× |"
            )
        lines.append(
            f"| {name} | **median** | | **{res.median('gridmap'):.3f}** "
            f"| **{res.median('PostGIS'):.2f}** | **{res.median('geopandas'):.2f}** "
            f"| **{res.ratio('PostGIS'):.1f}×** | **{res.ratio('geopandas'):.1f}×** |"
        )
    lines.append("")
    for res in results:
        c = res.city
        gm_peak, gm_before = res.peak_mib("gridmap")
        gp_peak, gp_before = res.peak_mib("geopandas")
        b = res.breakdown
        index_note = (
            "GiST index on the points (with it the planner loops over the grids, each "
            f"prepared once; without it, {spaced(res.n_points)} probes of the regions index "
            "— slower here)"
            if res.pts_index == "gist"
            else "no index on the points (the planner probes the regions GiST index per "
            "point either way; a points index only adds its build time here)"
        )
        lines += [
            f"**{c.title}** — {spaced(len(c.codes))} grids, {c.vertices:.1f} vertices per "
            f"grid on average; {spaced(res.n_points)} points ({spaced(res.n_vertices)} exact "
            f"grid vertices), {spaced(res.covered)} covered, {spaced(res.shared)} covered by "
            f"≥ 2 grids. Goals: PostGIS / gridmap **{res.ratio('PostGIS'):.1f}×** (goal ≥ 10×) "
            f"— {_verdict(res.ratio('PostGIS'), GOALS['PostGIS'])}; geopandas / gridmap "
            f"**{res.ratio('geopandas'):.1f}×** (goal ≥ 3×) — "
            f"{_verdict(res.ratio('geopandas'), GOALS['geopandas'])}.",
            "",
            f"- gridmap: `GridIndex.load` {res.load_s:.2f} s (once; not in the rounds). "
            f"`covering` steps (one extra run): `shapely.points` {b['shapely.points']:.3f} s, "
            f"`STRtree.query(predicate='covered_by')` {b['STRtree.query covered_by']:.3f} s "
            f"({spaced(int(b['candidate pairs']))} bounding-box candidates, "
            f"{spaced(int(b['hits']))} hits), lowest code {b['lowest code (lexsort)']:.3f} s. "
            f"Peak RSS {gm_peak:.0f} MiB (the process held {gm_before:.0f} MiB before).",
            f"- PostGIS (median s): {index_note}. COPY {res.phase('PostGIS', 'COPY'):.2f}, "
            f"index + ANALYZE {res.phase('PostGIS', 'index + ANALYZE'):.2f}, query + fetch "
            f"{res.phase('PostGIS', 'query + fetch'):.2f}. Plan: {_plan_nodes(res.plan)}.",
            f"- geopandas (median s): building the two GeoDataFrames "
            f"{statistics.median(res.frames_s):.2f} (not in the rounds), sjoin "
            f"{res.phase('geopandas', 'sjoin'):.2f}, lowest code "
            f"{res.phase('geopandas', 'lowest code'):.2f}. Peak RSS {gp_peak:.0f} MiB "
            f"(held {gp_before:.0f} MiB before).",
            "",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def pts_index(args: argparse.Namespace, city: City) -> str:
    """The temp table index used on ``city``: with few grids the planner loops over them."""
    if args.pts_index != "auto":
        return str(args.pts_index)
    return "gist" if city.key == "demo" else "none"


def measure_city(city: City, args: argparse.Namespace, log: Callable[[str], None]) -> CityResult:
    """Points, the index, the rounds and the checks for one city."""
    load_before = os.getloadavg()[0]
    lon, lat, k = make_points(city, args.points, args.vertices, args.seed + 1)
    engine = make_engine(city.url)
    try:
        with engine.connect() as conn:
            start = time.perf_counter()
            index = GridIndex.load(conn, city.version)
            load_s = time.perf_counter() - start
    finally:
        engine.dispose()
    if [g["code"] for g in index.grids] != city.codes.tolist():
        raise RuntimeError("GridIndex grids are not the stored grids in code order")
    log(f"  GridIndex.load: {load_s:.2f} s; {len(lon)} points ({k} exact vertices)")
    frames_s: list[float] = []
    rounds: list[dict[str, Step]] = []
    orders: list[list[str]] = []
    plan = ""
    for r in range(args.repeat):
        order = [TOOLS[(r + i) % len(TOOLS)] for i in range(len(TOOLS))]
        steps: dict[str, Step] = {}
        for tool in order:
            gc.collect()
            if tool == "gridmap":
                steps[tool] = run_gridmap(index, lon, lat)
            elif tool == "PostGIS":
                steps[tool] = run_postgis(
                    city.url,
                    lon,
                    lat,
                    city.codes,
                    pts_index=pts_index(args, city),
                    jit=args.jit,
                    explain=r == 0,
                )
                plan = steps[tool].note or plan
            else:
                points, grids, built = build_frames(lon, lat, city.codes, city.geoms)
                frames_s.append(built)
                steps[tool] = run_geopandas(points, grids)
                del points, grids
        check_same(city, lon, lat, {t: s.answer for t, s in steps.items()})
        rounds.append(steps)
        orders.append(order)
        g, p, q = (steps[t] for t in TOOLS)
        log(
            f"  round {r + 1} ({order[0]} first): gridmap {g.seconds:.3f} s, "
            f"PostGIS {p.seconds:.2f} s "
            f"[{', '.join(f'{k} {v:.2f}' for k, v in p.phases.items())}], "
            f"geopandas {q.seconds:.2f} s "
            f"[{', '.join(f'{k} {v:.2f}' for k, v in q.phases.items())}; frames "
            f"{frames_s[-1]:.2f}] — PostGIS/gridmap {p.seconds / g.seconds:.1f}×, "
            f"geopandas/gridmap {q.seconds / g.seconds:.1f}×; answers identical"
        )
    gc.collect()
    breakdown = gridmap_breakdown(index, lon, lat)
    answer = rounds[0]["gridmap"].answer
    result = CityResult(
        city=city,
        n_points=len(lon),
        n_vertices=k,
        covered=int((answer >= 0).sum()),
        shared=int(rounds[0]["geopandas"].note),
        load_s=load_s,
        frames_s=frames_s,
        rounds=rounds,
        orders=orders,
        breakdown=breakdown,
        plan=plan,
        pts_index=pts_index(args, city),
        load_avg=(load_before, os.getloadavg()[0]),
    )
    log(
        f"  median: gridmap {result.median('gridmap'):.3f} s, PostGIS "
        f"{result.median('PostGIS'):.2f} s, geopandas {result.median('geopandas'):.2f} s — "
        f"PostGIS/gridmap {result.ratio('PostGIS'):.1f}× (goal ≥ 10×), geopandas/gridmap "
        f"{result.ratio('geopandas'):.1f}× (goal ≥ 3×)"
    )
    log(
        "  gridmap covering steps: "
        + ", ".join(f"{k} {v:.3f} s" if v < 1000 else f"{k} {int(v)}" for k, v in breakdown.items())
    )
    log("  PostGIS plan:\n    " + plan.replace("\n", "\n    "))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per city")
    parser.add_argument("--grids", type=int, default=100_000, help="grids of the generated city")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per tool")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of grids and points")
    parser.add_argument(
        "--vertices", type=int, default=5000, help="points that are exact grid vertices"
    )
    parser.add_argument(
        "--cities",
        nargs="+",
        choices=("demo", "generated"),
        default=["demo", "generated"],
        help="which cities to measure",
    )
    parser.add_argument(
        "--pts-index",
        choices=("auto", "none", "gist"),
        default="auto",
        help="GiST index on the PostGIS temp table of points "
        "(auto: on the demo city only, the faster choice on each city)",
    )
    parser.add_argument(
        "--jit",
        choices=("default", "on", "off"),
        default="off",
        help="PostgreSQL's jit setting for the PostGIS step (off was faster on both cities)",
    )
    args = parser.parse_args(argv)

    base = database_url(get_settings())
    prefix = f"bench_lookup_{os.getpid()}"
    created: list[str] = []

    def log(message: str) -> None:
        print(message, flush=True)

    def db(name: str) -> str:
        url = make_url(base).set(database=f"{prefix}_{name}").render_as_string(hide_password=False)
        created.append(url)
        return url

    results: list[CityResult] = []
    try:
        cities: list[City] = []
        if "demo" in args.cities:
            cities.append(make_demo_city(db("demo")))
        if "generated" in args.cities:
            cities.append(make_generated_city(db("generated"), args.grids, args.seed))
        env = environment(created[0])
        log(f"{env['postgres']}, {env['postgis']}; shapely {env['shapely']}; gridmap {env['code']}")
        for city in cities:
            log(
                f"\n{city.title}: {len(city.codes)} grids, {city.vertices:.1f} vertices each on "
                f"average, version {city.version} (setup {city.setup_s:.1f} s)"
            )
            results.append(measure_city(city, args, log))
        log("\n" + markdown(args, env, results))
    finally:
        for url in reversed(created):
            try:
                drop_database(url)
            except Exception as error:  # keep cleaning up the others
                print(f"could not drop {make_url(url).database}: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
