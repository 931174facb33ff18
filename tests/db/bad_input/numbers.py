"""Bad numbers: integers beyond int8 (422 ``invalid_parameter``), digits that are not ASCII
(422, or the 404 of an id no row has), NaN, infinite and out-of-range coordinates."""

from __future__ import annotations

import json

from .builders import (
    CAMERAS,
    CENTRES,
    GRID,
    HUGE,
    INVALID,
    SITING,
    Case,
    batch,
    feature,
    raw,
    siting,
    write,
)

LISTS = [
    "/api/v1/regions",
    f"/api/v1/regions/{GRID[:12]}/children",
    "/api/v1/versions",
    CENTRES,
    CAMERAS,
    "/api/v1/buildings",
]
"""Endpoints with ``offset`` and ``limit``."""

HUGE_CASES: list[Case] = [
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
    Case("huge-siting-k", **siting(k=int(HUGE)), code=INVALID),
    Case(
        "huge-centre-floor-area",
        **raw(
            CENTRES,
            json.dumps(feature(name="n", level="station", floor_area_m2=1)).replace(
                '"floor_area_m2": 1', '"floor_area_m2": 1e400'
            ),
            role="editor",
        ),
        code=("invalid_field", INVALID),
    ),
]

UNICODE_CASES: list[Case] = [
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
        **write(f"{CENTRES}/١٢", feature(name="n", level="station"), method="PUT"),
        code="centre_not_found",
        status=404,
    ),
    Case("unicode-upload-id", "GET", "/api/v1/uploads/²", INVALID, role="editor"),
    Case("unicode-restore", "POST", "/api/v1/versions/²/restore", INVALID, role="admin"),
    Case("unicode-key", "POST", "/api/v1/keys/١/revoke", INVALID, role="admin"),
]

NONFINITE_CASES: list[Case] = [
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
        **raw(
            CENTRES,
            '{"type": "Feature", "properties": {"name": "n", "level": "station"}, '
            '"geometry": {"type": "Point", "coordinates": [NaN, 40.1]}}',
            role="editor",
        ),
        code="invalid_coordinates",
    ),
    Case(
        "nonfinite-siting",
        **raw(
            SITING,
            f'{{"region": "{GRID[:9]}", "k": 1, "candidates": [{{"lon": Infinity, "lat": 40}}]}}',
            role="viewer",
        ),
        code="invalid_coordinates",
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
]
