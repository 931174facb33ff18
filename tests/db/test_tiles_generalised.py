"""Generalised boundaries prepared at commit time (``gis.store.generalised``) and the tiles that
read them: what a commit, an upload and a restore prepare, that low-zoom tiles use it, that a
tile is the same bytes as the per-request statement makes from the full geometry and holds the
regions PostGIS finds in it, at every version, and that tiles of a large county stay small.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.app import create_app
from gis.settings import Settings
from gis.store.generalised import (
    LABEL_ZOOM,
    LEVEL_ZOOMS,
    PREPARED_TO,
    prepare_missing,
    prepared_zooms,
    tolerance_m,
)
from gis.store.seed import demo_records
from gis.store.versions import commit_and_publish, commit_regions, restore_version
from tiles.layers import BUFFER, EXTENT, LAYERS
from tiles.service import tile_params

from large_city import CELL, ORIGIN, add_county
from support import (
    CITY,
    WORLD,
    clipped,
    database_copy,
    features,
    get_tile,
    mercator,
    tile_at,
    tile_box,
    to_mercator,
)
from version_changes import COMMUNITY, upload_changes

BOUNDARIES = {
    "grids": "grid",
    "communities": "community",
    "streets": "street",
    "counties": "county",
}
CAP_BYTES = 500_000
"""Issue 16: no tile over 500 KB."""
COUNTY_GRIDS = 4000
"""The large county: 40 communities, 4 streets, ~31 × 13 km."""
COUNTY_CENTRE = (ORIGIN[0] + 100 * CELL[0], ORIGIN[1] + 10 * CELL[1])


def _shapes(conn: Connection) -> set[tuple[int, int]]:
    return {(r, z) for r, z in conn.execute(text("SELECT region_id, zoom FROM region_shapes"))}


def _expected(conn: Connection, where: str = "true") -> set[tuple[int, int]]:
    """(row id, zoom) of every prepared shape the rule asks for the rows ``where`` selects."""
    rows = conn.execute(text(f"SELECT id, level FROM regions WHERE {where}"))
    return {
        (i, z)
        for i, level in rows
        if LEVEL_ZOOMS[level].prepared
        for z in (LABEL_ZOOM, *prepared_zooms(level))
    }


def _unprepared(conn: Connection, layer: str, z: int, x: int, y: int, version: int) -> bytes:
    """The tile as the statement makes it with no prepared shape: every polygon simplified from
    its full geometry in the request (the floor the prepared shapes must equal)."""
    spec, settings = LAYERS[layer], Settings()
    sql = spec.tile_sql(settings).replace("AND p.zoom = %(shape_zoom)s", "AND false")
    assert "AND false" in sql
    params = tile_params(spec, z, x, y, version, settings)
    return b"" if params is None else bytes(conn.exec_driver_sql(sql, params).scalar() or b"")


def _postgis_codes(
    conn: Connection, level: str, version: int, z: int, x: int, y: int, grow: float
) -> set[str]:
    """Codes of the regions of ``level`` at ``version`` meeting the tile grown by ``grow``
    tile units (the box from support.tile_box, not ST_TileEnvelope)."""
    box = shapely.box(*tile_box(z, x, y, grow=grow))
    return set(
        conn.scalars(
            text(
                "SELECT code FROM regions WHERE level = :level AND valid_from <= :v "
                "AND (valid_to IS NULL OR valid_to > :v) "
                "AND ST_Intersects(ST_Transform(geom, 3857), ST_GeomFromText(:box, 3857))"
            ),
            {"level": level, "v": version, "box": box.wkt},
        )
    )


def _check_tile(
    client: TestClient, engine: Engine, layer: str, zxy: tuple[int, int, int], version: int
) -> int:
    """Tile ``zxy`` of ``layer`` at ``version`` (as_of) is the unprepared statement's bytes and
    holds every region PostGIS finds inside it, nothing beyond its buffer, each with its row's
    attributes and within the zoom's tolerance of its full geometry.  Returns its features."""
    z, x, y = zxy
    response = get_tile(client, layer, z, x, y, as_of=version, cache="off")
    with engine.connect() as conn:
        assert response.content == _unprepared(conn, layer, z, x, y, version), (layer, zxy)
        found = features(response.content, layer)
        codes = {f["properties"]["code"] for f in found}
        level = BOUNDARIES[layer]
        if z < LEVEL_ZOOMS[level].shapes_from:
            assert response.status_code == 204
            return 0
        inside = _postgis_codes(conn, level, version, z, x, y, grow=-2)
        reach = _postgis_codes(conn, level, version, z, x, y, grow=BUFFER)
        assert inside <= codes <= reach, (layer, zxy)
        rows = {
            r["code"]: r
            for r in conn.execute(
                text(
                    "SELECT code, name, parent_code, households, ST_AsBinary(geom) AS wkb "
                    "FROM regions WHERE code = ANY(:codes) AND valid_from <= :v "
                    "AND (valid_to IS NULL OR valid_to > :v)"
                ),
                {"codes": list(codes), "v": version},
            ).mappings()
        }
    clip = shapely.box(*tile_box(z, x, y, grow=BUFFER))
    allowed = tolerance_m(z) + 2 * WORLD / 2**z / EXTENT  # simplification + snapping
    fields = set(LAYERS[layer].tilejson_fields())
    for f in found:
        row = rows[f["properties"]["code"]]
        assert f["properties"] == {k: row[k] for k in fields if row[k] is not None}
        truth = clipped(shapely.from_wkb(bytes(row["wkb"])), clip)
        drawn = to_mercator(f["geometry"], z, x, y)
        assert drawn.is_valid  # ST_AsMVTGeom repairs what Douglas–Peucker crossed
        assert shapely.hausdorff_distance(drawn, truth) <= allowed, (layer, zxy, row["code"])
    return len(found)


