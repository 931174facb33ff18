"""Draft grids of a stored community: its outline, the stored roads and the registry's
buildings with households, divided (``gis.division.divide``), with codes that keep rosters.

A draft that mostly matches a current grid of the community — intersection over union at
least :data:`KEEP_IOU`, each old grid matched at most once, the best matches first — keeps
that grid's code and name, so its grid worker, party branch and roster stay with it; the
others get new codes after the community's highest (``<community code><3 digits>``) and the
name ``<community>第N网格``.  The answer is a GeoJSON FeatureCollection a clerk can upload as it
is (``code``, ``name``, ``parent_code``, ``households``, ``population``: the same validation,
commit and review map as any boundary upload) with the figures and a ``report``.

Population per building is estimated from the community's registered population per
household (its current grids'), as the coverage report does; unknown when they register none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, text

from gis.analysis.inputs import too_large
from gis.division.divide import Division, Targets, divide
from gis.errors import InvalidInput
from gis.geo.geodesy import LocalFrame
from gis.query.regions import require_region
from gis.settings import Settings
from gis.store.versions import current, current_version

KEEP_IOU = 0.5
"""A draft keeps an old grid's code when they overlap at least this much (IoU)."""


def _community(conn: Connection, code: str) -> tuple[Any, str, float | None]:
    row = conn.execute(
        text(
            f"SELECT level, name, ST_AsBinary(geom) FROM regions r WHERE code = :c AND {current()}"
        ),
        {"c": code},
    ).one()
    if row[0] != "community":
        raise InvalidInput(
            f"只能按社区划分网格：{code} 是 {row[0]} (grids are drawn one community at a time: "
            f"{code} is a {row[0]})",
            code="not_a_community",
            details={"region": code, "level": row[0]},
        )
    ratio = conn.execute(
        text(
            "SELECT sum(population)::float8 / nullif(sum(households), 0) FROM regions r "
            f"WHERE parent_code = :c AND level = 'grid' AND {current()} "
            "AND population IS NOT NULL AND households IS NOT NULL"
        ),
        {"c": code},
    ).scalar()
    return shapely.from_wkb(row[2]), row[1], ratio


def _inputs(
    conn: Connection, region: Any, barriers: str, settings: Settings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The roads, rivers and railways (when they are the barriers) and the buildings with
    households inside."""
    wkb = shapely.to_wkb(region)
    roads = []
    if barriers == "roads":
        roads = conn.scalars(
            text(
                "SELECT ST_AsBinary(geom) FROM roads "
                "WHERE ST_Intersects(geom, ST_GeomFromWKB(:r, 4326))"
            ),
            {"r": wkb},
        ).all()
    rows = conn.execute(
        text(
            "SELECT code, households, ST_AsBinary(geom) FROM addresses "
            "WHERE households > 0 AND ST_Covers(ST_GeomFromWKB(:r, 4326), geom) "
            "ORDER BY code LIMIT :cap"
        ),
        {"r": wkb, "cap": settings.analysis_max_buildings + 1},
    ).all()
    if len(rows) > settings.analysis_max_buildings:
        limit = settings.analysis_max_buildings
        raise too_large("建筑", "buildings", len(rows), limit, "analysis_max_buildings", False)
    codes = np.array([r[0] for r in rows], dtype=object)
    households = np.array([r[1] for r in rows], float)
    points = shapely.from_wkb([r[2] for r in rows]) if rows else np.empty(0, dtype=object)
    return (
        shapely.from_wkb(roads) if roads else np.empty(0, dtype=object),
        points,
        households,
        codes,
    )


def _old_grids(conn: Connection, code: str) -> list[tuple[str, str, Any]]:
    rows = conn.execute(
        text(
            "SELECT code, name, ST_AsBinary(geom) FROM regions r "
            f"WHERE parent_code = :c AND level = 'grid' AND {current()} ORDER BY code"
        ),
        {"c": code},
    ).all()
    return [(c, n, shapely.from_wkb(g)) for c, n, g in rows]


def keep_codes(
    drafts: np.ndarray, old: list[tuple[str, str, Any]], frame: LocalFrame
) -> list[tuple[str, float] | None]:
    """Per draft the old grid code it keeps and their IoU (None: a new grid)."""
    if not old or not len(drafts):
        return [None] * len(drafts)
    mine = frame.geometries(drafts)
    theirs = frame.geometries(np.array([g for _, _, g in old], dtype=object))
    d, o = shapely.STRtree(theirs).query(mine, predicate="intersects")
    inter = shapely.area(shapely.intersection(mine[d], theirs[o]))
    union = shapely.area(mine[d]) + shapely.area(theirs[o]) - inter
    iou = np.divide(inter, union, out=np.zeros(len(d)), where=union > 0)
    kept: list[tuple[str, float] | None] = [None] * len(drafts)
    taken: set[int] = set()
    for k in np.argsort(-iou, kind="stable"):
        if iou[k] < KEEP_IOU:
            break
        if kept[d[k]] is None and o[k] not in taken:
            kept[d[k]] = (old[o[k]][0], round(float(iou[k]), 4))
            taken.add(int(o[k]))
    return kept


def _features(
    division: Division,
    code: str,
    name: str,
    kept: list[tuple[str, float] | None],
    old: list[tuple[str, str, Any]],
) -> list[dict[str, Any]]:
    names = {c: n for c, n, _ in old}
    used = [int(c[-3:]) for c, _, _ in old if c[-3:].isdigit()]
    following = max(used, default=0)
    features = []
    for g, grid in enumerate(division.grids):
        figures = dict(division.figures[g])
        if kept[g] is not None:
            grid_code, iou = kept[g]
            grid_name = names[grid_code]
        else:
            following += 1
            grid_code, iou = f"{code}{following:03d}", None
            grid_name = f"{name}第{following}网格"
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": grid_code,
                    "name": grid_name,
                    "parent_code": code,
                    "level": "grid",
                    **figures,
                    "kept_code_iou": iou,
                },
                "geometry": shapely.geometry.mapping(grid),
            }
        )
    return features


def draft_division(
    conn: Connection,
    code: str,
    targets: Targets,
    settings: Settings,
    *,
    barriers: str = "roads",
    keep: bool = True,
) -> dict[str, Any]:
    """Draft grids of community ``code`` (see the module docstring)."""
    version = current_version(conn)
    require_region(conn, code, version)
    region, name, per_household = _community(conn, code)
    roads, points, households, codes = _inputs(conn, region, barriers, settings)
    population = households * (per_household or 0.0)
    division = divide(region, roads, points, households, population, targets)
    old = _old_grids(conn, code) if keep else []
    frame = LocalFrame.around(*shapely.get_coordinates(region).T)
    kept = keep_codes(division.grids, old, frame)
    features = _features(division, code, name, kept, old)
    if per_household is None:
        for f in features:
            f["properties"]["population"] = None
    report = {
        **division.summary,
        "region": code,
        "version": version,
        "barriers": barriers,
        "roads": len(roads),
        "population_per_household": per_household,
        "kept_codes": sum(k is not None for k in kept),
        "building_grids": {
            str(codes[b]): f["properties"]["code"]
            for f, members in zip(features, division.buildings, strict=True)
            for b in members
        },
        "out_of_range": [
            {"code": features[g]["properties"]["code"], **division.figures[g]["out_of_range"]}
            for g in division.summary["out_of_range"]
        ],
    }
    return {"type": "FeatureCollection", "crs": "EPSG:4326", "features": features, "report": report}
