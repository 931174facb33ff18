"""The lookup's oracle: what PostGIS answers at points, independent of the lookup index and
of its SQL fallback — the deepest level whose current regions ``ST_Covers`` the point (the
lowest code on a shared edge or vertex) and its ancestors by ``parent_code``; outside every
grid, the grid at the least ``ST_Distance`` of geographies (on the WGS 84 spheroid), the
lower code of a tie.  Used by ``tests/db/test_lookup_hierarchy.py`` (every HTTP and CLI
path) and ``tests/db/test_lookup_shared.py`` (the mapped index and the fallback)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

LEVELS = ("grid", "community", "street", "county")
"""The levels of a lookup answer, deepest first."""

HIERARCHY_SQL = """
    WITH p AS (
        SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS g
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS t(x, y, i)
    )
    SELECT (
        SELECT r.code FROM regions r WHERE r.valid_to IS NULL AND ST_Covers(r.geom, p.g)
        ORDER BY array_position(CAST(:levels AS text[]), CAST(r.level AS text)), r.code LIMIT 1
    ) AS code, CASE WHEN EXISTS (
        SELECT FROM regions r
        WHERE r.valid_to IS NULL AND r.level = 'grid' AND ST_Covers(r.geom, p.g)
    ) THEN '- 0' ELSE (
        SELECT r.code || ' ' || ST_Distance(r.geom::geography, p.g::geography)::text
        FROM regions r WHERE r.valid_to IS NULL AND r.level = 'grid'
        ORDER BY ST_Distance(r.geom::geography, p.g::geography), r.code LIMIT 1
    ) END AS nearest
    FROM p ORDER BY p.i
"""
"""Per point: the deepest covering region's code, and outside every grid the nearest grid's
code and geodesic distance ("code metres"; "- 0" inside a grid)."""

DISTANCE = {"rel": 1e-4, "abs": 0.02}
"""How near a lookup's distance must be to PostGIS's (metres)."""


def postgis_hierarchy(
    engine: Engine, xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray
) -> list[dict[str, Any]]:
    """Per point: the code of each level (the deepest covering region and its ancestors, None
    below it), and the nearest grid's code and distance (``nearest``, ``distance_m``; "-" and
    0 inside a grid)."""
    params = {"xs": np.asarray(xs).tolist(), "ys": np.asarray(ys).tolist(), "levels": [*LEVELS]}
    with engine.connect() as conn:
        rows = conn.execute(text(HIERARCHY_SQL), params).all()
        parents = {
            code: (level, parent)
            for code, level, parent in conn.execute(
                text("SELECT code, level, parent_code FROM regions WHERE valid_to IS NULL")
            )
        }
    answers = []
    for code, nearest in rows:
        levels: dict[str, Any] = dict.fromkeys(LEVELS)
        while code is not None:
            level, parent = parents[code]
            levels[level] = code
            code = parent
        near, metres = nearest.split()
        answers.append({**levels, "nearest": near, "distance_m": float(metres)})
    return answers


def codes(answer: dict[str, Any]) -> dict[str, str | None]:
    """The code of each level of a lookup answer (None where it has none)."""
    return {level: (answer[level] or {}).get("code") for level in LEVELS}


def check_hierarchy(answers: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Lookup answers (``api.schemas.LookupAnswer``) against :func:`postgis_hierarchy`'s: the
    same code at every level, covered exactly where a grid is; outside, the nearest grid at
    PostGIS's distance (another grid only at a tie within the tolerance) with its
    community, in metres and WGS 84."""
    for answer, want in zip(answers, expected, strict=True):
        assert codes(answer) == {level: want[level] for level in LEVELS}, answer["point"]
        assert answer["covered"] is (want["grid"] is not None)
        assert (answer["distance_unit"], answer["crs"]) == ("m", "EPSG:4326")
        if answer["covered"]:
            assert answer["nearest"] is None
            continue
        nearest = answer["nearest"]
        assert nearest["distance_m"] == pytest.approx(want["distance_m"], **DISTANCE)
        if nearest["grid"]["code"] != want["nearest"]:  # a tie within the tolerance
            assert want["distance_m"] == pytest.approx(nearest["distance_m"], **DISTANCE)
        assert nearest["community"]["code"] == nearest["grid"]["code"][:12]


def boundary_points(engine: Engine, rng: np.random.Generator, n: int) -> np.ndarray:
    """Up to ``n`` vertices and ``n`` edge midpoints of the current regions, drawn at random:
    points on shared edges and on vertices shared by up to four regions of every level."""
    with engine.connect() as conn:
        wkb = conn.scalars(text("SELECT ST_AsBinary(geom) FROM regions WHERE valid_to IS NULL"))
        geoms = shapely.from_wkb([bytes(g) for g in wkb])
    rings = [shapely.get_coordinates(r) for r in shapely.get_rings(shapely.get_parts(geoms))]
    vertices = np.unique(np.vstack(rings), axis=0)
    midpoints = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])
    return np.vstack(
        [
            vertices[rng.choice(len(vertices), min(len(vertices), n), replace=False)],
            midpoints[rng.choice(len(midpoints), min(len(midpoints), n), replace=False)],
        ]
    )
