"""What the map pages read from the database besides the analyses: the top-level regions,
the surroundings of a region with nothing below it, the stored regions around an upload and
the cameras that see into an area, and whether a region is small enough to inline.  Outlines
come simplified by ``SIMPLIFY_M``."""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import Connection, Row, text

from gis.catalogue import REGION_LAYERS
from gis.query.regions import BBox, count_below, list_regions, subtree
from gis.store.generalised import LEVEL_ZOOMS
from gis.store.versions import current

SIMPLIFY_M = {"county": 20.0, "street": 8.0, "community": 2.0, "grid": 1.0}
"""Outline simplification per level, in metres: invisible at the zooms a level is read at."""
CONTEXT_LIMIT = 5000
"""The most stored regions drawn around an upload."""
INLINE_MAX_REGIONS = 1500
"""The most regions (at and below the page's roots) a map page inlines as GeoJSON; above it
the page draws them from the vector tiles.  Measured (bench/results/issue16-F.md): a Folium
page costs ~1 ms of server time and ~0.5 ms of browser time per region, so the 824-grid city
(893 regions) opens in 1.3 s and ~1 500 regions reach the 2 s goal."""
VECTOR_GRID_MIN_ZOOM = LEVEL_ZOOMS["grid"].shapes_from
"""The zoom from which a vector-tile region page draws grids (a 300 m grid is ~10 px there):
below it a city's tens of thousands of grids would be specks costing most of the opening
(the tiles' own rule, ``gis.store.generalised``: grid tiles are empty below it)."""


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


def fits_inline(conn: Connection, tops: list[str]) -> bool:
    """Whether ``tops`` and everything below them are at most ``INLINE_MAX_REGIONS`` regions.
    The walk down the hierarchy stops at the first region over the limit, so a province
    costs what a city does."""
    return count_below(conn, tops, INLINE_MAX_REGIONS + 1) <= INLINE_MAX_REGIONS


def focus(conn: Connection, tops: list[str]) -> dict[str, Any]:
    """What a vector-tile page opens on: ``bounds`` (west, south, east, north) of the current
    regions ``tops`` and each one's ``code``, ``name``, ``level`` and tile ``layer``, by code."""
    rows = conn.execute(
        text(
            "SELECT code, name, level, ST_XMin(b) AS w, ST_YMin(b) AS s, ST_XMax(b) AS e, "
            "ST_YMax(b) AS n FROM (SELECT code, name, level, Box2D(geom) AS b FROM regions "
            f"WHERE code = ANY(:tops) AND {current('')}) AS x ORDER BY code"
        ),
        {"tops": tops},
    ).all()
    bounds = [min(r.w for r in rows), min(r.s for r in rows)]
    bounds += [max(r.e for r in rows), max(r.n for r in rows)]
    return {
        "bounds": [float(v) for v in bounds],
        "regions": [
            {"code": r.code, "name": r.name, "level": r.level, "layer": REGION_LAYERS[r.level].name}
            for r in rows
        ],
    }


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


MAX_INLINE_ROADS = 5_000
"""Road lines a page draws inline at most: a city's whole OpenStreetMap extract is not."""


def roads_in(conn: Connection, area: list[Any]) -> list[bytes] | None:
    """The walkable roads (not the rivers and railways kept as barriers) crossing the bounding
    box of ``area``, cut to it, as WKB; None when there are more than ``MAX_INLINE_ROADS``."""
    rows = conn.scalars(
        text(
            "SELECT ST_AsBinary(cut) FROM ("
            "SELECT r.id, ST_CollectionExtract(ST_Intersection(r.geom, b.geom), 2) AS cut "
            "FROM roads r, (SELECT ST_GeomFromWKB(:box, 4326) AS geom) b "
            "WHERE r.kind = 'road' AND r.geom && b.geom) c "
            "WHERE NOT ST_IsEmpty(cut) ORDER BY id LIMIT :over"
        ),
        {"box": shapely.to_wkb(shapely.box(*shapely.total_bounds(area))),
         "over": MAX_INLINE_ROADS + 1},
    ).all()  # fmt: skip
    return None if len(rows) > MAX_INLINE_ROADS else list(rows)


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
