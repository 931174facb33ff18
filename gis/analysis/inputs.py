"""A region's inputs to its analyses, read as columns, and only what the analysis reads.

* **Grid rows** — the attributes and bounding boxes of the current grids below a region, in
  code order, without their geometry: one array per column (0.5 s at 100 000 grids).
* **Grid geometry** — the exact polygons of the grids an analysis tests
  (:func:`gis.analysis.facilities.near_grids`: those a facility's envelope meets); the
  others stand in as their boxes.  All of them only where every grid counts: placing the
  buildings in their grids (the buildings are read beside, on a connection of their own),
  clipping the roads.
* **Stored inputs** — the grids' codes, figures and boxes, and the buildings with households
  inside them with the grid each lies in, computed once per boundary version and address
  stamp and stored (:mod:`gis.analysis.stored`, analysis ``inputs``): a moved centre or
  camera reads neither the buildings nor the grids again, only the polygons it tests.

Rows are read in psycopg's binary format (WKB as stored, not as hex text).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import shapely
from psycopg.rows import dict_row
from sqlalchemy import Connection, Engine

from gis.analysis import stored
from gis.analysis.facilities import Demand, Grid, Grids
from gis.analysis.reach import lowest_covering
from gis.errors import TooLarge
from gis.settings import Settings
from gis.store.versions import current, valid_at

_ATTRIBUTES = """g.code, g.name, g.households, g.population, g.grid_worker, g.party_branch,
       g.area_m2, c.code AS community_code, c.name AS community_name"""
_BOX = ", ".join(
    f"ST_{f}(g.geom::box2d) AS {a}"
    for f, a in (("XMin", "x0"), ("YMin", "y0"), ("XMax", "x1"), ("YMax", "y1"))
)

_BELOW = f"""
WITH RECURSIVE parents AS (
    SELECT code, name FROM regions WHERE code = %(region)s AND level <> 'grid' AND {current("")}
    UNION
    SELECT r.code, r.name FROM regions r JOIN parents p ON r.parent_code = p.code
    WHERE r.level <> 'grid' AND {current()}
)
SELECT {{columns}}
FROM parents c JOIN regions g ON g.parent_code = c.code
WHERE g.level = 'grid' AND {current("g")}
UNION ALL
SELECT {{columns}}
FROM regions g LEFT JOIN regions c ON c.code = g.parent_code AND {current("c")}
WHERE g.code = %(region)s AND g.level = 'grid' AND {current("g")}
LIMIT %(cap)s
"""
"""The current grids below a region (or the region itself, a grid), at most ``cap``, each
with its parent as ``community_*``: the walk descends through the regions that are not grids
and takes each one's grids by the parent index (0.37 s at 100 000 grids; walking the grids
too and joining them back by code took 1.1 s).  Unsorted: sorting 160 MB of WKB in
PostgreSQL spilled to disk; Python sorts the codes, code-point order being ``COLLATE "C"``'s
byte order."""

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


_COLUMNS = (
    *("code", "name", "households", "population", "grid_worker", "party_branch", "area_m2"),
    *("community_code", "community_name", "x0", "y0", "x1", "y1"),
)
_AGGREGATED = (
    f"SELECT {', '.join(f'array_agg({c})' for c in _COLUMNS)} "
    f"FROM ({_BELOW.format(columns=f'{_ATTRIBUTES}, {_BOX}')}) AS g"
)
"""The grids' attribute rows as one array per column: psycopg loads them in C (rows as
dicts took 0.7 s at 100 000 grids, 0.3 s more to turn into columns)."""


def grid_columns(conn: Connection, region: str, settings: Settings) -> dict[str, np.ndarray]:
    """The current grids below ``region`` (or itself) as columns (``_COLUMNS``: attributes,
    parent and bounding box ``x0 y0 x1 y1``, no geometry) in code order (413
    ``analysis_too_large`` beyond ``analysis_max_grids``: no more than one grid over it is
    read).  Sorted here: code-point order is ``COLLATE "C"``'s byte order."""
    limit = settings.analysis_max_grids
    with conn.connection.driver_connection.cursor(binary=True) as cur:
        values = cur.execute(_AGGREGATED, {"region": region, "cap": limit + 1}).fetchone()
    if values[0] is None:
        return {c: np.array([], dtype=object) for c in _COLUMNS}
    if len(values[0]) > limit:
        raise too_large("网格", "grids", limit + 1, limit, "analysis_max_grids", counted=False)
    order = np.argsort(np.array(values[0], dtype=str), kind="stable")
    columns = {}
    for name, value in zip(_COLUMNS, values, strict=True):
        column = np.empty(len(value), dtype=object)
        column[:] = value
        columns[name] = column[order]
    return columns


