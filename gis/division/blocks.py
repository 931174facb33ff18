"""Street blocks: the atoms a division groups into grids.

A region cut by its roads falls into faces — blocks bounded by streets on every side, which
is what "横向到边、纵向到底, along roads" asks a grid to follow.  Faces are formed from the
region's outline and the roads inside it, noded on the storage grid
(``gis.store.stored_form.STORAGE_GRID_DEG``), so the blocks partition the region at storage
precision.  Each building belongs to the block holding its point (a footprint: the point on
its surface).  A block with more households than a grid may hold is cut between its buildings
(:func:`split_block`): along its longer axis at the household-weighted middle, each
footprint kept whole on its side — so no building is split between grids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from gis.geo.geodesy import LocalFrame
from gis.ingest.topology import polygonal
from gis.store.stored_form import STORAGE_GRID_DEG


@dataclass
class Blocks:
    """Blocks as columns: polygons (lon/lat), households and population in each, the
    buildings' indexes in each, whether each was cut from its street face, and that face."""

    polygons: np.ndarray
    households: np.ndarray
    population: np.ndarray
    buildings: list[np.ndarray]
    cut: np.ndarray
    face: np.ndarray

    def __len__(self) -> int:
        return len(self.polygons)


def street_faces(region: Any, roads: Any, lines: Any = None) -> np.ndarray:
    """The faces of ``region`` (a polygon or multipolygon, lon/lat) cut by ``roads`` (lines):
    an exact partition of the region at storage precision (``lines``: linework already
    noded on the grid, the region's outline included, in place of the roads)."""
    if lines is None:
        roads = np.asarray(roads, dtype=object)
        grid = STORAGE_GRID_DEG
        inside = shapely.intersection(roads, region, grid_size=grid) if len(roads) else []
        parts = [region.boundary, *(g for g in np.atleast_1d(inside) if not shapely.is_empty(g))]
        lines = shapely.union_all(parts, grid_size=grid)
    noded = lines
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if not len(faces):
        return np.array([region], dtype=object)
    probe = shapely.point_on_surface(faces)
    return faces[shapely.contains(region, probe)]


