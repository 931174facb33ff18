/* The roster page (api/templates/workbench/roster.html): export a roster, import it back.
 *
 * Export: the region (every county, street and community, from GET /api/v1/regions) and the
 * level make the links GET /api/v1/rosters?region=&level=&format=xlsx|csv.
 * Import: the chosen file is checked (POST /api/v1/rosters, dry_run=true): the report as a
 * table (gm.report.render: one row per problem, by Excel row and column), the changed cells
 * below it and the changed regions on the map; 提交 sends the same file with dry_run=false and
 * links the new version (/workbench/versions?b=N).
 */
(function () {
  "use strict";

  const regionSelect = document.getElementById("roster-region");
  const levelSelect = document.getElementById("roster-level");
  const xlsxLink = document.getElementById("roster-export");
  const csvLink = document.getElementById("roster-export-csv");
  const fileInput = document.getElementById("roster-import");
  const message = document.getElementById("roster-message");
  const reportBox = document.getElementById("roster-report");
  const changesTitle = document.getElementById("roster-changes-title");
  const changes = document.getElementById("roster-changes");
  const commitButton = document.getElementById("roster-commit");
  const done = document.getElementById("roster-done");
  const map = gm.map(document.getElementById("roster-map"));
  const PARENT_LEVELS = ["county", "street", "community"];
  const MAX_DRAWN = 200;
  const MAX_PARENTS = 20;
  let view = null;
  let checkedFile = null;

  function exportUrl(format) {
    const url = new URL("/api/v1/rosters", window.location.origin);
    if (regionSelect.value) url.searchParams.set("region", regionSelect.value);
    url.searchParams.set("level", levelSelect.value);
    url.searchParams.set("format", format);
    return url.pathname + url.search;
  }

  function updateLinks() {
    xlsxLink.href = exportUrl("xlsx");
    csvLink.href = exportUrl("csv");
  }

  async function loadRegions() {
    for (const level of PARENT_LEVELS) {
      const answer = await gm.api("/api/v1/regions", { query: { level, limit: 1000, simplify: 1000 } });
      const group = gm.el("optgroup", { label: levelSelect.querySelector(`option[value="${level}"]`).textContent });
      for (const feature of answer.features) {
        const { code, name } = feature.properties;
        group.append(gm.el("option", { value: code }, `${name} (${code})`));
      }
      regionSelect.append(group);
    }
    if (regionSelect.dataset.scope) {  // a scoped editor starts at the region they may change
      regionSelect.value = regionSelect.dataset.scope;
      updateLinks();
    }
  }

  function resetReport() {
    if (view) view.clear();
    view = null;
    changes.tBodies[0].replaceChildren();
    changes.hidden = changesTitle.hidden = true;
    changesTitle.textContent = "将修改的单元格";
    commitButton.disabled = true;
    done.hidden = true;
    gm.message(message, "");
  }

  function showCells(cells) {
    const body = changes.tBodies[0];
    body.replaceChildren(
      ...cells.map((cell) =>
        gm.el(
          "tr",
          { "data-testid": "roster-change" },
          gm.el("td", {}, String(cell.row)),
          gm.el("td", {}, cell.column),
          gm.el("td", {}, cell.code),
          gm.el("td", {}, cell.header),
          gm.el("td", {}, cell.old ?? ""),
          gm.el("td", {}, cell.new ?? ""),
        ),
      ),
    );
    changes.hidden = changesTitle.hidden = !cells.length;
  }

  /** The changed regions (at most MAX_DRAWN) marked "modified", over their siblings
   * ("context") — the review map's FeatureCollection. */
  async function reviewFeatures(cells) {
    const codes = [...new Set(cells.map((c) => c.code))].slice(0, MAX_DRAWN);
    const changed = (
      await Promise.all(codes.map((code) => gm.api(`/api/v1/regions/${encodeURIComponent(code)}`).catch(() => null)))
    ).filter(Boolean);
    const parents = [...new Set(changed.map((f) => f.properties.parent_code).filter(Boolean))].slice(0, MAX_PARENTS);
    const siblings = await Promise.all(
      parents.map((parent) => gm.api("/api/v1/regions", { query: { parent, limit: 1000 } }).catch(() => ({ features: [] }))),
    );
    const mark = (feature, change) => ({ ...feature, properties: { ...feature.properties, change } });
    return {
      type: "FeatureCollection",
      features: [
        ...siblings.flatMap((s) => s.features).filter((f) => !codes.includes(f.properties.code)).map((f) => mark(f, "context")),
        ...changed.map((f) => mark(f, "modified")),
      ],
    };
  }

  function form(file, dryRun) {
    const data = new FormData();
    data.append("file", file, file.name);
    data.append("dry_run", dryRun ? "true" : "false");
    return data;
  }

  async function check() {
    resetReport();
    const file = fileInput.files[0];
    if (!file) return;
    checkedFile = file;
    gm.message(message, `正在检查 ${file.name} …`);
    let answer;
    try {
      answer = await gm.api("/api/v1/rosters", { method: "POST", body: form(file, true) });
    } catch (error) {
      gm.message(message, `${error.message} [${error.code}]`, "error");
      return;
    }
    const report = answer.report;
    const cells = report.cells || [];
    view = gm.report.render(reportBox, map, report, { features: await reviewFeatures(cells) });
    showCells(cells);
    if (!report.ok) {
      gm.message(message, "花名册有错误，请按下表（行、列）在 Excel 中修改后重新选择文件。", "error");
    } else if (!cells.length) {
      gm.message(message, "与现有数据相同，没有需要提交的修改。", "ok");
    } else {
      gm.message(message, `检查通过：${report.summary.changes.modified.length} 个区域、${cells.length} 个单元格将被修改。`, "ok");
      commitButton.disabled = false;
    }
  }

  async function commit() {
    if (!checkedFile) return;
    commitButton.disabled = true;
    gm.message(message, "正在提交 …");
    try {
      const answer = await gm.api("/api/v1/rosters", { method: "POST", body: form(checkedFile, false) });
      const cells = answer.report.cells.length;
      gm.message(message, answer.version ? `已提交为边界版本 ${answer.version}（${cells} 个单元格）。` : "没有修改，未产生新版本。", "ok");
      if (answer.version) {
        changesTitle.textContent = `已修改的单元格（版本 ${answer.version}）`;
        done.replaceChildren(
          gm.el("a", { href: `/workbench/versions?b=${answer.version}`, "data-testid": "roster-version-link" }, `查看版本 ${answer.version}`),
        );
        done.hidden = false;
      }
    } catch (error) {
      gm.message(message, `${error.message} [${error.code}]`, "error");
    }
  }

  regionSelect.addEventListener("change", updateLinks);
  levelSelect.addEventListener("change", updateLinks);
  if (fileInput) fileInput.addEventListener("change", check);
  commitButton.addEventListener("click", commit);
  updateLinks();
  loadRegions().catch((error) => gm.message(message, `无法读取区域列表：${error.message}`, "error"));
})();
