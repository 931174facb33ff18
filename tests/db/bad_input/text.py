"""Bad text: a NUL (or another control character) that would reach PostgreSQL — 422
``invalid_text`` — and text longer than its limit — 422 with the limit."""

from __future__ import annotations

import json

from .builders import (
    CAMERAS,
    CENTRES,
    GRID,
    INVALID,
    NUL,
    TEXT,
    Case,
    feature,
    new_key,
    raw_upload,
    siting,
    upload,
    write,
)

ATTRIBUTE = ("invalid_text", "invalid_field")
"""A point layer's attribute is refused as text or as a field."""
TOO_LONG = ("invalid_field", "text_too_long")

NUL_CASES: list[Case] = [
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
    Case("nul-key-name", **new_key(name="a\u0000b"), code=TEXT),
    Case(
        "nul-centre-name",
        **write(CENTRES, feature(name="党群\u0000服务站", level="station")),
        code=ATTRIBUTE,
    ),
    Case(
        "nul-centre-patch",
        **write(f"{CENTRES}/1", {"properties": {"address": "\u0000"}}, method="PATCH"),
        code=ATTRIBUTE,
    ),
    Case(
        "nul-camera-device",
        **write(CAMERAS, feature(name="c", device_id="1302270010013100\u00000001")),
        code=ATTRIBUTE,
    ),
    Case("nul-siting-region", **siting(region="13\u0000"), code=TEXT),
    Case("nul-siting-crs", **siting(crs="wgs\u000084"), code=TEXT),
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
]

LONG_CASES: list[Case] = [
    Case("long-address", "GET", "/api/v1/lookup?address=" + "阳" * 201, INVALID),
    Case(
        "long-centre-name",
        **write(CENTRES, feature(name="站" * 100_000, level="station")),
        code=TOO_LONG,
    ),
    Case(
        "long-centre-address",
        **write(CENTRES, feature(name="n", level="station", address="路" * 501)),
        code=TOO_LONG,
    ),
    Case(
        "long-camera-name",
        **write(CAMERAS, feature(name="c" * 501, device_id="13022700101310000001")),
        code=TOO_LONG,
    ),
    Case("long-key-name", **new_key(name="k" * 201), code=INVALID),
    Case("long-audit-actor", "GET", "/api/v1/audit?actor=" + "a" * 201, INVALID, role="admin"),
    Case("long-region-code", "GET", "/api/v1/regions/" + "1" * 300, INVALID),
    Case("long-parent", "GET", "/api/v1/regions?parent=" + "1" * 300, INVALID),
    Case("long-crs", "GET", "/api/v1/lookup?lon=1&lat=1&crs=" + "E" * 300, "unknown_crs"),
    Case("long-upload-parent", **upload(parent="1" * 300), code=INVALID),
    Case("long-upload-fields", **upload(fields=json.dumps({"code": "B" * 10_000})), code=INVALID),
    Case("long-siting-region", **siting(region="1" * 300), code=INVALID),
    Case("long-url", "GET", "/api/v1/regions?parent=" + "1" * 20_000, "uri_too_long", status=414),
    Case("long-url-path", "GET", "/api/v1/regions/" + "1" * 20_000, "uri_too_long", status=414),
]
