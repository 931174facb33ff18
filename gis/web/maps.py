"""Interactive maps for planners: Folium pages of a region's grids, centres, cameras and gaps.

A page shows the hierarchy (county → street → community → grid, outlines styled by level,
communities labelled), the grids coloured by households against the standard band or by the
share of households a centre reaches, the centres with their service areas (geodesic
circles) coloured by level, the cameras with their fields of view, and the blind spots;
popups, a legend, grid search, fullscreen, measure, and a box that asks the lookup API for an
address or a coordinate and highlights the grid.  Pages speak zh-CN and need no network:
Leaflet and its plugins are served by gridmap or inlined (``gis.web.map_assets``).  On the AMap
base map every overlay is shifted to GCJ-02 so it lines up with AMap's tiles.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

import branca.element
import folium
import jinja2
import numpy as np
import shapely
from branca.element import Element, MacroElement, Template
from folium import plugins
from folium.features import GeoJsonDetail
from folium.template import Template as FoliumTemplate
from shapely.geometry import mapping, shape
from sqlalchemy import Connection, text

from gis.access.privacy import redact
from gis.analysis import report as analysis
from gis.errors import InvalidInput
from gis.geo.crs import from_wgs84, parse_crs
from gis.geo.geodesy import circle_polygons
from gis.ingest.history import get_upload
from gis.query.regions import BBox, list_regions, require_region, subtree
from gis.settings import Settings
from gis.store.versions import current_version
from gis.web import map_assets

Basemap = Literal["none", "osm", "tianditu", "amap"]
ColourBy = Literal["households", "coverage"]


class _Literal:
    """Text an ``Element`` shows as it is.

    branca wraps what each element's template has rendered in ``Element(text)``, which
    compiles that text as a Jinja template and renders it again: a name holding ``{{ … }}``
    (user data inside the rendered JSON) would run on the server.  Every template is a class
    attribute compiled at import, so a string reaching branca's ``Template`` at run time is
    rendered output (or our own ``<meta>``/``<style>``): kept literal."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.text


def _literal_or_template(source: Any, *args: Any, **kwargs: Any) -> Any:
    return _Literal(source) if isinstance(source, str) else jinja2.Template(source, *args, **kwargs)


branca.element.Template = _literal_or_template  # type: ignore[assignment,misc]
if Element("{{ 1 }}").render() != "{{ 1 }}":  # a branca upgrade changed how elements render
    raise RuntimeError("gis.web.maps cannot keep branca from rendering rendered text again")

# Folium's templates share one Jinja environment: compact JSON, Chinese as UTF-8 (``tojson``
# still escapes <, >, & and ' for the HTML around it)
folium.GeoJson._template.environment.policies["json.dumps_kwargs"] = {
    "separators": (",", ":"),
    "ensure_ascii": False,
    "sort_keys": True,
}

SIMPLIFY_M = {"county": 20.0, "street": 8.0, "community": 2.0, "grid": 1.0}
"""Outline simplification per level, in metres: invisible at the zooms a level is read at."""
LEVEL_NAMES = {"county": "区县", "street": "街道", "community": "社区", "grid": "网格"}
OUTLINES = {
    "county": {"color": "#222222", "weight": 3.5, "fill": False},
    "street": {"color": "#444444", "weight": 2.5, "fill": False, "dashArray": "8 4"},
    "community": {"color": "#555555", "weight": 1.8, "fill": False, "dashArray": "4 3"},
}
CENTRE_LEVELS = {
    "centre": ("党群服务中心", "#b2182b"),
    "station": ("党群服务站", "#ef8a62"),
    "home": ("党群之家", "#e6ab02"),
}
HOUSEHOLD_CLASSES = {
    "below": ("户数低于标准", "#9ecae1"),
    "within": ("户数在标准内", "#a1d99b"),
    "above": ("户数高于标准", "#fc9272"),
    "unknown": ("户数未知", "#d9d9d9"),
}
COVERAGE_CLASSES = [
    (95, "≥ 95 %", "#1a9850"),
    (80, "80–95 %", "#a6d96a"),
    (50, "50–80 %", "#fdae61"),
    (0, "< 50 %", "#d73027"),
]
CAMERA_COLOURS = {"online": "#2166ac", "offline": "#999999"}
BLIND_COLOUR = "#e7298a"
HIGHLIGHT = "#ff00ff"

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


BASEMAP_NAMES = {"none": "无底图", "osm": "OpenStreetMap", "tianditu": "天地图", "amap": "高德地图"}


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


class _Shift:
    """Geometries as the base map needs them: WGS84, or GCJ-02 for AMap."""

    def __init__(self, basemap: Basemap) -> None:
        self.gcj02 = parse_crs("gcj02") if _datum(basemap) == "gcj02" else None

    def __call__(self, geometries: Any) -> Any:
        geoms = np.asarray(geometries, dtype=object)
        if self.gcj02 is not None:
            geoms = from_wgs84(geoms, self.gcj02)
        return shapely.set_precision(geoms, 1e-6, mode="pointwise")


def _collection(geometries: Sequence[Any], properties: Sequence[dict[str, Any]]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": i, "geometry": mapping(g), "properties": p}
            for i, (g, p) in enumerate(zip(geometries, properties, strict=True))
        ],
    }


def _style(**fixed: Any) -> Callable[[dict], dict]:
    return lambda _feature: fixed


def _household_class(households: int | None, settings: Settings) -> str:
    if households is None:
        return "unknown"
    if households < settings.grid_households_min:
        return "below"
    return "above" if households > settings.grid_households_max else "within"


def _coverage_colour(pct: float | None) -> str:
    if pct is None:
        return HOUSEHOLD_CLASSES["unknown"][1]
    return next(colour for low, _, colour in COVERAGE_CLASSES if pct >= low)


