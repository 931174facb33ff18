// The vector tile map, /maps/vector (api/templates/vector.html): every tile layer of gridmap in
// MapLibre GL JS, configured by the page's JSON (tiles/viewer.py, viewer_config), over the
// office base maps of GET /api/v1/basemaps (raster, or vector in a plain default style).
// A city or region map too large to inline (api/routers/maps.py) is this page opened on its
// regions (GRIDMAP.regions: outlined, named in the title, 打印 offered); a grid's details come
// from GET /api/v1/regions/{code} on click, as the reader's role may see them.
"use strict";
const GRIDMAP = JSON.parse(document.getElementById("gm-config").textContent);
const base = window.location.origin;
const query = GRIDMAP.asOf ? `?as_of=${GRIDMAP.asOf}` : "";
const sources = {};
// a region page names the tile URLs itself (no TileJSON round trip before the first tile)
const focus = GRIDMAP.regions ?? [];
for (const [name, layer] of Object.entries(GRIDMAP.layers)) {
  const q = layer.versioned ? query : "";
  sources[name] = focus.length
    ? {type: "vector", tiles: [`${base}/tiles/${name}/{z}/{x}/{y}.mvt${q}`],
       minzoom: layer.minZoom, maxzoom: GRIDMAP.maxZoom}
    : {type: "vector", url: `${base}/tiles/${name}.json${q}`};
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
const labelFrom = GRIDMAP.labelZooms;  // the labels tiles name each level from its zoom on
layers.push(
  label("counties-label", "labels", "counties", labelFrom.county, 15,
        {filter: level("county"), maxzoom: 11}),
  label("streets-label", "labels", "streets", labelFrom.street, 14,
        {filter: level("street"), maxzoom: 13}),
  label("communities-label", "labels", "communities", labelFrom.community, 13,
        {filter: level("community"), maxzoom: 15}),
  label("grids-label", "labels", "grids", labelFrom.grid, 12, {filter: level("grid")}),
  label("centres-label", "centres", "centres", 15, 12,
        {layout: {"text-anchor": "top", "text-offset": [0, 0.8], "text-optional": true}}),
);
// the regions a region page is of, outlined over everything; its grids drawn from
// GRIDMAP.gridMinZoom (below it a city's grids are a few pixels each: its communities are
// clicked instead)
if (GRIDMAP.gridMinZoom) {
  for (const l of layers.filter((l) => l.source === "grids" || l.id === "grids-label")) {
    l.minzoom = Math.max(l.minzoom ?? 0, GRIDMAP.gridMinZoom);
  }
  layers.splice(layers.findIndex((l) => l.id === "grids-fill"), 0,
    {id: "communities-fill", type: "fill", source: "communities", "source-layer": "communities",
     maxzoom: GRIDMAP.gridMinZoom, metadata: {toggle: "communities"},
     paint: {"fill-color": c.unknown, "fill-opacity": 0.15}});
}
for (const name of new Set(focus.map((r) => r.layer))) {
  const codes = focus.filter((r) => r.layer === name).map((r) => r.code);
  layers.push({id: `focus-${name}`, type: "line", source: name, "source-layer": name,
               metadata: {toggle: name}, filter: ["in", ["get", "code"], ["literal", codes]],
               paint: {"line-color": GRIDMAP.highlight, "line-width": 3}});
}
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
  const first = choices.find((b) => b.name === GRIDMAP.basemap) ?? choices[0];
  box.hidden = !office.length;
  for (const b of choices) {
    if (b.name !== "none") addBasemap(b);
    const row = document.createElement("label"), input = document.createElement("input");
    Object.assign(input, {type: "radio", name: "basemap", value: b.name, checked: b === first});
    input.addEventListener("change", () => showBasemap(b.name, b.attribution));
    row.append(input, ` ${b.title}${b.raster === false ? "（矢量）" : ""}`);
    box.appendChild(row);
  }
  showBasemap(first.name, first.attribution);
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
  const clickable = ["centres-circle", "cameras-circle", "grids-fill", "communities-fill"];
  const hit = map.queryRenderedFeatures(e.point,
    {layers: clickable.filter((id) => layers.some((l) => l.id === id))})[0];
  if (selected) map.setFeatureState(selected, {selected: false});
  selected = null;
  if (!hit) return;
  const p = hit.properties;
  let body;
  if (hit.layer.id === "grids-fill") {
    selected = {source: "grids", sourceLayer: "grids", id: p.code};
    map.setFeatureState(selected, {selected: true});
    body = rows([["网格", p.name], ["编码", p.code], ["户数", p.households]]);
    gridDetails(p.code, body);
  } else if (hit.layer.id === "communities-fill") {
    body = rows([["社区", p.name], ["编码", p.code], ["网格", `放大到 ${GRIDMAP.gridMinZoom} 级显示`]]);
  } else if (hit.layer.id === "centres-circle") {
    body = rows([["名称", p.name], ["类别", GRIDMAP.centreNames[p.level]],
                 ["服务半径", `${p.radius_m} 米`]]);
  } else {
    body = rows([["国标编码", p.device_id], ["状态", p.status === "online" ? "在线" : "离线"],
                 ["方位角", `${p.azimuth_deg}°`]]);
  }
  window.gridmapPopup = new maplibregl.Popup().setLngLat(e.lngLat).setDOMContent(body).addTo(map);
});
for (const id of ["grids-fill", "communities-fill", "centres-circle", "cameras-circle"]) {
  if (!layers.some((l) => l.id === id)) continue;
  map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
}

