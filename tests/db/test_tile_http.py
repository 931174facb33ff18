"""Vector tiles over HTTP: content type, compression, ETags and revalidation, cache lifetimes,
errors for tiles and layers that do not exist, the tile cache's own header, TileJSON and the
catalogue of tile layers."""

from __future__ import annotations

import gzip

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.geo.geodesy import sector_polygons
from gis.settings import Settings
from gis.store.demo_files import read_cameras
from tiles.layers import FACILITY_ZOOMS, LAYERS

from support import CITY, features, get_tile, tile_at

MVT = "application/vnd.mapbox-vector-tile"


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
    assert (tj["minzoom"], tj["maxzoom"]) == (12, 22)  # grids from zoom 12 (LEVEL_ZOOMS)
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
            "minzoom": 12,
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


@pytest.mark.parametrize("name", sorted(FACILITY_ZOOMS))
def test_centres_and_cameras_from_their_zoom(client: TestClient, name: str) -> None:
    """Below its first zoom a centre or camera layer's tile is empty (no statement runs: a
    province's z6 tile of camera sectors took 17 s); TileJSON says where it starts; from it
    the city's centres and cameras are drawn."""
    first = FACILITY_ZOOMS[name]
    assert LAYERS[name].min_zoom == first
    tj = client.get(f"/tiles/{name}.json").json()
    assert tj["minzoom"] == first and tj["vector_layers"][0]["minzoom"] == first
    below = get_tile(client, name, *tile_at(*CITY, first - 1))
    assert (below.status_code, below.content) == (204, b"")  # an empty tile
    assert features(get_tile(client, name, *tile_at(*CITY, first)).content, name)
