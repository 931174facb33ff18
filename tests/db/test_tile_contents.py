"""Vector tile contents checked against PostGIS and gis.geo.geodesy: the regions a tile holds,
their attributes and shapes, the label points, the centres' circles and the cameras' sectors.

Tiles are decoded with ``mapbox-vector-tile``; tile bounds are computed from the XYZ formulas
(support.tile_box), independently of ``ST_TileEnvelope``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.geo.geodesy import circle_polygons, sector_polygons
from gis.settings import Settings
from gis.store.generalised import LEVEL_ZOOMS
from tiles.layers import BUFFER, EXTENT, LAYERS, tolerance_m

from support import (
    CITY,
    MERCATOR,
    WORLD,
    clipped,
    features,
    get_tile,
    mercator,
    tile_at,
    tile_box,
    to_mercator,
)

LEVELS = {"grids": "grid", "communities": "community", "streets": "street", "counties": "county"}


def lonlat_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    (w, e), (s, n) = MERCATOR.transform(box[0::2], box[1::2], direction="INVERSE")
    return w, s, e, n


def _regions(engine: Engine, level: str, version: int = 1) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, parent_code, households, grid_worker, ST_AsBinary(geom) AS wkb "
                "FROM regions WHERE level = :level AND valid_from <= :v "
                "AND (valid_to IS NULL OR valid_to > :v)"
            ),
            {"level": level, "v": version},
        ).mappings()
        return {r["code"]: {**r, "geom": shapely.from_wkb(bytes(r["wkb"]))} for r in rows}


def _touching(engine: Engine, level: str, box: tuple[float, float, float, float]) -> set[str]:
    """Codes of the current regions of ``level`` intersecting a lon/lat box (PostGIS)."""
    with engine.connect() as conn:
        return set(
            conn.scalars(
                text(
                    "SELECT code FROM regions WHERE level = :level AND valid_to IS NULL "
                    "AND ST_Intersects(geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"
                ),
                dict(zip("wsen", box, strict=True), level=level),
            )
        )


TILES = [tile_at(*CITY, z) for z in (11, 13, 15)] + [tile_at(118.30, 40.125, 14), (8, 212, 96)]


@pytest.mark.parametrize("z", [8, 12, 14])
def test_labels_are_one_point_inside_each_region(
    client: TestClient, engine: Engine, z: int
) -> None:
    """The ``labels`` layer: a region's label point is in the tile (and its buffer) that
    holds shapely's point on its surface, once, and lies inside the region."""
    zxy = tile_at(*CITY, z)
    got: dict[str, shapely.Geometry] = {}
    for f in features(get_tile(client, "labels", *zxy).content, "labels"):
        code = f["properties"]["code"]
        assert code not in got, code
        got[code] = to_mercator(f["geometry"], *zxy)
    reach = shapely.box(*tile_box(*zxy, grow=BUFFER - 1))  # not the buffer's very edge
    shown = [lv for lv in LEVELS.values() if LEVEL_ZOOMS[lv].labels_from <= z]  # the zoom rule
    regions = {c: r for level in shown for c, r in _regions(engine, level).items()}
    expected = {
        code
        for code, r in regions.items()
        if reach.contains(mercator(shapely.point_on_surface(r["geom"])))
    }
    assert expected and expected <= set(got)
    unit = WORLD / 2**z / EXTENT
    for code, point in got.items():
        assert mercator(regions[code]["geom"]).distance(point) <= unit, code


@pytest.mark.parametrize("layer", list(LEVELS))
@pytest.mark.parametrize("zxy", TILES, ids=lambda t: "/".join(map(str, t)))
def test_a_tile_holds_the_regions_postgis_finds_in_it(
    client: TestClient, engine: Engine, layer: str, zxy: tuple[int, int, int]
) -> None:
    z, x, y = zxy
    response = get_tile(client, layer, z, x, y)
    found = features(response.content, layer) if response.status_code == 200 else []
    assert response.status_code == (200 if found else 204)
    codes = [f["properties"]["code"] for f in found]
    assert len(codes) == len(set(codes)) and codes == sorted(codes)
    # every region inside the tile (by more than two tile units) is there; nothing beyond the
    # buffer is
    if z < LEVEL_ZOOMS[LEVELS[layer]].shapes_from:  # the zoom rule: not drawn this far out
        assert response.status_code == 204
        return
    inside = _touching(engine, LEVELS[layer], lonlat_box(tile_box(z, x, y, grow=-2)))
    reach = _touching(engine, LEVELS[layer], lonlat_box(tile_box(z, x, y, grow=BUFFER)))
    assert inside <= set(codes) <= reach
    regions = _regions(engine, LEVELS[layer])
    clip = shapely.box(*tile_box(z, x, y, grow=BUFFER))
    allowed = tolerance_m(z) + 2 * WORLD / 2**z / EXTENT  # simplification + snapping
    for feature in found:
        region = regions[feature["properties"]["code"]]
        expected = {
            k: region[k] for k in ("code", "name", "parent_code", "households", "grid_worker")
        }
        fields = set(LAYERS[layer].tilejson_fields())
        assert feature["properties"] == {
            k: v for k, v in expected.items() if k in fields and v is not None
        }
        drawn = to_mercator(feature["geometry"], z, x, y)
        truth = clipped(region["geom"], clip)
        assert drawn.is_valid
        assert shapely.hausdorff_distance(drawn, truth) <= allowed, feature["properties"]["code"]


