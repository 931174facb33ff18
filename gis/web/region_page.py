"""The map of a region for planners: its hierarchy (county → street → community → grid,
outlines styled by level, names by zoom), the grids coloured by households against the
standard band or by the share of households a centre reaches, the centres with their service
areas (geodesic circles) coloured by level, the cameras with their fields of view, and the
blind spots; popups, a legend, grid search and the address box (``gis.web.page`` gives the
frame, ``gis.web.styles`` the colours)."""

from __future__ import annotations

from typing import Any

import folium
import numpy as np
import shapely
from folium import plugins
from shapely.geometry import shape
from sqlalchemy import Connection

from gis.access.privacy import redact
from gis.analysis import report as analysis
from gis.errors import InvalidInput
from gis.geo.geodesy import circle_polygons
from gis.network.coverage import walking_areas
from gis.network.walk import has_network
from gis.query.regions import require_region, subtree
from gis.settings import Settings
from gis.store.versions import current_version
from gis.web.elements import (
    Cameras,
    CopyGrids,
    Labels,
    Legend,
    LookupBox,
    Popup,
    SearchPopup,
    Tooltip,
)
from gis.web.page import MapOptions, Shift, base, collection, controls, fixed_style, title
from gis.web.page_data import (
    INLINE_MAX_REGIONS,
    SIMPLIFY_M,
    cameras_near,
    fits_inline,
    roads_in,
    roots,
    surroundings,
)
from gis.web.styles import (
    BLIND_COLOUR,
    CAMERA_COLOURS,
    CENTRE_STYLES,
    COVERAGE_CLASSES,
    FOCUS,
    GRID,
    GRID_HOVER,
    HIGHLIGHT,
    HOUSEHOLD_CLASSES,
    LEVEL_NAMES,
    NEIGHBOUR,
    OUTLINES,
    ROAD,
    coverage_colour,
    household_class,
)


def region_map(
    conn: Connection, settings: Settings, region: str | None, options: MapOptions
) -> folium.Map:
    """The map of a region and everything below it, opened on the region (or, with None, of
    every top-level region, opened on all of them).  A region with nothing below it (a town
    without communities, a grid, a newly uploaded county) is shown with its parent and its
    neighbours, so the page says where it is."""
    tops = page_tops(conn, region)
    features = redact(subtree(conn, tops, simplify_m=SIMPLIFY_M), options.role)
    if not features:
        raise InvalidInput("没有可显示的区域 (there are no regions to show)", code="empty_map")
    around = surroundings(conn, region) if region is not None and len(features) == 1 else []
    shift = Shift(options.basemap)
    geoms = shift([shape(f["geometry"]) for f in features])
    grid_i = [i for i, f in enumerate(features) if f["properties"]["level"] == "grid"]
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    m = base(options, settings, ((y0 + y1) / 2, (x0 + x1) / 2))
    m.fit_bounds([[y0, x0], [y1, x1]], padding=(80, 80) if around else None)

    reports = [analysis.coverage(conn, code, "centres", settings) for code in tops]
    per_grid = {g["code"]: g for r in reports for g in r["grids"]}
    names = {f["id"]: f["properties"]["name"] for f in [*features, *around]}
    if around:
        _surrounding_layers(m, features[0], around, shift)

    for level in ("county", "street", "community"):
        picked = [i for i, f in enumerate(features) if f["properties"]["level"] == level]
        if not picked:
            continue
        props = [{"code": features[i]["id"], "name": names[features[i]["id"]]} for i in picked]
        style = OUTLINES[level] | (FOCUS if around else {})
        folium.GeoJson(
            collection(geoms[picked], props),
            name=LEVEL_NAMES[level],
            style_function=fixed_style(**style, className=f"gm-{level}"),
            tooltip=Tooltip(["name", "code"], aliases=["名称", "编码"]),
        ).add_to(m)
    labelled = [*features, *(f for f in around if f["properties"]["level"] != "grid")]
    Labels(labelled, shift([shape(f["geometry"]) for f in labelled])).add_to(m)

    grids = _grid_layer(features, grid_i, geoms, names, per_grid, settings, options)
    if grids is not None:
        grids.add_to(m)
        plugins.Search(
            layer=grids,
            search_label="label",
            placeholder="搜索网格名称或编码",
            collapsed=False,
            search_zoom=16,
            color=HIGHLIGHT,
            weight=5,
        ).add_to(m)
        SearchPopup(grids).add_to(m)
        _blind_spots(m, reports, grids, shift)
    walks = _walking_areas(conn, tops, settings) if has_network(conn) else None
    area = [shape(f["geometry"]) for f in features]
    roads = _roads(conn, m, area, shift)
    _centres(m, reports, shift, walks)
    _cameras(conn, m, area, shift)

    controls(m, options, settings)
    LookupBox(grids, options.api_base, options.point_url).add_to(m)
    _legend(m, settings, options, bool(around), walking=walks is not None, roads=roads)
    title_name = names.get(tops[0], "") if len(tops) == 1 else "全部区域"
    title(m, f"网格地图 · {title_name}")
    return m