def _controls(m: folium.Map, options: MapOptions, settings: Settings) -> None:
    """The layer list with the base-map choice, full screen and measuring, on every page."""
    control = folium.LayerControl(collapsed=False).add_to(m)
    _Basemaps(control, options, settings).add_to(m)
    plugins.Fullscreen(title="全屏", title_cancel="退出全屏").add_to(m)
    plugins.MeasureControl(
        primary_length_unit="meters", primary_area_unit="sqmeters", localization="cn"
    ).add_to(m)


def _title(m: folium.Map, title: str) -> None:
    """The page's title (escaped here: it names user-written things)."""
    m.get_root().header.add_child(Element(f"<title>{escape(title)}</title>"))


def _base(
    options: MapOptions, settings: Settings, centre: tuple[float, float], zoom: int = 13
) -> folium.Map:
    m = folium.Map(location=centre, zoom_start=zoom, tiles=None)
    _MetricScale().add_to(m)
    # Leaflet and the plugins only: none of Folium's default jQuery, bootstrap or fonts
    m.default_js = [(n, u) for n, u in m.default_js if n == "leaflet"]
    m.default_css = [(n, u) for n, u in m.default_css if n == "leaflet_css"]
    if options.basemap == "tianditu" and not settings.tianditu_key:
        raise InvalidInput(
            "未配置天地图密钥 GRIDMAP_TIANDITU_KEY (no Tianditu key is configured)",
            code="tianditu_key_missing",
        )
    root = m.get_root()
    root.header.add_child(Element('<meta http-equiv="Content-Language" content="zh-CN">'))
    root.header.add_child(Element(f"<style>{_CSS}</style>"))
    return m


_CSS = """
.leaflet-tooltip.gm-label { background: transparent; border: 0; box-shadow: none;
  font-weight: bold; color: #333; text-shadow: 0 0 3px #fff, 0 0 3px #fff; }
.leaflet-tooltip.gm-label:before { display: none; }
.gm-legend, .gm-lookup { background: #fff; padding: 6px 8px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); font: 12px/1.5 sans-serif; }
.gm-legend i { display: inline-block; width: 14px; height: 10px; margin-right: 4px; }
.gm-lookup input { width: 16em; }
.gm-lookup .gm-answer { max-width: 22em; }
.leaflet-popup-content { min-width: 12em; }
.leaflet-popup-content th, .leaflet-tooltip th { white-space: nowrap; }
"""


_ESCAPING = (
    "let handleObject = value => String(rawValue(value)).replace(/[&<>\"']/g, "
    "c => '&#' + c.charCodeAt(0) + ';');\n    let rawValue = feature => {"
)
_DETAIL = GeoJsonDetail.base_template.replace("let handleObject = feature => {", _ESCAPING, 1)
if "rawValue" not in _DETAIL:  # a Folium upgrade changed the template
    raise RuntimeError("gis.web.maps cannot make Folium's popups escape their values")


class _TextDetail(GeoJsonDetail):
    """Popup and tooltip rules: values show as text; a layer filled in the browser (no
    features yet) is not checked against its first feature."""

    def render(self, **kwargs: Any) -> None:
        if isinstance(self._parent, folium.GeoJson) and not self._parent.data["features"]:
            MacroElement.render(self, **kwargs)
        else:
            super().render(**kwargs)


class _Popup(_TextDetail, folium.GeoJsonPopup):
    """A GeoJSON popup whose values show as text (Folium's put them in as HTML)."""

    _template = FoliumTemplate(
        "{% macro script(this, kwargs) %}{{ this._parent.get_name() }}.bindPopup("
        + _DETAIL
        + ",{{ this.popup_options | tojavascript }});{% endmacro %}"
    )


class _Tooltip(_TextDetail, folium.GeoJsonTooltip):
    """A GeoJSON tooltip whose values show as text (Folium's put them in as HTML)."""

    _template = FoliumTemplate(
        "{% macro script(this, kwargs) %}{{ this._parent.get_name() }}.bindTooltip("
        + _DETAIL
        + ",{{ this.tooltip_options | tojavascript }});{% endmacro %}"
    )


LABEL_ZOOMS = {"county": 0, "street": 11, "community": 13}
"""The zoom from which a level's names show.  One level is labelled at a time, one label a
region: the finest level on the page whose zoom is reached (the coarsest below them all)."""


class _Labels(MacroElement):
    """Region names at a point inside each region (``[lon, lat, level, name]`` rows), the
    level shown chosen by zoom (``LABEL_ZOOMS``) so labels never pile up; names as text."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
          var map = {{ this._parent.get_name() }}, zooms = {{ this.zooms|tojson }}, groups = {};
          {{ this.rows|tojson }}.forEach(function(r) {
            var name = document.createElement('span');
            name.textContent = r[3];
            groups[r[2]] = groups[r[2]] || L.layerGroup();
            L.tooltip({permanent: true, direction: 'center', interactive: false,
                       className: 'gm-label gm-label-' + r[2]})
              .setLatLng([r[1], r[0]]).setContent(name).addTo(groups[r[2]]);
          });
          var levels = Object.keys(groups).sort(function(a, b) { return zooms[a] - zooms[b]; });
          function show() {
            var z = map.getZoom(), shown = levels[0];
            levels.forEach(function(level) { if (z >= zooms[level]) { shown = level; } });
            levels.forEach(function(level) {
              var on = level === shown;
              if (on && !map.hasLayer(groups[level])) { groups[level].addTo(map); }
              if (!on && map.hasLayer(groups[level])) { map.removeLayer(groups[level]); }
            });
          }
          map.on('zoomend', show);
          map.whenReady(show);
        })();
        {% endmacro %}"""
    )

    def __init__(self, features: list[dict[str, Any]], geoms: Any) -> None:
        super().__init__()
        self.zooms = LABEL_ZOOMS
        picked = [i for i, f in enumerate(features) if f["properties"]["level"] in LABEL_ZOOMS]
        points = shapely.get_coordinates(shapely.point_on_surface(geoms[picked]))
        props = [features[i]["properties"] for i in picked]
        self.rows = [
            [round(x, 6), round(y, 6), p["level"], p["name"]]
            for p, (x, y) in zip(props, points.tolist(), strict=True)
        ]


