"""Vector tiles of a generated province at z6–16 (issue 16): cold tiles against the SQL floor,
warm tiles/s, the biggest tile per zoom, and what preparing the generalised shapes at commit
time costs and saves.

In one run, on a throw-away database of gridmap's cluster:

* **load** — helper A's generated province (``gis.demo.province_files.generate``, ``--grids``
  grids, seed ``--seed``; files reused from ``--dir`` when there) uploaded through the upload
  path (``process_upload``): counties, streets, communities, grids — each a committed version
  whose rows get their shapes prepared (``gis.store.generalised.prepare_shapes``) inside the
  commit.  Then the preparation alone is timed twice: for every row (what the commits did, all
  levels) and for one community's grids (an incremental upload's share).
* **tiles** — for each zoom 6–16 up to ``--per-zoom`` tiles meeting the province (seeded), each
  with every layer the zoom shows (``LEVEL_ZOOMS``: counties, streets from 8, communities from
  9, grids from 12, labels from 8).  A serial pass of the SQL statements gives each zoom's
  biggest tile and ms/tile, with the prepared shapes and without them (the statement
  simplifying every polygon from its full geometry, as before issue 16).
* **checked** — a sample of tiles fetched over HTTP (``cache=off``, gunzipped) must be the
  SQL floor's bytes.
* **timed** (same run, shared cores): *SQL floor* — the tile statements through psycopg as
  gridmap runs them, ``--concurrency`` threads, round the list for ``--duration`` s, no HTTP;
  *gridmap cold* — ``wrk`` on ``/tiles/{layer}/{z}/{x}/{y}.mvt?cache=off`` (uvicorn,
  ``--workers`` workers); *gridmap warm* — the same list cached (after one untimed pass).

With ``--database-url`` the province is the one already in that database (e.g. loaded with
``gridmap demo province-load``): nothing uploaded or dropped; the shapes are re-prepared in
place (the same rows).

Goals: floor / cold ≤ 1.5×, no tile over 500 KB, warm ≥ 10 000 tiles/s.

Usage::

    .venv/bin/python bench/tiles_province.py [--grids 100000] [--dir /tmp/province]
    .venv/bin/python bench/tiles_province.py --database-url postgresql+psycopg://…/province
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import shapely
from common import ROOT, bench_database, git_state, machine, server_versions
from meters import cpu_seconds, descendants, own_cpu
from servers import postmaster, serve_gridmap
from sqlalchemy import Engine, text
from tiles_clients import Pass, http_tile, http_worker, metered, thread_pass, wrk_pass

from gis.demo.province_files import FILES, generate
from gis.ingest.pipeline import UploadRequest
from gis.ingest.uploads import process_upload
from gis.settings import Settings, get_settings
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.generalised import LEVEL_ZOOMS, PREPARED_TO, prepare_missing, prepare_shapes
from gis.store.versions import current_version
from gis.store.watch import conninfo as libpq_conninfo
from tiles.layers import LAYERS, tile_bounds
from tiles.pmtiles import tile_xy
from tiles.service import tile_params

ZOOMS = range(6, 17)
LEVELS = ("county", "street", "community", "grid")
BOUNDARY = {LAYERS[name].level: name for name in ("counties", "streets", "communities", "grids")}
GOAL_FLOOR = 1.5
GOAL_BYTES = 500_000
GOAL_WARM = 10_000
Item = tuple[str, int, int, int]


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def unprepared(sql: str) -> str:
    """The statement without the prepared shapes: every polygon simplified (and label point
    found) in the request."""
    return sql.replace("AND p.zoom = %(shape_zoom)s", "AND false")


def tile_items(outline: shapely.Geometry, per_zoom: int, seed: int) -> list[Item]:
    """Up to ``per_zoom`` tiles a zoom meeting ``outline`` (lon/lat), each with every layer
    shown at its zoom, in zoom order."""
    rng = random.Random(seed)
    shapely.prepare(outline)
    west, south, east, north = outline.bounds
    items: list[Item] = []
    for z in ZOOMS:
        x0, y0 = tile_xy(west, north, z)
        x1, y1 = tile_xy(east, south, z)
        every = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        rng.shuffle(every)
        tiles = []
        for x, y in every:
            if outline.intersects(shapely.box(*tile_bounds(z, x, y))):
                tiles.append((x, y))
                if len(tiles) == per_zoom:
                    break
        layers = [BOUNDARY[lv] for lv in LEVELS if LEVEL_ZOOMS[lv].shapes_from <= z]
        if LAYERS["labels"].min_zoom <= z:
            layers.append("labels")
        items += [(layer, z, x, y) for x, y in sorted(tiles) for layer in layers]
    return items


def load(engine: Engine, directory: Path, settings: Settings) -> dict[str, float]:
    """Upload the province's boundary files (committed); seconds per level."""
    seconds = {}
    for level in LEVELS:
        name = FILES[level]
        request = UploadRequest(
            filename=name, level=level, author="bench", kind="boundaries", dry_run=False
        )
        t0 = time.perf_counter()
        result = process_upload(engine, directory / name, request, settings, lambda _s: None)
        if result.status != "committed":
            raise RuntimeError(f"{name}: {result.status} {result.report.get('problems', [])[:5]}")
        seconds[level] = time.perf_counter() - t0
        print(f"uploaded {name}: {seconds[level]:.1f} s", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--dir", type=Path, help="the province's files (generated if missing)")
    parser.add_argument(
        "--database-url", help="a database already holding a province (kept; no upload timed)"
    )
    parser.add_argument("--per-zoom", type=int, default=150, help="tiles per zoom")
    parser.add_argument("--sample", type=int, default=150, help="tiles checked over HTTP")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"load average at start: {load_average()}; {machine()}; {git_state()}", flush=True)

    settings = get_settings()
    if args.database_url:
        engine = make_engine(args.database_url)
        try:
            with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
                conninfo = libpq_conninfo(args.database_url)
                report = measure(engine, conninfo, args.database_url, args, {}, Path(tmp))
        finally:
            engine.dispose()
        print(report)
        print(f"load average at end: {load_average()}")
        return 0
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
        directory = args.dir or Path(tmp) / "province"
        if not all((directory / FILES[level]).exists() for level in LEVELS):
            print(generate(args.grids, args.seed, directory), flush=True)
        db_url, _ = bench_database(settings, "tiles_province")
        conninfo = libpq_conninfo(db_url)
        create_database(db_url)
        try:
            migrate(db_url)
            engine = make_engine(db_url)
            try:
                uploads = load(engine, directory, settings)
                report = measure(engine, conninfo, db_url, args, uploads, Path(tmp))
            finally:
                engine.dispose()
        finally:
            drop_database(db_url)
    print(report)
    print(f"load average at end: {load_average()}")
    return 0


