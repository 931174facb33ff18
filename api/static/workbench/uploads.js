/* The uploads page (api/templates/workbench/uploads.html): every upload, newest first.
 *
 * GET /api/v1/uploads — one row per upload (id, time, author, file, kind, level, status,
 * errors and warnings, the version it made), PAGE at a time; "更早的上传" follows the answer's
 * next link (gm.list), so every upload can be reached.  A file name opens the upload's
 * report and map on the upload page (/workbench/upload?upload=<id>), a version its diff
 * (/workbench/versions?b=<n>).  User text goes into text nodes only (gm.el).
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("uploads-config").textContent);
  const PAGE = 100;
  const STATUS = {
    dry_run: ["仅检查", ""],
    committed: ["已提交", "wb-ok"],
    unchanged: ["已提交（无变化）", ""],
    rejected: ["未通过", "wb-error"],
  };
  const message = document.getElementById("uploads-message");

  function uploadRow(u) {
    const [status, style] = STATUS[u.status] || [u.status, ""];
    const summary = u.summary || {};
    return gm.el(
      "tr",
      { "data-testid": "upload-row", dataset: { id: u.id } },
      gm.el("td", { class: "wb-num" }, String(u.id)),
      gm.el("td", {}, gm.when(u.created_at)),
      gm.el("td", {}, u.author),
      gm.el("td", {}, gm.el("a", { href: `/workbench/upload?upload=${u.id}`, title: "查看检查报告" }, u.filename || "（无文件名）")),
      gm.el("td", {}, config.kind_titles[u.kind] || u.kind),
      gm.el("td", {}, u.level ? config.level_titles[u.level] || u.level : ""),
      gm.el("td", { class: style }, status),
      gm.el("td", { class: summary.errors ? "wb-num wb-error" : "wb-num" }, String(summary.errors ?? "")),
      gm.el("td", { class: "wb-num" }, String(summary.warnings ?? "")),
      gm.el("td", { class: "wb-num" }, u.version ? gm.el("a", { href: `/workbench/versions?b=${u.version}` }, String(u.version)) : ""),
    );
  }

  const uploads = gm.list({
    path: "/api/v1/uploads",
    items: "uploads",
    limit: PAGE,
    body: document.getElementById("uploads-body"),
    row: uploadRow,
    name: "uploads",
    noun: "次上传",
    message,
  });

  uploads.load()
    .then((answer) => { if (!answer.uploads.length) gm.message(message, "还没有任何上传。"); })
    .catch((error) => gm.message(message, `无法读取上传记录：${error.message}`, "error"))
    .finally(() => { document.body.dataset.ready = "1"; });
})();
