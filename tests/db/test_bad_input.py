"""The bad-input catalogue (issue 13): every endpoint family answers bad input with a 4xx, a
stable ``code``, a message in Chinese with English, a status its OpenAPI operation declares —
and writes nothing.

One table, one database for the module: every case is refused, so the database is the same
after each one (boundary versions, regions, uploads, layers, addresses, keys, audit log) — but
for the upload history, which keeps a rejected commit with its report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gis.access.auth import create_key
from gis.settings import Settings

from support import database_copy

NUL = "%00"
HUGE = "10000000000000000000"  # beyond int8
POINT = {"type": "Point", "coordinates": [118.3186, 40.1502]}
GRID = "130227001001001"


def grid_file(name: str = "网格") -> bytes:
    """A GeoJSON file of one grid named ``name``."""
    ring = [[118.3, 40.1], [118.31, 40.1], [118.31, 40.11], [118.3, 40.1]]
    properties = {"code": GRID, "name": name, "parent_code": GRID[:12]}
    geometry = {"type": "Polygon", "coordinates": [ring]}
    grid = {"type": "Feature", "properties": properties, "geometry": geometry}
    return json.dumps({"type": "FeatureCollection", "features": [grid]}).encode()


GRID_FILE = grid_file()
"""A one-grid file: the form fields of an upload are checked before its contents."""
TABLES = (
    "boundary_versions",
    "regions",
    "uploads",
    "addresses",
    "centres",
    "cameras",
    "roads",
    "api_keys",
    "audit_log",
)
"""Everything a write could touch: their row counts must not change."""


@dataclass(frozen=True)
class Case:
    """One bad request and the refusal it must get."""

    id: str
    method: str
    url: str
    code: str | tuple[str, ...]
    status: int = 422
    role: str | None = None
    json: Any = None
    content: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None

    def send(self, client: TestClient, keys: dict[str, str]) -> Any:
        headers = dict(self.headers)
        if self.role:
            headers["Authorization"] = f"Bearer {keys[self.role]}"
        body: dict[str, Any] = {}
        if self.json is not None:
            body["json"] = self.json
        if self.content is not None:
            body["content"] = self.content
        if self.files is not None:
            body["files"] = self.files
        if self.data is not None:
            body["data"] = self.data
        return client.request(self.method, self.url, headers=headers, **body)


def feature(**properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": POINT, "properties": properties}


def geojson_batch(*features: Any) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def upload(filename: str = "grids.geojson", body: bytes = GRID_FILE, **form: str) -> dict[str, Any]:
    """Case arguments of an editor's upload (a dry run unless the form says otherwise)."""
    return {
        "method": "POST",
        "url": "/api/v1/uploads",
        "role": "editor",
        "files": {"file": (filename, body, "application/octet-stream")},
        "data": {"level": "grid", **form},
    }


