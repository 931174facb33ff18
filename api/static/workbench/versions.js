/* The versions page (api/templates/workbench/versions.html): history, diff map, restore.
 *
 * History: GET /api/v1/versions — one row per version (number, time, author, action, file,
 * + ~ − counts), newest first, PAGE at a time; "更早的版本" follows the answer's next link
 * (gm.list), so every version can be reached; a row chooses it as B and the version before
 * it as A (either added to the pickers when its page is not listed yet).
 * Diff: GET /api/v1/versions/{a}/diff/{b} — the changed regions on the map (added green,
 * removed red, changed: the old outline dashed grey under the new one solid orange) and in a
 * table (a row zooms to its region).  A and B come from ?a=&b= (default: previous and current)
 * and are written back to the URL, so a link to a version can be shared.
 * Restore (admins): the dialog first shows what restoring would change — the diff from the
 * current version to the target, counts and map — then POST /api/v1/versions/{n}/restore.
 * User text goes into text nodes only (gm.el), never into HTML.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("versions-config").textContent);
  const STYLES = {
    added: { color: "#1a9850", weight: 2, fillOpacity: 0.25 },
    removed: { color: "#c62828", weight: 2, fillOpacity: 0.25 },
    changed: { color: "#f57c00", weight: 3, fillOpacity: 0.08 },
    before: { color: "#757575", weight: 2, dashArray: "6 5", fill: false },
  };
  const LEGEND = [
    ["added", "新增"],
    ["removed", "删除"],
    ["changed", "修改后的边界"],
    ["before", "修改前的边界"],
  ];
  const CHANGE_TITLES = { added: "新增", changed: "修改", removed: "删除" };
  const LIMIT = 1000; // regions of a diff
  const PAGE = 100; // versions a page of the history lists

  const message = document.getElementById("versions-message");
  const body = document.getElementById("versions-body");
  const selectA = document.getElementById("diff-a");
  const selectB = document.getElementById("diff-b");
  const selectLevel = document.getElementById("diff-level");
  const summary = document.getElementById("diff-summary");
  const diffBody = document.getElementById("diff-body");
  const diffMore = document.getElementById("diff-more");
  const dialog = document.getElementById("restore-dialog");
  const restoreTitle = document.getElementById("restore-title");
  const restoreSummary = document.getElementById("restore-summary");
  const restoreMessage = document.getElementById("restore-message");
  const restoreConfirm = document.getElementById("restore-confirm");

  const map = gm.map(document.getElementById("diff-map"));
  legend(map);
  let drawn = L.featureGroup().addTo(map);
  let restoreMap = null;
  let restoreLayer = null;
  let restoreTarget = null;
  let current = null;
  let shown = 0; // a counter: an older answer arriving late is not drawn

  function legend(target) {
    const control = L.control({ position: "bottomleft" });
    control.onAdd = () => gm.el(
      "div",
      { class: "wb-legend", "data-testid": "diff-legend" },
      LEGEND.map(([key, title]) => gm.el(
        "div",
        {},
        gm.el("i", {
          style: `border-color:${STYLES[key].color};border-style:${key === "before" ? "dashed" : "solid"};` +
            `background:${key === "before" ? "transparent" : STYLES[key].color + "40"}`,
        }),
        title,
      )),
    );
    control.addTo(target);
  }

  function counts(s) {
    return [
      gm.el("span", { class: "wb-plus" }, `+${s.added} 新增`),
      gm.el("span", { class: "wb-tilde" }, `~${s.changed} 修改`),
      gm.el("span", { class: "wb-minus" }, `−${s.removed} 删除`),
    ];
  }

  function area(value) {
    return value === null || value === undefined ? "" : Math.round(value).toLocaleString("zh-CN");
  }

  function shownValue(value) {
    return value === null || value === undefined || value === "" ? "（空）" : String(value);
  }

  /** What changed in a region, in words: the outline and each attribute, old → new. */
  function describe(p) {
    if (p.change !== "changed") return "";
    const parts = p.geometry_changed ? ["边界"] : [];
    for (const name of p.changed_attributes) {
      const title = config.field_titles[name] || name;
      parts.push(`${title}: ${shownValue(p.before[name])} → ${shownValue(p.after[name])}`);
    }
    return parts.join("；");
  }

  /** Draw a diff's features into `group`; returns {code: [layers]} (a changed region: the old
   * outline and the new one). */
  function draw(group, features) {
    const layers = {};
    const before = [];
    for (const feature of features) {
      const p = feature.properties;
      const tooltip = `${p.name} (${p.code}) · ${CHANGE_TITLES[p.change]}`;
      layers[p.code] = [gm.geojson(feature, { style: STYLES[p.change], tooltip: () => tooltip })];
      if (p.geometry_before) {
        const old = gm.geojson(p.geometry_before, { style: STYLES.before, tooltip: () => `${tooltip} · 修改前` });
        layers[p.code].push(old);
        before.push(old);
      }
      group.addLayer(layers[p.code][0]);
    }
    // the old outlines last, over the new ones: where they coincide, both show
    for (const layer of before) group.addLayer(layer);
    return layers;
  }

  function fit(target, group) {
    const bounds = group.getBounds();
    if (bounds.isValid()) target.fitBounds(bounds, { padding: [16, 16], maxZoom: 17, animate: false });
  }

  function selectRow(tbody, row) {
    for (const other of tbody.rows) other.removeAttribute("aria-selected");
    if (row) row.setAttribute("aria-selected", "true");
  }

  function optionTitle(number) {
    return `版本 ${number}${number === current ? "（当前）" : ""}`;
  }

  /** Add version `number` to a picker unless it is there: the pickers hold the listed
   * versions, and any chosen from a link or a row, newest first. */
  function offer(select, number) {
    const last = select.options[select.options.length - 1];
    if (last && Number(last.value) === number) return;
    let before = null; // a page of older versions goes at the end
    if (last && Number(last.value) < number) {
      if (select.querySelector(`option[value="${number}"]`)) return;
      before = [...select.options].find((o) => Number(o.value) < number);
    }
    select.insertBefore(gm.el("option", { value: number }, optionTitle(number)), before);
  }

  function choose(select, number) {
    offer(select, number);
    select.value = number;
  }

  function versionRow(v) {
    const when = gm.when(v.created_at);
    let action = gm.actionTitle(v.action);
    if (v.restored_from) action += ` 版本 ${v.restored_from}`;
    const restore = config.role === "admin" && v.number !== current
      ? gm.el("button", {
        type: "button",
        class: "wb-button",
        "data-testid": "restore-button",
        onclick: (event) => { event.stopPropagation(); openRestore(v.number); },
      }, "恢复到此版本")
      : null;
    return gm.el(
      "tr",
      {
        "data-testid": "version-row",
        dataset: { number: v.number },
        title: "与上一版本对比",
        onclick: () => {
          choose(selectB, v.number);
          choose(selectA, Math.max(1, v.number - 1));
          loadDiff();
        },
      },
      gm.el("td", { class: "wb-num" }, String(v.number), v.number === current ? " （当前）" : ""),
      gm.el("td", {}, when),
      gm.el("td", {}, v.author),
      gm.el("td", {}, action, v.message && v.action !== "restore" ? gm.el("div", { class: "wb-hint" }, v.message) : null),
      gm.el("td", {}, v.file || ""),
      gm.el("td", { class: "wb-num wb-plus" }, String(v.summary.added)),
      gm.el("td", { class: "wb-num wb-tilde" }, String(v.summary.changed)),
      gm.el("td", { class: "wb-num wb-minus" }, String(v.summary.removed)),
      gm.el("td", {}, restore),
    );
  }

  const versionList = gm.list({
    path: "/api/v1/versions",
    items: "versions",
    limit: PAGE,
    body,
    row: versionRow,
    name: "versions",
    noun: "个版本",
    message,
    onAnswer(answer, listed, appended) {
      if (!appended) {
        current = answer.current;
        for (const select of [selectA, selectB]) select.replaceChildren();
      }
      for (const v of listed) {
        for (const select of [selectA, selectB]) offer(select, v.number);
      }
    },
  });

  function loadVersions() {
    return versionList.load();
  }

  function chooseFromUrl() {
    const params = new URLSearchParams(window.location.search);
    const b = Number(params.get("b")) || current;
    const a = Number(params.get("a")) || Math.max(1, b - 1);
    choose(selectB, b);
    choose(selectA, a);
    if (params.get("level")) selectLevel.value = params.get("level");
  }

  async function loadDiff() {
    const a = Number(selectA.value);
    const b = Number(selectB.value);
    if (!a || !b) return;
    const url = new URL(window.location.href);
    url.searchParams.set("a", a);
    url.searchParams.set("b", b);
    if (selectLevel.value) url.searchParams.set("level", selectLevel.value);
    else url.searchParams.delete("level");
    window.history.replaceState(null, "", url);
    selectRow(body, body.querySelector(`tr[data-number="${b}"]`));
    const ticket = ++shown;
    let answer;
    try {
      answer = await gm.api(`/api/v1/versions/${a}/diff/${b}`, { query: { level: selectLevel.value, limit: LIMIT } });
    } catch (error) {
      gm.message(message, `对比失败：${error.message}`, "error");
      return;
    }
    if (ticket !== shown) return;
    gm.message(message, "");
    summary.replaceChildren(`版本 ${a} → 版本 ${b}：`, ...counts(answer.summary));
    map.removeLayer(drawn);
    drawn = L.featureGroup().addTo(map);
    const layers = draw(drawn, answer.features);
    diffBody.replaceChildren();
    for (const feature of answer.features) {
      const p = feature.properties;
      const row = gm.el(
        "tr",
        {
          "data-testid": "diff-row",
          dataset: { code: p.code },
          onclick: () => {
            selectRow(diffBody, row);
            const group = L.featureGroup(layers[p.code]);
            map.fitBounds(group.getBounds(), { padding: [24, 24], maxZoom: 18 });
          },
        },
        gm.el("td", {}, p.name, gm.el("div", { class: "wb-code" }, `${p.code} · ${config.level_titles[p.level] || p.level}`)),
        gm.el("td", { class: { added: "wb-plus", changed: "wb-tilde", removed: "wb-minus" }[p.change] }, CHANGE_TITLES[p.change]),
        gm.el("td", { class: "wb-num" }, `${area(p.area_m2_before) || "—"} → ${area(p.area_m2_after) || "—"}`),
        gm.el("td", { class: "wb-num" }, (p.area_delta_m2 > 0 ? "+" : "") + area(p.area_delta_m2)),
        gm.el("td", {}, describe(p)),
      );
      diffBody.append(row);
    }
    if (!answer.features.length) {
      diffBody.append(gm.el("tr", {}, gm.el("td", { colspan: 5 }, a === b ? "同一版本，没有差别。" : "两个版本之间没有差别。")));
    }
    diffMore.textContent = answer.numberMatched > answer.numberReturned
      ? `只显示前 ${answer.numberReturned} 个区域（共 ${answer.numberMatched} 个）。`
      : "";
    fit(map, drawn);
  }

  async function openRestore(target) {
    restoreTarget = target;
    restoreTitle.textContent = `恢复到版本 ${target}`;
    restoreSummary.replaceChildren("正在计算差别…");
    gm.message(restoreMessage, "");
    restoreConfirm.disabled = true;
    dialog.showModal();
    if (!restoreMap) {
      restoreMap = gm.map(document.getElementById("restore-map"));
      legend(restoreMap);
    }
    restoreMap.invalidateSize();
    if (restoreLayer) restoreMap.removeLayer(restoreLayer);
    restoreLayer = L.featureGroup().addTo(restoreMap);
    try {
      const answer = await gm.api(`/api/v1/versions/${current}/diff/${target}`, { query: { limit: LIMIT } });
      restoreSummary.replaceChildren(`当前版本 ${current} → 版本 ${target}：`, ...counts(answer.summary));
      draw(restoreLayer, answer.features);
      fit(restoreMap, restoreLayer);
      restoreConfirm.disabled = false;
    } catch (error) {
      gm.message(restoreMessage, `无法计算差别：${error.message}`, "error");
    }
  }

  async function confirmRestore() {
    restoreConfirm.disabled = true;
    const before = current;
    try {
      const answer = await gm.api(`/api/v1/versions/${restoreTarget}/restore`, { method: "POST" });
      dialog.close();
      await loadVersions();
      choose(selectA, before);
      choose(selectB, answer.version);
      await loadDiff();
      gm.message(message, `已恢复到版本 ${restoreTarget}，新版本为 ${answer.version}。`, "ok");
    } catch (error) {
      gm.message(restoreMessage, `恢复失败：${error.message}`, "error");
      restoreConfirm.disabled = false;
    }
  }

  document.getElementById("restore-cancel").addEventListener("click", () => dialog.close());
  restoreConfirm.addEventListener("click", confirmRestore);
  for (const select of [selectA, selectB, selectLevel]) select.addEventListener("change", loadDiff);
  for (const level of config.levels) {
    selectLevel.append(gm.el("option", { value: level }, config.level_titles[level] || level));
  }

  loadVersions()
    .then(() => {
      if (current === null) {
        gm.message(message, "还没有任何版本。");
        return;
      }
      chooseFromUrl();
      return loadDiff();
    })
    .catch((error) => gm.message(message, `无法读取版本：${error.message}`, "error"))
    .finally(() => { document.body.dataset.ready = "1"; });  // drawn: what the bench times
})();
