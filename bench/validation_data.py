"""The validation scale benchmark's data: the small database (the demo city) and the large
one (the demo plus synthetic grids, inserted in SQL), and the upload files sent to both
(see ``validation_scale``'s docstring)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import Engine, make_url, text

from gis.geo.crs import wgs84_to_gcj02
from gis.settings import get_settings
from gis.store.db import create_database, make_engine, migrate
from gis.store.seed import load_demo
from gis.store.stored_form import STORAGE_GRID_DEG

COMMUNITY = "130227001001"

CELL_DEG = (0.004, 0.003)

ORIGIN = (110.0, 30.0)

COUNTIES_PER_ROW = 4

# --------------------------------------------------------------------------- databases

_STORED = "ST_ForcePolygonCCW(ST_Multi(ST_ReducePrecision({}, :grid)))"
"""A geometry as gridmap stores it: MultiPolygon, storage grid, outer rings CCW."""

_GRIDS = f"""
INSERT INTO regions (code, level, name, parent_code, households, geom, area_m2, valid_from)
SELECT g.code, 'grid', g.name, g.parent, 250 + i % 150, g.geom, ST_Area(g.geom::geography), :n
FROM generate_series(0, :grids - 1) AS i,
LATERAL (SELECT i / 100 AS k, i % 100 AS j) AS a,
LATERAL (SELECT k % 10 AS m, (k / 10) % 10 AS s, k / 100 AS c) AS b,
LATERAL (
  SELECT (c % {COUNTIES_PER_ROW}) * 100 + (s % 2) * 50 + (m % 5) * 10 + j % 10 AS x,
         (c / {COUNTIES_PER_ROW}) * 100 + (s / 2) * 20 + (m / 5) * 10 + j / 10 AS y
) AS xy,
LATERAL (
  SELECT (990000 + c)::text || lpad((s + 1)::text, 3, '0') || lpad((m + 1)::text, 3, '0')
           AS parent,
         '合成' || (c + 1) || '县' || (s + 1) || '街道' || (m + 1) || '社区第' || (j + 1) || '网格'
           AS name,
         {
    _STORED.format(
        "ST_MakeEnvelope(:x0 + x * :dx, :y0 + y * :dy, :x0 + (x + 1) * :dx, "
        ":y0 + (y + 1) * :dy, 4326)"
    )
} AS geom
) AS g0,
LATERAL (SELECT g0.parent || lpad((j + 1)::text, 3, '0') AS code, g0.*) AS g
"""

_PARENTS = f"""
INSERT INTO regions (code, level, name, parent_code, geom, area_m2, valid_from)
SELECT code, :level, :prefix || code, CASE WHEN :level = 'county' THEN NULL ELSE parent END,
       geom, ST_Area(geom::geography), :n
FROM (
  SELECT left(code, :digits) AS code, left(code, :digits - 3) AS parent,
         {_STORED.format("ST_Union(geom)")} AS geom
  FROM regions WHERE valid_to IS NULL AND level = :child AND code LIKE '99%'
  GROUP BY 1, 2
) AS p
"""


def add_synthetic(url: str, grids: int) -> float:
    """``grids`` synthetic grids with their parents as one new boundary version; the seconds
    it took."""
    start = time.perf_counter()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            number = (conn.scalar(text("SELECT max(number) FROM boundary_versions")) or 0) + 1
            conn.execute(
                text(
                    "INSERT INTO boundary_versions (number, author, action, message) "
                    "VALUES (:n, 'bench', 'load', 'synthetic city (bench/validation_scale.py)')"
                ),
                {"n": number},
            )
            conn.execute(
                text(_GRIDS),
                {
                    "n": number,
                    "grids": grids,
                    "grid": STORAGE_GRID_DEG,
                    "x0": ORIGIN[0],
                    "y0": ORIGIN[1],
                    "dx": CELL_DEG[0],
                    "dy": CELL_DEG[1],
                },
            )
            for level, child, digits, prefix in (
                ("community", "grid", 12, "合成社区"),
                ("street", "community", 9, "合成街道"),
                ("county", "street", 6, "合成县"),
            ):
                conn.execute(
                    text(_PARENTS),
                    {
                        "n": number,
                        "level": level,
                        "child": child,
                        "digits": digits,
                        "prefix": prefix,
                        "grid": STORAGE_GRID_DEG,
                    },
                )
            conn.execute(
                text(
                    "UPDATE boundary_versions SET changes = jsonb_build_object('added', "
                    "(SELECT jsonb_agg(code ORDER BY code) FROM regions WHERE valid_from = :n)) "
                    "WHERE number = :n"
                ),
                {"n": number},
            )
    finally:
        engine.dispose()
    return time.perf_counter() - start


def analyze(url: str) -> float:
    """VACUUM ANALYZE the database (outside a transaction), as autovacuum eventually would;
    the seconds it took."""
    start = time.perf_counter()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


def counts(engine: Engine) -> dict[str, int]:
    """Current regions by level."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT level, count(*) FROM regions WHERE valid_to IS NULL GROUP BY level")
        ).all()
    return {level: n for level, n in rows}


