"""The lookup index's build at a province's size: time and peak memory per step.

Issue 16's target: the index of 1 000 000 grids (~100 vertices each) built in ≤ 60 s on the
two-core machine.  Per ``--grids`` size, one throw-away database holds a synthetic province:
``tests/large_city.add_county`` writes a county of up to :data:`PER_COUNTY` grids (100 to a
community, 10 communities to a street), translated copies of it side by side make the other
counties (one boundary version).  The build runs in a fresh process, as the machine's one
builder does (``gis.query.lookup.write_index``): read the regions and make the
arrays (``index_arrays``: WKB, records, the cell indexes of four levels), write the file
(``gis.query.lookup_file.write``); each step timed, peak RSS.  ``--before COMMIT``: the same
build with the ``gis`` package of that commit (``git archive``), on the first size only;
``--rounds N``: N builds of the first size (with ``--before``, the two taking turns).

Usage::

    .venv/bin/python bench/lookup_build.py [--grids 100000 300000 1000000] [--before 504e551^]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    bench_database,
    drop_databases,
    git_state,
    heading,
    load_average,
    machine,
    spaced,
)
from sqlalchemy import Engine, text

from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate

sys.path.insert(0, str(ROOT / "tests"))
from large_city import CELL, COUNTY, add_county

PER_COUNTY = 250_000
"""Most grids of one synthetic county (``large_city``'s attribute arithmetic stays in int4,
its codes in three digits a level)."""
COLUMNS = 200
"""Grids across a county (``large_city.BLOCKS_PER_ROW`` communities of 10)."""

_COPY = """
INSERT INTO regions (code, level, name, parent_code, households, population, grid_worker,
                     grid_worker_phone, party_branch, attributes, geom, area_m2, valid_from)
SELECT :county || substr(code, 7), level, name,
       CASE WHEN parent_code IS NULL THEN NULL ELSE :county || substr(parent_code, 7) END,
       households, population, grid_worker, grid_worker_phone, party_branch, attributes,
       ST_Translate(geom, :dx, 0), area_m2, valid_from
FROM regions WHERE valid_to IS NULL AND code LIKE :like
"""


def province(engine: Engine, grids: int) -> None:
    """``grids`` grids (a multiple of the county size) in counties side by side."""
    counties = -(-grids // PER_COUNTY)
    per = grids // counties
    if per * counties != grids or per % 100:
        raise SystemExit(f"--grids: {counties} counties of a multiple of 100 grids each")
    add_county(engine, per)
    with engine.begin() as conn:
        for c in range(1, counties):
            county = f"{int(COUNTY) + c}"
            dx = c * COLUMNS * CELL[0] * 1.001
            conn.execute(text(_COPY), {"county": county, "dx": dx, "like": f"{COUNTY}%"})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE regions"))


def build(url: str) -> dict[str, Any]:
    """One build, in this process: each step's seconds, the file's size, the peak RSS."""
    from gis.query import lookup_file

    try:
        from gis.query.lookup_arrays import read_arrays
    except ImportError:  # --before the arrays had a module of their own
        try:
            from gis.query.lookup_index import read_arrays
        except ImportError:  # --before a commit that reads the levels apart, interleaved
            from gis.query.lookup_index import index_arrays, read_rows

            def read_arrays(conn: Any, version: int) -> Any:
                return index_arrays(read_rows(conn, version))

    try:  # the builder's heap as gis.query.lookup.write_index keeps it
        from gis.query.apart import lean_heap
    except ImportError:  # --before it was kept lean
        lean_heap = contextlib.nullcontext

    engine = make_engine(url)
    with lean_heap(), engine.connect() as conn:
        version = conn.scalar(text("SELECT max(number) FROM boundary_versions"))
        started = time.perf_counter()
        arrays = read_arrays(conn, version)
        made = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "v.idx"
            lookup_file.write(path, arrays, {"database": "bench", "version": version})
            size = path.stat().st_size
        done = time.perf_counter()
    engine.dispose()
    return {
        "read_arrays_s": made - started,
        "write_s": done - made,
        "total_s": done - started,
        "file_mib": size / 2**20,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(url: str, source: Path | None = None) -> dict[str, Any]:
    """:func:`build` in a fresh process (with the ``gis`` package under ``source``)."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = f"{source}{os.pathsep}{ROOT}"
    command = [sys.executable, __file__, "--role", "build", "--url", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=source)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def old_source(commit: str) -> Path:
    """The ``gis`` package of ``commit``, unpacked in a temporary folder, with our build of
    each compiled module whose C source is the same there (another one cannot be used)."""
    folder = Path(tempfile.mkdtemp(prefix="lookup_build_"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "gis"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    for source in folder.glob("gis/**/*.c"):
        ours = ROOT / source.relative_to(folder)
        if not ours.exists() or ours.read_bytes() != source.read_bytes():
            raise SystemExit(f"--before {commit}: {ours.relative_to(ROOT)} differs from ours")
        for built in ours.parent.glob(f"{ours.stem}.*.so"):
            shutil.copy2(built, source.parent / built.name)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--before", help="a commit whose build is measured too (first size)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="builds of the first size (with --before: in turns)"
    )
    parser.add_argument("--role", choices=("build",))
    parser.add_argument("--url")
    args = parser.parse_args(argv)
    if args.role:
        print(json.dumps(build(args.url)))
        return 0
    loads = [load_average()]
    lines = heading(
        "Lookup index build at a province's size",
        ".venv/bin/python bench/lookup_build.py --grids "
        + " ".join(str(g) for g in args.grids)
        + (f" --before {args.before}" if args.before else "")
        + (f" --rounds {args.rounds}" if args.rounds > 1 else ""),
    )
    m = machine()
    table = [
        "| grids | regions | read + arrays s | write s | total s | file MiB | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, grids in enumerate(args.grids):
        url, _ = bench_database(Settings(), f"lookup_build_{grids}")
        try:
            create_database(url)
            migrate(url)
            engine = make_engine(url)
            started = time.perf_counter()
            province(engine, grids)
            with engine.connect() as conn:
                regions = conn.scalar(text("SELECT count(*) FROM regions"))
            engine.dispose()
            spent = time.perf_counter() - started
            print(f"{grids} grids written in {spent:.0f} s", file=sys.stderr)
            runs = []
            for _ in range(args.rounds if i == 0 else 1):
                runs.append(("this commit", measure(url)))
                if args.before and i == 0:
                    runs.append((args.before, measure(url, old_source(args.before))))
            for name, r in runs:
                print(name, grids, json.dumps(r), file=sys.stderr)
                label = spaced(grids) + ("" if name == "this commit" else f" ({name})")
                table.append(
                    f"| {label} | {spaced(regions)} | {r['read_arrays_s']:.1f} "
                    f"| {r['write_s']:.1f} | **{r['total_s']:.1f}** | {r['file_mib']:.0f} "
                    f"| {r['peak_mib']:.0f} |"
                )
        finally:
            drop_databases([url])
        loads.append(load_average())
    lines += [
        f"{git_state()}; {m['nproc']} cores, {m['cpu']}; load average at start {loads[0]}, "
        f"after each size {' / '.join(loads[1:])}",
        "",
        *table,
        "",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
