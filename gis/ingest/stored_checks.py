"""Validation against what is stored: an upload must fit the hierarchy it joins.

The file's own checks (``gis.ingest.validation``) see only the file and its parents.  These see the
stored neighbourhood of the change, read with index queries (same codes, regions whose
bounding boxes meet the file's features, children of replaced regions), so the work grows
with the upload, not with the database:

- ``level_conflict`` (error): a code that is stored at another level;
- ``overlap_stored`` (error; ``sliver_overlap_stored`` warning at or below the overlap
  tolerance or narrower than the sliver width everywhere): a feature overlaps a stored region
  of its level that the upload neither replaces nor removes — a neighbouring county, a grid of
  the next community;
- ``child_outside`` (error): a stored child of a replaced region would lie outside the new
  polygon by more than the outside tolerance — one problem per child, with its area outside;
  slivers (as above) of all children make one ``child_outside_sliver`` warning.  Slivers are
  what the same line digitised with other vertices leaves (a county re-uploaded without the
  vertices its streets added);
  ``children_gap`` (warning): the new polygon has parts no stored child covers (upload the
  children next);
- ``region_moved`` (error, a warning with ``allow_moves``): the new polygon of a stored region
  is elsewhere — IoU with the stored one below :data:`MOVED_IOU`, centroid moved more than
  max(:data:`MOVED_MIN_M`, :data:`MOVED_SHARE` of the region's size), or the whole polygon
  shifted: moved back by its centroid's offset (at least :data:`SHIFT_MIN_M`) it matches the
  stored one far better — the signature of a wrong CRS, not of an edit (its geometry is
  what lies in only one of the two: the band a shift leaves on the map);
- ``area_changed`` (warning): the area changed by more than :data:`AREA_CHANGE`.
Overlaps and parts outside that are noise — tiny, or storage precision — are no problem
(``gis.ingest.topology.substantial``).
Areas are in m² in the validation frame (``gis.geo.geodesy.EqualAreaFrame``), distances on
the WGS84 ellipsoid (``gis.geo.geodesy.GEOD``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from gis.geo.geodesy import GEOD, EqualAreaFrame
from gis.ingest.candidates import Candidate, Tolerances, geometries, problem
from gis.ingest.problems import Problem
from gis.ingest.topology import GRID_DEG, polygonal, substantial
from gis.store.arrays import Floats, Texts
from gis.store.versions import current

MOVED_IOU = 0.5
MOVED_MIN_M = 1000.0
MOVED_SHARE = 0.1
SHIFT_MIN_M = 30.0
SHIFT_GAIN = 0.01
AREA_CHANGE = 0.2

FIT_KINDS = ("region_moved", "overlap_stored", "child_outside", "outside_parent")
"""Errors that say the file does not fit what is stored: the CRS doctor is asked then."""


@dataclass
class StoredRegion:
    """A current region as stored."""

    code: str
    level: str
    name: str
    parent_code: str | None
    geometry: BaseGeometry


@dataclass
class StoredFindings:
    """Problems found against the stored hierarchy, and what the CRS doctor compares with."""

    problems: list[Problem] = field(default_factory=list)
    same: dict[int, BaseGeometry] = field(default_factory=dict)
    """Stored geometry of each feature's code (feature index, 0-based)."""
    moved: list[str] = field(default_factory=list)
    """Codes of regions that moved (allowed, with ``allow_moves``)."""


def _regions(conn: Connection, sql: str, params: dict[str, Any]) -> list[StoredRegion]:
    rows = conn.execute(text(sql), params).all()
    return [
        StoredRegion(code, level, name, parent, shapely.from_wkb(bytes(wkb)))
        for code, level, name, parent, wkb in rows
    ]


_SELECT = "SELECT code, level, name, parent_code, ST_AsBinary(geom) FROM regions r"


def stored_regions(conn: Connection, codes: Iterable[str]) -> dict[str, StoredRegion]:
    """The current regions with these codes, by code."""
    found = _regions(
        conn, f"{_SELECT} WHERE {current()} AND code = ANY(:codes)", {"codes": Texts(codes)}
    )
    return {r.code: r for r in found}


