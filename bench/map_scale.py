"""Map scale benchmark: a 七台河-sized city on one map page, gridmap vs a plain Folium page.

Goal (issue 6): a city of 824 grids + 13 centres + 2 567 cameras stays ≤ 2 MB of HTML and
renders in headless Chromium in ≤ 1.5 s.

Data (seeded, generated here; modelled on 七台河市: 824 urban grids of ~350 households,
62 communities, 13 party-service centres; 2 567 cameras as in 大连西岗区):

* a county (code 230900) shaped as a smooth blob of about 15 km × 12 km around
  131.0°E 45.77°N, split into ``--streets`` streets, 62 communities and 824 grids — Voronoi
  cells of Lloyd-relaxed seeded points, each level clipped to its parent's cell
  (communities apportioned to streets and grids to communities by area), all cut from one
  noded arrangement so that children tile their parent exactly; codes follow GB/T 2260
  (street 9 digits, community 12) and the grid scheme (community + 3-digit sequence, in
  reading order).  Every edge of the arrangement is densified to a vertex every
  ``--vertex-spacing-m`` metres and bent by a smooth displacement field (± 15 m over
  0.3–1.5 km, plus ± 1 m over 20–40 m), so that grids have the hundreds of vertices a
  digitised boundary has rather than a Voronoi cell's six; coordinates are full doubles, as
  after a CGCS2000 → WGS84 transformation.
* grid attributes: households from a triangular distribution 120–600 (mode 340; some
  below and about 8 % above the 150–500 band), population 2.3–2.9 per household, grid
  worker, phone and party branch — each missing in a few grids;
* 13 centres: one 党群服务中心 near the middle (level ``centre``) and 12 党群服务站 in 12
  communities (``station``), radii from the settings' defaults;
* 2 567 cameras with valid GB/T 28181 IDs (centre code 23090000, industry 00/01, type
  131/132, network 0, serial): 65 % around the compounds, 35 % anywhere; 枪机 (fov 40–90°,
  50–120 m), 球机 (360°, 60–120 m), 半球 (80–110°, 30–50 m); 5 % offline;
* an address registry: one compound per grid with buildings (units × floors × 2
  households) adding up to about the grid's households — the demand of the coverage figures.

Loaded into a throwaway database of gridmap's embedded cluster (or ``GRIDMAP_DATABASE_URL``'s
server): migrated, boundaries with ``commit_regions`` (one version), the registry with
``write_addresses``, centres and cameras with plain ``INSERT``s; dropped at the end.

Measured, in one run, on that database:

* **gridmap, link mode** — ``GET /maps`` of the app under uvicorn (started like the browser
  tests' ``support.serve_app``): HTML bytes and the server's time to answer (``--server-repeat``
  requests); the same page built in-process, timed by phase (``subtree``, the coverage
  reports for centres and for cameras, the rest of ``region_map``, Folium's render,
  ``offline_html``).
* **gridmap, export** — the file ``gridmap map export`` writes (run as a new process, timed;
  ``page_html(region_map(...), inline=True)``): Leaflet and the plugins inside, served by a
  static server.
* **peer** — what a straightforward Folium page of the same data looks like: one
  ``folium.GeoJson`` per level of the unsimplified polygons at full precision (grids with a
  ``GeoJsonTooltip`` and a ``GeoJsonPopup``, coloured by households), a ``folium.Circle``
  per centre, a ``folium.CircleMarker`` per camera and a ``folium.Polygon`` per online
  camera's sector (``gis.geo.geodesy.sector_polygons``, 10° steps as gridmap), each with a
  ``folium.Popup`` and/or a tooltip; Folium's CDN references rewritten by
  ``gis.web.map_assets.offline_html`` (Leaflet, and jQuery, which ``folium.Popup`` needs;
  Folium's bootstrap and font files dropped as gridmap drops them), in link mode (served with
  ``/vendor``) and inline.

Each page is loaded ``--loads`` times in headless Debian Chromium (``tests/browser.py``:
``launch``, ``guarded_page``; a fresh context per load, pages in rotating order, every
request off this machine aborted and recorded).  An init script polls on every animation
frame until ``path.gm-grid`` count equals the number of grids, then waits one more frame:
*drawn* is ``performance.now()`` then (milliseconds since navigation start); the response's
timing comes from ``PerformanceNavigationTiming``; the wall clock runs from ``page.goto``
until Playwright sees the mark.  After each load the drawn paths are counted per class
(grids, communities, centres, reaches, cameras, sectors …) and the guard's log is reported
(console errors, page errors, failed or external requests: it should be empty).  Medians.

Where the bytes go: each layer's share of gridmap's page (the page rendered without that
layer, subtracted), and the per-level vertices stored versus drawn (``SIMPLIFY_M``).  With
``--profile``, gridmap's page built without single layers is loaded too, to show where the
browser's time goes.

The markdown section is printed and appended to ``bench/RESULTS.md`` (``--no-append``: only
printed).

Usage::

    .venv/bin/python bench/map_scale.py [--loads 5] [--server-repeat 5] [--seed 20240601]
        [--profile] [--no-append]
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx
from common import ROOT, bench_database
from map_scale_browser import Page, gzip_size, run_loads
from map_scale_city import load_city, make_city
from map_scale_pages import (
    build_gridmap,
    drop,
    gridmap_variant,
    layer_names,
    memoized,
    peer_html,
    peer_map,
    vertices_by_level,
)
from map_scale_report import Results, environment, markdown
from playwright.sync_api import sync_playwright
from sqlalchemy import text

from gis.settings import get_settings
from gis.store.cluster import Cluster
from gis.store.db import create_database, drop_database, make_engine, migrate

sys.path.insert(0, str(ROOT / "tests"))
from browser import launch, serve_directory
from support import serve_app

# --------------------------------------------------------------------------- running

VARIANTS = (
    ("without camera sectors", drop("摄像机视场")),
    ("without camera points", drop("摄像机")),
    ("without cameras (points and sectors)", drop("摄像机视场", "摄像机")),
    ("without blind spots (hidden layer)", drop("服务盲区")),
    ("without communities, streets, county", drop("社区", "街道", "区县")),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=5, help="browser loads per page (≥ 5)")
    parser.add_argument("--server-repeat", type=int, default=5, help="builds / GETs of /maps")
    parser.add_argument("--streets", type=int, default=6, help="streets of the county")
    parser.add_argument(
        "--vertex-spacing-m", type=float, default=10.0, help="a vertex every … m on every edge"
    )
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the city")
    parser.add_argument(
        "--profile", action="store_true", help="also load gridmap's page without single layers"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per page load")
    parser.add_argument(
        "--no-append", action="store_true", help="print the section, do not append it"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)

    settings = get_settings()
    url, started = bench_database(settings, "map_scale")
    load_before = os.getloadavg()[0]
    create_database(url)
    engine = None
    try:
        migrate(url)
        engine = make_engine(url)
        t = time.perf_counter()
        city = make_city(args.streets, args.vertex_spacing_m, args.seed)
        t_city = time.perf_counter() - t
        load_city(engine, city)
        print(
            f"city: {len(city.grids)} grids, {len(city.centres)} centres, "
            f"{len(city.cameras)} cameras, {len(city.addresses)} buildings (generated in "
            f"{t_city:.1f} s, loaded in {time.perf_counter() - t - t_city:.1f} s)",
            flush=True,
        )
        with engine.connect() as conn:
            env = environment(conn)
            county_km2 = conn.scalar(text("SELECT area_m2 FROM regions WHERE level = 'county'"))
            levels = vertices_by_level(conn)
            builds = []
            for i in range(args.server_repeat):
                builds.append(build_gridmap(conn, settings))
                print(
                    f"gridmap build {i + 1}: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in builds[-1].items()),
                    flush=True,
                )
            t = time.perf_counter()
            peer_link = peer_html(peer_map(conn, settings), settings, inline=False)
            peer_build_s = time.perf_counter() - t
            peer_inline = peer_html(peer_map(conn, settings), settings, inline=True)
            print(f"peer: built in {peer_build_s:.1f} s", flush=True)
            with memoized():
                full = gridmap_variant(conn, settings)
                names = layer_names(conn, settings)
                layer_bytes = [
                    (n, len(full.encode()) - len(gridmap_variant(conn, settings, drop(n)).encode()))
                    for n in names
                ]
                variants_html = []
                if args.profile:
                    variants_html = [("full page", full)] + [
                        (title, gridmap_variant(conn, settings, modify))
                        for title, modify in VARIANTS
                    ]
        with tempfile.TemporaryDirectory(prefix="map-scale-") as tmp:
            root = Path(tmp) / "site"
            root.mkdir()
            (root / "vendor").symlink_to(settings.vendor_dir)
            export_path = root / "export.html"
            t = time.perf_counter()
            done = subprocess.run(
                [str(Path(sys.executable).parent / "gridmap"), "map", "export", "-o",
                 str(export_path)],
                env={**os.environ, "GRIDMAP_DATABASE_URL": url},
                capture_output=True,
                text=True,
            )  # fmt: skip
            export_s = time.perf_counter() - t
            if done.returncode != 0:
                raise SystemExit(f"gridmap map export failed: {done.stderr}")
            export = export_path.read_text(encoding="utf-8")
            print(f"export: {len(export.encode()) / 1e6:.2f} MB in {export_s:.1f} s", flush=True)
            with (
                serve_app(url, Path(tmp) / "uvicorn.log") as base,
                serve_directory(root) as site,
            ):
                maps_page = Page("maps", "gridmap /maps (link)", f"{base}/maps", 0, 0)
                for _ in range(args.server_repeat):
                    t = time.perf_counter()
                    response = httpx.get(f"{base}/maps", timeout=args.timeout)
                    maps_page.server_s.append(time.perf_counter() - t)
                    response.raise_for_status()
                    print(f"GET /maps: {maps_page.server_s[-1]:.2f} s", flush=True)
                maps_page.html_bytes = len(response.content)
                maps_page.gzip_bytes = len(gzip.compress(response.content, compresslevel=6))

                def static(key: str, title: str, html: str, goal: bool) -> Page:
                    page_url = site.publish(f"{key}.html", html)
                    size = len(html.encode())
                    return Page(key, title, page_url, size, gzip_size(html), goal=goal)

                pages = [
                    maps_page,
                    Page("export", "gridmap export (inline)", f"{site.base}/export.html",
                         len(export.encode()), gzip_size(export)),
                    static("peer_link", "peer (link)", peer_link, goal=False),
                    static("peer_inline", "peer (inline)", peer_inline, goal=False),
                ]  # fmt: skip
                variants = [
                    static(f"variant{i}", title, html, goal=False)
                    for i, (title, html) in enumerate(variants_html)
                ]
                with sync_playwright() as playwright:
                    browser = launch(playwright)
                    try:
                        env["chromium"] = f"Chromium {browser.version}"
                        everything = pages + variants
                        print(
                            f"{env['chromium']}: {args.loads} rounds over {len(everything)} pages",
                            flush=True,
                        )
                        run_loads(browser, everything, len(city.grids), args.loads, args.timeout)
                    finally:
                        browser.close()
        results = Results(
            args,
            env,
            city,
            county_km2 / 1e6,
            levels,
            builds,
            export_s,
            peer_build_s,
            pages,
            layer_bytes,
            len(full.encode()),
            variants,
            (load_before, os.getloadavg()[0]),
        )
        section = markdown(results)
        print("\n" + section)
        if not args.no_append:
            with args.results.open("a", encoding="utf-8") as out:
                out.write("\n" + section)
            print(f"appended to {args.results}")
    finally:
        if engine is not None:
            engine.dispose()
        drop_database(url)
        if started:
            Cluster.from_settings(settings).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
