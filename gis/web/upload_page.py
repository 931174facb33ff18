"""The review page of an upload: the file's regions as they would be stored, coloured by what
the upload does to each, the regions it removes and its validation problems, over the stored
regions around them (``gis.web.page`` gives the frame, ``gis.web.styles`` the colours)."""

from __future__ import annotations

from typing import Any

import folium
import shapely
from shapely.geometry import shape
from sqlalchemy import Connection

from gis.ingest.history import get_upload
from gis.settings import Settings
from gis.store.versions import current_version
from gis.web.elements import Legend, Popup, Tooltip
from gis.web.page import MapOptions, Shift, base, collection, controls, fixed_style, title
from gis.web.page_data import stored_around
from gis.web.styles import CHANGES, CONTEXT_COLOUR, PROBLEM_COLOURS

PROBLEM_KINDS = {
    "overlap": "重叠",
    "gap": "缝隙",
    "outside_parent": "超出上级",
    "region_moved": "区域位移",
    "child_outside": "下级超出",
    "overlap_stored": "与现有区域重叠",
    "sliver_overlap_stored": "与现有区域细小重叠",
    "child_outside_sliver": "下级细小超出",
    "children_gap": "下级未覆盖",
    "level_conflict": "层级冲突",
    "crs_suggestion": "坐标系建议",
    "area_changed": "面积变化",
    "sliver_overlap": "细小重叠",
    "sliver_gap": "细小缝隙",
    "sliver_polygon": "狭长碎片",
    "invalid_geometry": "几何无效",
    "make_valid": "几何已修复",
    "empty_geometry": "没有几何",
    "wrong_geometry_type": "几何类型不符",
    "missing_code": "缺少编码",
    "missing_name": "缺少名称",
    "code_format": "编码格式",
    "duplicate_code": "编码重复",
    "invalid_value": "取值无效",
    "unknown_field": "未知字段",
    "missing_parent": "上级不存在",
    "parent_level_mismatch": "上级层级不符",
    "parent_mismatch": "上级不符",
    "would_orphan_children": "下级将无上级",
}
"""Problem kinds as the review page names them (an unknown kind shows as itself)."""
UPLOAD_STATUS = {
    "dry_run": "试运行",
    "committed": "已提交",
    "unchanged": "无变化",
    "rejected": "未通过",
}
"""An upload's status as the review page names it."""


def _problem_shape(problem: dict[str, Any]) -> Any:
    if problem.get("geometry"):
        return shape(problem["geometry"])
    return shapely.Point(problem["location"]) if problem.get("location") else None


