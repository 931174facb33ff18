"""Map pages of large regions (issue 16): a county of 100 000 grids opens from vector tiles
within 2 s in Chromium; where inline GeoJSON stops opening within 2 s (the threshold,
``gis.web.page_data.INLINE_MAX_REGIONS``).

Data: throw-away databases (migrated, empty) with the synthetic county of
``tests/large_city.py`` (square grids of ~100 vertices, 100 to a community, 10 communities to
a street): **large** with ``--grids`` grids (default 100 000), **curve** with 5 000.

Measured, in one run:

* the app under uvicorn (2 workers) over **large**: ``/maps/region/<code>`` of the county
  (vector tiles: ``window.gridmapIdle``), of a street (1 011 regions, inline) and of a
  community (101 regions, inline) — *open* = ``performance.now()`` when the page is drawn
  (MapLibre's first idle; for the inline page every ``path.gm-grid`` present), from
  navigation start, so the server's answer is in it.  Each page ``--loads`` times in a
  fresh context; the county's first load makes its tiles (cold), the others are served
  them (warm).  Tile requests and HTML bytes are counted.
* the inline (Folium) page of the 5 000-grid county (5 056 regions), built in-process as
  ``/maps/region`` would inline it (``region_map`` + ``page_html``), its build time, and
  opened from a static server — the cost of inlining above the threshold.

Printed: load average at start and end, a table per page (median open, cold open, HTML
bytes, tile requests); ``--results FILE`` appends the markdown.

Usage::

    .venv/bin/python bench/map_scale_large.py [--grids 100000] [--loads 4]
    .venv/bin/python bench/map_scale_large.py --database-url postgresql+psycopg://…/province

With ``--database-url`` the pages are a loaded province's (kept): ``/maps`` of the whole
province, its first county, street and community; no inline page is generated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
from common import (
    ROOT,
    bench_database,
    drop_databases,
    git_state,
    heading,
    load_average,
    machine,
    publish,
)
from playwright.sync_api import sync_playwright
from sqlalchemy import text

from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate
from gis.web.page import map_options, page_html
from gis.web.region_page import region_map

sys.path.insert(0, str(ROOT / "tests"))
from browser import guarded_page, launch, serve_directory
from large_city import COUNTY, add_county
from support import serve_app

VECTOR_IDLE = "() => window.gridmapIdle === true"
INLINE_DRAWN = "() => document.querySelectorAll('path.gm-grid').length === {n}"


def open_page(browser: object, url: str, drawn: str) -> tuple[float, int]:
    """(ms from navigation start until ``drawn`` holds, tile requests) in a fresh context."""
    context, log = guarded_page(browser, viewport={"width": 1280, "height": 800})
    tiles: list[str] = []
    log.page.on("request", lambda r: tiles.append(r.url) if ".mvt" in r.url else None)
    try:
        log.page.goto(url, timeout=120_000)
        log.page.wait_for_function(drawn, timeout=120_000, polling="raf")
        ms = float(log.page.evaluate("() => performance.now()"))
        problems = log.problems()
    finally:
        context.close()
    if problems:
        raise RuntimeError(f"{url}: {problems}")
    return ms, len(tiles)


def county_db(settings: Settings, name: str, grids: int, urls: list[str]) -> str:
    url, _ = bench_database(settings, name)
    create_database(url)
    urls.append(url)
    migrate(url)
    engine = make_engine(url)
    try:
        add_county(engine, grids)
    finally:
        engine.dispose()
    return url


def inline_row(
    browser: object, site: object, curve: str, settings: Settings, args: argparse.Namespace
) -> str:
    """The inline (Folium) page of the ``--curve-grids`` county, built in-process as
    ``/maps/region`` would inline it and opened from a static server: the table's row."""
    engine = make_engine(curve)
    try:
        start = time.perf_counter()
        with engine.connect() as conn:
            options = map_options(conn, "none")
            m = region_map(conn, settings, COUNTY, options)
        html = page_html(m, settings, inline=True)
        built = time.perf_counter() - start
    finally:
        engine.dispose()
    url = site.publish("inline.html", html)
    drawn = INLINE_DRAWN.format(n=args.curve_grids)
    ms = [open_page(browser, url, drawn)[0] for _ in range(max(2, args.loads // 2))]
    total = built * 1000 + statistics.median(ms)
    return (
        f"| inline page of the {args.curve_grids}-grid county (5 056 regions; built "
        f"in-process {built:.1f} s, static file) | {len(html.encode()) / 1e6:.2f} | "
        f"{ms[0]:.0f} | {statistics.median(ms):.0f} | {', '.join(f'{v:.0f}' for v in ms)} "
        f"| 0 | {'met' if total <= 2000 else 'not met'} (build + open {total:.0f} ms) |"
    )


def province_pages(url: str) -> list[tuple[str, str, str]]:
    """The pages of a province already loaded: the whole province and its first county
    (vector tiles above the threshold), a street and a community (inline: every grid drawn)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    text("SELECT level, count(*) FROM regions WHERE valid_to IS NULL GROUP BY 1")
                ).all()
            )
            first = {
                level: conn.execute(
                    text(
                        "SELECT r.code, (SELECT count(*) FROM regions g WHERE g.level = 'grid' "
                        "AND g.valid_to IS NULL AND g.code LIKE r.code || '%') FROM regions r "
                        "WHERE r.level = :l AND r.valid_to IS NULL ORDER BY r.code LIMIT 1"
                    ),
                    {"l": level},
                ).one()
                for level in ("county", "street", "community")
            }
    finally:
        engine.dispose()
    county, street, community = first["county"], first["street"], first["community"]
    return [
        (f"the whole province ({counts['grid']} grids, vector tiles)", "", VECTOR_IDLE),
        (f"county {county[0]} ({county[1]} grids, vector tiles)", county[0], VECTOR_IDLE),
        (
            f"street {street[0]} ({street[1]} grids, inline)",
            street[0],
            INLINE_DRAWN.format(n=street[1]),
        ),
        (
            f"community {community[0]} ({community[1]} grids, inline)",
            community[0],
            INLINE_DRAWN.format(n=community[1]),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--curve-grids", type=int, default=5000)
    parser.add_argument("--loads", type=int, default=4)
    parser.add_argument("--results", type=Path)
    parser.add_argument(
        "--database-url", help="a database holding a province: its pages instead (kept)"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    start_load = load_average()
    urls: list[str] = []
    rows: list[str] = []
    try:
        if args.database_url:
            large, curve = args.database_url, None
        else:
            large = county_db(settings, "map_large", args.grids, urls)
            curve = county_db(settings, "map_curve", args.curve_grids, urls)
        workdir = Path(tempfile.mkdtemp(prefix="map_scale_large_"))
        with (
            sync_playwright() as playwright,
            serve_app(large, workdir / "app.log", workers=2) as base,
            serve_directory(workdir) as site,
        ):
            browser = launch(playwright)
            pages = (
                province_pages(large)
                if curve is None
                else [
                    (f"county {COUNTY} ({args.grids} grids, vector tiles)", COUNTY, VECTOR_IDLE),
                    (
                        f"street {COUNTY}001 (1 011 regions, inline)",
                        f"{COUNTY}001",
                        INLINE_DRAWN.format(n=1000),
                    ),
                    (
                        f"community {COUNTY}001001 (101 regions, inline)",
                        f"{COUNTY}001001",
                        INLINE_DRAWN.format(n=100),
                    ),
                ]
            )
            for name, code, drawn in pages:
                url = f"{base}/maps" + (f"/region/{code}" if code else "")
                size = len(httpx.get(url, timeout=120).content)
                opens = [open_page(browser, url, drawn) for _ in range(args.loads)]
                ms = [o[0] for o in opens]
                warm = statistics.median(ms[1:]) if len(ms) > 1 else ms[0]
                rows.append(
                    f"| {name} | {size / 1e6:.2f} | {ms[0]:.0f} | {warm:.0f} | "
                    f"{', '.join(f'{v:.0f}' for v in ms)} | {opens[0][1]} | "
                    f"{'met' if warm <= 2000 else 'not met'} |"
                )
                print(rows[-1], flush=True)
            if curve is not None:
                rows.append(inline_row(browser, site, curve, settings, args))
                print(rows[-1], flush=True)
            browser.close()
    finally:
        drop_databases(urls)
    m = machine()
    lines = [
        *heading(
            "Map pages of large regions: vector tiles above the inline threshold",
            f".venv/bin/python bench/map_scale_large.py --grids {args.grids} --loads {args.loads}",
        ),
        f"{git_state()}; {m['nproc']} cores ({m['cpu']}), Python {m['python']}; load average "
        f"{start_load} at start, {load_average()} at end.  Open = ms from navigation start until "
        "drawn (MapLibre's first idle, or every grid path of an inline page), headless "
        "Chromium 1280×800, a fresh context per load; the first load of the county makes its "
        "tiles (cold), the next are served them (warm = median of the others).",
        "",
        "| page | HTML MB | first (cold) ms | warm ms | every load ms | tile requests | ≤ 2 s |",
        "|---|---:|---:|---:|---|---:|---|",
        *rows,
    ]
    publish(lines, args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
