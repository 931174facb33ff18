"""Vector tiles: gridmap against tipg and against the raw SQL floor, same database, same tiles.

What is measured, in one run, on a throwaway database of gridmap's cluster holding the demo
city (``gis.store.seed.load_demo``):

* **gridmap** — ``GET /tiles/grids/{z}/{x}/{y}.mvt`` served by
  ``uvicorn --factory api.app:create_app --workers 2``; *cold* with ``?cache=off`` (every tile
  made afresh by PostGIS), *warm* with the tile cache on: the list is requested once
  (untimed, it fills both workers' caches) and the second pass is timed.
* **tipg** (PyPI ``tipg``, in its own venv ``.gridmap/bench/tipg-venv``, created by this
  script when missing) — ``uvicorn tipg.main:app --workers 2`` on the same database,
  ``GET /collections/public.regions/tiles/WebMercatorQuad/{z}/{x}/{y}`` with the CQL2 filter
  ``level='grid' AND valid_to IS NULL`` and ``properties=code,name,parent_code,households,
  grid_worker`` (tipg auto-publishes ``public.regions``; its tile endpoint takes CQL2
  filters, so no view is needed).  ``TIPG_TILE_BUFFER=64`` and
  ``TIPG_MAX_FEATURES_PER_TILE`` as gridmap's so both draw the same.  tipg keeps no tile
  cache (it only sets ``Cache-Control``): its "cold" is its first pass, its "warm" its
  second pass over the same list.
* **SQL floor** — the statement gridmap runs (``tiles.layers.LAYERS['grids'].tile_sql``),
  executed as gridmap executes it (psycopg, prepared after its default 5 uses, binary
  results), one connection per client thread, round the list for the same duration, no HTTP.

The tile list: every tile at zooms 12–16 whose box intersects a current demo grid, shuffled
with a seed.  The timed HTTP runs are ``wrk -t2 -c8 -d10s`` cycling through the list (a
Lua path list, ``bench/wrk.py``) with ``Accept-Encoding: gzip`` (as a browser;
both servers gzip); tiles/s is wrk's requests/s, p50/p99 from its histogram.  Each run also
reports the CPU spent per tile by PostgreSQL (postmaster and backends), the server's
processes and the client (wrk, or the floor's threads).  Before timing, a sample of tiles
is fetched from all three and decoded (``mapbox_vector_tile``) and the sets of grid codes per
tile are compared; tipg's differences are split into grids that only reach the tile's buffer
and grids that overlap the tile itself.

Everything runs twice (``--placements``): *shared* — PostgreSQL, the servers and the
clients on all cores, as they fall; *split* — PostgreSQL pinned to half the cores and
everything else to the other half (``sched_setaffinity`` on the postmaster and its backends;
needs the cluster on this machine and the right to set its affinity), as when the database
has cores of its own.  On a small machine the shared ratios measure CPU cost per tile
(server + PostgreSQL against PostgreSQL alone), the split ones throughput with the database
as the limit.

Usage::

    .venv/bin/python bench/tiles_vs_tipg.py [--concurrency 8] [--placements shared,split]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import shapely
from common import ROOT, bench_database, cpu_model, git_state, package_version
from meters import children_cpu, cpu_seconds, descendants, own_cpu
from servers import Server, postmaster, serve_gridmap
from sqlalchemy import make_url, text
from tiles_clients import (
    Pass,
    autogroup,
    can_pin,
    floor_worker,
    http_tile,
    http_worker,
    metered,
    placement,
    thread_pass,
    wrk_pass,
)
from tiles_peers import (
    TIPG_FILTER,
    TIPG_PROPERTIES,
    ZOOMS,
    Diff,
    codes,
    compare,
    ensure_tipg,
    gridmap_path,
    serve_tipg,
    tile_list,
    tipg_path,
    venv_version,
)

from gis.settings import get_settings
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.seed import load_demo
from gis.store.versions import current_version
from gis.store.watch import conninfo as libpq_conninfo
from tiles.layers import LAYERS
from tiles.service import tile_params

GOAL_COLD = 2.0
GOAL_WARM = 10.0
GOAL_FLOOR = 1.5
STACK = (("uvicorn", "uvicorn"), ("FastAPI", "fastapi"), ("psycopg", "psycopg"))


# --------------------------------------------------------------------------- main


@dataclass
class Round:
    """One placement's runs."""

    name: str
    where: str
    runs: dict[str, Pass]

    def ratios(self) -> dict[str, float]:
        r = self.runs
        return {
            "cold": r["gridmap cold"].rate / r["tipg cold"].rate,
            "warm": r["gridmap warm"].rate / r["tipg warm"].rate,
            "floor": r["SQL floor"].rate / r["gridmap cold"].rate,
        }

    def met(self) -> dict[str, bool]:
        ratios = self.ratios()
        return {
            "cold": ratios["cold"] >= GOAL_COLD,
            "warm": ratios["warm"] >= GOAL_WARM,
            "floor": ratios["floor"] <= GOAL_FLOOR,
        }


