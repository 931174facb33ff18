"""The shared lookup index: build time, memory per worker, and lookup speed, mapped vs in-process.

One run, one synthetic county of ``--grids`` square grids of ~100 vertices each
(``tests/large_city.py``: 100 grids to a community, 10 communities to a street), in a
throw-away database.  Three kinds of process, each started fresh (``--role``), measured one
after the other on the same database and the same points:

* **build** — what one process of the machine does once per version: read the regions
  and make the arrays a level at a time (``read_arrays``: WKB, records, cell indexes of four
  levels), write the file (``gis.query.lookup_file.write``); each step timed, peak RSS.
* **mapped** — what each worker does: map the file (``load_index``), answer ``--singles``
  single points (``GridIndex.answers`` of one point, as the route does) and one batch of
  ``--points`` points (``GridIndex.covering``, the batch path ``bench/lookup_batch.py``
  measures); USS (private pages: what one more worker costs), PSS and RSS before and after,
  from ``/proc/self/smaps_rollup``, while the benchmark's own process holds the file mapped and
  read (as another worker would: pages mapped by two processes are no one's private pages).
* **in-process** — the same with the index as it was before the shared file (the lookup
  module of commit ``BEFORE``, loaded from git: shapely prepared polygons, STRtrees, a cell
  index per level, all in the worker).

Points (seeded): uniform over the county's bounding box plus 2 % on every side.  Prints a
markdown section for ``bench/results/issue16-B.md`` with the machine's load average at the
start and the end.

Usage::

    .venv/bin/python bench/lookup_index.py [--grids 100000] [--points 1000000] [--singles 20000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, bench_database, drop_databases, git_state, heading, machine, spaced
from sqlalchemy import text

from gis.query.lookup import load_index
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate

sys.path.insert(0, str(ROOT / "tests"))
from large_city import CELL, ORIGIN, add_county

BEFORE = "1a05de2^"
"""The commit whose in-process lookup index the mapped one is compared with."""


def memory() -> dict[str, float]:
    """This process's RSS, PSS and USS in MiB."""
    fields: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) / 1024
    return {
        "rss": fields["Rss"],
        "pss": fields["Pss"],
        "uss": fields["Private_Clean"] + fields["Private_Dirty"],
    }


