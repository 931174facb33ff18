/* The start page (api/templates/workbench/start.html): the name of the user's scope
 * (GET /api/v1/regions/{code}) and the five latest boundary versions
 * (GET /api/v1/versions?limit=5), as text. */
(function () {
  "use strict";
  const body = document.getElementById("start-versions");

  const scope = document.querySelector('[data-testid="start-scope"]');
  if (scope) {
    const code = scope.textContent;
    gm.api(`/api/v1/regions/${encodeURIComponent(code)}`, { query: { simplify: 1000 } })
      .then((region) => { scope.textContent = `${region.properties.name}（${code}）`; })
      .catch(() => { /* the code alone says it */ });
  }

  const edit = document.getElementById("start-edit");
  if (edit) {
    edit.addEventListener("submit", (event) => {
      event.preventDefault();
      const code = edit.elements.code.value.trim();
      if (code) window.location.assign(`/workbench/edit/${encodeURIComponent(code)}`);
    });
  }

  gm.api("/api/v1/versions", { query: { limit: 5 } }).then((answer) => {
    const rows = answer.versions.map((v) => gm.el("tr", { "data-testid": "start-version" },
      gm.el("td", {}, String(v.number)),
      gm.el("td", {}, gm.when(v.created_at)),
      gm.el("td", {}, v.author),
      gm.el("td", {}, gm.actionTitle(v.action)),
      gm.el("td", {}, String(v.summary.added ?? 0)),
      gm.el("td", {}, String(v.summary.changed ?? 0)),
      gm.el("td", {}, String(v.summary.removed ?? 0)),
      gm.el("td", {}, v.message || (v.file ? `文件 ${v.file}` : ""))));
    body.replaceChildren(...rows);
    if (!rows.length) gm.message(document.getElementById("start-message"), "还没有任何边界版本。");
  }).catch((error) => {
    gm.message(document.getElementById("start-message"), `无法读取版本：${error.message}`, "error");
  });
})();
