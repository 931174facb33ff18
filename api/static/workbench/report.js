/* An upload's (or an edit's) validation report in a workbench page: a table and a map.
 *
 * gm.report.render(container, map, report, options) → a view {rows, problems, features,
 *   select(index), clear()}:
 *   - in `container`: the counts (data-testid report-errors / report-warnings: the number only)
 *     and a table with one row (report-row) per problem: severity, kind, code, feature,
 *     message (as text), area;
 *   - on `map` (an L.Map from gm.map): options.features — a GeoJSON FeatureCollection whose
 *     properties.change is added / modified / unchanged / unknown / removed (the file's
 *     regions as they would be stored and the regions removed) or context (the stored
 *     regions around, drawn as thin outlines) — and every problem with a place: its geometry,
 *     else its location as a circle (SVG paths of class wb-problem);
 *   - clicking a row zooms to its problem (or its region), clicking a problem selects its row.
 *   options: features, pageSize (rows shown at first, default 500; a button shows the rest),
 *   kindNames ({kind: Chinese name}; default: the page's, base.html #wb-problem-kinds),
 *   fit (default true: zoom to what was drawn), onSelect(problem, index).
 * gm.report.features(uploadId) → GET /api/v1/uploads/{id}/features (options.features).
 * gm.report.CHANGES — what an upload does to a region: [name, colour] (the same colours as the
 *   Folium review page, gis/web/styles.py CHANGES).
 */