def points(grids: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points over the county's box and 2 % around it."""
    columns = min(grids, 200)
    rows = -(-grids // columns)
    x1, y1 = ORIGIN[0] + columns * CELL[0], ORIGIN[1] + rows * CELL[1]
    mx, my = (x1 - ORIGIN[0]) * 0.02, (y1 - ORIGIN[1]) * 0.02
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(ORIGIN[0] - mx, x1 + mx, n),
        rng.uniform(ORIGIN[1] - my, y1 + my, n),
    )


def old_lookup() -> Any:
    """The lookup module of :data:`BEFORE`, imported from its source."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BEFORE}:gis/query/lookup.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "lookup_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("lookup_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def role(args: argparse.Namespace) -> dict[str, Any]:
    """Run one measured process's part (see the module) and return its figures."""
    from gis.query import lookup_file
    from gis.query.lookup import load_index
    from gis.query.lookup_arrays import read_arrays
    from gis.store.board import OID_SQL, database_key, lookup_folder

    engine = make_engine(args.url)
    out: dict[str, Any] = {"before": memory()}
    with engine.connect() as conn:
        version = conn.scalar(text("SELECT max(number) FROM boundary_versions"))
        started = time.perf_counter()
        if args.role == "build":
            arrays = read_arrays(conn, version)  # read a level at a time, interleaved
            made = time.perf_counter()
            oid = int(conn.scalar(text(OID_SQL)))
            folder = lookup_file.index_folder(lookup_folder(args.url, oid))
            meta = {"database": database_key(args.url, oid), "version": version}
            lookup_file.write(folder / f"v{version}.idx", arrays, meta)
            done = time.perf_counter()
            size = (folder / f"v{version}.idx").stat().st_size
            out |= {"read_arrays_s": made - started, "write_s": done - made}
            out |= {"file_mib": size / 2**20, "peak_rss_mib": _peak_rss()}
            return out
        if args.role == "mapped":
            index = load_index(conn, version)
        else:
            index = old_lookup().GridIndex.load(conn, version)
        out["load_s"] = time.perf_counter() - started
    out["loaded"] = memory()
    lon, lat = points(args.grids, args.singles, 1)
    spent: dict[bool, list[float]] = {True: [], False: []}
    for x, y in zip(lon.tolist(), lat.tolist(), strict=True):
        started = time.perf_counter()
        covered = index.answers(np.array([x]), np.array([y]))[0]["covered"]
        spent[covered].append(time.perf_counter() - started)
    for covered, name in ((True, "inside"), (False, "outside")):
        times = np.array(spent[covered]) * 1e6
        out[f"single_{name}"] = [
            len(times),
            float(np.median(times)),
            float(np.percentile(times, 99)),
        ]
    out["singles"] = memory()
    lon, lat = points(args.grids, args.points, 2)
    started = time.perf_counter()
    found = index.covering(lon, lat)
    out["batch_s"] = time.perf_counter() - started
    out["batch_checksum"] = int(found.sum())
    out["after"] = memory()
    engine.dispose()
    return out


def _peak_rss() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, args: argparse.Namespace, which: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--role", which, "--url", url]
    command += ["--grids", str(args.grids), "--points", str(args.points)]
    command += ["--singles", str(args.singles)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{which} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(args: argparse.Namespace, load: tuple[str, str], r: dict[str, Any]) -> str:
    build, mapped, old = r["build"], r["mapped"], r["in-process"]
    build_s = build["read_arrays_s"] + build["write_s"]
    lines = heading(
        f"Shared lookup index: {spaced(args.grids)} grids",
        f".venv/bin/python bench/lookup_index.py --grids {args.grids} --points {args.points} "
        f"--singles {args.singles}",
    )
    m = machine()
    lines += [
        f"{git_state()}; {m['nproc']} cores, {m['cpu']}; load average at start {load[0]}, "
        f"at end {load[1]}",
        "",
        f"- build (once per version per machine): {build_s:.1f} s = read and "
        f"arrays {build['read_arrays_s']:.1f} s + write "
        f"{build['write_s']:.1f} s; file {build['file_mib']:.0f} MiB; peak RSS of the "
        f"building process {build['peak_rss_mib']:.0f} MiB",
        "",
        "| per worker | mapped file | in-process (before) |",
        "|---|---|---|",
        f"| load | {mapped['load_s']:.2f} s | {old['load_s']:.2f} s |",
    ]
    for key in ("uss", "pss", "rss"):
        for after, when in (
            ("loaded", "loaded"),
            ("singles", "after the single lookups"),
            ("after", "after the batch too"),
        ):
            grow = [w[after][key] - w["before"][key] for w in (mapped, old)]
            lines.append(
                f"| {key.upper()} {when} − before | {grow[0]:.0f} MiB | {grow[1]:.0f} MiB |"
            )
    lines += [
        *(
            f"| single lookup `answers`, {mapped[k][0]} points {where}: median / p99 | "
            f"{mapped[k][1]:.0f} / {mapped[k][2]:.0f} µs | {old[k][1]:.0f} / {old[k][2]:.0f} µs |"
            for k, where in (
                ("single_inside", "in a grid"),
                ("single_outside", "outside (nearest)"),
            )
        ),
        f"| batch `covering` of {spaced(args.points)} points | {mapped['batch_s']:.2f} s | "
        f"{old['batch_s']:.2f} s ({old['batch_s'] / mapped['batch_s']:.2f}× mapped) |",
        "",
        f"Same answers: covered singles {mapped['single_inside'][0]} vs "
        f"{old['single_inside'][0]}, batch checksums "
        f"{'equal' if mapped['batch_checksum'] == old['batch_checksum'] else 'DIFFER'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--singles", type=int, default=20_000)
    parser.add_argument("--role", choices=("build", "mapped", "in-process"))
    parser.add_argument("--url")
    args = parser.parse_args(argv)
    if args.role:
        print(json.dumps(role(args)))
        return 0
    start_load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    url, _ = bench_database(Settings(), "lookup_index")
    urls = [url]
    try:
        create_database(url)
        migrate(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        add_county(engine, args.grids)
        engine.dispose()
        print(f"county of {args.grids} grids in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        results = {"build": measure(url, args, "build")}
        with make_engine(url).connect() as conn:  # another worker holding the file mapped
            held = load_index(conn, None)
        touched = sum(int(np.asarray(a).view(np.uint8)[::4096].sum()) for a in held.arrays.values())
        print(f"file held and touched ({touched})", file=sys.stderr)
        for which in ("mapped", "in-process"):
            results[which] = measure(url, args, which)
            print(which, json.dumps(results[which]), file=sys.stderr)
    finally:
        drop_databases(urls)
    end_load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(markdown(args, (start_load, end_load), results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
