"""Lookup over HTTP: single-point lookups against two uvicorn workers, driven by ``wrk``.

What is measured, in one run and on the same data:

* **lookup** — ``GET /api/v1/lookup?lon=&lat=&crs=wgs84`` served by
  ``uvicorn --factory api.app:create_app --workers 2 --no-access-log`` on 127.0.0.1, from a
  fresh database holding the demo city (66 grids, version 1).  ``wrk`` cycles through a few
  thousand seeded random points, uniform in the bounding box of the demo grids, so most are
  covered by a grid and the rest get the nearest grid with its distance in metres (the
  points are computed in Python and embedded in the generated Lua script; each wrk thread
  starts at a different place in the list).
* **lookup, covered points only** — the same with only the covered points: the cost of the
  common case without the nearest-grid search.
* **lookup, covered, viewer key / editor key** — the covered points with ``Authorization:
  Bearer <key>`` (the 12345 hotlines and event desks call with a key): a viewer sees the grid
  worker masked, an editor whole.
* **floor** — ``bench/lookup_floor.py``, a do-nothing ASGI app answering a real lookup answer's
  bytes to every request, under the same uvicorn, workers, flags, wrk and paths: the stack's
  ceiling (issue 16: lookups at ≥ 50 % of it).  The peers take turns in ``--rounds`` rounds
  of ``duration / rounds`` seconds, so a burst of load from elsewhere falls on all of them;
  each row is the median round.
Each is run with each number of connections in ``--connections`` (default 16 and 64):
``wrk -t2 -c16 -d20s --latency`` and so on (a warm-up run of the lookup comes first and is not
counted; it also builds each worker's index).  wrk keeps every connection busy, so by Little's
law the mean latency is about connections ÷ throughput: 64 connections at 7 000 req/s queue
~9 ms per request whatever the server does — the goal's p99 < 10 ms is judged per row.
Requests/s comes from wrk's summary; the latency percentiles (p50, p90, p99, p99.9) from
the Lua ``done()`` hook, in microseconds.  wrk is a closed-loop generator: latencies are
those of the requests it managed to send, not of a fixed arrival rate.

Before timing, a sample of the points is requested one by one and checked against a direct
in-process ``GridIndex`` built from the same database: status 200, JSON, the same covering
grid (and community, street, county), or for an uncovered point the same nearest grid and
distance.  wrk's non-2xx and socket-error counts are reported for every timed run.

wrk, the two workers, their PostgreSQL backends and this script all share the machine's
cores (2 on the reference VM); the CPU time each used during the timed runs is reported.

Usage::

    .venv/bin/python bench/lookup_http.py [--duration 20] [--connections 64]

``--app-dir`` serves the app from another checkout (to measure a candidate change without
touching this one) and ``--uvicorn-arg`` passes extra options to uvicorn, e.g.
``--uvicorn-arg=--http=h11``.  ``--database-url`` reuses a database that already holds the
demo and ``--grids``' county (as this script makes it: ~12 of the ~16 minutes of a run at
990 000 grids), kept at the end; the run's keys are revoked then.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import wrk
from common import (
    ROOT,
    bench_database,
    git_state,
    heading,
    load_average,
    machine,
    package_version,
)
from lookup_http_checks import check_answers, check_roles, keyed_script
from lookup_points import Points, far_points, make_points
from meters import machine_busy_seconds, parent_pid, process_cpu
from servers import Server, backends, http_get, serve_floor, serve_gridmap
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool
from wrk import WrkRun

from gis.access.auth import issue_key, revoke_key
from gis.query.lookup import GridIndex
from gis.settings import get_settings
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.seed import load_demo
from gis.store.versions import current_version

sys.path.insert(0, str(ROOT / "tests"))
from large_city import add_county

KEY_LIFE = timedelta(hours=6)
"""The run's keys expire by themselves should the run be killed before revoking them."""