(function () {
  "use strict";

  const CHANGES = {
    added: ["新增", "#1a9850"],
    modified: ["修改", "#2166ac"],
    unchanged: ["未变", "#969696"],
    unknown: ["未比较（有错误）", "#e6ab02"],
    removed: ["删除", "#762a83"],
    context: ["现有区域", "#555555"],
  };
  const SEVERITY = { error: ["错误", "#d7301f"], warning: ["警告", "#fc8d59"] };
  const SELECTED = "#00e5ff";
  const PAGE_SIZE = 500; // rows shown at first; the rest on a click
  const kindsElement = document.getElementById("wb-problem-kinds");
  const PAGE_KINDS = kindsElement ? JSON.parse(kindsElement.textContent) : {};
  const CANVAS_OVER = 1000; // more shapes than this are drawn on a canvas

  function changeStyle(feature) {
    const change = (feature.properties && feature.properties.change) || "unknown";
    const colour = (CHANGES[change] || CHANGES.unknown)[1];
    if (change === "context") return { color: colour, weight: 1, fill: false, className: "wb-context" };
    return {
      color: colour,
      weight: 2,
      fillColor: colour,
      fillOpacity: change === "removed" ? 0.1 : 0.25,
      dashArray: change === "removed" ? "6 4" : null,
      className: `wb-change wb-change-${change}`,
    };
  }

  function problemStyle(problem, index) {
    const colour = (SEVERITY[problem.severity] || SEVERITY.warning)[1];
    return {
      color: colour,
      weight: 3,
      fillColor: colour,
      fillOpacity: 0.45,
      className: `wb-problem wb-problem-${problem.severity} wb-problem-${index}`,
    };
  }

  /** The map layer of a problem: its geometry, else a circle at its location; null when it
   * has no place (a file-wide or a roster's row problem). */
  function problemLayer(problem, index, renderer) {
    const style = { ...problemStyle(problem, index), renderer };
    if (problem.geometry) {
      return L.geoJSON(problem.geometry, {
        renderer,
        style: () => style,
        pointToLayer: (_, latlng) => L.circleMarker(latlng, { ...style, radius: 8 }),
      });
    }
    const loc = problem.location;
    if (Array.isArray(loc) && loc.length === 2) {
      return L.circleMarker([loc[1], loc[0]], { ...style, radius: 8 });
    }
    return null;
  }

  function tooltipText(feature) {
    const p = feature.properties || {};
    const change = (CHANGES[p.change] || CHANGES.unknown)[0];
    return [p.name, p.code, change].filter((v) => v !== undefined && v !== null && v !== "").join(" · ");
  }

  function legend(map, features, problems) {
    const present = new Set(((features && features.features) || []).map((f) => f.properties.change || "unknown"));
    const control = L.control({ position: "bottomleft" });
    control.onAdd = () => {
      const box = gm.el("div", { class: "wb-legend wb-report-legend" });
      for (const [key, [name, colour]] of Object.entries(CHANGES)) {
        if (present.has(key)) box.append(gm.el("div", {}, gm.el("i", { style: `border-color:${colour}` }), name));
      }
      for (const [key, [name, colour]] of Object.entries(SEVERITY)) {
        if (problems.some((p) => p.severity === key)) {
          box.append(gm.el("div", {}, gm.el("i", { style: `border-color:${colour};background:${colour}` }), `问题：${name}`));
        }
      }
      return box;
    };
    return control.addTo(map);
  }

  function area(problem) {
    if (typeof problem.area_m2 !== "number") return "";
    return problem.area_m2 >= 10000
      ? `${(problem.area_m2 / 10000).toFixed(2)} 公顷`
      : `${problem.area_m2.toFixed(1)} m²`;
  }

  function where(problem) {
    if (problem.code) return problem.code;
    if (problem.row !== undefined) return `第 ${problem.row} 行${problem.column ? ` · ${problem.column}` : ""}`;
    return problem.attribute || "";
  }

  function render(container, map, report, options = {}) {
    const { features = null, kindNames = PAGE_KINDS, fit = true, onSelect, pageSize = PAGE_SIZE } = options;
    const kindName = (kind) => (kindNames || {})[kind] || kind;
    const problems = (report && report.problems) || [];
    const summary = (report && report.summary) || {};
    const errors = summary.errors ?? problems.filter((p) => p.severity === "error").length;
    const warnings = summary.warnings ?? problems.length - errors;
    const group = L.featureGroup();
    const regionLayers = {};
    if (features && features.features && features.features.length) {
      const drawn = features.features.filter((f) => f.geometry);
      const context = drawn.filter((f) => f.properties.change === "context");
      const own = drawn.filter((f) => f.properties.change !== "context");
      if (context.length) {
        const outlines = context.length > CANVAS_OVER ? L.canvas({ padding: 0.5 }) : undefined;
        gm.geojson({ type: "FeatureCollection", features: context }, { style: changeStyle, interactive: false, renderer: outlines }).addTo(group);
      }
      gm.geojson({ type: "FeatureCollection", features: own }, {
        style: changeStyle,
        tooltip: tooltipText,
        onEachFeature(feature, layer) {
          if (feature.properties.code) regionLayers[feature.properties.code] = layer;
        },
      }).addTo(group);
    }
    // many shapes: one canvas instead of an SVG path each (the SVG paths stay for a report a
    // clerk reads problem by problem, and for tests that count them)
    const renderer = problems.length > CANVAS_OVER ? L.canvas({ padding: 0.5 }) : undefined;
    const shapes = problems.map((problem, index) => {
      const layer = problemLayer(problem, index, renderer);
      if (layer) {
        layer.bindTooltip(gm.el("span", {}, `${(SEVERITY[problem.severity] || [problem.severity])[0]} · ${kindName(problem.kind)}${problem.code ? ` · ${problem.code}` : ""}`), { sticky: true });
        layer.on("click", () => select(index, false));
        layer.addTo(group);
      }
      return layer;
    });
    group.addTo(map);
    const key = legend(map, features, problems);

    const rows = []; // the row of each problem, made when first shown
    function rowOf(index) {
      if (rows[index]) return rows[index];
      const problem = problems[index];
      const severity = (SEVERITY[problem.severity] || [problem.severity])[0];
      rows[index] = gm.el(
        "tr",
        {
          "data-testid": "report-row",
          class: `wb-report-row wb-${problem.severity}`,
          dataset: { index: String(index), kind: problem.kind, severity: problem.severity },
          tabindex: "0",
          onclick: () => select(index, true),
          onkeydown: (event) => { if (event.key === "Enter") select(index, true); },
        },
        gm.el("td", { class: `wb-${problem.severity}` }, severity),
        gm.el("td", { title: problem.kind }, kindName(problem.kind)),
        gm.el("td", {}, where(problem)),
        gm.el("td", {}, problem.feature ?? ""),
        gm.el("td", {}, problem.message || ""),
        gm.el("td", { class: "wb-num" }, area(problem)),
      );
      return rows[index];
    }
    const body = gm.el("tbody");
    let shown = 0;
    const more = gm.el("button", { type: "button", class: "wb-button wb-more", onclick: () => showRows(problems.length) });
    function showRows(upTo) {
      const end = Math.min(upTo, problems.length);
      const batch = [];
      for (let i = shown; i < end; i += 1) batch.push(rowOf(i));
      body.append(...batch);
      shown = Math.max(shown, end);
      more.hidden = shown >= problems.length;
      more.textContent = `显示其余 ${problems.length - shown} 个问题`;
    }
    showRows(pageSize);
    const table = problems.length
      ? gm.el(
          "table",
          { class: "wb-table wb-report-table" },
          gm.el("thead", {}, gm.el("tr", {}, ...["级别", "类型", "编码/位置", "要素", "说明", "面积"].map((h) => gm.el("th", {}, h)))),
          body,
        )
      : gm.el("p", { class: "wb-ok" }, "没有发现问题。");
    const counts = gm.el(
      "p",
      { class: "wb-report-counts" },
      gm.el("span", { class: errors ? "wb-error" : "wb-ok" }, "错误 ", gm.el("strong", { "data-testid": "report-errors" }, String(errors))),
      " · ",
      gm.el("span", { class: warnings ? "wb-warning" : "" }, "警告 ", gm.el("strong", { "data-testid": "report-warnings" }, String(warnings))),
      ` · 要素 ${summary.features ?? "—"}`,
    );
    // a report lists at most so many problems of a kind; the counts above are whole
    const omitted = Object.entries((report && report.problems_omitted) || {});
    const note = omitted.length
      ? gm.el(
          "p",
          { class: "wb-hint", "data-testid": "report-omitted" },
          "另有问题未列出（报告每类只列出前面一部分，数目如下）：",
          omitted.map(([kind, n]) => `${kindName(kind)} ${n} 个`).join("，"),
        )
      : "";
    container.replaceChildren(counts, note, table, more);

    let selected = null;
    function select(index, zoom) {
      const problem = problems[index];
      if (!problem) return;
      if (index >= shown) showRows(index + 1);
      if (selected !== null && rows[selected]) rows[selected].setAttribute("aria-selected", "false");
      rows[index].setAttribute("aria-selected", "true");
      if (selected !== null && shapes[selected]) shapes[selected].setStyle(problemStyle(problems[selected], selected));
      selected = index;
      const layer = shapes[index] || (problem.code && regionLayers[problem.code]);
      if (shapes[index]) {
        shapes[index].setStyle({ color: SELECTED, weight: 5 });
        shapes[index].bringToFront();
      }
      if (zoom && layer) {
        const bounds = layer.getBounds ? layer.getBounds() : L.latLngBounds([layer.getLatLng()]);
        if (bounds.isValid()) map.fitBounds(bounds.pad(0.5), { maxZoom: 18 });
      } else if (!zoom) {
        rows[index].scrollIntoView({ block: "nearest" });
      }
      if (onSelect) onSelect(problem, index);
    }

    if (fit) {
      const bounds = group.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16] });
    }
    return {
      rows,
      problems,
      shapes,
      group,
      select,
      clear() {
        map.removeLayer(group);
        key.remove();
        container.replaceChildren();
      },
    };
  }

  /** The review features of upload `id`: its regions, those it removes, the stored ones around. */
  function features(id) {
    return gm.api(`/api/v1/uploads/${encodeURIComponent(id)}/features`);
  }

  window.gm.report = { render, features, CHANGES, SEVERITY };
})();
