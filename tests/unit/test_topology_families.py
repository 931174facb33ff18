"""Each parent's children checked on their own (``gis.ingest.topology.check_topology``): a
family whose union is its stored parent vertex for vertex takes the short way and has no
problem; gaps and parts outside are still found, measured as shapely measures them in an
equal-area frame, and reported in the parents' order whatever thread checked them."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import box

from gis.ingest.candidates import Candidate, ParentInfo, Report, Tolerances
from gis.ingest.topology import _same_shape, check_topology
from gis.store.stored_form import stored_form

STEP = 0.001  # ~85 × 111 m cells at 40°N


def _family(parent: str, x0: float, cells: int = 4) -> list[Candidate]:
    """A row of ``cells`` squares from (x0, 40.0), codes parent + 3 digits."""
    return [
        Candidate(
            i + 1,
            f"{parent}{i + 1:03d}",
            f"网格{i + 1}",
            parent,
            box(x0 + i * STEP, 40.0, x0 + (i + 1) * STEP, 40.0 + STEP),
        )
        for i in range(cells)
    ]


def _stored(geom: shapely.Geometry) -> shapely.Geometry:
    return stored_form(np.array([geom], dtype=object))[0]


def _area_m2(geom: shapely.Geometry) -> float:
    area, _ = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(geom)
    return abs(area)


def test_same_shape_ignores_ring_start_and_part_order() -> None:
    a = shapely.MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)])
    b = shapely.MultiPolygon(
        [shapely.Polygon([(3, 1), (2, 1), (2, 0), (3, 0)]), shapely.Polygon(box(0, 0, 1, 1))]
    )
    assert _same_shape(a, b) and _same_shape(box(0, 0, 1, 1), a.geoms[0])
    assert not _same_shape(a, box(0, 0, 3, 1))
    assert not _same_shape(box(0, 0, 1, 1), box(0, 0, 1, 1.0000001))


def test_families_exact_gap_and_outside_in_parent_order(monkeypatch: pytest.MonkeyPatch) -> None:
    exact = _family("130227001001", 118.30)
    gappy = _family("130227001002", 118.31)
    out = _family("130227001003", 118.32)
    parents = {
        "130227001001": _stored(shapely.union_all([c.geometry for c in exact])),
        # the parent is one cell longer than its children: a gap of one cell
        "130227001002": _stored(box(118.31, 40.0, 118.31 + 5 * STEP, 40.0 + STEP)),
        # the parent stops half a cell short: the last child sticks out by half a cell
        "130227001003": _stored(box(118.32, 40.0, 118.32 + 3.5 * STEP, 40.0 + STEP)),
    }
    info = {code: ParentInfo(code, "community", g) for code, g in parents.items()}
    overlays = []
    symmetric_difference = shapely.symmetric_difference
    monkeypatch.setattr(
        shapely,
        "symmetric_difference",
        lambda a, b, **kw: overlays.append(a) or symmetric_difference(a, b, **kw),
    )
    report = Report()
    # out of order on purpose: the report follows the parents' codes
    check_topology([*out, *gappy, *exact], info, Tolerances(), False, report)
    kinds = [(p.kind, p.details.get("parent_code")) for p in report.problems]
    assert len(overlays) == 2  # the exact family took the short way
    assert kinds == [("gap", "130227001002"), ("outside_parent", "130227001003")]
    gap, outside = report.problems
    oracle_gap = _area_m2(
        parents["130227001002"].difference(shapely.union_all([c.geometry for c in gappy]))
    )
    oracle_out = _area_m2(out[-1].geometry.difference(parents["130227001003"]))
    assert abs(gap.area_m2 - oracle_gap) < 0.01 * oracle_gap
    assert abs(outside.area_m2 - oracle_out) < 0.01 * oracle_out
    assert outside.code == "130227001003004"
