"""Address registry uploads at scale: gridmap's upload path beside ``ogr2ogr -f PostgreSQL``,
and this checkout beside another (``--peer``), in one run: seconds and peak memory.

The registry is the first ``--rows`` entries of ``--file`` (a GeoPackage such as a generated
province's ``addresses.gpkg``), cut once with ogr2ogr.  Each tool runs as its own process,
timed by ``/usr/bin/time`` (wall seconds, the process's peak RSS):

* **gridmap** — ``gridmap import FILE --kind addresses --commit`` into a fresh migrated
  database (no grids there: every point is "outside every grid", counted, the first of them
  listed), or, with ``--database-url``, a dry run against a loaded province (its grids
  checked, its registry compared, nothing kept but the upload's history row);
* **ogr2ogr** — the same file into a fresh database: read, COPY, spatial index; no checks.

Rounds alternate the order.  Prints the machine's load average at start and end.

    .venv/bin/python bench/address_upload.py --file /work/prov1m/addresses.gpkg --rows 1000000 \\
        --peer /tmp/before
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, bench_database, drop_databases, git_state, load_average
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from gis.settings import Settings
from gis.store.db import create_database, migrate


def timed(
    command: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GiB) and, when it failed, the last line of its error (else
    "") of ``command``; its own output is dropped."""
    done = subprocess.run(
        ["/usr/bin/time", "-f", "TIMED %e %M", *command],
        env=env,
        cwd=cwd,  # `python -c` puts its folder first on the path: the checkout's code runs
        capture_output=True,
        text=True,
    )
    lines = done.stderr.splitlines()
    line = [t for t in lines if t.startswith("TIMED ")]
    if not line:
        raise SystemExit(f"{command[:3]} did not run:\n{done.stderr[-3000:]}")
    seconds, kib = line[-1].split()[1:]
    said = [t for t in lines if "Error" in t or "ERROR" in t]
    failed = "" if done.returncode == 0 else (said[-1].strip() if said else "failed")[:200]
    return float(seconds), int(kib) / 2**20, failed


def fresh_database(settings: Settings, name: str, migrated: bool) -> str:
    url, _ = bench_database(settings, name)
    create_database(url)
    if migrated:
        migrate(url)
    else:  # ogr2ogr's: PostGIS only
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))
        engine.dispose()
    return url


def gridmap(checkout: Path, path: Path, url: str, commit: bool) -> tuple[float, float, str]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "GRIDMAP_DATABASE_URL": url}
    command = [sys.executable, "-c", "from api.cli import main; main()", "import", str(path)]
    return timed(
        [*command, "--kind", "addresses", *(["--commit"] if commit else [])], env, checkout
    )


def ogr2ogr(path: Path, url: str) -> tuple[float, float, str]:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    pg = f"PG:host={u.host} port={u.port} dbname={u.database} user={u.username}"
    env = {**os.environ, "PGPASSWORD": u.password or ""}
    return timed(["ogr2ogr", "-f", "PostgreSQL", pg, str(path), "-nln", "addresses"], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, required=True, help="a registry GeoPackage")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="a loaded province: gridmap dry-runs against it")
    parser.add_argument("--peer", type=Path, help="another checkout, side by side")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    settings = Settings()
    print(f"{git_state()}; load average at start: {load_average()}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="address-upload-"))
    cut = folder / "addresses.gpkg"
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(cut), str(args.file), "-limit", str(args.rows)], check=True
    )
    peers = {"gridmap": ROOT} | ({"gridmap (peer)": args.peer} if args.peer else {})
    results: dict[str, list[tuple[float, float, str]]] = {n: [] for n in [*peers, "ogr2ogr"]}
    made: list[str] = []
    try:
        for r in range(args.rounds):
            order = list(results) if r % 2 == 0 else list(results)[::-1]
            for name in order:
                url = args.database_url if name != "ogr2ogr" else None
                if url is None:
                    url = fresh_database(settings, name.split()[0][:8], name != "ogr2ogr")
                    made.append(url)
                if name == "ogr2ogr":
                    results[name].append(ogr2ogr(cut, url))
                else:
                    commit = args.database_url is None
                    results[name].append(gridmap(peers[name], cut, url, commit))
                if url in made:
                    drop_databases([url])
                    made.remove(url)
                seconds, gib, failed = results[name][-1]
                print(
                    f"round {r + 1} {name}: {seconds:.1f} s, peak {gib:.2f} GiB "
                    f"(load {load_average()}){' FAILED: ' + failed if failed else ''}",
                    flush=True,
                )
    finally:
        drop_databases(made)
        shutil.rmtree(folder, ignore_errors=True)
    floor = statistics.median(s for s, _, _ in results["ogr2ogr"])
    what = "dry run against the province" if args.database_url else "commit, fresh database"
    print(f"\n{args.rows} entries; gridmap: {what}\n")
    print("| tool | seconds (median) | × ogr2ogr | peak RSS (GiB, max) | failed |")
    print("|---|---:|---:|---:|---|")
    for name, runs in results.items():
        seconds = statistics.median(s for s, _, _ in runs)
        peak = max(g for _, g, _ in runs)
        failures = "; ".join(f for _, _, f in runs if f)
        print(f"| {name} | {seconds:.1f} | {seconds / floor:.2f}× | {peak:.2f} | {failures} |")
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
