"""Validation scale: one community's grids uploaded into the demo city and into a city of
100 000 grids — does the work stay proportional to the change?

Issue 12's acceptance: "validation of one community's grids in a database of 100 000 grids
stays within 2× of the same upload into an empty database".  An upload is checked against
what is stored (``gis.ingest.stored_checks``: same codes, regions of the level whose bounding box
meets the file's features, children of replaced regions) with index queries, so its time
should not grow with the regions stored elsewhere.

Two throw-away databases side by side on gridmap's server:

* **small** — migrated, the demo city loaded (``gis.store.seed.load_demo``: 1 county, 19 streets,
  12 communities, 66 grids), ANALYZEd;
* **large** — a copy of small (``CREATE DATABASE … TEMPLATE``) plus ``--grids`` synthetic
  grids (default 100 000) with their communities, streets and counties as one more boundary
  version, written by one ``INSERT … SELECT`` per level, then ANALYZEd.  The synthetic city
  lies near 110–111.6°E, 30–31.2°N (~1 250 km from the demo): squares of 0.004° × 0.003°
  (~380 m × 330 m), 100 (10 × 10) to a community, 10 communities (5 × 2) to a street,
  10 streets (2 × 5) to a county, codes under the county prefix 99.

The same uploads go into both, through ``gis.ingest.uploads.process_upload`` (a GeoJSON file of
the six grids of community 130227001001, re-read from ``data/boundaries/grids.geojson``):

* **dry run** — households changed on every grid and a vertex added in the middle of one edge
  of the first grid: six modified grids, no errors;
* **commit** — alternately the households +1 (and the extra vertex) and +2 (without it), so
  every commit is a real change (a new version in each database, six new rows);
* **doctor** — the original grids moved to GCJ-02 (as if copied from AMap) and sent as
  CRS84: six ``region_moved`` errors, and the CRS doctor runs and names ``gcj02`` (dry run).

Rounds alternate which database goes first; ``--warmup`` untimed rounds first.  Each report
is checked (status, errors, changes, the doctor's suggestion) and must be the same in both
databases.  Printed: median and p90 wall time per case and database, the ratio large/small
(goal ≤ 2×), the median time per upload phase (from ``process_upload``'s progress callback),
and the SQL statements that took the most time in the large database next to the small one
(SQLAlchemy cursor events; ``commit_regions``' COPY goes around them and is not counted).

Usage::

    .venv/bin/python bench/validation_scale.py [--grids 100000] [--rounds 15] [--warmup 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import shapely
from common import bench_database, git_state, machine, server_versions, spaced
from sqlalchemy import make_url
from validation_data import counts, make_databases, uploads
from validation_measure import CASES, READS, Series, Traced, measure, shortened

from gis.settings import get_settings
from gis.store.db import drop_database, make_engine
from gis.store.models import LEVELS

# --------------------------------------------------------------------------- the report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def table(series: dict[tuple[str, str], Series]) -> list[str]:
    lines = [
        "| case | small: median ms | p90 ms | large: median ms | p90 ms | "
        "ratio large/small (median) | ratio (p90) | goal ≤ 2× |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in CASES:
        s, big = series[(case, "small")], series[(case, "large")]
        ratio = big.median() / s.median()
        lines.append(
            f"| {case} | {ms(s.median())} | {ms(s.p90())} | {ms(big.median())} | "
            f"{ms(big.p90())} | {ratio:.2f}× | {big.p90() / s.p90():.2f}× | "
            f"{'met' if ratio <= 2 else '**not met**'} |"
        )
    return lines


def phase_table(series: dict[tuple[str, str], Series]) -> list[str]:
    names = list(dict.fromkeys(p for s in series.values() for r in s.runs for p in r.phases))
    lines = [
        "| case | db | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for case in CASES:
        for db in ("small", "large"):
            s = series[(case, db)]
            cells = [s.phase(p) for p in names]
            shown = ["–" if t is None else ms(t) for t in cells]
            lines.append(f"| {case} | {db} | " + " | ".join(shown) + " |")
    return lines


def sql_table(series: dict[tuple[str, str], Series], top: int) -> list[str]:
    lines = [
        "| case | statement | small ms | large ms |",
        "|---|---|---:|---:|",
    ]
    for case in CASES:
        small, large = series[(case, "small")].sql(), series[(case, "large")].sql()
        for group in sorted(large, key=lambda g: -large[g])[:top]:
            lines.append(
                f"| {case} | `{shortened(group)}` | {ms(small.get(group, 0.0))} | "
                f"{ms(large[group])} |"
            )
    return lines


def reads_table(traced: Traced) -> list[str]:
    lines = [
        "| case | db | seq scans | rows read by seq scans | index scans | rows fetched by index |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case in CASES:
        for db in ("small", "large"):
            totals = [sum(v[k] for v in traced[(case, db)].values()) for k in range(len(READS))]
            lines.append(f"| {case} | {db} | " + " | ".join(spaced(t) for t in totals) + " |")
    return lines


def seq_table(traced: Traced) -> list[str]:
    lines = [
        "| case | statement | rows read by seq scans: small | large |",
        "|---|---|---:|---:|",
    ]
    for case in CASES:
        small, large = traced[(case, "small")], traced[(case, "large")]
        for group in sorted(large, key=lambda g: -large[g][1]):
            if large[group][0]:
                rows = spaced(small.get(group, [0, 0])[1]), spaced(large[group][1])
                lines.append(f"| {case} | `{shortened(group)}` | {rows[0]} | {rows[1]} |")
    if len(lines) == 2:
        lines.append("| – | none: every read of `regions` went through an index | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=100_000, help="synthetic grids (× 100)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--top", type=int, default=4, help="SQL statements shown per case")
    parser.add_argument("--keep", action="store_true", help="keep the databases (print URLs)")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="leave the large database without statistics (as right after a bulk load)",
    )
    args = parser.parse_args(argv)
    if args.grids <= 0 or args.grids % 100:
        parser.error("--grids must be a positive multiple of 100 (whole communities)")

    settings = get_settings()
    urls = {db: bench_database(settings, f"val{db}")[0] for db in ("small", "large")}
    try:
        started = time.perf_counter()
        insert_s, analyze_s = make_databases(urls["small"], urls["large"], args.grids, args.analyze)
        built_s = time.perf_counter() - started
        sizes = {}
        for db, url in urls.items():
            engine = make_engine(url)
            try:
                sizes[db] = counts(engine)
            finally:
                engine.dispose()
        code = git_state()
        here = machine()
        env = (
            f"{here['cpu']} × {here['nproc']}, Python {here['python']}, "
            f"{server_versions(urls['small'])}, shapely {shapely.__version__}"
        )
        print(f"{env}; gridmap {code}", flush=True)
        for db in ("small", "large"):
            shown = ", ".join(f"{spaced(sizes[db].get(lv, 0))} {lv}" for lv in LEVELS)
            print(f"{db}: {make_url(urls[db]).database}: {shown}", flush=True)
        built = (
            f"built in {built_s:.1f} s: the synthetic {spaced(args.grids)} grids "
            f"with their parents inserted in {insert_s:.1f} s, "
            + (f"VACUUM ANALYZE {analyze_s:.1f} s" if args.analyze else "no ANALYZE")
        )
        print(f"databases {built}", flush=True)
        with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
            files = uploads(Path(tmp), settings.demo_dir)
            series, traced = measure(urls, files, args.rounds, args.warmup)
        print()
        print(
            f"`.venv/bin/python bench/validation_scale.py --grids {args.grids} "
            f"--rounds {args.rounds} --warmup {args.warmup}"
            + ("" if args.analyze else " --no-analyze")
            + f"` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {code}."
        )
        print()
        print(f"Machine: {env}. Databases: {built}.")
        print()
        print("\n".join(table(series)))
        print()
        print("Median ms per phase (`process_upload` progress steps, each up to the next):")
        print()
        print("\n".join(phase_table(series)))
        print()
        print("Reads of `regions` by one upload (the traced round; `pg_stat_xact_user_tables`):")
        print()
        print("\n".join(reads_table(traced)))
        print()
        print("Statements that scanned `regions` sequentially in the large database (traced):")
        print()
        print("\n".join(seq_table(traced)))
        print()
        print("SQL statements with the most time in the large database (median ms per upload):")
        print()
        print("\n".join(sql_table(series, args.top)))
    finally:
        if args.keep:
            for db, url in urls.items():
                print(f"kept {db}: {url}")
        else:
            for url in urls.values():
                try:
                    drop_database(url)
                except Exception as error:
                    print(f"could not drop {make_url(url).database}: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
