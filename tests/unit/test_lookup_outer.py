"""The coverage's outline (gis.query.lookup_outer): no edge of it lost, and a point outside
every grid answered on it exactly as the full search answers it (itself checked against
PostGIS in tests/db/test_lookup_nearest.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree

from gis.query import _outer, cell_shapes, lookup_outer
from gis.query.cell_shapes import outlines
from gis.query.cells import CellIndex
from gis.query.lookup_arrays import index_arrays, level_arrays
from gis.query.lookup_index import LOCAL_M, GridIndex
from gis.query.lookup_outer import outer_edges
from gis.query.lookup_read import LevelRows, from_rows


def _cells(n: int, seed: int) -> np.ndarray:
    """``n`` Voronoi cells over a box, every 53rd left out (holes in the coverage), every
    other one turned clockwise (PostGIS keeps rings as they were uploaded)."""
    rng = np.random.default_rng(seed)
    box = shapely.box(118.0, 40.0, 118.2, 40.12)
    seeds = shapely.multipoints(rng.uniform((118.0, 40.0), (118.2, 40.12), size=(n, 2)))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds)), box)
    cells = np.delete(cells[~shapely.is_empty(cells)], np.arange(0, n, 53))
    cells[::2] = shapely.reverse(cells[::2])
    return cells


def _rows(polygons: np.ndarray) -> list[dict]:
    fields = ("households", "population", "grid_worker", "grid_worker_phone", "party_branch")
    return [
        {
            "code": f"G{i:05d}",
            "name": f"网格{i}",
            "level": "grid",
            "parent_code": None,
            "wkb": shapely.to_wkb(p),
            **dict.fromkeys(fields),
        }
        for i, p in enumerate(polygons)
    ]


def _with_and_without(polygons: np.ndarray) -> tuple[GridIndex, GridIndex]:
    """An index of ``polygons`` answering on the outline, and one with the full search
    alone (neither keeping lists: every point is a first one)."""
    arrays = index_arrays(_rows(polygons))
    outer = GridIndex(1, arrays)
    full = GridIndex(1, {k: v for k, v in arrays.items() if not k.startswith("outer.")})
    assert outer.outer is not None and full.outer is None
    for index in (outer, full):
        assert index.near_lists is not None
        index.near_lists.nearest = lambda x, y: None  # type: ignore[method-assign]
    return outer, full


def _edge_set(polygons: np.ndarray) -> set[tuple[float, ...]]:
    """Every edge of the polygons, its ends in a fixed order."""
    found = set()
    for coords, ring, _, _ in outlines(polygons):
        same = ring[1:] == ring[:-1]
        for a, b in zip(coords[:-1][same].tolist(), coords[1:][same].tolist(), strict=True):
            found.add((*min(a, b), *max(a, b)))
    return found


@pytest.mark.parametrize(
    "part", [None, 3000, 40], ids=["one part", "windows of 3000 edges", "windows of 40 edges"]
)
def test_every_edge_of_the_coverage_s_outline_is_kept(
    part: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Oracle: GEOS's union of the cells.  Every edge lying on the union's outline is kept
    (in a hole too); the edges two cells share are dropped — unless two overlapping cells
    share one from the same side (a copy of a cell: its edges are on the outline).  Matched
    in windows (chunks of 50 cells; a few cells a window), the edges between windows are
    matched after: the same edges are kept as at once."""
    cells = _cells(2000, 3)
    copy = cells[shapely.intersects_xy(cells, 118.0, 40.0)][0]  # at a corner of the coverage
    polygons = np.append(cells, copy)
    whole = outer_edges(outlines(cells))
    if part:
        monkeypatch.setattr(cell_shapes, "OUTLINE_CHUNK", 50)
        monkeypatch.setattr(lookup_outer, "WINDOW_EDGES", part)
    alone = outer_edges(outlines(cells))
    assert alone is not None and whole is not None
    assert sorted(map(tuple, np.column_stack(alone).tolist())) == sorted(
        map(tuple, np.column_stack(whole).tolist())
    )
    found = outer_edges(outlines(polygons))
    assert found is not None
    kept = {(*min(e[:2], e[2:]), *max(e[:2], e[2:])) for e in found[0].tolist()}
    outline = shapely.boundary(shapely.union_all(cells))
    every = _edge_set(cells)
    middle = {e: shapely.Point((e[0] + e[2]) / 2, (e[1] + e[3]) / 2) for e in every}
    on_outline = {e for e, m in middle.items() if shapely.distance(outline, m) < 1e-12}
    assert on_outline <= kept
    assert _edge_set(np.array([copy])) <= kept, "a copy's edges are shared from the same side"
    assert len(on_outline) > 300 and len(kept) < len(every) / 4


