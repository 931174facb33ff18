"""Service areas by walking (isochrones): the roads a centre's walkers reach within its
service distance, drawn as a band :data:`BAND_M` wide on each side.

From each centre one search of its own (``pgr_drivingDistance`` with every centre a start,
``gis.network.walk.edges_sql(each=True)``): an edge whose two ends are reached with enough
distance left over to meet is reached whole, else the part walked in from each end; the
centre's own edge the part walked from the centre.  A part is cut at its share of the
edge's geodesic length.  The polygons are for the map: who is covered is decided by each
building's own distance (``gis.network.walk.distances``), not by these bands.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from gis.network.walk import Snaps, edges_sql, start_node

BAND_M = 40.0
"""Half-width of a service area's band along the reached roads (a door's walk to the road)."""

_AREAS = """
WITH reached AS (
    SELECT d.from_v AS start, d.node, l.service - d.agg_cost AS left_m
    FROM pgr_drivingDistance(:edges, CAST(:starts AS bigint[]), :limit, true, false) AS d
    JOIN unnest(CAST(:starts AS bigint[]), CAST(:service AS float8[])) AS l(start, service)
      ON l.start = d.from_v
    WHERE d.node > 0 AND d.agg_cost < l.service
), ends AS (
    SELECT r.start, e.id, max(r.left_m) FILTER (WHERE r.node = e.source) AS from_source,
           max(r.left_m) FILTER (WHERE r.node = e.target) AS from_target
    FROM (
        SELECT r.start, r.node, r.left_m, e.id FROM reached r JOIN walk_edges e ON e.source = r.node
        UNION ALL
        SELECT r.start, r.node, r.left_m, e.id FROM reached r JOIN walk_edges e ON e.target = r.node
    ) AS r
    JOIN walk_edges e ON e.id = r.id
    GROUP BY r.start, e.id
), parts AS (
    SELECT n.start, CASE
        WHEN coalesce(n.from_source, 0) + coalesce(n.from_target, 0) >= e.length_m THEN e.geom
        ELSE ST_Collect(
            ST_LineSubstring(e.geom, 0, least(1, coalesce(n.from_source, 0) / e.length_m)),
            ST_LineSubstring(e.geom, greatest(0, 1 - coalesce(n.from_target, 0) / e.length_m), 1)
        ) END AS geom
    FROM ends n JOIN walk_edges e ON e.id = n.id
    WHERE e.length_m > 0
    UNION ALL
    SELECT o.start, ST_LineSubstring(e.geom, o.lo, o.hi)
    FROM unnest(CAST(:starts AS bigint[]), CAST(:own AS bigint[]), CAST(:lo AS float8[]),
                CAST(:hi AS float8[])) AS o(start, edge, lo, hi)
    JOIN walk_edges e ON e.id = o.edge
    WHERE o.lo < o.hi
)
SELECT start, ST_AsGeoJSON(ST_Buffer(ST_Union(geom)::geography, :band)::geometry, 7)
FROM parts GROUP BY start
"""


def service_areas(
    conn: Connection, sources: Snaps, service_m: np.ndarray, band_m: float = BAND_M
) -> list[dict[str, Any] | None]:
    """Per source its service area as a GeoJSON geometry (EPSG:4326; None when it reaches
    no road: its own walk to the road is longer than its service distance)."""
    if not len(sources):
        return []
    service = np.asarray(service_m, float)
    walk_left = service - sources.access_m  # metres left along the road
    length = np.where(sources.length_m > 0, sources.length_m, 1.0)
    lo = np.clip((sources.along_m - walk_left) / length, 0, 1)
    hi = np.clip((sources.along_m + walk_left) / length, 0, 1)
    starts = [start_node(k) for k in range(len(sources))]
    rows = conn.execute(
        text(_AREAS),
        {
            "edges": edges_sql(sources, np.zeros(len(sources)), each=True),
            "starts": starts,
            "service": service.tolist(),
            "limit": float(service.max()),
            "own": sources.edge.tolist(),
            "lo": np.where(walk_left > 0, lo, 1.0).tolist(),
            "hi": np.where(walk_left > 0, hi, 0.0).tolist(),
            "band": float(band_m),
        },
    ).all()
    found = {int(start): json.loads(geometry) for start, geometry in rows}
    return [found.get(start) for start in starts]
