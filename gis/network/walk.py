"""Walking distances along the network (``gis.network.build``) with pgRouting.

A place off the network — a building's door, a centre — joins it at the nearest point of the
nearest edge (:func:`snap`): its distance is the straight walk to that point (``access_m``)
plus the walk along the edge to either end (``along_m`` from the edge's source, the rest
to its target).  Distances from many centres are one Dijkstra (``pgr_drivingDistance``) from
a virtual source joined to both ends of each centre's edge, each join costing the centre's
own walk to that end plus its *head start*:

- head start 0: the distance to the nearest centre;
- head start ``R - r_c`` (``R`` the largest service distance, ``r_c`` the centre's): a place
  is within its own centre's service distance of some centre exactly when its distance is
  at most ``R`` — coverage by centres with different distances in one search.

The virtual joins are written into the edges query as numbers (a standby cannot create a
temporary table).  A place on the same edge as a centre may also walk straight along the
edge to it, which the joins at the edge's ends do not offer: that path is added here.
Metres throughout (lengths geodesic, ``gis.network.build``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, text

from gis.errors import Conflict, Unavailable
from gis.geo.geodesy import GEOD, LocalFrame

SOURCE = -1
"""The virtual source's node id (the network's ids are positive)."""
MARGIN_M = 2_000.0
"""Edges are read within this distance of the places' bounding box; a place farther than
this from all of them has every edge read for it."""

_EDGES_NEAR = """
SELECT id, source, target, length_m, ST_AsBinary(geom) FROM walk_edges
WHERE :everywhere OR geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)
"""

EDGES_SQL = "SELECT id, source, target, length_m AS cost, length_m AS reverse_cost FROM walk_edges"
"""The network for pgRouting: every edge walkable both ways."""


@dataclass(frozen=True)
class Snaps:
    """Where places join the network, as columns: the edge, its ends and length, the metres
    along it from its source, and the straight walk from the place to it."""

    edge: np.ndarray
    source: np.ndarray
    target: np.ndarray
    length_m: np.ndarray
    along_m: np.ndarray
    access_m: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


def _no_roads() -> Conflict:
    return Conflict(
        "尚未上传道路，无法按步行距离分析 (no roads are stored: upload roads first)",
        code="no_road_network",
    )


def _has_pgrouting(conn: Connection) -> bool:
    return bool(
        conn.scalar(text("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgrouting')"))
    )


def has_network(conn: Connection) -> bool:
    """Whether walking distances can be measured: pgRouting is installed and roads stored."""
    return _has_pgrouting(conn) and bool(
        conn.scalar(text("SELECT EXISTS (SELECT FROM walk_edges)"))
    )


def require_network(conn: Connection) -> None:
    """Refuse a walking analysis when the server has no pgRouting (``Unavailable``) or no
    road is stored (``Conflict``)."""
    if not _has_pgrouting(conn):
        raise Unavailable(
            "数据库服务器未安装 pgRouting，无法按步行距离分析 "
            "(the database server has no pgRouting: walking distances are unavailable)",
            code="network_unavailable",
        )
    if not conn.scalar(text("SELECT EXISTS (SELECT FROM walk_edges)")):
        raise _no_roads()


def _edges_near(
    conn: Connection, frame: LocalFrame, lon: np.ndarray, lat: np.ndarray, everywhere: bool
) -> list[Any]:
    dlon, dlat = frame.widen(MARGIN_M) / frame.mx, frame.widen(MARGIN_M) / frame.my
    box = {
        "west": float(lon.min() - dlon),
        "south": float(lat.min() - dlat),
        "east": float(lon.max() + dlon),
        "north": float(lat.max() + dlat),
    }
    return conn.execute(text(_EDGES_NEAR), {"everywhere": everywhere, **box}).all()


def _nearest(rows: list[Any], frame: LocalFrame, lon: np.ndarray, lat: np.ndarray) -> Snaps:
    """Each point's nearest edge of ``rows`` in ``frame`` and where it joins it."""
    ids, sources, targets, lengths = (np.array([r[k] for r in rows]) for k in range(4))
    lines = frame.geometries(shapely.from_wkb([r[4] for r in rows]))
    points = frame.points(lon, lat)
    (_, which) = shapely.STRtree(lines).query_nearest(points, all_matches=False)
    chosen = lines[which]
    frame_along = shapely.line_locate_point(chosen, points)
    frame_length = shapely.length(chosen)
    share = np.divide(frame_along, frame_length, out=np.zeros(len(which)), where=frame_length > 0)
    joins = shapely.get_coordinates(shapely.line_interpolate_point(chosen, frame_along))
    jlon, jlat = frame.inverse(joins[:, 0], joins[:, 1])
    access = np.asarray(GEOD.inv(lon, lat, jlon, jlat)[2], float)
    length = lengths[which].astype(float)
    return Snaps(
        ids[which].astype(np.int64),
        sources[which].astype(np.int64),
        targets[which].astype(np.int64),
        length,
        share * length,
        access,
    )


