"""The single lookup's compiled loops (gis/query/_point.c) answer what their oracles answer:
GEOS ``covers`` for the cell index over mapped WKB (points on and a hair beside edges left to
GEOS, WKB the reader does not take left to GEOS, short WKB never read past its end), and
geodesic distances to great-circle edges measured independently (each edge densified along
the geodesic, every sample measured by ``Geod.inv``) for ``measure_edges`` and
``measure_near``."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest
import shapely

from gis.geo.geodesy import GEOD
from gis.query import _point
from gis.query.cell_shapes import LONG_BYTES, LONG_KEPT, WkbShapes, wkb_outlines
from gis.query.cells import CellIndex
from gis.query.lookup_arrays import _blob
from gis.query.lookup_near import measure_edges, measure_near


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
    raw = np.array([index._point.covering(px, py) for px, py in pairs])
    decided = raw != _point.UNDECIDED
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
    raw = np.array([index._point.covering(px, py) for px, py in pairs])
    assert (raw[-500:] == _point.UNDECIDED).mean() > 0.9, "the ring's mixed cells: GEOS's"
    assert (raw == 0).sum() > 100, "inside the long outline's whole cells: the label alone"
    assert shapely.is_prepared(index.polygons.one(0))
    east = rng.uniform((118.0995, 40.001), (118.09999, 40.019), size=(300, 2))  # the street's
    assert [index._point.covering(px, py) for px, py in east.tolist()] == [1] * 300


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
    assert [_mapped(polygons, whole)._point.covering(*p) for p in points] == [0, 1, -2]
    odd = _mapped(
        polygons, [shapely.to_wkb(square, byte_order=0), shapely.to_wkb(shapely.force_3d(shifted))]
    )
    assert [odd._point.covering(*p) for p in points] == [-2, -2, -2]
    assert [odd.covering_point(*p) for p in points] == [0, 1, 0]
    index = _mapped(polygons, whole)
    for cut in (3, 9, 13, len(whole[0]) - 8):  # the same cells over a short first polygon
        index.polygons = WkbShapes(*_blob([whole[0][:cut], whole[1]]))
        assert index._compiled().covering(0.99999, 0.3) == _point.UNDECIDED


Edge = tuple[int, tuple[float, float], tuple[float, float]]
"""A grid and an edge's ends (lon, lat)."""


def _packed(edges: list[Edge]) -> array:
    """Edges packed as a block keeps them: grid, then lon, sin lat, cos lat of each end."""
    values: list[float] = []
    for grid, (lon_a, lat_a), (lon_b, lat_b) in edges:
        values += [float(grid), lon_a, math.sin(math.radians(lat_a)), math.cos(math.radians(lat_a))]
        values += [lon_b, math.sin(math.radians(lat_b)), math.cos(math.radians(lat_b))]
    return array("d", values)


def _random_edges(
    rng: np.random.Generator, x: float, y: float, most: int, grids: int, spread: float
) -> list[Edge]:
    """1–``most`` edges up to 0.002° a side long of grids 0–``grids`` - 1, starting within
    ``spread`` degrees of (x, y)."""
    edges = []
    for _ in range(int(rng.integers(1, most + 1))):
        a = (x + rng.uniform(-spread, spread), y + rng.uniform(-spread, spread))
        b = (a[0] + rng.uniform(-0.002, 0.002), a[1] + rng.uniform(-0.002, 0.002))
        edges.append((int(rng.integers(0, grids)), a, b))
    return edges


def _densified(a: tuple[float, float], b: tuple[float, float], x: float, y: float) -> float:
    """Geodesic metres from (x, y) to the edge a–b sampled every ~2 cm along the geodesic."""
    length = GEOD.inv(*a, *b)[2]
    n = max(int(length / 0.02), 2)
    lon, lat = np.array(GEOD.npts(*a, *b, n)).T
    lon, lat = np.r_[a[0], lon, b[0]], np.r_[a[1], lat, b[1]]
    return float(np.min(GEOD.inv(np.full(len(lon), x), np.full(len(lon), y), lon, lat)[2]))


def test_measure_edges_is_the_geodesic_distance_to_the_nearest_edge() -> None:
    """Random blocks of 1–12 edges of 1–4 grids 50–300 m long, points 0–500 m away: the
    grid and metres equal the densified oracle's (to 2 cm: its sampling); an edge shared by
    two grids is a tie, won by the lower grid."""
    rng = np.random.default_rng(29)
    for _ in range(60):
        x, y = float(rng.uniform(73, 135)), float(rng.uniform(18, 53))
        edges = _random_edges(rng, x, y, 12, 4, 0.004)
        grid, metres = measure_edges(_packed(edges), x, y)
        per_grid = {}
        for g, a, b in edges:
            per_grid[g] = min(per_grid.get(g, math.inf), _densified(a, b, x, y))
        least = min(per_grid.values())
        assert metres == pytest.approx(least, abs=0.02)
        assert per_grid[grid] <= least + 0.02
    shared = ((118.0, 40.001), (118.001, 40.001))
    assert measure_edges(_packed([(7, *shared), (3, *shared[::-1])]), 118.0005, 40.0)[0] == 3
    assert measure_edges(_packed([]), 118.0, 40.0) == (-1, math.inf)


