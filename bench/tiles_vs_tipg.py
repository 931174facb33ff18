"""Vector tiles: gridmap against tipg and against the raw SQL floor, same database, same tiles.

What is measured, in one run, on a throwaway database of gridmap's cluster holding the demo
city (``gis.seed.load_demo``):

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
  executed with psycopg, one connection per client thread, no HTTP.

The tile list: every tile at zooms 12–16 whose box intersects a current demo grid, shuffled
with a seed.  The timed HTTP runs are ``wrk -t2 -c8 -d10s`` cycling through the list (a
Lua path list, as in ``bench/lookup_http.py``) with ``Accept-Encoding: gzip`` (as a browser;
both servers gzip); tiles/s is wrk's requests/s, p50/p99 from its histogram.  One pass of a
Python client (8 threads, keep-alive ``http.client``) over the list is also reported per
server: it is client-bound on a small machine.  Before timing, a sample of tiles is fetched
from all three and decoded (``mapbox_vector_tile``) and the sets of grid codes per tile are
compared; tipg's differences are split into grids that only reach the tile's buffer and grids
that overlap the tile itself.

Usage::

    .venv/bin/python bench/tiles_vs_tipg.py [--concurrency 8] [--sample 200]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import importlib.metadata
import math
import os
import platform
import random
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import mapbox_vector_tile
import numpy as np
import psycopg
import shapely
from common import cpu_model, git_state
from lookup_http import Server, WrkRun, _get, free_port, lua_script, parse_wrk, serve
from sqlalchemy import make_url, text

from gis.cluster import Cluster
from gis.db import create_database, database_url, drop_database, make_engine, migrate
from gis.seed import load_demo
from gis.settings import get_settings
from gis.versions import current_version
from tiles.layers import LAYERS, tile_bounds, tolerance_m

ROOT = Path(__file__).resolve().parent.parent
TIPG_VENV = ROOT / ".gridmap" / "bench" / "tipg-venv"
ZOOMS = range(12, 17)
GOAL_COLD = 2.0
GOAL_WARM = 10.0
GOAL_FLOOR = 1.5
TIPG_FILTER = "level='grid' AND valid_to IS NULL"
TIPG_PROPERTIES = "code,name,parent_code,households,grid_worker"


# --------------------------------------------------------------------------- the tiles


def tile_list(grids: list[shapely.Geometry], seed: int) -> list[tuple[int, int, int]]:
    """Every tile at ``ZOOMS`` whose box intersects a grid, shuffled with ``seed``."""
    tree = shapely.STRtree(grids)
    xmin, ymin, xmax, ymax = shapely.total_bounds(grids)
    out = []
    for z in ZOOMS:
        n = 2**z
        x0, x1 = int((xmin + 180) / 360 * n), int((xmax + 180) / 360 * n)

        def row(lat: float, n: int = n) -> int:
            r = math.radians(lat)
            return int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)

        y0, y1 = row(ymax), row(ymin)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                box = shapely.box(*tile_bounds(z, x, y))
                if len(tree.query(box, predicate="intersects")):
                    out.append((z, x, y))
    random.Random(seed).shuffle(out)
    return out


# --------------------------------------------------------------------------- the peer


def ensure_tipg() -> Path:
    """The tipg venv's python (created with ``pip install tipg uvicorn`` when missing)."""
    python = TIPG_VENV / "bin" / "python"
    if (
        not (TIPG_VENV / "bin" / "uvicorn").exists()
        or subprocess.run(
            [str(python), "-c", "import tipg"], capture_output=True, check=False
        ).returncode
    ):
        print(f"creating {TIPG_VENV} (pip install tipg uvicorn)", flush=True)
        subprocess.run(["python3", "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


def venv_version(python: Path, dist: str) -> str:
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


@contextmanager
def serve_tipg(db_url: str, workers: int, max_features: int, workdir: Path) -> Iterator[Server]:
    """tipg under uvicorn with ``workers`` workers, up once /healthz answers 200."""
    port = free_port()
    url = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_TILE": str(max_features),
    }
    command = [
        str(TIPG_VENV / "bin" / "uvicorn"),
        "tipg.main:app",
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    log = workdir / "tipg.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"tipg exited ({proc.returncode}):\n{log.read_text()}")
            with suppress(OSError):
                if _get(port, "/healthz", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"tipg not healthy after 90 s:\n{log.read_text()}")
            time.sleep(0.3)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in reversed(server.pids()):
                    with suppress(ProcessLookupError):
                        os.kill(pid, 9)
                proc.wait(timeout=10)


def gridmap_path(z: int, x: int, y: int, cache: bool) -> str:
    return f"/tiles/grids/{z}/{x}/{y}.mvt" + ("" if cache else "?cache=off")


def tipg_path(z: int, x: int, y: int) -> str:
    return (
        f"/collections/public.regions/tiles/WebMercatorQuad/{z}/{x}/{y}"
        f"?filter={quote(TIPG_FILTER)}&filter-lang=cql2-text&properties={TIPG_PROPERTIES}"
    )


# --------------------------------------------------------------------------- the client


@dataclass
class Pass:
    label: str
    tiles: int
    seconds: float
    latencies_ms: np.ndarray
    errors: int

    @property
    def rate(self) -> float:
        return self.tiles / self.seconds

    p: dict[str, float] | None = None
    """Percentiles (ms) given by wrk, by ``%g`` of the percentile."""

    def pct(self, p: float) -> float:
        if self.p is not None:
            return self.p[f"{p:g}"]
        return float(np.percentile(self.latencies_ms, p))


def run_pass(
    label: str, n: int, concurrency: int, make_worker: Callable[[], Callable[[int], bool]]
) -> Pass:
    """``n`` requests over ``concurrency`` threads; each thread's worker does request ``i``."""
    latencies = np.zeros(n)
    errors = [0]
    counter = iter(range(n))
    lock = threading.Lock()
    workers = [make_worker() for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def loop(work: Callable[[int], bool]) -> None:
        barrier.wait()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            ok = work(i)
            latencies[i] = (time.perf_counter() - t0) * 1000
            if not ok:
                with lock:
                    errors[0] += 1

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    run = Pass(label, n, time.perf_counter() - t0, latencies, errors[0])
    print(
        f"{label}: {n} tiles in {run.seconds:.2f} s = {run.rate:.0f} tiles/s, "
        f"p50 {run.pct(50):.1f} ms, p99 {run.pct(99):.1f} ms, errors {run.errors}",
        flush=True,
    )
    return run


def http_worker(port: int, paths: list[str]) -> Callable[[], Callable[[int], bool]]:
    def make() -> Callable[[int], bool]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def work(i: int) -> bool:
            conn.request("GET", paths[i], headers={"Accept-Encoding": "gzip"})
            r = conn.getresponse()
            r.read()
            return r.status in (200, 204)

        return work

    return make


def http_tile(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        body = r.read()
        if r.status not in (200, 204):
            raise RuntimeError(f"{path}: HTTP {r.status} {body[:300]!r}")
        if r.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body
    finally:
        conn.close()


def codes(data: bytes) -> frozenset[str]:
    """The grid codes of a tile's features (every layer)."""
    if not data:
        return frozenset()
    layers = mapbox_vector_tile.decode(data)
    return frozenset(
        str(f["properties"].get("code")) for layer in layers.values() for f in layer["features"]
    )


def wrk_pass(label: str, port: int, paths: list[str], args: argparse.Namespace) -> Pass:
    """wrk cycling through ``paths`` for ``args.duration`` s (each thread starts elsewhere)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua_script(paths))
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.concurrency}",
                f"-d{args.duration}s",
                "--timeout",
                "30s",
                "-H",
                "Accept-Encoding: gzip",
                "-s",
                f.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(f.name)
    run: WrkRun = parse_wrk(label, done.stdout)
    seconds = run.requests / run.requests_per_s
    out = Pass(label, run.requests, seconds, np.array([]), run.failures)
    out.p = {k: v / 1000 for k, v in run.latency_us.items()}
    print(
        f"{label} (wrk): {run.requests} tiles = {out.rate:.0f} tiles/s, p50 {out.pct(50):.1f} ms, "
        f"p99 {out.pct(99):.1f} ms, errors {out.errors}",
        flush=True,
    )
    return out


# --------------------------------------------------------------------------- the floor


def psycopg_sql(sql: str) -> str:
    """SQLAlchemy ``:name`` binds as psycopg ``%(name)s``."""
    return re.sub(r"(?<![:\w]):([a-z_]+)\b", r"%(\1)s", sql.replace("%", "%%"))


def floor_worker(
    conninfo: str, sql: str, params: Callable[[int], dict], conns: list
) -> Callable[[], Callable[[int], bool]]:
    def make() -> Callable[[int], bool]:
        conn = psycopg.connect(conninfo, autocommit=True, prepare_threshold=None)
        conns.append(conn)

        def work(i: int) -> bool:
            conn.execute(sql, params(i)).fetchone()
            return True

        return work

    return make


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (each server)")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the shuffle")
    parser.add_argument("--sample", type=int, default=200, help="tiles checked before timing")
    parser.add_argument("--warmup", type=int, default=200, help="untimed tiles per server")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the list (floor)")
    args = parser.parse_args(argv)

    python = ensure_tipg()
    settings = get_settings()
    if settings.embedded:
        Cluster.from_settings(settings).start()
    base = database_url(settings)
    dbname = f"bench_tiles_{os.getpid()}"
    db_url = make_url(base).set(database=dbname).render_as_string(hide_password=False)
    conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    created = False
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
        sql = psycopg_sql(layer.tile_sql(settings))
        extra = layer.params(settings)

        def params(i: int) -> dict:
            z, x, y = tiles[i % len(tiles)]
            return {
                "z": z,
                "x": x,
                "y": y,
                "limit": settings.tile_max_features,
                "tolerance": tolerance_m(z),
                "version": version,
                **extra,
            }

        rng = random.Random(args.seed + 1)
        sample = rng.sample(range(len(tiles)), min(args.sample, len(tiles)))
        results: dict[str, Pass] = {}
        single: dict[str, Pass] = {}
        mismatch: dict[str, int] = {"gridmap": 0, "tipg": 0}
        nonempty = 0
        with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
            workdir = Path(tmp)
            # the floor first: it also brings the table into PostgreSQL's buffers
            with psycopg.connect(conninfo, autocommit=True) as conn:
                floor = {
                    i: bytes(conn.execute(sql, params(i)).fetchone()[0] or b"") for i in sample
                }
            conns: list = []
            try:
                worker = floor_worker(conninfo, sql, params, conns)
                run_pass("floor warm-up", min(args.warmup, len(tiles)), args.concurrency, worker)
                results["SQL floor"] = run_pass(
                    "SQL floor", len(tiles) * args.repeat, args.concurrency, worker
                )
            finally:
                for c in conns:
                    c.close()

            with serve(db_url, ROOT, args.workers, [], workdir) as s:
                got = {i: codes(http_tile(s.port, gridmap_path(*tiles[i], False))) for i in sample}
                for i in sample:
                    nonempty += bool(codes(floor[i]))
                    mismatch["gridmap"] += got[i] != codes(floor[i])
                cold = [gridmap_path(*t, False) for t in tiles]
                warm = [gridmap_path(*t, True) for t in tiles]
                run_pass(
                    "gridmap warm-up",
                    min(args.warmup, len(tiles)),
                    args.concurrency,
                    http_worker(s.port, cold),
                )
                single["gridmap cold"] = run_pass(
                    "gridmap cold (cache=off)",
                    len(tiles),
                    args.concurrency,
                    http_worker(s.port, cold),
                )
                results["gridmap cold"] = wrk_pass("gridmap cold (cache=off)", s.port, cold, args)
                run_pass(
                    "gridmap fill cache (pass 1)",
                    len(tiles),
                    args.concurrency,
                    http_worker(s.port, warm),
                )
                single["gridmap warm"] = run_pass(
                    "gridmap warm (pass 2)", len(tiles), args.concurrency, http_worker(s.port, warm)
                )
                results["gridmap warm"] = wrk_pass("gridmap warm (cache on)", s.port, warm, args)

            with serve_tipg(db_url, args.workers, settings.tile_max_features, workdir) as t:
                paths = [tipg_path(*tile) for tile in tiles]
                examples: list = []
                only_tipg: set[str] = set()
                only_ours: set[str] = set()
                missing = {"tile": 0, "buffer": 0}
                for i in sample:
                    theirs = codes(http_tile(t.port, paths[i]))
                    if theirs != codes(floor[i]):
                        mismatch["tipg"] += 1
                        ours = codes(floor[i])
                        only_tipg.update(theirs - ours)
                        only_ours.update(ours - theirs)
                        box = shapely.box(*tile_bounds(*tiles[i]))
                        for code in ours - theirs:
                            inside = bool(shapely.intersects(shapes[code], box))
                            missing["tile" if inside else "buffer"] += 1
                        if len(examples) < 3:
                            examples.append(
                                (tiles[i], sorted(theirs - ours), sorted(ours - theirs))
                            )
                if examples:
                    print(
                        f"tipg differs (tile, only tipg, only gridmap), e.g. {examples}", flush=True
                    )
                run_pass(
                    "tipg warm-up",
                    min(args.warmup, len(tiles)),
                    args.concurrency,
                    http_worker(t.port, paths),
                )
                single["tipg cold"] = run_pass(
                    "tipg pass 1", len(tiles), args.concurrency, http_worker(t.port, paths)
                )
                single["tipg warm"] = run_pass(
                    "tipg pass 2", len(tiles), args.concurrency, http_worker(t.port, paths)
                )
                results["tipg cold"] = wrk_pass("tipg run 1", t.port, paths, args)
                results["tipg warm"] = wrk_pass("tipg run 2", t.port, paths, args)
    finally:
        if created:
            drop_database(db_url)

    print(f"checked {len(sample)} tiles ({nonempty} non-empty): mismatches {mismatch}")
    ratios = {
        "cold": results["gridmap cold"].rate / results["tipg cold"].rate,
        "warm": results["gridmap warm"].rate / results["tipg warm"].rate,
        "floor": results["SQL floor"].rate / results["gridmap cold"].rate,
    }
    goals = {
        "cold": ratios["cold"] >= GOAL_COLD,
        "warm": ratios["warm"] >= GOAL_WARM,
        "floor": ratios["floor"] <= GOAL_FLOOR,
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}× — {'met' if goals[k] else 'not met'}")

    def version_of(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    command = "python bench/tiles_vs_tipg.py" + "".join(
        f" --{k} {v}"
        for k, v, d in (
            ("concurrency", args.concurrency, 8),
            ("duration", args.duration, 10),
            ("repeat", args.repeat, 20),
        )
        if v != d
    )
    lines = [
        "## Vector tiles: gridmap vs tipg vs the SQL floor",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {git_state()}.",
        "",
        f"Machine: {os.cpu_count()} × {cpu_model()}, Python {platform.python_version()}, "
        f"PostgreSQL {pg}, PostGIS {postgis}. gridmap: uvicorn {version_of('uvicorn')}, "
        f"FastAPI {version_of('fastapi')}, psycopg {version_of('psycopg')}; tipg "
        f"{venv_version(python, 'tipg')} (uvicorn {venv_version(python, 'uvicorn')}, "
        f"asyncpg {venv_version(python, 'asyncpg')}) in its own venv. Each server: "
        f"{args.workers} uvicorn workers. Timed HTTP runs: `wrk -t2 -c{args.concurrency} "
        f"-d{args.duration}s -H 'Accept-Encoding: gzip'` cycling through the tile list (a Lua "
        "path list, each thread starting elsewhere); tiles/s is wrk's requests/s, p50/p99 "
        "from wrk's latency histogram. wrk, the servers, PostgreSQL and this script share "
        "the machine's cores.",
        "",
        f"Tiles: the {len(tiles)} tiles at z12–16 intersecting the {len(grids)} demo grids "
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
        f"(`LAYERS['grids'].tile_sql`) through psycopg, {args.concurrency} threads with one "
        f"connection each, the list {args.repeat} times, no HTTP.",
        "",
        f"Same features: {len(sample)} sampled tiles ({nonempty} non-empty) decoded with "
        "mapbox_vector_tile, set of grid codes per tile compared with the SQL floor's: gridmap "
        f"{mismatch['gridmap']} differ; tipg {mismatch['tipg']} differ — tipg lacks "
        f"{missing['tile'] + missing['buffer']} features gridmap draws "
        f"({missing['buffer']} of grids that reach only the tile's 64-unit buffer, "
        f"{missing['tile']} of grids overlapping the tile itself) and has {len(only_tipg)} "
        "that gridmap lacks.",
        "",
        "| run (HTTP: wrk; floor: psycopg threads) | tiles/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, run in results.items():
        lines.append(
            f"| {key} | {run.rate:,.0f} | {run.pct(50):.1f} | {run.pct(99):.1f} | {run.errors} |"
        )
    lines += [
        "",
        f"The same with a Python client ({args.concurrency} threads, http.client keep-alive), "
        "one pass over the list each (warm: the second pass) — client-bound, shown for "
        "reference, not used for the ratios:",
        "",
        "| run (one pass, Python client) | tiles/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for key, run in single.items():
        lines.append(f"| {key} | {run.rate:,.0f} | {run.pct(50):.1f} | {run.pct(99):.1f} |")
    lines += [
        "",
        f"- gridmap/tipg cold: {ratios['cold']:.2f}× (goal ≥ {GOAL_COLD:g}×) — "
        f"{met(goals['cold'])}",
        f"- gridmap/tipg warm: {ratios['warm']:.2f}× (goal ≥ {GOAL_WARM:g}×) — "
        f"{met(goals['warm'])}",
        f"- SQL floor / gridmap cold: {ratios['floor']:.2f}× (goal within {GOAL_FLOOR:g}×) — "
        f"{met(goals['floor'])}",
        "",
    ]
    section = "\n".join(lines)
    print("\n" + section)
    if not args.no_append:
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n" + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