def grid_rows(columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The grids of :func:`grid_columns` as one dict per grid."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _numbers(column: np.ndarray) -> np.ndarray:
    """Floats, 0 for NULL."""
    return np.where(column == None, 0, column).astype(float)  # noqa: E711 (elementwise)


def grids_of(columns: dict[str, np.ndarray]) -> Grids:
    """The grids of :func:`grid_columns` as :class:`Grids`, each polygon its bounding box
    until :func:`read_exact` reads it."""
    polygons = np.empty(len(columns["code"]), dtype=object)
    box = [columns[c].astype(float) for c in ("x0", "y0", "x1", "y1")]
    polygons[:] = shapely.box(*box) if len(polygons) else []
    return Grids(
        columns["code"].astype(str),
        polygons,
        _numbers(columns["households"]),
        _numbers(columns["population"]),
        columns["area_m2"].astype(float),
        np.zeros(len(polygons), dtype=bool),
    )


def read_exact(conn: Connection, grids: Grids, which: np.ndarray) -> None:
    """``grids.polygons[which]``: the exact polygons of those grids (current, as the rows),
    read unless they are already."""
    if grids.exact is not None:
        which = which[~grids.exact[which]]
    if not len(which):
        return
    codes = grids.code[which].tolist()
    found = {r["code"]: r["wkb"] for r in _fetch(conn, _GEOMETRY, {"codes": codes})}
    if len(found) != len(codes):
        raise RuntimeError("grids changed while the analysis read them")
    grids.polygons[which] = _polygons([found[c] for c in codes])
    if grids.exact is not None:
        grids.exact[which] = True


def _read_all(conn: Connection, region: str, grids: Grids) -> None:
    """Every polygon of ``grids`` (the grids below ``region``, in code order), read by the
    walk that listed them (by code, 100 000 codes took 0.4 s to send) as rows, not one array:
    PostgreSQL refuses a value over 1 GB (~600 000 polygons)."""
    sql = _BELOW.format(columns="g.code, ST_AsBinary(g.geom)")
    with conn.connection.driver_connection.cursor(binary=True) as cur:
        rows = cur.execute(sql, {"region": region, "cap": len(grids.code) + 1}).fetchall()
    codes = np.array([code for code, _ in rows], dtype=str)
    wkb = [w for _, w in rows]
    order = np.argsort(codes, kind="stable")
    if not np.array_equal(codes[order], grids.code):
        raise RuntimeError("grids changed while the analysis read them")
    grids.polygons[:] = _polygons(wkb)[order]
    if grids.exact is not None:
        grids.exact[:] = True


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


_BUILDING_COLUMNS = f"""
WITH b AS (SELECT code, geom, households {_BUILDINGS} ORDER BY code)
SELECT array_agg(code), array_agg(ST_X(geom)), array_agg(ST_Y(geom)), array_agg(households)
FROM b
"""
"""The buildings as four arrays in one row: psycopg loads them in C (rows of tuples took
0.9 s at 300 000 buildings, the arrays 0.6 s)."""


def _building_columns(engine: Engine, bounds: list[float], settings: Settings) -> list[Any]:
    """The codes, lon, lat and households of the buildings with households in ``bounds``,
    in code order, read on a connection of their own (the caller reads the grids' polygons
    meanwhile; the buildings may be newer than the address stamp read before, never older —
    as any stored result's data, :mod:`gis.analysis.stored`).  413 beyond
    ``analysis_max_buildings``, counted before they are read."""
    box = dict(zip(("x0", "y0", "x1", "y1"), bounds, strict=True))
    with engine.connect() as conn, conn.connection.driver_connection.cursor(binary=True) as cur:
        found = cur.execute(f"SELECT count(*) {_BUILDINGS}", box).fetchone()[0]
        if found > settings.analysis_max_buildings:
            limit = settings.analysis_max_buildings
            raise too_large("建筑", "buildings", found, limit, "analysis_max_buildings")
        return list(cur.execute(_BUILDING_COLUMNS, box).fetchone())


def _placed(grids: Grids, columns: list[Any]) -> Demand:
    """The buildings of ``columns`` inside ``grids`` (exact polygons), each with the lowest
    index of a grid covering it (on a shared edge the first grid in code order; those in no
    grid left out)."""
    if not columns or not columns[0]:
        return Demand(np.array([], dtype=str), *np.zeros((3, 0)), np.zeros(0, np.int64))
    code, lon, lat, households = columns
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
    conn: Connection,
    region: str,
    version: int | None,
    addresses: int,
    settings: Settings,
    save: stored.Save = stored.save,
) -> tuple[Grids, Demand]:
    """The region's grids and its buildings with households, each in its grid
    (:func:`_placed`): what depends only on the boundaries and the addresses, stored per
    (region, boundary version, address stamp ``addresses``, limits).  From the store the
    grids are their bounding boxes (:func:`read_exact` reads the polygons a computation
    tests); computed, every grid's polygon is read — placing the buildings needs them — while
    the buildings are read beside (:func:`_building_columns`), and stored with ``save``."""
    limits = {"max_grids": settings.analysis_max_grids}
    limits["max_buildings"] = settings.analysis_max_buildings
    name = stored.key("inputs", region, version, stamps={"addresses": addresses}, limits=limits)
    found = stored.load(conn, name)
    if found is not None:
        a = found[1]
        polygons = np.empty(len(a["grid_code"]), dtype=object)
        polygons[:] = shapely.box(*a["grid_bounds"].reshape(-1, 4).T)
        exact = np.zeros(len(polygons), dtype=bool)
        grids = Grids(polygons=polygons, exact=exact, **{c: a[f"grid_{c}"] for c in _GRID_COLUMNS})
        demand = Demand(**{c: a[f"demand_{c}"] for c in _DEMAND_COLUMNS})
        return grids, demand
    grids = grids_of(grid_columns(conn, region, settings))
    buildings: list[Any] = []
    if len(grids.code):
        with ThreadPoolExecutor(1) as beside:
            bounds = shapely.total_bounds(grids.polygons).tolist()
            reading = beside.submit(_building_columns, conn.engine, bounds, settings)
            _read_all(conn, region, grids)
            buildings = reading.result()
    demand = _placed(grids, buildings)
    columns = {f"grid_{c}": getattr(grids, c) for c in _GRID_COLUMNS}
    columns |= {f"demand_{c}": getattr(demand, c) for c in _DEMAND_COLUMNS}
    columns["grid_bounds"] = grids.bounds()
    save(conn, name, "inputs", region, {}, columns)
    return grids, demand