def make_databases(small: str, large: str, grids: int, analyzed: bool) -> tuple[float, float]:
    """Create the small and the large database (drop them afterwards), the large one ANALYZEd
    unless ``analyzed`` is false; the seconds the synthetic grids and the ANALYZE took."""
    settings = get_settings()
    create_database(small)
    migrate(small)
    engine = make_engine(small)
    try:
        load_demo(engine, settings.demo_dir)
    finally:
        engine.dispose()
    analyze(small)
    create_database(large, template=make_url(small).database or "")
    inserted = add_synthetic(large, grids)
    return inserted, analyze(large) if analyzed else 0.0


# --------------------------------------------------------------------------- uploads


def community_grids(demo_dir: Path) -> list[dict[str, Any]]:
    """The demo's grids of :data:`COMMUNITY` as GeoJSON features."""
    features = json.loads((demo_dir / "grids.geojson").read_text())["features"]
    return [f for f in features if f["properties"]["parent_code"] == COMMUNITY]


def with_vertex(geometry: dict[str, Any]) -> dict[str, Any]:
    """The polygon with a vertex added in the middle of its longest edge (a real change at
    storage precision that leaves the coverage as it is)."""
    parts = list(shapely.get_parts(shape(geometry)))
    big = int(np.argmax(shapely.area(parts)))
    ring = np.asarray(parts[big].exterior.coords)
    k = int(np.argmax(np.hypot(*np.diff(ring, axis=0).T)))
    middle = np.round((ring[k] + ring[k + 1]) / 2 / STORAGE_GRID_DEG) * STORAGE_GRID_DEG
    parts[big] = shapely.Polygon(np.insert(ring, k + 1, middle, axis=0), parts[big].interiors)
    return mapping(shapely.MultiPolygon(parts))


def edited(grids: list[dict[str, Any]], households: int, vertex: bool) -> list[dict[str, Any]]:
    """The grids with ``households`` added to each, and the first one's extra vertex."""
    out = copy.deepcopy(grids)
    for f in out:
        f["properties"]["households"] += households
    if vertex:
        out[0]["geometry"] = with_vertex(out[0]["geometry"])
    return out


def gcj02(grids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grids moved to GCJ-02 (what a copy from AMap gives), still labelled CRS84."""
    out = copy.deepcopy(grids)
    for f in out:
        moved = shapely.transform(
            shape(f["geometry"]), lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
        )
        f["geometry"] = mapping(moved)
    return out


def write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    )
    return path


@dataclass(frozen=True)
class Upload:
    """One upload as the bench sends it, and what its report must say."""

    path: Path
    dry_run: bool
    status: str
    modified: int
    moved: int = 0
    suggestion: str | None = None


def uploads(workdir: Path, demo_dir: Path) -> dict[str, list[Upload]]:
    """The files of each case (the commit case alternates two)."""
    grids = community_grids(demo_dir)
    n = len(grids)
    return {
        "dry run": [
            Upload(write(workdir / "dry.geojson", edited(grids, 1000, True)), True, "dry_run", n)
        ],
        "commit": [
            Upload(write(workdir / "a.geojson", edited(grids, 1, True)), False, "committed", n),
            Upload(write(workdir / "b.geojson", edited(grids, 2, False)), False, "committed", n),
        ],
        "doctor": [
            Upload(write(workdir / "gcj02.geojson", gcj02(grids)), True, "dry_run", 0, n, "gcj02")
        ],
    }
