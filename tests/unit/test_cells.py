"""The cell index answers exactly what GEOS `covers` answers, on a city of many grids."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.query import _cells, cell_shapes
from gis.query.cell_shapes import WkbShapes, outlines, wkb_outlines
from gis.query.cells import REFINE_FROM, CellIndex


def _oracle(polygons: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Lowest index of a polygon covering each point, by plain STRtree + covers."""
    tree = shapely.STRtree(polygons)
    point, polygon = tree.query(shapely.points(lon, lat), predicate="covered_by")
    found = np.full(len(lon), -1)
    for p, g in zip(point.tolist(), polygon.tolist(), strict=True):
        if found[p] < 0 or g < found[p]:
            found[p] = g
    return found


def _voronoi(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` Voronoi cells over a box, every 97th left out (holes in the coverage)."""
    box = shapely.box(118.0, 40.0, 118.6, 40.4)
    seeds = shapely.multipoints(rng.uniform((118.0, 40.0), (118.6, 40.4), size=(n, 2)))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds)), box)
    cells = cells[~shapely.is_empty(cells)]
    return np.delete(cells, np.arange(0, len(cells), 97))


def test_cells_match_covers_on_3000_voronoi_grids() -> None:
    rng = np.random.default_rng(11)
    cells = _voronoi(3000, rng)
    shapely.prepare(cells)
    index = CellIndex(cells, shapely.bounds(cells))

    coords = np.unique(shapely.get_coordinates(cells), axis=0)
    rings = [shapely.get_coordinates(c.exterior) for c in cells[::5]]
    mids = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])
    random = rng.uniform((117.95, 39.95), (118.65, 40.45), size=(50_000, 2))
    points = np.vstack([coords, mids, random])
    lon, lat = points[:, 0].copy(), points[:, 1].copy()

    found = index.covering(lon, lat)
    assert (found == _oracle(cells, lon, lat)).all()
    one_by_one = [index.covering_point(x, y) for x, y in zip(lon[::7], lat[::7], strict=True)]
    assert one_by_one == found[::7].tolist(), "the single-point path answers the same"
    assert (found[: len(coords)] >= 0).sum() > len(coords) * 0.9, "vertices are covered"
    assert (found < 0).any(), "points in the holes and outside are not"


def _edges(chunks: list[tuple[np.ndarray, ...]]) -> list[tuple[float, ...]]:
    """Every edge as (polygon, whether its ring is a hole, x0, y0, x1, y1), sorted."""
    found = []
    for coords, ring, owner, hole in chunks:
        same = ring[1:] == ring[:-1]
        found += [
            (float(owner[r]), float(hole[r]), *a, *b)
            for r, a, b in zip(
                ring[:-1][same].tolist(),
                coords[:-1][same].tolist(),
                coords[1:][same].tolist(),
                strict=True,
            )
        ]
    return sorted(found)


def test_wkb_outlines_read_every_kind_of_polygon_as_shapely_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The vertices read straight from WKB are shapely's, whatever the layout: one-ring
    polygons and multipolygons (at every offset mod 8), holes, several parts (all read
    compiled), big-endian and 3D WKB (through shapely), in chunks of a few polygons."""
    monkeypatch.setattr(cell_shapes, "OUTLINE_CHUNK", 4)
    square = shapely.segmentize(shapely.box(0, 0, 1, 1), 0.1)
    holed = shapely.Polygon(
        [(2, 0), (4, 0), (4, 2), (2, 2)], [[(2.5, 0.5), (3, 0.5), (3, 1), (2.5, 1)]]
    )
    shapes = [
        square,
        shapely.MultiPolygon([square]),
        holed,
        shapely.MultiPolygon([holed, shapely.box(5, 5, 6, 7)]),
        shapely.force_3d(square, 1.0),
        # plain polygons: 13 + 16 k bytes each, so the next ones start at every offset mod 8
        *(shapely.buffer(shapely.Point(i, -i), 1.0, quad_segs=i + 1) for i in range(10)),
    ]
    wkb = [shapely.to_wkb(s, byte_order=1, output_dimension=3) for s in shapes]
    wkb.append(shapely.to_wkb(square, byte_order=0))
    offsets = np.r_[0, np.cumsum([len(w) for w in wkb])]
    assert len(set((offsets % 8).tolist())) == 8
    blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    polygons = shapely.force_2d(shapely.from_wkb(wkb))
    decoded: list[int] = []
    from_wkb = shapely.from_wkb
    monkeypatch.setattr(shapely, "from_wkb", lambda w: decoded.append(len(w)) or from_wkb(w))
    edges = _edges(list(wkb_outlines(blob, offsets)))
    assert edges == _edges(list(outlines(polygons)))
    holes = {(int(e[0]), e[2], e[3]) for e in edges if e[1]}
    assert holes == {(i, x, y) for i in (2, 3) for x, y in [(2.5, 0.5), (3, 0.5), (3, 1), (2.5, 1)]}
    assert sum(decoded) == 2, "all but the 3D and big-endian read directly"


def test_outline_chunks_are_bounded_by_vertices_not_only_polygons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run of big polygons (a province's communities) is cut by its vertices: no chunk
    holds more than ``OUTLINE_VERTICES`` unless it is one polygon, and the edges are the
    same as in one chunk."""
    rng = np.random.default_rng(5)
    sizes = [*rng.integers(4, 90, size=60).tolist(), 400, 3, 3]
    shapes = [shapely.buffer(shapely.Point(i, 0), 0.4, quad_segs=q) for i, q in enumerate(sizes)]
    polygons = np.array(shapes, dtype=object)
    wkb = [shapely.to_wkb(p, byte_order=1) for p in polygons]
    offsets = np.r_[0, np.cumsum([len(w) for w in wkb])]
    blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    whole = _edges(list(outlines(polygons)))
    monkeypatch.setattr(cell_shapes, "OUTLINE_VERTICES", 500)
    for chunks in (list(outlines(polygons)), list(wkb_outlines(blob, offsets))):
        assert len(chunks) > 10
        for coords, _, owner, _ in chunks:
            assert len(coords) <= 500 or len(np.unique(owner)) == 1
        assert _edges(chunks) == whole


def test_a_cell_lists_only_polygons_whose_outline_passes_through_it() -> None:
    """No spurious candidate: a cell wholly inside a polygon that listed only a neighbour
    (whose edge merely passes a corner nearby) would answer "outside" for its points."""
    cells = _voronoi(30_000, np.random.default_rng(5))
    index = CellIndex(cells, shapely.bounds(cells))
    slots = np.flatnonzero(np.diff(index.candidate_start))
    cell = np.flatnonzero(index.labels <= -2)[slots]
    count = np.diff(index.candidate_start)[slots]
    owner, at = np.repeat(cell, count), np.arange(index.candidate_start[-1])
    row, col = np.divmod(owner, index.nx)
    left, low = index.x0 + col * index.size, index.y0 + row * index.size
    boxes = shapely.box(left, low, left + index.size, low + index.size)
    outlines = shapely.boundary(cells[index.candidates[at]])
    assert len(at) > 500_000
    assert shapely.dwithin(outlines, boxes, 1e-8).all()


def test_coarse_cells_are_refined_and_still_match_covers() -> None:
    """3 000 grids and one town 8° away: over that box the cells are wider than a grid, so
    crowded cells are cut into sub-cells. Answers stay GEOS ``covers``' (vertices, edge
    midpoints, random points), batch and single, and from the flat arrays too; a point
    tests a sub-cell's few polygons, not the crowded cell's many."""
    rng = np.random.default_rng(13)
    town = shapely.box(126.0, 47.0, 126.02, 47.02)
    cells = np.r_[_voronoi(3000, rng), town]
    index = CellIndex(cells, shapely.bounds(cells))
    assert index.split >= REFINE_FROM and len(index.sub_labels)

    coords = np.unique(shapely.get_coordinates(cells), axis=0)
    rings = [shapely.get_coordinates(c.exterior) for c in cells[::3]]
    mids = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])
    random = rng.uniform((117.95, 39.95), (118.65, 40.45), size=(50_000, 2))
    points = np.vstack([coords, mids, random, [(126.01, 47.01), (126.0, 47.0)]])
    lon, lat = points[:, 0].copy(), points[:, 1].copy()
    expected = _oracle(cells, lon, lat)
    assert (index.covering(lon, lat) == expected).all()
    mapped = CellIndex.from_arrays(index.arrays(), cells)
    assert (mapped.covering(lon, lat) == expected).all()
    singles = [mapped.covering_point(x, y) for x, y in zip(lon[::5], lat[::5], strict=True)]
    assert singles == expected[::5].tolist()

    def tested(index: CellIndex, x: np.ndarray, y: np.ndarray) -> float:
        """Mean polygons a point of the random ones is tested against."""
        label = index.labels[
            ((y - index.y0) / index.size).astype(int) * index.nx
            + ((x - index.x0) / index.size).astype(int)
        ]
        if index.split > 1:
            fx, fy = (x - index.x0) / index.size, (y - index.y0) / index.size
            label = index._sub_labels(label, fx, fy)
        slot = -2 - label[label <= -2].astype(np.int64)
        return float(np.diff(index.candidate_start)[slot].sum() / len(x))

    coarse = CellIndex(cells, shapely.bounds(cells))
    coarse.split = 1  # the same cells, unrefined
    x, y = random[:, 0], random[:, 1]
    assert tested(index, x, y) < tested(coarse, x, y) / 3


def _wkb_index(polygons: np.ndarray) -> CellIndex:
    """A cell index over ``polygons`` stored as WKB, as a lookup index holds them."""
    wkb = [shapely.to_wkb(p, byte_order=1) for p in polygons]
    offsets = np.r_[0, np.cumsum([len(w) for w in wkb])]
    blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    return CellIndex(
        WkbShapes(blob, offsets), shapely.bounds(polygons), lambda: wkb_outlines(blob, offsets)
    )


def _boxes(polygons: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    """Boxes (x0, y0, x1, y1) of every size, anywhere, and on the polygons' outlines: a side
    or a corner on a vertex, a hair (1e-10, 3e-9, 1e-8 degrees) off one."""
    vertices = shapely.get_coordinates(polygons)[::7]
    corners = [rng.uniform((117.9, 39.9), (118.6, 40.4), size=(300, 2)), vertices[:300]]
    for hair in (1e-10, 3e-9, 1e-8):
        corners.append(vertices[300:400] + rng.choice([-hair, hair], size=(100, 2)))
    corners = np.vstack(corners)
    sides = rng.choice([size / 40, size / 7, size * 1.5, size * 6], size=len(corners))
    shift = rng.integers(0, 2, size=(len(corners), 2)) * sides[:, None]  # a vertex at any corner
    x0, y0 = (corners - shift).T
    return np.column_stack([x0, y0, x0 + sides, y0 + sides])


def test_compiled_box_relations_are_geos_s_where_decided() -> None:
    """``_cells.Cells.box`` places each polygon its cells list against a box as GEOS does
    (apart: not intersecting; covered: covers; across: intersects without covering), or
    leaves it UNDECIDED — only near the box's sides, so most are decided."""
    rng = np.random.default_rng(23)
    cells = _voronoi(1500, rng)
    holed = shapely.Polygon(
        shapely.box(118.61, 40.0, 118.7, 40.1).exterior,
        [shapely.box(118.63, 40.02, 118.65, 40.04).exterior],
    )
    polygons = np.r_[cells, holed, shapely.MultiPolygon([shapely.box(118.62, 40.3, 118.64, 40.31)])]
    index = _wkb_index(polygons)
    decided, undecided, seen = 0, 0, set()
    for x0, y0, x1, y1 in _boxes(polygons, index.size, rng):
        found = index._scan.box(x0, y0, x1, y1, 1_000_000)
        assert found is not None
        listed, relations = found
        assert listed == sorted(set(listed))
        square = shapely.box(x0, y0, x1, y1)
        for p, how in zip(listed, relations, strict=True):
            if how == _cells.UNDECIDED:
                undecided += 1
                continue
            decided += 1
            meets, covers = square.intersects(polygons[p]), polygons[p].covers(square)
            expected = (
                _cells.BOX_COVERED if covers else _cells.BOX_ACROSS if meets else _cells.BOX_APART
            )
            assert how == expected, (p, (x0, y0, x1, y1))
            seen.add(how)
    assert seen == {_cells.BOX_APART, _cells.BOX_COVERED, _cells.BOX_ACROSS}
    assert decided > 2 * undecided > 0, "two boxes in three have a corner on a vertex"


def test_a_box_s_cover_is_geos_s_over_every_polygon() -> None:
    """``box_cover``: for boxes of every size and on the polygons' outlines, on polygons as
    WKB (the compiled scan) and as shapely (GEOS alone): the polygon covering the box where
    no other meets it, -1 where none meets it, else None — as GEOS answers over all the
    polygons; None also (only) for a box over more than ``most`` cells.  Where polygons
    overlap, an answer is the lowest polygon meeting the box, covering it (what
    ``covering_point`` answers at each of its points)."""
    rng = np.random.default_rng(17)
    cells = _voronoi(2000, rng)
    overlapping = np.r_[cells, shapely.box(118.2, 40.2, 118.25, 40.25)]
    tree = shapely.STRtree(overlapping)
    answers = set()
    for index in (
        _wkb_index(cells),
        CellIndex(cells, shapely.bounds(cells)),
        _wkb_index(overlapping),
    ):
        polygons = overlapping if len(index.polygons) > len(cells) else cells
        for x0, y0, x1, y1 in _boxes(polygons, index.size, rng):
            square = shapely.box(x0, y0, x1, y1)
            meets = sorted(
                p for p in tree.query(square, predicate="intersects") if p < len(polygons)
            )
            found = index.box_cover(x0, y0, x1, y1)
            answers.add("polygon" if found is not None and found >= 0 else found)
            lowest = int(meets[0]) if meets and polygons[meets[0]].covers(square) else None
            if polygons is overlapping:
                assert found in (None, -1 if not meets else lowest), (x0, y0, x1, y1)
            else:
                expected = -1 if not meets else lowest if len(meets) == 1 else None
                assert found == expected, ((x0, y0, x1, y1), found, expected)
        assert index.box_cover(118.0, 40.0, 118.0 + index.size * 9, 40.0 + index.size * 9) is None
    assert answers == {"polygon", -1, None}
