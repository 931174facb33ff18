// The vector tile map, /maps/vector (api/templates/vector.html): every tile layer of gridmap in
// MapLibre GL JS, configured by the page's JSON (tiles/viewer.py, viewer_config), over the
// office base maps of GET /api/v1/basemaps (raster, or vector in a plain default style).
"use strict";
const GRIDMAP = JSON.parse(document.getElementById("gm-config").textContent);
const base = window.location.origin;
const query = GRIDMAP.asOf ? `?as_of=${GRIDMAP.asOf}` : "";
const sources = {};
for (const [name, layer] of Object.entries(GRIDMAP.layers)) {
  const url = `${base}/tiles/${name}.json${layer.versioned ? query : ""}`;
  sources[name] = {type: "vector", url};
  if (layer.versioned) sources[name].promoteId = "code";
}
const hh = ["coalesce", ["get", "households"], -1];
const c = GRIDMAP.colours, paint = GRIDMAP.paint;
const centreColour = ["match", ["get", "level"], ...GRIDMAP.centreColours, paint.other];
// the outlines of counties, streets and communities (gis/web/styles.py, OUTLINES)
const outline = (name) => {
  const o = GRIDMAP.outlines[name];
  return {id: `${name}-line`, type: "line", source: name, "source-layer": name,
          paint: {"line-color": o.color, "line-width": o.width,
                  ...(o.dash ? {"line-dasharray": o.dash} : {})}};
};
const layers = [
  {id: "background", type: "background", paint: {"background-color": paint.background}},
  {id: "grids-fill", type: "fill", source: "grids", "source-layer": "grids", paint: {
    "fill-color": ["case", ["<", hh, 0], c.unknown, ["<", hh, GRIDMAP.band[0]], c.below,
                   [">", hh, GRIDMAP.band[1]], c.above, c.within],
    "fill-opacity": ["case", ["boolean", ["feature-state", "selected"], false], 0.9,
                     GRIDMAP.gridOpacity]}},
  {id: "grids-line", type: "line", source: "grids", "source-layer": "grids",
   paint: {"line-color": paint.gridLine, "line-width": 0.7}},
  {id: "centre_areas-fill", type: "fill", source: "centre_areas", "source-layer": "centre_areas",
   paint: {"fill-color": centreColour, "fill-opacity": 0.12,
           "fill-outline-color": paint.areaOutline}},
  {id: "camera_sectors-fill", type: "fill", source: "camera_sectors",
   "source-layer": "camera_sectors", paint: {"fill-color": paint.sector, "fill-opacity": 0.18}},
  outline("communities"),
  outline("streets"),
  outline("counties"),
  {id: "cameras-circle", type: "circle", source: "cameras", "source-layer": "cameras", paint: {
    "circle-radius": 2.5, "circle-stroke-width": 0.5, "circle-stroke-color": "#fff",
    "circle-color": ["match", ["get", "status"], "online", paint.cameraOnline,
                     paint.cameraOffline]}},
  {id: "centres-circle", type: "circle", source: "centres", "source-layer": "centres", paint: {
    "circle-radius": ["match", ["get", "level"], "centre", 8, "station", 6, 4.5],
    "circle-color": centreColour,
    "circle-stroke-width": 1, "circle-stroke-color": "#fff"}},
];
// names: regions from the label points (one a region), centres from their points; each
// label is switched with the layer it names (metadata.toggle)
const label = (id, source, toggle, minzoom, size, extra = {}) => ({
  id, source, "source-layer": source, type: "symbol", minzoom, metadata: {toggle},
  layout: {"text-field": ["get", "name"], "text-font": GRIDMAP.labelFont, "text-size": size,
           "text-max-width": 8, ...extra.layout},
  paint: {"text-color": paint.label, "text-halo-color": "#fff", "text-halo-width": 1.2},
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

// the office base maps, chosen in the panel (the first shown), under every gridmap layer;
// with none: the plain background and "无底图" — nothing is fetched from the internet
const basemapLayers = {};
function addBasemap(b) {
  const source = {tiles: [b.tiles], minzoom: b.minzoom, maxzoom: b.maxzoom, bounds: b.bounds};
  const id = `basemap-${b.name}`, s = GRIDMAP.basemapStyle;
  if (b.raster) {
    map.addSource(id, {type: "raster", tileSize: 256, ...source});
    basemapLayers[b.name] = [{id, type: "raster", source: id}];
  } else {
    map.addSource(id, {type: "vector", ...source});
    const kind = (k) => ["==", ["geometry-type"], k];
    basemapLayers[b.name] = b.vector_layers.flatMap((name) => [
      {id: `${id}-${name}-fill`, type: "fill", source: id, "source-layer": name,
       filter: kind("Polygon"), paint: {"fill-color": s.fill, "fill-opacity": s.fillOpacity}},
      {id: `${id}-${name}-line`, type: "line", source: id, "source-layer": name,
       paint: {"line-color": s.line, "line-width": s.lineWidth}},
      {id: `${id}-${name}-circle`, type: "circle", source: id, "source-layer": name,
       filter: kind("Point"), paint: {"circle-color": s.line, "circle-radius": 2}},
    ]);
  }
  for (const l of basemapLayers[b.name]) map.addLayer(l, "grids-fill");
}
function showBasemap(name, attribution) {
  for (const [key, ls] of Object.entries(basemapLayers)) {
    for (const l of ls) map.setLayoutProperty(l.id, "visibility", key === name ? "visible" : "none");
  }
  panel.querySelector(".gm-nobase").hidden = name !== "none";
  panel.querySelector(".gm-attribution").textContent = attribution ? `底图来源：${attribution}` : "";
  window.gridmapBasemap = name;
}
async function offerBasemaps() {
  let office = [];
  try {
    const answer = await fetch(`${base}/api/v1/basemaps`, {headers: {Accept: "application/json"}});
    if (answer.ok) office = (await answer.json()).basemaps;
  } catch (e) { /* the list unreachable: no base map */ }
  if (!map.isStyleLoaded()) await new Promise((done) => map.once("load", done));
  const box = panel.querySelector(".gm-basemaps");
  const choices = [...office, {name: "none", title: "无底图", attribution: ""}];
  box.hidden = !office.length;
  for (const b of choices) {
    if (b.name !== "none") addBasemap(b);
    const row = document.createElement("label"), input = document.createElement("input");
    Object.assign(input, {type: "radio", name: "basemap", value: b.name,
                          checked: b === choices[0]});
    input.addEventListener("change", () => showBasemap(b.name, b.attribution));
    row.append(input, ` ${b.title}${b.raster === false ? "（矢量）" : ""}`);
    box.appendChild(row);
  }
  showBasemap(choices[0].name, choices[0].attribution);
}
offerBasemaps();

const panel = document.querySelector(".gm-panel");
panel.querySelector(".gm-version").textContent =
  GRIDMAP.version === null ? "暂无边界数据" : `边界版本 ${GRIDMAP.version}`;
const toggles = panel.querySelector(".gm-toggles");
for (const [name, label] of GRIDMAP.toggles) {
  const box = document.createElement("label");
  const input = document.createElement("input");
  Object.assign(input, {type: "checkbox", checked: true});
  input.dataset.layer = name;
  box.append(input, ` ${label}`);
  input.addEventListener("change", (e) => {
    for (const l of layers.filter((l) => (l.metadata?.toggle ?? l.source) === name)) {
      map.setLayoutProperty(l.id, "visibility", e.target.checked ? "visible" : "none");
    }
  });
  toggles.appendChild(box);
}
for (const [label, colour] of GRIDMAP.legend) {
  const row = document.createElement("div"), swatch = document.createElement("span");
  swatch.className = "gm-swatch";
  swatch.style.background = colour;
  row.append(swatch, label);
  panel.querySelector(".gm-legend").appendChild(row);
}

// popups are built as elements, every value as text (names are user-written)
const rows = (pairs) => {
  const table = document.createElement("table");
  table.className = "gm-popup";
  for (const [k, v] of pairs) {
    const tr = table.insertRow(), th = document.createElement("th");
    th.textContent = k;
    tr.appendChild(th);
    tr.insertCell().textContent = String(v ?? "—");
  }
  return table;
};
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
  window.gridmapPopup = new maplibregl.Popup().setLngLat(e.lngLat).setDOMContent(body).addTo(map);
});
for (const id of ["grids-fill", "centres-circle", "cameras-circle"]) {
  map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
}
