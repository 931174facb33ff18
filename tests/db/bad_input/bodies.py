"""Malformed request bodies: GeoJSON that is not (422 ``invalid_geojson``), JSON and CSV a
batch lookup cannot read, point features and geometries that are not points."""

from __future__ import annotations

from typing import Any

from .builders import CENTRES, INVALID, Case, batch, feature, geojson_batch, write

GEOJSON = "invalid_geojson"
GEOMETRY = ("invalid_geometry", GEOJSON)
TRIANGLE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1]]]}


def one_feature(**members: Any) -> dict[str, Any]:
    """A GeoJSON batch lookup of one point feature, with ``members`` in place of its own."""
    return batch(geojson_batch({**feature(), **members}))


BODY_CASES: list[Case] = [
    Case("geojson-properties-list", **one_feature(properties=[1]), code=GEOJSON),
    Case("geojson-properties-text", **one_feature(properties="x"), code=GEOJSON),
    Case(
        "geojson-features-object",
        **batch({"type": "FeatureCollection", "features": {}}),
        code=GEOJSON,
    ),
    Case("geojson-features-missing", **batch({"type": "FeatureCollection"}), code=GEOJSON),
    Case("geojson-feature-text", **batch(geojson_batch("x")), code=GEOJSON),
    Case("geojson-feature-null", **batch(geojson_batch(None)), code=GEOJSON),
    Case("geojson-geometry-null", **one_feature(geometry=None), code=GEOJSON),
    Case("geojson-polygon", **one_feature(geometry=TRIANGLE), code=GEOJSON),
    Case(
        "geojson-coordinates-empty",
        **one_feature(geometry={"type": "Point", "coordinates": []}),
        code=GEOJSON,
    ),
    Case(
        "geojson-coordinates-text",
        **one_feature(geometry={"type": "Point", "coordinates": ["a", "b"]}),
        code=(GEOJSON, "invalid_coordinates"),
    ),
    Case(
        "geojson-coordinates-object",
        **one_feature(geometry={"type": "Point", "coordinates": {"x": 1}}),
        code=GEOJSON,
    ),
    Case("geojson-body-list", **batch([1, 2]), code=GEOJSON),
    Case("geojson-not-json", **batch("{"), code=GEOJSON),
    Case("geojson-id-object", **one_feature(id={"a": 1}), code=(GEOJSON, INVALID)),
    Case("json-points-not-list", **batch({"points": "x"}, "application/json"), code=INVALID),
    Case("json-point-text", **batch({"points": ["x"]}, "application/json"), code=INVALID),
    Case("json-not-json", **batch("[", "application/json"), code=("invalid_json", INVALID)),
    Case("csv-no-columns", **batch("a,b\n1,2\n", "text/csv"), code=("invalid_csv", INVALID)),
    Case(
        "centre-geometry-polygon",
        **write(CENTRES, {**feature(name="n", level="station"), "geometry": TRIANGLE}),
        code=GEOMETRY,
    ),
    Case(
        "centre-properties-list", **write(CENTRES, {**feature(), "properties": [1]}), code=GEOJSON
    ),
    Case(
        "centre-geometry-text",
        **write(CENTRES, {**feature(name="n", level="station"), "geometry": "POINT(1 2)"}),
        code=GEOMETRY,
    ),
    Case(
        "intersects-bad", "GET", '/api/v1/centres?intersects={"type":"Polygon"}', "invalid_geometry"
    ),
    Case("intersects-wkt-bad", "GET", "/api/v1/cameras?intersects=POLYGON((", "invalid_geometry"),
]
