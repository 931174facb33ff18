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
   ``commit_regions`` in one transaction into a fresh migrated database;
3. with ``--database-url``, instead of both: that database's current grids as they are (the
   generated province of issue 16, loaded through the upload path), not dropped.

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
    .venv/bin/python bench/lookup_batch.py --database-url postgresql+psycopg://…/province
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from common import drop_databases, git_state, heading, machine, plan_nodes, spaced
from lookup_batch_cities import (
    City,
    existing_city,
    make_demo_city,
    make_generated_city,
    make_points,
)
from lookup_batch_tools import (
    Step,
    build_frames,
    check_same,
    gridmap_breakdown,
    run_geopandas,
    run_gridmap,
    run_postgis,
)
from sqlalchemy import make_url

from gis.query.lookup import GridIndex
from gis.settings import get_settings
from gis.store.db import database_url, make_engine
from gis.store.watch import conninfo

GOALS = {"PostGIS": 10.0, "geopandas": 3.0}
TOOLS = ("gridmap", "PostGIS", "geopandas")


# --------------------------------------------------------------------------- reporting


def environment(url: str) -> dict[str, str]:
    """Versions of everything measured."""
    with psycopg.connect(conninfo(url)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        postgis = conn.execute("SELECT postgis_lib_version(), postgis_geos_version()").fetchone()
        jit = conn.execute("SHOW jit").fetchone()
    return {
        **machine(),
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


def markdown(args: argparse.Namespace, env: dict[str, str], results: list[CityResult]) -> str:
    """The results section for ``bench/RESULTS.md``."""
    given = f"--database-url {args.database_url.split('/')[-1]}" if args.database_url else ""
    command = (
        f".venv/bin/python bench/lookup_batch.py --points {args.points} "
        f"{given or f'--grids {args.grids}'} --repeat {args.repeat}"
    )
    if args.pts_index != "auto":
        command += f" --pts-index {args.pts_index}"
    if args.jit != "off":
        command += f" --jit {args.jit}"
    lines = [
        *heading(
            f"Lookup batch: {spaced(args.points)} points, gridmap vs PostGIS vs geopandas",
            command,
        ),
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
            "`covering`'s costliest calls (own time, profiled in one extra run): "
            + ", ".join(f"`{k}` {v:.3f} s" for k, v in b.items())
            + ". "
            f"Peak RSS {gm_peak:.0f} MiB (the process held {gm_before:.0f} MiB before).",
            f"- PostGIS (median s): {index_note}. COPY {res.phase('PostGIS', 'COPY'):.2f}, "
            f"index + ANALYZE {res.phase('PostGIS', 'index + ANALYZE'):.2f}, query + fetch "
            f"{res.phase('PostGIS', 'query + fetch'):.2f}. Plan: {plan_nodes(res.plan)}.",
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
        "  gridmap covering's costliest calls: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in breakdown.items())
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
    parser.add_argument(
        "--database-url",
        help="measure this database's current grids (a loaded province), left as it is, "
        "instead of the cities",
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
        if args.database_url:
            cities.append(existing_city(args.database_url))
        else:
            if "demo" in args.cities:
                cities.append(make_demo_city(db("demo")))
            if "generated" in args.cities:
                cities.append(make_generated_city(db("generated"), args.grids, args.seed))
        env = environment(args.database_url or created[0])
        log(f"{env['postgres']}, {env['postgis']}; shapely {env['shapely']}; gridmap {env['code']}")
        for city in cities:
            log(
                f"\n{city.title}: {len(city.codes)} grids, {city.vertices:.1f} vertices each on "
                f"average, version {city.version} (setup {city.setup_s:.1f} s)"
            )
            results.append(measure_city(city, args, log))
        log("\n" + markdown(args, env, results))
    finally:
        drop_databases(created)
    return 0


if __name__ == "__main__":
    sys.exit(main())