class _Basemaps(MacroElement):
    """The base maps as choices in the layer list, the page's own selected.  The overlays
    are drawn in one datum (GCJ-02 for AMap, else WGS84): picking a base map of the other
    datum reloads the page with ``?basemap=`` — offered only on a served page, not in an
    exported file.  Tianditu is offered when a key is configured."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
          var map = {{ this._parent.get_name() }}, control = {{ this.control.get_name() }};
          var served = /^https?:$/.test(location.protocol), datum = {{ this.datum|tojson }};
          {{ this.choices|tojson }}.forEach(function(c) {
            var reload = c.datum !== datum;
            if (reload && !served) { return; }
            var layer = c.url && !reload ? L.tileLayer(c.url, {subdomains: c.subdomains,
              attribution: c.attribution, maxZoom: 18}) : L.layerGroup();
            layer.gridmapBasemap = c.key;
            layer.gridmapReload = reload;
            control.addBaseLayer(layer, c.name);
            if (c.key === {{ this.current|tojson }}) { layer.addTo(map); }
          });
          map.on('baselayerchange', function(e) {
            if (!e.layer.gridmapReload) { return; }
            var url = new URL(location.href);
            url.searchParams.set('basemap', e.layer.gridmapBasemap);
            location.assign(url.href);
          });
        })();
        {% endmacro %}"""
    )

    def __init__(
        self, control: folium.LayerControl, options: MapOptions, settings: Settings
    ) -> None:
        super().__init__()
        self.control, self.current, self.datum = control, options.basemap, _datum(options.basemap)
        self.choices = []
        for key, name in BASEMAP_NAMES.items():
            url, subdomains, attribution = TILES.get(key, ("", "", ""))
            if key == "tianditu":
                if not settings.tianditu_key:
                    continue
                url = url.replace("KEY", settings.tianditu_key)
            self.choices.append(
                {
                    "key": key,
                    "name": name,
                    "url": url,
                    "subdomains": subdomains,
                    "attribution": attribution,
                    "datum": _datum(key),
                }
            )


class _SearchPopup(MacroElement):
    """The search's suggestions as text (leaflet-search puts them in as HTML; the labels
    are grid names as written), and the popup of the grid it found opened once the map has
    flown there (the search's own attempt misses popups bound to the whole layer)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        {{ this.grids.get_name() }}searchControl.options.buildTip = function(text) {
          var tip = L.DomUtil.create('li', '');
          tip.textContent = text;
          return tip;
        };
        {{ this.grids.get_name() }}searchControl.on('search:locationfound', function(e) {
          {{ this._parent.get_name() }}.once('moveend', function() {
            e.layer.fire('click', {latlng: e.layer.getBounds().getCenter()}, true);
          });
        });
        {% endmacro %}"""
    )

    def __init__(self, grids: folium.GeoJson) -> None:
        super().__init__()
        self.grids = grids


class _MetricScale(MacroElement):
    """A scale bar in metres only."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
        {% endmacro %}"""
    )


class _Legend(MacroElement):
    """A legend control (bottom left)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
          var legend = L.control({position: 'bottomleft'});
          legend.onAdd = function() {
            var div = L.DomUtil.create('div', 'gm-legend');
            div.innerHTML = {{ this.html|tojson }};
            return div;
          };
          legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}"""
    )

    def __init__(self, title: str, rows: list[tuple[str, str]], note: str = "") -> None:
        """``title``, ``rows`` (label, colour) and ``note`` are HTML: escape what users wrote."""
        super().__init__()
        items = "".join(f'<div><i style="background:{c}"></i>{label}</div>' for label, c in rows)
        note = f'<div class="gm-note">{note}</div>' if note else ""
        self.html = f"<b>{title}</b>{items}{note}"


