"""Topology of uploaded boundaries: overlaps, gaps, parts outside the parent, slivers.

Siblings (children of one parent) must cover their parent seamlessly.  Areas and widths are
measured in metres in an equal-area frame on the data (``gis.geo.geodesy.EqualAreaFrame``).
Pieces that are noise are no problem: smaller than :data:`NOISE_M2`, or narrower everywhere
than :data:`STORAGE_WIDTH_M` — what storing a parent at storage precision leaves between it
and children drawn along it as surveyed (a 1 km edge moved by 5 mm: 5 m² of sliver).
``repair`` snaps overlaps, gaps and parts outside the parent below tolerance, reporting every
change it made.  A family whose edges show it tiles its parent (``gis.geo.edges.tiles``: ~7 ms
for 1 000 grids, the overlays ~35 ms) has none of these and is not overlaid.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from gis.geo.edges import tiles
from gis.geo.geodesy import EqualAreaFrame
from gis.ingest.candidates import Candidate, ParentInfo, Report, Tolerances, geometries, problem
from gis.ingest.problems import location_of
from gis.store.stored_form import STORAGE_GRID_DEG, STORAGE_SHIFT_M, stored_form

NOISE_M2 = 0.01
"""Overlaps, gaps and outside parts smaller than this are floating-point noise, not problems."""
GRID_DEG = 1e-10
"""Overlays snap-round to this grid (~0.01 mm): robust on messy input."""
STORAGE_WIDTH_M = 2 * STORAGE_SHIFT_M
"""Two boundaries each snapped to the storage grid lie at most this far apart (≈1.6 cm)
where they were one line: a piece narrower than this everywhere is storage precision."""


POLYGONAL_TYPES = [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON]
"""The type ids of polygonal geometries (``np.isin`` over ``shapely.get_type_id``)."""


def polygonal(geom: BaseGeometry) -> MultiPolygon:
    """The polygons of an overlay's result as one MultiPolygon (lines and points dropped)."""
    return MultiPolygon(_polygons(geom).tolist())


def _polygons(geom: BaseGeometry) -> np.ndarray:
    """The polygons of an overlay's result, one by one."""
    parts = shapely.get_parts(geom)
    kinds = shapely.get_type_id(parts)
    polygons = np.isin(kinds, POLYGONAL_TYPES)
    return shapely.get_parts(parts[polygons])


def substantial(geom: BaseGeometry, frame: EqualAreaFrame) -> tuple[np.ndarray, np.ndarray]:
    """The polygons of an overlay's result that are no noise (see the module docstring), and
    their areas in m² without the noise along them — the area of their opening by
    :data:`STORAGE_WIDTH_M`: a storage-precision sliver running on from a real gap is not
    counted in it (vectorised: a province's boundaries leave thousands of slivers)."""
    half = STORAGE_WIDTH_M / 2
    parts = _polygons(geom)
    high = frame.metres_per_degree[1]
    parts = parts[shapely.area(parts) * high * high > NOISE_M2]  # the others surely are noise
    metric = frame.metric(parts)
    area = shapely.area(metric)
    # only a piece whose area is at most perimeter × width/2 can be that narrow everywhere
    thin = (area > NOISE_M2) & (area <= shapely.length(metric) * half)
    thin[thin] = shapely.is_empty(shapely.buffer(metric[thin], -half))
    keep = np.flatnonzero((area > NOISE_M2) & ~thin)
    inner = shapely.buffer(metric[keep], -half, join_style="mitre")
    opened = shapely.area(shapely.buffer(inner, half, join_style="mitre"))
    return parts[keep][opened > NOISE_M2], opened[opened > NOISE_M2]


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
    frame: EqualAreaFrame,
    tol: Tolerances,
    repair: bool,
    report: Report,
) -> None:
    pieces, areas = substantial(
        shapely.difference(c.geometry, parent.geometry, grid_size=GRID_DEG), frame
    )
    if not len(pieces):
        return
    outside, area = MultiPolygon(pieces.tolist()), float(areas.sum())
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
    siblings: list[Candidate], frame: EqualAreaFrame, tol: Tolerances, repair: bool, report: Report
) -> None:
    geoms = geometries(siblings)
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
    frame: EqualAreaFrame,
    tol: Tolerances,
    repair: bool,
    report: Report,
) -> None:
    """Report (or fill, when repairing) the ``gaps``: parts of the parent no child covers."""
    pieces, areas = substantial(gaps, frame)
    for piece, area in zip(pieces.tolist(), areas.tolist(), strict=True):
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
    candidates: list[Candidate], frame: EqualAreaFrame, tol: Tolerances, report: Report
) -> None:
    parts, owner = shapely.get_parts(geometries(candidates), return_index=True)
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


