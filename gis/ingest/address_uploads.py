"""Address registry uploads, a kind of the upload pipeline: points inserted or updated by code.

A commit writes the file's entries in one transaction (entries not in the file stay); a dry
run previews the same write, rolled back.  Errors (block a commit): missing code or address
text, missing or unparsable coordinates, counts that are not whole numbers, codes used
twice.  Warnings: points outside every current grid, entries whose texts normalise alike.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection

from gis.access.scope import check_points, check_stored_points
from gis.ingest.fields import ADDRESS_INTEGER_ROLES, ADDRESS_SYNONYMS, FieldMapping, as_code
from gis.ingest.pipeline import (
    Batch,
    Progress,
    Reprojected,
    Staged,
    UploadKind,
    UploadRequest,
    json_safe,
    whole_number,
)
from gis.ingest.problems import Problem
from gis.ingest.readers import Layer
from gis.query.address_text import parse
from gis.query.addresses import AddressRecord, outside_grids, write_addresses
from gis.settings import Settings


def _address_records(
    layer: Layer, mapping: FieldMapping, points: np.ndarray
) -> tuple[list[AddressRecord], list[int], list[Problem]]:
    """The file's valid entries (points in EPSG:4326), their feature numbers, and the
    problems of the others.  Road, doorplate, compound and building come from their fields,
    or from the address text (:func:`gis.query.address_text.parse`) when the file has no such field.
    Each text is normalised once, here (a record keeps it for the duplicates and the write).
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
            Problem(kind, "error", message, feature=i + 1, code=code, location=location)
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
                normalized=parsed.normalized,
                **parts,
                **numbers,
            )
        )
        features.append(i + 1)
    return records, features, problems


def _duplicates(records: list[AddressRecord], features: list[int]) -> list[Problem]:
    """Errors for codes used twice, warnings for texts that normalise alike (ambiguous)."""
    codes = Counter(r.code for r in records)
    texts = Counter(r.normalized for r in records)
    problems = []
    for r, feature in zip(records, features, strict=True):
        location = [round(r.lon, 7), round(r.lat, 7)]
        if codes[r.code] > 1:
            problems.append(
                Problem(
                    "duplicate_code",
                    "error",
                    f"地址编码 {r.code} 出现 {codes[r.code]} 次 (the code is used more than once)",
                    feature=feature,
                    code=r.code,
                    location=location,
                )
            )
        if texts[r.normalized] > 1:
            problems.append(
                Problem(
                    "duplicate_address",
                    "warning",
                    f"地址“{r.address}”与其他地址相同 (another entry has the same address text)",
                    feature=feature,
                    code=r.code,
                    location=location,
                )
            )
    return problems


class AddressBatch(Batch):
    """An address registry file's valid entries (points in EPSG:4326) and its problems."""

    table = "addresses"

    def __init__(self, read: Reprojected) -> None:
        self.records, self.features, self.problems = _address_records(
            read.layer, read.mapping, read.geometries
        )
        self.problems += _duplicates(self.records, self.features)

    def check(self, conn: Connection, step: Progress) -> list[Problem]:
        """A warning for each point outside every current grid."""
        lon, lat = [r.lon for r in self.records], [r.lat for r in self.records]
        return [
            Problem(
                "outside_grids",
                "warning",
                "地址点不在任何网格内 (the point is outside every grid)",
                feature=self.features[i],
                code=self.records[i].code,
                location=[round(lon[i], 7), round(lat[i], 7)],
            )
            for i in outside_grids(conn, lon, lat)
        ]

    def authorize(self, conn: Connection, scope: str | None) -> None:
        """The points inside ``scope``, and the stored entries they update too."""
        lon_lat = np.array([(r.lon, r.lat) for r in self.records], dtype=float).reshape(-1, 2)
        check_points(conn, scope, shapely.points(lon_lat))
        check_stored_points(conn, scope, "addresses", "code", [r.code for r in self.records])

    def stage(self, conn: Connection) -> Staged:
        """Insert new codes, update changed ones."""
        changes = write_addresses(conn, self.records)
        return Staged({"added": changes.added, "modified": changes.modified})


class Addresses(UploadKind):
    """The addresses kind: registry points, or a CSV with lon/lat columns."""

    geometry = "points"
    synonyms = ADDRESS_SYNONYMS

    def required(self, request: UploadRequest) -> list[str]:
        """A code and the address text."""
        return ["code", "address"]

    def batch(self, read: Reprojected, request: UploadRequest, settings: Settings) -> Batch:
        """The file's entries."""
        return AddressBatch(read)