class _LookupBox(MacroElement):
    """An address or coordinate box: asks the lookup API (``api_base``; the lookup answers
    CORS GETs, so an exported page opened from ``file://`` can ask a running server),
    highlights the grid it names, and says plainly when no server answers."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
          var map = {{ this._parent.get_name() }};
          var grids = {{ this.grids.get_name() if this.grids else 'null' }};
          var apiBase = {{ this.api_base|tojson }}, gcj02 = {{ this.gcj02|tojson }};
          var box = L.control({position: 'topright'}), marker = null;
          function toGcj(lon, lat) {
            var a = 6378245.0, ee = 0.00669342162296594323, x = lon - 105, y = lat - 35;
            var dLat = -100 + 2*x + 3*y + 0.2*y*y + 0.1*x*y + 0.2*Math.sqrt(Math.abs(x));
            dLat += (20*Math.sin(6*x*Math.PI) + 20*Math.sin(2*x*Math.PI)) * 2/3;
            dLat += (20*Math.sin(y*Math.PI) + 40*Math.sin(y/3*Math.PI)) * 2/3;
            dLat += (160*Math.sin(y/12*Math.PI) + 320*Math.sin(y*Math.PI/30)) * 2/3;
            var dLon = 300 + x + 2*y + 0.1*x*x + 0.1*x*y + 0.1*Math.sqrt(Math.abs(x));
            dLon += (20*Math.sin(6*x*Math.PI) + 20*Math.sin(2*x*Math.PI)) * 2/3;
            dLon += (20*Math.sin(x*Math.PI) + 40*Math.sin(x/3*Math.PI)) * 2/3;
            dLon += (150*Math.sin(x/12*Math.PI) + 300*Math.sin(x/30*Math.PI)) * 2/3;
            var rad = lat/180*Math.PI, magic = Math.sin(rad);
            magic = 1 - ee*magic*magic;
            var sq = Math.sqrt(magic);
            dLat = (dLat*180) / ((a*(1 - ee)) / (magic*sq) * Math.PI);
            dLon = (dLon*180) / (a/sq*Math.cos(rad) * Math.PI);
            return [lon + dLon, lat + dLat];
          }
          box.onAdd = function() {
            var div = L.DomUtil.create('div', 'gm-lookup');
            div.innerHTML = '<form><input name="q" placeholder="地址或经度,纬度（WGS84）">' +
              ' <button type="submit">查询网格</button></form><div class="gm-answer"></div>';
            L.DomEvent.disableClickPropagation(div);
            var answer = div.querySelector('.gm-answer');
            div.querySelector('form').onsubmit = function(e) {
              e.preventDefault();
              var q = this.q.value.trim();
              var xy = q.match(/^(-?\\d+(?:\\.\\d+)?)\\s*[,，\\s]\\s*(-?\\d+(?:\\.\\d+)?)$/);
              var url = apiBase + '/api/v1/lookup?' + (xy ?
                'lon=' + xy[1] + '&lat=' + xy[2] : 'address=' + encodeURIComponent(q));
              answer.textContent = '查询中…';
              fetch(url).catch(function() {
                var down = new Error('无法连接查询服务 ' + (apiBase || location.origin) +
                  '：请确认 gridmap 服务已启动');
                down.plain = true;
                throw down;
              }).then(function(r) {
                return r.json().then(function(body) { return {ok: r.ok, body: body}; });
              }).then(function(res) {
                var b = res.body;
                if (!res.ok) { answer.textContent = b.message; return; }
                var grid = b.grid || (b.nearest && b.nearest.grid), code = grid && grid.code;
                var hit = null;
                if (grids) {
                  grids.eachLayer(function(layer) {
                    grids.resetStyle(layer);
                    if (layer.feature.properties.code === code) { hit = layer; }
                  });
                }
                if (hit) {
                  hit.setStyle({color: {{ this.highlight|tojson }}, weight: 5});
                  hit.bringToFront();
                  map.fitBounds(hit.getBounds());
                }
                var p = gcj02 ? toGcj(b.point.lon, b.point.lat) : [b.point.lon, b.point.lat];
                if (marker) { map.removeLayer(marker); }
                marker = L.circleMarker([p[1], p[0]], {radius: 6, color: '#000',
                  className: 'gm-found'}).addTo(map);
                var where = [b.county, b.street, b.community].filter(Boolean)
                  .map(function(r) { return r.name; }).join(' ');
                answer.textContent = b.covered ? '所在网格：' + grid.name + '（' + code + '）' :
                  '不在任何网格内' + (where ? '（位于 ' + where + '）' : '') +
                  (grid ? '，最近网格：' + grid.name + '（' + b.nearest.distance_m + ' 米）' : '');
                window.gridmapLookup = {code: code, covered: b.covered, point: p};
              }).catch(function(err) {
                answer.textContent = err.plain ? err.message : '查询失败：' + err;
              });
            };
            return div;
          };
          box.addTo(map);
        })();
        {% endmacro %}"""
    )

    def __init__(self, grids: folium.GeoJson | None, api_base: str, gcj02: bool) -> None:
        super().__init__()
        self.grids, self.api_base, self.gcj02, self.highlight = grids, api_base, gcj02, HIGHLIGHT


def _roots(conn: Connection) -> list[str]:
    return list(
        conn.scalars(
            text(
                "SELECT code FROM regions WHERE valid_to IS NULL AND (parent_code IS NULL OR "
                "parent_code NOT IN (SELECT code FROM regions WHERE valid_to IS NULL)) "
                "ORDER BY code"
            )
        )
    )


