"""The map scale benchmark's results section: the pages' sizes and render times against the
goals, the drawn paths, the server's build by phase, the vertices per level and where the
bytes go (see ``map_scale``'s docstring)."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

import folium
import numpy as np
import shapely
from common import git_state, heading, machine, package_version, spaced
from map_scale_browser import CLASSES, Page
from map_scale_city import CAMERA_MIX, LEVEL_ORDER, City
from sqlalchemy import Connection, text

from gis.settings import get_settings
from gis.web import map_assets
from gis.web.page_data import SIMPLIFY_M

GOAL_BYTES = 2_000_000
GOAL_RENDER_S = 1.5


def environment(conn: Connection) -> dict[str, str]:
    pg = conn.scalar(text("SHOW server_version"))
    full = conn.scalar(text("SELECT postgis_full_version()")) or ""
    pieces = {p.split("=")[0]: p.split("=", 1)[1].strip('"') for p in full.split() if "=" in p}
    leaflet = next(p.version for p in map_assets.PACKAGES if p.name == "leaflet")
    return {
        **machine(),
        "folium": f"folium {folium.__version__}, branca {package_version('branca')}, "
        f"Leaflet {leaflet}",
        "shapely": f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string})",
        "playwright": f"Playwright {package_version('playwright')}",
        "postgres": f"PostgreSQL {pg}, PostGIS {pieces.get('POSTGIS', '?')}",
        "code": git_state(),
    }


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


@dataclass
class Results:
    """Everything the markdown section reports."""

    args: argparse.Namespace
    env: dict[str, str]
    city: City
    county_km2: float
    levels: dict[str, dict[str, int]]
    builds: list[dict[str, float]]
    export_s: float
    peer_build_s: float
    pages: list[Page]
    layer_bytes: list[tuple[str, int]]
    base_bytes: int
    variants: list[Page]
    load: tuple[float, float]


def expected_counts(city: City) -> dict[str, int]:
    """The paths gridmap's page should draw, per class (the peer has no centre markers)."""
    online = sum(c["status"] == "online" for c in city.cameras)
    out = {f"gm-{level}": len(city.units[level]) for level in LEVEL_ORDER}
    out |= {"gm-reach": len(city.centres), "gm-centre": len(city.centres)}
    out |= {"gm-camera": len(city.cameras), "gm-sector": online, "gm-blind": 0}
    return out


def _extra_table(pages: list[Page], base: Page | None) -> list[str]:
    """Rows of pages measured in the browser (what-ifs): size, render, what was drawn."""
    lines = [
        "| page | HTML MB | render (ms) | "
        + ("saved vs full | " if base else "")
        + "grids | sectors | cameras | guard |",
        "|---|---:|---:|" + ("---:|" if base else "") + "---:|---:|---:|---|",
    ]
    for p in pages:
        saved = f"{base.median('render_ms') - p.median('render_ms'):.0f} | " if base else ""
        counts = [sorted({x.counts[c] for x in p.loads}) for c in ("gm-grid", "gm-sector")]
        counts.append(sorted({x.counts["gm-camera"] for x in p.loads}))
        guard = "clean" if not any(x.problems for x in p.loads) else "**problems**"
        lines.append(
            f"| {p.title} | {_mb(p.html_bytes)} | {p.median('render_ms'):.0f} | {saved}"
            + " | ".join("/".join(map(str, c)) for c in counts)
            + f" | {guard} |"
        )
    return lines


