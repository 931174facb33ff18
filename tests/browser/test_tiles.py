"""Vector tiles: contents checked against PostGIS and gis.geo.geodesy, HTTP manners, the cache
never stale (two workers, an upload in between), and MapLibre GL JS drawing them in Chromium.

Tiles are decoded with ``mapbox-vector-tile``; tile bounds are computed here from the XYZ
formulas, independently of ``ST_TileEnvelope``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.geo.geodesy import circle_polygons, sector_polygons
from gis.settings import Settings
from gis.store.demo_files import read_cameras
from tiles.cache import TileCache
from tiles.layers import BUFFER, EXTENT, LAYERS, tolerance_m

from browser import LAUNCH_ARGS, PageLog, StaticSite, launch, screenshot
from support import features, serve_app, tile_at, upload, write_layer

WORLD = 2 * 20037508.342789244
MERCATOR = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
LEVELS = {"grids": "grid", "communities": "community", "streets": "street", "counties": "county"}
CITY = (118.3156645, 40.1488890)  # 栗乡街道党群服务中心
GRID_CODE = "130227001002001"
MVT = "application/vnd.mapbox-vector-tile"


def tile_box(z: int, x: int, y: int, grow: float = 0.0) -> tuple[float, float, float, float]:
    """Minx, miny, maxx, maxy of a tile in EPSG:3857 metres, grown by ``grow`` tile units."""
    size = WORLD / 2**z
    pad = grow * size / EXTENT
    minx, maxy = -WORLD / 2 + x * size, WORLD / 2 - y * size
    return minx - pad, maxy - size - pad, minx + size + pad, maxy + pad


def lonlat_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    (w, e), (s, n) = MERCATOR.transform(box[0::2], box[1::2], direction="INVERSE")
    return w, s, e, n


def to_mercator(geometry: dict[str, Any], z: int, x: int, y: int) -> shapely.Geometry:
    """A decoded feature's geometry (tile units, y down) in EPSG:3857 metres."""
    minx, _, _, maxy = tile_box(z, x, y)
    unit = WORLD / 2**z / EXTENT
    local = shape(geometry)
    return shapely.transform(
        local, lambda c: np.column_stack([minx + c[:, 0] * unit, maxy - c[:, 1] * unit])
    )


def mercator(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.column_stack(MERCATOR.transform(c[:, 0], c[:, 1])))


def clipped(geom: shapely.Geometry, box: shapely.Geometry) -> shapely.Geometry:
    """The areal part of ``geom`` (lon/lat) in EPSG:3857, inside ``box``: zero-width spikes
    and touching edges, which tiles leave out, dropped."""
    parts = shapely.get_parts(shapely.intersection(mercator(geom), box))
    return shapely.union_all(parts[shapely.get_dimensions(parts) == 2])


def get_tile(client: Any, layer: str, z: int, x: int, y: int, **params: Any) -> Any:
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params=params)


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
    regions = {c: r for level in LEVELS.values() for c, r in _regions(engine, level).items()}
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


# ---- HTTP manners ----------------------------------------------------------------------------


