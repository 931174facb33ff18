"""The whole service serving a province in 8 GB (issue 16): PostgreSQL tuned for the machine
plus gridmap's uvicorn workers, their memory under a mixed load.

Data: ``--database-url``, a database that already holds a province (``gridmap demo province
--load`` or ``gridmap demo province-load DIR``); or, without it, a throw-away database of the
embedded cluster loaded through the upload path from the province files in ``--dir``
(generated there first, ``--grids``/``--seed``, when missing) and dropped at the end.

Load: gridmap under uvicorn (``--workers``), then ``wrk`` (``--connections``) for ``--seconds``
round a mixed list of what planners and other systems ask, every request with a viewer key
(``Authorization: Bearer``, as hotline systems call; created for the run, revoked after):
lookups of points inside grids and outside every grid, lookups of addresses from the
registry, vector tiles of every layer at z6–16, OGC items and region pages (first pages and
pages by cursor), one coverage page.
Several passes with fresh tiles (``cache=off`` on half of them), so caches grow as in service.
Two phases, each with its peaks: while the index is built (when the machine has no file of
the version, the first lookup starts its build in a process apart and PostGIS answers
meanwhile; the load runs on in runs of :data:`BUILD_STEP_S` seconds until no build runs —
the whole build, not the part that falls in a fixed window), then ``--seconds`` of passes
served from the index.

Memory, sampled every 0.5 s: the **proportional set size** (PSS, ``/proc/PID/smaps_rollup``:
a shared page is divided among the processes that map it, so shared buffers and the mapped
lookup index count once) of the uvicorn supervisor and its workers, and of the PostgreSQL
cluster — reported twice: the postmaster, its auxiliary processes and the backends of this
database ("ours"), and every process of the cluster (the cluster may serve other databases:
tests, other sessions; the upper bound).  The peak of their sum is the figure against the
goal: ≤ 8 GiB.  RSS sums are printed beside it (an over-count: shared pages once per process).

Usage::

    .venv/bin/python bench/service_memory.py --database-url postgresql+psycopg://…/province
    .venv/bin/python bench/service_memory.py --grids 100000 --dir /tmp/province-100k
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from common import ROOT, bench_database, drop_databases, git_state, machine, server_versions
from meters import descendants, parent_pid
from servers import Server, backends, http_get, postmaster, serve_gridmap
from sqlalchemy import Engine, make_url, text
from wrk import lua_script
from wrk import run as wrk_run

from gis.access.auth import issue_key, revoke_key
from gis.demo.province_files import MANIFEST, generate
from gis.demo.province_load import load_province
from gis.settings import Settings, get_settings
from gis.store.db import create_database, make_engine, migrate
from gis.store.watch import conninfo as libpq_conninfo
from tiles.layers import LAYERS
from tiles.pmtiles import tile_xy

GOAL_GIB = 8.0
BUILD_STEP_S = 10
"""Seconds of each load run while the index is built (the build is checked between them)."""
KEY_LIFE = timedelta(hours=2)
"""The bench's viewer key expires by itself even if the run dies before revoking it."""
GIB = 1024**3
TOTALS = {"ours": ("gridmap", "postgres ours"), "upper": ("gridmap", "postgres all")}