def markdown(r: Results) -> str:
    city, args = r.city, r.args
    grids = city.grids
    stored = [shapely.get_num_coordinates(g.geom) for g in grids]
    households = [g.households for g in grids if g.households is not None]
    settings = get_settings()
    low, high = settings.grid_households_min, settings.grid_households_max
    online = sum(c["status"] == "online" for c in city.cameras)
    kinds = {k: sum(c["type"] == k for c in city.cameras) for k in CAMERA_MIX}
    command = (
        f".venv/bin/python bench/map_scale.py --loads {args.loads} --server-repeat "
        f"{args.server_repeat} --seed {args.seed}"
        + (f" --streets {args.streets}" if args.streets != 6 else "")
        + (f" --vertex-spacing-m {args.vertex_spacing_m:g}" if args.vertex_spacing_m != 10 else "")
        + (" --profile" if args.profile else "")
    )
    e = r.env
    loads = [x.load_average for p in (*r.pages, *r.variants) for x in p.loads]
    lines = [
        *heading(
            f"Map scale: {len(grids)} grids + {len(city.centres)} centres + "
            f"{spaced(len(city.cameras))} cameras on one page, gridmap vs a plain Folium page",
            command,
        ),
        f"Machine: {e['nproc']} cores ({e['cpu']}), load average {r.load[0]:.1f} → "
        f"{r.load[1]:.1f} over the run; Python {e['python']}; {e['folium']}; {e['shapely']}; "
        f"{e['postgres']} (gridmap's embedded cluster); headless {e['chromium']} "
        f"(Debian package) driven by {e['playwright']}. gridmap code: {e['code']}.",
        "",
        f"Data (seeded, `--seed {args.seed}`): a county blob of {r.county_km2:.0f} km² around "
        f"131.0°E 45.77°N (七台河市), {len(city.units['street'])} streets, "
        f"{len(city.units['community'])} communities, {len(grids)} grids (Voronoi cells of "
        f"Lloyd-relaxed points clipped to their community, one noded arrangement, edges "
        f"densified to a vertex every {city.vertex_spacing_m:g} m and bent by a smooth field: "
        f"{int(np.median(stored))} vertices per grid at the median, {min(stored)}–{max(stored)}, "
        "full-double coordinates). Grid households "
        f"{min(households)}–{max(households)} (median {int(np.median(households))}; "
        f"{sum(h < low for h in households)} below and {sum(h > high for h in households)} "
        f"above the {low}–{high} band, {len(grids) - len(households)} missing). "
        f"{len(city.centres)} centres (1 centre at 1 000 m, {len(city.centres) - 1} stations "
        f"at 500 m); {spaced(len(city.cameras))} cameras with GB/T 28181 IDs ("
        + ", ".join(f"{v} {k}" for k, v in kinds.items())
        + f"; {len(city.cameras) - online} offline, so {spaced(online)} sectors); "
        f"{spaced(len(city.addresses))} buildings with "
        f"{spaced(sum(a.households or 0 for a in city.addresses))} households in the address "
        "registry (one compound per grid).",
        "",
        "Pages: **gridmap /maps** = the app under uvicorn, link mode (scripts from `/vendor`); "
        "**gridmap export** = `gridmap map export` (everything inline), served by a static "
        "server; **peer** = a straightforward Folium page of the same data: one "
        "`folium.GeoJson` per level of the stored polygons at full precision (grids with "
        "`GeoJsonTooltip` + `GeoJsonPopup`, coloured by households), a `folium.Circle` per "
        "centre, a `folium.CircleMarker` per camera and a `folium.Polygon` per online "
        "camera's sector (10° steps, as gridmap), each with a `folium.Popup` and/or a "
        "tooltip, in feature groups, with a layer control; its CDN references rewritten by "
        "`gis.web.map_assets.offline_html` (Leaflet + jQuery, which `folium.Popup` needs), link "
        "mode (served with `/vendor`) and inline. No base map on any page (`basemap=none`).",
        "",
        f"Browser: {args.loads} loads per page, each in a fresh context (empty cache), all "
        "pages of this section (what-ifs included) in one rotation per round; *drawn* = "
        "`performance.now()` one animation frame after the frame "
        f"in which all {len(grids)} `path.gm-grid` exist (ms from navigation start); *render* "
        "= drawn − `responseEnd` of the HTML (for /maps, the server's build time is before "
        "`responseEnd`); *wall* = `page.goto` until Playwright sees the mark. Medians. "
        f"Load average as the loads started: median {statistics.median(loads):.1f}, "
        f"max {max(loads):.1f}.",
        "",
        "| page | HTML MB | gzip MB | response end (ms) | drawn (ms) | render (ms) | wall (s) "
        "| JS heap (MB) | ≤ 2 MB | render ≤ 1.5 s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for p in r.pages:
        heap = [x.heap_mb for x in p.loads if x.heap_mb is not None]
        size_ok = p.html_bytes <= GOAL_BYTES
        render_ok = p.median("render_ms") <= GOAL_RENDER_S * 1000
        lines.append(
            f"| {p.title} | {_mb(p.html_bytes)} | {_mb(p.gzip_bytes)} "
            f"| {p.median('response_end_ms'):.0f} | {p.median('drawn_ms'):.0f} "
            f"| **{p.median('render_ms'):.0f}** | {p.median('wall_s'):.2f} "
            f"| {statistics.median(heap):.0f} | "
            + (f"{_verdict(size_ok)} | {_verdict(render_ok)} |" if p.goal else "– | – |")
        )
    by = {p.key: p for p in r.pages}
    lines += [
        "",
        "| gridmap / peer | HTML size | render (median) |",
        "|---|---:|---:|",
    ]
    for ours, theirs in (("maps", "peer_link"), ("export", "peer_inline")):
        a, b = by[ours], by[theirs]
        lines.append(
            f"| {a.title} / {b.title} | {a.html_bytes / b.html_bytes:.2f}× "
            f"| {a.median('render_ms') / b.median('render_ms'):.2f}× |"
        )
    lines += [
        "",
        "Drawn paths (the same on every load; *expected* from the data) and the guard: ",
        "",
        "| page | " + " | ".join(c.removeprefix("gm-") for c in CLASSES) + " | all paths "
        "| DOM elements | guard |",
        "|---|" + "---:|" * (len(CLASSES) + 2) + "---|",
    ]
    for p in r.pages:
        counts = {c: sorted({x.counts[c] for x in p.loads}) for c in CLASSES}
        problems = [x.problems for x in p.loads if x.problems]
        guard = "clean" if not problems else f"**{len(problems)} loads with problems**"
        lines.append(
            f"| {p.title} | "
            + " | ".join("/".join(map(str, counts[c])) for c in CLASSES)
            + f" | {p.median('paths'):.0f} | {p.median('nodes'):.0f} | {guard} |"
        )
    expected = expected_counts(city)
    lines.append(
        "| *expected (gridmap)* | " + " | ".join(str(expected[c]) for c in CLASSES) + " | | | |"
    )
    phases = list(r.builds[0])
    maps_page = by["maps"]
    lines += [
        "",
        f"Server: `GET /maps` answered in **{statistics.median(maps_page.server_s):.2f} s** "
        f"(median of {len(maps_page.server_s)}: "
        + ", ".join(f"{s:.2f}" for s in maps_page.server_s)
        + f"); `gridmap map export` ran {r.export_s:.1f} s (a new process: imports, "
        f"connection, build, inline); the peer page took {r.peer_build_s:.1f} s to build and "
        "render in-process. gridmap's build in-process, by phase (median of "
        f"{len(r.builds)}; `subtree`, `analysis.coverage` and `offline_html` timed by "
        "wrapping them):",
        "",
        "| " + " | ".join(phases) + " |",
        "|" + "---:|" * len(phases),
        "| "
        + " | ".join(f"{statistics.median(b[k] for b in r.builds):.2f} s" for k in phases)
        + " |",
        "",
        "Geometry per level: stored vertices vs what gridmap draws "
        "(`gis.web.page_data.SIMPLIFY_M`, `ST_SimplifyPreserveTopology` in the UTM zone, "
        "then 6 decimals); the peer draws the stored ones at full precision.",
        "",
        "| level | regions | simplified at | vertices stored | vertices drawn | kept |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for level in LEVEL_ORDER:
        v = r.levels[level]
        lines.append(
            f"| {level} | {v['regions']} | {SIMPLIFY_M[level]:g} m | {spaced(v['stored'])} "
            f"| {spaced(v['drawn'])} | {100 * v['drawn'] / v['stored']:.0f} % |"
        )
    total = r.base_bytes
    lines += [
        "",
        "Where gridmap's bytes go (link mode; each layer's share = the page's size minus the "
        "size of the same page built without that layer: its GeoJSON, style and popup "
        "code):",
        "",
        "| layer | MB | share |",
        "|---|---:|---:|",
    ]
    for name, size in r.layer_bytes:
        lines.append(f"| {name} | {_mb(size)} | {100 * size / total:.0f} % |")
    rest = total - sum(s for _, s in r.layer_bytes)
    lines.append(
        f"| everything else (controls, legend, lookup box, page) | {_mb(rest)} "
        f"| {100 * rest / total:.0f} % |"
    )
    lines.append(
        f"| *inline Leaflet + plugins (export only)* | {_mb(by['export'].html_bytes - total)} | |"
    )
    if r.variants:
        lines += [
            "",
            "Where the browser's time goes: gridmap's link-mode page built without single "
            "layers, served statically (no server time), in the same rounds:",
            "",
        ]
        lines += _extra_table(r.variants, r.variants[0])
    ok_size = all(p.html_bytes <= GOAL_BYTES for p in r.pages if p.goal)
    ok_time = all(p.median("render_ms") <= GOAL_RENDER_S * 1000 for p in r.pages if p.goal)
    lines += [
        "",
        f"Goals (gridmap's pages): ≤ 2 MB of HTML {_verdict(ok_size)} "
        f"(/maps {_mb(by['maps'].html_bytes)} MB, export {_mb(by['export'].html_bytes)} MB); "
        f"render ≤ 1.5 s {_verdict(ok_time)} (/maps {by['maps'].median('render_ms'):.0f} ms "
        f"after the HTML arrived, {by['maps'].median('drawn_ms'):.0f} ms from navigation "
        f"start including the server's build; export {by['export'].median('render_ms'):.0f} "
        "ms).",
        "",
    ]
    return "\n".join(lines)