def test_http_manners(client: TestClient) -> None:
    z, x, y = tile_at(*CITY, 14)
    url = f"/tiles/grids/{z}/{x}/{y}.mvt"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == MVT
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert plain.headers["access-control-allow-origin"] == "*"
    assert plain.headers["cache-control"] == "public, max-age=60"
    assert plain.headers["x-boundary-version"] == "1"
    etag = plain.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/") and len(etag) == 34

    with client.stream("GET", url, headers={"Accept-Encoding": "gzip, deflate"}) as zipped:
        raw = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert zipped.headers["etag"] == etag[:-1] + '-gzip"'
    assert raw[:2] == b"\x1f\x8b" and gzip.decompress(raw) == plain.content
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused.content == plain.content

    for tag in (etag, etag[:-1] + '-gzip"', f'"x", W/{etag}', "*"):
        again = client.get(url, headers={"If-None-Match": tag, "Accept-Encoding": "gzip"})
        assert again.status_code == 304, tag
        assert again.content == b""
        assert again.headers["etag"] == etag[:-1] + '-gzip"'
        assert again.headers["cache-control"] == "public, max-age=60"
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200

    old = client.get(url, params={"as_of": 1}, headers={"Accept-Encoding": "identity"})
    assert old.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert old.headers["etag"] == etag and old.content == plain.content  # version 1 is current

    empty = get_tile(client, "grids", 10, 0, 0)  # the Pacific, far from 迁西
    assert empty.status_code == 204 and empty.content == b""
    assert empty.headers["access-control-allow-origin"] == "*"
    assert "cache-control" in empty.headers


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/grids/23/0/0.mvt",
        "/tiles/grids/3/8/0.mvt",
        "/tiles/grids/3/0/8.mvt",
        "/tiles/grids/3/-1/0.mvt",
        "/tiles/grids/a/0/0.mvt",
        "/tiles/grids/1/0/1.5.mvt",
        "/tiles/grids/99999999999/0/0.mvt",
    ],
)
def test_tiles_outside_the_pyramid_are_400(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_tile"


def test_unknown_layers_and_versions_are_404(client: TestClient) -> None:
    for path in ("/tiles/roads/1/0/0.mvt", "/tiles/roads.json"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["code"] == "layer_not_found"
    for path in ("/tiles/grids/1/0/0.mvt", "/tiles/grids.json"):
        response = client.get(path, params={"as_of": 99})
        assert response.status_code == 404 and response.json()["code"] == "version_not_found"
    response = client.get("/tiles/centres/1/0/0.mvt", params={"as_of": 1})
    assert response.status_code == 422 and response.json()["code"] == "layer_not_versioned"
    for bad in ({"as_of": 0}, {"as_of": "x"}, {"as_of": "1.5"}, {"cache": "yes"}):
        response = client.get("/tiles/grids/1/0/0.mvt", params=bad)
        assert response.status_code == 422 and response.json()["code"] == "invalid_parameter"
        (problem,) = response.json()["details"]["problems"]
        assert (problem["parameter"], problem["in"]) == (next(iter(bad)), "query")


def test_the_tile_route_documents_its_parameters(client: TestClient) -> None:
    """The tile route reads its own parameters; the OpenAPI document still names them."""
    operation = client.get("/openapi.json").json()["paths"]["/tiles/{layer}/{z}/{x}/{y}.mvt"]
    parameters = {p["name"]: p for p in operation["get"]["parameters"]}
    assert list(parameters) == ["layer", "z", "x", "y", "as_of", "cache"]
    assert parameters["layer"]["schema"]["enum"] == list(LAYERS)
    assert parameters["cache"]["schema"]["enum"] == ["on", "off"]


def test_the_cache_answers_repeats_and_can_be_bypassed(client: TestClient) -> None:
    z, x, y = tile_at(*CITY, 16)
    url = f"/tiles/streets/{z}/{x}/{y}.mvt"
    first, second = client.get(url), client.get(url)
    assert first.headers["x-tile-cache"] == "miss" and second.headers["x-tile-cache"] == "hit"
    cold = client.get(url, params={"cache": "off"})
    assert cold.headers["x-tile-cache"] == "off"
    assert first.content == second.content == cold.content
    assert first.headers["etag"] == cold.headers["etag"]
    assert client.get(url, params={"cache": "nope"}).status_code == 422


def test_tilejson_and_catalogue(client: TestClient, engine: Engine) -> None:
    catalogue = client.get("/tiles")
    assert catalogue.status_code == 200
    assert catalogue.headers["access-control-allow-origin"] == "*"
    layers = {layer["id"]: layer for layer in catalogue.json()["layers"]}
    assert list(layers) == [
        "grids", "communities", "streets", "counties", "labels",
        "centres", "centre_areas", "cameras", "camera_sectors",
    ]  # fmt: skip
    base = str(client.base_url).rstrip("/")
    assert layers["grids"]["tiles"] == f"{base}/tiles/grids/{{z}}/{{x}}/{{y}}.mvt"

    response = client.get(layers["grids"]["tilejson"])
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "public, max-age=60"
    tj = response.json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == [f"{base}/tiles/grids/{{z}}/{{x}}/{{y}}.mvt"]
    assert (tj["minzoom"], tj["maxzoom"]) == (0, 22)
    with engine.connect() as conn:
        extent = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) e FROM regions "
                "WHERE level = 'grid' AND valid_to IS NULL) q"
            )
        ).one()
    assert tj["bounds"] == pytest.approx(list(extent))
    west, south, east, north = tj["bounds"]
    lon, lat, zoom = tj["center"]
    assert west < lon < east and south < lat < north and 10 <= zoom <= 14
    assert tj["vector_layers"] == [
        {
            "id": "grids",
            "description": "网格",
            "minzoom": 0,
            "maxzoom": 22,
            "fields": {
                "code": "String",
                "name": "String",
                "parent_code": "String",
                "households": "Number",
            },
        }
    ]
    old = client.get("/tiles/grids.json", params={"as_of": 1})
    assert old.json()["tiles"] == [f"{base}/tiles/grids/{{z}}/{{x}}/{{y}}.mvt?as_of=1"]
    assert old.headers["cache-control"] == "public, max-age=31536000, immutable"
    sectors = client.get("/tiles/camera_sectors.json").json()
    assert sectors["vector_layers"][0]["fields"]["range_m"] == "Number"
    online = [c for c in read_cameras(Settings().demo_dir) if c["status"] == "online"]
    shapes = sector_polygons(
        *(
            [float(c[k]) for c in online]
            for k in ("lon", "lat", "azimuth_deg", "fov_deg", "range_m")
        )
    )
    assert sectors["bounds"] == pytest.approx(list(shapely.total_bounds(shapes)), abs=1e-9)