def snap(conn: Connection, lon: np.ndarray, lat: np.ndarray) -> Snaps:
    """Where each point (lon/lat, EPSG:4326) joins the network: its nearest edge and point
    on it in a local metric frame of the points (``gis.geo.geodesy.LocalFrame``, true
    metres at their middle latitude), the walk to it geodesic, the metres along the edge its
    share of the edge's geodesic length."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if len(lon) == 0:
        ints, floats = np.empty(0, np.int64), np.empty(0)
        return Snaps(ints, ints, ints, floats, floats, floats)
    frame = LocalFrame.around(lon, lat)
    rows = _edges_near(conn, frame, lon, lat, everywhere=False)
    if rows:
        found = _nearest(rows, frame, lon, lat)
        if (found.access_m <= MARGIN_M).all():
            return found
    rows = _edges_near(conn, frame, lon, lat, everywhere=True)
    if not rows:
        raise _no_roads()
    return _nearest(rows, LocalFrame.around(lon, lat), lon, lat)


def start_node(k: int) -> int:
    """The virtual node of source ``k`` when each source is a start of its own."""
    return SOURCE - 1 - k


def edges_sql(sources: Snaps, head_start_m: np.ndarray, *, each: bool = False) -> str:
    """The edges query for pgRouting: the network and the virtual joins of the sources —
    from :data:`SOURCE` (one search from all), or with ``each`` from each source's own
    :func:`start_node` — written as numbers (directed: nothing walks back into a start)."""
    if not np.isfinite(head_start_m).all() or not np.isfinite(sources.access_m).all():
        raise ValueError("head starts and snaps must be finite")
    rows = []
    for k in range(len(sources)):
        start = float(head_start_m[k] + sources.access_m[k])
        along = float(sources.along_m[k])
        rest = max(float(sources.length_m[k]) - along, 0.0)
        origin = start_node(k) if each else SOURCE
        for node, cost in ((sources.source[k], start + along), (sources.target[k], start + rest)):
            rows.append(f"({-1 - len(rows)}, {origin}, {int(node)}, {cost!r}::float8, -1::float8)")
    return f"{EDGES_SQL} UNION ALL SELECT * FROM (VALUES {', '.join(rows)}) j"


def node_distances(
    conn: Connection, sources: Snaps, head_start_m: np.ndarray, limit_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """The network nodes within ``limit_m`` of the nearest source and their distances
    (metres, head start included): one ``pgr_drivingDistance``."""
    if not len(sources):
        return np.empty(0, np.int64), np.empty(0)
    rows = conn.execute(
        text(
            "SELECT node, agg_cost FROM pgr_drivingDistance(:edges, :source, :limit, true) "
            "WHERE node > 0"
        ),
        {"edges": edges_sql(sources, head_start_m), "source": SOURCE, "limit": float(limit_m)},
    ).all()
    nodes = np.array([r[0] for r in rows], np.int64)
    return nodes, np.array([r[1] for r in rows], float)


def via_ends(places: Snaps, nodes: np.ndarray, metres: np.ndarray) -> np.ndarray:
    """Each place's walk to its edge's nearer end plus that end's distance (``nodes`` reached
    at ``metres``; inf through an end not reached), its own walk to the edge not included."""
    size = int(max(places.source.max(initial=0), places.target.max(initial=0))) + 1
    known = np.full(max(size, int(nodes.max(initial=0)) + 1), np.inf)
    known[nodes] = metres
    via_source = known[places.source] + places.along_m
    via_target = known[places.target] + np.maximum(places.length_m - places.along_m, 0.0)
    return np.minimum(via_source, via_target)


def along_edge(places: Snaps, sources: Snaps, head_start_m: np.ndarray) -> np.ndarray:
    """Each place's walk straight along its edge to a source on the same edge (inf when
    none is), the sources' head starts and own walks included, the place's not."""
    best = np.full(len(places), np.inf)
    on_edge: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for k in range(len(sources)):
        start = float(head_start_m[k] + sources.access_m[k])
        on_edge[int(sources.edge[k])].append((float(sources.along_m[k]), start))
    for i in np.flatnonzero(np.isin(places.edge, list(on_edge))):
        for along, start in on_edge[int(places.edge[i])]:
            best[i] = min(best[i], start + abs(float(places.along_m[i]) - along))
    return best


def distances(
    conn: Connection,
    places: Snaps,
    sources: Snaps,
    head_start_m: np.ndarray | None = None,
    limit_m: float = 2_000.0,
) -> np.ndarray:
    """Each place's walking distance in metres from the nearest source (plus its head
    start), ``inf`` beyond ``limit_m``."""
    head = np.zeros(len(sources)) if head_start_m is None else np.asarray(head_start_m, float)
    nodes, metres = node_distances(conn, sources, head, limit_m)
    if not len(places):
        return np.empty(0)
    best = np.minimum(via_ends(places, nodes, metres), along_edge(places, sources, head))
    total = best + places.access_m
    total[total > limit_m] = np.inf
    return total


def within_service(
    conn: Connection, places: Snaps, sources: Snaps, service_m: np.ndarray
) -> np.ndarray:
    """Whether each place is within walking distance of some source, each source its own
    ``service_m``: one search, each source's head start the longest distance less its own."""
    if not len(sources):
        return np.zeros(len(places), bool)
    longest = float(np.max(service_m))
    return distances(conn, places, sources, longest - service_m, longest) <= longest
