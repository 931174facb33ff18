"""The map scale benchmark's pages: gridmap's (built in-process, timed by phase, and its
what-ifs without single layers) and the peer's, a straightforward Folium page of the same
data (see ``map_scale``'s docstring)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import folium
import shapely
from map_scale_city import LEVEL_ORDER
from shapely.geometry import mapping
from sqlalchemy import Connection, text

from gis.analysis import report as analysis
from gis.geo.geodesy import sector_polygons
from gis.settings import Settings
from gis.web import map_assets, region_page, styles
from gis.web.page import MapOptions, page_html
from gis.web.page_data import SIMPLIFY_M


def vertices_by_level(conn: Connection) -> dict[str, dict[str, int]]:
    """Per level: regions, vertices stored, and vertices gridmap draws (``SIMPLIFY_M``)."""
    stored = dict(
        conn.execute(
            text(
                "SELECT level, sum(ST_NPoints(geom)) FROM regions WHERE valid_to IS NULL "
                "GROUP BY level"
            )
        ).all()
    )
    roots = list(conn.scalars(text("SELECT code FROM regions WHERE level = 'county'")))
    features = region_page.subtree(conn, roots, simplify_m=SIMPLIFY_M)
    out: dict[str, dict[str, int]] = {}
    for level in LEVEL_ORDER:
        picked = [f for f in features if f["properties"]["level"] == level]
        drawn = sum(len(_coords(f["geometry"]["coordinates"])) for f in picked)
        out[level] = {"regions": len(picked), "stored": int(stored[level]), "drawn": drawn}
    return out


def _coords(nested: Any) -> list[Any]:
    if nested and isinstance(nested[0], int | float):
        return [nested]
    return [c for part in nested for c in _coords(part)]


# --------------------------------------------------------------------------- the peer page

PEER_OUTLINES = {
    "county": {"color": "#222222", "weight": 3, "fill": False},
    "street": {"color": "#444444", "weight": 2, "fill": False},
    "community": {"color": "#555555", "weight": 1.5, "fill": False},
}


def _band_colour(households: int | None, settings: Settings) -> str:
    if households is None:
        return "#d9d9d9"
    if households < settings.grid_households_min:
        return "#9ecae1"
    return "#fc9272" if households > settings.grid_households_max else "#a1d99b"


def peer_map(conn: Connection, settings: Settings) -> folium.Map:
    """The straightforward Folium page of the same data (see the module docstring)."""
    rows = (
        conn.execute(
            text(
                "SELECT r.code, r.level, r.name, r.households, r.population, r.grid_worker, "
                "r.grid_worker_phone, r.party_branch, p.name AS parent_name, "
                "ST_AsBinary(r.geom) AS wkb FROM regions r LEFT JOIN regions p "
                "ON p.code = r.parent_code AND p.valid_to IS NULL "
                "WHERE r.valid_to IS NULL ORDER BY r.code"
            )
        )
        .mappings()
        .all()
    )
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows])
    grid_i = [i for i, r in enumerate(rows) if r["level"] == "grid"]
    x0, y0, x1, y1 = shapely.total_bounds(geoms[grid_i])
    m = folium.Map(location=((y0 + y1) / 2, (x0 + x1) / 2), zoom_start=13, tiles=None)
    # Folium's defaults minus what has no offline copy (bootstrap, fonts, awesome-markers);
    # jQuery stays: folium.Popup builds its content with $(…)
    m.default_js = [(n, u) for n, u in m.default_js if n in ("leaflet", "jquery")]
    m.default_css = [(n, u) for n, u in m.default_css if n == "leaflet_css"]
    m.fit_bounds([[y0, x0], [y1, x1]])

    def collection(picked: list[int], keys: Sequence[str]) -> dict:
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": mapping(geoms[i]),
                    "properties": {k: rows[i][k] for k in keys},
                }
                for i in picked
            ],
        }

    for level in ("county", "street", "community"):
        picked = [i for i, r in enumerate(rows) if r["level"] == level]
        style = {**PEER_OUTLINES[level], "className": f"gm-{level}"}
        folium.GeoJson(
            collection(picked, ("code", "name")),
            name=styles.LEVEL_NAMES[level],
            style_function=lambda _f, style=style: style,
            tooltip=folium.GeoJsonTooltip(["name"], labels=False),
        ).add_to(m)
    fields = ("name", "code", "parent_name", "households", "population", "grid_worker")
    fields += ("grid_worker_phone", "party_branch")
    folium.GeoJson(
        collection(grid_i, fields),
        name="网格",
        style_function=lambda f: {
            "color": "#3b3b3b",
            "weight": 1,
            "fillColor": _band_colour(f["properties"]["households"], settings),
            "fillOpacity": 0.55,
            "className": "gm-grid",
        },
        tooltip=folium.GeoJsonTooltip(["name"], labels=False),
        popup=folium.GeoJsonPopup(
            list(fields),
            aliases=["网格", "编码", "社区", "户数", "人口", "网格员", "电话", "党支部"],
        ),
    ).add_to(m)

    centres = folium.FeatureGroup(name="党群服务中心").add_to(m)
    for c in conn.execute(
        text(
            "SELECT name, level, address, radius_m, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM centres ORDER BY id"
        )
    ).mappings():
        radius = c["radius_m"] or settings.centre_radius_m[c["level"]]
        label, colour = styles.CENTRE_STYLES[c["level"]]
        folium.Circle(
            [c["lat"], c["lon"]],
            radius=radius,
            color=colour,
            fill=True,
            fill_opacity=0.08,
            className="gm-reach",
            popup=folium.Popup(
                f"<b>{c['name']}</b><br>{label}<br>{c['address']}<br>服务半径 {radius:.0f} 米",
                max_width=300,
            ),
            tooltip=c["name"],
        ).add_to(centres)

    cams = (
        conn.execute(
            text(
                "SELECT device_id, name, status, azimuth_deg, fov_deg, range_m, type, "
                "ST_X(geom) AS lon, ST_Y(geom) AS lat FROM cameras ORDER BY id"
            )
        )
        .mappings()
        .all()
    )
    sectors_group = folium.FeatureGroup(name="摄像机视场").add_to(m)
    online = [c for c in cams if c["status"] == "online"]
    sectors = sector_polygons(
        [c["lon"] for c in online],
        [c["lat"] for c in online],
        [c["azimuth_deg"] for c in online],
        [c["fov_deg"] for c in online],
        [c["range_m"] for c in online],
        step_deg=10.0,
    )
    for c, sector in zip(online, sectors, strict=True):
        folium.Polygon(
            [(y, x) for x, y in sector.exterior.coords],
            color=styles.CAMERA_COLOURS["online"],
            weight=0.5,
            fill=True,
            fill_opacity=0.15,
            className="gm-sector",
            tooltip=c["device_id"],
        ).add_to(sectors_group)
    cameras_group = folium.FeatureGroup(name="摄像机").add_to(m)
    for c in cams:
        status = "在线" if c["status"] == "online" else "离线"
        folium.CircleMarker(
            [c["lat"], c["lon"]],
            radius=3,
            color=styles.CAMERA_COLOURS[c["status"]],
            fill=True,
            fill_opacity=1,
            className="gm-camera",
            popup=folium.Popup(
                f"<b>{c['name']}</b><br>国标编码 {c['device_id']}<br>{c['type']} · {status}<br>"
                f"方位角 {c['azimuth_deg']}° 视场角 {c['fov_deg']}° 可视距离 {c['range_m']} 米",
                max_width=300,
            ),
            tooltip=c["name"],
        ).add_to(cameras_group)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def peer_html(m: folium.Map, settings: Settings, *, inline: bool) -> str:
    """The peer's page with its CDN references made local, as ``page_html`` does."""
    html = m.get_root().render()
    return map_assets.offline_html(html, inline=inline, vendor_dir=settings.vendor_dir)


