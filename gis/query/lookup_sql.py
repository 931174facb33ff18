"""Lookups answered by PostGIS directly, while a version's index is being built.

A new version must be seen by the very next request (never an older answer), but its index
may take a while at a province's size.  Meanwhile ``gis.query.lookup.LookupService`` answers
from the database with the same rules as the index (``gis.query.lookup_index``): the grid
that ``ST_Covers`` the point with the lowest code; outside every grid the deepest region
above grids that covers it (lowest code) and the nearest grid by the geodesic distance on
the WGS 84 spheroid (``ST_Distance`` of geographies; the lowest code on a tie), its chains by
``parent_code``.  One statement per batch, plus one per point outside every grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from gis.query.lookup_answers import AREA_LEVELS, GRID_FIELDS, Found, render_answers, render_rows
from gis.query.lookup_index import METRES_PER_DEGREE
from gis.store.versions import valid_at

_POINTS = """
    WITH p AS (
        SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS g
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS t(x, y, i)
    )
    SELECT (SELECT r.code FROM regions r
            WHERE {valid} AND r.level = 'grid' AND ST_Covers(r.geom, p.g)
            ORDER BY r.code LIMIT 1) AS grid,
           (SELECT r.code FROM regions r
            WHERE {valid} AND r.level IN ('community', 'street', 'county')
              AND ST_Covers(r.geom, p.g)
            ORDER BY array_position(CAST(:levels AS text[]), CAST(r.level AS text)), r.code
            LIMIT 1) AS area
    FROM p ORDER BY p.i
"""
_POINT = "ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
_SOME_NEAR = f"""
    SELECT min(ST_Distance(CAST(geom AS geography), CAST({_POINT} AS geography))) FROM (
        SELECT r.geom FROM regions r WHERE {{valid}} AND r.level = 'grid'
        ORDER BY r.geom <-> {_POINT} LIMIT 8) AS near
"""
_NEAREST = f"""
    SELECT r.code, ST_Distance(CAST(r.geom AS geography), CAST({_POINT} AS geography)) AS m
    FROM regions r
    WHERE {{valid}} AND r.level = 'grid' AND r.geom && ST_Expand({_POINT}, :dx, :dy)
    ORDER BY m, r.code LIMIT 1
"""
_REGIONS = f"""
    SELECT r.code, r.level, r.parent_code, {", ".join("r." + f for f in GRID_FIELDS)}
    FROM regions r WHERE {{valid}} AND r.code = ANY(CAST(:codes AS text[]))
"""


class SqlIndex:
    """The lookup of one version from PostGIS, with the interface of ``GridIndex`` that
    answers need (no cell index: ``cells`` is None); ``connect`` gives a connection that
    sees the version (``Engine.connect``, or ``gis.store.replicas.ReadEngines.connect``)."""

    cells = None

    def __init__(self, connect: Callable[[], Connection], version: int) -> None:
        self.connect, self.version = connect, version

    def answers(self, lon: np.ndarray, lat: np.ndarray) -> list[dict[str, Any]]:
        """The lookup answer for each WGS84 point, in input order."""
        return render_answers(self.version, lon, lat, self.found(lon, lat))

    def rows(self, lon: np.ndarray, lat: np.ndarray) -> list[list[Any]]:
        """The ``OUTPUT_COLUMNS`` of each WGS84 point, in input order."""
        return render_rows(self.found(lon, lat))

    def found(self, lon: np.ndarray, lat: np.ndarray) -> list[Found]:
        """Per point: grid, chain, nearest grid and distance (as ``GridIndex.found``)."""
        xs, ys = np.asarray(lon, dtype=float).tolist(), np.asarray(lat, dtype=float).tolist()
        valid = valid_at()
        v = {"v": self.version}
        with self.connect() as conn:
            hits = conn.execute(
                text(_POINTS.format(valid=valid)),
                {**v, "xs": xs, "ys": ys, "levels": list(AREA_LEVELS)},
            ).all()
            nearest = [
                self._nearest(conn, x, y) if grid is None else (None, math.nan)
                for (grid, _), x, y in zip(hits, xs, ys, strict=True)
            ]
            codes = {c for hit in hits for c in hit if c} | {c for c, _ in nearest if c}
            regions = _with_ancestors(conn, self.version, codes)

        def chain(code: str | None) -> dict[str, dict[str, str]]:
            seen: dict[str, dict[str, str]] = {}
            while code in regions and regions[code]["level"] in AREA_LEVELS:
                row = regions[code]
                if row["level"] in seen:
                    break  # a cycle of parent codes
                seen[row["level"]] = {"code": code, "name": row["name"]}
                code = row["parent_code"]
            return seen

        def describe(code: str) -> dict[str, Any]:
            up = chain(regions[code]["parent_code"])
            return {
                "grid": _fields(regions[code]),
                **{level: up.get(level) for level in AREA_LEVELS},
            }

        return [
            Found(_fields(regions[grid]), chain(regions[grid]["parent_code"]), None, math.nan)
            if grid is not None
            else Found(None, chain(area), describe(near) if near else None, metres)
            for (grid, area), (near, metres) in zip(hits, nearest, strict=True)
        ]

    def _nearest(self, conn: Connection, x: float, y: float) -> tuple[str | None, float]:
        """The nearest grid by geodesic distance: some near grid's distance bounds a box
        (in degrees, conservatively) that holds every grid as near."""
        valid = valid_at()
        point = {"v": self.version, "x": x, "y": y}
        bound = conn.scalar(text(_SOME_NEAR.format(valid=valid)), point)
        if bound is None:
            return None, math.nan
        north = min(abs(y) + bound / METRES_PER_DEGREE[1], 89.9)
        per_x = METRES_PER_DEGREE[0] * math.cos(math.radians(north)) * 0.99
        reach = bound * 1.001 + 1.0
        dx, dy = min(reach / per_x, 360.0), reach / (METRES_PER_DEGREE[1] * 0.99)
        code, metres = conn.execute(
            text(_NEAREST.format(valid=valid)), {**point, "dx": dx, "dy": dy}
        ).one()
        return code, float(metres)


def _fields(row: Any) -> dict[str, Any]:
    return {f: row[f] for f in GRID_FIELDS}


def _with_ancestors(conn: Connection, version: int, codes: set[str]) -> dict[str, Any]:
    """The regions valid at ``version`` with these codes and all their ancestors, by code."""
    found: dict[str, Any] = {}
    while codes := codes - found.keys():
        rows = conn.execute(
            text(_REGIONS.format(valid=valid_at())), {"v": version, "codes": sorted(codes)}
        ).mappings()
        new = {row["code"]: row for row in rows}
        found |= new
        codes = {row["parent_code"] for row in new.values() if row["parent_code"]}
        if not new:
            break
    return found
