"""Which places each candidate site reaches on foot within a distance: the (place, site)
pairs of a maximal covering by walking (siting, ``gis.analysis.report.siting``).

One ``pgr_drivingDistance`` from every candidate at once, each from a start of its own
(``gis.network.walk.edges_sql(each=True)``), gives the network nodes each reaches and at what
distance; a place is reached through the nearer end of its edge (the node's distance, the
walk along the edge, its own walk to the road) or, on a candidate's own edge, straight along
it — the same distances as ``gis.network.walk.distances`` from that candidate alone.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import Connection, text

from gis.network.walk import Snaps, edges_sql, start_node

_REACHED = """
SELECT from_v, node, agg_cost
FROM pgr_drivingDistance(:edges, CAST(:starts AS bigint[]), :limit, true, false)
WHERE node > 0
"""


def _through_ends(
    places: Snaps, site: np.ndarray, node: np.ndarray, cost: np.ndarray, limit_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(place, site, metres) for each place reached through an end of its edge."""
    ends = np.concatenate([places.source, places.target]).astype(np.int64)
    extra = np.concatenate([places.along_m, np.maximum(places.length_m - places.along_m, 0.0)])
    owner = np.tile(np.arange(len(places)), 2)
    order = np.argsort(ends, kind="stable")
    ends, extra, owner = ends[order], extra[order], owner[order]
    lo = np.searchsorted(ends, node, "left")
    counts = np.searchsorted(ends, node, "right") - lo
    total = int(counts.sum())
    if not total:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    at = starts + np.arange(total)
    who = owner[at]
    metres = np.repeat(cost, counts) + extra[at] + places.access_m[who]
    keep = metres <= limit_m
    return who[keep], np.repeat(site, counts)[keep], metres[keep]


def _along_own_edge(
    places: Snaps, sites: Snaps, limit_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(place, site, metres) for places on a site's own edge, walking straight along it."""
    on_edge: dict[int, list[int]] = defaultdict(list)
    for i, edge in enumerate(places.edge.tolist()):
        on_edge[edge].append(i)
    who, where, metres = [], [], []
    for j, edge in enumerate(sites.edge.tolist()):
        mine = np.array(on_edge.get(edge, []), np.int64)
        if not len(mine):
            continue
        walk = (
            np.abs(places.along_m[mine] - sites.along_m[j])
            + places.access_m[mine]
            + sites.access_m[j]
        )
        near = walk <= limit_m
        who.append(mine[near])
        where.append(np.full(int(near.sum()), j))
        metres.append(walk[near])
    if not who:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    return np.concatenate(who), np.concatenate(where), np.concatenate(metres)


def walking_pairs(
    conn: Connection, places: Snaps, sites: Snaps, limit_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """(place, site) index pairs with a walk of at most ``limit_m`` metres between them,
    each pair once."""
    if not len(places) or not len(sites):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = [start_node(j) for j in range(len(sites))]
    rows = conn.execute(
        text(_REACHED),
        {
            "edges": edges_sql(sites, np.zeros(len(sites)), each=True),
            "starts": starts,
            "limit": float(limit_m),
        },
    ).all()
    site = np.array([start_node(0) - r[0] for r in rows], np.int64)  # start_node(j) = -2 - j
    node = np.array([r[1] for r in rows], np.int64)
    cost = np.array([r[2] for r in rows], float)
    found = [
        _through_ends(places, site, node, cost, limit_m),
        _along_own_edge(places, sites, limit_m),
    ]
    who = np.concatenate([f[0] for f in found])
    where = np.concatenate([f[1] for f in found])
    pairs = np.unique(np.stack([who, where], axis=1), axis=0) if len(who) else np.empty((0, 2))
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
