/* The grid division page (api/templates/workbench/divide.html): draft a community's grids,
 * look at them, adopt them.  Every step is an API call a script can make too:
 *   GET  /api/v1/regions?level=community — the communities to choose from
 *   POST /api/v1/analysis/divide          — the drafts (GeoJSON) and their report
 *   GET  /api/v1/buildings?region=…       — the buildings, coloured by the draft holding them
 *   POST /api/v1/uploads                  — the drafts as a boundary file (level grid, parent the
 *                                           community): dry_run=true checks, dry_run=false commits
 * `?region=<code>` fills the community.  body[data-ready] is set once drafts are drawn.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const el = gm.el;
  const map = gm.map($("divide-map"));
  const PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#fdbf6f"];
  const OUT_OF_RANGE = "#d7301f";
  const BUILDING_PAGES = 5; // at most 5 000 buildings drawn
  const PAGE = 1000;
  let drafts = null; // the last answer of /analysis/divide
  let layers = [];
  let busy = false;
  let checked = false;

  function say(text, kind) {
    gm.message($("divide-message"), text, kind);
  }

  function sayError(error) {
    say(gm.errorText(error), "error");
  }

  function updateButtons() {
    $("divide-run").disabled = busy;
    $("divide-download").disabled = busy || !drafts;
    if ($("divide-check")) $("divide-check").disabled = busy || !drafts;
    if ($("divide-commit")) $("divide-commit").disabled = busy || !drafts || !checked;
  }

  let timer = null;
  async function run(text, work) {
    busy = true;
    updateButtons();
    $("divide-busy").hidden = false;
    const started = Date.now();
    const tick = () => { $("divide-busy-text").textContent = `${text}（${Math.round((Date.now() - started) / 1000)} 秒）`; };
    tick();
    timer = setInterval(tick, 1000);
    try {
      return await work();
    } catch (error) {
      sayError(error);
      return null;
    } finally {
      clearInterval(timer);
      $("divide-busy").hidden = true;
      busy = false;
      updateButtons();
    }
  }

  function request() {
    const form = $("divide-form");
    const number = (name) => Number(form.elements[name].value);
    return {
      region: form.elements.region.value.trim().match(/^\S*/)[0],
      target_households: number("target_households"),
      min_households: number("min_households"),
      max_households: number("max_households"),
      barriers: form.elements.barriers.value,
      keep_codes: form.elements.keep_codes.checked,
    };
  }

  const percent = (x) => (x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`);
  const fixed = (x, digits) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits));

  function clearMap() {
    for (const layer of layers) map.removeLayer(layer);
    layers = [];
  }

  function colour(index, feature) {
    return feature.properties.out_of_range ? OUT_OF_RANGE : PALETTE[index % PALETTE.length];
  }

  function draw(answer) {
    clearMap();
    const index = new Map(answer.features.map((f, i) => [f.properties.code, i]));
    const grids = gm.geojson(answer, {
      style: (f) => ({
        color: colour(index.get(f.properties.code), f), weight: f.properties.out_of_range ? 3 : 2,
        dashArray: f.properties.out_of_range ? "6 4" : null,
        fillColor: colour(index.get(f.properties.code), f), fillOpacity: 0.25,
      }),
      tooltip: (f) => `${f.properties.name}（${f.properties.code}）：${f.properties.households} 户`,
    }).addTo(map);
    layers.push(grids);
    if (grids.getBounds().isValid()) map.fitBounds(grids.getBounds(), { padding: [10, 10] });
    return index;
  }

  async function drawBuildings(region, owner, index) {
    const points = L.layerGroup().addTo(map);
    layers.push(points);
    for (let page = 0; page < BUILDING_PAGES; page += 1) {
      const answer = await gm.api("/api/v1/buildings", { query: { region, limit: PAGE, offset: page * PAGE } });
      for (const b of answer.features) {
        const grid = owner[b.id];
        if (grid === undefined || !b.geometry) continue;
        const [lon, lat] = b.geometry.coordinates;
        L.circleMarker([lat, lon], {
          radius: 3, weight: 1, color: "#222", fillOpacity: 0.9,
          fillColor: PALETTE[index.get(grid) % PALETTE.length], className: "wb-division-building",
        }).bindTooltip(el("span", {}, `${b.properties.address || b.id}：${b.properties.households} 户 → ${grid}`))
          .addTo(points);
      }
      if (answer.features.length < PAGE) break;
    }
  }

  function summary(report) {
    const box = $("divide-summary");
    const [low, high] = report.households_range;
    const lines = [
      el("p", { "data-testid": "divide-counts" },
        `${report.grids} 个网格草案，共 ${report.households} 户；每格 ${report.households_min}–${report.households_max} 户` +
        `（目标 ${report.target_households}，允许 ${low}–${high}），标准差 ${report.households_std}；` +
        `平均紧凑度 ${fixed(report.mean_compactness, 2)}，边界沿路比例 ${percent(report.road_share)}；` +
        `沿用原编码 ${report.kept_codes} 个。`),
    ];
    if (!report.roads && report.barriers === "roads") {
      lines.push(el("p", { class: "wb-warning" }, "该社区范围内没有已上传的道路：草案只按楼栋划分。上传路网（上传边界 → 道路）后重新生成，边界会尽量沿路。"));
    }
    if (report.out_of_range.length) {
      lines.push(el("p", { class: "wb-error", "data-testid": "divide-out-of-range" },
        `${report.out_of_range.length} 个网格户数不在范围内：`,
        el("ul", {}, report.out_of_range.map((o) => el("li", {}, `${o.code}：${o.message}`)))));
    }
    box.replaceChildren(...lines);
    box.hidden = false;
  }

  function table(answer) {
    const body = $("divide-grids").querySelector("tbody");
    body.replaceChildren();
    answer.features.forEach((f, i) => {
      const p = f.properties;
      const row = el("tr", { "data-testid": "divide-grid", class: p.out_of_range ? "wb-error" : null },
        el("td", {}, el("i", { class: "wb-swatch", style: `background:${colour(i, f)}` }), p.code),
        el("td", {}, p.name),
        el("td", { class: "wb-num" }, p.households),
        el("td", { class: "wb-num" }, p.population ?? "—"),
        el("td", { class: "wb-num" }, p.buildings),
        el("td", { class: "wb-num" }, fixed(p.area_m2 / 10000, 2)),
        el("td", { class: "wb-num" }, fixed(p.compactness, 2)),
        el("td", { class: "wb-num" }, percent(p.road_share)),
        el("td", { class: "wb-num" }, `${p.deviation > 0 ? "+" : ""}${percent(p.deviation)}`),
        el("td", {}, p.kept_code_iou === null ? "新编码" : `是（IoU ${fixed(p.kept_code_iou, 2)}）`));
      row.addEventListener("click", () => {
        const layer = layers[0].getLayers()[i];
        map.fitBounds(layer.getBounds(), { padding: [20, 20] });
        layer.openTooltip(layer.getBounds().getCenter());
      });
      body.append(row);
    });
    $("divide-grids").hidden = false;
  }

  async function divide() {
    const body = request();
    checked = false;
    $("divide-result").hidden = true;
    say("");
    const answer = await run("正在划分", () => gm.api("/api/v1/analysis/divide", { method: "POST", body }));
    if (!answer) return;
    drafts = answer;
    updateButtons();
    const index = draw(answer);
    summary(answer.report);
    table(answer);
    say(answer.report.out_of_range.length ? "草案已生成，部分网格户数不在范围内，见下方说明。" : "草案已生成：每个网格的户数都在范围内。",
      answer.report.out_of_range.length ? "error" : "ok");
    try {
      await drawBuildings(body.region, answer.report.building_grids, index);
    } catch (error) {
      sayError(error);
    }
    document.body.dataset.ready = "1";
  }

  /** The drafts as the boundary file an upload takes: code, name, parent, households, population. */
  function file() {
    const features = drafts.features.map((f) => ({
      type: "Feature",
      geometry: f.geometry,
      properties: (({ code, name, parent_code, households, population }) => ({ code, name, parent_code, households, population }))(f.properties),
    }));
    const text = JSON.stringify({ type: "FeatureCollection", features });
    return new File([text], `网格划分草案_${drafts.report.region}.geojson`, { type: "application/geo+json" });
  }

  function download() {
    const url = URL.createObjectURL(file());
    const link = el("a", { href: url, download: `网格划分草案_${drafts.report.region}.geojson` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function form(dryRun) {
    const data = new FormData();
    const upload = file();
    data.append("file", upload, upload.name);
    data.append("kind", "boundaries");
    data.append("level", "grid");
    data.append("parent", drafts.report.region);
    data.append("dry_run", dryRun ? "true" : "false");
    return data;
  }

  async function check() {
    const answer = await run("正在检查", async () => {
      try {
        return await gm.api("/api/v1/uploads", { method: "POST", body: form(true) });
      } catch (error) { // errors found: the report comes with the refusal
        if (error instanceof gm.ApiError && error.code === "validation_failed") return error.details;
        throw error;
      }
    });
    if (!answer) return;
    const s = answer.report.summary;
    checked = s.errors === 0;
    updateButtons();
    const changes = s.changes || {};
    const counts = `新增 ${(changes.added || []).length}、修改 ${(changes.modified || []).length}、删除 ${(changes.removed || []).length} 个网格`;
    $("divide-result").replaceChildren(
      el("p", { class: s.errors ? "wb-error" : "wb-ok", "data-testid": "divide-check-summary" },
        s.errors ? `检查发现 ${s.errors} 个错误、${s.warnings} 个警告，不能提交。` : `检查通过（${s.warnings} 个警告）：将${counts}。`),
      el("a", { class: "wb-button wb-secondary", href: `/workbench/upload?upload=${answer.id}` }, "在上传页查看检查报告与审核地图"));
    $("divide-result").hidden = false;
  }

  async function commit() {
    const answer = await run("正在提交", () => gm.api("/api/v1/uploads", { method: "POST", body: form(false) }));
    if (!answer) return;
    checked = false;
    updateButtons();
    $("divide-result").replaceChildren(answer.version
      ? el("p", { "data-testid": "divide-committed" }, `已提交为版本 ${answer.version}：`,
        el("a", { href: `/workbench/versions?b=${answer.version}` }, `查看版本 ${answer.version} 的变化`))
      : el("p", { "data-testid": "divide-committed" }, "草案与现有网格相同，没有产生新版本。"));
    $("divide-result").hidden = false;
  }

  async function loadCommunities() {
    try {
      const answer = await gm.api("/api/v1/regions", { query: { level: "community", limit: PAGE, simplify: 1000 } });
      $("divide-communities").replaceChildren(...answer.features.map((f) =>
        el("option", { value: f.properties.code }, f.properties.name)));
    } catch (error) { /* the list is a convenience: a code can be typed */ }
  }

  $("divide-run").addEventListener("click", divide);
  $("divide-form").addEventListener("submit", (event) => { event.preventDefault(); divide(); });
  $("divide-form").addEventListener("input", () => { checked = false; updateButtons(); });
  $("divide-download").addEventListener("click", download);
  if ($("divide-check")) $("divide-check").addEventListener("click", check);
  if ($("divide-commit")) $("divide-commit").addEventListener("click", commit);
  updateButtons();
  loadCommunities();
  if ($("divide-region").value) divide();
  else document.body.dataset.ready = "1";
})();