def page_tops(conn: Connection, region: str | None) -> list[str]:
    """The regions a page is of: ``region`` (404 ``region_not_found`` unless current), or
    with None every top-level region."""
    if region is None:
        return roots(conn)
    require_region(conn, region, current_version(conn))
    return [region]


def refuse_large_export(conn: Connection, region: str | None) -> None:
    """An exported page inlines everything: above ``INLINE_MAX_REGIONS`` it would not open
    in 2 s, so ``gridmap map export`` refuses (422 ``map_too_large``) and says what serves
    such a region instead — the served page (vector tiles) or a PMTiles file."""
    tops = page_tops(conn, region)
    if not fits_inline(conn, tops):
        where = region or "全部区域"
        raise InvalidInput(
            f"区域 {where} 超过 {INLINE_MAX_REGIONS} 个区域，单文件地图打不开：请用服务器上的 "
            f"/maps/region/<编码>（矢量瓦片）或 gridmap tiles export --region <编码> 导出 PMTiles "
            f"(more than {INLINE_MAX_REGIONS} regions do not fit one offline page: open the "
            "served map, drawn from vector tiles, or export PMTiles with gridmap tiles export)",
            code="map_too_large",
            details={"region": region, "limit": INLINE_MAX_REGIONS},
        )


NO_BUILDINGS = "无建筑（无从计算覆盖率）"


def _legend(
    m: folium.Map,
    settings: Settings,
    options: MapOptions,
    neighbours: bool,
    *,
    walking: bool,
    roads: bool,
) -> None:
    """The grid classes of the page's colouring, the centre levels, cameras, blind spots, the
    roads (when drawn) and (on a page with nothing below its region) the neighbours; a note on
    how the service areas are drawn (``walking``: along the roads)."""
    if options.colour_by == "households":
        band = f"{settings.grid_households_min}–{settings.grid_households_max} 户"
        rows: list[tuple[str, str]] = [*HOUSEHOLD_CLASSES.values()]
        heading = f"网格户数（标准 {band}）"
    else:
        rows = [swatch for _, swatch in COVERAGE_CLASSES]
        rows += [(NO_BUILDINGS, HOUSEHOLD_CLASSES["unknown"].colour)]
        heading = "党群服务覆盖率"
    rows += [*CENTRE_STYLES.values()]
    rows += [
        ("摄像机（在线）", CAMERA_COLOURS["online"]),
        ("摄像机（离线）", CAMERA_COLOURS["offline"]),
    ]
    rows += [("服务盲区", BLIND_COLOUR)]
    if roads:
        rows += [("道路", ROAD["color"])]
    if neighbours:
        rows += [("相邻区域", NEIGHBOUR["color"])]
    note = WALKING_NOTE if walking else RADIUS_NOTE
    Legend(heading, rows, note).add_to(m)


WALKING_NOTE = "服务范围：沿道路步行可达（步行生活圈，按服务距离；服务距离内无道路的中心无范围）"
RADIUS_NOTE = "服务范围：直线服务半径（未上传道路，无法按步行计算）"


