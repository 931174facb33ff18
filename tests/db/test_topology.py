"""The demo city's hierarchy is seamless, checked in PostGIS, with areas checked by pyproj."""

from __future__ import annotations

import pytest
from pyproj import Geod
from shapely import wkb
from sqlalchemy import Engine, text

CURRENT = "valid_to IS NULL"
MAX_SLIVER_M2 = 1.0


def test_demo_city_counts(engine: Engine) -> None:
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                text(f"SELECT level, count(*) FROM regions WHERE {CURRENT} GROUP BY level")
            ).all()
        )
    assert counts == {"county": 1, "street": 19, "community": 12, "grid": 66}


def _parents_with_children(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return conn.scalars(
            text(
                f"SELECT DISTINCT parent_code FROM regions WHERE {CURRENT} "
                "AND parent_code IS NOT NULL ORDER BY 1"
            )
        ).all()


def test_every_level_with_children_is_checked(engine: Engine) -> None:
    parents = _parents_with_children(engine)
    # the county, 栗乡街道 and its 12 communities
    assert parents[:2] == ["130227", "130227001"]
    assert len(parents) == 14


def test_every_child_lies_within_its_parent(engine: Engine) -> None:
    with engine.connect() as conn:
        outside = conn.execute(
            text(
                f"""
                SELECT c.code, p.code FROM regions c JOIN regions p ON p.code = c.parent_code
                WHERE c.{CURRENT} AND p.{CURRENT} AND NOT ST_Within(c.geom, p.geom)
                """
            )
        ).all()
        orphans = conn.scalars(
            text(
                f"SELECT c.code FROM regions c WHERE c.{CURRENT} AND c.parent_code IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM regions p WHERE p.{CURRENT} "
                "AND p.code = c.parent_code)"
            )
        ).all()
    assert outside == []
    assert orphans == []


def test_siblings_do_not_overlap(engine: Engine) -> None:
    with engine.connect() as conn:
        overlaps = conn.execute(
            text(
                f"""
                SELECT a.code, b.code, ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS m2
                FROM regions a JOIN regions b
                  ON a.parent_code = b.parent_code AND a.code < b.code
                 AND ST_Intersects(a.geom, b.geom)
                WHERE a.{CURRENT} AND b.{CURRENT}
                """
            )
        ).all()
    assert overlaps, "siblings share edges, so some pairs must touch"
    too_big = [(a, b, m2) for a, b, m2 in overlaps if m2 > MAX_SLIVER_M2]
    assert too_big == []


@pytest.mark.parametrize("parent_level", ["county", "street", "community"])
def test_children_cover_their_parent(engine: Engine, parent_level: str) -> None:
    with engine.connect() as conn:
        gaps = conn.execute(
            text(
                f"""
                WITH cover AS (
                    SELECT p.code, p.geom, ST_Union(c.geom) AS children
                    FROM regions p JOIN regions c ON c.parent_code = p.code AND c.{CURRENT}
                    WHERE p.{CURRENT} AND p.level = :level
                    GROUP BY p.code, p.geom
                ), pieces AS (
                    SELECT code, (ST_Dump(ST_Difference(geom, children))).geom AS gap FROM cover
                )
                SELECT code, ST_Area(gap::geography) FROM pieces
                """
            ),
            {"level": parent_level},
        ).all()
        parents = conn.scalar(
            text(
                f"SELECT count(DISTINCT p.code) FROM regions p JOIN regions c "
                f"ON c.parent_code = p.code AND c.{CURRENT} WHERE p.{CURRENT} AND p.level = :level"
            ),
            {"level": parent_level},
        )
    assert parents >= 1
    assert [(code, m2) for code, m2 in gaps if m2 > MAX_SLIVER_M2] == []


def test_stored_area_is_geodesic(engine: Engine) -> None:
    """PostGIS's area_m2 equals pyproj's geodesic area on the WGS84 ellipsoid."""
    geod = Geod(ellps="WGS84")
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT code, area_m2, ST_AsBinary(geom) FROM regions WHERE {CURRENT}")
        ).all()
    assert len(rows) == 98
    for code, area_m2, geom_wkb in rows:
        oracle = abs(geod.geometry_area_perimeter(wkb.loads(bytes(geom_wkb)))[0])
        assert area_m2 == pytest.approx(oracle, rel=1e-6), code