def home_faces(faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The index of the face covering each point (on a shared edge, one of them; a point in
    none — on the region's outline, rounded off it — the nearest)."""
    return shapely.STRtree(faces).query_nearest(points, all_matches=False)[1]


def split_block(
    block: Any, footprints: np.ndarray, households: np.ndarray, parts: int, frame: LocalFrame
) -> list[tuple[Any, np.ndarray]]:
    """``block`` cut into ``parts`` pieces of about equal households, each with the indexes
    (into ``footprints``) of its buildings: recursive cuts across the longer axis of the
    buildings, a footprint on the side of its point and never split."""
    index = np.arange(len(footprints))
    if parts <= 1 or len(index) < 2:
        return [(block, index)]
    x, y = frame.forward(*shapely.get_coordinates(shapely.point_on_surface(footprints)).T)
    axis = np.array([1.0, 0.0]) if np.ptp(x) >= np.ptp(y) else np.array([0.0, 1.0])
    along = x * axis[0] + y * axis[1]
    order = np.argsort(along, kind="stable")
    first = parts // 2
    share = np.cumsum(households[order]) / max(households.sum(), 1)
    k = int(np.clip(np.searchsorted(share, first / parts), 0, len(order) - 2))
    cut = (along[order[k]] + along[order[k + 1]]) / 2.0
    side = along <= cut
    x0, y0, x1, y1 = shapely.bounds(frame.geometries(block))
    pad = 10.0 * (abs(x1 - x0) + abs(y1 - y0) + 1.0)
    if axis[0]:
        low = shapely.box(x0 - pad, y0 - pad, cut, y1 + pad)
    else:
        low = shapely.box(x0 - pad, y0 - pad, x1 + pad, cut)
    lon, lat = frame.inverse(*shapely.get_coordinates(low).T)
    half = shapely.polygons(np.column_stack([lon, lat]))
    grid = STORAGE_GRID_DEG
    mine = polygonal(shapely.union_all(footprints[side], grid_size=grid))
    theirs = polygonal(shapely.union_all(footprints[~side], grid_size=grid))
    piece = polygonal(shapely.intersection(block, half, grid_size=grid))
    piece = polygonal(shapely.union(piece, mine, grid_size=grid))
    piece = polygonal(shapely.difference(piece, theirs, grid_size=grid))
    piece = polygonal(shapely.intersection(piece, block, grid_size=grid))
    rest = polygonal(shapely.difference(block, piece, grid_size=grid))
    found = []
    for shape, members, count in ((piece, side, first), (rest, ~side, parts - first)):
        sub = split_block(shape, footprints[members], households[members], count, frame)
        found += [(s, index[members][i]) for s, i in sub]
    return found


def whole_buildings(
    faces: np.ndarray, footprints: np.ndarray, home: np.ndarray, region: Any
) -> np.ndarray:
    """The faces with each footprint that crosses a road wholly in its home face (the face
    of its point): taken out of the others, added to its own — no building is split."""
    areal = shapely.get_dimensions(footprints) == 2
    faces = faces.copy()
    for i in np.flatnonzero(areal & (home >= 0)):
        footprint = footprints[i]
        if shapely.covered_by(footprint, faces[home[i]]):
            continue
        grid = STORAGE_GRID_DEG
        for other in shapely.STRtree(faces).query(footprint, predicate="intersects"):
            if other != home[i]:
                faces[other] = polygonal(
                    shapely.difference(faces[other], footprint, grid_size=grid)
                )
        region_part = polygonal(shapely.intersection(footprint, region, grid_size=grid))
        faces[home[i]] = polygonal(shapely.union(faces[home[i]], region_part, grid_size=grid))
    return faces


def make_blocks(
    faces: np.ndarray,
    home: np.ndarray,
    footprints: np.ndarray,
    households: np.ndarray,
    population: np.ndarray,
    largest: np.ndarray,
    frame: LocalFrame,
) -> Blocks:
    """Blocks of the ``faces`` with their buildings (``home``: each footprint's face), a face
    holding more than its ``largest`` households cut into pieces of about that many."""
    polygons, members, cut, face_of = [], [], [], []
    probes = shapely.point_on_surface(footprints)
    for b, face in enumerate(faces):
        mine = np.flatnonzero(home == b)
        held = households[mine].sum()
        if held <= largest[b] or len(mine) < 2:
            pieces = [(face, mine, False)]
        else:
            parts = int(np.ceil(held / largest[b]))
            split = split_block(face, footprints[mine], households[mine], parts, frame)
            pieces = [(shape, mine[inside], True) for shape, inside in split]
        for shape, inside, was_cut in pieces:
            parts = shapely.get_parts(shape)
            parts = parts[shapely.area(parts) > 0]
            if not len(parts):
                continue  # taken by the footprints of its neighbours' buildings
            nearest = shapely.STRtree(parts).query_nearest(probes[inside], all_matches=False)[1]
            for k, part in enumerate(parts):
                polygons.append(part)
                members.append(inside[nearest == k])
                cut.append(was_cut)
                face_of.append(b)
    return Blocks(
        np.array(polygons, dtype=object),
        np.array([households[m].sum() for m in members], float),
        np.array([population[m].sum() for m in members], float),
        members,
        np.array(cut, bool),
        np.array(face_of, np.int64),
    )


def absorb_empty(blocks: Blocks, graph: Any) -> tuple[Blocks, np.ndarray]:
    """Blocks without households joined to a neighbour with some (breadth first from the
    blocks with households, so each empty block joins the nearest in steps): households can
    then move between grids without an empty strip — a verge, a square — in the way.  A
    part of the region with no households at all stays one unit.  The units, and each
    block's unit."""
    unit = np.full(len(blocks), -1)
    frontier = [b for b in range(len(blocks)) if blocks.households[b] > 0]
    unit[frontier] = frontier
    while frontier:
        nxt = []
        for u in frontier:
            for v in sorted(graph[u], key=lambda v: -graph[u][v]["shared"]):
                if unit[v] < 0:
                    unit[v] = unit[u]
                    nxt.append(v)
        frontier = nxt
    for b in np.flatnonzero(unit < 0):  # no households anywhere in its part
        stack = [int(b)]
        while stack:
            u = stack.pop()
            if unit[u] < 0:
                unit[u] = b
                stack += [v for v in graph[u] if unit[v] < 0]
    heads, index = np.unique(unit, return_inverse=True)
    grid = STORAGE_GRID_DEG
    polygons = np.array(
        [
            polygonal(shapely.union_all(blocks.polygons[index == k], grid_size=grid))
            for k in range(len(heads))
        ],
        dtype=object,
    )
    members = [
        np.concatenate([blocks.buildings[b] for b in np.flatnonzero(index == k)])
        for k in range(len(heads))
    ]
    return (
        Blocks(
            polygons,
            np.bincount(index, blocks.households, len(heads)),
            np.bincount(index, blocks.population, len(heads)),
            [m.astype(np.int64) for m in members],
            blocks.cut[heads],
            blocks.face[heads],
        ),
        index,
    )


def renode(polygons: np.ndarray, region: Any) -> np.ndarray:
    """The same pieces with one shared boundary: every outline noded together on the storage
    grid and the faces handed back to the piece holding them (a sliver of overlap to one of
    the two, a sliver of gap to its nearest).  Cutting a face rounds the cut's ends onto the
    grid, millimetres off the neighbour's edge; this puts every vertex on both sides.  The
    faces' vertices are on the grid already, so they are united exactly (snapping again
    could open a sliver between two pieces)."""
    grid = STORAGE_GRID_DEG
    lines = shapely.union_all([region.boundary, *shapely.boundary(polygons)], grid_size=grid)
    faces = street_faces(region, [], lines=lines)
    probes = shapely.point_on_surface(faces)
    owner = shapely.STRtree(polygons).query_nearest(probes, all_matches=False)[1]
    return np.array(
        [polygonal(shapely.union_all(faces[owner == k])) for k in range(len(polygons))],
        dtype=object,
    )