def test_chinese_attributes_come_through(client: TestClient, engine: Engine) -> None:
    z, x, y = tile_at(*CITY, 12)
    grids = features(get_tile(client, "grids", z, x, y).content, "grids")
    regions = _regions(engine, "grid")
    assert len(grids) > 10
    for f in grids:
        assert f["properties"]["name"] == regions[f["properties"]["code"]]["name"]
        assert "社区第" in f["properties"]["name"] and f["properties"]["name"].endswith("网格")
    assert not any("grid_worker" in f["properties"] for f in grids), "personal: never in tiles"


def test_points_and_geodesic_shapes(client: TestClient, engine: Engine) -> None:
    settings = Settings()
    z, x, y = tile_at(*CITY, 13)
    with engine.connect() as conn:
        centres = {
            r["id"]: r
            for r in conn.execute(
                text(
                    "SELECT id, name, level, radius_m, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                    "FROM centres"
                )
            ).mappings()
        }
        cameras = {
            r["id"]: r
            for r in conn.execute(
                text(
                    "SELECT id, device_id, status, azimuth_deg, fov_deg, range_m, "
                    "ST_X(geom) AS lon, ST_Y(geom) AS lat FROM cameras"
                )
            ).mappings()
        }
    box = shapely.box(*tile_box(z, x, y, grow=BUFFER))
    unit = WORLD / 2**z / EXTENT

    def radius(c: Any) -> float:
        return c["radius_m"] or settings.centre_radius_m[c["level"]]

    drawn = features(get_tile(client, "centres", z, x, y).content, "centres")
    inside = {
        i for i, c in centres.items() if box.contains(mercator(shapely.Point(c["lon"], c["lat"])))
    }
    assert {f["id"] for f in drawn} == inside and len(inside) > 5
    for f in drawn:
        c = centres[f["id"]]
        assert f["properties"] == {"name": c["name"], "level": c["level"], "radius_m": radius(c)}
        point = mercator(shapely.Point(c["lon"], c["lat"]))
        assert to_mercator(f["geometry"], z, x, y).distance(point) <= unit

    areas = features(get_tile(client, "centre_areas", z, x, y).content, "centre_areas")
    ids = list(centres)
    circles = dict(
        zip(
            ids,
            circle_polygons(
                [centres[i]["lon"] for i in ids],
                [centres[i]["lat"] for i in ids],
                [radius(centres[i]) for i in ids],
            ),
            strict=True,
        )
    )
    reaching = {i for i, g in circles.items() if mercator(g).intersects(box)}
    assert {f["id"] for f in areas} == reaching and len(reaching) > len(inside)
    for f in areas:
        truth = clipped(circles[f["id"]], box)
        assert (
            shapely.hausdorff_distance(to_mercator(f["geometry"], z, x, y), truth)
            <= tolerance_m(z) + 2 * unit
        )

    points = features(get_tile(client, "cameras", z, x, y).content, "cameras")
    inside = {
        i for i, c in cameras.items() if box.contains(mercator(shapely.Point(c["lon"], c["lat"])))
    }
    assert {f["id"] for f in points} == inside
    assert {f["properties"]["status"] for f in points} == {"online", "offline"}
    for f in points:
        c = cameras[f["id"]]
        assert f["properties"] == {
            k: c[k] for k in ("device_id", "status", "azimuth_deg", "fov_deg")
        }

    sectors = features(get_tile(client, "camera_sectors", z, x, y).content, "camera_sectors")
    online = [i for i, c in cameras.items() if c["status"] == "online"]
    shapes = dict(
        zip(
            online,
            sector_polygons(
                *(
                    [cameras[i][k] for i in online]
                    for k in ("lon", "lat", "azimuth_deg", "fov_deg", "range_m")
                )
            ),
            strict=True,
        )
    )
    reaching = {i for i, g in shapes.items() if mercator(g).intersects(box)}
    assert {f["id"] for f in sectors} == reaching and len(reaching) > 20
    for f in sectors:
        truth = clipped(shapes[f["id"]], box)
        assert (
            shapely.hausdorff_distance(to_mercator(f["geometry"], z, x, y), truth)
            <= tolerance_m(z) + 2 * unit
        )


@pytest.mark.parametrize("layer", ["centre_areas", "camera_sectors"])
def test_postgis_shapes_are_the_geodesy_shapes(engine: Engine, layer: str) -> None:
    """The SQL circles and sectors have gis.geo.geodesy's vertices, to a millimetre."""
    settings = Settings()
    spec = LAYERS[layer]
    with engine.connect() as conn:
        rows = (
            conn.exec_driver_sql(
                f"SELECT rows.*, ST_AsBinary(rows.shape) AS wkb, ST_X(c.geom) AS lon, "
                f"ST_Y(c.geom) AS lat FROM ({spec.rows(None, settings)}) rows "
                f"JOIN {spec.table} c ON c.id = rows.id ORDER BY rows.id",
                {"version": 1, **spec.params(settings)},
            )
            .mappings()
            .all()
        )
    assert rows
    got = [shapely.from_wkb(bytes(r["wkb"])) for r in rows]
    lon, lat = [r["lon"] for r in rows], [r["lat"] for r in rows]
    if layer == "centre_areas":
        expected = circle_polygons(lon, lat, [r["radius_m"] for r in rows])
    else:
        expected = sector_polygons(
            lon, lat, *([r[k] for r in rows] for k in ("azimuth_deg", "fov_deg", "range_m"))
        )
    for g, e in zip(got, expected, strict=True):
        assert len(g.exterior.coords) == len(e.exterior.coords)
        assert (
            np.abs(np.asarray(g.exterior.coords) - np.asarray(e.exterior.coords)).max() < 1e-8
        )  # ≈ 1 mm