def _surroundings(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The parent of ``code`` and its neighbours (current regions of its level meeting it,
    found through the spatial index), without what lies below them."""
    codes = conn.scalars(
        text(
            "SELECT n.code FROM regions r JOIN regions n ON n.valid_to IS NULL "
            "AND n.level = r.level AND n.code <> r.code AND ST_Intersects(n.geom, r.geom) "
            "WHERE r.code = :code AND r.valid_to IS NULL "
            "UNION SELECT parent_code FROM regions "
            "WHERE code = :code AND valid_to IS NULL AND parent_code IS NOT NULL"
        ),
        {"code": code},
    ).all()
    return subtree(conn, list(codes), simplify_m=SIMPLIFY_M, descend=False)


def region_map(
    conn: Connection, settings: Settings, region: str | None, options: MapOptions
) -> folium.Map:
    """The map of a region and everything below it, opened on the region (or, with None, of
    every top-level region, opened on all of them).  A region with nothing below it (a town
    without communities, a grid, a newly uploaded county) is shown with its parent and its
    neighbours, so the page says where it is."""
    if region is not None:
        require_region(conn, region, current_version(conn))
    roots = [region] if region is not None else _roots(conn)
    features = redact(subtree(conn, roots, simplify_m=SIMPLIFY_M), options.role)
    if not features:
        raise InvalidInput("没有可显示的区域 (there are no regions to show)", code="empty_map")
    around = _surroundings(conn, region) if region is not None and len(features) == 1 else []
    shift = _Shift(options.basemap)
    geoms = shift([shape(f["geometry"]) for f in features])
    grid_i = [i for i, f in enumerate(features) if f["properties"]["level"] == "grid"]
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    m = _base(options, settings, ((y0 + y1) / 2, (x0 + x1) / 2))
    m.fit_bounds([[y0, x0], [y1, x1]], padding=(80, 80) if around else None)

    reports = [analysis.coverage(conn, code, "centres", settings) for code in roots]
    per_grid = {g["code"]: g for r in reports for g in r["grids"]}
    names = {f["id"]: f["properties"]["name"] for f in [*features, *around]}
    if around:
        _surrounding_layers(m, features[0], around, shift)

    for level in ("county", "street", "community"):
        picked = [i for i, f in enumerate(features) if f["properties"]["level"] == level]
        if not picked:
            continue
        props = [{"code": features[i]["id"], "name": names[features[i]["id"]]} for i in picked]
        style = OUTLINES[level] | (FOCUS if around else {})
        folium.GeoJson(
            _collection(geoms[picked], props),
            name=LEVEL_NAMES[level],
            style_function=_style(**style, className=f"gm-{level}"),
            tooltip=_Tooltip(["name", "code"], aliases=["名称", "编码"]),
        ).add_to(m)
    labelled = [*features, *(f for f in around if f["properties"]["level"] != "grid")]
    _Labels(labelled, shift([shape(f["geometry"]) for f in labelled])).add_to(m)

    grids = _grid_layer(features, grid_i, geoms, names, per_grid, settings, options)
    if grids is not None:
        grids.add_to(m)
        plugins.Search(
            layer=grids,
            search_label="label",
            placeholder="搜索网格名称或编码",
            collapsed=False,
            search_zoom=16,
            color=HIGHLIGHT,
            weight=5,
        ).add_to(m)
        _SearchPopup(grids).add_to(m)
        _blind_spots(m, reports, grids, shift)
    _centres(m, reports, shift)
    _cameras(conn, m, [shape(f["geometry"]) for f in features], shift)

    _controls(m, options, settings)
    _LookupBox(grids, options.api_base, options.basemap == "amap").add_to(m)
    if options.colour_by == "households":
        band = f"{settings.grid_households_min}–{settings.grid_households_max} 户"
        rows = [(label, colour) for label, colour in HOUSEHOLD_CLASSES.values()]
        title = f"网格户数（标准 {band}）"
    else:
        rows = [(label, colour) for _, label, colour in COVERAGE_CLASSES]
        rows += [(NO_BUILDINGS, HOUSEHOLD_CLASSES["unknown"][1])]
        title = "党群服务覆盖率"
    rows += [(name, colour) for name, colour in CENTRE_LEVELS.values()]
    rows += [
        ("摄像机（在线）", CAMERA_COLOURS["online"]),
        ("摄像机（离线）", CAMERA_COLOURS["offline"]),
    ]
    rows += [("服务盲区", BLIND_COLOUR)]
    if around:
        rows += [("相邻区域", NEIGHBOUR["color"])]
    _Legend(title, rows).add_to(m)
    title_name = names.get(roots[0], "") if len(roots) == 1 else "全部区域"
    _title(m, f"网格地图 · {title_name}")
    return m


FOCUS = {"fill": True, "fillColor": "#fee391", "fillOpacity": 0.35}
"""The region of a page that has nothing below it: filled, among its neighbours."""
NEIGHBOUR = {"color": "#888888", "weight": 1.2, "fill": True, "fillColor": "#cccccc"}
NO_BUILDINGS = "无建筑（无从计算覆盖率）"


def _surrounding_layers(
    m: folium.Map, region: dict[str, Any], around: list[dict[str, Any]], shift: _Shift
) -> None:
    """The parent's outline and the neighbours of a region that has nothing below it."""
    level = region["properties"]["level"]
    for name, picked, style in (
        ("上级区域", [f for f in around if f["properties"]["level"] != level], "gm-parent"),
        ("相邻区域", [f for f in around if f["properties"]["level"] == level], "gm-neighbour"),
    ):
        if not picked:
            continue
        fixed = (
            OUTLINES[picked[0]["properties"]["level"]]
            if style == "gm-parent"
            else NEIGHBOUR | {"fillOpacity": 0.15}
        )
        folium.GeoJson(
            _collection(
                shift([shape(f["geometry"]) for f in picked]),
                [{"code": f["id"], "name": f["properties"]["name"]} for f in picked],
            ),
            name=name,
            style_function=_style(**fixed, className=style),
            tooltip=_Tooltip(["name", "code"], aliases=["名称", "编码"]),
        ).add_to(m)


def _grid_layer(
    features: list[dict[str, Any]],
    grid_i: list[int],
    geoms: Any,
    names: dict[str, str],
    per_grid: dict[str, dict[str, Any]],
    settings: Settings,
    options: MapOptions,
) -> folium.GeoJson | None:
    """The grids, coloured by households or coverage, with popups; None without grids."""
    if not grid_i:
        return None
    grid_props = []
    for i in grid_i:
        p = features[i]["properties"]
        pct = per_grid.get(p["code"], {}).get("covered_households_pct")
        props = {
            "code": p["code"],
            "name": p["name"],
            "label": f"{p['name']} {p['code']}",
            "community": names.get(p["parent_code"]),
            "grid_worker": p["grid_worker"],
            "party_branch": p["party_branch"],
            "households": p["households"],
            "coverage_pct": pct,
            "coverage": "无建筑" if pct is None else f"{pct:g} %",
            "area_m2": round(p["area_m2"]),
            "band": _household_class(p["households"], settings),
        }
        fill = (
            HOUSEHOLD_CLASSES[props["band"]][1]
            if options.colour_by == "households"
            else _coverage_colour(pct)
        )
        # the search restores every grid's style from ``style`` before outlining its hit
        props["style"] = {
            "color": "#3b3b3b",
            "weight": 1,
            "fillColor": fill,
            "fillOpacity": 0.55,
            "className": "gm-grid",
        }
        grid_props.append(props)
    return folium.GeoJson(
        _collection(geoms[grid_i], grid_props),
        name="网格",
        style_function=lambda feature: feature["properties"]["style"],
        highlight_function=_style(weight=3, color="#000000"),
        popup=_Popup(
            ["name", "code", "community", "grid_worker", "party_branch", "households", "coverage"],
            aliases=["网格", "编码", "社区", "网格员", "党支部", "户数", "服务覆盖率"],
        ),
        tooltip=_Tooltip(["name"], labels=False),
    )


BLIND_SIMPLIFY_DEG = 1e-5
"""Blind-spot outlines are simplified by ~1 m: they are read at street zooms."""


class _CopyGrids(MacroElement):
    """Adds the drawn grids listed in ``codes`` to another GeoJSON layer, in the browser:
    a grid no centre reaches is wholly a blind spot, and its outline is in the page already."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
          var codes = new Set({{ this.codes|tojson }});
          {{ this.grids.get_name() }}.eachLayer(function(layer) {
            var p = layer.feature.properties;
            if (codes.has(p.code)) {
              {{ this.target.get_name() }}.addData({type: 'Feature', geometry:
                layer.feature.geometry, properties: {grid_code: p.code, area_m2: p.area_m2}});
            }
          });
        })();
        {% endmacro %}"""
    )

    def __init__(self, grids: folium.GeoJson, target: folium.GeoJson, codes: list[str]) -> None:
        super().__init__()
        self.grids, self.target, self.codes = grids, target, codes


