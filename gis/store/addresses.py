"""Writing the address registry: entries staged, checked in SQL, merged by code.

A write copies its entries (``COPY``) into a temporary table, ``staged_addresses``, that
lives as long as the writer's transaction; what needs every entry at once — codes used
twice, texts that normalise alike, points outside every grid, the uploader's scope — is
asked of that table, so a writer holds one batch of entries in memory, never the file.
:func:`merge_staged` then inserts new codes and updates changed ones (entries not staged
stay as they are).  Writers are serialised, so a dry run's preview (the same write,
rolled back) is what a commit would do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from gis.catalogue import ADDRESSES
from gis.errors import InvalidInput
from gis.query.address_text import normalize
from gis.store.models import STORAGE_SRID
from gis.store.versions import current

ADDRESS_COLUMNS = (*ADDRESSES.columns, "normalized")
"""The registry's columns (the key, ``code``, first): the catalogue layer's, and the
normalised form matching compares."""
STAGED = "staged_addresses"
"""The writer's temporary table: ``feature`` (the entry's 1-based number in its file),
:data:`ADDRESS_COLUMNS` and ``geom``."""
_LOCK_KEY = 0x61646472  # "addr": serialises writers of the registry
_FETCH = 10_000  # rows a server-side cursor hands over at a time


@dataclass(frozen=True)
class AddressRecord:
    """A registry entry to be written (lon/lat in EPSG:4326)."""

    code: str
    address: str
    lon: float
    lat: float
    road: str | None = None
    road_number: str | None = None
    compound: str | None = None
    building: str | None = None
    units: int | None = None
    floors: int | None = None
    households: int | None = None
    region_code: str | None = None
    normalized: str | None = None
    """``normalize(address)`` when the caller has it already (None: computed on writing)."""

    def row(self, feature: int) -> tuple[Any, ...]:
        """The entry as a row of :data:`STAGED`."""
        return (
            feature,
            *(getattr(self, c) for c in ADDRESSES.columns),
            self.normalized or normalize(self.address),
            f"SRID={STORAGE_SRID};POINT({self.lon!r} {self.lat!r})",
        )


@dataclass(frozen=True)
class AddressChanges:
    """How many entries a write added and modified (entries not in the write stay)."""

    added: int
    modified: int


@dataclass(frozen=True)
class StagedEntry:
    """A staged entry a check names: its feature number, code, text and lon/lat."""

    feature: int
    code: str
    address: str
    lon: float
    lat: float
    count: int = 1
    """How many staged entries share what the check compared (duplicates)."""


def create_staging(conn: Connection) -> None:
    """Create :data:`STAGED` for this transaction."""
    conn.execute(
        text(
            f"CREATE TEMP TABLE {STAGED} ON COMMIT DROP AS "
            f"SELECT 0 AS feature, {', '.join(ADDRESS_COLUMNS)}, geom FROM addresses WITH NO DATA"
        )
    )


def stage_records(
    conn: Connection, records: Iterable[AddressRecord], features: Iterable[int]
) -> None:
    """Copy ``records`` (their file's ``features`` numbers beside them) into :data:`STAGED`."""
    cursor = conn.connection.driver_connection.cursor()
    columns = ", ".join(("feature", *ADDRESS_COLUMNS, "geom"))
    with cursor.copy(f"COPY {STAGED} ({columns}) FROM STDIN") as copy:
        for record, feature in zip(records, features, strict=True):
            copy.write_row(record.row(feature))


def _entries(conn: Connection, sql: str) -> Iterator[StagedEntry]:
    """The staged entries ``sql`` selects (feature, code, address, lon, lat[, count]), through
    a server-side cursor: millions of them are never held at once."""
    rows = conn.execute(text(sql).execution_options(stream_results=True, max_row_buffer=_FETCH))
    for row in rows:
        yield StagedEntry(*row)


def _shared(column: str) -> str:
    return (
        "SELECT feature, code, address, ST_X(geom), ST_Y(geom), n FROM ("
        f"SELECT *, count(*) OVER (PARTITION BY {column}) AS n FROM {STAGED}) s "
        "WHERE n > 1 ORDER BY feature"
    )


def duplicate_codes(conn: Connection) -> Iterator[StagedEntry]:
    """Staged entries whose code another staged entry has too, by feature."""
    return _entries(conn, _shared("code"))


def duplicate_texts(conn: Connection) -> Iterator[StagedEntry]:
    """Staged entries whose normalised text another staged entry has too, by feature."""
    return _entries(conn, _shared("normalized"))


def outside_grids(conn: Connection) -> Iterator[StagedEntry]:
    """Staged entries whose point no current grid covers, by feature."""
    return _entries(
        conn,
        "SELECT feature, code, address, ST_X(geom), ST_Y(geom) "
        f"FROM {STAGED} s WHERE NOT EXISTS (SELECT 1 FROM regions r WHERE {current('r')} "
        "AND r.level = 'grid' AND ST_Covers(r.geom, s.geom)) ORDER BY feature",
    )


def merge_staged(conn: Connection) -> AddressChanges:
    """Insert the staged entries' new codes and update the changed ones (staged codes must
    be unique: :func:`duplicate_codes` finds none), holding the registry's writer lock from
    here to the transaction's end — not while a file of millions is read and checked."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    cols = ", ".join(ADDRESS_COLUMNS)
    added = conn.scalar(
        text(
            f"SELECT count(*) FROM {STAGED} s "
            "WHERE NOT EXISTS (SELECT 1 FROM addresses a WHERE a.code = s.code)"
        )
    )
    compared = (*ADDRESS_COLUMNS[1:], "geom")
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in compared)
    stored = ", ".join(f"addresses.{c}" for c in compared)
    given = ", ".join(f"EXCLUDED.{c}" for c in compared)
    changed = conn.scalar(
        text(
            f"WITH changed AS (INSERT INTO addresses ({cols}, geom) SELECT {cols}, geom "
            f"FROM {STAGED} ON CONFLICT (code) DO UPDATE SET {updates}, updated_at = now() "
            f"WHERE ({stored}) IS DISTINCT FROM ({given}) RETURNING 1) "
            "SELECT count(*) FROM changed"
        )
    )
    return AddressChanges(added=added, modified=changed - added)


def write_addresses(conn: Connection, records: Iterable[AddressRecord]) -> AddressChanges:
    """Stage ``records`` and merge them, in the caller's transaction (for callers that hold
    their entries already, e.g. the demo loader); codes used twice are refused
    (``duplicate_code``)."""
    create_staging(conn)
    records = list(records)
    stage_records(conn, records, range(1, len(records) + 1))
    duplicates = sorted({entry.code for entry in duplicate_codes(conn)})
    if duplicates:
        raise InvalidInput(
            f"地址编码重复: {', '.join(duplicates[:10])} (duplicate address codes)",
            code="duplicate_code",
            details={"codes": duplicates},
        )
    changes = merge_staged(conn)
    conn.execute(text(f"DROP TABLE {STAGED}"))
    return changes