// a grid's details as the reader's role may see them (GET /api/v1/regions/{code}: workers
// masked for viewers, absent for anonymous readers), filled into its popup
async function gridDetails(code, body) {
  const answer = await fetch(`${base}/api/v1/regions/${encodeURIComponent(code)}?simplify=50`,
                             {headers: {Accept: "application/json"}});
  if (!answer.ok) return null;
  const grid = await answer.json(), p = grid.properties;
  const community = grid.parents.find((r) => r.level === "community");
  const known = [["网格", p.name], ["编码", p.code], ["社区", community?.name],
                 ["网格员", p.grid_worker], ["党支部", p.party_branch], ["户数", p.households]];
  // what the reader may not see is left out (an anonymous reader: no grid worker row)
  body.replaceWith(rows(known.filter(([, v]) => v !== null && v !== undefined)));
  window.gridmapDetails = code;
  return grid;
}

// a region page: its name in the title, 打印 on the workbench's print page
if (focus.length) {
  const name = focus.length === 1 ? focus[0].name : "全部区域";
  panel.querySelector("h1").textContent = `网格地图 · ${name}`;
  document.title = `网格地图 · ${name} — gridmap`;
  const print = panel.querySelector(".gm-print");
  print.href = `/workbench/print?view=${encodeURIComponent(location.pathname + location.search)}`;
  print.hidden = false;
  if (GRIDMAP.gridMinZoom) {
    const row = document.createElement("div");
    row.textContent = `网格：放大到 ${GRIDMAP.gridMinZoom} 级起显示`;
    panel.querySelector(".gm-legend").appendChild(row);
  }
  if (GRIDMAP.colourBy === "coverage") {
    const note = panel.querySelector(".gm-note");
    note.textContent = "区域较大，网格按户数着色；覆盖率见分析接口 /api/v1/analysis/coverage";
    note.hidden = false;
  }
}

// search: a grid's code, or its exact name (OGC API items, name=), then flown to and opened
const search = panel.querySelector(".gm-search"), said = search.querySelector(".gm-search-note");
async function findGrid(q) {
  if (/^[0-9]{6,}$/.test(q)) return q;
  const url = `${base}/ogc/collections/grids/items?limit=1&name=${encodeURIComponent(q)}`;
  const answer = await fetch(url, {headers: {Accept: "application/geo+json"}});
  if (!answer.ok) return null;
  const hit = (await answer.json()).features[0];
  return hit ? hit.properties.code : null;
}
search.addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = search.querySelector("input").value.trim();
  said.textContent = "";
  if (!q) return;
  const code = await findGrid(q);
  const holder = document.createElement("div");
  const grid = code ? await gridDetails(code, holder.appendChild(rows([]))) : null;
  if (!grid) { said.textContent = `未找到网格：${q}`; return; }
  const xy = grid.geometry.coordinates.flat(2);
  const xs = xy.map((c) => c[0]), ys = xy.map((c) => c[1]);
  const box = [[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]];
  map.fitBounds(box, {padding: 60, maxZoom: 16});
  if (selected) map.setFeatureState(selected, {selected: false});
  selected = {source: "grids", sourceLayer: "grids", id: code};
  map.once("idle", () => map.setFeatureState(selected, {selected: true}));
  window.gridmapPopup?.remove();
  window.gridmapPopup = new maplibregl.Popup()
    .setLngLat([(box[0][0] + box[1][0]) / 2, (box[0][1] + box[1][1]) / 2])
    .setDOMContent(holder).addTo(map);
});

// the address box: an address or "lon,lat" (WGS84) sent to GET /api/v1/lookup; the point
// marked, the map flown there and the grid it names (or the nearest) opened
const lookup = panel.querySelector(".gm-lookup"), answer = lookup.querySelector(".gm-answer");
let found = null;
lookup.addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = lookup.querySelector("input").value.trim();
  const xy = q.match(/^(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)$/);
  const params = xy ? `lon=${xy[1]}&lat=${xy[2]}` : `address=${encodeURIComponent(q)}`;
  answer.textContent = "查询中…";
  let reply;
  try {
    reply = await fetch(`${base}/api/v1/lookup?${params}`, {headers: {Accept: "application/json"}});
  } catch (err) {
    answer.textContent = "无法连接查询服务，请确认 gridmap 服务已启动";
    return;
  }
  const b = await reply.json();
  if (!reply.ok) { answer.textContent = b.message; return; }
  const grid = b.grid || b.nearest?.grid;
  found?.remove();
  found = new maplibregl.Marker({color: "#000"}).setLngLat([b.point.lon, b.point.lat]).addTo(map);
  map.flyTo({center: [b.point.lon, b.point.lat], zoom: Math.max(map.getZoom(), 15)});
  answer.textContent = b.covered ? `所在网格：${grid.name}（${grid.code}）`
    : `不在任何网格内${grid ? `，最近网格：${grid.name}（${b.nearest.distance_m} 米）` : ""}`;
  if (grid) {
    if (selected) map.setFeatureState(selected, {selected: false});
    selected = {source: "grids", sourceLayer: "grids", id: grid.code};
    map.once("idle", () => map.setFeatureState(selected, {selected: true}));
  }
  window.gridmapLookup = {code: grid?.code, covered: b.covered};
});
