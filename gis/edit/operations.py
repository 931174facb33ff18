"""The boundary editor's operations on a draft: split, merge, reshape and attributes.

A draft is the regions of one level under the edited parents, as shapely geometries in
EPSG:4326 with their attributes (``gis.edit.draft`` loads it).  Every geometry an operation
makes is snapped to the storage grid (:data:`~gis.store.stored_form.STORAGE_GRID_DEG`, shapely's
``grid_size``), so that neighbours built from the same cut share exactly the same vertices and
what is stored is what the draft showed.  The operations only reshape the draft; whether the
result is a valid partition of the parents is the upload validation's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis.catalogue import NAME, REGION_ATTRIBUTES
from gis.errors import InvalidInput
from gis.geo.geodesy import geodesic_area_m2
from gis.ingest.fields import LANDLINE, MAX_INTEGER, MOBILE, PHONE_RULE
from gis.ingest.validation import MAX_NAME
from gis.query.layers import MAX_TEXT
from gis.store.stored_form import STORAGE_GRID_DEG
from gis.store.versions import ATTRIBUTE_COLUMNS

GRID = STORAGE_GRID_DEG
EDGE_EPS_DEG = 2 * STORAGE_GRID_DEG
"""Two regions share an edge where one's boundary runs within this of the other (snapping)."""
MIN_SHARED_EDGE_M = 1.0
"""Merged regions must share an edge at least this long: touching at a corner is not adjacent."""
PERSONAL = tuple(f.name for f in REGION_ATTRIBUTES if f.personal)
"""Attributes naming a person: a split's new piece gets none of them."""
SHARED = ("households", "population")
"""Counts a split divides by area share and a merge adds up."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Region:
    """A region of the draft: what a boundary upload's feature holds."""

    code: str
    name: str
    parent_code: str | None
    geometry: BaseGeometry
    values: dict[str, Any] = field(default_factory=dict)
    """The typed attributes (:data:`~gis.store.versions.ATTRIBUTE_COLUMNS`)."""


Draft = dict[str, Region]


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The areal part of a result (a boolean operation may leave lines or points behind)."""
    parts = [p for p in shapely.get_parts(geometry) if shapely.get_dimensions(p) == 2]
    return shapely.union_all(parts, grid_size=GRID) if parts else shapely.Polygon()


def _snapped(geometry: BaseGeometry) -> BaseGeometry:
    return _polygonal(shapely.set_precision(geometry, GRID))


def _grid_point_near(x: float, y: float, boundary: BaseGeometry) -> tuple[float, float]:
    """The storage grid point within 20 cells (2 cm) of (x, y) nearest to ``boundary``: where
    a cut crosses an edge, a vertex merely rounded to the grid would bend the edge by up to
    half a cell — over a 1 km edge a sliver of ~2 m² against the neighbour or the parent; the
    nearest of 41² points is ~1/80 of a cell off (~0.05 m²)."""
    offsets = np.arange(-20, 21) * GRID
    xs, ys = np.meshgrid(round(x / GRID) * GRID + offsets, round(y / GRID) * GRID + offsets)
    candidates = shapely.points(xs.ravel(), ys.ravel())
    best = int(shapely.distance(candidates, boundary).argmin())
    return float(xs.ravel()[best]), float(ys.ravel()[best])


def _stitch(draft: Draft, changed: BaseGeometry, parent: str | None) -> None:
    """Insert into the edges of the ``parent``'s regions near ``changed`` the vertices their
    siblings have on them (within :data:`EDGE_EPS_DEG`), so that a node an operation rounded
    onto the storage grid leaves no hairline gap or overlap; a region the snap would make
    invalid is left as it was."""
    near = [
        r
        for r in draft.values()
        if r.parent_code == parent and shapely.intersects(r.geometry, shapely.buffer(changed, 1e-5))
    ]
    for region in near:
        others = [o.geometry for o in near if o is not region]
        if not others:
            continue
        vertices = shapely.multipoints(shapely.get_coordinates(others))
        snapped = shapely.snap(region.geometry, vertices, EDGE_EPS_DEG)
        if shapely.is_valid(snapped):
            region.geometry = _polygonal(snapped)


def shared_edge_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length (m) of the boundary of ``a`` that runs along ``b``."""
    along = shapely.intersection(a.boundary, shapely.buffer(b, EDGE_EPS_DEG))
    # ~111 km a degree (of latitude; less east–west): it only ranks neighbours and tests adjacency
    return float(shapely.length(along)) * 111_000


