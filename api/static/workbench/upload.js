/* The upload page (/workbench/upload): drop a file, correct what was detected, check it on a
 * map, commit it.  Every step is an API call a script can make too:
 *   POST /api/v1/uploads/inspect  — what the file holds (format, layers, encoding, CRS and the
 *                                   CRS doctor's suggestion, fields, proposed mapping/level/parent)
 *   GET  /api/v1/regions?level=…  — the parents to choose from
 *   POST /api/v1/uploads           — dry_run=true: the report; dry_run=false: commit
 *   GET  /api/v1/uploads/{id}/features — the review map's regions (gm.report.features)
 * `?upload=<id>` opens a recorded upload's report.  body[data-ready] is set once the page (and
 * such a report) is drawn.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("upload-config").textContent);
  const canCommit = config.role === "editor" || config.role === "admin";
  const CONFIDENCE = { given: "由您指定", declared: "文件声明并已核对", certain: "按内容确定", guessed: "按内容推测" };
  const CRS_SOURCE = { file: "取自文件", parameter: "由您指定", inferred: "按坐标推断" };
  const PARENT_LIMIT = 1000;

  const map = gm.map($("map"));
  const el = gm.el;
  let file = null;
  let view = null;
  let lastError = null;
  let checked = null; // {key, errors} of the last dry run
  let committed = false; // the file was committed: choose another to upload again
  let extent = null; // the file's bounds on the map, once inspected
  let busy = false;
  let parents = new Map(); // code → name at the level above

  for (const level of config.levels) {
    $("upload-level").append(el("option", { value: level }, `${config.level_titles[level] || level}（${level}）`));
  }

  /* ---------- state, messages, busy ---------- */

  function options() {
    const fields = {};
    for (const select of $("mapping").querySelectorAll("select")) {
      if (select.value) fields[select.dataset.role] = select.value;
    }
    return {
      kind: "boundaries",
      level: $("upload-level").value,
      parent: parentCode(),
      crs: $("upload-crs").value.trim(),
      encoding: $("upload-encoding").value,
      layer: $("upload-layer").value,
      fields: JSON.stringify(fields),
    };
  }

  function parentCode() {
    const value = $("upload-parent").value.trim();
    const match = value.match(/^\d+/);
    return match ? match[0] : value;
  }

  function form(values, extra = {}) {
    const data = new FormData();
    data.append("file", file, file.name);
    for (const [name, value] of Object.entries({ ...values, ...extra })) {
      if (value !== undefined && value !== null && value !== "") data.append(name, value);
    }
    return data;
  }

  function updateButtons() {
    const key = JSON.stringify(options());
    $("check").disabled = busy || !file || committed;
    const ready = checked && checked.key === key && checked.errors === 0;
    $("commit").disabled = busy || !canCommit || !ready;
    let note = "";
    if (!canCommit) note = "您的角色只能检查；提交需要编辑或管理员。";
    else if (checked && checked.key !== key) note = "选项已更改，请重新检查后再提交。";
    else if (checked && checked.errors) note = `检查发现 ${checked.errors} 个错误，修正后才能提交。`;
    else if (committed) note = "已提交。要再上传，请选择新的文件。";
    else if (!checked && file) note = "先检查，没有错误才能提交。";
    $("commit-note").textContent = note;
  }

  let timer = null;
  function setBusy(text) {
    busy = Boolean(text);
    clearInterval(timer);
    $("busy").hidden = !busy;
    if (busy) {
      const started = Date.now();
      const tick = () => { $("busy-text").textContent = `${text}（${Math.round((Date.now() - started) / 1000)} 秒）`; };
      tick();
      timer = setInterval(tick, 1000);
    }
    document.body.classList.toggle("wb-busy-page", busy);
    updateButtons();
  }

  function say(text, kind) {
    gm.message($("message"), text, kind);
  }

  /** An API error as the page shows it: the API's message (zh + en) and its code. */
  function sayError(error) {
    lastError = error;
    say(gm.errorText(error), "error");
  }

  async function run(text, work) {
    setBusy(text);
    try {
      return await work();
    } catch (error) {
      sayError(error);
      return null;
    } finally {
      setBusy("");
    }
  }

  /* ---------- the CRS suggestion ---------- */

  function showSuggestion(suggestion) {
    const box = $("suggestion-box");
    if (!suggestion) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(
      el("span", { class: "wb-suggestion" },
        el("span", {}, suggestion.message, " "),
        el("button", {
          type: "button",
          class: "wb-button",
          "data-testid": "crs-suggestion",
          onclick: () => {
            $("upload-crs").value = suggestion.crs;
            check();
          },
        }, `改用 ${suggestion.crs} 并重新检查`)),
    );
  }

  /* ---------- inspect ---------- */

  async function inspect(extra = {}) {
    const found = await run("正在读取文件…", () =>
      gm.api("/api/v1/uploads/inspect", { method: "POST", body: form({ kind: "boundaries", ...extra }) }));
    if (!found) return;
    say("");
    $("options").hidden = false;
    $("detected-format").textContent = `${found.file.format} · ${found.file.source}`;
    $("upload-layer").replaceChildren(
      ...found.layers.map((layer) =>
        el("option", { value: layer.name, selected: layer.name === found.layer },
          `${layer.name}（${layer.geometry_type || "无几何"}，${layer.features} 个要素）`)),
    );
    $("upload-layer").disabled = found.layers.length < 2;
    const enc = found.encoding;
    $("encoding-note").textContent = enc ? `识别为 ${enc.encoding}（${CONFIDENCE[enc.confidence] || enc.confidence}）` : "";
    const crs = found.crs;
    $("crs-note").textContent = crs.crs
      ? `${crs.source === "parameter" ? "读取用" : "文件"}：${crs.crs}（${CRS_SOURCE[crs.source] || crs.source}）` +
        (crs.in_range ? "" : ` —— ${crs.reason}`)
      : crs.reason;
    $("crs-note").className = crs.in_range === false || !crs.crs ? "wb-hint wb-error" : "wb-hint";
    showSuggestion(crs.suggestion);
    showExtent(crs.bounds);
    if (found.level) $("upload-level").value = found.level;
    $("feature-count").textContent = String(found.features);
    $("mapping").replaceChildren(...found.roles.flatMap((role) => mappingRow(role, found)));
    await loadParents();
    $("upload-parent").value = found.parent || "";
    parentNote();
    updateButtons();
  }

  function mappingRow(role, found) {
    const id = `map-${role}`;
    const select = el("select", { id, "data-role": role, "data-testid": `map-${role}` },
      el("option", { value: "" }, "—— 不使用 ——"),
      ...found.fields.map((field) =>
        el("option", { value: field.name, selected: found.mapping[role] === field.name },
          field.samples.length ? `${field.name}（如 ${field.samples.join("、")}）` : field.name)));
    return [el("label", { for: id }, config.role_titles[role] || role), select];
  }

  /** The file's bounds (EPSG:4326) as the pipeline would read it, before any check. */
  function showExtent(bounds) {
    if (extent) map.removeLayer(extent);
    extent = null;
    if (!bounds) return;
    const box = [[bounds[1], bounds[0]], [bounds[3], bounds[2]]];
    extent = L.rectangle(box, { color: "#2166ac", weight: 1, dashArray: "4 4", fill: false, interactive: false }).addTo(map);
    map.fitBounds(box, { padding: [24, 24], maxZoom: 17 });
  }

  async function loadParents() {
    const level = $("upload-level").value;
    const index = config.levels.indexOf(level);
    const list = $("parent-list");
    parents = new Map();
    list.replaceChildren();
    $("upload-parent").disabled = index <= 0;
    if (index <= 0) {
      $("upload-parent").value = "";
      return;
    }
    try {
      const above = config.levels[index - 1];
      const answer = await gm.api("/api/v1/regions", { query: { level: above, limit: PARENT_LIMIT, simplify: 10000 } });
      for (const feature of answer.features) parents.set(feature.properties.code, feature.properties.name);
      list.replaceChildren(...[...parents].map(([code, name]) => el("option", { value: code }, `${name} ${code}`)));
    } catch (error) {
      sayError(error);
    }
  }

  function parentNote() {
    const code = parentCode();
    const name = parents.get(code);
    $("parent-note").textContent = !code
      ? "不指定：按文件的上级编码字段"
      : name ? name : parents.size ? "没有这个上级区域（请从列表中选择）" : "";
    $("parent-note").className = code && !name && parents.size ? "wb-hint wb-error" : "wb-hint";
  }

  /* ---------- check and commit ---------- */

  function clearReport() {
    if (extent) map.removeLayer(extent);
    extent = null;
    if (view) view.clear();
    view = null;
    $("result").hidden = true;
  }

  async function draw(report, id, features) {
    features = features || (id ? await gm.report.features(id) : null);
    clearReport();
    view = gm.report.render($("report"), map, report, { features });
    return features;
  }

  async function check() {
    if (!file || busy) return;
    const values = options();
    checked = null;
    lastError = null;
    showSuggestion(null);
    const answer = await run("正在上传并检查…", async () => {
      const body = await gm.api("/api/v1/uploads", { method: "POST", body: form(values, { dry_run: "true" }) });
      await draw(body.report, body.id);
      return body;
    });
    if (!answer) {
      clearReport();
      const details = (lastError && lastError.details) || {};
      if (details.crs_doctor) showSuggestion(details.crs_doctor.suggestion);
      updateButtons();
      return;
    }
    const report = answer.report;
    checked = { key: JSON.stringify(values), errors: report.summary.errors };
    showSuggestion(report.crs && report.crs.doctor ? report.crs.doctor.suggestion : null);
    const problems = report.summary.errors + report.summary.warnings;
    say(report.summary.errors
      ? `检查完成：${report.summary.errors} 个错误，${report.summary.warnings} 个警告。点击表格中的一行可在地图上定位。`
      : `检查通过${problems ? `（${report.summary.warnings} 个警告）` : ""}：${changeText(report.summary.changes)}`,
      report.summary.errors ? "error" : "ok");
    document.body.dataset.checked = String(answer.id);
    updateButtons();
  }

  function count(value) {
    return Array.isArray(value) ? value.length : Number(value) || 0;
  }

  function changeText(changes) {
    if (!changes) return "";
    return `+${count(changes.added)} 新增 · ~${count(changes.modified)} 修改 · −${count(changes.removed)} 删除`;
  }

  async function commit() {
    if (busy || $("commit").disabled) return;
    const values = options();
    const answer = await run("正在提交…", () =>
      gm.api("/api/v1/uploads", { method: "POST", body: form(values, { dry_run: "false" }) }));
    checked = null;
    updateButtons();
    if (!answer) return;
    committed = true;
    updateButtons();
    const changes = answer.report.summary.changes;
    const result = $("result");
    result.hidden = false;
    if (answer.version) {
      result.replaceChildren(
        el("p", { class: "wb-ok", "data-testid": "commit-summary" },
          `已提交为版本 ${answer.version}：`,
          el("strong", {}, changeText(changes))),
        el("a", { class: "wb-button", href: `/workbench/versions?b=${answer.version}`, "data-testid": "version-link" },
          `查看版本 ${answer.version} 的变化`),
      );
    } else {
      result.replaceChildren(el("p", { "data-testid": "commit-summary" }, "文件与现有边界相同，没有产生新版本。"));
    }
    say("");
    result.scrollIntoView({ block: "nearest" });
  }

  /* ---------- events ---------- */

  function choose(chosen) {
    if (!chosen) return;
    file = chosen;
    checked = null;
    committed = false;
    lastError = null;
    $("file-name").textContent = `${chosen.name}（${(chosen.size / 1024).toFixed(1)} KB）`;
    clearReport();
    $("upload-crs").value = "";
    $("upload-encoding").value = "";
    inspect();
  }

  $("upload-file").addEventListener("change", (event) => choose(event.target.files[0]));
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("wb-drop-over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("wb-drop-over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("wb-drop-over");
    choose(event.dataTransfer.files[0]);
  });
  $("upload-layer").addEventListener("change", () => inspect({ layer: $("upload-layer").value, encoding: $("upload-encoding").value }));
  $("upload-encoding").addEventListener("change", () => inspect({ layer: $("upload-layer").value, encoding: $("upload-encoding").value }));
  $("upload-level").addEventListener("change", async () => { await loadParents(); parentNote(); updateButtons(); });
  $("upload-parent").addEventListener("input", () => { parentNote(); updateButtons(); });
  $("options").addEventListener("change", updateButtons);
  $("options").addEventListener("input", updateButtons);
  $("options").addEventListener("submit", (event) => event.preventDefault());
  $("check").addEventListener("click", check);
  $("commit").addEventListener("click", commit);

  /* ---------- a recorded upload (?upload=<id>) ---------- */

  async function openRecorded(id) {
    const upload = await run("正在读取上传记录…", async () => {
      const features = await gm.report.features(id); // carries the upload and its report
      await draw(features.upload.report, features.upload.id, features);
      return features.upload;
    });
    if (upload) {
      const summary = upload.report.summary || {};
      say(`上传 ${upload.id}（${upload.filename}，${upload.author}）：${summary.errors || 0} 个错误，${summary.warnings || 0} 个警告。` +
        (upload.version ? ` 已提交为版本 ${upload.version}。` : ""), summary.errors ? "error" : "ok");
    }
  }

  const recorded = new URLSearchParams(window.location.search).get("upload");
  updateButtons();
  if (recorded) openRecorded(recorded).finally(() => { document.body.dataset.ready = "1"; });
  else document.body.dataset.ready = "1";
})();
