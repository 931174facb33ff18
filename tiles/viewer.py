"""A MapLibre GL JS page of the vector tiles (zh-CN, no base map, no network beyond gridmap).

Every tile layer is a vector source read from its TileJSON; grids are coloured by households
against the standard band (like the Folium pages, ``gis.maps``), outlines by level, centres
and cameras as circles with their service areas and fields of view; names of counties,
streets, communities and grids as labels (from the ``labels`` layer: one point a region)
from zoom 8, 10, 12 and 14, of centres from 15.  The style has no ``glyphs`` URL, so
MapLibre (≥ 5) draws every character in the browser (TinySDF) with the fonts of ``LABEL_FONT``
— no glyph files to serve, Chinese and digits alike; such a style fails MapLibre's style
validation ("text-field requires glyphs"), which the page therefore turns off.  MapLibre
comes from ``/vendor`` (``gis.map_assets``).
"""

from __future__ import annotations

import html
import json

from gis.map_assets import PACKAGES, VENDOR_URL
from gis.maps import CENTRE_LEVELS, HOUSEHOLD_CLASSES
from gis.settings import Settings
from tiles.layers import LAYERS

MAPLIBRE = next(p for p in PACKAGES if p.name == "maplibre-gl")
MAPLIBRE_JS = f"{VENDOR_URL}/{MAPLIBRE.dirname}/dist/maplibre-gl.js"
MAPLIBRE_CSS = f"{VENDOR_URL}/{MAPLIBRE.dirname}/dist/maplibre-gl.css"

LABEL_FONT = ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC"]
"""CSS font families of the labels, in order (then the browser's sans-serif)."""

TOGGLES = (
    ("grids", "网格"),
    ("communities", "社区/村"),
    ("streets", "街道/乡镇"),
    ("counties", "县"),
    ("centres", "党群服务阵地"),
    ("centre_areas", "服务范围"),
    ("cameras", "摄像机"),
    ("camera_sectors", "摄像机视域"),
)

