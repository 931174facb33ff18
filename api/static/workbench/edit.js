/* The boundary editor (/workbench/edit/{code}): a region with its siblings on a Leaflet map,
 * edited with Leaflet-Geoman; every change is an operation of POST /api/v1/edits.
 *
 *   GET  /api/v1/regions/{code}, /api/v1/regions/{parent}, /api/v1/regions/{parent}/children
 *        — the region, its parent's outline and the siblings (the draft before any operation);
 *   POST /api/v1/edits {dry_run: true, operations} — after each operation and on 检查: the
 *        report (gm.report.render) and the draft's regions, drawn by their change;
 *   POST /api/v1/edits {dry_run: false, operations} — 提交: one new version, linked.
 *
 * Dragging a vertex or an edge of the region (snapping to the neighbours) is a reshape: the
 * server makes the neighbours follow.  A line drawn across it is a split; a neighbour chosen
 * is a merge into it; the form's changed fields are an attributes operation.  An operation
 * the server cannot apply (a line that does not cross the region …) is dropped with its
 * message.  User text is only ever set as text.
 */
(function () {
  "use strict";

  const root = document.getElementById("edit");
  const code = root.dataset.code;
  const $ = (id) => document.getElementById(id);
  const map = gm.map($("edit-map"));
  const FIELDS = ["name", "households", "population", "grid_worker", "grid_worker_phone", "party_branch"];
  const OP_NAMES = { reshape: "调整边界", split: "分割", merge: "合并", attributes: "设置属性" };
  const EDITED = { color: "#e66101", weight: 4, fillColor: "#e66101", fillOpacity: 0.15, className: "wb-edited" };
  const CHANGES = gm.report.CHANGES;

  let region = null; // the stored region (GET /api/v1/regions/{code})
  let parent = null; // its parent's outline
  let draft = null; // the draft's regions: a FeatureCollection with properties.change
  let operations = [];
  let layers = []; // what draw() put on the map
  let edited = null; // the region's editable layer
  let view = null; // the report's view (gm.report.render)
  let first = true;

  function say(text, kind) { gm.message($("edit-message"), text, kind); }

  function hint(text) {
    $("edit-hint").textContent = text || "";
    $("edit-hint").hidden = !text;
  }

  /** Coordinates rounded to the storage grid (1e-7°): what is sent is what is stored. */
  function rounded(geometry) {
    const round = (c) => (typeof c[0] === "number" ? [+c[0].toFixed(7), +c[1].toFixed(7)] : c.map(round));
    return { type: geometry.type, coordinates: round(geometry.coordinates) };
  }

  function style(feature) {
    const change = feature.properties.change || "unknown";
    const colour = (CHANGES[change] || CHANGES.unknown)[1];
    return { color: colour, weight: 2, fillColor: colour, fillOpacity: change === "removed" ? 0.05 : 0.2, dashArray: change === "removed" ? "6 4" : null };
  }

  function label(feature) {
    const p = feature.properties;
    const change = CHANGES[p.change] ? ` · ${CHANGES[p.change][0]}` : "";
    return `${p.code} ${p.name || ""}${change}`;
  }

  /** Draw the draft: the siblings by change (snapping targets), the region editable on top. */
  function draw() {
    for (const layer of layers) layer.remove();
    layers = [];
    if (parent) {
      layers.push(gm.geojson(parent, { style: { color: "#333", weight: 2, fill: false, dashArray: "4 4" }, interactive: false, pmIgnore: true }));
    }
    const others = draft.features.filter((f) => f.properties.code !== code && f.geometry);
    layers.push(gm.geojson({ type: "FeatureCollection", features: others }, { style, tooltip: label }));
    const own = draft.features.find((f) => f.properties.code === code);
    edited = own ? gm.geojson(own, { style: EDITED, tooltip: label }) : null;
    if (edited) layers.push(edited);
    for (const layer of layers) layer.addTo(map);
    if (first && edited) {
      map.fitBounds(L.featureGroup(layers).getBounds(), { padding: [20, 20] });
      first = false;
    }
    const select = $("edit-merge-with");
    select.replaceChildren(gm.el("option", { value: "" }, "（选择相邻区域）"));
    for (const f of others.filter((f) => f.properties.change !== "removed")) {
      select.append(gm.el("option", { value: f.properties.code }, `${f.properties.code} ${f.properties.name || ""}`));
    }
  }

  function listOperations() {
    $("edit-operations").replaceChildren(...operations.map((op) => {
      const what = op.op === "merge" ? `${op.codes.filter((c) => c !== op.into).join("、")} → ${op.into}`
        : op.op === "attributes" ? `${op.code}: ${Object.entries(op.set).map(([k, v]) => `${k}=${v === null ? "（空）" : v}`).join("，")}`
          : op.code;
      return gm.el("li", { "data-testid": "edit-operation" }, `${OP_NAMES[op.op]} ${what}`);
    }));
    $("edit-undo").disabled = !operations.length;
    $("edit-check").disabled = !operations.length;
  }

  function showReport(answer) {
    if (view) view.clear();
    view = gm.report.render($("edit-report"), map, answer.report, { fit: false });
    draft = answer.regions;
    draw();
    $("edit-commit").disabled = !answer.report.ok;
  }

  /** Dry run of the operations so far; an operation that cannot be applied is dropped. */
  async function check() {
    say("正在检查……");
    $("edit-commit").disabled = true;
    try {
      const answer = await gm.api("/api/v1/edits", { method: "POST", body: { dry_run: true, operations } });
      showReport(answer);
      const s = answer.report.summary;
      say(answer.report.ok ? `检查通过：${s.warnings} 个警告，可以提交。` : `检查发现 ${s.errors} 个错误，请修改后再检查。`, answer.report.ok ? "ok" : "error");
    } catch (error) {
      const dropped = operations.pop();
      listOperations();
      say(`${error.message}${dropped ? `（已撤销：${OP_NAMES[dropped.op]}）` : ""}`, "error");
    }
  }

  async function add(operation) {
    operations.push(operation);
    listOperations();
    await check();
  }

  // --------------------------------------------------------------------------- reshape

  $("edit-reshape").addEventListener("click", () => {
    if (!edited) return;
    edited.eachLayer((layer) => layer.pm.enable({ snappable: true, snapDistance: 15, allowSelfIntersection: false }));
    $("edit-reshape").hidden = true;
    $("edit-reshape-done").hidden = false;
    hint("拖动本区域的节点（边中点可拖出新节点），靠近相邻区域的节点时自动吸附；完成后点击“完成调整”。");
  });

  $("edit-reshape-done").addEventListener("click", async () => {
    let geometry = null;
    edited.eachLayer((layer) => {
      layer.pm.disable();
      geometry = layer.toGeoJSON(15).geometry;
    });
    $("edit-reshape").hidden = false;
    $("edit-reshape-done").hidden = true;
    hint("");
    if (geometry) await add({ op: "reshape", code, geometry: rounded(geometry) });
  });

  // --------------------------------------------------------------------------- split

  $("edit-split").addEventListener("click", () => {
    map.pm.enableDraw("Line", { snappable: false, finishOn: "dblclick" });
    $("edit-split").hidden = true;
    $("edit-split-cancel").hidden = false;
    hint("在地图上依次点击画一条穿过本区域的线（起点和终点都在区域外），双击结束。");
  });

  function endSplit() {
    map.pm.disableDraw();
    $("edit-split").hidden = false;
    $("edit-split-cancel").hidden = true;
    hint("");
  }

  $("edit-split-cancel").addEventListener("click", endSplit);

  map.on("pm:create", async (event) => {
    const geometry = event.layer.toGeoJSON(15).geometry;
    event.layer.remove();
    endSplit();
    if (event.shape === "Line") await add({ op: "split", code, line: rounded(geometry) });
  });

  // --------------------------------------------------------------------------- merge

  $("edit-merge").addEventListener("click", async () => {
    const other = $("edit-merge-with").value;
    if (!other) return say("请先选择要合并的相邻区域。", "error");
    await add({ op: "merge", codes: [code, other], into: code });
  });

  // --------------------------------------------------------------------------- attributes

  function fillForm(properties) {
    for (const name of FIELDS) {
      const value = properties[name];
      $(`edit-attr-${name}`).value = value === null || value === undefined ? "" : String(value);
      $(`edit-attr-${name}`).dataset.stored = $(`edit-attr-${name}`).value;
    }
  }

  $("edit-attributes").addEventListener("click", async () => {
    const set = {};
    for (const name of FIELDS) {
      const input = $(`edit-attr-${name}`);
      const text = input.value.trim();
      if (text === input.dataset.stored) continue;
      if (text === "") set[name] = null;
      else if ("integer" in input.dataset) set[name] = /^\d+$/.test(text) ? Number(text) : text;
      else set[name] = text;
    }
    if (!Object.keys(set).length) return say("属性没有变化。");
    await add({ op: "attributes", code, set });
  });

  // --------------------------------------------------------------------------- the session

  $("edit-undo").addEventListener("click", async () => {
    operations.pop();
    listOperations();
    if (operations.length) await check();
    else await load();
  });

  $("edit-check").addEventListener("click", check);

  $("edit-commit").addEventListener("click", async () => {
    $("edit-commit").disabled = true;
    say("正在提交……");
    try {
      const answer = await gm.api("/api/v1/edits", { method: "POST", body: { dry_run: false, operations } });
      operations = [];
      listOperations();
      const done = $("edit-done");
      done.replaceChildren(
        `已提交为边界版本 ${answer.version}。`,
        gm.el("a", { href: `/workbench/versions?b=${answer.version}`, "data-testid": "edit-version-link" }, "查看版本与对比"),
      );
      done.hidden = false;
      say("");
      await load();
    } catch (error) {
      if (error.details && error.details.report) showReport(error.details);
      say(error.message, "error");
    }
  });

  /** The stored region, its parent and siblings: the draft before any operation. */
  async function load() {
    delete document.body.dataset.ready; // set again once drawn (tests and the bench wait for it)
    try {
      await loadDraft();
    } finally {
      document.body.dataset.ready = "1";
    }
  }

  async function loadDraft() {
    if (view) view.clear();
    view = null;
    $("edit-report").replaceChildren();
    $("edit-commit").disabled = true;
    try {
      region = await gm.api(`/api/v1/regions/${encodeURIComponent(code)}`);
    } catch (error) {
      return say(error.message, "error");
    }
    const parentCode = region.properties.parent_code;
    $("edit-title").textContent = `${code} ${region.properties.name}`;
    fillForm(region.properties);
    if (!parentCode) return say("县级区域不能在此编辑（没有上级区域）。", "error");
    let siblings;
    [parent, siblings] = await Promise.all([
      gm.api(`/api/v1/regions/${encodeURIComponent(parentCode)}`),
      gm.api(`/api/v1/regions/${encodeURIComponent(parentCode)}/children`, { query: { limit: 1000 } }),
    ]);
    draft = {
      type: "FeatureCollection",
      features: siblings.features.map((f) => ({
        type: "Feature",
        geometry: f.geometry,
        properties: { code: f.properties.code, name: f.properties.name, change: "unchanged" },
      })),
    };
    draw();
  }

  listOperations();
  load();
})();