# --------------------------------------------------------------------------- gridmap's page


@contextlib.contextmanager
def patched(module: Any, name: str, replacement: Callable[..., Any]) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def build_gridmap(conn: Connection, settings: Settings) -> dict[str, float]:
    """``region_map`` + ``page_html`` as ``/maps`` runs them, timed by phase (the calls of
    ``subtree``, ``analysis.coverage`` and ``offline_html`` wrapped): seconds by phase."""
    phases: dict[str, float] = {}

    def timing(key: Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                k = key(*args, **kwargs)
                phases[k] = phases.get(k, 0.0) + time.perf_counter() - t

        return wrapper

    with (
        patched(region_page, "subtree", timing(lambda *a, **k: "subtree", region_page.subtree)),
        patched(
            analysis,
            "coverage",
            timing(lambda _c, _r, layer, _s: f"coverage {layer}", analysis.coverage),
        ),
        patched(
            map_assets,
            "offline_html",
            timing(lambda *a, **k: f"offline_html {k['inline']}", map_assets.offline_html),
        ),
    ):
        t0 = time.perf_counter()
        m = region_page.region_map(conn, settings, None, MapOptions())
        t1 = time.perf_counter()
        page_html(m, settings, inline=False)
        t2 = time.perf_counter()
    queries = sum(v for k, v in phases.items() if k.startswith(("subtree", "coverage")))
    out = {
        "subtree": phases["subtree"],
        "coverage centres": phases["coverage centres"],
        "coverage cameras": phases.get("coverage cameras", 0.0),
        "rest of region_map": (t1 - t0) - queries,
        "render": (t2 - t1) - phases["offline_html False"],
        "offline_html": phases["offline_html False"],
    }
    out["total"] = t2 - t0
    return out


@contextlib.contextmanager
def memoized() -> Iterator[None]:
    """``subtree`` and ``analysis.coverage`` answered from a cache: cheap rebuilds of the
    same page (for the variants and the byte breakdown)."""
    cache: dict[Any, Any] = {}

    def memo(fn: Callable[..., Any], keyed: int) -> Callable[..., Any]:
        """``fn(conn, *args)`` cached on its first ``keyed`` arguments after ``conn``."""

        def wrapper(conn: Connection, *args: Any, **kwargs: Any) -> Any:
            key = (fn.__name__, json.dumps(args[:keyed]))
            if key not in cache:
                cache[key] = fn(conn, *args, **kwargs)
            return json.loads(json.dumps(cache[key]))

        return wrapper

    with (
        patched(region_page, "subtree", memo(region_page.subtree, 1)),  # (roots,), simplify_m
        patched(analysis, "coverage", memo(analysis.coverage, 2)),  # (region, layer), settings
    ):
        yield


def gridmap_variant(
    conn: Connection,
    settings: Settings,
    modify: Callable[[folium.Map], None] | None = None,
    *,
    inline: bool = False,
) -> str:
    """gridmap's page built afresh, changed by ``modify`` first (a what-if: gridmap's code
    is not changed)."""
    m = region_page.region_map(conn, settings, None, MapOptions())
    if modify is not None:
        modify(m)
    return page_html(m, settings, inline=inline)


def drop(*names: str) -> Callable[[folium.Map], None]:
    """A ``modify`` that leaves out the layers named (``layer_name``)."""

    def modify(m: folium.Map) -> None:
        for key, child in list(m._children.items()):
            if getattr(child, "layer_name", None) in names:
                del m._children[key]

    return modify


def layer_names(conn: Connection, settings: Settings) -> list[str]:
    m = region_page.region_map(conn, settings, None, MapOptions())
    return [
        child.layer_name
        for child in m._children.values()
        if isinstance(child, folium.GeoJson) and child.layer_name
    ]
