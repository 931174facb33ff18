/* The workbench's shared script (api/templates/workbench/base.html loads it on every page).
 *
 * gm.api(path, options)  — fetch JSON from gridmap's API with the session's CSRF token;
 *                          an error answer throws a gm.ApiError (status, code, message, details).
 * gm.el(tag, attrs, ...children) — build an element; children are elements or plain text
 *                          (always text nodes: user text is never parsed as HTML).
 * gm.map(element, options) — a Leaflet map with the office's base maps (none: a plain
 *                          background and a note), scale bar; returns the L.Map.
 * gm.geojson(data, options) — an L.geoJSON layer whose tooltips are plain text.
 * gm.message(element, text, kind) — show a message (kind: "error", "ok" or none).
 * gm.errorText(error) — an error as a page says it: the API's message (zh + en) and its code,
 *                          or that the server could not be reached.
 * gm.when(iso) — a time as "YYYY-MM-DD HH:MM" in the browser's zone ("—" for none).
 * gm.actionTitle(action) — what made a boundary version, in zh-CN.
 */
(function () {
  "use strict";

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && (body.error || body)) || {}; // gridmap: {code, message, details}
      super(error.message || `HTTP ${status}`);
      this.status = status;
      this.code = error.code || `http_${status}`;
      this.details = error.details || {};
      this.body = body;
    }
  }

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /** Fetch `path` (query: an object of parameters; body: an object sent as JSON, or
   * FormData/Blob sent as is); resolves to the parsed JSON (or the Response when `raw`). */
  async function api(path, options = {}) {
    const { method = "GET", query, body, raw = false, headers = {} } = options;
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf();
    if (body instanceof FormData || body instanceof Blob) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(url, init);
    if (!response.ok) {
      let parsed = null;
      try { parsed = await response.json(); } catch (e) { /* not JSON */ }
      throw new ApiError(response.status, parsed);
    }
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function message(element, text, kind) {
    element.replaceChildren(document.createTextNode(text));
    element.className = "wb-message" + (kind ? ` wb-${kind}` : "");
    element.hidden = !text;
  }

  function errorText(error) {
    if (error instanceof ApiError) return `${error.message}（${error.code}）`;
    return `无法连接服务器，请稍后重试 (the server could not be reached: ${error.message})`;
  }

  const BEIJING_MS = 8 * 3600 * 1000;

  /** An instant as 北京时间 (UTC+8 all year: China keeps no daylight saving), whatever the
   * browser's zone — offices read and compare times in Beijing time. */
  function when(iso) {
    if (!iso) return "—";
    const d = new Date(Date.parse(iso) + BEIJING_MS);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  }

  /** A ``datetime-local`` field's value read as 北京时间, in ISO 8601 (undefined when empty). */
  function beijingInstant(local) {
    if (!local) return undefined;
    return new Date(`${local.length === 16 ? `${local}:00` : local}+08:00`).toISOString();
  }

  const ACTIONS = { load: "初始导入", upload: "上传", roster: "花名册导入", restore: "恢复", edit: "编辑" };

  function actionTitle(action) {
    return ACTIONS[action] || action;
  }

  /** The base map layers a map page offers, as {title: layer}, the default first: the
   * office's raster base maps (GET /api/v1/basemaps; served by gridmap, no internet needed),
   * Tianditu when its key is set, then "无底图".  Vector (pbf) office base maps are drawn on
   * the MapLibre page (/maps/vector) only: Leaflet draws no vector tiles.  None at all (or
   * the list unreachable): {} — gm.map shows a plain background and a note. */
  const baseMaps = {
    list: async () => {
      let answer;
      try { answer = await api("/api/v1/basemaps"); } catch (e) { return {}; }
      // Leaflet shows a layer's name and attribution as HTML: titles are written by people
      const text = (s) => el("div", {}, s || "").innerHTML;
      const layers = {};
      for (const b of answer.basemaps.filter((b) => b.raster)) {
        layers[text(b.title)] = L.tileLayer(b.tiles, {
          attribution: text(b.attribution), maxZoom: 22, maxNativeZoom: b.maxzoom,
          bounds: [[b.bounds[1], b.bounds[0]], [b.bounds[3], b.bounds[2]]],
        });
      }
      for (const o of answer.online.filter((o) => o.key === "tianditu")) {
        layers[text(o.name)] = L.tileLayer(o.url, { subdomains: o.subdomains, attribution: text(o.attribution), maxZoom: 18 });
      }
      if (Object.keys(layers).length) layers[answer.none] = L.layerGroup();
      return layers;
    },
  };

  function map(element, options = {}) {
    const m = L.map(element, { preferCanvas: false, ...options });
    L.control.scale({ imperial: false }).addTo(m);
    m.setView(options.center || [45.77, 131.0], options.zoom || 11);
    baseMaps.list(m).then((layers) => {
      const names = Object.keys(layers);
      if (names.length) {
        layers[names[0]].addTo(m);
        L.control.layers(layers, {}, { position: "topright" }).addTo(m);
      } else {
        const note = L.control({ position: "bottomright" });
        note.onAdd = () => el("div", { class: "wb-legend wb-nobase" }, "无底图（未配置底图文件）");
        note.addTo(m);
      }
    });
    return m;
  }

  function geojson(data, options = {}) {
    const { tooltip, ...rest } = options;
    return L.geoJSON(data, {
      ...rest,
      onEachFeature(feature, layer) {
        if (tooltip) {
          const text = tooltip(feature);
          if (text) layer.bindTooltip(el("span", {}, text), { sticky: true });
        }
        if (rest.onEachFeature) rest.onEachFeature(feature, layer);
      },
    });
  }

  window.gm = { ApiError, api, csrf, el, message, errorText, when, beijingInstant, actionTitle, map, geojson, baseMaps };
})();