# ---- versions and the cache ------------------------------------------------------------------


def _strip_moved(demo_grids: dict) -> tuple[list[dict[str, Any]], list[shapely.Geometry], str]:
    """The grids of 清泉里社区 with a strip of grid 001 given to a neighbour, 001 renamed."""
    siblings = [
        f for f in demo_grids["features"] if f["properties"]["parent_code"] == "130227001002"
    ]
    shapes = {f["properties"]["code"]: shape(f["geometry"]) for f in siblings}
    donor = shapes[GRID_CODE]
    neighbour = next(
        c for c, g in shapes.items() if c != GRID_CODE and donor.intersection(g).length > 1e-3
    )
    strip = donor.intersection(shapes[neighbour].buffer(0.0004))
    shapes[GRID_CODE] = donor.difference(strip)
    shapes[neighbour] = shapes[neighbour].union(strip)
    rows = [
        {
            "code": f["properties"]["code"],
            "name": f["properties"]["name"]
            + ("（已调整）" if f["properties"]["code"] == GRID_CODE else ""),
            "parent_code": "130227001002",
        }
        for f in siblings
    ]
    return rows, [shapes[r["code"]] for r in rows], neighbour


def _grid(data: bytes, code: str) -> dict[str, Any]:
    return next(f for f in features(data, "grids") if f["properties"]["code"] == code)


def test_as_of_serves_the_old_boundaries(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    z, x, y = tile_at(
        *shape(
            next(
                f["geometry"]
                for f in demo_grids["features"]
                if f["properties"]["code"] == GRID_CODE
            )
        )
        .representative_point()
        .coords[0],
        15,
    )
    before = get_tile(fresh_client, "grids", z, x, y)
    rows, shapes, _ = _strip_moved(demo_grids)
    path = write_layer(tmp_path / "grids.geojson", rows, shapes)
    committed = upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False)
    assert committed.status_code == 201, committed.json()
    after = get_tile(fresh_client, "grids", z, x, y)
    assert after.headers["x-boundary-version"] == "2"
    assert _grid(after.content, GRID_CODE)["properties"]["name"].endswith("（已调整）")
    assert after.headers["etag"] != before.headers["etag"]
    old = get_tile(fresh_client, "grids", z, x, y, as_of=1)
    assert old.headers["x-boundary-version"] == "1"
    assert old.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert old.content == before.content and old.headers["etag"] == before.headers["etag"]
    assert get_tile(fresh_client, "grids", z, x, y, as_of=2).content == after.content
    communities = get_tile(fresh_client, "communities", z, x, y)
    assert communities.headers["x-boundary-version"] == "2"  # unchanged tile, new key, same tag
    assert (
        communities.headers["etag"]
        == get_tile(fresh_client, "communities", z, x, y, as_of=1).headers["etag"]
    )