def raw_upload(filename: bytes) -> dict[str, Any]:
    """An upload written by hand: a client library would escape a NUL in the file name."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="level"\r\n\r\ngrid\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/geo+json\r\n\r\n{}\r\n--b--\r\n"
    )
    return {
        "method": "POST",
        "url": "/api/v1/uploads",
        "role": "editor",
        "content": body,
        "headers": {"content-type": "multipart/form-data; boundary=b"},
    }


def batch(body: Any, kind: str = "application/geo+json", url: str = "") -> dict[str, Any]:
    content = body if isinstance(body, str) else json.dumps(body)
    return {
        "method": "POST",
        "url": "/api/v1/lookup/batch" + url,
        "content": content,
        "headers": {"content-type": kind},
    }


INVALID = "invalid_parameter"
TEXT = ("invalid_text",)
LISTS = [
    "/api/v1/regions",
    f"/api/v1/regions/{GRID[:12]}/children",
    "/api/v1/versions",
    "/api/v1/centres",
    "/api/v1/cameras",
    "/api/v1/buildings",
]

CASES: list[Case] = [
    # --- a NUL character in text that would reach PostgreSQL: 422 invalid_text
    *(
        Case(f"nul-query-{i}", "GET", url, TEXT)
        for i, url in enumerate(
            [
                f"/api/v1/regions?parent=13{NUL}",
                f"/api/v1/regions?bbox=1{NUL},2,3,4",
                f"/api/v1/lookup?address=阳光小区{NUL}5-2-301",
                f"/api/v1/lookup?lon=118.3&lat=40.1&crs=wgs{NUL}84",
                f"/api/v1/centres?region=13{NUL}",
                f"/api/v1/centres?level=station{NUL}",
                f"/api/v1/cameras?status=online{NUL}",
                f"/api/v1/buildings?region={NUL}",
                f"/api/v1/centres?lon=118.3&lat=40.1&within_m=10&crs={NUL}",
                f"/api/v1/centres?intersects=POINT(1 2){NUL}",
                f"/ogc/collections/grids/items?code=1{NUL}",
                f"/ogc/collections/grids/items?name=网格{NUL}",
                f"/ogc/collections/centres/items?address={NUL}",
                f"/api/v1/export?level=grid&parent=13{NUL}",
                f"/api/v1/analysis/coverage?region=13{NUL}",
                f"/api/v1/analysis/grid-standards?region={NUL}",
                f"/maps/region/13{NUL}",
                f"/api/v1/regions/{GRID}{NUL}",
                f"/api/v1/regions/{NUL}/children",
                f"/ogc/collections/grids/items/{GRID}{NUL}",
                f"/ogc/collections/cameras/items/{NUL}",
                f"/api/v1/cameras/{NUL}",
                f"/tiles/grids{NUL}.json",
                f"/ogc/collections/grids{NUL}",
            ]
        )
    ),
    Case("nul-audit-actor", "GET", f"/api/v1/audit?actor=a{NUL}", TEXT, role="admin"),
    Case("nul-batch-crs", "POST", f"/api/v1/lookup/batch?crs={NUL}", TEXT, json={"points": []}),
    Case(
        "nul-key-name",
        "POST",
        "/api/v1/keys",
        TEXT,
        role="admin",
        json={"name": "a\u0000b", "role": "viewer"},
    ),
    Case(
        "nul-centre-name",
        "POST",
        "/api/v1/centres",
        ("invalid_text", "invalid_field"),
        role="editor",
        json=feature(name="党群\u0000服务站", level="station"),
    ),
    Case(
        "nul-centre-patch",
        "PATCH",
        "/api/v1/centres/1",
        ("invalid_text", "invalid_field"),
        role="editor",
        json={"properties": {"address": "\u0000"}},
    ),
    Case(
        "nul-camera-device",
        "POST",
        "/api/v1/cameras",
        ("invalid_text", "invalid_field"),
        role="editor",
        json=feature(name="c", device_id="1302270010013100\u00000001"),
    ),
    Case(
        "nul-siting-region",
        "POST",
        "/api/v1/analysis/siting",
        TEXT,
        role="viewer",
        json={"region": "13\u0000", "k": 1},
    ),
    Case(
        "nul-siting-crs",
        "POST",
        "/api/v1/analysis/siting",
        TEXT,
        role="viewer",
        json={"region": GRID[:9], "k": 1, "crs": "wgs\u000084"},
    ),
    Case(
        "nul-batch-id",
        "POST",
        "/api/v1/lookup/batch",
        TEXT,
        json={"points": [{"lon": 118.3, "lat": 40.1, "id": "a\u0000"}]},
    ),
    Case("nul-upload-parent", **upload(parent="13\u0000"), code=TEXT),
    Case("nul-upload-crs", **upload(crs="EPSG:4326\u0000"), code=TEXT),
    Case("nul-upload-encoding", **upload(encoding="gbk\u0000"), code=TEXT),
    Case("nul-upload-layer", **upload(layer="a\u0000"), code=TEXT),
    Case("nul-upload-fields", **upload(fields='{"code": "B\x00M"}'), code=TEXT),
    Case("nul-upload-filename", **raw_upload(b"a\x00b.geojson"), code=TEXT),
    Case("ctl-upload-filename", **raw_upload(b"a\x07b.geojson"), code=TEXT),
    # --- integers out of range: 422 invalid_parameter
    *(Case(f"huge-offset-{i}", "GET", f"{u}?offset={HUGE}", INVALID) for i, u in enumerate(LISTS)),
    *(Case(f"huge-limit-{i}", "GET", f"{u}?limit={HUGE}", INVALID) for i, u in enumerate(LISTS)),
    Case("huge-offset-uploads", "GET", f"/api/v1/uploads?offset={HUGE}", INVALID, role="editor"),
    Case("huge-offset-audit", "GET", f"/api/v1/audit?offset={HUGE}", INVALID, role="admin"),
    Case(
        "huge-offset-ogc", "GET", f"/ogc/collections/grids/items?offset={HUGE}", INVALID, status=400
    ),
    Case(
        "huge-limit-ogc", "GET", f"/ogc/collections/grids/items?limit={HUGE}", INVALID, status=400
    ),
    Case(
        "huge-ogc-households",
        "GET",
        f"/ogc/collections/grids/items?households={HUGE}",
        INVALID,
        status=400,
    ),
    Case("huge-as-of-lookup", "GET", f"/api/v1/lookup?lon=118.3&lat=40.1&as_of={HUGE}", INVALID),
    Case("huge-as-of-regions", "GET", f"/api/v1/regions?as_of={HUGE}", INVALID),
    Case("huge-as-of-region", "GET", f"/api/v1/regions/{GRID}?as_of={HUGE}", INVALID),
    Case("huge-as-of-export", "GET", f"/api/v1/export?level=grid&as_of={HUGE}", INVALID),
    Case("huge-as-of-tilejson", "GET", f"/tiles/grids.json?as_of={HUGE}", INVALID),
    Case("huge-as-of-tile", "GET", f"/tiles/grids/14/13000/6000.mvt?as_of={HUGE}", INVALID),
    Case("huge-as-of-vector", "GET", f"/maps/vector?as_of={HUGE}", INVALID),
    Case(
        "huge-as-of-batch",
        "POST",
        f"/api/v1/lookup/batch?as_of={HUGE}",
        INVALID,
        json={"points": []},
    ),
    Case(
        "huge-tile-z", "GET", f"/tiles/grids/{HUGE}/0/0.mvt", ("invalid_tile", INVALID), status=400
    ),
    Case(
        "huge-tile-x", "GET", f"/tiles/grids/14/{HUGE}/0.mvt", ("invalid_tile", INVALID), status=400
    ),
    Case("huge-nearest", "GET", f"/api/v1/centres?lon=118.3&lat=40.1&nearest={HUGE}", INVALID),
    Case("huge-upload-id", "GET", f"/api/v1/uploads/{HUGE}", INVALID, role="editor"),
    Case("huge-upload-map", "GET", f"/maps/uploads/{HUGE}", INVALID, role="editor"),
    Case("huge-restore", "POST", f"/api/v1/versions/{HUGE}/restore", INVALID, role="admin"),
    Case("huge-key-revoke", "POST", f"/api/v1/keys/{HUGE}/revoke", INVALID, role="admin"),
    Case("huge-key-rotate", "POST", f"/api/v1/keys/{HUGE}/rotate", INVALID, role="admin"),
    Case("huge-centre-id", "GET", f"/api/v1/centres/{HUGE}", "centre_not_found", status=404),
    Case(
        "huge-centre-delete",
        "DELETE",
        f"/api/v1/centres/{HUGE}",
        "centre_not_found",
        status=404,
        role="editor",
    ),
    Case(
        "huge-siting-k",
        "POST",
        "/api/v1/analysis/siting",
        INVALID,
        role="viewer",
        json={"region": GRID[:9], "k": int(HUGE)},
    ),
    Case(
        "huge-centre-floor-area",
        "POST",
        "/api/v1/centres",
        ("invalid_field", INVALID),
        role="editor",
        content=json.dumps(feature(name="n", level="station", floor_area_m2=1)).replace(
            '"floor_area_m2": 1', '"floor_area_m2": 1e400'
        ),
        headers={"content-type": "application/json"},
    ),
    # --- digits that are not ASCII: 422 (or the 404 of an id no row has)
    *(
        Case(f"unicode-{name}-{i}", "GET", f"{url}={digit}", INVALID)
        for name, url in (
            ("offset", "/api/v1/regions?offset"),
            ("limit", "/api/v1/versions?limit"),
            ("as-of", "/api/v1/lookup?lon=118.3&lat=40.1&as_of"),
            ("nearest", "/api/v1/centres?lon=118.3&lat=40.1&nearest"),
        )
        for i, digit in enumerate(["²", "١٢", "１"])
    ),
    Case("unicode-tile-as-of", "GET", "/tiles/grids/14/13000/6000.mvt?as_of=²", INVALID),
    Case("unicode-ogc-limit", "GET", "/ogc/collections/grids/items?limit=²", INVALID, status=400),
    Case("unicode-ogc-offset", "GET", "/ogc/collections/grids/items?offset=١", INVALID, status=400),
    Case("unicode-tile-z", "GET", "/tiles/grids/²/0/0.mvt", "invalid_tile", status=400),
    Case("unicode-centre", "GET", "/api/v1/centres/²", "centre_not_found", status=404),
    Case(
        "unicode-centre-put",
        "PUT",
        "/api/v1/centres/١٢",
        "centre_not_found",
        status=404,
        role="editor",
        json=feature(name="n", level="station"),
    ),
    Case("unicode-upload-id", "GET", "/api/v1/uploads/²", INVALID, role="editor"),
    Case("unicode-restore", "POST", "/api/v1/versions/²/restore", INVALID, role="admin"),
    Case("unicode-key", "POST", "/api/v1/keys/١/revoke", INVALID, role="admin"),
    # --- malformed GeoJSON: 422 invalid_geojson
    Case(
        "geojson-properties-list",
        **batch(geojson_batch({**feature(), "properties": [1]})),
        code="invalid_geojson",
    ),
    Case(
        "geojson-properties-text",
        **batch(geojson_batch({**feature(), "properties": "x"})),
        code="invalid_geojson",
    ),
    Case(
        "geojson-features-object",
        **batch({"type": "FeatureCollection", "features": {}}),
        code="invalid_geojson",
    ),
    Case(
        "geojson-features-missing", **batch({"type": "FeatureCollection"}), code="invalid_geojson"
    ),
    Case("geojson-feature-text", **batch(geojson_batch("x")), code="invalid_geojson"),
    Case("geojson-feature-null", **batch(geojson_batch(None)), code="invalid_geojson"),
    Case(
        "geojson-geometry-null",
        **batch(geojson_batch({**feature(), "geometry": None})),
        code="invalid_geojson",
    ),
    Case(
        "geojson-polygon",
        **batch(
            geojson_batch(
                {
                    **feature(),
                    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1]]]},
                }
            )
        ),
        code="invalid_geojson",
    ),
    Case(
        "geojson-coordinates-empty",
        **batch(geojson_batch({**feature(), "geometry": {"type": "Point", "coordinates": []}})),
        code="invalid_geojson",
    ),
    Case(
        "geojson-coordinates-text",
        **batch(
            geojson_batch({**feature(), "geometry": {"type": "Point", "coordinates": ["a", "b"]}})
        ),
        code=("invalid_geojson", "invalid_coordinates"),
    ),
    Case(
        "geojson-coordinates-object",
        **batch(
            geojson_batch({**feature(), "geometry": {"type": "Point", "coordinates": {"x": 1}}})
        ),
        code="invalid_geojson",
    ),
    Case("geojson-body-list", **batch([1, 2]), code="invalid_geojson"),
    Case("geojson-not-json", **batch("{"), code="invalid_geojson"),
    Case(
        "geojson-id-object",
        **batch(geojson_batch({**feature(), "id": {"a": 1}})),
        code=("invalid_geojson", INVALID),
    ),
    Case("json-points-not-list", **batch({"points": "x"}, "application/json"), code=INVALID),
    Case("json-point-text", **batch({"points": ["x"]}, "application/json"), code=INVALID),
    Case("json-not-json", **batch("[", "application/json"), code=("invalid_json", INVALID)),
    Case("csv-no-columns", **batch("a,b\n1,2\n", "text/csv"), code=("invalid_csv", INVALID)),
    Case(
        "centre-geometry-polygon",
        "POST",
        "/api/v1/centres",
        ("invalid_geometry", "invalid_geojson"),
        role="editor",
        json={
            "type": "Feature",
            "properties": {"name": "n", "level": "station"},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1]]]},
        },
    ),
    Case(
        "centre-properties-list",
        "POST",
        "/api/v1/centres",
        "invalid_geojson",
        role="editor",
        json={"type": "Feature", "properties": [1], "geometry": POINT},
    ),
    Case(
        "centre-geometry-text",
        "POST",
        "/api/v1/centres",
        ("invalid_geometry", "invalid_geojson"),
        role="editor",
        json={
            "type": "Feature",
            "properties": {"name": "n", "level": "station"},
            "geometry": "POINT(1 2)",
        },
    ),
    Case(
        "intersects-bad", "GET", '/api/v1/centres?intersects={"type":"Polygon"}', "invalid_geometry"
    ),
    Case("intersects-wkt-bad", "GET", "/api/v1/cameras?intersects=POLYGON((", "invalid_geometry"),
    # --- NaN and infinite coordinates: 422 invalid_coordinates
    *(
        Case(
            f"nonfinite-lookup-{i}",
            "GET",
            f"/api/v1/lookup?lon={lon}&lat={lat}",
            "invalid_coordinates",
        )
        for i, (lon, lat) in enumerate(
            [("nan", "40.1"), ("118.3", "inf"), ("-inf", "40"), ("NaN", "NaN"), ("1e999", "40")]
        )
    ),
    Case(
        "nonfinite-layer-point",
        "GET",
        "/api/v1/centres?lon=nan&lat=40.1&nearest=3",
        "invalid_coordinates",
    ),
    Case(
        "nonfinite-batch-json",
        **batch('{"points": [{"lon": NaN, "lat": 40.1}]}', "application/json"),
        code="invalid_coordinates",
    ),
    Case(
        "nonfinite-batch-inf",
        **batch('{"points": [{"lon": 118.3, "lat": Infinity}]}', "application/json"),
        code="invalid_coordinates",
    ),
    Case(
        "nonfinite-batch-geojson",
        **batch(
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
            '"geometry": {"type": "Point", "coordinates": [NaN, 40.1]}}]}'
        ),
        code="invalid_coordinates",
    ),
    Case(
        "nonfinite-batch-csv",
        **batch("lon,lat\nnan,40.1\n", "text/csv"),
        code="invalid_coordinates",
    ),
    Case(
        "nonfinite-centre",
        "POST",
        "/api/v1/centres",
        "invalid_coordinates",
        role="editor",
        content='{"type": "Feature", "properties": {"name": "n", "level": "station"}, '
        '"geometry": {"type": "Point", "coordinates": [NaN, 40.1]}}',
        headers={"content-type": "application/json"},
    ),
    Case(
        "nonfinite-siting",
        "POST",
        "/api/v1/analysis/siting",
        "invalid_coordinates",
        role="viewer",
        content=f'{{"region": "{GRID[:9]}", "k": 1, '
        '"candidates": [{"lon": Infinity, "lat": 40}]}',
        headers={"content-type": "application/json"},
    ),
    Case("nonfinite-bbox", "GET", "/api/v1/regions?bbox=nan,40,119,41", "invalid_bbox"),
    Case("nonfinite-layer-bbox", "GET", "/api/v1/centres?bbox=118,40,inf,41", "invalid_bbox"),
    Case(
        "nonfinite-ogc-bbox",
        "GET",
        "/ogc/collections/grids/items?bbox=118,nan,119,41",
        ("invalid_bbox", INVALID),
        status=400,
    ),
    Case("nonfinite-within", "GET", "/api/v1/centres?lon=118.3&lat=40.1&within_m=inf", INVALID),
    Case("nonfinite-simplify", "GET", "/api/v1/regions?simplify=nan", INVALID),
    Case("out-of-range-lookup", "GET", "/api/v1/lookup?lon=400&lat=40", "coordinates_out_of_range"),
    # --- text too long: 422 with the limit
    Case("long-address", "GET", "/api/v1/lookup?address=" + "阳" * 201, INVALID),
    Case(
        "long-centre-name",
        "POST",
        "/api/v1/centres",
        ("invalid_field", "text_too_long"),
        role="editor",
        json=feature(name="站" * 100_000, level="station"),
    ),
    Case(
        "long-centre-address",
        "POST",
        "/api/v1/centres",
        ("invalid_field", "text_too_long"),
        role="editor",
        json=feature(name="n", level="station", address="路" * 501),
    ),
    Case(
        "long-camera-name",
        "POST",
        "/api/v1/cameras",
        ("invalid_field", "text_too_long"),
        role="editor",
        json=feature(name="c" * 501, device_id="13022700101310000001"),
    ),
    Case(
        "long-key-name",
        "POST",
        "/api/v1/keys",
        INVALID,
        role="admin",
        json={"name": "k" * 201, "role": "viewer"},
    ),
    Case("long-audit-actor", "GET", "/api/v1/audit?actor=" + "a" * 201, INVALID, role="admin"),
    Case("long-region-code", "GET", "/api/v1/regions/" + "1" * 300, INVALID),
    Case("long-parent", "GET", "/api/v1/regions?parent=" + "1" * 300, INVALID),
    Case("long-crs", "GET", "/api/v1/lookup?lon=1&lat=1&crs=" + "E" * 300, "unknown_crs"),
    Case("long-upload-parent", **upload(parent="1" * 300), code=INVALID),
    Case("long-upload-fields", **upload(fields=json.dumps({"code": "B" * 10_000})), code=INVALID),
    Case(
        "long-siting-region",
        "POST",
        "/api/v1/analysis/siting",
        INVALID,
        role="viewer",
        json={"region": "1" * 300, "k": 1},
    ),
    Case("long-url", "GET", "/api/v1/regions?parent=" + "1" * 20_000, "uri_too_long", status=414),
    Case("long-url-path", "GET", "/api/v1/regions/" + "1" * 20_000, "uri_too_long", status=414),
    # --- other bad values, one family at a time
    Case("regions-level", "GET", "/api/v1/regions?level=town", INVALID),
    Case("regions-bbox-3", "GET", "/api/v1/regions?bbox=1,2,3", "invalid_bbox"),
    Case("regions-simplify-0", "GET", "/api/v1/regions?simplify=0", INVALID),
    Case("regions-as-of-0", "GET", "/api/v1/regions?as_of=0", INVALID),
    Case(
        "regions-as-of-missing", "GET", "/api/v1/regions?as_of=999", "version_not_found", status=404
    ),
    Case("regions-unknown", "GET", "/api/v1/regions/999999", "region_not_found", status=404),
    Case("regions-limit-0", "GET", "/api/v1/regions?limit=0", INVALID),
    Case("regions-offset-neg", "GET", "/api/v1/regions?offset=-1", INVALID),
    Case("lookup-nothing", "GET", "/api/v1/lookup", INVALID),
    Case("lookup-lon-only", "GET", "/api/v1/lookup?lon=118.3", INVALID),
    Case("lookup-lon-text", "GET", "/api/v1/lookup?lon=abc&lat=40", INVALID),
    Case("lookup-crs", "GET", "/api/v1/lookup?lon=1&lat=1&crs=EPSG:999999", "unknown_crs"),
    Case("lookup-crs-garbage", "GET", "/api/v1/lookup?lon=1&lat=1&crs=PROJCS[", "unknown_crs"),
    Case("lookup-address-empty", "GET", "/api/v1/lookup?address=%20", "empty_address"),
    Case("batch-format", **batch({"points": []}, "application/json", "?format=xml"), code=INVALID),
    Case(
        "batch-encoding",
        **batch({"points": []}, "application/json", "?format=csv&encoding=latin9"),
        code="unsupported_encoding",
    ),
    Case("batch-media", **batch("x", "application/xml"), code="unsupported_media_type", status=415),
    Case(
        "batch-too-many",
        **batch({"points": [{"lon": 118.3, "lat": 40.1}] * 10_001}, "application/json"),
        code="batch_too_large",
        status=413,
    ),
    Case("tilejson-layer", "GET", "/tiles/rivers.json", "layer_not_found", status=404),
    Case("tile-layer", "GET", "/tiles/rivers/14/0/0.mvt", "layer_not_found", status=404),
    Case("tile-zoom", "GET", "/tiles/grids/31/0/0.mvt", "invalid_tile", status=400),
    Case("tile-outside", "GET", "/tiles/grids/2/9/9.mvt", "invalid_tile", status=400),
    Case("tile-cache", "GET", "/tiles/grids/14/13000/6000.mvt?cache=maybe", INVALID),
    Case(
        "tile-as-of-missing",
        "GET",
        "/tiles/grids/14/13000/6000.mvt?as_of=999",
        "version_not_found",
        status=404,
    ),
    Case(
        "tile-as-of-centres",
        "GET",
        "/tiles/centres/14/13000/6000.mvt?as_of=1",
        "layer_not_versioned",
    ),
    Case("maps-basemap", "GET", "/maps?basemap=google", INVALID),
    Case("maps-colour", "GET", "/maps?colour_by=red", INVALID),
    Case("maps-region", "GET", "/maps/region/999999", "region_not_found", status=404),
    Case(
        "maps-upload", "GET", "/maps/uploads/999999", "upload_not_found", status=404, role="editor"
    ),
    Case("maps-upload-anon", "GET", "/maps/uploads/1", "auth_required", status=401),
    Case("ogc-collection", "GET", "/ogc/collections/rivers", "collection_not_found", status=404),
    Case("ogc-feature", "GET", "/ogc/collections/grids/items/1", "feature_not_found", status=404),
    Case("ogc-limit-0", "GET", "/ogc/collections/grids/items?limit=0", INVALID, status=400),
    Case("ogc-limit-text", "GET", "/ogc/collections/grids/items?limit=ten", INVALID, status=400),
    Case("ogc-f", "GET", "/ogc/collections?f=xml", INVALID, status=400),
    Case(
        "ogc-unknown-param", "GET", "/ogc/collections/grids/items?colour=red", INVALID, status=400
    ),
    Case(
        "ogc-bbox-3", "GET", "/ogc/collections/grids/items?bbox=1,2,3", "invalid_bbox", status=400
    ),
    Case(
        "ogc-households-text",
        "GET",
        "/ogc/collections/grids/items?households=many",
        INVALID,
        status=400,
    ),
    Case("ogc-personal", "GET", "/ogc/collections/grids/items?grid_worker=李", INVALID, status=400),
    Case("layer-level-cameras", "GET", "/api/v1/cameras?level=station", INVALID),
    Case("layer-within-no-point", "GET", "/api/v1/centres?within_m=10", INVALID),
    Case("layer-nearest-0", "GET", "/api/v1/centres?lon=1&lat=1&nearest=0", INVALID),
    Case("layer-crs", "GET", "/api/v1/centres?lon=1&lat=1&nearest=1&crs=nowhere", "unknown_crs"),
    Case("layer-unknown-id", "GET", "/api/v1/centres/999999", "centre_not_found", status=404),
    Case("layer-unknown-camera", "GET", "/api/v1/cameras/999999", "camera_not_found", status=404),
    Case(
        "layer-bad-level",
        "POST",
        "/api/v1/centres",
        "invalid_level",
        role="editor",
        json=feature(name="n", level="palace"),
    ),
    Case(
        "layer-no-geometry",
        "POST",
        "/api/v1/centres",
        ("invalid_geometry", INVALID),
        role="editor",
        json={"type": "Feature", "properties": {"name": "n", "level": "station"}},
    ),
    Case("layer-body-list", "POST", "/api/v1/centres", INVALID, role="editor", json=[1]),
    Case(
        "body-not-utf8",
        "POST",
        "/api/v1/keys",
        INVALID,
        role="admin",
        content=b"\xff",
        headers={"content-type": "application/json"},
    ),
    Case(
        "layer-body-text",
        "POST",
        "/api/v1/centres",
        INVALID,
        role="editor",
        content="{",
        headers={"content-type": "application/json"},
    ),
    Case(
        "layer-unknown-attr",
        "POST",
        "/api/v1/centres",
        ("invalid_field", "unknown_field"),
        role="editor",
        json=feature(name="n", level="station", colour="red"),
    ),
    Case(
        "layer-anon-write",
        "POST",
        "/api/v1/centres",
        "auth_required",
        status=401,
        json=feature(name="n"),
    ),
    Case(
        "layer-viewer-write",
        "DELETE",
        "/api/v1/centres/1",
        "insufficient_role",
        status=403,
        role="viewer",
    ),
    Case(
        "layer-bad-key",
        "POST",
        "/api/v1/centres",
        "invalid_api_key",
        status=401,
        headers={"Authorization": "Bearer nope"},
        json=feature(name="n"),
    ),
    Case(
        "layer-device-id",
        "POST",
        "/api/v1/cameras",
        ("invalid_field", "invalid_device_id"),
        role="editor",
        json=feature(name="c", device_id="12"),
    ),
    Case(
        "analysis-region",
        "GET",
        "/api/v1/analysis/coverage?region=999999",
        "region_not_found",
        status=404,
        role="viewer",
    ),
    Case(
        "analysis-layer",
        "GET",
        f"/api/v1/analysis/coverage?region={GRID}&layer=roads",
        INVALID,
        role="viewer",
    ),
    Case("analysis-no-region", "GET", "/api/v1/analysis/grid-standards", INVALID, role="viewer"),
    Case(
        "analysis-anon",
        "GET",
        f"/api/v1/analysis/coverage?region={GRID}",
        "auth_required",
        status=401,
    ),
    Case(
        "siting-k-0",
        "POST",
        "/api/v1/analysis/siting",
        INVALID,
        role="viewer",
        json={"region": GRID[:9], "k": 0},
    ),
    Case(
        "siting-radius",
        "POST",
        "/api/v1/analysis/siting",
        INVALID,
        role="viewer",
        json={"region": GRID[:9], "k": 1, "radius_m": 1e7},
    ),
    Case(
        "siting-level",
        "POST",
        "/api/v1/analysis/siting",
        INVALID,
        role="viewer",
        json={"region": GRID[:9], "k": 1, "level": "palace"},
    ),
    Case(
        "siting-candidates",
        "POST",
        "/api/v1/analysis/siting",
        INVALID,
        role="viewer",
        json={"region": GRID[:9], "k": 1, "candidates": [{"lon": "x"}]},
    ),
    Case(
        "siting-crs",
        "POST",
        "/api/v1/analysis/siting",
        "unknown_crs",
        role="viewer",
        json={
            "region": GRID[:9],
            "k": 1,
            "crs": "nowhere",
            "candidates": [{"lon": 118.3, "lat": 40.1}],
        },
    ),
    Case(
        "siting-anon",
        "POST",
        "/api/v1/analysis/siting",
        "auth_required",
        status=401,
        json={"region": GRID[:9], "k": 1},
    ),
    Case("export-level", "GET", "/api/v1/export?level=town", INVALID),
    Case("export-no-level", "GET", "/api/v1/export", INVALID),
    Case("export-format", "GET", "/api/v1/export?level=grid&format=kml", INVALID),
    Case("export-encoding", "GET", "/api/v1/export?level=grid&format=shp&encoding=big5", INVALID),
    Case(
        "export-as-of",
        "GET",
        "/api/v1/export?level=grid&as_of=999",
        "version_not_found",
        status=404,
    ),
    Case("versions-limit", "GET", "/api/v1/versions?limit=1001", INVALID),
    Case(
        "versions-restore-missing",
        "POST",
        "/api/v1/versions/999/restore",
        "version_not_found",
        status=404,
        role="admin",
    ),
    Case("versions-restore-text", "POST", "/api/v1/versions/one/restore", INVALID, role="admin"),
    Case(
        "versions-restore-editor",
        "POST",
        "/api/v1/versions/1/restore",
        "insufficient_role",
        status=403,
        role="editor",
    ),
    Case(
        "keys-role",
        "POST",
        "/api/v1/keys",
        INVALID,
        role="admin",
        json={"name": "k", "role": "root"},
    ),
    Case(
        "keys-empty-name",
        "POST",
        "/api/v1/keys",
        INVALID,
        role="admin",
        json={"name": "", "role": "viewer"},
    ),
    Case(
        "keys-expiry",
        "POST",
        "/api/v1/keys",
        ("invalid_expiry", INVALID),
        role="admin",
        json={"name": "k", "role": "viewer", "expires": "soon"},
    ),
    Case(
        "keys-missing",
        "POST",
        "/api/v1/keys/999999/revoke",
        "key_not_found",
        status=404,
        role="admin",
    ),
    Case("keys-editor", "GET", "/api/v1/keys", "insufficient_role", status=403, role="editor"),
    Case("keys-body-list", "POST", "/api/v1/keys", INVALID, role="admin", json=["k"]),
    Case("audit-since", "GET", "/api/v1/audit?since=yesterday", INVALID, role="admin"),
    Case("audit-viewer", "GET", "/api/v1/audit", "insufficient_role", status=403, role="viewer"),
    Case(
        "uploads-anon",
        "POST",
        "/api/v1/uploads",
        "auth_required",
        status=401,
        files={"file": ("a.geojson", b"{}")},
    ),
    Case("uploads-no-level", **{**upload(), "data": {}}, code=INVALID),
    Case("uploads-kind", **upload(kind="rivers"), code=INVALID),
    Case("uploads-level", **upload(level="town"), code=INVALID),
    Case(
        "uploads-no-file", "POST", "/api/v1/uploads", INVALID, role="editor", data={"level": "grid"}
    ),
    Case("uploads-fields-json", **upload(fields="{code"), code=("invalid_field_mapping", INVALID)),
    Case("uploads-fields-list", **upload(fields="[1]"), code=("invalid_field_mapping", INVALID)),
    Case("uploads-dry-run", **upload(dry_run="perhaps"), code=INVALID),
    Case(
        "uploads-unknown-format", **upload("grids.xyz", b"hello"), code="unknown_format", status=415
    ),
    Case(
        "uploads-broken-geojson",
        **upload("grids.geojson", b'{"type": '),
        code=("unreadable_file", "invalid_file", "validation_failed"),
    ),
    Case("uploads-crs", **upload(crs="nowhere"), code="unknown_crs"),
    Case(
        "uploads-nul-in-a-field",
        **upload(body=grid_file("网\x00格"), dry_run="false"),
        code=("invalid_text", "validation_failed"),
    ),
    Case(
        "uploads-long-name",
        **upload(body=grid_file("网" * 100_000), dry_run="false"),
        code=("name_too_long", "validation_failed"),
    ),
    Case("uploads-encoding", **upload(encoding="klingon"), code=("unknown_encoding", INVALID)),
    Case(
        "uploads-missing",
        "GET",
        "/api/v1/uploads/999999",
        "upload_not_found",
        status=404,
        role="editor",
    ),
    Case("uploads-list-anon", "GET", "/api/v1/uploads", "auth_required", status=401),
    Case("unknown-route", "GET", "/api/v1/rivers", "not_found", status=404),
    Case("wrong-method", "DELETE", "/api/v1/regions", "method_not_allowed", status=405),
]


def _has_chinese_and_english(message: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", message)) and bool(
        re.search(r"[A-Za-z]{3,}", message)
    )


@pytest.fixture(scope="module")
def world(server_url: str, template_db: str) -> Iterator[tuple[TestClient, Engine, dict]]:
    """The app on a database of this module's own (the demo city), with a key of each role."""
    with database_copy(server_url, template_db) as (url, engine):
        with engine.begin() as conn:
            roles = ("viewer", "editor", "admin")
            keys = {r: create_key(conn, role=r, name=f"bad-{r}") for r in roles}
        app = create_app(Settings(database_url=url))
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, engine, keys


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}