def test_a_commit_prepares_the_shapes_the_rule_asks(engine: Engine) -> None:
    """The demo city, loaded through the commit path: each row has a shape for each zoom from
    its level's first to PREPARED_TO — exactly the per-request expression's, and within the
    zoom's tolerance of the full geometry (shapely, pyproj) — and its label point, inside it."""
    assert PREPARED_TO == 13
    with engine.connect() as conn:
        assert _shapes(conn) == _expected(conn)
        rows = conn.execute(
            text(
                "SELECT s.zoom, ST_AsBinary(r.geom), ST_AsBinary(s.geom), "
                "ST_OrderingEquals(s.geom, CASE WHEN s.zoom = :label "
                "  THEN ST_Transform(ST_PointOnSurface(r.geom), 3857) "
                "  ELSE ST_Simplify(ST_Transform(r.geom, 3857), t.tolerance, true) END) "
                "FROM region_shapes s JOIN regions r ON r.id = s.region_id "
                "JOIN unnest(CAST(:zooms AS int[]), CAST(:tolerances AS float8[])) "
                "  AS t(zoom, tolerance) ON t.zoom = s.zoom"
            ),
            {
                "label": LABEL_ZOOM,
                "zooms": [LABEL_ZOOM, *range(17)],
                "tolerances": [0.0, *(tolerance_m(z) for z in range(17))],
            },
        ).all()
    assert len(rows) > 10  # the county, street and communities at their zooms
    for zoom, full, prepared, same in rows:
        assert same
        truth = mercator(shapely.from_wkb(bytes(full)))
        shape = shapely.from_wkb(bytes(prepared))
        if zoom == LABEL_ZOOM:
            assert truth.distance(shape) < 0.01
        else:
            assert shapely.hausdorff_distance(shape, truth) <= tolerance_m(zoom) * 1.001