def _neighbours(
    conn: Connection, level: str, boxes: np.ndarray, skip: list[str]
) -> list[StoredRegion]:
    """Stored regions of ``level`` whose bounding box meets one of ``boxes``, except ``skip``:
    one GiST index probe per box."""
    return _regions(
        conn,
        "SELECT DISTINCT ON (r.code) r.code, r.level, r.name, r.parent_code, "
        "ST_AsBinary(r.geom) FROM unnest(CAST(:x0 AS float8[]), CAST(:y0 AS float8[]), "
        "CAST(:x1 AS float8[]), CAST(:y1 AS float8[])) AS b(x0, y0, x1, y1) "
        "JOIN regions r ON r.geom && ST_MakeEnvelope(b.x0, b.y0, b.x1, b.y1, 4326) "
        f"WHERE {current()} AND r.level = :level AND NOT (r.code = ANY(:skip)) "
        "ORDER BY r.code",
        {
            "level": level,
            "skip": Texts(skip),
            "x0": Floats(boxes[:, 0]),
            "y0": Floats(boxes[:, 1]),
            "x1": Floats(boxes[:, 2]),
            "y1": Floats(boxes[:, 3]),
        },
    )


def _family_boxes(candidates: list[Candidate], shapes: np.ndarray) -> np.ndarray:
    """The bounding box of each family (the candidates of one parent; ``shapes`` their
    geometries as an array): what the neighbour query probes — a few boxes instead of one
    per feature (sending 1 000 000 boxes cost more than the probes).  The stored regions
    they meet are a superset of those meeting a feature's box; the overlap test finds the
    ones that matter."""
    boxes = shapely.bounds(shapes)
    numbers: dict[str, int] = {}  # each parent's family, numbered as first met
    family = np.fromiter(
        (numbers.setdefault(c.parent_code or "", len(numbers)) for c in candidates),
        np.int64,
        len(candidates),
    )
    merged = np.full((family.max() + 1, 4), [np.inf, np.inf, -np.inf, -np.inf])
    np.minimum.at(merged[:, 0], family, boxes[:, 0])
    np.minimum.at(merged[:, 1], family, boxes[:, 1])
    np.maximum.at(merged[:, 2], family, boxes[:, 2])
    np.maximum.at(merged[:, 3], family, boxes[:, 3])
    return merged


def _children(conn: Connection, parents: list[str]) -> list[StoredRegion]:
    return _regions(
        conn,
        f"{_SELECT} WHERE {current()} AND parent_code = ANY(:parents) ORDER BY code",
        {"parents": parents},
    )


def _overlaps(
    candidates: list[Candidate],
    geoms: np.ndarray,
    stored: list[StoredRegion],
    frame: EqualAreaFrame,
    tol: Tolerances,
    found: StoredFindings,
) -> None:
    if not stored:
        return
    others = np.array([s.geometry for s in stored], dtype=object)
    mine, theirs = shapely.STRtree(others).query(geoms, predicate="intersects")
    areal = shapely.relate_pattern(geoms[mine], others[theirs], "2********")
    for i, j in zip(mine[areal].tolist(), theirs[areal].tolist(), strict=True):
        c, other = candidates[i], stored[j]
        pieces, areas = substantial(
            shapely.intersection(c.geometry, other.geometry, grid_size=GRID_DEG), frame
        )
        if not len(pieces):
            continue
        overlap, area = MultiPolygon(pieces.tolist()), float(areas.sum())
        error = area > tol.overlap_m2 and not frame.thin(overlap, tol.sliver_width_m)
        found.problems.append(
            problem(
                "overlap_stored" if error else "sliver_overlap_stored",
                "error" if error else "warning",
                c,
                f"{c.code} 与现有区域 {other.code} {other.name} 重叠 {_m2(area)} m² "
                f"({c.code} overlaps the stored region {other.code} by {_m2(area)} m²)",
                geometry=overlap,
                area_m2=area,
                other_code=other.code,
                other_name=other.name,
            )
        )


def _m2(area: float) -> str:
    """An area for a message: whole m², or two decimals below 100 m²."""
    return f"{area:,.0f}" if area >= 100 else f"{area:.2f}"


