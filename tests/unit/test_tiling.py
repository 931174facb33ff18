"""Whether children tile their parent, told by their edges alone (``gis.geo.edges.tiles``),
against GEOS's overlays (no overlap: the areas add up to the union's; no gap and nothing
outside: the union is the parent) and against the family check's full path."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box

from gis.geo import edges
from gis.geo.edges import tiles
from gis.geo.geodesy import EqualAreaFrame
from gis.ingest import topology
from gis.ingest.candidates import Candidate, ParentInfo, Report, Tolerances
from gis.store.stored_form import STORAGE_GRID_DEG, stored_form

GRID = STORAGE_GRID_DEG


def _stored(geoms: list[shapely.Geometry]) -> list[shapely.Geometry]:
    return stored_form(np.array(geoms, dtype=object)).tolist()


def _partition(seed: int) -> tuple[list[shapely.Geometry], shapely.Geometry]:
    """Voronoi cells of a parent with a hole (one cell per seed point, the hole's cells
    dropped), vertices on the storage grid as a stored parent's are, and the parent: the
    cells' union."""
    rng = np.random.default_rng(seed)
    outer = box(118.30, 40.00, 118.32, 40.015)
    hole = box(118.305, 40.005, 118.308, 40.008)
    points = shapely.multipoints(rng.uniform([118.30, 40.00], [118.32, 40.015], (60, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=outer))
    region = outer.difference(hole)
    # GEOS's coverage clip keeps shared edges shared
    clipped = shapely.intersection(cells, region, grid_size=GRID)
    children = [c for c in _stored([c for c in clipped if not c.is_empty]) if c.area > 0]
    parent = _stored([shapely.coverage_union_all(children)])[0]
    return children, parent


def _oracle(children: list[shapely.Geometry], parent: shapely.Geometry) -> bool:
    """GEOS: no overlap (the areas add up to the union's) and the union is the parent."""
    union = shapely.union_all(children)
    overlap = sum(c.area for c in children) - union.area
    return overlap < 1e-14 and shapely.symmetric_difference(union, parent).area < 1e-14


def _full_path(children: list[shapely.Geometry], parent: shapely.Geometry) -> list[str]:
    """The family check's findings without the edges' short way."""
    family = [Candidate(i, f"g{i}", "n", "p", c) for i, c in enumerate(children)]
    report = Report()
    topology._check_family(
        ParentInfo("p", "community", parent),
        family,
        EqualAreaFrame(children),
        Tolerances(),
        False,
        report,
    )
    return [p.kind for p in report.problems]


def _broken(children: list[shapely.Geometry], parent: shapely.Geometry) -> dict[str, tuple]:
    coords = shapely.get_coordinates(children[0])
    coords[1] += (2e-5, 0)  # one vertex of one child moved (not its neighbours')
    dented = shapely.set_coordinates(shapely.from_wkb(children[0].wkb), coords)
    bigger = children[-1].buffer(1e-4, join_style="mitre")
    return {
        "a child left out (gap)": (children[1:], parent),
        "a child twice (overlap)": ([*children, children[3]], parent),
        "a child moved (overlap and gap)": (
            [affinity.translate(children[2], 1e-5, 0), *children[:2], *children[3:]],
            parent,
        ),
        "a vertex moved": ([dented, *children[1:]], parent),
        "a child sticking out": ([*children[:-1], bigger], parent),
        "the parent larger": (children, _stored([parent.buffer(1e-4, join_style="mitre")])[0]),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_partition_tiles_its_parent_and_broken_ones_do_not(seed: int) -> None:
    children, parent = _partition(seed)
    assert _oracle(children, parent) and tiles(children, parent, GRID)
    assert _full_path(children, parent) == []
    for name, (kids, whole) in _broken(children, parent).items():
        assert not _oracle(kids, whole), name
        assert not tiles(kids, whole, GRID), name
        assert _full_path(kids, whole), name  # the full path, taken instead, finds it


def test_hash_collisions_only_split_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every edge under one hash: the same answers (the exact comparison decides)."""
    children, parent = _partition(4)
    monkeypatch.setattr(edges, "edge_hash", lambda a, b: np.zeros(len(a), np.uint64))
    assert tiles(children, parent, GRID)
    for name, (kids, whole) in _broken(children, parent).items():
        assert not tiles(kids, whole, GRID), name


def test_noise_below_the_storage_grid_on_the_outline_still_tiles() -> None:
    """Children as reprojected (not yet snapped): the outline's vertices a hair off the
    stored parent's still tile it, as the full path's snapped union is the parent."""
    children, parent = _partition(5)
    noisy = [shapely.transform(c, lambda xy: xy + 3e-9) for c in children]
    assert tiles(noisy, parent, GRID) and _full_path(noisy, parent) == []
    assert not tiles([shapely.transform(c, lambda xy: xy + 3e-7) for c in children], parent, GRID)


def _repeated(polygon: shapely.Geometry, at: int) -> shapely.Geometry:
    """``polygon`` (one ring) with its vertex ``at`` given twice: still valid."""
    coords = shapely.get_coordinates(polygon)
    return Polygon(np.insert(coords, at, coords[at], axis=0))


def test_a_repeated_vertex_still_tiles() -> None:
    """A vertex given twice in a row (valid; seen in a generated province's grids) makes no
    edge: the family still tiles, shown by the edges, as the full path finds."""
    children, parent = _partition(7)
    twice = [_repeated(c, 2) if i % 3 == 0 else c for i, c in enumerate(children)]
    assert all(shapely.is_valid(twice)) and _oracle(twice, parent)
    assert tiles(twice, parent, GRID) and _full_path(twice, parent) == []
    assert not tiles([_repeated(children[0], 1), *children[2:]], parent, GRID)  # a gap


def test_holes_and_multipolygons() -> None:
    """A child inside another's hole, and a child in two parts."""
    ring = box(0, 0, 3, 3).difference(box(1, 1, 2, 2))
    core = box(1, 1, 2, 2)
    parent = box(0, 0, 3, 3)
    assert tiles([ring, core], parent, GRID)
    left = shapely.MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)])
    middle = box(1, 0, 2, 1)
    whole = Polygon([(0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (2, 1), (1, 1), (0, 1)])
    assert tiles([left, middle], whole, GRID)
    assert not tiles([left], whole, GRID)
    assert not tiles([ring], parent, GRID)  # the hole not filled
    assert not tiles([core, core], core, GRID)  # each edge twice the same way


def test_ring_edges_are_geos_oriented_rings() -> None:
    """The edges read with no ring objects are GEOS's oriented rings' (shells
    counter-clockwise, holes clockwise), whatever way the input's rings turn."""
    children, parent = _partition(6)
    turned = [shapely.reverse(c) for c in children[::2]] + children[1::2]
    holed = box(0, 0, 3, 3).difference(box(1, 1, 2, 2))  # GEOS: shell clockwise
    mixed = [
        _repeated(box(7, 7, 8, 8), 1),
        *turned,
        holed,
        shapely.reverse(holed),
        shapely.MultiPolygon([box(5, 5, 6, 6)]),
    ]
    for polygons in (turned, mixed, [parent]):
        oriented = shapely.orient_polygons(np.asarray(polygons, dtype=object))
        coords, ring = shapely.get_coordinates(
            shapely.get_rings(shapely.get_parts(oriented)), return_index=True
        )
        inside = (ring[1:] == ring[:-1]) & (coords[1:] != coords[:-1]).any(axis=1)
        theirs = np.hstack((coords[:-1][inside], coords[1:][inside]))
        ours = np.column_stack(edges.ring_edges(polygons)).view(np.float64)
        assert len(ours) == len(theirs) and sorted(map(tuple, ours)) == sorted(map(tuple, theirs))