def test_points_outside_are_answered_as_the_full_search_answers() -> None:
    """Points in the holes, around the cells out to 40 km, on the outline's vertices and a
    hair off them: the same grid, the same metres (to float noise) as the full search."""
    cells = _cells(1500, 5)
    outer, full = _with_and_without(cells)
    rng = np.random.default_rng(9)
    lon = rng.uniform(117.7, 118.5, 6000)
    lat = rng.uniform(39.8, 40.35, 6000)
    vertices = shapely.get_coordinates(shapely.boundary(shapely.union_all(cells)))[::3]
    lon = np.r_[lon, vertices[:, 0], vertices[:, 0] + rng.normal(0, 1e-6, len(vertices))]
    lat = np.r_[lat, vertices[:, 1], vertices[:, 1] + rng.normal(0, 1e-6, len(vertices))]
    outside = outer.covering(lon, lat) < 0
    assert outside.sum() > 3000
    assert outer.outer is not None
    for x, y in zip(lon[outside].tolist(), lat[outside].tolist(), strict=True):
        got, want = outer.outer.nearest(x, y, LOCAL_M), full.nearest_point(x, y)
        assert got is not None and got[0] == want[0]
        assert math.isclose(got[1], want[1], rel_tol=1e-9, abs_tol=1e-9)
        assert outer.nearest_point(x, y) == got
    assert outer.outer.nearest(117.0, 40.0, LOCAL_M) is None, "beyond 50 km: the full search"


def test_grids_meeting_where_the_outline_turns_tie_and_the_lowest_answers() -> None:
    """Three grids meet at a vertex of the outline, the middle one (the lowest code) by two
    shared edges alone: a point straight below the vertex is as near to each, and the
    lowest code answers — as PostGIS orders ties."""
    x, y, d = 118.0, 40.0, 0.001
    middle = shapely.Polygon([(x, y), (x + d, y + d), (x - d, y + d)])
    left = shapely.Polygon([(x - d, y), (x, y), (x - d, y + d)])
    right = shapely.Polygon([(x, y), (x + d, y), (x + d, y + d)])
    outer, full = _with_and_without(np.array([middle, left, right]))
    below = (x, y - d / 3)
    assert outer.nearest_point(*below) == full.nearest_point(*below)
    assert outer.nearest_point(*below)[0] == 0


def test_above_the_cap_the_index_has_no_outer_edges_and_the_full_search_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An outline of more samples than each worker's k-d tree may hold: no ``outer.*``
    arrays, and outside points get the full search's answers."""
    cells = _cells(300, 7)
    with_outer, _ = _with_and_without(cells)
    monkeypatch.setattr(lookup_outer, "MAX_SAMPLES", 1000)
    arrays = index_arrays(_rows(cells))
    assert not any(name.startswith("outer.") for name in arrays)
    capped = GridIndex(1, arrays)
    assert capped.outer is None
    for x, y in [(117.99, 40.05), (118.3, 40.2), (118.1, 39.9)]:
        assert capped.nearest_point(x, y)[0] == with_outer.nearest_point(x, y)[0]


def test_ring_edges_tell_the_side_of_each_ring_s_polygon() -> None:
    """A shell counter-clockwise has its polygon on the left of its edges, clockwise on the
    right; a hole the other way round.  No edge from a ring's last vertex to the next's."""
    square = np.array([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], float)
    coords = np.concatenate([square, square[::-1], square * 0.5 + 0.25, square[::-1] * 0.5])
    ring = np.repeat(np.arange(4), 5)
    hole = np.array([False, False, True, True])
    starts, owner, right = np.empty(20, np.int64), np.empty(20, np.int64), np.empty(20, bool)
    m = _outer.ring_edges(coords, ring, np.array([7, 8, 7, 8]), hole, starts, owner, right)
    assert m == 16
    assert starts[:m].tolist() == [i for i in range(20) if i % 5 != 4]
    assert owner[:m].tolist() == [7] * 4 + [8] * 4 + [7] * 4 + [8] * 4
    assert right[:m].tolist() == [False] * 4 + [True] * 4 + [True] * 4 + [False] * 4