def _roads(conn: Connection, m: folium.Map, area: list[Any], shift: Shift) -> bool:
    """Draw the roads of the page's area, thin and grey, under the service areas walked along
    them (none inline past ``MAX_INLINE_ROADS``); whether any were drawn."""
    lines = roads_in(conn, area)
    if not lines:
        return False
    geoms = shift(shapely.from_wkb(lines))
    folium.GeoJson(
        collection(geoms, [{} for _ in lines]),
        name="道路",
        style_function=fixed_style(**ROAD, className="gm-road"),
        interactive=False,
    ).add_to(m)
    return True


def _walking_areas(conn: Connection, tops: list[str], settings: Settings) -> dict[Any, Any]:
    """Each centre's service area by walking (``gis.network``), by centre id."""
    return {
        f["id"]: f["geometry"]
        for top in tops
        for f in walking_areas(conn, top, settings)["features"]
    }


def _surrounding_layers(
    m: folium.Map, region: dict[str, Any], around: list[dict[str, Any]], shift: Shift
) -> None:
    """The parent's outline and the neighbours of a region that has nothing below it."""
    level = region["properties"]["level"]
    for name, picked, style in (
        ("上级区域", [f for f in around if f["properties"]["level"] != level], "gm-parent"),
        ("相邻区域", [f for f in around if f["properties"]["level"] == level], "gm-neighbour"),
    ):
        if not picked:
            continue
        fixed = (
            OUTLINES[picked[0]["properties"]["level"]]
            if style == "gm-parent"
            else NEIGHBOUR | {"fillOpacity": 0.15}
        )
        folium.GeoJson(
            collection(
                shift([shape(f["geometry"]) for f in picked]),
                [{"code": f["id"], "name": f["properties"]["name"]} for f in picked],
            ),
            name=name,
            style_function=fixed_style(**fixed, className=style),
            tooltip=Tooltip(["name", "code"], aliases=["名称", "编码"]),
        ).add_to(m)


def _grid_layer(
    features: list[dict[str, Any]],
    grid_i: list[int],
    geoms: Any,
    names: dict[str, str],
    per_grid: dict[str, dict[str, Any]],
    settings: Settings,
    options: MapOptions,
) -> folium.GeoJson | None:
    """The grids, coloured by households or coverage, with popups; None without grids."""
    if not grid_i:
        return None
    grid_props = []
    for i in grid_i:
        p = features[i]["properties"]
        pct = per_grid.get(p["code"], {}).get("covered_households_pct")
        props = {
            "code": p["code"],
            "name": p["name"],
            "label": f"{p['name']} {p['code']}",
            "community": names.get(p["parent_code"]),
            "grid_worker": p["grid_worker"],
            "party_branch": p["party_branch"],
            "households": p["households"],
            "coverage_pct": pct,
            "coverage": "无建筑" if pct is None else f"{pct:g} %",
            "area_m2": round(p["area_m2"]),
            "band": household_class(p["households"], settings),
        }
        fill = (
            HOUSEHOLD_CLASSES[props["band"]].colour
            if options.colour_by == "households"
            else coverage_colour(pct)
        )
        # the search restores every grid's style from ``style`` before outlining its hit
        props["style"] = GRID | {"fillColor": fill, "className": "gm-grid"}
        grid_props.append(props)
    return folium.GeoJson(
        collection(geoms[grid_i], grid_props),
        name="网格",
        style_function=lambda feature: feature["properties"]["style"],
        highlight_function=fixed_style(**GRID_HOVER),
        popup=Popup(
            ["name", "code", "community", "grid_worker", "party_branch", "households", "coverage"],
            aliases=["网格", "编码", "社区", "网格员", "党支部", "户数", "服务覆盖率"],
        ),
        tooltip=Tooltip(["name"], labels=False),
    )


BLIND_SIMPLIFY_DEG = 1e-5
"""Blind-spot outlines are simplified by ~1 m: they are read at street zooms."""


