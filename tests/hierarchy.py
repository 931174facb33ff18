"""The stored hierarchy's invariants, checked in PostGIS (not with the validator's code).

After every accepted commit the current regions must satisfy:
- every non-county region's parent is current and one level up; counties have none;
- no region lies outside its parent by more than the outside tolerance (geodesic m²);
- no two regions of one level overlap by more than the overlap tolerance (counties too);
- with ``gaps``: every region that has children is covered by them, no uncovered piece larger
  than the gap tolerance;
- every region's stored ``area_m2`` is its geography's area (``ST_Area``, Karney's algorithm;
  the store measures short-edged rings in numpy on the authalic sphere) within 1e-6 m² per
  metre of perimeter (+1e-9 of the area);
- every row, current or past, names versions that exist (``valid_from``, ``valid_to``: kept
  by triggers per statement since migration 0017, no longer by foreign keys).
A piece narrower than the sliver width everywhere (its inward buffer by half the width is
empty) is a sliver, not a breach: the same border digitised twice with other vertices.

Regions are PostGIS geometries: their edges are straight in lon/lat.  Pieces are densified
to 1e-4° (~10 m) before they are measured on the geography, which would otherwise read each
long edge as a geodesic: over 9 km at 40°N that bends ~1.4 m away, and a hairline triangle
along such an edge would measure thousands of m².
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

LEVEL_ABOVE = (
    "(ARRAY['county','street','community'])"
    "[array_position(ARRAY['street','community','grid'], c.level)]"
)

_CURRENT = "(SELECT * FROM regions WHERE valid_to IS NULL)"


def _g(geometry_sql: str) -> str:
    """SQL of the geography of a geometry densified to 1e-4° (see the module docstring)."""
    return f"ST_Segmentize({geometry_sql}, 0.0001)::geography"


_PARENTS = f"""
SELECT c.code, c.parent_code, p.level AS parent_level
FROM {_CURRENT} c LEFT JOIN {_CURRENT} p ON p.code = c.parent_code
WHERE (c.level = 'county' AND c.parent_code IS NOT NULL)
   OR (c.level <> 'county' AND (p.code IS NULL OR p.level IS DISTINCT FROM {LEVEL_ABOVE}))
"""

_OUTSIDE = f"""
SELECT c.code, p.code AS parent_code,
       ST_Area({_g("ST_Difference(c.geom, p.geom)")}) AS area
FROM {_CURRENT} c JOIN {_CURRENT} p ON p.code = c.parent_code
WHERE NOT ST_CoveredBy(c.geom, p.geom)
  AND ST_Area({_g("ST_Difference(c.geom, p.geom)")}) > :tol
  AND NOT ST_IsEmpty(ST_Buffer({_g("ST_Difference(c.geom, p.geom)")}, -:half)::geometry)
"""

_OVERLAPS = f"""
SELECT a.code, b.code AS other, ST_Area({_g("ST_Intersection(a.geom, b.geom)")}) AS area
FROM {_CURRENT} a JOIN {_CURRENT} b
  ON a.level = b.level AND a.code < b.code AND a.geom && b.geom
WHERE ST_Relate(a.geom, b.geom, '2********')
  AND ST_Area({_g("ST_Intersection(a.geom, b.geom)")}) > :tol
  AND NOT ST_IsEmpty(ST_Buffer({_g("ST_Intersection(a.geom, b.geom)")}, -:half)::geometry)
"""

_GAPS = f"""
WITH cover AS (
    SELECT p.code, p.geom, ST_Union(c.geom) AS children
    FROM {_CURRENT} p JOIN {_CURRENT} c ON c.parent_code = p.code
    GROUP BY p.code, p.geom
)
SELECT code, ST_Area({_g("piece")}) AS area
FROM cover, LATERAL (SELECT (ST_Dump(ST_Difference(geom, children))).geom AS piece) d
WHERE ST_Area({_g("piece")}) > :tol
  AND NOT ST_IsEmpty(ST_Buffer({_g("piece")}, -:half)::geometry)
"""


_AREAS = f"""
SELECT code, area_m2, ST_Area(geom::geography) AS geography
FROM {_CURRENT} r
WHERE abs(area_m2 - ST_Area(geom::geography))
      > 1e-9 * ST_Area(geom::geography) + 1e-6 * ST_Perimeter(geom::geography)
"""


_VERSIONS = """
SELECT r.code, r.valid_from, r.valid_to FROM regions r
WHERE NOT EXISTS (SELECT 1 FROM boundary_versions v WHERE v.number = r.valid_from)
   OR (r.valid_to IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM boundary_versions v WHERE v.number = r.valid_to))
"""


def violations(
    conn: Connection, *, tolerance_m2: float = 1.0, sliver_m: float = 0.5, gaps: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """Every breach of the invariants, by kind (empty lists when the hierarchy is sound)."""
    limits = {"tol": tolerance_m2, "half": sliver_m / 2}
    found = {
        "parent": conn.execute(text(_PARENTS)).mappings().all(),
        "outside_parent": conn.execute(text(_OUTSIDE), limits).mappings().all(),
        "overlap": conn.execute(text(_OVERLAPS), limits).mappings().all(),
        "area": conn.execute(text(_AREAS)).mappings().all(),
        "version": conn.execute(text(_VERSIONS)).mappings().all(),
    }
    if gaps:
        found["gap"] = conn.execute(text(_GAPS), limits).mappings().all()
    return {kind: [dict(r) for r in rows] for kind, rows in found.items()}


def assert_sound(engine: Any, **kw: Any) -> None:
    """Fail with the breaches if the stored hierarchy violates its invariants."""
    with engine.connect() as conn:
        found = violations(conn, **kw)
    assert not any(found.values()), {k: v[:5] for k, v in found.items() if v}