def _same_shape(a: BaseGeometry, b: BaseGeometry) -> bool:
    """Whether ``a`` and ``b`` are the same polygons, vertex for vertex (rings in any order
    and starting anywhere): then nothing lies in one and not the other."""
    return bool(
        shapely.equals_exact(shapely.normalize(polygonal(a)), shapely.normalize(polygonal(b)))
    )


FAMILY_THREADS = 2
"""Families checked at once: the overlays release the GIL (the machine's two cores)."""


def check_topology(
    usable: list[Candidate],
    parents: dict[str, ParentInfo],
    tolerances: Tolerances,
    repair: bool,
    report: Report,
) -> None:
    """Slivers of ``usable`` (candidates with a polygon), overlaps between siblings, parts
    outside their parent and gaps in it; with ``repair``, geometries are replaced by the
    repaired ones.  The children of each parent (a family) are checked on their own, in
    :data:`FAMILY_THREADS` threads, their findings reported in the parents' order."""
    frame = EqualAreaFrame([c.geometry for c in usable])
    _check_slivers(usable, frame, tolerances, report)
    by_parent: dict[str | None, list[Candidate]] = defaultdict(list)
    for c in usable:
        by_parent[c.parent_code].append(c)

    def family(item: tuple[str | None, list[Candidate]]) -> Report:
        found = Report()
        _check_family(parents.get(item[0] or ""), item[1], frame, tolerances, repair, found)
        return found

    families = sorted(by_parent.items(), key=lambda kv: kv[0] or "")
    with ThreadPoolExecutor(FAMILY_THREADS) as pool:
        for found in pool.map(family, families):
            report.problems += found.problems
            report.repairs += found.repairs


def _check_family(
    parent: ParentInfo | None,
    children: list[Candidate],
    frame: EqualAreaFrame,
    tolerances: Tolerances,
    repair: bool,
    report: Report,
) -> None:
    """Overlaps between ``children`` (one parent's), their parts outside ``parent`` and the
    gaps they leave in it (None: a parent not found, reported elsewhere)."""
    geoms = [c.geometry for c in children]
    if parent is not None and tiles(geoms, parent.geometry, STORAGE_GRID_DEG):
        return  # the common case, shown by the edges alone (a fifth of the overlays' time)
    # a valid coverage (edges shared exactly, no overlaps) needs no pairwise overlap test
    coverage = bool(shapely.coverage_is_valid(geoms))
    if not coverage:
        _check_overlaps(children, frame, tolerances, repair, report)
    if parent is None:
        return
    # the children's union as it would be stored, like the parent: where their vertices
    # meet the parent's they snap onto them and leave no sliver; what noise remains (a
    # child's corner in the middle of a parent's edge) is dropped before the unions
    covered = stored_form(np.array([_union(children, coverage)], dtype=object))[0]
    if _same_shape(covered, parent.geometry):  # the common case: children of their parent
        return
    pieces, _ = substantial(
        shapely.symmetric_difference(covered, parent.geometry, grid_size=GRID_DEG), frame
    )
    inside = shapely.contains_properly(parent.geometry, shapely.point_on_surface(pieces))
    sticking_out = shapely.union_all(pieces[~inside])
    gaps = shapely.union_all(pieces[inside])
    if not inside.all():
        before = len(report.repairs)
        tree = shapely.STRtree([c.geometry for c in children])
        for i in sorted(set(tree.query(sticking_out, predicate="intersects").tolist())):
            _check_outside(children[i], parent, frame, tolerances, repair, report)
        if len(report.repairs) > before:
            covered = _union(children, coverage=False)
            gaps = shapely.difference(parent.geometry, covered, grid_size=GRID_DEG)
    _check_gaps(parent, children, gaps, frame, tolerances, repair, report)