def _blind_spots(
    m: folium.Map,
    reports: list[dict[str, Any]],
    grids: folium.GeoJson,
    shift: _Shift,
) -> None:
    area = {g["code"]: g["area_km2"] * 1e6 for r in reports for g in r["grids"]}
    spots = [s for r in reports for s in r["blind_spots"]]
    whole = [s for s in spots if s["area_m2"] >= 0.999 * area.get(s["grid_code"], np.inf)]
    part = [s for s in spots if s not in whole]
    if not spots:
        return
    outlines = shapely.simplify(
        shift([shape(s["geometry"]) for s in part]), BLIND_SIMPLIFY_DEG, preserve_topology=True
    )
    layer = folium.GeoJson(
        _collection(
            outlines, [{"grid_code": s["grid_code"], "area_m2": s["area_m2"]} for s in part]
        ),
        name="服务盲区",
        style_function=_style(
            color=BLIND_COLOUR,
            weight=0.5,
            fillColor=BLIND_COLOUR,
            fillOpacity=0.25,
            className="gm-blind",
        ),
        tooltip=_Tooltip(["grid_code", "area_m2"], aliases=["网格", "盲区面积 m²"]),
        show=False,
    )
    layer.add_to(m)
    _CopyGrids(grids, layer, [s["grid_code"] for s in whole]).add_to(m)


def _centres(m: folium.Map, reports: list[dict[str, Any]], shift: _Shift) -> None:
    centres = {c["id"]: c for r in reports for c in r["facilities"]}.values()
    if not centres:
        return
    lon = np.array([c["lon"] for c in centres])
    lat = np.array([c["lat"] for c in centres])
    radius = np.array([c["radius_m"] for c in centres])
    props = [
        {
            "name": c["name"],
            "level": c["level"],
            "level_name": CENTRE_LEVELS[c["level"]][0],
            "radius_m": c["radius_m"],
            "households": c["households"],
        }
        for c in centres
    ]
    folium.GeoJson(
        _collection(shift(circle_polygons(lon, lat, radius, vertices=72)), props),
        name="服务范围",
        interactive=False,
        style_function=lambda f: {
            "color": CENTRE_LEVELS[f["properties"]["level"]][1],
            "weight": 1,
            "fillOpacity": 0.08,
            "className": "gm-reach",
        },
    ).add_to(m)
    folium.GeoJson(
        _collection(shift(shapely.points(lon, lat)), props),
        name="党群服务中心",
        marker=folium.CircleMarker(radius=7, fill=True, fill_opacity=0.9),
        style_function=lambda f: {
            "color": "#000000",
            "weight": 1,
            "fillColor": CENTRE_LEVELS[f["properties"]["level"]][1],
            "className": "gm-centre",
        },
        popup=_Popup(
            ["name", "level_name", "radius_m", "households"],
            aliases=["名称", "级别", "服务半径 m", "覆盖户数"],
        ),
    ).add_to(m)


class _Cameras(MacroElement):
    """Cameras and their fields of view, drawn in the browser from compact rows
    ``[lon, lat, online, azimuth, fov, range, device_id, name]``: a sector is the camera's
    point and an arc of ``range`` metres every 10°, on a sphere of the Earth's mean radius
    (under 0.5 % off the ellipsoid's distances — the coverage numbers are exact)."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        (function() {
          var rows = {{ this.rows|tojson }}, R = 6371008.8, rad = Math.PI / 180;
          function esc(t) { return String(t == null ? '' : t).replace(/[&<>]/g,
            function(c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;'}[c]; }); }
          function ahead(lon, lat, bearing, metres) {
            var d = metres / R, b = bearing * rad, p = lat * rad;
            var q = Math.asin(Math.sin(p) * Math.cos(d) + Math.cos(p) * Math.sin(d) * Math.cos(b));
            var l = lon * rad + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p),
                                           Math.cos(d) - Math.sin(p) * Math.sin(q));
            return [q / rad, l / rad];
          }
          rows.forEach(function(r) {
            var online = r[2] === 1;
            L.circleMarker([r[1], r[0]], {radius: 3, weight: 1, fill: true, fillOpacity: 1,
              color: online ? {{ this.online|tojson }} : {{ this.offline|tojson }},
              className: 'gm-camera'})
              .bindPopup('<b>' + esc(r[7]) + '</b><br>国标编码 ' + esc(r[6]) + '<br>状态 ' +
                (online ? '在线' : '离线') + '<br>方位角 ' + r[3] + '° 视场角 ' + r[4] +
                '° 可视距离 ' + r[5] + ' 米')
              .addTo({{ this.points.get_name() }});
            if (!online) { return; }
            var ring = r[4] >= 360 ? [] : [[r[1], r[0]]];
            var from = r[4] >= 360 ? 0 : r[3] - r[4] / 2, to = r[4] >= 360 ? 360 : r[3] + r[4] / 2;
            for (var b = from; b < to; b += 10) { ring.push(ahead(r[0], r[1], b, r[5])); }
            ring.push(ahead(r[0], r[1], to, r[5]));
            L.polygon(ring, {color: {{ this.online|tojson }}, weight: 0.5, fillOpacity: 0.15,
              interactive: false, className: 'gm-sector'}).addTo({{ this.sectors.get_name() }});
          });
        })();
        {% endmacro %}"""
    )

    def __init__(
        self, rows: list[list[Any]], points: folium.FeatureGroup, sectors: folium.FeatureGroup
    ) -> None:
        super().__init__()
        self.rows, self.points, self.sectors = rows, points, sectors
        self.online, self.offline = CAMERA_COLOURS["online"], CAMERA_COLOURS["offline"]


