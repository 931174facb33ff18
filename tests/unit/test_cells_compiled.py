"""The cell index's compiled loops (gis/query/_cells.c) answer what GEOS ``covers`` answers
over mapped WKB: points on and a hair beside edges left to GEOS, WKB the reader does not take
left to GEOS, short WKB never read past its end."""

from __future__ import annotations

import numpy as np
import shapely

from gis.query import _cells
from gis.query.cell_shapes import LONG_BYTES, LONG_KEPT, WkbShapes, wkb_outlines
from gis.query.cells import CellIndex
from gis.query.lookup_arrays import _blob


def _mapped(polygons: np.ndarray, wkb: list[bytes] | None = None) -> CellIndex:
    """A cell index over ``polygons`` read from one WKB blob, as an index file maps them."""
    wkb = wkb if wkb is not None else list(shapely.to_wkb(polygons))
    blob, offsets = _blob(wkb)
    bounds = shapely.bounds(polygons)
    return CellIndex(WkbShapes(blob, offsets), bounds, lambda: wkb_outlines(blob, offsets))


def _oracle(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[int]:
    """The lowest index of a polygon covering each point (GEOS), -1 for none."""
    covers = shapely.covers(polygons[:, None], shapely.points(x, y)[None, :])
    return [int(np.flatnonzero(c)[0]) if c.any() else -1 for c in covers.T]


def _city(rng: np.random.Generator) -> np.ndarray:
    """Voronoi grids over a box, every 37th left out (gaps), with a holed grid, a grid in
    two parts (a multipolygon) beside them (a cell index's polygons do not overlap)."""
    box = shapely.box(118.0, 40.0, 118.1, 40.06)
    seeds = shapely.multipoints(rng.uniform((118.0, 40.0), (118.1, 40.06), size=(400, 2)))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds)), box)
    cells = np.delete(cells[~shapely.is_empty(cells)], np.arange(0, 400, 37))
    far = shapely.box(118.2, 40.0, 118.21, 40.01)
    holed = far.difference(shapely.box(118.203, 40.003, 118.206, 40.006))
    two = shapely.MultiPolygon(
        [shapely.box(118.22, 40.0, 118.23, 40.01), shapely.box(118.24, 40.0, 118.25, 40.01)]
    )
    return np.r_[cells, holed, two]


