"""A region divided into draft grids, with the figures a planner checks them by.

:func:`divide` takes the region, its roads and its buildings (points or footprints with
households and population), forms street blocks (``gis.division.blocks``), groups them
(``gis.division.partition``) and, while some grid stays outside ``[low, high]`` households,
cuts the street faces of that grid and its neighbours finer (pieces of about a quarter of
the target) and groups again — so boundaries follow roads wherever the balance allows, and
leave them only where it does not (at most :data:`ROUNDS` rounds).  A grid still out of range
is named with the reason: a building holding more households than a grid may, a part of the
region cut off from the rest with too few, or blocks that cannot be balanced further.

Figures per grid and overall: households, population, buildings, area (m², geodesic),
compactness (Polsby–Popper 4πA/P², geodesic area and perimeter), the share of its boundary
on roads (the region's own outline excluded) and the deviation from the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import shapely

from gis.division.blocks import (
    absorb_empty,
    home_faces,
    make_blocks,
    renode,
    street_faces,
    whole_buildings,
)
from gis.division.partition import Geometry, Partition, polsby_popper
from gis.geo.geodesy import LocalFrame, geodesic_area_m2, geodesic_length_m
from gis.store.stored_form import STORAGE_GRID_DEG

ROUNDS = 4
"""Rounds of grouping at most (each after cutting the faces of out-of-range grids finer)."""
FINE_SHARE = 0.25
"""A finer cut makes pieces of about this share of the target households."""
ROAD_TOLERANCE_DEG = 2 * STORAGE_GRID_DEG
"""A grid boundary within this of a road lies on it (the faces were noded on the grid)."""


@dataclass(frozen=True)
class Targets:
    """Households per grid: the target and the allowed range."""

    target: int = 350
    low: int = 300
    high: int = 500


@dataclass
class Division:
    """Draft grids (lon/lat polygons) and, per grid, its blocks' buildings and figures."""

    grids: np.ndarray
    buildings: list[np.ndarray]
    """Per grid the indexes of its buildings in the input."""
    figures: list[dict[str, Any]]
    summary: dict[str, Any]
    units: Any
    """The blocks the grids were grouped from (``gis.division.blocks.Blocks``) and each
    unit's grid: what a benchmark gives other algorithms."""
    labels: np.ndarray


def _out_of_range(households: np.ndarray, targets: Targets) -> np.ndarray:
    return (households < targets.low) | (households > targets.high)


def _grids(polygons: np.ndarray, labels: np.ndarray) -> np.ndarray:
    count = int(labels.max()) + 1
    return np.array(
        [shapely.union_all(polygons[labels == g]) for g in range(count)],
        dtype=object,
    )


def _reason(members: np.ndarray, households: np.ndarray, piece: float, targets: Targets) -> str:
    """Why a grid (its buildings ``members``; ``piece``: the households of the part of the
    region its blocks are joined to) is out of range."""
    if len(members) and households[members].max() > targets.high:
        return "building_too_large"
    if piece < targets.low:
        return "too_few_households"
    return "cannot_balance"


REASONS = {
    "building_too_large": "一栋楼的户数超过网格上限，无法拆分 (one building holds more households "
    "than a grid may)",
    "too_few_households": "该片区与其他部分不相连，户数不足下限 (a part of the region cut off "
    "from the rest holds too few households)",
    "cannot_balance": "周边街块无法进一步均衡 (the blocks around it cannot be balanced further)",
}


