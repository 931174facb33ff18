/* A printed map's sheet (api/templates/print.html): open the view in the frame, hide its
 * controls (print-view.css), move its legend onto the sheet, name its base map, and set
 * body[data-ready] once everything is drawn — the server prints then (gis/web/print_page.py)
 * — or body[data-failed] with the reason.  The view is one of gridmap's own pages (same
 * origin): a Folium page (Leaflet) or the vector map (MapLibre, window.gridmapMap). */
(function () {
  "use strict";
  const body = document.body;
  const frame = document.getElementById("gm-view");

  const frames = (win, n) => new Promise((done) => {
    const step = (left) => (left ? win.requestAnimationFrame(() => step(left - 1)) : done());
    step(n);
  });

  function addStyle(doc) {
    return new Promise((done, fail) => {
      const link = doc.createElement("link");
      link.rel = "stylesheet";
      link.href = body.dataset.viewCss;
      link.onload = done;
      link.onerror = () => fail(new Error("print-view.css"));
      doc.head.append(link);
    });
  }

  /** A Folium page's map once every tile layer has loaded (features are drawn at once). */
  async function leafletDrawn(win, doc) {
    const element = doc.querySelector(".folium-map");
    const map = element && win[element.id];
    if (!map || !win.L) return false;
    // fill the frame: fractional zoom over everything drawn (the page snaps to whole levels)
    const drawn = win.L.latLngBounds([]);
    map.eachLayer((layer) => {
      if (layer instanceof win.L.FeatureGroup && layer.getLayers().length) drawn.extend(layer.getBounds());
    });
    if (drawn.isValid()) {
      map.options.zoomSnap = 0;
      map.fitBounds(drawn, { padding: [12, 12], animate: false });
    }
    const loading = [];
    map.eachLayer((layer) => {
      if (layer instanceof win.L.GridLayer && layer.isLoading()) {
        loading.push(new Promise((done) => layer.once("load", done)));
      }
    });
    await Promise.all(loading);
    return true;
  }

  /** The vector map once MapLibre has drawn its style, tiles and base map. */
  async function maplibreDrawn(win) {
    const map = win.gridmapMap;
    if (!map) return false;
    // fill the frame: the page leaves room on the left for its panel, hidden on paper
    const config = win.document.getElementById("gm-config");
    if (config) map.fitBounds(JSON.parse(config.textContent).bounds, { padding: 16, animate: false });
    // polled: an "idle" event may have passed already, and choosing no base map draws nothing
    while (!(map.loaded() && map.areTilesLoaded() && win.gridmapBasemap)) {
      await new Promise((done) => setTimeout(done, 100));
    }
    await asImage(win, map);
    return true;
  }

  /** The map's WebGL canvas as an image over it: Chromium prints a WebGL canvas blank.  Read
   * in the frame's "render" event, while its drawing buffer still holds the picture. */
  async function asImage(win, map) {
    const canvas = map.getCanvas();
    const url = await new Promise((done) => {
      map.once("render", () => done(canvas.toDataURL("image/png")));
      map.triggerRepaint();
    });
    const image = win.document.createElement("img");
    await new Promise((done, fail) => {
      image.onload = done;
      image.onerror = () => fail(new Error("地图图像未能生成"));
      image.src = url;
    });
    Object.assign(image.style, {
      position: "absolute", left: "0", top: "0", width: canvas.style.width, height: canvas.style.height,
    });
    canvas.after(image);
    canvas.style.visibility = "hidden";
  }

  /** The view's legend(s) as DOM nodes moved onto the sheet (never parsed from text). */
  function moveLegend(doc) {
    const target = document.getElementById("gm-legend");
    for (const legend of doc.querySelectorAll(".gm-legend")) {
      if (!legend.textContent.trim()) continue;
      const copy = document.importNode(legend, true);
      copy.className = "";
      target.append(copy);
    }
    target.closest(".gm-legend-box").hidden = !target.childElementCount;
  }

  function basemapNote(doc) {
    const element = doc.querySelector(".leaflet-control-attribution, .gm-attribution");
    const parts = (element ? element.textContent : "").split("|").map((p) => p.trim());
    const text = parts.filter((p) => p && p !== "Leaflet").join("，");
    document.getElementById("gm-basemap").textContent = text ? ` · 底图：${text}` : "";
  }

  async function drawn() {
    const win = frame.contentWindow;
    const doc = frame.contentDocument;
    await addStyle(doc);
    const ok = (await leafletDrawn(win, doc)) || (await maplibreDrawn(win));
    if (!ok) throw new Error(doc.title || frame.dataset.src); // an error page: its title
    moveLegend(doc);
    basemapNote(doc);
    await doc.fonts.ready;
    await document.fonts.ready;
    await frames(win, 2);
    body.dataset.ready = "1";
  }

  frame.addEventListener("load", () => {
    drawn().catch((error) => { body.dataset.failed = String(error.message || error); });
  }, { once: true });
  frame.src = frame.dataset.src;
})();
