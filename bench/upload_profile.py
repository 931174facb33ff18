"""Where a large grid upload spends its time: one committed upload of bench/upload_layer's
file under cProfile, with every SQL statement slower than ``--slow`` seconds printed.

The layer (zip and parent communities) is kept in ``--cache`` between runs (generating
300 000 cells takes minutes); each run copies a template database holding the parents, so
runs are comparable.  Prints the machine's load at start and end, the phases, the SQL
statements by time and the functions by cumulative and own time.

Usage::

    .venv/bin/python bench/upload_profile.py --polygons 300000 [--cache /tmp/gridmap-layers]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pickle
import pstats
import sys
import tempfile
import time
from pathlib import Path

from common import drop_databases
from sqlalchemy import event
from upload_layer import generate, parent_geometry, write_zip
from upload_vs_ogr2ogr import _db_url, make_gridmap_template

from gis.ingest.uploads import UploadRequest, process_upload
from gis.settings import get_settings
from gis.store.db import create_database, database_url, make_engine


def cached_layer(cache: Path, n: int, seed: int) -> tuple[Path, dict]:
    """The zipped layer of ``n`` cells and its parents, generated once per (n, seed)."""
    folder = cache / f"{n}-{seed}"
    zip_path, parents_path = folder / "grids.zip", folder / "parents.pickle"
    if not parents_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        layer = generate(n, seed, 3)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            written = write_zip(layer, Path(tmp))
            parents = parent_geometry(Path(tmp), layer)
            written.rename(zip_path)
        parents_path.write_bytes(pickle.dumps(parents))
    return zip_path, pickle.loads(parents_path.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polygons", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/gridmap-layers"))
    parser.add_argument("--slow", type=float, default=0.5, help="SQL statements printed (s)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--no-profile", action="store_true", help="time only, no cProfile")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    zip_path, parents = cached_layer(args.cache, args.polygons, args.seed)
    print(f"layer ready ({time.perf_counter() - t0:.1f} s)", flush=True)
    settings = get_settings()
    base = database_url(settings)
    prefix = f"bench_upprof_{os.getpid()}"
    template, target = _db_url(base, f"{prefix}_tpl"), _db_url(base, f"{prefix}_run")
    created = [template]
    try:
        make_gridmap_template(template, parents)
        created.append(target)
        create_database(target, template=f"{prefix}_tpl")
        engine = make_engine(target)
        statements: list[tuple[float, str]] = []

        @event.listens_for(engine, "before_cursor_execute")
        def _start(conn, cursor, statement, params, context, many):
            conn.info["t"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _end(conn, cursor, statement, params, context, many):
            statements.append((time.perf_counter() - conn.info["t"], statement))

        marks: list[tuple[str, float]] = []
        request = UploadRequest(filename="grids.zip", level="grid", author="bench", dry_run=False)
        profiler = cProfile.Profile()
        start = time.perf_counter()
        if not args.no_profile:
            profiler.enable()
        result = process_upload(
            engine,
            zip_path,
            request,
            settings,
            progress=lambda s: marks.append((s, time.perf_counter())),
        )
        profiler.disable()
        end = time.perf_counter()
        engine.dispose()
        print(
            f"status {result.status}, summary errors {result.report['summary']['errors']}, "
            f"warnings {result.report['summary']['warnings']}; total {end - start:.1f} s"
        )
        for (name, t), nxt in zip(marks, [*(t for _, t in marks[1:]), end], strict=True):
            print(f"  {name:14s} {nxt - t:8.2f} s")
        print(f"\nSQL statements slower than {args.slow} s:")
        for seconds, sql in sorted(statements, reverse=True):
            if seconds >= args.slow:
                print(f"  {seconds:8.2f} s  {' '.join(sql.split())[:300]}")
        if not args.no_profile:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
    finally:
        drop_databases(created)
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