def upload_map(
    conn: Connection, settings: Settings, upload_id: int, options: MapOptions
) -> folium.Map:
    """An upload for review: the file's regions as they would be stored, coloured by what the
    upload does to each (added, modified, unchanged), the regions it removes, and its
    validation problems, over the stored regions of its level around them as they stood
    before it — a shifted file shows at a glance.  An upload with nothing to draw gets a page
    saying so."""
    upload = get_upload(conn, upload_id)
    report = upload["report"]
    version = upload["version"] - 1 if upload["version"] else current_version(conn)
    drawn = [f for f in (upload.get("features") or {"features": []})["features"] if f["geometry"]]
    problems = [(p, g) for p in report.get("problems", []) if (g := _problem_shape(p))]
    removed_codes = ((report.get("summary") or {}).get("changes") or {}).get("removed", [])
    mine = [*(shape(f["geometry"]) for f in drawn), *(g for _, g in problems)]
    context, removed = stored_around(conn, version, upload.get("level"), mine, removed_codes)
    shift = Shift(options.basemap)
    focus = shift([*mine, *(shape(f["geometry"]) for f in removed)])
    shown = focus if len(focus) else shift([shape(f["geometry"]) for f in context])
    heading = f"上传 {upload_id}（{upload['filename']}）"
    status = UPLOAD_STATUS.get(upload["status"], upload["status"])
    if not len(shown):
        m = base(options, settings, (35.0, 105.0), zoom=4)
        Legend(heading, [], note=f"{status}：没有可在地图上显示的要素或问题").add_to(m)
        title(m, f"上传校验 · {upload['filename']}")
        return m
    x0, y0, x1, y1 = shapely.total_bounds(shown)
    m = base(options, settings, ((y0 + y1) / 2, (x0 + x1) / 2))
    m.fit_bounds([[y0, x0], [y1, x1]])
    rows: list[tuple[str, str]] = []
    if context:
        folium.GeoJson(
            collection(
                shift([shape(f["geometry"]) for f in context]),
                [{"name": f["properties"]["name"], "code": f["id"]} for f in context],
            ),
            name="现有区域",
            style_function=fixed_style(
                color=CONTEXT_COLOUR, weight=1, fill=False, className="gm-context"
            ),
            tooltip=Tooltip(["name", "code"], aliases=["名称", "编码"]),
        ).add_to(m)
        rows.append(("现有区域", CONTEXT_COLOUR))
    if removed:
        name, colour = CHANGES["removed"]
        folium.GeoJson(
            collection(
                shift([shape(f["geometry"]) for f in removed]),
                [{"name": f["properties"]["name"], "code": f["id"]} for f in removed],
            ),
            name=f"将删除的区域（{len(removed)}）",
            style_function=fixed_style(
                color=colour,
                weight=2,
                dashArray="6 4",
                fillColor=colour,
                fillOpacity=0.15,
                className="gm-removed",
            ),
            tooltip=Tooltip(["name", "code"], aliases=["删除", "编码"]),
        ).add_to(m)
        rows.append((name, colour))
    if drawn:
        _file_layer(m, drawn, shift(mine[: len(drawn)]))
        present = {f["properties"].get("change") or "unknown" for f in drawn}
        rows += [CHANGES[c] for c in CHANGES if c in present]
    if problems:
        _problem_layer(m, problems, shift([g for _, g in problems]))
        rows += [(f"校验问题：{name}", colour) for name, colour in PROBLEM_COLOURS.values()]
    controls(m, options, settings)
    summary = report.get("summary") or {}
    note = (
        f"{status} · {summary.get('features', len(drawn))} 个要素 · "
        f"{summary.get('errors', 0)} 个错误 · {summary.get('warnings', 0)} 个警告"
    )
    Legend(heading, rows, note=note).add_to(m)
    title(m, f"上传校验 · {upload['filename']}")
    return m


def _file_layer(m: folium.Map, drawn: list[dict[str, Any]], geoms: Any) -> None:
    """The file's regions, coloured by what the upload does to each."""
    props = []
    for f in drawn:
        p = f["properties"]
        change = p.get("change") or "unknown"
        props.append(
            {
                "feature": p.get("feature"),
                "code": p.get("code"),
                "name": p.get("name"),
                "change": change,
                "change_name": CHANGES[change].label,
            }
        )
    folium.GeoJson(
        collection(geoms, props),
        name=f"文件中的区域（{len(drawn)}）",
        style_function=lambda f: {
            "color": CHANGES[f["properties"]["change"]].colour,
            "weight": 2,
            "fillColor": CHANGES[f["properties"]["change"]].colour,
            "fillOpacity": 0.2,
            "className": f"gm-{f['properties']['change']}",
        },
        highlight_function=fixed_style(weight=4),
        popup=Popup(
            ["change_name", "code", "name", "feature"],
            aliases=["变化", "编码", "名称", "要素序号"],
        ),
        tooltip=Tooltip(["name", "change_name"], labels=False),
    ).add_to(m)


def _problem_layer(m: folium.Map, problems: list[tuple[dict[str, Any], Any]], geoms: Any) -> None:
    """Validation problems: errors red, warnings orange; kinds in Chinese."""
    props = [
        {
            "kind": PROBLEM_KINDS.get(p["kind"], p["kind"]),
            "severity": PROBLEM_COLOURS[p["severity"]].label,
            "code": p.get("code"),
            "feature": p.get("feature"),
            "message": p["message"],
            "colour": PROBLEM_COLOURS[p["severity"]].colour,
        }
        for p, _ in problems
    ]
    folium.GeoJson(
        collection(geoms, props),
        name="校验问题",
        marker=folium.CircleMarker(radius=6, fill=True, fill_opacity=0.9),
        style_function=lambda f: {
            "color": f["properties"]["colour"],
            "weight": 2,
            "fillOpacity": 0.5,
            "className": "gm-problem",
        },
        popup=Popup(
            ["severity", "kind", "code", "feature", "message"],
            aliases=["级别", "问题", "编码", "要素序号", "说明"],
        ),
    ).add_to(m)