def reshape(draft: Draft, code: str, outline: BaseGeometry) -> None:
    """Give ``code`` the new ``outline``; its siblings follow: the ground it gains is cut from
    them, each piece of ground it gives up goes to the sibling sharing the longest edge with
    that piece (none touching: the piece is left a gap, which validation reports)."""
    region = draft[code]
    new = _snapped(outline)
    given = _polygonal(shapely.difference(region.geometry, new, grid_size=GRID))
    siblings = [r for r in draft.values() if r.code != code and r.parent_code == region.parent_code]
    for sibling in siblings:
        if shapely.intersects(sibling.geometry, new):
            sibling.geometry = _polygonal(shapely.difference(sibling.geometry, new, grid_size=GRID))
    for piece in shapely.get_parts(given):
        edges = [(shared_edge_m(piece, s.geometry), s) for s in siblings]
        length, taker = max(edges, key=lambda e: e[0], default=(0.0, None))
        if taker is not None and length > 0:
            taker.geometry = _polygonal(shapely.union(taker.geometry, piece, grid_size=GRID))
    region.geometry = new
    _stitch(draft, shapely.union(region.geometry, given), region.parent_code)


def _cut_on_grid(piece: BaseGeometry, part: BaseGeometry) -> BaseGeometry:
    """A piece of ``part`` whose vertices where the cut crosses the part's edges are moved
    to the grid points nearest those edges (:func:`_grid_point_near`)."""
    original = {tuple(xy) for xy in shapely.get_coordinates(part)}
    boundary = part.boundary
    coords = shapely.get_coordinates(piece)
    for k, (x, y) in enumerate(coords):
        if (x, y) not in original and shapely.distance(shapely.Point(x, y), boundary) < 1e-9:
            coords[k] = _grid_point_near(x, y, boundary)
    return shapely.set_coordinates(piece, coords)


def split(draft: Draft, code: str, line: BaseGeometry, new_code: str) -> None:
    """Cut ``code`` along ``line`` into two: the larger piece keeps the code and attributes,
    the smaller becomes ``new_code`` without personal attributes; households and population
    are divided by area share (the new piece's rounded, the rest stays).  The line must cross
    one part of the region from outside to outside, cutting it in exactly two (else
    ``invalid_split``)."""
    region = draft[code]
    cut: list[BaseGeometry] = []
    kept: list[BaseGeometry] = []
    for part in shapely.get_parts(region.geometry):
        pieces = list(shapely.get_parts(shapely.ops.split(part, line)))
        if len(pieces) > 1:
            cut.append([_cut_on_grid(piece, part) for piece in pieces])
        else:
            kept.append(part)
    if len(cut) != 1 or len(cut[0]) != 2:
        made = sum(len(c) for c in cut)
        raise InvalidInput(
            f"分割线须从区域 {code} 外穿过区域到另一侧，把它分成两块 "
            f"(the line must cross region {code} from one side to the other, cutting it in "
            f"two; {f'it made {made} pieces' if made else 'it cuts nothing'})",
            code="invalid_split",
            details={"code": code, "pieces": [len(c) for c in cut]},
        )
    areas = geodesic_area_m2(cut[0])
    small, large = (cut[0][i] for i in areas.argsort())
    share = float(areas.min() / areas.sum())
    values = {k: v for k, v in region.values.items() if k not in PERSONAL}
    for key in SHARED:
        total = region.values.get(key)
        if total is not None:
            values[key] = round(total * share)
            region.values[key] = total - values[key]
    region.geometry = _snapped(shapely.union_all([large, *kept]))
    draft[new_code] = Region(
        new_code,
        f"{region.name}（分）",
        region.parent_code,
        _snapped(small),
        {k: values.get(k) for k in ATTRIBUTE_COLUMNS},
    )