def _blind_spots(
    m: folium.Map,
    reports: list[dict[str, Any]],
    grids: folium.GeoJson,
    shift: Shift,
) -> None:
    area = {g["code"]: g["area_km2"] * 1e6 for r in reports for g in r["grids"]}
    spots = [s for r in reports for s in r["blind_spots"]]
    whole = [s for s in spots if s["area_m2"] >= 0.999 * area.get(s["grid_code"], np.inf)]
    part = [s for s in spots if s not in whole]
    if not spots:
        return
    outlines = shapely.simplify(
        shift([shape(s["geometry"]) for s in part]), BLIND_SIMPLIFY_DEG, preserve_topology=True
    )
    layer = folium.GeoJson(
        collection(
            outlines, [{"grid_code": s["grid_code"], "area_m2": s["area_m2"]} for s in part]
        ),
        name="服务盲区",
        style_function=fixed_style(
            color=BLIND_COLOUR,
            weight=0.5,
            fillColor=BLIND_COLOUR,
            fillOpacity=0.25,
            className="gm-blind",
        ),
        tooltip=Tooltip(["grid_code", "area_m2"], aliases=["网格", "盲区面积 m²"]),
        show=False,
    )
    layer.add_to(m)
    CopyGrids(grids, layer, [s["grid_code"] for s in whole]).add_to(m)


def _centres(
    m: folium.Map,
    reports: list[dict[str, Any]],
    shift: Shift,
    walks: dict[Any, Any] | None,
) -> None:
    """The centres and their service areas: ``walks`` (by centre id; None: no road network,
    geodesic circles of their radius instead)."""
    centres = list({c["id"]: c for r in reports for c in r["facilities"]}.values())
    if not centres:
        return
    lon = np.array([c["lon"] for c in centres])
    lat = np.array([c["lat"] for c in centres])
    radius = np.array([c["radius_m"] for c in centres])
    props = [
        {
            "name": c["name"],
            "level": c["level"],
            "level_name": CENTRE_STYLES[c["level"]].label,
            "radius_m": c["radius_m"],
            "households": c["households"],
        }
        for c in centres
    ]
    if walks is None:
        areas, area_props = circle_polygons(lon, lat, radius, vertices=72), props
    else:
        drawn = [i for i, c in enumerate(centres) if walks.get(c["id"])]
        areas = np.array([shape(walks[centres[i]["id"]]) for i in drawn], dtype=object)
        area_props = [props[i] for i in drawn]
    folium.GeoJson(
        collection(shift(areas), area_props),
        name="服务范围（步行）" if walks is not None else "服务范围",
        interactive=False,
        style_function=lambda f: {
            "color": CENTRE_STYLES[f["properties"]["level"]].colour,
            "weight": 1,
            "fillOpacity": 0.08,
            "className": "gm-reach",
        },
    ).add_to(m)
    folium.GeoJson(
        collection(shift(shapely.points(lon, lat)), props),
        name="党群服务中心",
        marker=folium.CircleMarker(radius=7, fill=True, fill_opacity=0.9),
        style_function=lambda f: {
            "color": "#000000",
            "weight": 1,
            "fillColor": CENTRE_STYLES[f["properties"]["level"]].colour,
            "className": "gm-centre",
        },
        popup=Popup(
            ["name", "level_name", "radius_m", "households"],
            aliases=["名称", "级别", "服务半径 m", "覆盖户数"],
        ),
    ).add_to(m)


def _cameras(conn: Connection, m: folium.Map, area: Any, shift: Shift) -> None:
    """The cameras that can see into ``area``, drawn in the browser (``Cameras``)."""
    rows = cameras_near(conn, area)
    if not rows:
        return
    xy = shapely.get_coordinates(
        shift(shapely.points([r.lon for r in rows], [r.lat for r in rows]))
    )
    sectors = folium.FeatureGroup(name="摄像机视场").add_to(m)
    points = folium.FeatureGroup(name="摄像机").add_to(m)
    compact = [
        [round(x, 6), round(y, 6), int(r.status == "online"), r.azimuth_deg, r.fov_deg,
         r.range_m, r.device_id, r.name]
        for r, (x, y) in zip(rows, xy.tolist(), strict=True)
    ]  # fmt: skip
    Cameras(compact, points, sectors).add_to(m)