def test_the_compiled_matching_refuses_what_it_cannot_read() -> None:
    """Edges starting outside the coordinates, an edge without a polygon when windows are
    asked for, arrays of the wrong lengths or items: a Python error, nothing read amiss."""
    coords = np.zeros((3, 2))
    one = np.ones(2, bool)

    def survive(starts: list[int], owner: list[int], per: int = 1, **arrays: np.ndarray) -> None:
        _outer.survive(
            arrays.get("coords", coords),
            np.array(starts, np.int64),
            one,
            np.array(owner, np.int64),
            arrays.get("candidate", one),
            per,
            np.empty(2, bool),
            np.empty(2, bool),
        )

    survive([0, 1], [0, 0])
    for starts, owner, per in (([0, 2], [0, 0], 1), ([-1, 0], [0, 0], 1), ([0, 1], [0, -1], 1)):
        with pytest.raises(ValueError):
            survive(starts, owner, per)
    survive([0, 1], [0, -1], 0)  # all at once: no window asked for
    with pytest.raises(ValueError):
        survive([0, 1], [0, 0], candidate=np.ones(3, bool))
    with pytest.raises(TypeError):
        survive([0, 1], [0, 0], coords=np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError):
        _outer.ring_edges(
            coords,
            np.array([0, 0, 1]),
            np.zeros(1, np.int64),
            np.zeros(1, bool),
            *(np.empty(3, t) for t in (np.int64, np.int64, bool)),
        )


def test_a_negative_zero_is_the_same_vertex() -> None:
    """An edge on the meridian 0° written with -0.0 and its twin with 0.0 (the other
    polygon on the other side) are matched, as the same coordinates are (== holds)."""
    coords = np.array([(0.0, 0.0), (0.0, 1.0), (-0.0, 1.0), (-0.0, 0.0)])
    outer, kept = np.empty(2, bool), np.empty(2, bool)
    sides = np.zeros(2, bool)  # both polygons on the left: the twin runs the other way
    _outer.survive(coords, np.array([0, 2]), sides, np.array([0, 1]), ~sides, 0, outer, kept)
    assert not outer.any() and not kept.any()


def test_the_grids_rows_are_let_go_before_their_cells_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build's peak is the grids' cells and outline, made together; the grids' fields
    (hundreds of MB of a province's) are in the arrays by then and not held."""
    rows = _rows(_cells(300, 3))
    read: dict[str, LevelRows] = {}
    held_at_cells: list[int] = []
    make = CellIndex.arrays

    def arrays(index: CellIndex) -> dict[str, np.ndarray]:
        held_at_cells.append(len(read["grid"].rows))
        return make(index)

    monkeypatch.setattr(CellIndex, "arrays", arrays)
    made = level_arrays(lambda level: read.setdefault(level, from_rows(rows, level)))
    assert held_at_cells == [0]
    assert len(made["grid.offsets"]) == len(rows) + 1 and made["grid.records"].size


class _CountingTree:
    """A k-d tree that counts its nearest-sample queries."""

    def __init__(self, tree: object) -> None:
        self.tree, self.queries = tree, 0

    def query(self, *args: object) -> object:
        self.queries += 1
        return self.tree.query(*args)  # type: ignore[attr-defined]

    def query_ball_point(self, *args: object) -> object:
        return self.tree.query_ball_point(*args)  # type: ignore[attr-defined]


def test_a_block_s_two_searches_at_its_centre_query_the_tree_once() -> None:
    """A block's list searches at its centre twice (close grids, then those in reach): the
    nearest sample is found once (~30–100 µs a query), and the answers are the same."""
    outer, _ = _with_and_without(_cells(300, 5))
    edges = outer.outer
    assert edges is not None
    close, near = edges.grids(118.31, 40.21, 0.0), edges.grids(118.31, 40.21, 900.0)
    edges._tree = _CountingTree(edges._tree)  # type: ignore[assignment]
    edges._last = None
    assert edges.grids(118.31, 40.21, 0.0).tolist() == close.tolist()
    assert edges.grids(118.31, 40.21, 900.0).tolist() == near.tolist()
    assert edges._tree.queries == 1  # type: ignore[attr-defined]
    edges.grids(118.32, 40.21, 0.0)
    assert edges._tree.queries == 2  # type: ignore[attr-defined]


def test_the_tree_is_made_with_the_index_off_the_request_path() -> None:
    """A worker's first point outside every grid does not wait for the k-d tree (~115 ms at
    990 066 grids): the index's loader (a thread of its own) made it."""
    outer, _ = _with_and_without(_cells(300, 5))
    assert outer.outer is not None and isinstance(outer.outer._tree, cKDTree)