def test_writes_to_centres_and_cameras_reach_the_next_tile(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    auth = {"Authorization": f"Bearer {key}"}
    z, x, y = tile_at(*CITY, 14)
    before = features(get_tile(fresh_client, "centres", z, x, y).content, "centres")
    assert get_tile(fresh_client, "centres", z, x, y).headers["x-tile-cache"] == "hit"
    created = fresh_client.post(
        "/api/v1/centres",
        json={"type": "Feature",
              "geometry": {"type": "Point", "coordinates": [CITY[0] + 0.001, CITY[1]]},
              "properties": {"name": "新建党群服务站", "level": "station", "radius_m": 420}},
        headers=auth,
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    after = get_tile(fresh_client, "centres", z, x, y)
    assert after.headers["x-tile-cache"] == "miss"
    new = [
        f for f in features(after.content, "centres") if f["properties"]["name"] == "新建党群服务站"
    ]
    assert len(features(after.content, "centres")) == len(before) + 1
    assert new[0]["properties"]["radius_m"] == 420
    areas = features(get_tile(fresh_client, "centre_areas", z, x, y).content, "centre_areas")
    assert new[0]["id"] in {f["id"] for f in areas}

    sectors = features(
        get_tile(fresh_client, "camera_sectors", 12, *tile_at(*CITY, 12)[1:]).content,
        "camera_sectors",
    )
    camera = sectors[0]
    patched = fresh_client.patch(
        f"/api/v1/cameras/{camera['id']}",
        json={"properties": {"status": "offline"}},
        headers=auth,
    )
    assert patched.status_code == 200, patched.json()
    sectors = features(
        get_tile(fresh_client, "camera_sectors", 12, *tile_at(*CITY, 12)[1:]).content,
        "camera_sectors",
    )
    assert camera["id"] not in {f["id"] for f in sectors}


def test_cache_is_bounded_and_makes_each_entry_once() -> None:
    cache: TileCache[bytes] = TileCache(1000, len)
    for i in range(10):
        cache.put(i, bytes(200))
    stats = cache.stats()
    assert stats.bytes <= 1000 and stats.entries == 5
    assert cache.get(0) is None and cache.get(9) == bytes(200)
    cache.get(5)
    cache.put("new", bytes(200))
    assert cache.get(5) is not None and cache.get(6) is None  # least recently used goes
    cache.put("huge", bytes(600))
    assert cache.get("huge") is None

    calls = []

    async def make() -> bytes:
        calls.append(1)
        await asyncio.sleep(0.05)
        return b"tile"

    async def many() -> list[tuple[bytes, bool]]:
        return await asyncio.gather(*(cache.get_or_make("k", make) for _ in range(20)))

    results = asyncio.run(many())
    assert len(calls) == 1
    assert [r for r, _ in results] == [b"tile"] * 20
    assert sum(not shared for _, shared in results) == 1


def test_any_committed_write_to_centres_or_cameras_changes_their_tiles(
    fresh_client: TestClient, fresh_engine: Engine
) -> None:
    """Writes not made through gridmap (psql, say) count too; rolled back ones do not."""
    z, x, y = tile_at(*CITY, 14)
    url = f"/tiles/centres/{z}/{x}/{y}.mvt"
    first = fresh_client.get(url)
    assert fresh_client.get(url).headers["x-tile-cache"] == "hit"
    rename = text("UPDATE centres SET name = '新名称' WHERE name = '栗乡街道党群服务中心'")
    with fresh_engine.connect() as conn:
        conn.execute(rename)
        conn.rollback()
    kept = fresh_client.get(url)
    assert kept.headers["x-tile-cache"] == "hit" and kept.content == first.content
    with fresh_engine.begin() as conn:
        conn.execute(rename)
    renamed = fresh_client.get(url)
    assert renamed.headers["x-tile-cache"] == "miss"
    assert "新名称" in {f["properties"]["name"] for f in features(renamed.content, "centres")}
    assert get_tile(fresh_client, "cameras", z, x, y).status_code == 200
    with fresh_engine.begin() as conn:
        conn.execute(text("TRUNCATE cameras"))
    assert get_tile(fresh_client, "cameras", z, x, y).status_code == 204
    assert get_tile(fresh_client, "camera_sectors", z, x, y).status_code == 204


def test_a_commit_changes_the_next_tile_of_every_worker(
    fresh_db_url: str, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    """Two uvicorn workers cache a grid tile; an upload moves a boundary and renames the grid:
    every following request, whichever worker answers, has the new geometry and name."""
    rows, shapes, _ = _strip_moved(demo_grids)
    donor = shapes[[r["code"] for r in rows].index(GRID_CODE)]
    z, x, y = tile_at(*donor.representative_point().coords[0], 14)
    url = f"/tiles/grids/{z}/{x}/{y}.mvt"
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log", workers=2) as base:
        # a new connection per request, so both workers answer (and cache version 1)
        before = [httpx.get(base + url, timeout=60) for _ in range(40)]
        assert {(r.status_code, r.headers["x-boundary-version"]) for r in before} == {(200, "1")}
        assert {r.headers["x-tile-cache"] for r in before} == {"miss", "hit"}
        assert len({r.content for r in before}) == 1
        old = _grid(before[0].content, GRID_CODE)
        path = write_layer(tmp_path / "grids.geojson", rows, shapes)
        with httpx.Client(base_url=base, timeout=120) as client:
            committed = upload(client, path, make_key("editor"), level="grid", dry_run=False)
        assert committed.status_code == 201, committed.json()
        assert committed.json()["version"] == 2
        after = [httpx.get(base + url, timeout=60) for _ in range(40)]
        versions = [r.headers["x-boundary-version"] for r in after]
        assert set(versions) == {"2"}, versions
        assert len({r.content for r in after}) == 1
        new = _grid(after[0].content, GRID_CODE)
        assert new["properties"]["name"] == old["properties"]["name"] + "（已调整）"
        drawn = to_mercator(new["geometry"], z, x, y)
        clip = shapely.box(*tile_box(z, x, y, grow=BUFFER))
        expected = clipped(donor, clip)
        allowed = tolerance_m(z) + 2 * WORLD / 2**z / EXTENT
        assert shapely.hausdorff_distance(drawn, expected) <= allowed
        assert (
            shapely.hausdorff_distance(to_mercator(old["geometry"], z, x, y), expected)
            > 10 * allowed
        )
        # centres have no versions: their tiles are keyed by the table's data stamp
        centres = f"/tiles/centres/{z}/{x}/{y}.mvt"
        cached = [httpx.get(base + centres, timeout=60) for _ in range(20)]
        assert {r.headers["x-tile-cache"] for r in cached} == {"miss", "hit"}
        point = donor.representative_point()
        with httpx.Client(base_url=base, timeout=60) as client:
            created = client.post(
                "/api/v1/centres",
                json={"type": "Feature", "geometry": shapely.geometry.mapping(point),
                      "properties": {"name": "新建党群之家", "level": "home"}},
                headers={"Authorization": f"Bearer {make_key('editor')}"},
            )  # fmt: skip
        assert created.status_code == 201, created.json()
        names = [
            {f["properties"]["name"] for f in features(r.content, "centres")}
            for r in (httpx.get(base + centres, timeout=60) for _ in range(20))
        ]
        assert all("新建党群之家" in n for n in names)


# ---- MapLibre GL JS in Chromium --------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium as in conftest; WebGL2 comes from SwiftShader with the default arguments."""
    assert "--disable-gpu" in LAUNCH_ARGS
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


STYLE_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>tiles</title>
<link rel="stylesheet" href="{app}/vendor/maplibre-gl@5.24.1/dist/maplibre-gl.css">
<script src="{app}/vendor/maplibre-gl@5.24.1/dist/maplibre-gl.js"></script>
<style>html, body, #map {{ margin: 0; height: 100%; }}</style></head>
<body><div id="map"></div><script>
const map = new maplibregl.Map({{
  container: "map",
  style: {{
    version: 8,
    sources: {{grids: {{type: "vector", url: "{app}/tiles/grids.json"}}}},
    layers: [
      {{id: "background", type: "background", paint: {{"background-color": "#f4f2ec"}}}},
      {{id: "grids-fill", type: "fill", source: "grids", "source-layer": "grids",
        paint: {{"fill-color": "#a1d99b", "fill-opacity": 0.6}}}},
      {{id: "grids-line", type: "line", source: "grids", "source-layer": "grids",
        paint: {{"line-color": "#333", "line-width": 1}}}}
    ]
  }},
  bounds: {bounds}, fitBoundsOptions: {{padding: 40}}
}});
window.gridmapMap = map;
map.once("idle", () => {{ window.gridmapIdle = true; }});
</script></body></html>
"""

RENDERED_GRIDS = """() => {
  const found = window.gridmapMap.queryRenderedFeatures({layers: ['grids-fill']});
  return [...new Set(found.map(f => f.properties.code))].sort();
}"""


def _demo_codes(demo_grids: dict) -> list[str]:
    return sorted(f["properties"]["code"] for f in demo_grids["features"])


def test_maplibre_draws_the_grid_tiles_from_another_origin(
    app_server: str, static_server: StaticSite, page_log: PageLog, demo_grids: dict
) -> None:
    bounds = shapely.total_bounds([shape(f["geometry"]) for f in demo_grids["features"]]).tolist()
    url = static_server.publish("tiles.html", STYLE_PAGE.format(app=app_server, bounds=bounds))
    page = page_log.page
    tiles: list[str] = []
    page.on("response", lambda r: tiles.append(r.url) if ".mvt" in r.url else None)
    page.goto(url)
    page.wait_for_function("() => window.gridmapIdle === true", timeout=30_000)
    assert page.evaluate(RENDERED_GRIDS) == _demo_codes(demo_grids)
    assert tiles and all(t.startswith(f"{app_server}/tiles/grids/") for t in tiles)
    screenshot(page, "tiles-maplibre")
    assert page_log.problems() == {}


def test_the_vector_map_page(app_server: str, page_log: PageLog, demo_grids: dict) -> None:
    page = page_log.page
    page.goto(f"{app_server}/maps/vector")
    page.wait_for_function("() => window.gridmapIdle === true", timeout=30_000)
    assert page.evaluate(RENDERED_GRIDS) == _demo_codes(demo_grids)
    rendered = page.evaluate(
        """() => Object.fromEntries(['centres-circle', 'cameras-circle', 'centre_areas-fill',
             'camera_sectors-fill', 'communities-line', 'counties-line'].map(id =>
             [id, window.gridmapMap.queryRenderedFeatures({layers: [id]}).length]))"""
    )
    assert all(n > 0 for n in rendered.values()), rendered
    page.evaluate(
        """() => new Promise((done) => {
          window.gridmapMap.once("idle", done);
          window.gridmapMap.jumpTo({zoom: 13});
        })"""
    )
    communities = page.evaluate(
        """() => window.gridmapMap.queryRenderedFeatures({layers: ['communities-label']})
                 .map(f => f.properties.name)"""
    )
    demo = json.loads((Settings().demo_dir / "communities.geojson").read_text(encoding="utf-8"))
    assert set(communities) & {f["properties"]["name"] for f in demo["features"]}, communities
    screenshot(page, "tiles-vector-labels")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "边界版本 1" in page.locator(".gm-panel").inner_text()
    screenshot(page, "tiles-vector-city")
    feature = next(f for f in demo_grids["features"] if f["properties"]["code"] == GRID_CODE)
    inside = shape(feature["geometry"]).representative_point()
    x, y = page.evaluate(
        """async ([lon, lat]) => {
          const map = window.gridmapMap;
          const idle = new Promise((done) => map.once("idle", done));
          map.jumpTo({center: [lon, lat], zoom: 16});
          await idle;  // tiles loaded and labels placed
          const p = map.project([lon, lat]);
          return [p.x, p.y];
        }""",
        [inside.x, inside.y],
    )
    # labels, drawn in the browser (no glyph files): the grid's own name is placed, once
    labels = page.evaluate(
        """() => window.gridmapMap.queryRenderedFeatures({layers: ['grids-label']})
                 .map(f => f.properties.name)"""
    )
    assert labels.count(feature["properties"]["name"]) == 1, labels
    page.mouse.click(x, y)
    popup = page.locator(".maplibregl-popup-content")
    popup.wait_for()
    body = popup.inner_text()
    assert feature["properties"]["name"] in body and GRID_CODE in body
    assert "网格员" not in body  # personal data: never in tiles (gis.access.privacy)
    screenshot(page, "tiles-vector-popup")
    assert page_log.problems() == {}