def _children_fit(
    c: Candidate,
    children: list[StoredRegion],
    frame: EqualAreaFrame,
    tol: Tolerances,
    found: StoredFindings,
) -> None:
    """Stored children of a replaced region must stay inside its new polygon (slivers of all
    children together make one warning), and should cover it."""
    slivers: list[tuple[StoredRegion, BaseGeometry, float]] = []
    for child in children:
        pieces, areas = substantial(
            shapely.difference(child.geometry, c.geometry, grid_size=GRID_DEG), frame
        )
        if not len(pieces):
            continue
        outside, area = MultiPolygon(pieces.tolist()), float(areas.sum())
        if area <= tol.outside_m2 or frame.thin(outside, tol.sliver_width_m):
            slivers.append((child, outside, area))
            continue
        share = area / frame.area(child.geometry)
        found.problems.append(
            problem(
                "child_outside",
                "error",
                c,
                f"现有下级区域 {child.code} {child.name} 有 {_m2(area)} m²（{share:.2%}）"
                f"将落在 {c.code} 的新边界之外 (the stored child {child.code} would lie "
                f"{_m2(area)} m², {share:.2%}, outside the new boundary of {c.code})",
                geometry=outside,
                area_m2=area,
                child_code=child.code,
                child_name=child.name,
                share=round(share, 6),
            )
        )
    if slivers:
        area = sum(a for _, _, a in slivers)
        found.problems.append(
            problem(
                "child_outside_sliver",
                "warning",
                c,
                f"{len(slivers)} 个现有下级区域有窄于 {tol.sliver_width_m} m 的碎片"
                f"（共 {_m2(area)} m²）落在 {c.code} 的新边界之外 "
                f"({len(slivers)} stored children have slivers narrower than "
                f"{tol.sliver_width_m} m, {_m2(area)} m² in all, outside the new boundary)",
                geometry=shapely.union_all([g for _, g, _ in slivers]),
                area_m2=area,
                child_codes=[child.code for child, _, _ in slivers],
                sliver=True,
            )
        )
    covered = shapely.union_all([child.geometry for child in children], grid_size=GRID_DEG)
    gaps = polygonal(shapely.difference(c.geometry, covered, grid_size=GRID_DEG))
    area = frame.area(gaps)
    if area > tol.gap_m2 and not frame.thin(gaps, tol.sliver_width_m):
        found.problems.append(
            problem(
                "children_gap",
                "warning",
                c,
                f"{c.code} 的新边界内有 {_m2(area)} m² 不属于任何现有下级区域，请随后上传更新的"
                f"下级边界 ({_m2(area)} m² of the new boundary of {c.code} is covered by none of "
                "its stored children: upload the children next)",
                geometry=gaps,
                area_m2=area,
            )
        )


def _iou(
    a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray, frame: EqualAreaFrame
) -> np.ndarray:
    """Intersection over union of each pair, given their areas in m²."""
    inter = shapely.area(frame.metric(shapely.intersection(a, b, grid_size=GRID_DEG)))
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _moves(
    pairs: list[tuple[Candidate, StoredRegion]],
    frame: EqualAreaFrame,
    allow_moves: bool,
    found: StoredFindings,
) -> None:
    """Region moved (see the module docstring) and area changes of re-uploaded regions."""
    if not pairs:
        return
    new = np.array([c.geometry for c, _ in pairs], dtype=object)
    old = np.array([s.geometry for _, s in pairs], dtype=object)
    a_new, a_old = shapely.area(frame.metric(new)), shapely.area(frame.metric(old))
    iou = _iou(new, old, a_new, a_old, frame)
    c_new, c_old = shapely.centroid(new), shapely.centroid(old)
    xy_new, xy_old = shapely.get_coordinates(c_new), shapely.get_coordinates(c_old)
    _, _, dist = GEOD.inv(xy_old[:, 0], xy_old[:, 1], xy_new[:, 0], xy_new[:, 1])
    offset = xy_new - xy_old
    back = np.array(
        [shapely.affinity.translate(g, -dx, -dy) for g, (dx, dy) in zip(new, offset, strict=True)],
        dtype=object,
    )
    iou_back = _iou(back, old, shapely.area(frame.metric(back)), a_old, frame)
    for k, (c, s) in enumerate(pairs):
        size = math.sqrt(max(a_old[k], 0.0))
        limit = max(MOVED_MIN_M, MOVED_SHARE * size)
        shifted = (
            dist[k] >= SHIFT_MIN_M
            and iou_back[k] >= iou[k] + SHIFT_GAIN
            and 1 - iou_back[k] <= (1 - iou[k]) / 2
        )
        if iou[k] < MOVED_IOU or dist[k] > limit or shifted:
            how_zh = (
                f"整体平移约 {dist[k]:,.0f} m（移回后重合 {iou_back[k]:.1%}），像是坐标系不对"
                if shifted
                else f"中心移动 {dist[k]:,.0f} m"
            )
            how_en = (
                f"the whole region is shifted by about {dist[k]:,.0f} m (moved back it matches "
                f"{iou_back[k]:.1%}): a wrong CRS?"
                if shifted
                else f"its centre moved {dist[k]:,.0f} m"
            )
            found.moved.append(c.code)
            found.problems.append(
                problem(
                    "region_moved",
                    "warning" if allow_moves else "error",
                    c,
                    f"{c.code} {c.name} 的新边界与现有边界仅重合 {iou[k]:.1%}，{how_zh}；"
                    "若确为调整，请以 allow_moves=true 重新提交 "
                    f"({c.code}'s new boundary overlaps the stored one by {iou[k]:.1%}, "
                    f"{how_en}; if the move is intended, send allow_moves=true)",
                    geometry=polygonal(
                        shapely.symmetric_difference(c.geometry, s.geometry, grid_size=GRID_DEG)
                    ),
                    iou=round(float(iou[k]), 4),
                    centroid_shift_m=round(float(dist[k]), 1),
                    shifted=bool(shifted),
                )
            )
        change = (a_new[k] - a_old[k]) / a_old[k] if a_old[k] > 0 else 0.0
        if abs(change) > AREA_CHANGE:
            found.problems.append(
                problem(
                    "area_changed",
                    "warning",
                    c,
                    f"{c.code} {c.name} 面积变化 {change:+.0%}"
                    f"（{a_old[k]:,.0f} → {a_new[k]:,.0f} m²） ({c.code}'s area changes by "
                    f"{change:+.0%})",
                    area_m2=float(a_new[k]),
                    stored_area_m2=round(float(a_old[k]), 3),
                    change=round(float(change), 4),
                )
            )


