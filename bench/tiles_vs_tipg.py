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
Lua path list, as in ``bench/lookup_http.py``) with ``Accept-Encoding: gzip`` (as a browser;
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
import gzip
import http.client
import importlib.metadata
import itertools
import math
import os
import platform
import random
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import mapbox_vector_tile
import numpy as np
import psycopg
import shapely
from common import bench_database, cpu_model, cpu_seconds, descendants, git_state
from lookup_http import (
    PERCENTILES,
    Server,
    WrkRun,
    lua_script,
    parse_wrk,
    serve,
    uvicorn_server,
)
from sqlalchemy import make_url, text

from gis.settings import get_settings
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.seed import load_demo
from gis.store.versions import current_version
from gis.store.watch import conninfo as libpq_conninfo
from tiles.layers import LAYERS, tile_bounds
from tiles.service import tile_params

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
    url = libpq_conninfo(db_url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_TILE": str(max_features),
    }
    with uvicorn_server(
        TIPG_VENV / "bin" / "uvicorn",
        ["tipg.main:app"],
        workers=workers,
        env=env,
        cwd=workdir,
        log=workdir / "tipg.log",
        health="/healthz",
        timeout=90,
    ) as server:
        yield server


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
    p: dict[str, float]
    """Latency percentiles (ms), by ``%g`` of the percentile."""
    errors: int
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per tile, by who spent them (PostgreSQL, server, client)."""

    @property
    def rate(self) -> float:
        return self.tiles / self.seconds

    def pct(self, p: float) -> float:
        return self.p[f"{p:g}"]


def thread_pass(
    label: str,
    n: int,
    concurrency: int,
    make_worker: Callable[[], Callable[[int], bool]],
    seconds: float | None = None,
) -> Pass:
    """Requests over ``concurrency`` threads, each thread's worker doing request ``i``: the
    ``n`` requests once, or (``seconds`` given) round and round the ``n`` for that long."""
    latencies: list[float] = []
    errors = [0]
    counter = itertools.count()
    lock = threading.Lock()
    workers = [make_worker() for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)
    deadline = [math.inf]

    def loop(work: Callable[[int], bool]) -> None:
        barrier.wait()
        mine = []
        while True:
            with lock:
                i = next(counter)
            if (seconds is None and i >= n) or time.perf_counter() > deadline[0]:
                break
            t0 = time.perf_counter()
            if not work(i % n):
                with lock:
                    errors[0] += 1
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    if seconds is not None:
        deadline[0] = t0 + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    p = {f"{q:g}": float(np.percentile(latencies, q)) for q in PERCENTILES}
    run = Pass(label, len(latencies), elapsed, p, errors[0])
    print(
        f"{label}: {run.tiles} tiles in {run.seconds:.2f} s = {run.rate:.0f} tiles/s, "
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
    out = Pass(
        label,
        run.requests,
        run.requests / run.requests_per_s,
        {k: v / 1000 for k, v in run.latency_us.items()},
        run.failures,
    )
    print(
        f"{label} (wrk): {run.requests} tiles = {out.rate:.0f} tiles/s, p50 {out.pct(50):.1f} ms, "
        f"p99 {out.pct(99):.1f} ms, errors {out.errors}",
        flush=True,
    )
    return out


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (wrk, once it has finished)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds of this process (the floor's client threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def metered(run: Callable[[], Pass], meters: dict[str, Callable[[], float]]) -> Pass:
    """``run()``, with the CPU each meter's processes spent on it, per tile."""
    before = {name: meter() for name, meter in meters.items()}
    out = run()
    out.cpu = {
        name: (meter() - before[name]) * 1000 / max(out.tiles, 1) for name, meter in meters.items()
    }
    print("  CPU ms/tile: " + ", ".join(f"{k} {v:.3f}" for k, v in out.cpu.items()), flush=True)
    return out


# --------------------------------------------------------------------------- the floor


def floor_worker(
    conninfo: str, sql: str, params: Callable[[int], dict], conns: list
) -> Callable[[], Callable[[int], bool]]:
    """One connection per thread; the statement run as gridmap runs it (psycopg's default
    preparing, results in binary)."""

    def make() -> Callable[[int], bool]:
        conn = psycopg.connect(conninfo, autocommit=True)
        conns.append(conn)

        def work(i: int) -> bool:
            conn.execute(sql, params(i), binary=True).fetchone()
            return True

        return work

    return make


# --------------------------------------------------------------------------- where it runs


def postmaster(conninfo: str) -> int | None:
    """The PID of the PostgreSQL serving ``conninfo`` if it runs on this machine (the parent
    of the connection's backend), else None."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            stat = Path(f"/proc/{backend}/stat").read_text()
        except OSError:
            return None
        if "(postgres)" not in stat:
            return None
        parent = int(stat.rsplit(")", 1)[1].split()[1])
    return parent if "(postgres)" in Path(f"/proc/{parent}/stat").read_text() else None


def pin(pids: list[int], cpus: set[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.sched_setaffinity(pid, cpus)


@contextmanager
def placement(name: str, root: int | None) -> Iterator[str]:
    """``shared``: everything on every core.  ``split``: PostgreSQL (``root`` and below) on
    the first half of this process's cores, this process and what it starts (servers, wrk,
    the floor's threads) on the other half.  Yields a description."""
    every = os.sched_getaffinity(0)
    if name == "shared":
        yield f"PostgreSQL, servers and clients share all {len(every)} cores"
        return
    assert root is not None
    cpus = sorted(every)
    db, rest = set(cpus[: len(cpus) // 2]), set(cpus[len(cpus) // 2 :])
    try:
        pin([root, *descendants(root)], db)  # new backends inherit the postmaster's
        os.sched_setaffinity(0, rest)
        yield (
            f"PostgreSQL pinned to core(s) {sorted(db)}; servers, wrk and the floor's client "
            f"to {sorted(rest)}"
        )
    finally:
        os.sched_setaffinity(0, every)
        pin([root, *descendants(root)], every)


def autogroup() -> str:
    """Whether the kernel schedules each session as a group (``kernel.sched_autogroup_enabled``):
    then the cluster, started in a session of its own, gets half the CPU when both are busy."""
    try:
        return (
            "on"
            if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
            else "off"
        )
    except OSError:
        return "unknown"


def can_pin(root: int | None) -> str | None:
    """Why the split placement cannot run here (None when it can)."""
    if root is None:
        return "the database does not run on this machine"
    if len(os.sched_getaffinity(0)) < 2:
        return "one core"
    try:
        os.sched_setaffinity(root, os.sched_getaffinity(root))
    except PermissionError:
        return "no permission to set PostgreSQL's CPU affinity (run as root or its owner)"
    return None


# --------------------------------------------------------------------------- main


@dataclass
class Diff:
    """How a peer's tiles differ from the floor's, in grid codes."""

    tiles: int = 0
    only_peer: set[str] = field(default_factory=set)
    missing_in_tile: int = 0
    """Features the floor draws and the peer lacks, of grids overlapping the tile itself."""
    missing_in_buffer: int = 0
    """… of grids that reach only the tile's buffer."""


def compare(
    sample: list[int],
    floor: dict[int, bytes],
    fetch: Callable[[int], bytes],
    tiles: list[tuple[int, int, int]],
    shapes: dict[str, shapely.Geometry],
) -> Diff:
    """Compare the sets of grid codes of the peer's tiles with the floor's."""
    diff = Diff()
    examples: list = []
    for i in sample:
        theirs, ours = codes(fetch(i)), codes(floor[i])
        if theirs == ours:
            continue
        diff.tiles += 1
        diff.only_peer.update(theirs - ours)
        box = shapely.box(*tile_bounds(*tiles[i]))
        for code in ours - theirs:
            if shapely.intersects(shapes[code], box):
                diff.missing_in_tile += 1
            else:
                diff.missing_in_buffer += 1
        if len(examples) < 3:
            examples.append((tiles[i], sorted(theirs - ours), sorted(ours - theirs)))
    if examples:
        print(f"differs (tile, only peer, only floor), e.g. {examples}", flush=True)
    return diff


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

                    with serve(db_url, ROOT, args.workers, [], workdir) as s:
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
        f"PostgreSQL {pg}, PostGIS {postgis}. gridmap: uvicorn {version_of('uvicorn')}, "
        f"FastAPI {version_of('fastapi')}, psycopg {version_of('psycopg')}; tipg "
        f"{venv_version(python, 'tipg')} (uvicorn {venv_version(python, 'uvicorn')}, "
        f"asyncpg {venv_version(python, 'asyncpg')}) in its own venv. Each server: "
        f"{args.workers} uvicorn workers. HTTP runs: `wrk -t2 -c{args.concurrency} "
        f"-d{args.duration}s -H 'Accept-Encoding: gzip'` cycling through the tile list (a Lua "
        "path list, each thread starting elsewhere); tiles/s is wrk's requests/s, p50/p99 "
        "from wrk's latency histogram.",
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
        "(`LAYERS['grids'].tile_sql`) run as gridmap runs it (psycopg, prepared after "
        f"psycopg's default 5 uses, binary results), {args.concurrency} threads with one "
        f"connection each, round the list for {args.duration} s, no HTTP.",
        "",
        "CPU ms/tile: CPU time spent during the run divided by the tiles served — "
        "PostgreSQL = the postmaster and all its backends; server = the uvicorn processes; "
        "client = wrk (HTTP runs) or the floor's Python threads.",
        "",
        f"Same features: {len(sample)} sampled tiles ({nonempty} non-empty) decoded with "
        "mapbox_vector_tile, set of grid codes per tile compared with the SQL floor's: gridmap "
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
    section = "\n".join(lines) + "\n"
    print("\n" + section)
    if not args.no_append:
        with (ROOT / "bench" / "RESULTS.md").open("a") as out:
            out.write("\n" + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
