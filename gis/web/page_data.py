"""What the map pages read from the database besides the analyses: the top-level regions,
the surroundings of a region with nothing below it, the stored regions around an upload and
the cameras that see into an area.  Outlines come simplified by ``SIMPLIFY_M``."""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import Connection, Row, text

from gis.query.regions import BBox, list_regions, subtree
from gis.store.versions import current

SIMPLIFY_M = {"county": 20.0, "street": 8.0, "community": 2.0, "grid": 1.0}
"""Outline simplification per level, in metres: invisible at the zooms a level is read at."""
CONTEXT_LIMIT = 5000
"""The most stored regions drawn around an upload."""


def roots(conn: Connection) -> list[str]:
    """The current regions without a current parent: the top of every hierarchy."""
    return list(
        conn.scalars(
            text(
                f"SELECT code FROM regions WHERE {current('')} AND (parent_code IS NULL OR "
                f"parent_code NOT IN (SELECT code FROM regions WHERE {current('')})) "
                "ORDER BY code"
            )
        )
    )


def surroundings(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The parent of ``code`` and its neighbours (current regions of its level meeting it,
    found through the spatial index), without what lies below them."""
    codes = conn.scalars(
        text(
            f"SELECT n.code FROM regions r JOIN regions n ON {current('n')} "
            "AND n.level = r.level AND n.code <> r.code AND ST_Intersects(n.geom, r.geom) "
            f"WHERE r.code = :code AND {current('r')} "
            "UNION SELECT parent_code FROM regions "
            f"WHERE code = :code AND {current('')} AND parent_code IS NOT NULL"
        ),
        {"code": code},
    ).all()
    return subtree(conn, list(codes), simplify_m=SIMPLIFY_M, descend=False)


def stored_around(
    conn: Connection, version: int | None, level: str | None, around: list[Any], codes: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Regions stored at ``version``: those of ``level`` meeting the bounding box of
    ``around`` (index query, at most ``CONTEXT_LIMIT``), and the regions ``codes``."""
    context: list[dict[str, Any]] = []
    if around and level is not None:
        context, _ = list_regions(
            conn,
            version=version,
            level=level,
            bbox=BBox(*shapely.total_bounds(around)),
            limit=CONTEXT_LIMIT,
            simplify_m=SIMPLIFY_M[level],
        )
    named = [
        f
        for code in codes
        for f in list_regions(
            conn,
            version=version,
            equals={"code": code},
            limit=1,
            simplify_m=SIMPLIFY_M["grid"],
        )[0]
    ]
    return context, named


def cameras_near(conn: Connection, area: list[Any]) -> list[Row]:
    """The cameras that can see into ``area`` (within their range of its bounding box)."""
    reach = conn.scalar(text("SELECT max(range_m) FROM cameras"))
    if reach is None:
        return []
    return conn.execute(
        text(
            "SELECT device_id, name, status, azimuth_deg, fov_deg, range_m, ST_X(geom) AS lon, "
            "ST_Y(geom) AS lat FROM cameras WHERE ST_DWithin(geom::geography, "
            "ST_GeomFromWKB(:box, 4326)::geography, :reach) ORDER BY id"
        ),
        {"box": shapely.to_wkb(shapely.box(*shapely.total_bounds(area))), "reach": reach},
    ).all()
