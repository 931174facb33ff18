"""A large synthetic county written in SQL, for map and analysis tests and benchmarks
(``bench/map_scale_large.py``, ``bench/coverage_large.py``): one county ``COUNTY`` near
110°E 30°N, ``grids`` square grids of ``CELL`` degrees (~380 m × 330 m, segmentized to ~100
vertices as digitised boundaries have), 100 to a community (10 × 10), 10 communities to a
street (blocks 20 communities wide); optionally buildings with households (``buildings``
per grid), centres (one 党群服务站 per ``centre_every`` communities, 500 m) and cameras.
All of it is one boundary version; attributes are deterministic (no random numbers)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from gis.store.stored_form import STORAGE_GRID_DEG

COUNTY = "990001"
CELL = (0.004, 0.003)
ORIGIN = (110.0, 30.0)
BLOCKS_PER_ROW = 20
"""Communities (10 × 10 grids) side by side in a row of the county."""
MAX_GRIDS = 999_000
"""A code holds three digits of street: 999 streets of 10 communities of 100 grids."""

_STORED = "ST_ForcePolygonCCW(ST_Multi(ST_ReducePrecision({}, :storage)))"

_XY = f"""
LATERAL (SELECT i / 100 AS k, i % 100 AS j) AS a,
LATERAL (SELECT (k % {BLOCKS_PER_ROW}) * 10 + j % 10 AS x,
                (k / {BLOCKS_PER_ROW}) * 10 + j / 10 AS y,
                '{COUNTY}' || lpad((k / 10 + 1)::text, 3, '0') || lpad((k % 10 + 1)::text, 3, '0')
                  AS parent) AS b
"""

_GRIDS = f"""
INSERT INTO regions (code, level, name, parent_code, households, population, grid_worker,
                     party_branch, geom, area_m2, valid_from)
SELECT parent || lpad((j + 1)::text, 3, '0'), 'grid', '合成' || (k + 1) || '社区第' || (j + 1)
       || '网格', parent, 120 + (i::bigint * 7919) % 450, 2 * (120 + (i::bigint * 7919) % 450),
       CASE WHEN i % 37 = 0 THEN NULL ELSE '王网格' || i END,
       CASE WHEN i % 53 = 0 THEN NULL ELSE '第' || i || '支部' END,
       geom, ST_Area(geom::geography), :n
FROM generate_series(0, :grids - 1) AS i, {_XY},
LATERAL (SELECT {
    _STORED.format(
        "ST_Segmentize(ST_MakeEnvelope(:x0 + x * :dx, :y0 + y * :dy, :x0 + (x + 1) * :dx, "
        ":y0 + (y + 1) * :dy, 4326), :dx / 25)"
    )
} AS geom) AS g
"""

_PARENTS = f"""
INSERT INTO regions (code, level, name, parent_code, geom, area_m2, valid_from)
SELECT code, :level, '合成' || code, CASE WHEN :level = 'county' THEN NULL ELSE parent END,
       geom, ST_Area(geom::geography), :n
FROM (SELECT left(code, :digits) AS code, left(code, :digits - 3) AS parent,
             {_STORED.format("ST_Union(geom)")} AS geom
      FROM regions WHERE valid_to IS NULL AND level = :child AND code LIKE '{COUNTY}%'
      GROUP BY 1, 2) AS p
"""

_BUILDINGS = f"""
INSERT INTO addresses (code, address, normalized, compound, building, units, floors,
                       households, region_code, geom)
SELECT 'B' || i || '-' || u, '合成小区' || i || '号楼' || u, '合成小区' || i || '号楼' || u,
       '合成小区' || i, u::text, 2, 6, 10 + (i * 31 + u * 17) % 60,
       parent || lpad((j + 1)::text, 3, '0'),
       ST_SetSRID(ST_MakePoint(:x0 + (x + 0.1 + 0.8 * ((u * 0.618 + i * 0.37) % 1)) * :dx,
                               :y0 + (y + 0.1 + 0.8 * ((u * 0.414 + i * 0.73) % 1)) * :dy), 4326)
FROM generate_series(0, :grids - 1) AS i, {_XY}, generate_series(1, :per_grid) AS u
"""

_CENTRES = f"""
INSERT INTO centres (name, level, radius_m, region_code, geom)
SELECT '合成' || (k + 1) || '社区党群服务站', 'station', 500, parent,
       ST_SetSRID(ST_MakePoint(:x0 + (x + 0.5) * :dx, :y0 + (y + 0.5) * :dy), 4326)
FROM generate_series(0, :grids - 1) AS i, {_XY}
WHERE j = 44 AND k % :every = 0
"""

_CAMERAS = f"""
INSERT INTO cameras (device_id, name, azimuth_deg, fov_deg, range_m, status, geom)
SELECT '2309000000131' || lpad(i::text, 7, '0'), '合成摄像机' || i, (i * 47) % 360,
       CASE WHEN i % 3 = 0 THEN 360 ELSE 90 END, 80,
       CASE WHEN i % 20 = 0 THEN 'offline' ELSE 'online' END,
       ST_SetSRID(ST_MakePoint(:x0 + (x + 0.3) * :dx, :y0 + (y + 0.6) * :dy), 4326)
FROM generate_series(0, :grids - 1) AS i, {_XY}
WHERE i % :every = 0
"""


def add_county(
    engine: Engine,
    grids: int,
    *,
    buildings: int = 0,
    centre_every: int = 0,
    camera_every: int = 0,
) -> int:
    """The county as one new boundary version (its number), with ``buildings`` per grid,
    a centre every ``centre_every`` communities and a camera every ``camera_every`` grids
    (0: none); ANALYZEd.  At most :data:`MAX_GRIDS` (checked before anything is written)."""
    if not 0 < grids <= MAX_GRIDS:
        raise ValueError(f"a synthetic county has 1 to {MAX_GRIDS} grids, not {grids}")
    geometry = {"x0": ORIGIN[0], "y0": ORIGIN[1], "dx": CELL[0], "dy": CELL[1], "grids": grids}
    with engine.begin() as conn:
        n = conn.scalar(text("SELECT coalesce(max(number), 0) + 1 FROM boundary_versions"))
        conn.execute(
            text(
                "INSERT INTO boundary_versions (number, author, action, message) "
                "VALUES (:n, 'test', 'load', 'synthetic county (tests/large_city.py)')"
            ),
            {"n": n},
        )
        common = {"n": n, "storage": STORAGE_GRID_DEG}
        conn.execute(text(_GRIDS), common | geometry)
        for level, child, digits in (
            ("community", "grid", 12),
            ("street", "community", 9),
            ("county", "street", 6),
        ):
            conn.execute(
                text(_PARENTS), common | {"level": level, "child": child, "digits": digits}
            )
        if buildings:
            conn.execute(text(_BUILDINGS), geometry | {"per_grid": buildings})
        if centre_every:
            conn.execute(text(_CENTRES), geometry | {"every": centre_every})
        if camera_every:
            conn.execute(text(_CAMERAS), geometry | {"every": camera_every})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return n
