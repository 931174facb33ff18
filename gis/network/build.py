"""The walking network, rebuilt from the stored roads inside the transaction that writes them.

The roads are noded by their union (``ST_UnaryUnion``: the same pieces as ``ST_Node``, ten
times faster on a city's streets): cut at every point where two of them cross or touch, so a
path may turn wherever two roads meet, and overlapping stretches kept once.  That is right
for streets at grade and for an OpenStreetMap extract (its ways share their junction nodes);
a flyover that crosses a street without a ramp becomes a junction too (the roads layer has
no levels).
Roads a pedestrian may not use (:data:`NOT_WALKABLE`) are left out, and so are the rivers
and railways the roads layer keeps as barriers (``roads.kind``).  Each piece's length is
geodesic (metres on the WGS84 ellipsoid).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

NOT_WALKABLE = ("motorway", "motorway_link", "高速公路", "高速")
"""``highway`` values of roads closed to pedestrians (OpenStreetMap's and Chinese)."""

_BUILD = """
WITH parts AS (
    SELECT (ST_Dump(ST_UnaryUnion(ST_Collect(geom)))).geom AS geom
    FROM roads
    WHERE kind = 'road' AND (highway IS NULL OR lower(highway) <> ALL(:not_walkable))
), ends AS (
    SELECT DISTINCT ST_X(p) AS x, ST_Y(p) AS y
    FROM parts, LATERAL (VALUES (ST_StartPoint(geom)), (ST_EndPoint(geom))) AS v(p)
), nodes AS (
    INSERT INTO walk_nodes (id, geom)
    SELECT row_number() OVER (ORDER BY x, y), ST_SetSRID(ST_MakePoint(x, y), 4326) FROM ends
    RETURNING id, ST_X(geom) AS x, ST_Y(geom) AS y
)
INSERT INTO walk_edges (id, source, target, length_m, geom)
SELECT row_number() OVER (ORDER BY s.id, t.id), s.id, t.id, ST_Length(p.geom::geography), p.geom
FROM parts p
JOIN nodes s ON s.x = ST_X(ST_StartPoint(p.geom)) AND s.y = ST_Y(ST_StartPoint(p.geom))
JOIN nodes t ON t.x = ST_X(ST_EndPoint(p.geom)) AND t.y = ST_Y(ST_EndPoint(p.geom))
"""


def build_network(conn: Connection) -> int:
    """Replace the walking network by the noded stored roads (in ``conn``'s transaction);
    the number of edges."""
    conn.execute(text("DELETE FROM walk_edges"))
    conn.execute(text("DELETE FROM walk_nodes"))
    conn.execute(text(_BUILD), {"not_walkable": list(NOT_WALKABLE)})
    return int(conn.scalar(text("SELECT count(*) FROM walk_edges")) or 0)
