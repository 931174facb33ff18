/* The print page (api/templates/workbench/print.html): choose a map view, title, paper and
 * orientation; the sheet (/maps/print) is previewed at its real size, scaled to the column;
 * 下载 PDF / PNG fetch GET /api/v1/print (rendered by the server in headless Chromium) and
 * save the file under the name the server gives (the title).  Regions to print come from
 * GET /api/v1/regions (counties, streets, communities).  ?view= (the 打印 link of a Folium
 * map page) chooses the view to start with. */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const viewSelect = $("print-view");
  const regionSelect = $("print-region");
  const colourSelect = $("print-colour");
  const titleInput = $("print-title");
  const paperSelect = $("print-paper");
  const orientationSelect = $("print-orientation");
  const dpiSelect = $("print-dpi");
  const message = $("print-message");
  const preview = $("print-preview");
  const frame = $("print-frame");
  const PAPER_MM = { A4: [210, 297], A3: [297, 420] };
  const REGION_LEVELS = { county: "区县", street: "街道/乡镇", community: "社区/村" };
  const CSS_PX_PER_MM = 96 / 25.4;

  function view() {
    if (viewSelect.value === "/maps/vector") return "/maps/vector";
    const region = viewSelect.value === "region" && regionSelect.value;
    const path = region ? `/maps/region/${region}` : "/maps";
    const colour = colourSelect.value;
    return colour === "households" ? path : `${path}?colour_by=${colour}`;
  }

  function params() {
    return {
      view: view(),
      title: titleInput.value.trim() || "网格地图",
      paper: paperSelect.value,
      orientation: orientationSelect.value,
    };
  }

  function sheetPx() {
    const [short, long] = PAPER_MM[paperSelect.value];
    const [w, h] = orientationSelect.value === "landscape" ? [long, short] : [short, long];
    return [w * CSS_PX_PER_MM, h * CSS_PX_PER_MM];
  }

  function fit() {
    const [w, h] = sheetPx();
    const scale = Math.min(preview.parentElement.clientWidth / w, (window.innerHeight * 0.75) / h);
    frame.style.width = `${w}px`;
    frame.style.height = `${h}px`;
    frame.style.transform = `scale(${scale})`;
    preview.style.height = `${h * scale}px`;
    preview.style.width = `${w * scale}px`;
  }

  function apiUrl(format) {
    const url = new URL("/api/v1/print", window.location.origin);
    const query = { ...params(), format };
    if (format === "png") query.dpi = dpiSelect.value;
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url;
  }

  let timer = null;
  function refresh() {
    clearTimeout(timer);
    regionSelect.disabled = viewSelect.value !== "region";
    colourSelect.disabled = viewSelect.value === "/maps/vector";
    const api = apiUrl("pdf");
    $("print-api").textContent = `GET ${api.pathname}${decodeURIComponent(api.search)}`;
    fit();
    preview.dataset.state = "pending"; // until the sheet of these choices has loaded
    timer = setTimeout(() => {
      frame.src = `/maps/print?${new URLSearchParams(params())}`;
    }, 400);
  }
  frame.addEventListener("load", () => {
    if (frame.src.endsWith(`/maps/print?${new URLSearchParams(params())}`)) preview.dataset.state = "loaded";
  });

  /** The name in a Content-Disposition's filename*=UTF-8''… (RFC 5987), else `fallback`. */
  function fileName(response, fallback) {
    const header = response.headers.get("Content-Disposition") || "";
    const match = header.match(/filename\*=UTF-8''([^;]+)/i);
    return match ? decodeURIComponent(match[1]) : fallback;
  }

  async function download(format, button) {
    const url = apiUrl(format);
    button.disabled = true;
    gm.message(message, `正在生成 ${format.toUpperCase()}，通常需要几秒……`);
    try {
      const response = await gm.api(url.pathname, { query: Object.fromEntries(url.searchParams), raw: true });
      const blob = await response.blob();
      const name = fileName(response, `map.${format}`);
      const link = gm.el("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      gm.message(message, `已生成 ${name}`, "ok");
    } catch (error) {
      gm.message(message, error.message || String(error), "error");
    } finally {
      button.disabled = false;
    }
  }

  async function loadRegions() {
    for (const [level, title] of Object.entries(REGION_LEVELS)) {
      const answer = await gm.api("/api/v1/regions", { query: { level, limit: 1000, simplify: 1000 } });
      const group = gm.el("optgroup", { label: title });
      for (const feature of answer.features) {
        const { code, name } = feature.properties;
        group.append(gm.el("option", { value: code }, `${name} (${code})`));
      }
      if (group.childElementCount) regionSelect.append(group);
    }
  }

  /** The view a map page's 打印 link passes (?view=/maps/region/130227001?colour_by=…). */
  function chosen() {
    const given = new URLSearchParams(window.location.search).get("view");
    if (!given) return null;
    const url = new URL(given, window.location.origin);
    const region = url.pathname.match(/^\/maps\/region\/([0-9A-Za-z_-]+)$/);
    if (url.pathname === "/maps/vector") viewSelect.value = "/maps/vector";
    else if (region) viewSelect.value = "region";
    const colour = url.searchParams.get("colour_by");
    if (colour === "coverage") colourSelect.value = colour;
    return region && region[1];
  }

  for (const input of [viewSelect, regionSelect, colourSelect, paperSelect, orientationSelect]) {
    input.addEventListener("change", refresh);
  }
  titleInput.addEventListener("input", refresh);
  window.addEventListener("resize", fit);
  $("print-pdf").addEventListener("click", (e) => download("pdf", e.currentTarget));
  $("print-png").addEventListener("click", (e) => download("png", e.currentTarget));
  const region = chosen();
  const regions = loadRegions().catch((error) => gm.message(message, error.message, "error"));
  if (region) {
    regions.then(() => {
      regionSelect.value = region;
      refresh();
    });
  } else {
    refresh();
  }
})();