def divide(
    region: Any,
    roads: Any,
    footprints: np.ndarray,
    households: np.ndarray,
    population: np.ndarray,
    targets: Targets = Targets(),
) -> Division:
    """Draft grids partitioning ``region`` (see the module docstring); buildings whose point
    is outside the region are left out (``they belong to no grid)."""
    footprints = np.asarray(footprints, dtype=object)
    probes = shapely.point_on_surface(footprints)
    inside = shapely.covered_by(probes, region)
    footprints, probes = footprints[inside], probes[inside]
    households = np.asarray(households, float)[inside]
    population = np.asarray(population, float)[inside]
    frame = LocalFrame.around(*shapely.get_coordinates(region).T)
    faces = street_faces(region, roads)
    home = home_faces(faces, probes) if len(footprints) else np.zeros(0, np.int64)
    faces = whole_buildings(faces, footprints, home, region)
    largest = np.full(len(faces), float(targets.high))
    for _ in range(ROUNDS):
        cut = make_blocks(faces, home, footprints, households, population, largest, frame)
        blocks, unit_of = absorb_empty(cut, Geometry.of(frame.geometries(cut.polygons)).graph)
        blocks.polygons = renode(blocks.polygons, region)
        geo = Geometry.of(frame.geometries(blocks.polygons))
        partition = Partition(geo, blocks.households, targets.target, targets.low, targets.high)
        labels = partition.divide()
        held = np.bincount(labels, blocks.households)
        bad = np.flatnonzero(_out_of_range(held, targets))
        near = set(bad.tolist())
        for u, v in geo.graph.edges():
            if labels[u] in near or labels[v] in near:
                near |= {int(labels[u]), int(labels[v])}
        finer = np.unique(cut.face[np.isin(labels[unit_of], list(near))])
        finer = finer[largest[finer] > targets.target * FINE_SHARE]
        if not len(bad) or not len(finer):
            break
        largest[finer] = targets.target * FINE_SHARE
    grids = _grids(blocks.polygons, labels)
    members = [
        np.concatenate([blocks.buildings[b] for b in np.flatnonzero(labels == g)]).astype(int)
        for g in range(len(grids))
    ]
    figures = _figures(grids, members, households, population, roads, region, targets)
    for g in np.flatnonzero(_out_of_range(held, targets)):
        block = int(np.flatnonzero(labels == g)[0])
        piece = blocks.households[list(nx.node_connected_component(geo.graph, block))].sum()
        reason = _reason(members[g], households, float(piece), targets)
        figures[g]["out_of_range"] = {"code": reason, "message": REASONS[reason]}
    kept = np.flatnonzero(inside)
    members = [kept[m] for m in members]
    summary = _summary(figures, targets, len(blocks))
    return Division(grids, members, figures, summary, blocks, labels)


def _figures(
    grids: np.ndarray,
    members: list[np.ndarray],
    households: np.ndarray,
    population: np.ndarray,
    roads: Any,
    region: Any,
    targets: Targets,
) -> list[dict[str, Any]]:
    area = geodesic_area_m2(grids)
    perimeter = geodesic_length_m(grids)
    roads = np.asarray(roads, dtype=object)
    roads = roads[shapely.dwithin(roads, region, ROAD_TOLERANCE_DEG)] if len(roads) else roads
    # each line buffered, then united: their union buffered (coarser joins), ~7× faster
    near_roads = (
        shapely.union_all(shapely.buffer(roads, ROAD_TOLERANCE_DEG, quad_segs=2))
        if len(roads)
        else None
    )
    outline = shapely.buffer(region.boundary, ROAD_TOLERANCE_DEG)
    found = []
    for g, grid in enumerate(grids):
        inner = shapely.difference(grid.boundary, outline)
        inner_m = float(geodesic_length_m(inner)[0])
        on_roads = (
            float(geodesic_length_m(shapely.intersection(inner, near_roads))[0])
            if near_roads is not None
            else 0.0
        )
        held = float(households[members[g]].sum())
        found.append(
            {
                "households": round(held),
                "population": round(float(population[members[g]].sum())),
                "buildings": len(members[g]),
                "area_m2": round(float(area[g]), 1),
                "compactness": round(polsby_popper(float(area[g]), float(perimeter[g])), 4),
                "road_share": round(on_roads / inner_m, 4) if inner_m > 0 else None,
                "deviation": round((held - targets.target) / targets.target, 4),
            }
        )
    return found


def _summary(figures: list[dict[str, Any]], targets: Targets, blocks: int) -> dict[str, Any]:
    held = np.array([f["households"] for f in figures], float)
    shares = [f["road_share"] for f in figures if f["road_share"] is not None]
    return {
        "grids": len(figures),
        "blocks": blocks,
        "target_households": targets.target,
        "households_range": [targets.low, targets.high],
        "households": int(held.sum()),
        "households_min": int(held.min()) if len(held) else 0,
        "households_max": int(held.max()) if len(held) else 0,
        "households_std": round(float(held.std()), 1) if len(held) else 0.0,
        "worst_deviation": round(float(np.abs(held - targets.target).max() / targets.target), 4)
        if len(held)
        else 0.0,
        "mean_compactness": round(float(np.mean([f["compactness"] for f in figures])), 4),
        "road_share": round(float(np.mean(shares)), 4) if shares else None,
        "out_of_range": [i for i, f in enumerate(figures) if "out_of_range" in f],
    }
