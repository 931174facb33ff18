"""A point outside every grid, measured compiled (gis/query/_near.c): geodesic distances to
great-circle edges measured independently (each edge densified along the geodesic, every
sample measured by ``Geod.inv``) for ``measure_edges`` and ``measure_near``; ``walk`` leaves
to Python what it cannot place."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest

from gis.geo.geodesy import GEOD
from gis.query import _near
from gis.query.lookup_near import measure_edges, measure_near

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
            _near.measure_near(rows, spans, 118.0, 40.0, 0.0, out, False)
    with pytest.raises(ValueError, match="int64"):
        _near.measure_near(rows, np.array([[0.0, 1.0]]), 118.0, 40.0, 0.0, out, False)
    with pytest.raises(ValueError, match="float64 per item"):
        _near.measure_near(rows, np.array([[0, 3]]), 118.0, 40.0, 0.0, out, True)
    with pytest.raises(ValueError, match="7 doubles"):
        _near.measure_near(rows[:, :6].copy(), np.array([[0, 1]]), 118.0, 40.0, 0.0, out, False)
    none = np.empty(0)
    _near.measure_near(rows, np.empty((0, 2), dtype=np.int64), 118.0, 40.0, 0.0, none, False)
    _near.measure_near(rows, np.array([[1, 1]]), 118.0, 40.0, 0.0, out, False)
    assert out[0] == math.inf, "a grid without edges"


def test_walk_sends_points_it_cannot_place_to_python() -> None:
    """No entry, a non-finite or huge coordinate, an entry not shaped as a block's: None
    (the Python that makes entries answers); an entry down the levels is found."""
    frame = (0.0, 0.0, 0.01, 4.0, 16.0)
    box = (0.0, 0.0, 1.0, 1.0)
    leaf = (None, None, None, -1)
    lists = {(0, 50, 50): (None, -1, None, None), (-1, 201, 202): leaf}
    assert _near.walk(lists, 0.5051, 0.5031, *box, *frame) is leaf
    assert _near.walk(lists, 0.5151, 0.5031, *box, *frame) is None  # a block with no entry
    for x in (math.nan, math.inf, 1e300):
        assert _near.walk(lists, x, 0.5, *box, *frame) is None
    assert _near.walk({(0, 50, 50): "not a block"}, 0.505, 0.503, *box, *frame) is None
