"""Address registry uploads, a kind of the upload pipeline: points inserted or updated by code.

A commit writes the file's entries in one transaction (entries not in the file stay); a dry
run previews the same write, rolled back.  Errors (block a commit): missing code or address
text, missing or unparsable coordinates, counts that are not whole numbers, codes used
twice.  Warnings: points outside every current grid, entries whose texts normalise alike.

A registry may hold tens of millions of entries: the file is read :data:`BATCH_ROWS` at a
time, each batch's entries checked on their own and copied into the writer's staging table
(``gis.store.addresses``), and what needs them all — duplicates, points outside every grid,
the uploader's scope — is asked of that table in SQL.  What is held at any time is one
batch and the first problems of each kind (``gis.ingest.problems.MAX_LISTED``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from gis.access.scope import check_staged_points
from gis.ingest.fields import ADDRESS_INTEGER_ROLES, ADDRESS_SYNONYMS, MAX_INTEGER, as_code
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
from gis.ingest.problems import Problem, Severity
from gis.query.address_text import parse
from gis.settings import Settings
from gis.store.addresses import (
    STAGED,
    AddressRecord,
    StagedEntry,
    create_staging,
    duplicate_codes,
    duplicate_texts,
    merge_staged,
    outside_grids,
    stage_records,
)

BATCH_ROWS = 100_000
"""Entries read, checked and copied at a time."""


def _address_records(
    read: Reprojected, first: int
) -> tuple[list[AddressRecord], list[int], list[Problem]]:
    """A batch's valid entries (points in EPSG:4326), their feature numbers (the batch's
    first feature is number ``first``), and the problems of the others.  Road, doorplate,
    compound and building come from their fields, or from the address text
    (:func:`gis.query.address_text.parse`) when the file has no such field.  Each text is
    normalised once, here (a record keeps it for the duplicates and the write).
    """
    layer, roles = read.layer, read.mapping.roles
    records, features, problems = [], [], []
    for i, point in enumerate(read.geometries.tolist()):

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
            if n is not None and (not isinstance(n, int) or not 0 <= n <= MAX_INTEGER):
                found.append(
                    (
                        "invalid_number",
                        f"{roles[role]} 应为 0 至 {MAX_INTEGER} 的整数: {n} ({role}: not a count)",
                    )
                )
        problems += [
            Problem(kind, "error", message, feature=first + i, code=code, location=location)
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
        features.append(first + i)
    return records, features, problems


def _problems(
    entries: Iterable[StagedEntry], kind: str, severity: Severity, message: str
) -> Iterator[Problem]:
    """A problem of ``kind`` for each of the staged ``entries``; ``message`` is formatted
    with the entry's fields."""
    for e in entries:
        yield Problem(
            kind,
            severity,
            message.format(**e.__dict__),
            feature=e.feature,
            code=e.code,
            location=[round(e.lon, 7), round(e.lat, 7)],
        )


class AddressBatch(Batch):
    """An address registry file's entries, read and staged in batches by :meth:`check`."""

    table = "addresses"

    def __init__(self, read: Reprojected) -> None:
        self.read = read
        self.problems: list[Problem] = []
        self.features = 0

    def _staged(self, conn: Connection) -> Iterator[Problem]:
        """Read every batch of the file, copy its valid entries into the staging table and
        yield the problems of the others."""
        create_staging(conn)
        for read in chain([self.read], self.read.more):
            records, features, problems = _address_records(read, self.features + 1)
            stage_records(conn, records, features)
            self.features += len(read.layer)
            yield from problems

    def check(self, conn: Connection, step: Progress) -> Iterator[Problem]:
        """The problems of every entry: of each on its own, then codes used twice (errors),
        texts that normalise alike and points outside every current grid (warnings)."""
        yield from self._staged(conn)
        yield from _problems(
            duplicate_codes(conn),
            "duplicate_code",
            "error",
            "地址编码 {code} 出现 {count} 次 (the code is used more than once)",
        )
        yield from _problems(
            duplicate_texts(conn),
            "duplicate_address",
            "warning",
            "地址“{address}”与其他地址相同 (another entry has the same address text)",
        )
        yield from _problems(
            outside_grids(conn),
            "outside_grids",
            "warning",
            "地址点不在任何网格内 (the point is outside every grid)",
        )

    def authorize(self, conn: Connection, scope: str | None) -> None:
        """The points inside ``scope``, and the stored entries they update too."""
        check_staged_points(conn, scope, STAGED, "addresses", "code")

    def stage(self, conn: Connection) -> Staged:
        """Insert new codes, update changed ones: the report counts them."""
        changes = merge_staged(conn)
        return Staged({"added": changes.added, "modified": changes.modified})


class Addresses(UploadKind):
    """The addresses kind: registry points, or a CSV with lon/lat columns."""

    geometry = "points"
    synonyms = ADDRESS_SYNONYMS
    batch_rows = BATCH_ROWS

    def required(self, request: UploadRequest) -> list[str]:
        """A code and the address text."""
        return ["code", "address"]

    def batch(self, read: Reprojected, request: UploadRequest, settings: Settings) -> Batch:
        """The file's entries."""
        return AddressBatch(read)
