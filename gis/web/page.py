"""The frame of every Folium map page: options, base maps, the datum overlays are drawn in,
the controls every page has, and the page's HTML.

Pages speak zh-CN and need no network: Leaflet and its plugins are served by gridmap or
inlined (``gis.web.map_assets``).  On the AMap base map every overlay is shifted to GCJ-02 by
``gis.geo.crs`` (the one implementation of the shift) so it lines up with AMap's tiles; the
address box asks the server where a looked-up point is drawn (``drawn_point``).

Base maps: the office's own (``gridmap basemap add``, raster ones: Leaflet draws no vector
tiles) first and the default, served by gridmap — an intranet has no internet; then none (a
plain background and the note 无底图), OpenStreetMap, Tianditu (with its key) and AMap, which
load only when chosen.  Office tiles are XYZ in Web Mercator, the overlays WGS84 over them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import folium
import numpy as np
import shapely
from branca.element import Element
from folium import plugins
from shapely.geometry import mapping
from sqlalchemy import Connection

from gis.errors import InvalidInput
from gis.geo.crs import from_wgs84, parse_crs
from gis.settings import Settings
from gis.store.basemaps import Basemap as OfficeBasemap
from gis.store.basemaps import list_basemaps
from gis.web import map_assets
from gis.web.elements import HTML, Basemaps, MetricScale

Basemap = str
"""A base map's name: a built-in one (``BASEMAP_NAMES``) or an office one
(``gis.store.basemaps``, ``gridmap basemap add``)."""
ColourBy = Literal["households", "coverage"]

TILES = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "abc", "© OpenStreetMap"),
    "amap": (
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "1234",
        "© 高德地图 AutoNavi",
    ),
    "tianditu": (
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk=KEY",
        "01234567",
        "© 天地图 Tianditu",
    ),
}
"""Tile URL, subdomains and attribution of each base map (Tianditu's ``KEY``: the setting)."""
BASEMAP_NAMES = {"none": "无底图", "osm": "OpenStreetMap", "tianditu": "天地图", "amap": "高德地图"}
POINT_URL = "/maps/point"
"""Where the server says where a WGS84 point is drawn on a base map (``drawn_point``)."""

CSS = (Path(__file__).resolve().parent / "static" / "maps.css").read_text(encoding="utf-8")
"""The pages' own styles (``gis/web/static/maps.css``), in the page's head."""


def basemap_hosts(settings: Settings) -> list[str]:
    """The origins the offered base maps load their tiles from (a page's
    Content-Security-Policy lets them in as images); Tianditu's when a key is configured."""
    hosts = []
    for key, (url, subdomains, _) in TILES.items():
        if key == "tianditu" and not settings.tianditu_key:
            continue
        origin = "/".join(url.split("/", 3)[:3])
        hosts += [origin.replace("{s}", s) for s in subdomains] if "{s}" in origin else [origin]
    return hosts


def _datum(basemap: str) -> str:
    return "gcj02" if basemap == "amap" else "wgs84"


@dataclass(frozen=True)
class MapOptions:
    """How a page is drawn: base map, grid colouring, where the lookup API is."""

    basemap: Basemap = "none"
    colour_by: ColourBy = "households"
    api_base: str = ""
    role: str | None = None
    """The reader's role: personal fields as it may see them (``gis.access.privacy``)."""
    office: tuple[OfficeBasemap, ...] = ()
    """The office base maps offered (raster ones: Leaflet draws no vector tiles)."""

    @property
    def point_url(self) -> str | None:
        """Where the address box asks where a WGS84 point is drawn; None on a WGS84 page."""
        if _datum(self.basemap) == "wgs84":
            return None
        return f"{self.api_base}{POINT_URL}?basemap={self.basemap}"


def map_options(conn: Connection, basemap: Basemap | None, **options: Any) -> MapOptions:
    """A page's options with the registry's raster office base maps offered; ``basemap``
    None: the first office base map, else none (never an internet one unasked: an intranet
    has none).  An unknown name: 422 ``invalid_parameter``."""
    office = tuple(b for b in list_basemaps(conn) if b.raster)
    if basemap is None:
        basemap = office[0].name if office else "none"
    elif basemap not in BASEMAP_NAMES and basemap not in {b.name for b in office}:
        names = ", ".join([*BASEMAP_NAMES, *(b.name for b in office)])
        problem = f"没有这个底图: {basemap} (no such base map; one of {names})"
        raise InvalidInput(
            problem,
            code="invalid_parameter",
            details={"problems": [{"parameter": "basemap", "in": "query", "problem": problem}]},
        )
    return MapOptions(basemap=basemap, office=office, **options)


class Shift:
    """Geometries as the base map needs them: WGS84, or GCJ-02 for AMap (to 1e-6°)."""

    def __init__(self, basemap: Basemap) -> None:
        self.gcj02 = parse_crs("gcj02") if _datum(basemap) == "gcj02" else None
        self.crs = self.gcj02.label if self.gcj02 is not None else "EPSG:4326"
        """The CRS the shifted geometries are in, as responses name it."""

    def __call__(self, geometries: Any) -> Any:
        geoms = np.asarray(geometries, dtype=object)
        if self.gcj02 is not None:
            geoms = from_wgs84(geoms, self.gcj02)
        return shapely.set_precision(geoms, 1e-6, mode="pointwise")


def drawn_point(lon: float, lat: float, basemap: Basemap) -> tuple[float, float, str]:
    """Where the WGS84 point (``lon``, ``lat``) is drawn on a page over ``basemap``, and the
    CRS that position is in."""
    shift = Shift(basemap)
    ((x, y),) = shapely.get_coordinates(shift(shapely.points([lon], [lat]))).tolist()
    return x, y, shift.crs


def collection(geometries: Sequence[Any], properties: Sequence[dict[str, Any]]) -> dict:
    """A GeoJSON FeatureCollection, the features numbered."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": i, "geometry": mapping(g), "properties": p}
            for i, (g, p) in enumerate(zip(geometries, properties, strict=True))
        ],
    }


def fixed_style(**fixed: Any) -> Callable[[dict], dict]:
    """A Folium style function giving every feature the same style."""
    return lambda _feature: fixed


def controls(m: folium.Map, options: MapOptions, settings: Settings) -> None:
    """The layer list with the base-map choice, full screen and measuring, on every page."""
    control = folium.LayerControl(collapsed=False).add_to(m)
    choices = [*_office_choices(options), *_basemap_choices(settings)]
    Basemaps(control, choices, options.basemap).add_to(m)
    plugins.Fullscreen(title="全屏", title_cancel="退出全屏").add_to(m)
    plugins.MeasureControl(
        primary_length_unit="meters", primary_area_unit="sqmeters", localization="cn"
    ).add_to(m)


def _choice(key: str, name: str, url: str, subdomains: str, attribution: str) -> dict[str, Any]:
    return {
        "key": key,
        "name": name,
        "url": url,
        "subdomains": subdomains,
        "attribution": attribution,
        "datum": _datum(key),
    }


def _office_choices(options: MapOptions) -> list[dict[str, Any]]:
    """The office base maps, first: their tiles from gridmap (``options.api_base``)."""
    return [
        _choice(b.name, b.title, b.tile_url(options.api_base), "", b.attribution)
        | {"maxzoom": b.max_zoom, "bounds": [[b.south, b.west], [b.north, b.east]]}
        for b in options.office
    ]


def online_choices(settings: Settings) -> list[dict[str, Any]]:
    """The internet base maps (OSM, Tianditu when its key is set, AMap): key, name, url,
    subdomains, attribution, datum."""
    choices = []
    for key, (url, subdomains, attribution) in TILES.items():
        if key == "tianditu":
            if not settings.tianditu_key:
                continue
            url = url.replace("KEY", settings.tianditu_key)
        choices.append(_choice(key, BASEMAP_NAMES[key], url, subdomains, attribution))
    return choices


def _basemap_choices(settings: Settings) -> list[dict[str, Any]]:
    return [_choice("none", BASEMAP_NAMES["none"], "", "", ""), *online_choices(settings)]


def title(m: folium.Map, text: str) -> None:
    """The page's title (as text: it names user-written things)."""
    m.get_root().header.add_child(Element(HTML.title(text)))


def base(
    options: MapOptions, settings: Settings, centre: tuple[float, float], zoom: int = 13
) -> folium.Map:
    """An empty page opened on ``centre`` (lat, lon): Leaflet and its plugins only, a metric
    scale, zh-CN and the pages' styles."""
    m = folium.Map(location=centre, zoom_start=zoom, tiles=None)
    MetricScale().add_to(m)
    # Leaflet and the plugins only: none of Folium's default jQuery, bootstrap or fonts
    m.default_js = [(n, u) for n, u in m.default_js if n == "leaflet"]
    m.default_css = [(n, u) for n, u in m.default_css if n == "leaflet_css"]
    if options.basemap == "tianditu" and not settings.tianditu_key:
        raise InvalidInput(
            "未配置天地图密钥 GRIDMAP_TIANDITU_KEY (no Tianditu key is configured)",
            code="tianditu_key_missing",
        )
    m.get_root().header.add_child(Element(HTML.head(CSS)))
    return m


_SWITCHES = re.compile(r"<script>(\s*L_NO_TOUCH = false;\s*L_DISABLE_3D = false;\s*</script>)")
_MAP_SCRIPT = "</body>\n<script>"
"""Folium's two inline scripts: its global switches (in the head) and the map's script (last)."""


def _with_nonce(html: str, nonce: str) -> str:
    """Folium's own inline scripts, found where Folium puts them, carrying ``nonce``."""
    tag = f'<script nonce="{nonce}">'
    html, switches = _SWITCHES.subn(lambda s: tag + s.group(1), html, count=1)
    if switches != 1 or html.count(_MAP_SCRIPT) != 1:  # a Folium upgrade changed its page
        raise RuntimeError("gis.web.page cannot find the inline scripts of Folium's page")
    return html.replace(_MAP_SCRIPT, f"</body>\n{tag}", 1)


def page_html(m: folium.Map, settings: Settings, *, inline: bool, nonce: str | None = None) -> str:
    """The page's HTML in zh-CN with every script and style local (``inline``: in the file).

    ``nonce`` (a served page's Content-Security-Policy nonce) goes on the page's own inline
    scripts only: any other inline script in it, written by no one here, is not run."""
    html = m.get_root().render()
    html = html.replace("<html>", '<html lang="zh-CN">', 1)
    html = map_assets.offline_html(html, inline=inline, vendor_dir=settings.vendor_dir)
    return html if nonce is None else _with_nonce(html, nonce)