def test_measure_edges_refuses_what_is_not_packed_edges() -> None:
    with pytest.raises(ValueError, match="7 doubles"):
        measure_edges(array("d", [1.0] * 8), 118.0, 40.0)
    with pytest.raises(ValueError, match="7 doubles"):
        measure_edges(b"not edges" * 56, 118.0, 40.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        measure_edges([1.0] * 7, 118.0, 40.0)  # type: ignore[arg-type]


def _as_rows(packed: array) -> np.ndarray:
    return np.frombuffer(packed, dtype=float).reshape(-1, 7)


def test_measure_near_is_the_geodesic_distance_where_it_may_be_within_the_least_and_extra() -> None:
    """Random blocks of 1–24 edges of 1–6 grids, points 0–600 m away (and on an edge's end):
    per edge the metres equal the densified oracle's (to 2 cm + 1e-4: an edge is a
    great-circle arc whose point nearest on the sphere is measured, the oracle's a
    geodesic's nearest), per grid ``measure_edges``' on the grid's edges alone (to the bit);
    with an extra, the same values where given and every one within the least + extra given;
    the least is ``measure_edges``' answer."""
    rng = np.random.default_rng(31)
    for trial in range(40):
        x, y = float(rng.uniform(73, 135)), float(rng.uniform(0, 53))
        edges = sorted(_random_edges(rng, x, y, 24, 6, 0.005), key=lambda edge: edge[0])
        if trial % 10 == 0:
            x, y = edges[0][1]
        rows = _as_rows(_packed(edges))
        grids = sorted({g for g, _, _ in edges})
        grid_of = np.array([g for g, _, _ in edges])
        spans = np.column_stack(
            (np.searchsorted(grid_of, grids), np.searchsorted(grid_of, grids, "right"))
        )
        each = measure_near(rows, spans, x, y, math.inf, per_edge=True)
        oracle = np.array([_densified(a, b, x, y) for _, a, b in edges])
        assert (np.abs(each - oracle) <= 0.02 + 1e-4 * oracle).all()
        whole = measure_near(rows, spans, x, y, math.inf)
        alone = [measure_edges(_packed([e for e in edges if e[0] == g]), x, y) for g in grids]
        assert whole.tolist() == [metres for _, metres in alone]
        for extra in (0.0, float(rng.uniform(0, 500))):
            for per_edge, full in ((True, each), (False, whole)):
                got = measure_near(rows, spans, x, y, extra, per_edge=per_edge)
                given = np.isfinite(got)
                assert (got[given] == full[given]).all()
                assert given[full <= full.min() + extra].all()
        assert (grids[int(np.argmin(whole))], float(whole.min())) == measure_edges(
            _packed(edges), x, y
        )


def test_measure_near_keeps_every_edge_due_north_at_the_equator_within_the_bound() -> None:
    """Where the ellipsoid's metres per radian are least (north–south at the equator: the
    meridian's radius of curvature a(1 − e²)), an edge whose metres are the bound to 1 mm is
    still measured: the angle's lower bound never exceeds the metres (and is within 0.1 % of
    them: a bound 0.1 % short leaves the edge out)."""
    x, y = 100.0, 0.0
    for north in (0.0005, 0.005, 0.05, 0.3):
        edges = [(0, (x - 0.001, y + 0.0001), (x + 0.001, y + 0.0001))]
        edges.append((1, (x - 0.001, y + north), (x + 0.001, y + north)))
        rows, spans = _as_rows(_packed(edges)), np.array([[0, 1], [1, 2]])
        near, far = measure_near(rows, spans, x, y, math.inf)
        extra = far - near + 0.001
        assert np.isfinite(measure_near(rows, spans, x, y, extra)).all()
        short = far * 0.999 - near - 0.001  # the bound is within 0.1 %: a little less is beyond
        assert not np.isfinite(measure_near(rows, spans, x, y, short)[1])


def test_measure_near_refuses_spans_and_outputs_that_do_not_fit() -> None:
    rows = _as_rows(_packed([(0, (118.0, 40.0), (118.001, 40.0))] * 3))
    out = np.empty(1)
    for spans in (np.array([[0, 4]]), np.array([[2, 1]]), np.array([[-1, 1]])):
        with pytest.raises(ValueError, match="spans"):
            _point.measure_near(rows, spans, 118.0, 40.0, 0.0, out, False)
    with pytest.raises(ValueError, match="int64"):
        _point.measure_near(rows, np.array([[0.0, 1.0]]), 118.0, 40.0, 0.0, out, False)
    with pytest.raises(ValueError, match="float64 per item"):
        _point.measure_near(rows, np.array([[0, 3]]), 118.0, 40.0, 0.0, out, True)
    with pytest.raises(ValueError, match="7 doubles"):
        _point.measure_near(rows[:, :6].copy(), np.array([[0, 1]]), 118.0, 40.0, 0.0, out, False)
    none = np.empty(0)
    _point.measure_near(rows, np.empty((0, 2), dtype=np.int64), 118.0, 40.0, 0.0, none, False)
    _point.measure_near(rows, np.array([[1, 1]]), 118.0, 40.0, 0.0, out, False)
    assert out[0] == math.inf, "a grid without edges"


def test_walk_sends_points_it_cannot_place_to_python() -> None:
    """No entry, a non-finite or huge coordinate, an entry not shaped as a block's: None
    (the Python that makes entries answers); an entry down the levels is found."""
    frame = (0.0, 0.0, 0.01, 4.0, 16.0)
    box = (0.0, 0.0, 1.0, 1.0)
    leaf = (None, None, None, -1)
    lists = {(0, 50, 50): (None, -1, None, None), (-1, 201, 202): leaf}
    assert _point.walk(lists, 0.5051, 0.5031, *box, *frame) is leaf
    assert _point.walk(lists, 0.5151, 0.5031, *box, *frame) is None  # a block with no entry
    for x in (math.nan, math.inf, 1e300):
        assert _point.walk(lists, x, 0.5, *box, *frame) is None
    assert _point.walk({(0, 50, 50): "not a block"}, 0.505, 0.503, *box, *frame) is None