@dataclass
class Checked:
    """The tiles checked before timing and how each server's differ from the floor's."""

    sample: int
    nonempty: int
    gridmap: Diff
    tipg: Diff


def markdown(
    args: argparse.Namespace,
    env: dict[str, str],
    tiles: list[tuple[int, int, int]],
    n_grids: int,
    checked: Checked,
    rounds: list[Round],
    skipped: dict[str, str],
) -> str:
    """The results section for ``bench/RESULTS.md``."""
    python, pg, postgis = Path(env["tipg python"]), env["postgres"], env["postgis"]
    per_zoom = {z: sum(1 for t in tiles if t[0] == z) for z in ZOOMS}
    gridmap_diff, tipg_diff = checked.gridmap, checked.tipg

    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    command = "python bench/tiles_vs_tipg.py" + "".join(
        f" --{k} {v}"
        for k, v, d in (
            ("concurrency", args.concurrency, 8),
            ("duration", args.duration, 10),
            ("placements", args.placements, "shared,split"),
        )
        if v != d
    )
    lines = [
        "## Vector tiles: gridmap vs tipg vs the SQL floor",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {git_state()}.",
        "",
        f"Machine: {os.cpu_count()} × {cpu_model()} (kernel autogroup scheduling "
        f"{autogroup()}), Python {platform.python_version()}, "
        f"PostgreSQL {pg}, PostGIS {postgis}. gridmap: "
        + ", ".join(f"{name} {package_version(dist, '?')}" for name, dist in STACK)
        + "; tipg "
        f"{venv_version(python, 'tipg')} (uvicorn {venv_version(python, 'uvicorn')}, "
        f"asyncpg {venv_version(python, 'asyncpg')}) in its own venv. Each server: "
        f"{args.workers} uvicorn workers. HTTP runs: `wrk -t2 -c{args.concurrency} "
        f"-d{args.duration}s -H 'Accept-Encoding: gzip'` cycling through the tile list (a Lua "
        "path list, each thread starting elsewhere); tiles/s is wrk's requests/s, p50/p99 "
        "from wrk's latency histogram.",
        "",
        f"Tiles: the {len(tiles)} tiles at z12–16 intersecting the {n_grids} demo grids "
        f"({', '.join(f'z{z}: {n}' for z, n in per_zoom.items())}), shuffled (seed "
        f"{args.seed}); {args.warmup} untimed tiles first on each server. gridmap "
        "`/tiles/grids/{z}/{x}/{y}.mvt`: cold with `?cache=off`; warm with the cache on, "
        "after one untimed pass over the list (so every timed request is a second or later "
        "request of its tile). tipg `/collections/public.regions/tiles/WebMercatorQuad/"
        f"{{z}}/{{x}}/{{y}}?filter={TIPG_FILTER}&properties={TIPG_PROPERTIES}` (tipg's tile "
        "endpoint takes CQL2 filters: the table itself, no view), `TIPG_TILE_BUFFER=64` "
        "(gridmap's) and `TIPG_MAX_FEATURES_PER_TILE` as gridmap's. tipg has no tile cache "
        "(it only sends `Cache-Control`): its cold is its first wrk run, its warm a second "
        "identical run. SQL floor: gridmap's ST_AsMVT statement for the layer "
        "(`LAYERS['grids'].tile_sql`) run as gridmap runs it (psycopg, prepared after "
        f"psycopg's default 5 uses, binary results), {args.concurrency} threads with one "
        f"connection each, round the list for {args.duration} s, no HTTP.",
        "",
        "CPU ms/tile: CPU time spent during the run divided by the tiles served — "
        "PostgreSQL = the postmaster and all its backends; server = the uvicorn processes; "
        "client = wrk (HTTP runs) or the floor's Python threads.",
        "",
        f"Same features: {checked.sample} sampled tiles ({checked.nonempty} non-empty) "
        "decoded with mapbox_vector_tile, set of grid codes per tile compared with the SQL "
        "floor's: gridmap "
        f"{gridmap_diff.tiles} differ; tipg {tipg_diff.tiles} differ — tipg lacks "
        f"{tipg_diff.missing_in_tile + tipg_diff.missing_in_buffer} features gridmap draws "
        f"({tipg_diff.missing_in_buffer} of grids that reach only the tile's 64-unit buffer, "
        f"{tipg_diff.missing_in_tile} of grids overlapping the tile itself) and has "
        f"{len(tipg_diff.only_peer)} that gridmap lacks.",
    ]
    for name, why in skipped.items():
        lines += ["", f"Placement `{name}` not run: {why}."]
    for r in rounds:
        ratios, goals = r.ratios(), r.met()
        lines += [
            "",
            f"**{r.name}** — {r.where}:",
            "",
            "| run | tiles/s | p50 ms | p99 ms | errors | CPU ms/tile: PostgreSQL | server "
            "| client |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key, run in r.runs.items():
            cpu = [
                f"{run.cpu[k]:.3f}" if k in run.cpu else "–"
                for k in ("PostgreSQL", "server", "client")
            ]
            lines.append(
                f"| {key} | {run.rate:,.0f} | {run.pct(50):.1f} | {run.pct(99):.1f} | "
                f"{run.errors} | {' | '.join(cpu)} |"
            )
        lines += [
            "",
            f"- gridmap/tipg cold: {ratios['cold']:.2f}× (goal ≥ {GOAL_COLD:g}×) — "
            f"{met(goals['cold'])}",
            f"- gridmap/tipg warm: {ratios['warm']:.2f}× (goal ≥ {GOAL_WARM:g}×) — "
            f"{met(goals['warm'])}",
            f"- SQL floor / gridmap cold: {ratios['floor']:.2f}× (goal within {GOAL_FLOOR:g}×) — "
            f"{met(goals['floor'])}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="client connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (each server)")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the shuffle")
    parser.add_argument("--sample", type=int, default=200, help="tiles checked before timing")
    parser.add_argument("--warmup", type=int, default=200, help="untimed tiles per server")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed run")
    parser.add_argument(
        "--placements",
        default="shared,split",
        help="comma-separated: shared (all on every core), split (PostgreSQL on its own cores)",
    )
    args = parser.parse_args(argv)

    python = ensure_tipg()
    settings = get_settings()
    db_url, _ = bench_database(settings, "tiles")
    dbname = make_url(db_url).database
    conninfo = libpq_conninfo(db_url)
    created = False
    rounds: list[Round] = []
    skipped: dict[str, str] = {}
    try:
        created = create_database(db_url)
        migrate(db_url)
        engine = make_engine(db_url)
        try:
            load_demo(engine, settings.demo_dir)
            with engine.connect() as conn:
                version = current_version(conn)
                wkb = conn.execute(
                    text(
                        "SELECT code, ST_AsBinary(geom) FROM regions "
                        "WHERE level = 'grid' AND valid_to IS NULL"
                    )
                ).all()
                shapes = {code: shapely.from_wkb(bytes(b)) for code, b in wkb}
                grids = list(shapes.values())
                pg = conn.scalar(text("SHOW server_version"))
                postgis = conn.scalar(text("SELECT postgis_lib_version()"))
        finally:
            engine.dispose()
        tiles = tile_list(grids, args.seed)
        per_zoom = {z: sum(1 for t in tiles if t[0] == z) for z in ZOOMS}
        print(
            f"database {dbname}: {len(grids)} grids, version {version}; {len(tiles)} tiles "
            f"{per_zoom}",
            flush=True,
        )

        layer = LAYERS["grids"]
        sql = layer.tile_sql(settings)

        def params(i: int) -> dict:
            return tile_params(layer, *tiles[i], version, settings) or {}

        root = postmaster(conninfo)
        names = [n.strip() for n in args.placements.split(",") if n.strip()]
        if "split" in names and (why := can_pin(root)):
            skipped["split"] = why
            names.remove("split")
        postgres_cpu = {"PostgreSQL": lambda: cpu_seconds([root, *descendants(root)])}
        if root is None:
            postgres_cpu = {}

        def meters(server: Server) -> dict[str, Callable[[], float]]:
            """CPU meters of an HTTP run: PostgreSQL, the server's processes, wrk."""
            return {
                **postgres_cpu,
                "server": lambda: cpu_seconds(server.pids()),
                "client": children_cpu,
            }

        def check(server: Server, paths: list[str]) -> Diff:
            """The server's tiles of the sample against the floor's."""

            def fetch(i: int) -> bytes:
                return http_tile(server.port, paths[i])

            return compare(sample, floor, fetch, tiles, shapes)

        rng = random.Random(args.seed + 1)
        sample = rng.sample(range(len(tiles)), min(args.sample, len(tiles)))
        gridmap_diff = tipg_diff = Diff()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            floor = {
                i: bytes(conn.execute(sql, params(i), binary=True).fetchone()[0] or b"")
                for i in sample
            }
        nonempty = sum(bool(codes(floor[i])) for i in sample)
        checked = False
        cold = [gridmap_path(*t, False) for t in tiles]
        warm = [gridmap_path(*t, True) for t in tiles]
        paths = [tipg_path(*tile) for tile in tiles]
        warmup = min(args.warmup, len(tiles))
        with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
            workdir = Path(tmp)
            for name in names:
                with placement(name, root) as where:
                    print(f"== {name}: {where}", flush=True)
                    runs: dict[str, Pass] = {}
                    conns: list = []
                    try:
                        worker = floor_worker(conninfo, sql, params, conns)
                        thread_pass("floor warm-up", warmup, args.concurrency, worker)
                        runs["SQL floor"] = metered(
                            lambda worker=worker: thread_pass(
                                "SQL floor", len(tiles), args.concurrency, worker, args.duration
                            ),
                            {**postgres_cpu, "client": own_cpu},
                        )
                    finally:
                        for c in conns:
                            c.close()

                    with serve_gridmap(db_url, ROOT, args.workers, [], workdir) as s:
                        if not checked:
                            gridmap_diff = check(s, cold)
                        thread_pass(
                            "gridmap warm-up", warmup, args.concurrency, http_worker(s.port, cold)
                        )
                        runs["gridmap cold"] = metered(
                            lambda s=s: wrk_pass("gridmap cold (cache=off)", s.port, cold, args),
                            meters(s),
                        )
                        thread_pass(
                            "gridmap fill cache",
                            len(tiles),
                            args.concurrency,
                            http_worker(s.port, warm),
                        )
                        runs["gridmap warm"] = metered(
                            lambda s=s: wrk_pass("gridmap warm (cache on)", s.port, warm, args),
                            meters(s),
                        )

                    with serve_tipg(db_url, args.workers, settings.tile_max_features, workdir) as t:
                        if not checked:
                            tipg_diff = check(t, paths)
                        thread_pass(
                            "tipg warm-up", warmup, args.concurrency, http_worker(t.port, paths)
                        )
                        runs["tipg cold"] = metered(
                            lambda t=t: wrk_pass("tipg run 1", t.port, paths, args), meters(t)
                        )
                        runs["tipg warm"] = metered(
                            lambda t=t: wrk_pass("tipg run 2", t.port, paths, args), meters(t)
                        )
                    checked = True
                rounds.append(Round(name, where, runs))
    finally:
        if created:
            drop_database(db_url)

    print(
        f"checked {len(sample)} tiles ({nonempty} non-empty): differ gridmap "
        f"{gridmap_diff.tiles}, tipg {tipg_diff.tiles}"
    )
    for r in rounds:
        for k, v in r.ratios().items():
            print(f"{r.name} {k}: {v:.2f}× — {'met' if r.met()[k] else 'not met'}")

    env = {"tipg python": str(python), "postgres": pg, "postgis": postgis}
    checked_tiles = Checked(len(sample), nonempty, gridmap_diff, tipg_diff)
    section = markdown(args, env, tiles, len(grids), checked_tiles, rounds, skipped)
    print("\n" + section)
    if not args.no_append:
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n" + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
