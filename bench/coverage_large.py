"""Coverage and grid standards of a 100 000-grid county (issue 16: ≤ 5 s, results paged).

Data: a throw-away database (migrated, empty) with the synthetic county of
``tests/large_city.py`` — ``--grids`` square grids of ~100 vertices (100 to a community, 10
communities to a street), ``--buildings`` buildings with households per grid, one 党群服务站
(500 m) per community and an online or offline camera every 10 grids — ANALYZEd.

Measured, in one run, side by side per round (``--rounds``, medians):

* **gridmap** — ``gis.analysis.report.coverage`` (centres, cameras) and ``grid_standards``
  in-process, as ``GET /api/v1/analysis/…`` runs them: the first page (1 000 grids) and the
  page starting at grid 90 000 (keyset cursor);
* **PostGIS peer** — the same headline figures in one set-based statement each: households
  covered by a station (``ST_DWithin`` on geography, ``EXISTS``) and the grids no station
  reaches — what the analysis answers besides its per-grid rows, blind spots and
  redundancy.  Both are checked to agree.

Printed: load average at start and end, the seconds per case, the ratio gridmap / peer; the
markdown goes to ``--results`` (default: printed only).

Usage::

    .venv/bin/python bench/coverage_large.py [--grids 100000] [--buildings 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT, bench_database, drop_databases, git_state, machine, server_versions
from sqlalchemy import text

from gis.analysis import paging, report
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate

sys.path.insert(0, str(ROOT / "tests"))
from large_city import COUNTY, add_county

NEAR = "ST_DWithin({a}.geom, c.geom, c.radius_m / 90000.0) AND "
"""The GiST index's first cut: 1° is over 90 km near 30°N both ways, so the degree bound
holds every pair within the radius; the geography test decides."""
PEER_COVERED = f"""
SELECT sum(households) FROM addresses a WHERE households IS NOT NULL AND EXISTS
  (SELECT 1 FROM centres c WHERE {NEAR.format(a="a")}
   ST_DWithin(a.geom::geography, c.geom::geography, c.radius_m))
"""
PEER_UNREACHED = f"""
SELECT count(*) FROM regions g WHERE g.level = 'grid' AND g.valid_to IS NULL
  AND g.code LIKE '{COUNTY}%' AND NOT EXISTS (SELECT 1 FROM centres c
  WHERE {NEAR.format(a="g")} ST_DWithin(g.geom::geography, c.geom::geography, c.radius_m))
"""


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--buildings", type=int, default=3, help="per grid")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", type=Path, help="also append the markdown here")
    args = parser.parse_args(argv)
    settings = Settings(analysis_max_grids=args.grids, analysis_max_buildings=10_000_000)
    start_load = load()
    url, _ = bench_database(settings, "coverage_large")
    create_database(url)
    try:
        migrate(url)
        engine = make_engine(url)
        made, _ = timed(
            lambda: add_county(
                engine, args.grids, buildings=args.buildings, centre_every=1, camera_every=10
            )
        )
        print(f"county of {args.grids} grids made in {made:.1f} s", flush=True)
        with engine.connect() as conn:
            codes = conn.scalars(
                text(
                    "SELECT code FROM regions WHERE level = 'grid' AND valid_to IS NULL "
                    'ORDER BY code COLLATE "C"'
                )
            ).all()
            later = paging.encode(codes[int(len(codes) * 0.9) - 1])
            pages = {"first page": paging.GridPage(), "page at 90 %": paging.GridPage(1000, later)}
            cases: dict[str, Callable[[], object]] = {}
            for name, page in pages.items():
                for layer in ("centres", "cameras"):
                    cases[f"coverage {layer}, {name}"] = lambda layer=layer, page=page: (
                        report.coverage(conn, COUNTY, layer, settings, page)
                    )
                cases[f"grid standards, {name}"] = lambda page=page: report.grid_standards(
                    conn, COUNTY, settings, page
                )
            cases["peer: covered households (PostGIS)"] = lambda: conn.scalar(text(PEER_COVERED))
            cases["peer: unreached grids (PostGIS)"] = lambda: conn.scalar(text(PEER_UNREACHED))
            seconds: dict[str, list[float]] = {name: [] for name in cases}
            answers: dict[str, object] = {}
            for r in range(args.rounds):
                for name, fn in cases.items():
                    took, answers[name] = timed(fn)
                    seconds[name].append(took)
                    print(f"round {r + 1}: {name}: {took:.2f} s", flush=True)
            ours = answers["coverage centres, first page"]
            assert isinstance(ours, dict)
            assert (
                ours["totals"]["covered_households"]
                == answers["peer: covered households (PostGIS)"]
            )
            standards = report.grid_standards(conn, COUNTY, settings)
            unreached = sum("no_centre_in_reach" in g["problems"] for g in standards["grids"])
            assert unreached == answers["peer: unreached grids (PostGIS)"]
            versions = server_versions(url)
        engine.dispose()
    finally:
        drop_databases([url])
    median = {name: statistics.median(s) for name, s in seconds.items()}
    peer = median["peer: covered households (PostGIS)"] + median["peer: unreached grids (PostGIS)"]
    m = machine()
    lines = [
        f"## Coverage and grid standards of a {args.grids:,}-grid county".replace(",", " "),
        "",
        "```",
        f".venv/bin/python bench/coverage_large.py --grids {args.grids} "
        f"--buildings {args.buildings} --rounds {args.rounds}",
        "```",
        "",
        f"{git_state()}; {m['nproc']} cores ({m['cpu']}), Python {m['python']}, {versions}; "
        f"load average {start_load} at start, {load()} at end.",
        "",
        f"Data: {args.grids} grids, {args.grids * args.buildings} buildings, "
        f"{args.grids // 100} stations, {args.grids // 10} cameras (one county). "
        "Medians of the rounds; every page answers the whole county's totals.",
        "",
        "| case | seconds (median) | rounds | ≤ 5 s | / PostGIS peer |",
        "|---|---:|---|---|---:|",
    ]
    for name, s in seconds.items():
        rounds = ", ".join(f"{v:.2f}" for v in s)
        goal = "" if name.startswith("peer") else ("met" if median[name] <= 5 else "not met")
        ratio = "" if name.startswith("peer") else f"{median[name] / peer:.1f}×"
        lines.append(f"| {name} | {median[name]:.2f} | {rounds} | {goal} | {ratio} |")
    text_out = "\n".join(lines) + "\n"
    print(text_out)
    if args.results:
        with args.results.open("a", encoding="utf-8") as out:
            out.write("\n" + text_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