def check_stored(
    conn: Connection,
    candidates: list[Candidate],
    *,
    level: str,
    removed: list[str],
    tolerances: Tolerances,
    allow_moves: bool = False,
) -> StoredFindings:
    """Check the usable ``candidates`` (one level, EPSG:4326) against the stored hierarchy.

    ``removed`` are the stored codes the upload drops.  See the module docstring for the
    problems; the caller adds them to the report.
    """
    found = StoredFindings()
    shapes = geometries(candidates)
    has_polygon = ~shapely.is_missing(shapes)
    has_polygon[has_polygon] = ~shapely.is_empty(shapes[has_polygon])
    usable = [c for c, ok in zip(candidates, has_polygon.tolist(), strict=True) if ok]
    usable_shapes = shapes[has_polygon]
    codes = {c.code for c in candidates if c.code}
    stored = stored_regions(conn, codes) if codes else {}
    pairs: list[tuple[Candidate, StoredRegion]] = []
    for i in np.flatnonzero(has_polygon).tolist() if stored else []:
        c = candidates[i]
        s = stored.get(c.code or "")
        if s is None:
            continue
        if s.level != level:
            found.problems.append(
                problem(
                    "level_conflict",
                    "error",
                    c,
                    f"编码 {c.code} 已是现有的 {s.level} 级区域 {s.name}，不能作为 {level} 上传 "
                    f"(code {c.code} is stored as a {s.level}; it cannot be uploaded as a {level})",
                    stored_level=s.level,
                )
            )
            continue
        found.same[i] = s.geometry
        pairs.append((c, s))
    if not usable:
        return found
    frame = EqualAreaFrame([c.geometry for c in usable] + [s.geometry for _, s in pairs])
    boxes = _family_boxes(usable, usable_shapes)
    # a code not stored now cannot come back: only stored ones are skipped (a new province's
    # million codes are not sent again)
    neighbours = _neighbours(conn, level, boxes, [*stored, *removed])
    _overlaps(usable, usable_shapes, neighbours, frame, tolerances, found)
    _moves(pairs, frame, allow_moves, found)
    replaced = [c for c, _ in pairs]
    children: dict[str, list[StoredRegion]] = defaultdict(list)
    for child in _children(conn, [c.code for c in replaced]) if replaced else []:
        children[child.parent_code or ""].append(child)
    for c in replaced:
        if children.get(c.code or ""):
            _children_fit(c, children[c.code or ""], frame, tolerances, found)
    return found
