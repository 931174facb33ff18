"""Coverage and grid standards of a 100 000-grid county (issue 16: ≤ 5 s, results paged).

Data: a throw-away database (migrated, empty) with the synthetic county of
``tests/large_city.py`` — ``--grids`` square grids of ~100 vertices (100 to a community, 10
communities to a street), ``--buildings`` buildings with households per grid, one 党群服务站
(500 m) per community and an online or offline camera every 10 grids — ANALYZEd.

Measured, in one run, side by side per round (``--rounds``, medians), in-process as
``GET /api/v1/analysis/…`` runs them, for the coverage by centres, by cameras and the grid
standards:

* **first page** (1 000 grids) with nothing stored: the whole county computed and stored
  (``gis.analysis.stored``);
* **page 10** (grids 9 001–10 000, keyset cursor): read from the stored result;
* **first page after a centre moved** (a camera, for the camera coverage): the facility is
  moved in SQL, so its stamp changes and the county is computed again — from the stored
  inputs (grids, placed buildings) and the last result, only the grids the moved facility
  meets measured again (the grid standards read the grids' rows and the near polygons);
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
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    ROOT,
    bench_database,
    drop_databases,
    git_state,
    heading,
    load_average,
    machine,
    publish,
    server_versions,
    spaced,
)
from sqlalchemy import Connection, Engine, text

from gis.analysis import paging, report, standards
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


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


MOVE = (
    "UPDATE {table} SET geom = ST_Translate(geom, :d, 0) WHERE id = (SELECT min(id) FROM {table})"
)
"""A facility moved 0.0001° (~10 m) east or back: one write, a new stamp."""


def cases(
    engine: Engine, conn: Connection, settings: Settings
) -> dict[str, Callable[[], tuple[float, object]]]:
    """The measured calls by name, in the order of a round."""
    codes = conn.scalars(
        text(
            "SELECT code FROM regions WHERE level = 'grid' AND valid_to IS NULL "
            'ORDER BY code COLLATE "C"'
        )
    ).all()
    first, tenth = (
        paging.GridPage(),
        paging.GridPage(1000, paging.encode(codes[min(8999, len(codes) - 1001)])),
    )
    moves = {"centres": 0, "cameras": 0}

    def forget() -> None:
        with engine.begin() as writer:
            writer.execute(text("DELETE FROM analysis_results"))

    def move(table: str) -> None:
        moves[table] += 1
        with engine.begin() as writer:
            writer.execute(text(MOVE.format(table=table)), {"d": (-1) ** moves[table] * 1e-4})

    def call(
        run: Callable[[paging.GridPage], object],
        page: paging.GridPage,
        before: Callable[[], None] | None = None,
    ) -> Callable[[], tuple[float, object]]:
        def measured() -> tuple[float, object]:
            if before:
                before()
            conn.commit()
            start = time.perf_counter()
            out = run(page)
            return time.perf_counter() - start, out

        return measured

    out: dict[str, Callable[[], tuple[float, object]]] = {}
    runs: dict[str, tuple[str, Callable[[paging.GridPage], object]]] = {
        "coverage centres": (
            "centres",
            lambda p: report.coverage(conn, COUNTY, "centres", settings, p),
        ),
        "coverage cameras": (
            "cameras",
            lambda p: report.coverage(conn, COUNTY, "cameras", settings, p),
        ),
        "grid standards": (
            "centres",
            lambda p: standards.grid_standards(conn, COUNTY, settings, p),
        ),
    }
    for name, (table, run) in runs.items():
        out[f"{name}, first page (computed, stored)"] = call(run, first, forget)
        out[f"{name}, page 10 (stored)"] = call(run, tenth)
        moved = "a camera" if table == "cameras" else "a centre"
        out[f"{name}, first page after {moved} moved"] = call(run, first, lambda t=table: move(t))
    for name, sql in (("covered households", PEER_COVERED), ("unreached grids", PEER_UNREACHED)):
        out[f"peer: {name} (PostGIS)"] = call(lambda _p, sql=sql: conn.scalar(text(sql)), first)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--buildings", type=int, default=3, help="per grid")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", type=Path, help="also append the markdown here")
    args = parser.parse_args(argv)
    settings = Settings(analysis_max_grids=args.grids, analysis_max_buildings=10_000_000)
    start_load = load_average()
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
            measured = cases(engine, conn, settings)
            seconds: dict[str, list[float]] = {name: [] for name in measured}
            for r in range(args.rounds):
                for name, fn in measured.items():
                    took, _ = fn()
                    seconds[name].append(took)
                    print(f"round {r + 1}: {name}: {took:.2f} s", flush=True)
            ours = report.coverage(conn, COUNTY, "centres", settings)
            assert ours["totals"]["covered_households"] == conn.scalar(text(PEER_COVERED))
            whole = standards.grid_standards(conn, COUNTY, settings)
            unreached = sum("no_centre_in_reach" in g["problems"] for g in whole["grids"])
            assert unreached == conn.scalar(text(PEER_UNREACHED))
            versions = server_versions(url)
        engine.dispose()
    finally:
        drop_databases([url])
    median = {name: statistics.median(s) for name, s in seconds.items()}
    peer = median["peer: covered households (PostGIS)"] + median["peer: unreached grids (PostGIS)"]
    m = machine()
    lines = [
        *heading(
            f"Coverage and grid standards of a {spaced(args.grids)}-grid county",
            f".venv/bin/python bench/coverage_large.py --grids {args.grids} "
            f"--buildings {args.buildings} --rounds {args.rounds}",
        ),
        f"{git_state()}; {m['nproc']} cores ({m['cpu']}), Python {m['python']}, {versions}; "
        f"load average {start_load} at start, {load_average()} at end.",
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
        ratio = "" if name.startswith("peer") else f"{median[name] / peer:.2f}×"
        lines.append(f"| {name} | {median[name]:.2f} | {rounds} | {goal} | {ratio} |")
    publish(lines, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