def _cameras(conn: Connection, m: folium.Map, area: Any, shift: _Shift) -> None:
    """The cameras that can see into ``area`` (within their range of its bounding box)."""
    reach = conn.scalar(text("SELECT max(range_m) FROM cameras"))
    if reach is None:
        return
    rows = conn.execute(
        text(
            "SELECT device_id, name, status, azimuth_deg, fov_deg, range_m, ST_X(geom) AS lon, "
            "ST_Y(geom) AS lat FROM cameras WHERE ST_DWithin(geom::geography, "
            "ST_GeomFromWKB(:box, 4326)::geography, :reach) ORDER BY id"
        ),
        {"box": shapely.to_wkb(shapely.box(*shapely.total_bounds(area))), "reach": reach},
    ).all()
    if not rows:
        return
    xy = shapely.get_coordinates(
        shift(shapely.points([r.lon for r in rows], [r.lat for r in rows]))
    )
    sectors = folium.FeatureGroup(name="摄像机视场").add_to(m)
    points = folium.FeatureGroup(name="摄像机").add_to(m)
    compact = [
        [round(x, 6), round(y, 6), int(r.status == "online"), r.azimuth_deg, r.fov_deg,
         r.range_m, r.device_id, r.name]
        for r, (x, y) in zip(rows, xy.tolist(), strict=True)
    ]  # fmt: skip
    _Cameras(compact, points, sectors).add_to(m)


PROBLEM_KINDS = {
    "overlap": "重叠",
    "gap": "缝隙",
    "outside_parent": "超出上级",
    "region_moved": "区域位移",
    "child_outside": "下级超出",
    "overlap_stored": "与现有区域重叠",
    "crs_suggestion": "坐标系建议",
    "area_change": "面积变化",
    "sliver_overlap": "细小重叠",
    "sliver_gap": "细小缝隙",
    "sliver_polygon": "狭长碎片",
    "invalid_geometry": "几何无效",
    "make_valid": "几何已修复",
    "empty_geometry": "没有几何",
    "wrong_geometry_type": "几何类型不符",
    "missing_code": "缺少编码",
    "missing_name": "缺少名称",
    "code_format": "编码格式",
    "duplicate_code": "编码重复",
    "invalid_value": "取值无效",
    "unknown_field": "未知字段",
    "missing_parent": "上级不存在",
    "parent_level_mismatch": "上级层级不符",
    "parent_mismatch": "上级不符",
    "would_orphan_children": "下级将无上级",
}
"""Problem kinds as the review page names them (an unknown kind shows as itself)."""
CHANGES = {
    "added": ("新增", "#1a9850"),
    "modified": ("修改", "#2166ac"),
    "unchanged": ("未变", "#969696"),
    "unknown": ("未比较（有错误）", "#e6ab02"),
    "removed": ("删除", "#762a83"),
}
"""What an upload does to a region, and its colour on the review page."""
UPLOAD_STATUS = {
    "dry_run": "试运行",
    "committed": "已提交",
    "unchanged": "无变化",
    "rejected": "未通过",
}
PROBLEM_COLOURS = {"error": ("错误", "#d7301f"), "warning": ("警告", "#fc8d59")}
CONTEXT_COLOUR = "#555555"
CONTEXT_LIMIT = 5000
"""The most stored regions drawn around an upload."""


def _problem_shape(problem: dict[str, Any]) -> Any:
    if problem.get("geometry"):
        return shape(problem["geometry"])
    return shapely.Point(problem["location"]) if problem.get("location") else None