_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>矢量瓦片地图 — gridmap</title>
<link rel="stylesheet" href="__CSS__">
<script src="__JS__"></script>
<style>
  html, body, #map { margin: 0; height: 100%; }
  body { font: 13px/1.5 "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
  .gm-panel { position: absolute; top: 10px; left: 10px; background: #fff; padding: 8px 10px;
              border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-width: 220px; }
  .gm-panel h1 { font-size: 14px; margin: 0 0 4px; }
  .gm-panel label { display: block; white-space: nowrap; }
  .gm-swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
               vertical-align: -1px; border: 1px solid #888; }
  .gm-popup table { border-collapse: collapse; }
  .gm-popup th { text-align: left; padding-right: 8px; font-weight: normal; color: #666;
                white-space: nowrap; }
</style>
</head>
<body>
<div id="map"></div>
<div class="gm-panel">
  <h1>矢量瓦片地图</h1>
  <div class="gm-version"></div>
  <div class="gm-toggles"></div>
  <div class="gm-legend"></div>
</div>
<script nonce="__NONCE__">
const GRIDMAP = __CONFIG__;
const base = window.location.origin;
const query = GRIDMAP.asOf ? `?as_of=${GRIDMAP.asOf}` : "";
const sources = {};
for (const [name, layer] of Object.entries(GRIDMAP.layers)) {
  const url = `${base}/tiles/${name}.json${layer.versioned ? query : ""}`;
  sources[name] = {type: "vector", url};
  if (layer.versioned) sources[name].promoteId = "code";
}
const hh = ["coalesce", ["get", "households"], -1];
const c = GRIDMAP.colours;
const layers = [
  {id: "background", type: "background", paint: {"background-color": "#f4f2ec"}},
  {id: "grids-fill", type: "fill", source: "grids", "source-layer": "grids", paint: {
    "fill-color": ["case", ["<", hh, 0], c.unknown, ["<", hh, GRIDMAP.band[0]], c.below,
                   [">", hh, GRIDMAP.band[1]], c.above, c.within],
    "fill-opacity": ["case", ["boolean", ["feature-state", "selected"], false], 0.9, 0.55]}},
  {id: "grids-line", type: "line", source: "grids", "source-layer": "grids",
   paint: {"line-color": "#666", "line-width": 0.7}},
  {id: "centre_areas-fill", type: "fill", source: "centre_areas", "source-layer": "centre_areas",
   paint: {"fill-color": ["match", ["get", "level"], ...GRIDMAP.centreColours, "#999"],
           "fill-opacity": 0.12, "fill-outline-color": "#b2182b"}},
  {id: "camera_sectors-fill", type: "fill", source: "camera_sectors",
   "source-layer": "camera_sectors", paint: {"fill-color": "#3182bd", "fill-opacity": 0.18}},
  {id: "communities-line", type: "line", source: "communities", "source-layer": "communities",
   paint: {"line-color": "#555", "line-width": 1.8, "line-dasharray": [4, 3]}},
  {id: "streets-line", type: "line", source: "streets", "source-layer": "streets",
   paint: {"line-color": "#444", "line-width": 2.5, "line-dasharray": [8, 4]}},
  {id: "counties-line", type: "line", source: "counties", "source-layer": "counties",
   paint: {"line-color": "#222", "line-width": 3.5}},
  {id: "cameras-circle", type: "circle", source: "cameras", "source-layer": "cameras", paint: {
    "circle-radius": 2.5, "circle-stroke-width": 0.5, "circle-stroke-color": "#fff",
    "circle-color": ["match", ["get", "status"], "online", "#08519c", "#999999"]}},
  {id: "centres-circle", type: "circle", source: "centres", "source-layer": "centres", paint: {
    "circle-radius": ["match", ["get", "level"], "centre", 8, "station", 6, 4.5],
    "circle-color": ["match", ["get", "level"], ...GRIDMAP.centreColours, "#999"],
    "circle-stroke-width": 1, "circle-stroke-color": "#fff"}},
];
// names: regions from the label points (one a region), centres from their points; each
// label is switched with the layer it names (metadata.toggle)
const label = (id, source, toggle, minzoom, size, extra = {}) => ({
  id, source, "source-layer": source, type: "symbol", minzoom, metadata: {toggle},
  layout: {"text-field": ["get", "name"], "text-font": GRIDMAP.labelFont, "text-size": size,
           "text-max-width": 8, ...extra.layout},
  paint: {"text-color": "#222", "text-halo-color": "#fff", "text-halo-width": 1.2},
  ...(extra.filter ? {filter: extra.filter} : {}),
  ...(extra.maxzoom ? {maxzoom: extra.maxzoom} : {})});
const level = (name) => ["==", ["get", "level"], name];
layers.push(
  label("counties-label", "labels", "counties", 8, 15, {filter: level("county"), maxzoom: 11}),
  label("streets-label", "labels", "streets", 10, 14, {filter: level("street"), maxzoom: 13}),
  label("communities-label", "labels", "communities", 12, 13,
        {filter: level("community"), maxzoom: 15}),
  label("grids-label", "labels", "grids", 14, 12, {filter: level("grid")}),
  label("centres-label", "centres", "centres", 15, 12,
        {layout: {"text-anchor": "top", "text-offset": [0, 0.8], "text-optional": true}}),
);
const map = new maplibregl.Map({
  container: "map",
  style: {version: 8, sources, layers},
  bounds: GRIDMAP.bounds,
  fitBoundsOptions: {padding: {top: 30, bottom: 30, right: 30, left: 250}},
  maxZoom: GRIDMAP.maxZoom, attributionControl: false,
  validateStyle: false,  // labels without a glyphs URL: drawn in the browser (see the module)
});
map.addControl(new maplibregl.NavigationControl(), "top-right");
map.addControl(new maplibregl.ScaleControl({unit: "metric"}), "bottom-left");
window.gridmapMap = map;
map.once("idle", () => { window.gridmapIdle = true; });

const panel = document.querySelector(".gm-panel");
panel.querySelector(".gm-version").textContent =
  GRIDMAP.version === null ? "暂无边界数据" : `边界版本 ${GRIDMAP.version}`;
const toggles = panel.querySelector(".gm-toggles");
for (const [name, label] of GRIDMAP.toggles) {
  const box = document.createElement("label");
  box.innerHTML = `<input type="checkbox" checked data-layer="${name}"> ${label}`;
  box.querySelector("input").addEventListener("change", (e) => {
    for (const l of layers.filter((l) => (l.metadata?.toggle ?? l.source) === name)) {
      map.setLayoutProperty(l.id, "visibility", e.target.checked ? "visible" : "none");
    }
  });
  toggles.appendChild(box);
}
panel.querySelector(".gm-legend").innerHTML = GRIDMAP.legend.map(([label, colour]) =>
  `<div><span class="gm-swatch" style="background:${colour}"></span>${label}</div>`).join("");

const escape = (v) => String(v ?? "—").replace(/[&<>"']/g, (ch) =>
  ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[ch]);
const rows = (pairs) => `<table class="gm-popup">${pairs.map(([k, v]) =>
  `<tr><th>${k}</th><td>${escape(v)}</td></tr>`).join("")}</table>`;
let selected = null;
map.on("click", (e) => {
  const hit = map.queryRenderedFeatures(e.point,
    {layers: ["centres-circle", "cameras-circle", "grids-fill"]})[0];
  if (selected) map.setFeatureState(selected, {selected: false});
  selected = null;
  if (!hit) return;
  const p = hit.properties;
  let body;
  if (hit.layer.id === "grids-fill") {
    selected = {source: "grids", sourceLayer: "grids", id: p.code};
    map.setFeatureState(selected, {selected: true});
    body = rows([["网格", p.name], ["编码", p.code], ["户数", p.households]]);
  } else if (hit.layer.id === "centres-circle") {
    body = rows([["名称", p.name], ["类别", GRIDMAP.centreNames[p.level]],
                 ["服务半径", `${p.radius_m} 米`]]);
  } else {
    body = rows([["国标编码", p.device_id], ["状态", p.status === "online" ? "在线" : "离线"],
                 ["方位角", `${p.azimuth_deg}°`]]);
  }
  window.gridmapPopup = new maplibregl.Popup().setLngLat(e.lngLat).setHTML(body).addTo(map);
});
for (const id of ["grids-fill", "centres-circle", "cameras-circle"]) {
  map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
}
</script>
</body>
</html>
"""


def viewer_html(
    settings: Settings,
    *,
    bounds: list[float],
    version: int | None,
    as_of: int | None,
    nonce: str,
) -> str:
    """The page; ``bounds`` (west, south, east, north) is the initial view, ``nonce`` the
    response's Content-Security-Policy nonce (on the page's one inline script)."""
    band = [settings.grid_households_min, settings.grid_households_max]
    legend = [
        (f"{label}" + (f" ({band[0]}–{band[1]} 户)" if key == "within" else ""), colour)
        for key, (label, colour) in HOUSEHOLD_CLASSES.items()
    ] + [(label, colour) for label, colour in CENTRE_LEVELS.values()]
    config = {
        "layers": {name: {"versioned": layer.versioned} for name, layer in LAYERS.items()},
        "toggles": TOGGLES,
        "band": band,
        "colours": {key: colour for key, (_, colour) in HOUSEHOLD_CLASSES.items()},
        "centreColours": [v for level, (_, c) in CENTRE_LEVELS.items() for v in (level, c)],
        "centreNames": {level: name for level, (name, _) in CENTRE_LEVELS.items()},
        "legend": legend,
        "bounds": bounds,
        "version": version,
        "asOf": as_of,
        "maxZoom": settings.tile_max_zoom,
        "labelFont": LABEL_FONT,
    }
    payload = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    return (
        _PAGE.replace("__CSS__", html.escape(MAPLIBRE_CSS))
        .replace("__JS__", html.escape(MAPLIBRE_JS))
        .replace("__NONCE__", nonce)
        .replace("__CONFIG__", payload)
    )