def test_a_commit_prepares_only_the_rows_it_writes(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Any,
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """An upload of one community's grids prepares nothing (grids are simplified per
    request); a commit that renames the community prepares its new row — nothing else — and
    every older row keeps its shapes."""
    with fresh_engine.connect() as conn:
        before = _shapes(conn)
    changes = upload_changes(fresh_client, make_key("editor"), demo_grids, tmp_path)
    with fresh_engine.connect() as conn:
        written = set(conn.scalars(text("SELECT code FROM regions WHERE valid_from = 2")))
        assert written == changes["added"] | changes["changed"]
        assert _shapes(conn) == before
    community = next(r for r in demo_records(Settings().demo_dir) if r.code == COMMUNITY)
    community.name = "山庄里新社区"
    summary = commit_and_publish(
        fresh_engine,
        lambda c: commit_regions(c, [community], author="tester", action="edit"),
    )
    assert summary.number == 3 and summary.modified == [COMMUNITY]
    with fresh_engine.connect() as conn:
        after = _shapes(conn)
        new = _expected(conn, "valid_from = 3")
    assert after == before | new and not before & new
    assert {z for _, z in new} == {LABEL_ZOOM, *range(9, 14)}


@pytest.fixture(scope="module")
def county(server_url: str, template_db: str) -> Iterator[tuple[TestClient, Engine, int]]:
    """(client, engine, version) of the demo plus a 4 000-grid county written behind the
    commit path (``tests/large_city.py``), then prepared with ``prepare_missing``."""
    with database_copy(server_url, template_db) as (url, engine):
        version = add_county(engine, COUNTY_GRIDS)
        with engine.begin() as conn:
            assert _shapes(conn) != _expected(conn)
            prepare_missing(conn)
            assert _shapes(conn) == _expected(conn)
        with TestClient(create_app(Settings(database_url=url))) as client:
            yield client, engine, version


@pytest.mark.parametrize("z", range(6, 17, 2))
def test_tiles_equal_the_floor_and_postgis(county: tuple[TestClient, Engine, int], z: int) -> None:
    """Every boundary layer at z6–16, on the county's centre and its south-west corner: the
    same bytes as the unprepared statement, the regions and attributes PostGIS finds there."""
    client, engine, version = county
    drawn = 0
    for layer in BOUNDARIES:
        for lon, lat in (COUNTY_CENTRE, (ORIGIN[0] + 1e-4, ORIGIN[1] + 1e-4)):
            drawn += _check_tile(client, engine, layer, tile_at(lon, lat, z), version)
    assert drawn > 0


def test_low_zoom_tiles_read_the_prepared_shapes(
    fresh_client: TestClient, fresh_engine: Engine
) -> None:
    """A prepared shape replaced by a square is what the community's tile draws at a prepared
    zoom (10–13), and not at 14, which simplifies the full geometry per request."""
    with fresh_engine.begin() as conn:
        region_id, lon, lat = conn.execute(
            text(
                "SELECT id, ST_X(p), ST_Y(p) FROM regions, ST_PointOnSurface(geom) p "
                "WHERE code = :c AND valid_to IS NULL"
            ),
            {"c": COMMUNITY},
        ).one()
        conn.execute(
            text(
                "UPDATE region_shapes SET geom = ST_Expand(ST_Transform(ST_SetSRID("
                "ST_MakePoint(:lon, :lat), 4326), 3857), 50) "
                "WHERE region_id = :id"
            ),
            {"id": region_id, "lon": lon, "lat": lat},
        )
    for z, square in ((12, True), (13, True), (14, False)):
        zxy = tile_at(lon, lat, z)
        found = [
            f
            for f in features(get_tile(fresh_client, "communities", *zxy).content, "communities")
            if f["properties"]["code"] == COMMUNITY
        ]
        assert len(found) == 1
        area = to_mercator(found[0]["geometry"], *zxy).area
        assert (abs(area - 100 * 100) < 100 * 100 * 0.2) == square, (z, area)


def test_restore_and_as_of_draw_each_versions_shapes(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Any,
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """After an upload (version 2) and a restore of version 1 (version 3), each version's
    tiles are its own rows' — prepared, equal to the unprepared statement, PostGIS's codes."""
    upload_changes(fresh_client, make_key("editor"), demo_grids, tmp_path)
    restored = commit_and_publish(fresh_engine, lambda c: restore_version(c, 1, author="admin"))
    assert restored.number == 3
    with fresh_engine.connect() as conn:
        assert _shapes(conn) == _expected(conn)
    for version in (1, 2, 3):
        for layer in ("grids", "communities"):
            for z in (10, 12, 13):
                _check_tile(fresh_client, fresh_engine, layer, tile_at(*CITY, z), version)


def test_tiles_stay_under_the_cap(county: tuple[TestClient, Engine, int]) -> None:
    """Every tile of the county's boundary and label layers up to zoom 12, and its centre's
    3 × 3 tiles at 13–16: none over 500 KB."""
    _, engine, version = county
    settings = Settings()
    west, south = ORIGIN
    east, north = ORIGIN[0] + 200 * CELL[0], ORIGIN[1] + 20 * CELL[1]
    biggest: dict[int, int] = {}
    with engine.connect() as conn:
        statements = {name: LAYERS[name].tile_sql(settings) for name in [*BOUNDARIES, "labels"]}
        for z in range(0, 17):
            _, x0, y0 = tile_at(west, north, z)
            _, x1, y1 = tile_at(east, south, z)
            if z > 12:
                _, cx, cy = tile_at(*COUNTY_CENTRE, z)
                x0, x1, y0, y1 = cx - 1, cx + 1, cy - 1, cy + 1
            for name, sql in statements.items():
                for x in range(x0, x1 + 1):
                    for y in range(y0, y1 + 1):
                        params = tile_params(LAYERS[name], z, x, y, version, settings)
                        if params is not None:
                            size = len(conn.exec_driver_sql(sql, params).scalar() or b"")
                            biggest[z] = max(biggest.get(z, 0), size)
    assert max(biggest.values()) <= CAP_BYTES, biggest
    assert biggest[12] > 10_000  # the grids are there
