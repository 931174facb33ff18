"""Address registry uploads: read points, validate, then insert or update by code.

A dry run (the default) returns the validation report and a preview of what would change
(the same write, rolled back); a commit writes the file's entries in one transaction
(entries not in the file stay).  Every upload that gets as far as a report is recorded in
the upload history (``kind: addresses``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine

from gis.ingest.fields import (
    ADDRESS_INTEGER_ROLES,
    ADDRESS_SYNONYMS,
    FieldMapping,
    as_code,
    map_fields,
    require_roles,
)
from gis.ingest.readers import Layer
from gis.ingest.uploads import (
    Progress,
    UploadRequest,
    UploadResult,
    file_points,
    file_report,
    json_safe,
    read_layer,
    reproject,
    whole_number,
    write_all_or_nothing,
)
from gis.query.addresses import AddressRecord, normalize, outside_grids, parse, write_addresses
from gis.settings import Settings


def _address_problem(
    kind: str, severity: str, feature: int, code: str | None, message: str, location: list[float]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "severity": severity,
        "code": code,
        "feature": feature,
        "message": message,
        "location": location,
    }


def _address_records(
    layer: Layer, mapping: FieldMapping, points: np.ndarray
) -> tuple[list[AddressRecord], list[int], list[dict[str, Any]]]:
    """The file's valid entries (points in EPSG:4326), their feature numbers, and the
    problems of the others.  Road, doorplate, compound and building come from their fields,
    or from the address text (:func:`gis.query.addresses.parse`) when the file has no such field.
    """
    roles = mapping.roles
    records, features, problems = [], [], []
    for i, point in enumerate(points.tolist()):

        def value(role: str, i: int = i) -> Any:
            v = json_safe(layer.columns[roles[role]][i]) if role in roles else None
            return None if v is None or not str(v).strip() else v

        code, address = as_code(value("code")), as_code(value("address"))
        location = [] if point is None else [round(point.x, 7), round(point.y, 7)]
        found = []
        if code is None:
            found.append(("missing_code", "没有地址编码 (the feature has no code)"))
        if address is None:
            found.append(("missing_address", "没有地址文本 (the feature has no address text)"))
        if point is None:
            found.append(("invalid_coordinates", "坐标缺失或无效 (missing or invalid coordinates)"))
        numbers = {role: whole_number(value(role)) for role in ADDRESS_INTEGER_ROLES}
        for role, n in numbers.items():
            if n is not None and (not isinstance(n, int) or n < 0):
                found.append(
                    ("invalid_number", f"{roles[role]} 应为非负整数: {n} ({role}: not a count)")
                )
        problems += [
            _address_problem(kind, "error", i + 1, code, message, location)
            for kind, message in found
        ]
        if found:
            continue
        parsed = parse(address)
        parts = {
            role: as_code(value(role)) if role in roles else getattr(parsed, role)
            for role in ("road", "road_number", "compound", "building")
        }
        records.append(
            AddressRecord(
                code=code,
                address=address,
                lon=point.x,
                lat=point.y,
                region_code=as_code(value("region_code")),
                **parts,
                **numbers,
            )
        )
        features.append(i + 1)
    return records, features, problems


def _duplicates(records: list[AddressRecord], features: list[int]) -> list[dict[str, Any]]:
    """Errors for codes used twice, warnings for texts that normalise alike (ambiguous)."""
    codes = Counter(r.code for r in records)
    texts = Counter(normalize(r.address) for r in records)
    problems = []
    for r, feature in zip(records, features, strict=True):
        location = [round(r.lon, 7), round(r.lat, 7)]
        if codes[r.code] > 1:
            problems.append(
                _address_problem(
                    "duplicate_code",
                    "error",
                    feature,
                    r.code,
                    f"地址编码 {r.code} 出现 {codes[r.code]} 次 (the code is used more than once)",
                    location,
                )
            )
        if texts[normalize(r.address)] > 1:
            problems.append(
                _address_problem(
                    "duplicate_address",
                    "warning",
                    feature,
                    r.code,
                    f"地址“{r.address}”与其他地址相同 (another entry has the same address text)",
                    location,
                )
            )
    return problems


def process_address_upload(
    engine: Engine,
    path: Path,
    request: UploadRequest,
    settings: Settings,
    progress: Progress | None = None,
) -> UploadResult:
    """Validate an address registry file at ``path`` and, unless a dry run, write its
    entries (insert new codes, update changed ones) in one transaction.

    Errors (block a commit): missing code or address text, missing or unparsable
    coordinates, counts that are not whole numbers, codes used twice.  Warnings: points
    outside every current grid, entries whose texts normalise alike.
    """
    step = progress or (lambda _: None)
    step("reading")
    layer = read_layer(path, request, settings, geometry="points")
    mapping = map_fields(layer.fields, request.fields, ADDRESS_SYNONYMS)
    has_geometry = not shapely.is_missing(layer.geometries).all()
    require_roles(
        mapping,
        ["code", "address", *([] if has_geometry else ["lon", "lat"])],
        layer.fields,
        ADDRESS_SYNONYMS,
    )
    step("reprojecting")
    points, crs = reproject(replace(layer, geometries=file_points(layer, mapping)), request)
    records, features, problems = _address_records(layer, mapping, points)
    problems += _duplicates(records, features)

    def check(conn: Connection) -> list[dict[str, Any]]:
        lon, lat = [r.lon for r in records], [r.lat for r in records]
        return [
            _address_problem(
                "outside_grids",
                "warning",
                features[i],
                records[i].code,
                "地址点不在任何网格内 (the point is outside every grid)",
                [round(lon[i], 7), round(lat[i], 7)],
            )
            for i in outside_grids(conn, lon, lat)
        ]

    def write(conn: Connection) -> dict[str, list[Any]]:
        changes = write_addresses(conn, records)
        return {"added": changes.added, "modified": changes.modified}

    report = {"features": len(layer), **file_report(layer, crs, mapping)}
    return write_all_or_nothing(engine, request, report, problems, check, write, step)
