/* The audit log page (api/templates/workbench/audit.html, admins): every write, newest first.
 *
 * GET /api/v1/audit — one row per entry (time, actor, address, action, path, HTTP status,
 * details), PAGE at a time; "更早的记录" follows the answer's next link (gm.list), so every
 * entry can be reached.  The filter (actor, since) reads the first page again with the API's
 * own parameters, and is kept in the URL (?actor=&since=) so a view can be shared.  User
 * text goes into text nodes only (gm.el).
 */
(function () {
  "use strict";

  const PAGE = 100;
  const form = document.getElementById("audit-filter");
  const message = document.getElementById("audit-message");

  function entryRow(e) {
    const details = e.details && Object.keys(e.details).length ? JSON.stringify(e.details) : "";
    return gm.el(
      "tr",
      { "data-testid": "audit-row", dataset: { id: e.id } },
      gm.el("td", {}, gm.when(e.at)),
      gm.el("td", {}, e.actor || "—"),
      gm.el("td", {}, e.address || ""),
      gm.el("td", {}, e.action),
      gm.el("td", {}, e.target || ""),
      gm.el("td", { class: e.status >= 400 ? "wb-num wb-error" : "wb-num" }, String(e.status ?? "")),
      gm.el("td", { class: "wb-detail" }, details),
    );
  }

  const entries = gm.list({
    path: "/api/v1/audit",
    items: "entries",
    limit: PAGE,
    body: document.getElementById("audit-body"),
    row: entryRow,
    name: "audit",
    noun: "条记录",
    message,
  });

  /** The filter as the API's parameters: since in ISO 8601 with the zone (the field is
   * 北京时间, as every time the workbench shows). */
  function filters() {
    const actor = form.elements.actor.value.trim();
    const since = form.elements.since.value;
    return { actor: actor || undefined, since: gm.beijingInstant(since) };
  }

  async function load() {
    const url = new URL(window.location.href);
    for (const name of ["actor", "since"]) {
      if (form.elements[name].value) url.searchParams.set(name, form.elements[name].value);
      else url.searchParams.delete(name);
    }
    window.history.replaceState(null, "", url);
    gm.message(message, "");
    try {
      const answer = await entries.load(filters());
      if (answer && !answer.entries.length) gm.message(message, "没有符合条件的记录。");
    } catch (error) {
      gm.message(message, `无法读取操作日志：${error.message}`, "error");
    }
  }

  const params = new URLSearchParams(window.location.search);
  for (const name of ["actor", "since"]) form.elements[name].value = params.get(name) || "";
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  load().finally(() => { document.body.dataset.ready = "1"; });
})();