def measure(
    engine: Engine,
    conninfo: str,
    db_url: str,
    args: argparse.Namespace,
    uploads: dict[str, float],
    workdir: Path,
) -> str:
    """Everything after the load; the results as Markdown."""
    settings = get_settings()
    with engine.begin() as conn:
        version = current_version(conn)
        counts = dict(conn.execute(text("SELECT level, count(*) FROM regions GROUP BY 1")).all())
        shapes_before = conn.scalar(text("SELECT count(*) FROM region_shapes"))
        outline = shapely.from_wkb(
            bytes(
                conn.scalar(
                    text(
                        "SELECT ST_AsBinary(ST_Union(ST_Buffer(geom, 0.001))) FROM regions "
                        "WHERE level = 'county'"
                    )
                )
            )
        )
        t0 = time.perf_counter()
        conn.execute(text("DELETE FROM region_shapes"))
        prepare_missing(conn)
        prepare_all = time.perf_counter() - t0
        shapes = conn.scalar(text("SELECT count(*) FROM region_shapes"))
        assert shapes == shapes_before, (shapes, shapes_before)
        community, grid_version = conn.execute(
            text(
                "SELECT parent_code, valid_from FROM regions WHERE level = 'grid' "
                "ORDER BY code LIMIT 1"
            )
        ).one()
        codes = list(
            conn.scalars(text("SELECT code FROM regions WHERE parent_code = :c"), {"c": community})
        )
        conn.execute(
            text(
                "DELETE FROM region_shapes WHERE region_id IN "
                "(SELECT id FROM regions WHERE code = ANY(:codes))"
            ),
            {"codes": codes},
        )
        t0 = time.perf_counter()
        prepare_shapes(conn, grid_version, codes)
        prepare_one = time.perf_counter() - t0
        sizes = {
            t: conn.scalar(text(f"SELECT pg_total_relation_size('{t}')"))
            for t in ("regions", "region_shapes")
        }
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    print(
        f"prepared {shapes} shapes: all {prepare_all:.1f} s, one community ({len(codes)} grids) "
        f"{prepare_one * 1000:.0f} ms; sizes {sizes}",
        flush=True,
    )

    items = tile_items(outline, args.per_zoom, args.seed)
    sql = {name: LAYERS[name].tile_sql(settings) for name in LAYERS}
    params = [tile_params(LAYERS[i[0]], *i[1:], version, settings) for i in items]

    # serial pass: sizes and ms per tile, with and without the prepared shapes
    per_zoom: dict[int, dict[str, float]] = {}
    floor_bytes: list[bytes] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for (layer, *_), p in zip(items, params, strict=True):  # untimed: caches, plans
            conn.execute(sql[layer], p, binary=True).fetchone()
        for (layer, z, _, _), p in zip(items, params, strict=True):
            row = per_zoom.setdefault(z, {"tiles": 0, "ms": 0.0, "raw_ms": 0.0, "max": 0})
            t0 = time.perf_counter()
            data = bytes(conn.execute(sql[layer], p, binary=True).fetchone()[0] or b"")
            row["ms"] += (time.perf_counter() - t0) * 1000
            if z <= PREPARED_TO or layer == "labels":
                t0 = time.perf_counter()
                raw = bytes(conn.execute(unprepared(sql[layer]), p).fetchone()[0] or b"")
                row["raw_ms"] += (time.perf_counter() - t0) * 1000
                assert raw == data, (layer, z)
            else:
                row["raw_ms"] += (time.perf_counter() - t0) * 1000  # the same statement
            row["tiles"] += 1
            row["max"] = max(row["max"], len(data))
            floor_bytes.append(data)
        print("serial pass done", flush=True)

    def worker_of(conns: list) -> Callable[[], Callable[[int], bool]]:
        def make() -> Callable[[int], bool]:
            conn = psycopg.connect(conninfo, autocommit=True)
            conns.append(conn)

            def work(i: int) -> bool:
                conn.execute(sql[items[i][0]], params[i], binary=True).fetchone()
                return True

            return work

        return make

    root = postmaster(conninfo)
    pg_meter = {"PostgreSQL": lambda: cpu_seconds([root, *descendants(root)])} if root else {}
    runs: dict[str, Pass] = {}
    conns: list = []
    try:
        thread_pass("floor warm-up", len(items), args.concurrency, worker_of(conns))
        runs["SQL floor"] = metered(
            lambda: thread_pass(
                "SQL floor", len(items), args.concurrency, worker_of(conns), args.duration
            ),
            {**pg_meter, "client": own_cpu},
        )
    finally:
        for c in conns:
            c.close()
    cold = [f"/tiles/{layer}/{z}/{x}/{y}.mvt?cache=off" for layer, z, x, y in items]
    warm = [f"/tiles/{layer}/{z}/{x}/{y}.mvt" for layer, z, x, y in items]
    with serve_gridmap(db_url, ROOT, args.workers, [], workdir) as s:
        sample = random.Random(args.seed).sample(range(len(items)), min(args.sample, len(items)))
        differ = sum(http_tile(s.port, cold[i]) != floor_bytes[i] for i in sample)
        print(f"checked {len(sample)} tiles over HTTP: {differ} differ from the floor", flush=True)
        meters = {**pg_meter, "server": lambda: cpu_seconds(s.pids())}
        thread_pass("gridmap warm-up", len(items), args.concurrency, http_worker(s.port, cold))
        runs["gridmap cold"] = metered(lambda: wrk_pass("gridmap cold", s.port, cold, args), meters)
        thread_pass("fill cache", len(items), args.concurrency, http_worker(s.port, warm))
        runs["gridmap warm"] = metered(lambda: wrk_pass("gridmap warm", s.port, warm, args), meters)

    ratio = runs["SQL floor"].rate / runs["gridmap cold"].rate
    biggest = max(r["max"] for r in per_zoom.values())
    warm_rate = runs["gridmap warm"].rate
    lines = [
        ("Province (loaded before): " if args.database_url else f"Province (seed {args.seed}): ")
        + ", ".join(f"{lv} {counts.get(lv, 0)}" for lv in LEVELS)
        + (
            f"; uploads (s): {', '.join(f'{k} {v:.1f}' for k, v in uploads.items())}"
            * bool(uploads)
        )
        + ".",
        f"{server_versions(db_url)}; {git_state()}.",
        f"Prepared shapes: {shapes} rows, {sizes['region_shapes'] / 1e6:.0f} MB "
        f"(regions {sizes['regions'] / 1e6:.0f} MB); preparing all of them {prepare_all:.1f} s, "
        f"one community's {len(codes)} grids {prepare_one * 1000:.0f} ms.",
        f"Tiles: {len(items)} (layer, tile) pairs, up to {args.per_zoom} tiles a zoom.",
        "",
        "| zoom | tiles | ms/tile prepared | ms/tile unprepared | biggest tile (KB) |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {z} | {r['tiles']} | {r['ms'] / r['tiles']:.2f} | {r['raw_ms'] / r['tiles']:.2f}"
            f" | {r['max'] / 1000:.1f} |"
            for z, r in sorted(per_zoom.items())
        ),
        "",
        f"HTTP check: {len(sample)} sampled tiles, {differ} differ from the floor's bytes.",
        "",
        "| run | tiles/s | p50 ms | p99 ms | errors | CPU ms/tile |",
        "|---|---:|---:|---:|---:|---|",
        *(
            f"| {k} | {r.rate:,.0f} | {r.pct(50):.1f} | {r.pct(99):.1f} | {r.errors} | "
            + ", ".join(f"{n} {v:.2f}" for n, v in r.cpu.items())
            + " |"
            for k, r in runs.items()
        ),
        "",
        f"- SQL floor / gridmap cold: {ratio:.2f}× (goal ≤ {GOAL_FLOOR}×) — "
        f"{'met' if ratio <= GOAL_FLOOR else 'not met'}",
        f"- biggest tile: {biggest / 1000:.1f} KB (goal ≤ {GOAL_BYTES // 1000} KB) — "
        f"{'met' if biggest <= GOAL_BYTES else 'not met'}",
        f"- warm: {warm_rate:,.0f} tiles/s (goal ≥ {GOAL_WARM:,}) — "
        f"{'met' if warm_rate >= GOAL_WARM else 'not met'}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