GOAL_RPS = 5_000
GOAL_P99_MS = 10.0
GOAL_FLOOR_SHARE = 0.5
"""Issue 16: single lookups at ≥ 50 % of the floor's requests/s (``bench/lookup_floor.py``)."""


# --------------------------------------------------------------------------- points


# --------------------------------------------------------------------------- wrk


def meets_goal(run: WrkRun) -> bool:
    """≥ GOAL_RPS requests/s with p99 < GOAL_P99_MS."""
    return run.requests_per_s >= GOAL_RPS and run.ms("99") < GOAL_P99_MS


def run_wrk(
    label: str,
    url: str,
    script: Path,
    args: argparse.Namespace,
    duration: int,
    connections: int,
    server: Server,
    admin_url: str,
    dbname: str,
) -> WrkRun:
    """One wrk run; CPU time of wrk, of uvicorn (all processes) and of the DB backends."""
    pg = backends(admin_url, dbname)
    pg_before = {pid: process_cpu(pid) for pid in pg}
    # backends that exit during the run (pool overflow churn) are counted through the
    # postmaster's reaped-children time
    postmaster = parent_pid(pg[0]) if pg else 0
    reaped_before = process_cpu(postmaster, reaped_children=True) if postmaster else 0.0
    server_before = {pid: process_cpu(pid) for pid in server.pids()}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = machine_busy_seconds()
    start = time.perf_counter()
    run = wrk.run(
        label,
        url,
        script,
        threads=args.threads,
        connections=connections,
        duration=duration,
        timeout=f"{args.timeout}s",
        options=("--latency",),
    )
    run.seconds = time.perf_counter() - start
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_seconds() - busy_before
    server_cpu = sum(process_cpu(pid) - server_before.get(pid, 0.0) for pid in server.pids())
    pg_cpu = sum(process_cpu(pid) - pg_before.get(pid, 0.0) for pid in backends(admin_url, dbname))
    if postmaster:
        pg_cpu += process_cpu(postmaster, reaped_children=True) - reaped_before
    run.cpu = {
        "wrk": (children_after.ru_utime + children_after.ru_stime)
        - (children_before.ru_utime + children_before.ru_stime),
        "uvicorn": server_cpu,
        "postgres": pg_cpu,
    }
    run.cpu["other"] = max(0.0, busy - sum(run.cpu.values()))
    print(
        f"{label}, {connections} connections: {run.requests_per_s:,.0f} req/s, "
        f"p50 {run.ms('50'):.2f} ms, "
        f"p90 {run.ms('90'):.2f} ms, p99 {run.ms('99'):.2f} ms, "
        f"p99.9 {run.ms('99.9'):.2f} ms, max {run.ms('max'):.1f} ms; "
        f"{run.requests} requests, errors {run.errors}; CPU s: "
        + ", ".join(f"{k} {v:.1f}" for k, v in run.cpu.items()),
        flush=True,
    )
    return run


def floor_share(runs: list[WrkRun]) -> list[str]:
    """Per number of connections: the lookup's requests/s as a share of the floor's."""
    floor = {r.connections: r for r in runs if r.label == "floor"}
    lines = []
    for run in runs:
        if run.label.startswith("lookup") and run.connections in floor:
            base = floor[run.connections]
            share = run.requests_per_s / base.requests_per_s
            verdict = "met" if share >= GOAL_FLOOR_SHARE else "not met"
            lines.append(
                f"- {run.label}, {run.connections} connections: {run.requests_per_s:,.0f} / "
                f"{base.requests_per_s:,.0f} req/s = **{100 * share:.0f} %** of the floor "
                f"(goal ≥ {100 * GOAL_FLOOR_SHARE:.0f} %: {verdict}); "
                f"p99 {run.ms('99'):.2f} ms vs the floor's {base.ms('99'):.2f} ms"
            )
    return lines


# --------------------------------------------------------------------------- reporting