def declared(document: dict[str, Any], method: str, url: str) -> set[str] | None:
    """The statuses the OpenAPI document declares for the operation ``url`` is routed to
    (None where no operation matches: an unknown path or method)."""
    path = url.split("?")[0]
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]*", re.escape(template))
        if re.fullmatch(pattern, path, flags=re.DOTALL) and method.lower() in operations:
            return set(operations[method.lower()]["responses"])
    return None


def test_the_catalogue_is_large_and_covers_every_family() -> None:
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    families = {
        c.url.split("?")[0].split("/")[1:4][-1 if c.url.startswith("/api") else 0] for c in CASES
    }
    for family in (
        "uploads",
        "lookup",
        "regions",
        "centres",
        "cameras",
        "ogc",
        "tiles",
        "maps",
        "analysis",
        "versions",
        "export",
        "keys",
        "audit",
    ):
        assert family in families, family


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_cleanly(world: tuple[TestClient, Engine, dict], case: Case) -> None:
    client, engine, keys = world
    before = counts(engine)
    response = case.send(client, keys)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    codes = (case.code,) if isinstance(case.code, str) else case.code
    assert (response.status_code, body["code"]) in {(case.status, c) for c in codes}, body
    assert _has_chinese_and_english(body["message"]), body["message"]
    after = counts(engine)
    # a rejected upload is kept in the upload history, with its report; nothing else changes
    recorded = {"uploads"} if body["code"] == "validation_failed" else set()
    assert {t for t in TABLES if after[t] != before[t]} <= recorded, (before, after)
    statuses = declared(client.app.openapi(), case.method, case.url)
    assert statuses is None or str(response.status_code) in statuses, statuses