def merge(draft: Draft, codes: list[str], into: str) -> list[str]:
    """Merge ``codes`` into ``into``: one geometry, households and population summed (unknown
    ones count as none), ``into``'s name and other attributes kept; the others are removed
    (returned).  They must be siblings forming one connected group along shared edges
    (``invalid_merge``)."""
    regions = [draft[c] for c in dict.fromkeys(codes)]
    parents = {r.parent_code for r in regions}
    problem = None
    if into not in codes or len(regions) < 2:
        problem = (
            "须合并至少两个区域，且 into 是其中之一 (merge two or more regions, into one of them)"
        )
    elif len(parents) > 1:
        problem = "只能合并同一上级下的区域 (only regions of one parent can be merged)"
    else:
        reached, todo = {into}, [draft[into]]
        while todo:
            here = todo.pop()
            for r in regions:
                if (
                    r.code not in reached
                    and shared_edge_m(here.geometry, r.geometry) >= MIN_SHARED_EDGE_M
                ):
                    reached.add(r.code)
                    todo.append(r)
        if len(reached) < len(regions):
            apart = sorted({r.code for r in regions} - reached)
            problem = f"区域 {', '.join(apart)} 与其余区域不相邻 (they share no edge with the rest)"
    if problem:
        raise InvalidInput(
            f"不能合并 {', '.join(codes)}: {problem}",
            code="invalid_merge",
            details={"codes": codes, "into": into},
        )
    target = draft[into]
    target.geometry = _polygonal(shapely.union_all([r.geometry for r in regions], grid_size=GRID))
    for key in SHARED:
        known = [r.values.get(key) for r in regions if r.values.get(key) is not None]
        target.values[key] = sum(known) if known else None
    removed = [r.code for r in regions if r.code != into]
    for code in removed:
        del draft[code]
    return removed


_TYPES = {f.name: f for f in (NAME, *REGION_ATTRIBUTES)}


def _attribute(name: str, value: Any) -> Any:
    """The value checked against the catalogue's type; why not as the error."""
    kind = _TYPES[name].kind
    if value is None and name != "name":
        return None
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER
        rule = f"应为 0 至 {MAX_INTEGER} 的整数 (a whole number from 0 to {MAX_INTEGER})"
    else:
        value = value.strip() if isinstance(value, str) else value
        limit = MAX_NAME if name == "name" else MAX_TEXT
        ok = isinstance(value, str) and 0 < len(value) <= limit and not _CONTROL.search(value)
        rule = f"应为 1 至 {limit} 字的文字 (text of 1 to {limit} characters)"
        if ok and name == "grid_worker_phone":
            value = re.sub(r"\s", "", value)
            ok = bool(MOBILE.fullmatch(value) or LANDLINE.fullmatch(value))
            rule = PHONE_RULE
    if not ok:
        raise InvalidInput(
            f"字段 {name}（{_TYPES[name].title}）的值无效：{rule}",
            code="invalid_attribute",
            details={"field": name},
        )
    return value


def set_attributes(region: Region, values: dict[str, Any]) -> None:
    """Set the name and typed attributes (:data:`~gis.catalogue.REGION_ATTRIBUTES`) of a
    region; an unknown field or a wrong value is ``invalid_attribute`` naming the field."""
    unknown = sorted(set(values) - set(_TYPES))
    if unknown:
        raise InvalidInput(
            f"未知字段 {', '.join(unknown)} (unknown fields; expected {', '.join(_TYPES)})",
            code="invalid_attribute",
            details={"field": unknown[0], "fields": unknown},
        )
    checked = {name: _attribute(name, value) for name, value in values.items()}
    if "name" in checked:
        region.name = checked.pop("name")
    region.values.update(checked)
