"""Validating uploaded boundaries before anything changes: the problems of a validation report.

Every problem has a ``kind``, a ``severity`` (``error`` blocks a commit, ``warning`` does not),
the feature's ``code`` and 1-based ``feature`` number, a ``message``, a ``location``
[lon, lat] and, where it helps, the offending ``geometry`` (GeoJSON, EPSG:4326) and its
``area_m2``.  Areas and widths are measured in metres in a Lambert azimuthal equal-area
frame centred on the data.  ``repair`` applies make_valid and snaps overlaps, gaps and
parts outside the parent below tolerance, reporting every change it made.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, mapping
from shapely.geometry.base import BaseGeometry

from gis.ingest.fields import INTEGER_ROLES
from gis.store.models import LEVELS

CODE_DIGITS = {"county": 6, "street": 9, "community": 12, "grid": 15}
NOISE_M2 = 0.01
"""Overlaps, gaps and outside parts smaller than this are floating-point noise, not problems."""
GRID_DEG = 1e-10
"""Overlays snap-round to this grid (~0.01 mm): robust on messy input."""
DENSIFY_DEG = 1e-4


@dataclass(frozen=True)
class Tolerances:
    """Validation tolerances (settings): pieces at or below them are slivers, not errors."""

    overlap_m2: float = 1.0
    gap_m2: float = 1.0
    outside_m2: float = 1.0
    sliver_width_m: float = 0.5


@dataclass
class Candidate:
    """One uploaded feature, mapped to region fields, geometry in EPSG:4326."""

    feature: int
    code: str | None
    name: str | None
    parent_code: str | None
    geometry: BaseGeometry | None
    values: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParentInfo:
    """A parent region as stored at the current version."""

    code: str
    level: str
    geometry: BaseGeometry


@dataclass
class Report:
    """Problems and repairs found by :func:`validate`."""

    problems: list[dict[str, Any]] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Number of problems that block a commit."""
        return sum(p["severity"] == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        """Number of problems that do not block a commit."""
        return sum(p["severity"] == "warning" for p in self.problems)


class Frame:
    """Measures lon/lat geometries in metres: a Lambert equal-area frame centred on the data.

    Overlays run on the lon/lat geometries themselves (edges straight in degrees, as PostGIS
    sees them); only their results are measured here, densified first so that a long edge
    does not bend away from where PostGIS has it.
    """

    def __init__(self, geometries: list[BaseGeometry]) -> None:
        xmin, ymin, xmax, ymax = shapely.total_bounds(np.array(geometries, dtype=object))
        lon, lat = (xmin + xmax) / 2, (ymin + ymax) / 2
        laea = f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m +no_defs"
        self._fwd = Transformer.from_crs("EPSG:4326", laea, always_xy=True)
        north = max(abs(ymin), abs(ymax))
        south = 0.0 if ymin <= 0 <= ymax else min(abs(ymin), abs(ymax))
        # metres per degree: at least (longitude at the pole-most latitude), at most
        self.metres_per_degree = (
            110_574.0 * max(np.cos(np.radians(north)), 1e-6),
            111_700.0 * max(1.0, np.cos(np.radians(south))),
        )

    def metric(self, geom: Any) -> Any:
        """Geometry (or array of them) in metres, edges densified to 1e-4° (~10 m)."""
        dense = shapely.segmentize(geom, DENSIFY_DEG)
        return shapely.transform(dense, lambda xy: np.column_stack(self._fwd.transform(*xy.T)))

    def area(self, geom: BaseGeometry) -> float:
        """Area in m²."""
        return float(self.metric(geom).area)

    def thin(self, geom: BaseGeometry, width_m: float) -> bool:
        """Whether the piece is narrower than ``width_m`` everywhere (a sliver)."""
        m = self.metric(geom)
        return bool(_maybe_thin(m, width_m)) and m.buffer(-width_m / 2).is_empty


def _maybe_thin(metric: Any, width_m: float) -> Any:
    """Every point of a piece narrower than ``width_m`` lies within width/2 of its boundary,
    so its area is at most perimeter × width/2: this rules out almost every ordinary polygon
    (vectorised; geometries in metres)."""
    return 2 * shapely.area(metric) <= shapely.length(metric) * width_m


def polygonal(geom: BaseGeometry) -> MultiPolygon:
    """The polygons of an overlay's result as one MultiPolygon (lines and points dropped)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return MultiPolygon(polys)


def location_of(geom: BaseGeometry) -> list[float]:
    """[lon, lat] of a point on the geometry (7 decimals), or [] when it is empty."""
    point = geom.point_on_surface() if not geom.is_empty else None
    return [round(point.x, 7), round(point.y, 7)] if point is not None else []


def problem(
    kind: str,
    severity: str,
    candidate: Candidate | None,
    message: str,
    *,
    location: list[float] | None = None,
    geometry: BaseGeometry | None = None,
    area_m2: float | None = None,
    **details: Any,
) -> dict[str, Any]:
    """One problem of a report (see the module's docstring); ``details`` are added as given."""
    found: dict[str, Any] = {
        "kind": kind,
        "severity": severity,
        "code": candidate.code if candidate else None,
        "feature": candidate.feature if candidate else None,
        "message": message,
        "location": location if location is not None else [],
    }
    if geometry is not None:
        found["geometry"] = mapping(shapely.set_precision(geometry, 1e-7, mode="pointwise"))
        if not found["location"]:
            found["location"] = location_of(geometry)
    if area_m2 is not None:
        found["area_m2"] = round(area_m2, 3)
    found.update(details)
    return found


_REASON_POINT = re.compile(r"\[([-\d.eE+]+)\s+([-\d.eE+]+)\]")


def _check_geometry(c: Candidate, valid: bool, repair: bool, report: Report) -> None:
    """Empty, non-polygonal and invalid geometries (make_valid when repairing)."""
    geom = c.geometry
    if geom is None or geom.is_empty:
        report.problems.append(
            problem("empty_geometry", "error", c, "要素没有几何图形 (the feature has no geometry)")
        )
        c.geometry = None
        return
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        report.problems.append(
            problem(
                "wrong_geometry_type",
                "error",
                c,
                f"要素应为面，实际为 {geom.geom_type} (the feature must be a polygon)",
                location=location_of(geom),
            )
        )
        c.geometry = None
        return
    if valid:
        return
    reason = shapely.is_valid_reason(geom)
    match = _REASON_POINT.search(reason)
    location = [float(match[1]), float(match[2])] if match else location_of(geom)
    if repair:
        fixed = polygonal(shapely.make_valid(geom))
        report.repairs.append(
            {
                "kind": "make_valid",
                "code": c.code,
                "feature": c.feature,
                "message": f"已修复无效几何 ({reason}) (made valid)",
                "location": location,
            }
        )
        c.geometry = fixed
        return
    report.problems.append(
        problem(
            "invalid_geometry",
            "error",
            c,
            f"几何图形无效: {reason} (invalid geometry)",
            location=location,
            reason=reason,
        )
    )
    c.geometry = None


MAX_NAME = 200
"""Longest region name (the longest real ones are ~30 characters)."""


def _check_attributes(c: Candidate, level: str, report: Report) -> None:
    if not c.code:
        report.problems.append(problem("missing_code", "error", c, "要素缺少编码 (no code)"))
    if not c.name:
        report.problems.append(problem("missing_name", "error", c, "要素缺少名称 (no name)"))
    elif len(c.name) > MAX_NAME:
        report.problems.append(
            problem(
                "name_too_long",
                "error",
                c,
                f"名称有 {len(c.name)} 个字符，最多 {MAX_NAME} 个 "
                f"(the name has {len(c.name)} characters, at most {MAX_NAME})",
            )
        )
    texts = {"code": c.code, "name": c.name, **c.values, **c.attributes}
    for key, value in texts.items():
        if isinstance(value, str) and "\x00" in value:
            report.problems.append(
                problem(
                    "invalid_text",
                    "error",
                    c,
                    f"字段 {key} 含 NUL 字符 (the field {key} holds a NUL character)",
                    field=key,
                )
            )
    for key in INTEGER_ROLES:
        value = c.values.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            report.problems.append(
                problem(
                    "invalid_value",
                    "error",
                    c,
                    f"{key} 应为非负整数，实际为 {value!r} ({key} must be a whole number ≥ 0)",
                    field=key,
                )
            )
    if c.code:
        digits = CODE_DIGITS[level]
        fits = c.code.isdigit() and len(c.code) == digits
        if fits and c.parent_code and level != "county":
            fits = c.code.startswith(c.parent_code)
        if not fits:
            report.problems.append(
                problem(
                    "code_format",
                    "warning",
                    c,
                    f"{level} 编码应为 {digits} 位数字并以上级编码开头: {c.code} "
                    f"(a {level} code has {digits} digits and starts with its parent's code)",
                )
            )


def _check_duplicates(candidates: list[Candidate], report: Report) -> None:
    by_code: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        if c.code:
            by_code[c.code].append(c)
    for code, group in sorted(by_code.items()):
        if len(group) > 1:
            features = [c.feature for c in group]
            report.problems.append(
                problem(
                    "duplicate_code",
                    "error",
                    group[0],
                    f"编码 {code} 重复出现在要素 {features} (duplicate code)",
                    features=features,
                )
            )


def _check_parents(
    candidates: list[Candidate],
    level: str,
    parents: dict[str, ParentInfo],
    report: Report,
) -> None:
    if level == "county":
        return
    expected = LEVELS[LEVELS.index(level) - 1]
    for c in candidates:
        parent = parents.get(c.parent_code or "")
        if parent is None:
            report.problems.append(
                problem(
                    "missing_parent",
                    "error",
                    c,
                    f"上级区域 {c.parent_code or '(空)'} 不存在 "
                    f"(the parent region {c.parent_code!r} does not exist)",
                    parent_code=c.parent_code,
                )
            )
        elif parent.level != expected:
            report.problems.append(
                problem(
                    "parent_level_mismatch",
                    "error",
                    c,
                    f"{level} 的上级应为 {expected}，{parent.code} 是 {parent.level} "
                    f"(a {level}'s parent must be a {expected})",
                    parent_code=parent.code,
                )
            )


def _repair(
    report: Report, kind: str, c: Candidate, message: str, piece: BaseGeometry, area: float
) -> None:
    report.repairs.append(
        {
            "kind": kind,
            "code": c.code,
            "feature": c.feature,
            "message": message,
            "location": location_of(piece),
            "area_m2": round(area, 3),
        }
    )


def _check_outside(
    c: Candidate,
    parent: ParentInfo,
    frame: Frame,
    tol: Tolerances,
    repair: bool,
    report: Report,
) -> None:
    outside = polygonal(shapely.difference(c.geometry, parent.geometry, grid_size=GRID_DEG))
    area = frame.area(outside)
    if area <= NOISE_M2:
        return
    if area <= tol.outside_m2 and repair:
        c.geometry = polygonal(
            shapely.intersection(c.geometry, parent.geometry, grid_size=GRID_DEG)
        )
        _repair(
            report,
            "clip_to_parent",
            c,
            f"已裁去超出上级 {parent.code} 的 {area:.3f} m² (clipped to parent)",
            outside,
            area,
        )
        return
    report.problems.append(
        problem(
            "outside_parent",
            "error" if area > tol.outside_m2 else "warning",
            c,
            f"有 {area:.2f} m² 超出上级区域 {parent.code} "
            f"({area:.2f} m² lies outside the parent region)",
            geometry=outside,
            area_m2=area,
            parent_code=parent.code,
        )
    )


def _check_overlaps(
    siblings: list[Candidate], frame: Frame, tol: Tolerances, repair: bool, report: Report
) -> None:
    geoms = np.array([c.geometry for c in siblings], dtype=object)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    # interiors meeting in an area: cheaper than computing every shared edge's intersection
    areal = shapely.relate_pattern(geoms[left], geoms[right], "2********")
    for i, j in zip(left[areal].tolist(), right[areal].tolist(), strict=True):
        a, b = siblings[i], siblings[j]
        overlap = polygonal(shapely.intersection(a.geometry, b.geometry, grid_size=GRID_DEG))
        area = frame.area(overlap)
        if area <= NOISE_M2:
            continue
        if area <= tol.overlap_m2 and repair:
            keep, trim = sorted((a, b), key=lambda c: c.code or "")  # lower code keeps it
            trim.geometry = polygonal(
                shapely.difference(trim.geometry, overlap, grid_size=GRID_DEG)
            )
            _repair(
                report,
                "remove_overlap",
                trim,
                f"已从 {trim.code} 去除与 {keep.code} 重叠的 {area:.3f} m² (overlap removed)",
                overlap,
                area,
            )
            continue
        report.problems.append(
            problem(
                "overlap" if area > tol.overlap_m2 else "sliver_overlap",
                "error" if area > tol.overlap_m2 else "warning",
                a,
                f"{a.code} 与 {b.code} 重叠 {area:.2f} m² ({a.code} overlaps {b.code})",
                geometry=overlap,
                area_m2=area,
                other_code=b.code,
                other_feature=b.feature,
                sliver=area <= tol.overlap_m2 or frame.thin(overlap, tol.sliver_width_m),
            )
        )


def _check_gaps(
    parent: ParentInfo,
    children: list[Candidate],
    gaps: BaseGeometry,
    frame: Frame,
    tol: Tolerances,
    repair: bool,
    report: Report,
) -> None:
    """Report (or fill, when repairing) the ``gaps``: parts of the parent no child covers."""
    for piece in shapely.get_parts(polygonal(gaps)):
        area = frame.area(piece)
        if area <= NOISE_M2:
            continue
        if area <= tol.gap_m2 and repair:
            neighbour = max(children, key=lambda c: c.geometry.intersection(piece.boundary).length)
            neighbour.geometry = polygonal(
                shapely.union(neighbour.geometry, piece, grid_size=GRID_DEG)
            )
            _repair(
                report,
                "fill_gap",
                neighbour,
                f"已将 {area:.3f} m² 缝隙并入 {neighbour.code} (gap filled)",
                piece,
                area,
            )
            continue
        report.problems.append(
            problem(
                "gap" if area > tol.gap_m2 else "sliver_gap",
                "error" if area > tol.gap_m2 else "warning",
                None,
                f"上级区域 {parent.code} 内有 {area:.2f} m² 未被覆盖 "
                f"({area:.2f} m² of the parent is not covered by its children)",
                geometry=piece,
                area_m2=area,
                parent_code=parent.code,
                sliver=area <= tol.gap_m2 or frame.thin(piece, tol.sliver_width_m),
            )
        )


def _check_slivers(
    candidates: list[Candidate], frame: Frame, tol: Tolerances, report: Report
) -> None:
    parts, owner = shapely.get_parts(
        np.array([c.geometry for c in candidates], dtype=object), return_index=True
    )
    # screen in degrees with bounds on the metres per degree (area ≥, perimeter ≤)
    low, high = frame.metres_per_degree
    screen = (
        2 * shapely.area(parts) * low * low <= shapely.length(parts) * high * tol.sliver_width_m
    )
    suspects = np.flatnonzero(screen)
    for i in suspects.tolist():
        c, part = candidates[owner[i]], parts[i]
        if frame.thin(part, tol.sliver_width_m):
            report.problems.append(
                problem(
                    "sliver_polygon",
                    "warning",
                    c,
                    f"{c.code} 含有宽度小于 {tol.sliver_width_m} m 的狭长碎片 "
                    f"({c.code} has a sliver part narrower than {tol.sliver_width_m} m)",
                    geometry=part,
                    area_m2=frame.area(part),
                )
            )


def _union(children: list[Candidate], coverage: bool) -> BaseGeometry:
    geoms = [c.geometry for c in children]
    if coverage:  # exact and fast for polygons that only share edges
        return shapely.coverage_union_all(geoms)
    return shapely.union_all(geoms, grid_size=GRID_DEG)


def validate(
    candidates: list[Candidate],
    *,
    level: str,
    parents: dict[str, ParentInfo],
    tolerances: Tolerances,
    repair: bool = False,
) -> Report:
    """Check ``candidates`` (features of one level) against each other and their parents.

    With ``repair``, candidates' geometries are replaced by the repaired ones.
    """
    report = Report()
    valid = shapely.is_valid(np.array([c.geometry for c in candidates], dtype=object))
    for c, ok in zip(candidates, valid.tolist(), strict=True):
        _check_geometry(c, ok, repair, report)
        _check_attributes(c, level, report)
    _check_duplicates(candidates, report)
    _check_parents(candidates, level, parents, report)

    usable = [c for c in candidates if c.geometry is not None]
    if not usable:
        return report
    frame = Frame([c.geometry for c in usable])
    _check_slivers(usable, frame, tolerances, report)
    by_parent: dict[str | None, list[Candidate]] = defaultdict(list)
    for c in usable:
        by_parent[c.parent_code].append(c)
    for parent_code, children in sorted(by_parent.items(), key=lambda kv: kv[0] or ""):
        parent = parents.get(parent_code or "")
        # a valid coverage (edges shared exactly, no overlaps) needs no pairwise overlap test
        coverage = bool(shapely.coverage_is_valid([c.geometry for c in children]))
        if not coverage:
            _check_overlaps(children, frame, tolerances, repair, report)
        if parent is None:
            continue
        covered = _union(children, coverage)
        pieces = shapely.get_parts(
            polygonal(shapely.symmetric_difference(covered, parent.geometry, grid_size=GRID_DEG))
        )
        inside = shapely.contains_properly(parent.geometry, shapely.point_on_surface(pieces))
        sticking_out = shapely.union_all(pieces[~inside])
        gaps = shapely.union_all(pieces[inside])
        if frame.area(polygonal(sticking_out)) > NOISE_M2:
            before = len(report.repairs)
            tree = shapely.STRtree([c.geometry for c in children])
            for i in sorted(set(tree.query(sticking_out, predicate="intersects").tolist())):
                _check_outside(children[i], parent, frame, tolerances, repair, report)
            if len(report.repairs) > before:
                covered = _union(children, coverage=False)
                gaps = shapely.difference(parent.geometry, covered, grid_size=GRID_DEG)
        _check_gaps(parent, children, gaps, frame, tolerances, repair, report)
    return report
