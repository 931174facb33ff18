"""Values PostgreSQL cannot take answer 422, never 500 (issue 13): a NUL character in any
text that reaches the database (paths, query parameters), integers beyond int8, non-ASCII
digits as ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.errors import InvalidInput
from gis.query.addresses import MAX_ADDRESS_CHARS, match_address

from support import state, upload, write_layer, zip_dir

NUL = [
    "/api/v1/regions/13%00",
    "/api/v1/regions?parent=1%002",
    "/maps/region/1%003",
    "/ogc/collections/grids/items?code=1%00",
    "/api/v1/regions?level=grid&parent=130227001%00001",
]
HUGE = "99999999999999999999"
POINT = {"type": "Point", "coordinates": [118.3, 40.17]}
OUT_OF_RANGE = [
    f"/api/v1/regions?offset={HUGE}",
    f"/api/v1/versions?offset={HUGE}",
    f"/api/v1/centres?offset={HUGE}",
    f"/api/v1/cameras?offset={HUGE}",
]


@pytest.mark.parametrize("url", NUL + OUT_OF_RANGE)
def test_values_the_database_cannot_take_are_422(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    body = response.json()
    assert body["code"] in (
        "invalid_text",
        "invalid_value",
        "invalid_parameter",
        "region_not_found",
    )
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]) and "(" in body["message"]


@pytest.mark.parametrize("key", ["²", "١٢", HUGE, "1e3", "-1"])
@pytest.mark.parametrize("layer", ["centres", "cameras"])
def test_ids_that_are_no_int8_in_ascii_are_not_found(
    client: TestClient, layer: str, key: str
) -> None:
    response = client.get(f"/api/v1/{layer}/{key}")
    if layer == "cameras":  # cameras are keyed by their 20-digit device ID
        assert response.status_code in (404, 422), response.text
    else:
        assert (response.status_code, response.json()["code"]) == (404, "centre_not_found")


def test_an_address_is_at_most_200_characters(client: TestClient, engine: Engine) -> None:
    """Matching cost grows with the text (10 000 characters took ~0.7 s): the limit is said in
    the OpenAPI document and enforced, over HTTP and in the matcher itself."""
    long = "阳光小区5-2-301" * 30
    response = client.get("/api/v1/lookup", params={"address": long})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_parameter")
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"]["/api/v1/lookup"]["get"]["parameters"]
    address = next(p for p in parameters if p["name"] == "address")
    assert MAX_ADDRESS_CHARS == 200
    assert "200" in str(address["schema"])
    with engine.connect() as conn, pytest.raises(InvalidInput) as refused:
        match_address(conn, long)
    assert refused.value.code == "address_too_long"


@pytest.mark.parametrize(
    ("body", "feature"),
    [
        ({"features": [{"type": "Feature", "properties": [1, 2], "geometry": POINT}]}, 1),
        ({"features": [{"properties": {}, "geometry": POINT}, {"properties": "x"}]}, 2),
        ({"features": [{"geometry": {"type": "Point", "coordinates": []}}]}, 1),
        ({"features": "x"}, None),
    ],
)
def test_malformed_geojson_members_name_the_feature(
    client: TestClient, body: dict, feature: int | None
) -> None:
    response = client.post(
        "/api/v1/lookup/batch",
        content=json.dumps({"type": "FeatureCollection", **body}),
        headers={"content-type": "application/geo+json"},
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_geojson")
    assert response.json()["details"]["feature"] == feature


@pytest.mark.parametrize("sent", ["a" * 300 + ".geojson", "网格" * 200 + ".geojson"])
def test_long_upload_file_names_are_shortened_keeping_the_suffix(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path, sent: str
) -> None:
    """The file is read as GeoJSON (its suffix kept) and answered: here, an empty layer."""
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    with path.open("rb") as f:
        response = fresh_client.post(
            "/api/v1/uploads",
            files={"file": (sent, f)},
            data={"level": "grid"},
            headers={"Authorization": f"Bearer {make_key('editor')}"},
        )
    assert (response.status_code, response.json()["code"]) == (422, "empty_layer"), response.text


def test_a_nul_in_an_upload_file_name_is_invalid_text(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    """Written by hand: an HTTP client library would percent-encode the NUL."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="level"\r\n\r\ngrid\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.geojson"\r\n'
        b"Content-Type: application/geo+json\r\n\r\n{}\r\n--b--\r\n"
    )
    response = fresh_client.post(
        "/api/v1/uploads",
        content=body,
        headers={
            "Authorization": f"Bearer {make_key('editor')}",
            "content-type": "multipart/form-data; boundary=b",
        },
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_text")


@pytest.mark.parametrize(
    ("name", "reason"), [("x" * 100_000, "at most 500"), ("山庄\x00里", "NUL")]
)
def test_a_centre_name_that_is_too_long_or_holds_a_nul_is_refused(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    name: str,
    reason: str,
) -> None:
    with fresh_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM centres")).scalar()
    response = fresh_client.post(
        "/api/v1/centres",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [118.3, 40.17]},
            "properties": {"name": name, "level": "station"},
        },
        headers={"Authorization": f"Bearer {make_key('editor')}"},
    )
    assert response.status_code == 422
    assert reason in response.json()["message"] and len(response.text) < 2000
    with fresh_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM centres")).scalar() == before


@pytest.mark.parametrize(
    ("name", "kind"), [("网格" * 60_000, "name_too_long"), ("山庄里\x00第1网格", "invalid_text")]
)
def test_region_names_too_long_or_with_a_nul_are_problems(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
    name: str,
    kind: str,
) -> None:
    """A file's name field of 120 000 characters, or one holding a NUL (GeoJSON can carry it):
    an error in the report, nothing committed."""
    grids = json.loads(json.dumps(demo_grids))
    grids["features"][0]["properties"]["name"] = name
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(grids, ensure_ascii=False), encoding="utf-8")
    before = state(fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False)
    assert response.status_code == 422, response.text[:300]
    body = response.json()
    details = body["details"]
    # a NUL in a text file refuses the file before it is read (GDAL would cut the field
    # short); a long name is a problem of the report
    found = (
        {p["kind"] for p in details["report"]["problems"]}
        if "report" in details
        else {body["code"]}
    )
    assert kind in found, body
    assert state(fresh_engine)[:2] == before[:2]


def test_a_garbage_prj_is_refused_unless_crs_is_given(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """GDAL cannot read the .prj: the CRS was guessed from the coordinates and the file
    committed without a word. Now it is unknown_crs, and crs= reads the file."""

    rows = [
        {"code": f["properties"]["code"], "name": f["properties"]["name"]}
        for f in demo_grids["features"]
    ]
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    write_layer(
        parts_dir / "grids.shp",
        [
            {**r, "parent": f["properties"]["parent_code"]}
            for r, f in zip(rows, demo_grids["features"], strict=True)
        ],
        [shape(f["geometry"]) for f in demo_grids["features"]],
        driver="ESRI Shapefile",
        crs="EPSG:4326",
    )
    (parts_dir / "grids.prj").write_text("这不是坐标系 garbage[[[", encoding="utf-8")
    archive = zip_dir(sorted(parts_dir.iterdir()), tmp_path / "grids.zip")
    key = make_key("editor")
    before = state(fresh_engine)
    refused = upload(fresh_client, archive, key, level="grid", dry_run=False)
    assert (refused.status_code, refused.json()["code"]) == (422, "unknown_crs"), refused.text
    assert state(fresh_engine)[:2] == before[:2]
    given = upload(fresh_client, archive, key, level="grid", crs="EPSG:4326")
    assert given.status_code == 200, given.text[:300]