def _probes(
    polygons: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices, edge midpoints, points 1e-10° and 3e-9° beside edges (within and beyond
    the compiled test's guard), random points over the box, a lattice over the grids beside
    it; and the edges' first vertices."""
    rings = [shapely.get_coordinates(r) for r in shapely.get_rings(shapely.get_parts(polygons))]
    a, b = np.vstack([r[:-1] for r in rings]), np.vstack([r[1:] for r in rings])
    mid = (a + b) / 2
    normal = np.column_stack([-(b - a)[:, 1], (b - a)[:, 0]])
    normal /= np.maximum(np.hypot(*normal.T), 1e-300)[:, None]
    beside = [mid + s * normal for s in (1e-10, -1e-10, 3e-9, -3e-9)]
    random = rng.uniform((117.99, 39.99), (118.26, 40.07), size=(20_000, 2))
    beyond = np.mgrid[118.2:118.26:0.00051, 40.0:40.01:0.00051].reshape(2, -1).T
    points = np.vstack([a, mid, *beside, random, beyond])
    return points[:, 0].copy(), points[:, 1].copy(), a


def test_compiled_cells_answer_geos_covers_on_mapped_wkb() -> None:
    rng = np.random.default_rng(23)
    polygons = _city(rng)
    index = _mapped(polygons)
    x, y, edges = _probes(polygons, rng)
    expected = _oracle(polygons, x, y)
    pairs = list(zip(x.tolist(), y.tolist(), strict=True))
    assert [index.covering_point(px, py) for px, py in pairs] == expected
    raw = np.array([index._scan.covering(px, py) for px, py in pairs])
    decided = raw != _cells.UNDECIDED
    n_edges = len(edges)
    # on an edge, at a vertex, 1e-10° beside: GEOS decides; 3e-9° beside and most random
    # points: the compiled test does, and agrees
    assert not decided[: n_edges * 4].any()
    assert decided[n_edges * 5 :].mean() > 0.99
    assert (raw[decided] == np.array(expected)[decided]).all()
    assert (raw[decided] >= 0).sum() > 1000 and (raw[decided] == -1).sum() > 100
    assert (raw == len(polygons) - 1).sum() > 20 and (raw == len(polygons) - 2).sum() > 20


def test_a_long_outline_is_left_to_geos_prepared() -> None:
    """A candidate of more than ``LONG_BYTES`` of WKB (a county's outline among a level's
    regions) is not scanned vertex by vertex: its mixed cells' points are undecided by the
    compiled test, and GEOS (prepared, kept with the decoded polygon) answers them; a
    street-sized outline beside it is still scanned (decided by the compiled test)."""
    rng = np.random.default_rng(41)
    long = shapely.segmentize(shapely.Point(118.05, 40.03).buffer(0.02, 256), 0.000006)
    street = shapely.segmentize(shapely.box(118.08, 40.0, 118.1, 40.02).difference(long), 2e-5)
    polygons = np.array([long, street])
    assert len(shapely.to_wkb(long)) > LONG_BYTES > len(shapely.to_wkb(street)) > 16 * 1024
    index = _mapped(polygons)
    x, y, edges = _probes(polygons, rng)
    some = np.r_[np.arange(0, len(edges) * 6, 11), np.arange(len(edges) * 6, len(x))]
    angle, radius = rng.uniform(0, 2 * np.pi, 500), rng.uniform(0.01998, 0.0199998, 500)
    x = np.r_[x[some], 118.05 + radius * np.cos(angle)]  # an edge's probes in eleven, the
    y = np.r_[y[some], 40.03 + radius * np.sin(angle)]  # random points, 500 inside the ring
    pairs = list(zip(x.tolist(), y.tolist(), strict=True))
    assert [index.covering_point(px, py) for px, py in pairs] == _oracle(polygons, x, y)
    raw = np.array([index._scan.covering(px, py) for px, py in pairs])
    assert (raw[-500:] == _cells.UNDECIDED).mean() > 0.9, "the ring's mixed cells: GEOS's"
    assert (raw == 0).sum() > 100, "inside the long outline's whole cells: the label alone"
    assert shapely.is_prepared(index.polygons.one(0))
    east = rng.uniform((118.0995, 40.001), (118.09999, 40.019), size=(300, 2))  # the street's
    assert [index._scan.covering(px, py) for px, py in east.tolist()] == [1] * 300


def test_long_polygons_kept_prepared_are_bounded() -> None:
    """A worker keeps the last ``LONG_KEPT`` long polygons prepared (~52 bytes a vertex),
    apart from the short ones' cache: the most recent answer from it."""
    rings = [shapely.Point(118 + i, 40).buffer(0.1, 4500) for i in range(LONG_KEPT + 6)]
    shapes = WkbShapes(*_blob(list(shapely.to_wkb(rings))))
    for i in range(len(rings)):
        assert shapely.is_prepared(shapes.one(i)) and shapes.one(i).equals(rings[i])
    assert len(shapes._long) == LONG_KEPT and not shapes._decoded
    assert list(shapes._long) == list(range(6, len(rings)))


def test_wkb_the_compiled_reader_does_not_take_is_left_to_geos() -> None:
    """Big-endian, 3D and truncated WKB: undecided, never misread (GEOS answers the point
    where the WKB is whole; a short one is never read past its end).  The points lie beside
    the shared edge, in the mixed cells whose candidates are read."""
    square = shapely.segmentize(shapely.box(0, 0, 1, 1), 0.05)
    shifted = shapely.transform(square, lambda c: c + np.array([1.0, 0.0]))
    polygons = np.array([square, shifted])
    points = [(0.99999, 0.3), (1.00001, 0.3), (1.0, 0.3)]
    whole = [shapely.to_wkb(square), shapely.to_wkb(shifted)]
    assert [_mapped(polygons, whole)._scan.covering(*p) for p in points] == [0, 1, -2]
    odd = _mapped(
        polygons, [shapely.to_wkb(square, byte_order=0), shapely.to_wkb(shapely.force_3d(shifted))]
    )
    assert [odd._scan.covering(*p) for p in points] == [-2, -2, -2]
    assert [odd.covering_point(*p) for p in points] == [0, 1, 0]
    index = _mapped(polygons, whole)
    for cut in (3, 9, 13, len(whole[0]) - 8):  # the same cells over a short first polygon
        index.polygons = WkbShapes(*_blob([whole[0][:cut], whole[1]]))
        assert index._compiled().covering(0.99999, 0.3) == _cells.UNDECIDED
