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
Metres throughout (lengths geodesic, ``gis.network.build``); the nearest edge is chosen among
the :data:`CANDIDATES` nearest in lon/lat by geodesic distance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from gis.errors import Conflict, Unavailable

CANDIDATES = 4
"""Edges nearest in lon/lat among which the geodesically nearest is taken."""
SOURCE = -1
"""The virtual source's node id (the network's ids are positive)."""

_SNAP = f"""
SELECT e.id, e.source, e.target, e.length_m,
       ST_Length(ST_LineSubstring(e.geom, 0, e.f)::geography) AS along_m,
       ST_Distance(p.g::geography, ST_LineInterpolatePoint(e.geom, e.f)::geography) AS access_m
FROM (
    SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS g
    FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS u(x, y, i)
) p
CROSS JOIN LATERAL (
    SELECT c.*, ST_LineLocatePoint(c.geom, p.g) AS f
    FROM (SELECT * FROM walk_edges ORDER BY geom <-> p.g LIMIT {CANDIDATES}) c
    ORDER BY ST_Distance(c.geom::geography, p.g::geography), c.id
    LIMIT 1
) e
ORDER BY p.i
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


def require_network(conn: Connection) -> None:
    """Refuse a walking analysis when the server has no pgRouting (``Unavailable``) or no
    road is stored (``Conflict``)."""
    if not conn.scalar(
        text("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pgrouting')")
    ):
        raise Unavailable(
            "数据库服务器未安装 pgRouting，无法按步行距离分析 "
            "(the database server has no pgRouting: walking distances are unavailable)",
            code="network_unavailable",
        )
    if not conn.scalar(text("SELECT EXISTS (SELECT FROM walk_edges)")):
        raise Conflict(
            "尚未上传道路，无法按步行距离分析 (no roads are stored: upload roads first)",
            code="no_road_network",
        )


def snap(conn: Connection, lon: np.ndarray, lat: np.ndarray) -> Snaps:
    """Where each point (lon/lat, EPSG:4326) joins the network."""
    if len(lon) == 0:
        empty = np.empty(0)
        return Snaps(empty.astype(np.int64), *(empty.astype(np.int64),) * 2, *(empty,) * 3)
    rows = conn.execute(
        text(_SNAP),
        {"lon": np.asarray(lon, float).tolist(), "lat": np.asarray(lat, float).tolist()},
    ).all()
    cols = list(zip(*rows, strict=True))
    ints = [np.array(c, np.int64) for c in cols[:3]]
    floats = [np.array(c, float) for c in cols[3:]]
    return Snaps(*ints, *floats)


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
) -> dict[int, float]:
    """Each network node's distance (metres, head start included) from the nearest source,
    for the nodes within ``limit_m``."""
    if not len(sources):
        return {}
    rows = conn.execute(
        text("SELECT node, agg_cost FROM pgr_drivingDistance(:edges, :source, :limit, true)"),
        {"edges": edges_sql(sources, head_start_m), "source": SOURCE, "limit": float(limit_m)},
    ).all()
    return {int(node): float(cost) for node, cost in rows if node > 0}


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
    reached = node_distances(conn, sources, head, limit_m)
    if not len(places):
        return np.empty(0)

    def at(nodes: np.ndarray) -> np.ndarray:
        return np.array([reached.get(int(n), np.inf) for n in nodes], float)

    via_source = at(places.source) + places.along_m
    via_target = at(places.target) + np.maximum(places.length_m - places.along_m, 0.0)
    best = np.minimum(via_source, via_target)
    on_edge: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for k in range(len(sources)):
        on_edge[int(sources.edge[k])].append(
            (float(sources.along_m[k]), float(head[k] + sources.access_m[k]))
        )
    for i in np.flatnonzero(np.isin(places.edge, list(on_edge))):
        for along, start in on_edge[int(places.edge[i])]:
            best[i] = min(best[i], start + abs(places.along_m[i] - along))
    total = best + places.access_m
    total[total > limit_m] = np.inf
    return total