def environment(admin_url: str, app_dir: Path) -> dict[str, str]:
    """Versions of everything measured."""
    engine = create_engine(admin_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            pg = conn.scalar(text("SHOW server_version"))
    finally:
        engine.dispose()
    return {
        **machine(),
        "wrk": wrk.version(),
        "stack": ", ".join(
            f"{d} {package_version(d)}"
            for d in ("uvicorn", "fastapi", "starlette", "pydantic", "sqlalchemy", "psycopg")
        ),
        "postgres": f"PostgreSQL {pg}",
        "code": git_state(app_dir),
    }


def markdown(
    args: argparse.Namespace,
    env: dict[str, str],
    loaded: dict[str, bool],
    points: Points,
    checked: dict[str, int],
    runs: list[WrkRun],
) -> str:
    """The results section for ``bench/RESULTS.md``."""
    options = [
        f"--duration {args.duration}",
        "--connections " + ",".join(str(c) for c in args.connections),
    ]
    if args.grids:
        options.append(f"--grids {args.grids}")
    if args.workers != 2:
        options.append(f"--workers {args.workers}")
    if args.rounds != 3:
        options.append(f"--rounds {args.rounds}")
    if args.threads != 2:
        options.append(f"--threads {args.threads}")
    options += [f"--uvicorn-arg={a}" for a in args.uvicorn_arg]
    if args.app_dir.resolve() != ROOT:
        options.append(f"--app-dir {args.app_dir}")
    covered = int(points.covered.sum())
    lookups = [r for r in runs if r.label == "lookup"]
    lines = [
        *heading(
            "Lookup over HTTP: wrk, two workers",
            ".venv/bin/python bench/lookup_http.py " + " ".join(options),
        ),
        f"Machine: {env['nproc']} cores ({env['cpu']}), shared by wrk, the uvicorn workers and "
        f"PostgreSQL (loopback only); Python {env['python']}; {env['wrk']}; {env['stack']}; "
        f"uvloop {'loaded' if loaded['uvloop'] else 'NOT loaded'}, httptools "
        f"{'loaded' if loaded['httptools'] else 'NOT loaded'} in the workers; "
        f"{env['postgres']} (gridmap's embedded cluster). gridmap code: {env['code']}. "
        f"Load averages (1, 5, 15 min): {env['load']}.",
        "",
        f"Server: `uvicorn --factory api.app:create_app --workers {args.workers} "
        "--no-access-log` on 127.0.0.1, a fresh database with the demo city (66 grids"
        + (f" and a county of {args.grids} grids: the points in its box" * bool(args.grids))
        + "). "
        f"Load: `wrk -t{args.threads} -cN -d{max(1, args.duration // args.rounds)}s "
        f"--timeout={args.timeout}s --latency`, {args.rounds} rounds, the lookups and the floor "
        f"taking turns (each row: the median round), after a {args.warmup} s warm-up; the lookup "
        f"cycles through {len(points.lon)} seeded points (seed {args.seed}) uniform in the "
        f"bounding box of the grids: {covered} covered ({100 * covered / len(points.lon):.0f} %), "
        f"{len(points.lon) - covered} outside every grid (answered with the nearest grid).",
        "",
        "| endpoint | connections | req/s | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) "
        "| errors | CPU s: wrk / uvicorn / postgres / rest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        cpu = " / ".join(f"{run.cpu[k]:.1f}" for k in ("wrk", "uvicorn", "postgres", "other"))
        lines.append(
            f"| {run.label} | {run.connections} | {run.requests_per_s:,.0f} | {run.ms('50'):.2f} | "
            f"{run.ms('90'):.2f} | {run.ms('99'):.2f} | {run.ms('99.9'):.2f} | "
            f"{run.failures} | {cpu} |"
        )
    lines += [
        "",
        f"Goal for the lookup: ≥ {GOAL_RPS:,} requests/s with p99 < {GOAL_P99_MS:.0f} ms — "
        + "; ".join(
            f"{r.connections} connections: {'met' if meets_goal(r) else '**not met**'} "
            f"({r.requests_per_s:,.0f} req/s, p99 {r.ms('99'):.2f} ms)"
            for r in lookups
        )
        + ".",
        "",
        "Against the floor (a do-nothing ASGI app answering a real lookup answer's bytes, "
        "`bench/lookup_floor.py`, under the same uvicorn, workers, wrk and paths, same run):",
        "",
        *floor_share(runs),
        "",
        f"Checked before timing: {checked['covered'] + checked['uncovered']} answers over HTTP "
        f"({checked['covered']} covered, {checked['uncovered']} nearest-grid) equal a direct "
        "in-process `GridIndex` lookup (grid, community, street, county codes; nearest grid "
        "and distance). CPU s: CPU time used during each timed run by wrk, by uvicorn "
        "(supervisor and workers), by PostgreSQL backends (this database's, and any that "
        "exited during the run: pool churn), and by the rest of the machine "
        "(interrupts, other processes: a busy neighbour shows here), out of "
        f"{args.duration * (os.cpu_count() or 1)} core-seconds.",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per timed run")
    parser.add_argument(
        "--connections",
        type=lambda v: [int(c) for c in v.split(",")],
        default=[16, 64],
        help="wrk connections, comma-separated (one set of runs each)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of untimed warm-up")
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of the peers (duration split among them)"
    )
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout (s)")
    parser.add_argument("--points", type=int, default=4000, help="distinct lookup points")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the points")
    parser.add_argument("--grids", type=int, default=0, help="a synthetic county's grids too")
    parser.add_argument("--check", type=int, default=300, help="answers verified before timing")
    parser.add_argument(
        "--app-dir", type=Path, default=ROOT, help="checkout to serve (default: this one)"
    )
    parser.add_argument(
        "--uvicorn-arg", action="append", default=[], help="extra uvicorn option (repeatable)"
    )
    parser.add_argument(
        "--database-url", help="reuse this database (the demo and --grids' county), kept"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk not found (apt-get install wrk)")

    settings = get_settings()
    db_url = args.database_url or bench_database(settings, "lookup")[0]
    dbname = make_url(db_url).database
    admin_url = make_url(db_url).set(database="postgres").render_as_string(hide_password=False)
    env = environment(admin_url, args.app_dir.resolve())
    print(f"{env['wrk']}; {env['stack']}; {env['postgres']}; gridmap {env['code']}", flush=True)
    env["load"] = load_average()

    created, issued = False, {}
    try:
        if not args.database_url:
            created = create_database(db_url)
            migrate(db_url)
        engine = make_engine(db_url)
        try:
            if not args.database_url:
                load_demo(engine, settings.demo_dir)
                if args.grids:  # a synthetic county beside the demo (tests/large_city.py)
                    add_county(engine, args.grids)
            with engine.begin() as conn:
                issued = {
                    r: issue_key(conn, role=r, name=f"bench {r}", expires_in=KEY_LIFE)
                    for r in ("viewer", "editor")
                }
            keys = {role: key for role, (_, key) in issued.items()}
            with engine.connect() as conn:
                index = GridIndex.load(conn, current_version(conn) or 0)
        finally:
            engine.dispose()
        if len(index.grids) < args.grids:
            raise SystemExit(f"{dbname} holds {len(index.grids)} grids, not --grids {args.grids}")
        points = make_points(index, args.points, args.seed, args.grids)
        far = far_points(index, args.points // 4, args.seed, args.grids)
        covered = points.covered
        near = points if (~covered).any() else far_points(index, 1000, 1, args.grids, (0, 0.005))
        print(
            f"database {dbname}: {len(index.grids)} grids, version {index.version}; "
            f"{len(points.lon)} points, {int(covered.sum())} covered",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
            workdir = Path(tmp)
            scripts = {
                "all": wrk.lua_script([points.path(i) for i in range(len(points.lon))]),
                "covered": wrk.lua_script([points.path(i) for i in np.flatnonzero(covered)]),
                "outside": wrk.lua_script([near.path(i) for i in np.flatnonzero(~near.covered)]),
                "far": wrk.lua_script([far.path(i) for i in range(len(far.lon))]),
            }
            # keyed: the covered points (the case answered before the framework; outside
            # points cost the nearest-grid search, measured anonymously above)
            scripts |= {role: keyed_script(scripts["covered"], key) for role, key in keys.items()}
            for name, body in scripts.items():
                (workdir / f"{name}.lua").write_text(body)
            with serve_gridmap(
                db_url, args.app_dir.resolve(), args.workers, args.uvicorn_arg, workdir
            ) as s:
                loaded = s.loaded()
                print(f"uvicorn on port {s.port}, workers {s.workers()}, {loaded}", flush=True)
                checked = check_answers(s.port, index, points, args.check)
                check_answers(s.port, index, far, args.check // 4)
                check_answers(s.port, index, near, args.check // 4)
                for key in keys.values():
                    check_answers(s.port, index, points, args.check // 4, key)
                check_roles(s.port, points.path(int(np.flatnonzero(covered)[0])), keys)
                print(f"checked {checked} answers: all equal the in-process index", flush=True)
                url = f"http://127.0.0.1:{s.port}"

                def timed(label: str, script: str, seconds: int, connections: int) -> WrkRun:
                    lua = workdir / f"{script}.lua"
                    return run_wrk(
                        label, url, lua, args, seconds, connections, s, admin_url, dbname
                    )

                timed("warm-up", "all", args.warmup, args.connections[0])
                loaded = s.loaded()  # the workers, as they run after the warm-up
                body = http_get(s.port, points.path(int(np.flatnonzero(covered)[0])))[1]
                (workdir / "floor.json").write_bytes(body)
                with serve_floor(workdir, args.workers, args.uvicorn_arg) as f:
                    floor_url = f"http://127.0.0.1:{f.port}"

                    def floor(seconds: int, connections: int) -> WrkRun:
                        lua = workdir / "all.lua"
                        return run_wrk(
                            "floor",
                            floor_url,
                            lua,
                            args,
                            seconds,
                            connections,
                            f,
                            admin_url,
                            dbname,
                        )

                    # the peers take turns, --rounds times, so a neighbour's burst of load
                    # falls on both; each row is the median round (by requests/s)
                    slice_s = max(1, args.duration // args.rounds)
                    runs = []
                    for c in args.connections:
                        rounds: dict[str, list[WrkRun]] = {}
                        for _ in range(args.rounds):
                            for label, script in (
                                ("lookup", "all"),
                                ("lookup, covered points only", "covered"),
                                ("lookup, outside points only (near)", "outside"),
                                ("lookup, outside 5–20 km (far)", "far"),
                                ("lookup, covered, viewer key", "viewer"),
                                ("lookup, covered, editor key", "editor"),
                            ):
                                rounds.setdefault(label, []).append(
                                    timed(label, script, slice_s, c)
                                )
                            rounds.setdefault("floor", []).append(floor(slice_s, c))
                        runs += [wrk.median_run(r) for r in rounds.values()]
                if s.proc.poll() is not None:
                    raise RuntimeError(f"uvicorn died:\n{s.log.read_text()}")
        env["load"] += f" at the start, {load_average()} at the end"
        print("\n" + markdown(args, env, loaded, points, checked, runs))
    finally:
        if created:
            try:
                drop_database(db_url)
            except Exception as error:
                print(f"could not drop {dbname}: {error}", file=sys.stderr)
        elif issued:  # a reused database keeps no key of the run
            engine = make_engine(db_url)
            try:
                with engine.begin() as conn:
                    for info, _ in issued.values():
                        revoke_key(conn, info.id)
            finally:
                engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