def _stored(
    conn: Connection, version: int | None, level: str | None, around: list[Any], codes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Regions stored at ``version``: those of ``level`` meeting the bounding box of
    ``around`` (index query), and the regions ``codes``."""
    context: list[dict[str, Any]] = []
    if around and level is not None:
        context, _ = list_regions(
            conn,
            version=version,
            level=level,
            bbox=BBox(*shapely.total_bounds(around)),
            limit=CONTEXT_LIMIT,
            simplify_m=SIMPLIFY_M[level],
        )
    named = [
        f
        for code in codes
        for f in list_regions(
            conn,
            version=version,
            equals={"code": code},
            limit=1,
            simplify_m=SIMPLIFY_M["grid"],
        )[0]
    ]
    return context, named


def upload_map(
    conn: Connection, settings: Settings, upload_id: int, options: MapOptions
) -> folium.Map:
    """An upload for review: the file's regions as they would be stored, coloured by what the
    upload does to each (added, modified, unchanged), the regions it removes, and its
    validation problems, over the stored regions of its level around them as they stood
    before it — a shifted file shows at a glance.  An upload with nothing to draw gets a page
    saying so."""
    upload = get_upload(conn, upload_id)
    report = upload["report"]
    version = upload["version"] - 1 if upload["version"] else current_version(conn)
    drawn = [f for f in (upload.get("features") or {"features": []})["features"] if f["geometry"]]
    problems = [(p, g) for p in report.get("problems", []) if (g := _problem_shape(p))]
    removed_codes = ((report.get("summary") or {}).get("changes") or {}).get("removed", [])
    mine = [*(shape(f["geometry"]) for f in drawn), *(g for _, g in problems)]
    context, removed = _stored(conn, version, upload.get("level"), mine, removed_codes)
    shift = _Shift(options.basemap)
    focus = shift([*mine, *(shape(f["geometry"]) for f in removed)])
    shown = focus if len(focus) else shift([shape(f["geometry"]) for f in context])
    title = f"上传 {upload_id}（{escape(upload['filename'])}）"
    status = UPLOAD_STATUS.get(upload["status"], upload["status"])
    if not len(shown):
        m = _base(options, settings, (35.0, 105.0), zoom=4)
        _Legend(title, [], note=f"{status}：没有可在地图上显示的要素或问题").add_to(m)
        _title(m, f"上传校验 · {upload['filename']}")
        return m
    x0, y0, x1, y1 = shapely.total_bounds(shown)
    m = _base(options, settings, ((y0 + y1) / 2, (x0 + x1) / 2))
    m.fit_bounds([[y0, x0], [y1, x1]])
    rows: list[tuple[str, str]] = []
    if context:
        folium.GeoJson(
            _collection(
                shift([shape(f["geometry"]) for f in context]),
                [{"name": f["properties"]["name"], "code": f["id"]} for f in context],
            ),
            name="现有区域",
            style_function=_style(
                color=CONTEXT_COLOUR, weight=1, fill=False, className="gm-context"
            ),
            tooltip=_Tooltip(["name", "code"], aliases=["名称", "编码"]),
        ).add_to(m)
        rows.append(("现有区域", CONTEXT_COLOUR))
    if removed:
        name, colour = CHANGES["removed"]
        folium.GeoJson(
            _collection(
                shift([shape(f["geometry"]) for f in removed]),
                [{"name": f["properties"]["name"], "code": f["id"]} for f in removed],
            ),
            name=f"将删除的区域（{len(removed)}）",
            style_function=_style(
                color=colour,
                weight=2,
                dashArray="6 4",
                fillColor=colour,
                fillOpacity=0.15,
                className="gm-removed",
            ),
            tooltip=_Tooltip(["name", "code"], aliases=["删除", "编码"]),
        ).add_to(m)
        rows.append((name, colour))
    if drawn:
        _file_layer(m, drawn, shift(mine[: len(drawn)]))
        present = {f["properties"].get("change") or "unknown" for f in drawn}
        rows += [CHANGES[c] for c in CHANGES if c in present]
    if problems:
        _problem_layer(m, problems, shift([g for _, g in problems]))
        rows += [(f"校验问题：{name}", colour) for name, colour in PROBLEM_COLOURS.values()]
    _controls(m, options, settings)
    summary = report.get("summary") or {}
    note = (
        f"{status} · {summary.get('features', len(drawn))} 个要素 · "
        f"{summary.get('errors', 0)} 个错误 · {summary.get('warnings', 0)} 个警告"
    )
    _Legend(title, rows, note=note).add_to(m)
    _title(m, f"上传校验 · {upload['filename']}")
    return m


def _file_layer(m: folium.Map, drawn: list[dict[str, Any]], geoms: Any) -> None:
    """The file's regions, coloured by what the upload does to each."""
    props = []
    for f in drawn:
        p = f["properties"]
        change = p.get("change") or "unknown"
        props.append(
            {
                "feature": p.get("feature"),
                "code": p.get("code"),
                "name": p.get("name"),
                "change": change,
                "change_name": CHANGES[change][0],
            }
        )
    folium.GeoJson(
        _collection(geoms, props),
        name=f"文件中的区域（{len(drawn)}）",
        style_function=lambda f: {
            "color": CHANGES[f["properties"]["change"]][1],
            "weight": 2,
            "fillColor": CHANGES[f["properties"]["change"]][1],
            "fillOpacity": 0.2,
            "className": f"gm-{f['properties']['change']}",
        },
        highlight_function=_style(weight=4),
        popup=_Popup(
            ["change_name", "code", "name", "feature"],
            aliases=["变化", "编码", "名称", "要素序号"],
        ),
        tooltip=_Tooltip(["name", "change_name"], labels=False),
    ).add_to(m)


def _problem_layer(m: folium.Map, problems: list[tuple[dict[str, Any], Any]], geoms: Any) -> None:
    """Validation problems: errors red, warnings orange; kinds in Chinese."""
    props = [
        {
            "kind": PROBLEM_KINDS.get(p["kind"], p["kind"]),
            "severity": PROBLEM_COLOURS[p["severity"]][0],
            "code": p.get("code"),
            "feature": p.get("feature"),
            "message": p["message"],
            "colour": PROBLEM_COLOURS[p["severity"]][1],
        }
        for p, _ in problems
    ]
    folium.GeoJson(
        _collection(geoms, props),
        name="校验问题",
        marker=folium.CircleMarker(radius=6, fill=True, fill_opacity=0.9),
        style_function=lambda f: {
            "color": f["properties"]["colour"],
            "weight": 2,
            "fillOpacity": 0.5,
            "className": "gm-problem",
        },
        popup=_Popup(
            ["severity", "kind", "code", "feature", "message"],
            aliases=["级别", "问题", "编码", "要素序号", "说明"],
        ),
    ).add_to(m)


_SWITCHES = re.compile(r"<script>(\s*L_NO_TOUCH = false;\s*L_DISABLE_3D = false;\s*</script>)")
_MAP_SCRIPT = "</body>\n<script>"
"""Folium's two inline scripts: its global switches (in the head) and the map's script (last)."""


def _with_nonce(html: str, nonce: str) -> str:
    """Folium's own inline scripts, found where Folium puts them, carrying ``nonce``."""
    tag = f'<script nonce="{nonce}">'
    html, switches = _SWITCHES.subn(lambda s: tag + s.group(1), html, count=1)
    if switches != 1 or html.count(_MAP_SCRIPT) != 1:  # a Folium upgrade changed its page
        raise RuntimeError("gis.web.maps cannot find the inline scripts of Folium's page")
    return html.replace(_MAP_SCRIPT, f"</body>\n{tag}", 1)


def page_html(m: folium.Map, settings: Settings, *, inline: bool, nonce: str | None = None) -> str:
    """The page's HTML in zh-CN with every script and style local (``inline``: in the file).

    ``nonce`` (a served page's Content-Security-Policy nonce) goes on the page's own inline
    scripts only: any other inline script in it, written by no one here, is not run."""
    html = m.get_root().render()
    html = html.replace("<html>", '<html lang="zh-CN">', 1)
    html = map_assets.offline_html(html, inline=inline, vendor_dir=settings.vendor_dir)
    return html if nonce is None else _with_nonce(html, nonce)