def pss_rss(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of a process in bytes; (0, 0) once it has exited."""
    pss = rss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
            elif line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return pss, rss


def apart(server: Server) -> list[int]:
    """The processes a worker runs apart (``gis.query.lookup.run_apart``: an index build)."""
    found = []
    for pid in server.workers():
        try:
            parent = parent_pid(pid)
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if parent != server.proc.pid and b"spawn_main" in command:
            found.append(pid)
    return found


def cluster_auxiliaries(master: int) -> list[int]:
    """The postmaster's children that are not client backends (checkpointer, WAL writer …)."""
    out = []
    for pid in descendants(master):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if not any(word in cmd for word in (" idle", " SELECT", " COPY", "authentication")):
            out.append(pid)
    return out


class Sampler:
    """Samples the memory of the service's process groups every ``every`` seconds."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], every: float = 0.5) -> None:
        self.groups, self.every = groups, every
        self.peak: dict[str, tuple[int, int]] = {}
        self.peak_total: dict[str, int] = {}
        self._stop = threading.Event()

    def sample(self) -> dict[str, tuple[int, int]]:
        now = {}
        for name, pids in self.groups.items():
            sums = [pss_rss(pid) for pid in set(pids())]
            now[name] = (sum(p for p, _ in sums), sum(r for _, r in sums))
        for name, (pss, rss) in now.items():
            old = self.peak.get(name, (0, 0))
            self.peak[name] = (max(old[0], pss), max(old[1], rss))
        for total, parts in TOTALS.items():
            pss = sum(now[p][0] for p in parts)
            self.peak_total[total] = max(self.peak_total.get(total, 0), pss)
        return now

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        def loop() -> None:
            while not self._stop.wait(self.every):
                self.sample()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.sample()


def workload(engine: Engine, n: int, seed: int) -> list[str]:
    """A shuffled mixed list of ``n`` request paths over the database's province."""
    rng = random.Random(seed)
    with engine.connect() as conn:
        x0, y0, x1, y1 = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
                "ST_Extent(geom) e FROM regions WHERE level = 'county' AND valid_to IS NULL) s"
            )
        ).one()
        inside = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM regions "
                "TABLESAMPLE SYSTEM (5) WHERE level = 'grid' AND valid_to IS NULL "
                "LIMIT :n) s"
            ),
            {"n": n},
        ).all()
        addresses = conn.scalars(
            text("SELECT address FROM addresses TABLESAMPLE SYSTEM (1) LIMIT :n"), {"n": n // 4}
        ).all()
        county = conn.scalar(
            text("SELECT code FROM regions WHERE level = 'county' AND valid_to IS NULL LIMIT 1")
        )
    paths = [f"/api/v1/lookup?lon={x:.6f}&lat={y:.6f}" for x, y in inside]
    for _ in range(n // 4):  # outside every grid: a band round the province
        x = rng.uniform(x0 - 0.5, x1 + 0.5)
        y = rng.choice((rng.uniform(y0 - 0.5, y0 - 0.01), rng.uniform(y1 + 0.01, y1 + 0.5)))
        paths.append(f"/api/v1/lookup?lon={x:.6f}&lat={y:.6f}")
    paths += [f"/api/v1/lookup?address={quote(a)}" for a in addresses]
    for z in range(6, 17):
        for _ in range(max(4, n // 40)):
            x, y = tile_xy(rng.uniform(x0, x1), rng.uniform(y0, y1), z)
            for layer, spec in LAYERS.items():
                if z >= spec.min_zoom:
                    off = "?cache=off" if rng.random() < 0.5 else ""
                    paths.append(f"/tiles/{layer}/{z}/{x}/{y}.mvt{off}")
    for _ in range(max(4, n // 40)):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        bbox = f"{x:.4f},{y:.4f},{x + 0.05:.4f},{y + 0.05:.4f}"
        paths.append(f"/ogc/collections/grids/items?limit=100&bbox={bbox}")
    paths += [
        "/ogc/collections/grids/items?limit=1000",
        f"/api/v1/regions/{county}/children",
        f"/api/v1/analysis/coverage?region={county}&layer=centres",
    ]
    rng.shuffle(paths)
    return paths


def province_database(args: argparse.Namespace, settings: Settings) -> tuple[str, bool]:
    """The database URL to serve, and whether this run made it (and drops it)."""
    if args.database_url:
        return args.database_url, False
    directory = Path(args.dir)
    if not (directory / MANIFEST).exists():
        generate(args.grids, args.seed, directory)
    url, _ = bench_database(settings, f"bench_memory_{args.grids}")
    create_database(url)
    migrate(url)
    engine = make_engine(url)
    try:
        load_province(engine, directory, settings)
    finally:
        engine.dispose()
    return url, True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "province"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--paths", type=int, default=4000)
    parser.add_argument(
        "--build-limit", type=int, default=1200, help="seconds the index build may take"
    )
    parser.add_argument("--results")
    args = parser.parse_args(argv)
    settings = get_settings()
    print("load average at start:", os.getloadavg(), flush=True)
    url, made = province_database(args, settings)
    dbname = make_url(url).database
    admin = url.rsplit("/", 1)[0] + "/postgres"
    master = postmaster(libpq_conninfo(url))
    if master is None:
        raise SystemExit("the database's PostgreSQL does not run on this machine")
    engine = make_engine(url)
    lines: list[str] = []
    key_info = None
    try:
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    text(
                        "SELECT level::text, count(*) FROM regions WHERE valid_to IS NULL "
                        "GROUP BY level"
                    )
                ).all()
            )
            counts["addresses"] = conn.scalar(text("SELECT count(*) FROM addresses"))
            tuned = dict(
                conn.execute(
                    text(
                        "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name "
                        "IN ('shared_buffers', 'work_mem', 'effective_cache_size', "
                        "'max_connections', 'maintenance_work_mem')"
                    )
                ).all()
            )
        with engine.begin() as conn:  # called as hotline systems call: a viewer key (the
            # coverage page needs one); expires by itself, revoked at the end
            key_info, key = issue_key(
                conn, role="viewer", name=f"bench-memory-{os.getpid()}", expires_in=KEY_LIFE
            )
        work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
        with serve_gridmap(url, ROOT, args.workers, [], work) as server:
            groups = {
                "gridmap": server.pids,
                "postgres ours": lambda: [
                    master,
                    *cluster_auxiliaries(master),
                    *backends(admin, dbname),
                ],
                "postgres all": lambda: [master, *descendants(master)],
            }
            idle = Sampler(groups).sample()

            def load(label: str, n: int, seconds: int) -> None:
                paths = workload(engine, args.paths, args.seed + n)
                script = work / f"paths{n}.lua"
                script.write_text(lua_script(paths, refusals=True))
                status, _ = http_get(server.port, paths[0], timeout=60)
                run = wrk_run(
                    label,
                    f"http://127.0.0.1:{server.port}",
                    script,
                    threads=2,
                    connections=args.connections,
                    duration=seconds,
                    timeout="30s",
                    options=("-H", f"Authorization: Bearer {key}"),
                )
                print(
                    f"{label}: {run.requests_per_s:.0f} req/s, {run.requests} requests, "
                    f"errors {run.errors}, first status {status}",
                    *(f"\n  refused: {r}" for r in run.refused),
                    flush=True,
                )

            # the index of the version, when the machine has no file of it, is built while
            # the load runs (its first lookup starts the build; PostGIS answers meanwhile):
            # the load goes on until no build runs, then the passes time the service
            # serving from the index
            building = Sampler(groups)
            started, built = time.monotonic(), None
            with building.running():
                for n in itertools.count():
                    load(f"build {n + 1}", 100 + n, BUILD_STEP_S)
                    if apart(server):
                        built = time.monotonic() - started
                    elif n:
                        break
                    if time.monotonic() - started > args.build_limit:
                        raise SystemExit(f"the index build ran over {args.build_limit} s")
            serving = Sampler(groups)
            with serving.running():
                for n in range(args.passes):
                    load(f"pass {n + 1}", n, args.seconds // args.passes)
        phases = {"while the index is built": building, "serving from the index": serving}
        lines = [
            "# The whole service serving a province: memory (bench/service_memory.py)",
            "",
            f"gridmap {git_state()}; {machine()}; {server_versions(url)}",
            f"load average at end: {os.getloadavg()}",
            f"data: {counts}; PostgreSQL settings: {tuned}",
            f"{args.workers} workers, wrk {args.connections} connections; "
            + (
                f"the index built in the window: ~{built:.0f} s of load (runs of "
                f"{BUILD_STEP_S} s until no build ran)"
                if built is not None
                else "the index was on the machine already (no build in the window)"
            )
            + f"; then {args.seconds} s in {args.passes} passes of {args.paths}+ mixed paths",
            "",
            "| processes | idle PSS (MiB) | "
            + " | ".join(f"peak PSS {phase} (MiB)" for phase in phases)
            + " | peak RSS sum (MiB) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in groups:
            peaks = [sampler.peak[name] for sampler in phases.values()]
            lines.append(
                f"| {name} | {idle[name][0] / 2**20:,.0f} | "
                + " | ".join(f"{pss / 2**20:,.0f}" for pss, _ in peaks)
                + f" | {max(rss for _, rss in peaks) / 2**20:,.0f} |"
            )
        ours = max(p.peak_total["ours"] for p in phases.values()) / GIB
        upper = max(p.peak_total["upper"] for p in phases.values()) / GIB
        verdict = "met" if upper <= GOAL_GIB else ("met (ours)" if ours <= GOAL_GIB else "not met")
        lines += [
            "",
            "Peak total PSS "
            + ", ".join(
                f"{phase}: {p.peak_total['ours'] / GIB:.2f} GiB" for phase, p in phases.items()
            )
            + f" (gridmap + this database's PostgreSQL); overall {ours:.2f} GiB, "
            f"{upper:.2f} GiB with the whole cluster; goal ≤ {GOAL_GIB:g} GiB: "
            f"**{verdict}**.",
        ]
    finally:
        if key_info is not None:
            with engine.begin() as conn:
                revoke_key(conn, key_info.id)
        engine.dispose()
        if made:
            drop_databases([url])
    report = "\n".join(lines)
    print(report)
    if args.results:
        Path(args.results).write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
