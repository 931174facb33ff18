"""A region's inputs to its analyses, read as columns, and only what the analysis reads.

* **Grid rows** — the attributes and bounding boxes of the current grids below a region, in
  code order, without their geometry (0.3 s at 100 000 grids; with it, 2 s and 160 MB).
* **Grid geometry** — the exact polygons of the grids an analysis tests
  (:func:`gis.analysis.facilities.near_grids`: those a facility's envelope meets); the
  others stand in as their boxes.  All of them only where every grid counts: placing the
  buildings in their grids, clipping the roads.
* **Stored inputs** — the grids' codes, figures and boxes, and the buildings with households
  inside them with the grid each lies in, computed once per boundary version and address
  stamp and stored (:mod:`gis.analysis.stored`, analysis ``inputs``): a moved centre or
  camera reads neither the buildings nor the grids again, only the polygons it tests.

Rows are read in psycopg's binary format (WKB as stored, not as hex text).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from psycopg.rows import dict_row
from sqlalchemy import Connection

from gis.analysis import stored
from gis.analysis.facilities import Demand, Grid, Grids
from gis.analysis.reach import lowest_covering
from gis.errors import TooLarge
from gis.query.regions import count_below
from gis.settings import Settings
from gis.store.versions import current, valid_at

_ATTRIBUTES = """g.code, g.name, g.households, g.population, g.grid_worker, g.party_branch,
       g.area_m2, c.code AS community_code, c.name AS community_name"""
_BOX = ", ".join(
    f"ST_{f}(g.geom::box2d) AS {a}"
    for f, a in (("XMin", "x0"), ("YMin", "y0"), ("XMax", "x1"), ("YMax", "y1"))
)

_BELOW = f"""
WITH RECURSIVE below AS (
    SELECT code FROM regions WHERE code = %(region)s AND {current("")}
    UNION
    SELECT r.code FROM regions r JOIN below b ON r.parent_code = b.code
    WHERE {current()}
)
SELECT {_ATTRIBUTES}, {_BOX} {{wkb}}
FROM regions g JOIN below USING (code)
LEFT JOIN regions c ON c.code = g.parent_code AND {current("c")}
WHERE g.level = 'grid' AND {current("g")}
"""
"""The current grids below a region (unsorted: sorting 160 MB of WKB in PostgreSQL spilled
to disk; Python sorts the codes, code-point order being ``COLLATE "C"``'s byte order)."""

_PAGE_GRIDS = f"""
SELECT {_ATTRIBUTES}, ST_AsBinary(g.geom) AS wkb
FROM regions g LEFT JOIN regions c ON c.code = g.parent_code AND {valid_at("c", "%(v)s")}
WHERE g.level = 'grid' AND g.code = ANY(%(codes)s) AND {valid_at("g", "%(v)s")}
"""
"""Grids by code at version ``v``: a page of a stored result."""

_GEOMETRY = f"""
SELECT code, ST_AsBinary(geom) AS wkb FROM regions
WHERE level = 'grid' AND code = ANY(%(codes)s) AND {current("")}
"""

_BUILDINGS = (
    "FROM addresses WHERE households IS NOT NULL "
    "AND geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)"
)


def too_large(
    what_zh: str, what_en: str, found: int, limit: int, setting: str, counted: bool = True
) -> TooLarge:
    """413 ``analysis_too_large``; ``counted`` False: ``found`` is where counting stopped."""
    zh, en = (str(found), str(found)) if counted else (f"超过 {limit}", f"more than {limit}")
    return TooLarge(
        f"分析范围过大：{zh} 个{what_zh}，上限 {limit}；请选择更小的区域 "
        f"(too large to analyse: {en} {what_en}, at most {limit}; choose a smaller region)",
        code="analysis_too_large",
        details={what_en: found, "limit": limit, "setting": setting},
    )


def _fetch(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of ``sql`` (psycopg placeholders) in binary format, on ``conn``'s transaction."""
    with conn.connection.driver_connection.cursor(row_factory=dict_row, binary=True) as cur:
        return cur.execute(sql, params).fetchall()


def _polygons(wkb: list[Any]) -> np.ndarray:
    polygons = np.empty(len(wkb), dtype=object)
    polygons[:] = shapely.from_wkb(wkb) if wkb else []
    return polygons


def grid_rows(
    conn: Connection, region: str, settings: Settings, geometry: bool = False
) -> list[dict[str, Any]]:
    """The current grids below ``region`` (or itself) in code order: attribute rows with
    their bounding box (``x0 y0 x1 y1``) and, with ``geometry``, ``wkb`` (413
    ``analysis_too_large`` beyond ``analysis_max_grids``, counted before they are read)."""
    limit = settings.analysis_max_grids
    if (found := count_below(conn, [region], limit + 1, "grid")) > limit:
        raise too_large("网格", "grids", found, limit, "analysis_max_grids", counted=False)
    wkb = ", ST_AsBinary(g.geom) AS wkb" if geometry else ""
    rows = _fetch(conn, _BELOW.format(wkb=wkb), {"region": region})
    rows.sort(key=lambda r: r["code"])
    return rows


def grids_of(rows: list[dict[str, Any]]) -> Grids:
    """The grids of ``rows`` as columns: exact polygons where the rows hold ``wkb`` (taken
    out of them: not kept twice), else their bounding boxes."""
    if rows and "wkb" in rows[0]:
        polygons = _polygons([r.pop("wkb") for r in rows])
    else:
        box = np.array([[r["x0"], r["y0"], r["x1"], r["y1"]] for r in rows], float)
        polygons = _polygons([])
        if rows:
            polygons = np.empty(len(rows), dtype=object)
            polygons[:] = shapely.box(*box.T)
    area = [np.nan if r["area_m2"] is None else r["area_m2"] for r in rows]
    return Grids(
        np.array([r["code"] for r in rows], dtype=str),
        polygons,
        np.array([r["households"] or 0 for r in rows], float),
        np.array([r["population"] or 0 for r in rows], float),
        np.array(area, float),
    )


def read_exact(conn: Connection, grids: Grids, which: np.ndarray) -> None:
    """``grids.polygons[which]``: the exact polygons of those grids (current, as the rows)."""
    if not len(which):
        return
    codes = grids.code[which].tolist()
    found = {r["code"]: r["wkb"] for r in _fetch(conn, _GEOMETRY, {"codes": codes})}
    if len(found) != len(codes):
        raise RuntimeError("grids changed while the analysis read them")
    grids.polygons[which] = _polygons([found[c] for c in codes])


def page_grids(
    conn: Connection, codes: list[str], version: int | None
) -> tuple[list[Grid], list[dict[str, Any]]]:
    """The grids ``codes`` (sorted) at ``version`` and their attribute rows."""
    rows = _fetch(conn, _PAGE_GRIDS, {"codes": codes, "v": version or 0})
    rows.sort(key=lambda r: r["code"])
    if [r["code"] for r in rows] != codes:
        raise RuntimeError(f"stored grids missing at version {version}")
    polygons = _polygons([r.pop("wkb") for r in rows])
    grids = [
        Grid(
            code=r["code"],
            name=r["name"],
            community_code=r["community_code"],
            community_name=r["community_name"],
            households=r["households"] or 0,
            population=r["population"] or 0,
            polygon=polygon,
            area_m2=r["area_m2"],
        )
        for r, polygon in zip(rows, polygons, strict=True)
    ]
    return grids, rows


def _buildings(conn: Connection, grids: Grids, settings: Settings) -> Demand:
    """The buildings with households inside ``grids`` (exact polygons), in code order, each
    with the lowest index of a grid covering it (on a shared edge the first grid in code
    order; those in no grid left out).  413 beyond ``analysis_max_buildings``, counted
    before they are read."""
    empty = Demand(np.array([], dtype=str), *np.zeros((3, 0)), np.zeros(0, np.int64))
    if not len(grids.code):
        return empty
    bounds = shapely.total_bounds(grids.polygons).tolist()
    box = dict(zip(("x0", "y0", "x1", "y1"), bounds, strict=True))
    found = _fetch(conn, f"SELECT count(*) AS n {_BUILDINGS}", box)[0]["n"]
    if found > settings.analysis_max_buildings:
        limit = settings.analysis_max_buildings
        raise too_large("建筑", "buildings", found, limit, "analysis_max_buildings")
    with conn.connection.driver_connection.cursor(binary=True) as cur:
        cur.execute(
            f"SELECT code, ST_X(geom), ST_Y(geom), households {_BUILDINGS} ORDER BY code", box
        )
        rows = cur.fetchall()
    if not rows:
        return empty
    code, lon, lat, households = zip(*rows, strict=True)
    lon, lat = np.array(lon, float), np.array(lat, float)
    grid = lowest_covering(grids.polygons, lon, lat)
    inside = grid >= 0
    return Demand(
        np.array(code, dtype=str)[inside],
        lon[inside],
        lat[inside],
        np.array(households, float)[inside],
        grid[inside],
    )


_GRID_COLUMNS = ("code", "households", "population", "area_m2")
_DEMAND_COLUMNS = ("code", "lon", "lat", "households", "grid")


def region_inputs(
    conn: Connection, region: str, version: int | None, addresses: int, settings: Settings
) -> tuple[Grids, Demand]:
    """The region's grids and its buildings with households, each in its grid
    (:func:`_buildings`): what depends only on the boundaries and the addresses, stored per
    (region, boundary version, address stamp ``addresses``, limits).  From the store the
    grids are their bounding boxes (:func:`read_exact` reads the polygons a computation
    tests); computed, every grid's polygon is read — placing the buildings needs them."""
    limits = {"max_grids": settings.analysis_max_grids}
    limits["max_buildings"] = settings.analysis_max_buildings
    name = stored.key("inputs", region, version, stamps={"addresses": addresses}, limits=limits)
    found = stored.load(conn, name)
    if found is not None:
        a = found[1]
        polygons = np.empty(len(a["grid_code"]), dtype=object)
        polygons[:] = shapely.box(*a["grid_bounds"].reshape(-1, 4).T)
        grids = Grids(polygons=polygons, **{c: a[f"grid_{c}"] for c in _GRID_COLUMNS})
        demand = Demand(**{c: a[f"demand_{c}"] for c in _DEMAND_COLUMNS})
        return grids, demand
    grids = grids_of(grid_rows(conn, region, settings, geometry=True))
    demand = _buildings(conn, grids, settings)
    columns = {f"grid_{c}": getattr(grids, c) for c in _GRID_COLUMNS}
    columns |= {f"demand_{c}": getattr(demand, c) for c in _DEMAND_COLUMNS}
    columns["grid_bounds"] = grids.bounds()
    stored.save(conn, name, "inputs", region, {}, columns)
    return grids, demand
