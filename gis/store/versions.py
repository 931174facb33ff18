"""Boundary versions: every change makes a new version, superseded rows are kept.

Writers take a transaction-scoped advisory lock, so versions are numbered 1, 2, 3 …
without gaps and two writers never interleave.  A change either lands whole, as one
new version, or not at all (the caller's transaction); when it lands, its number is
notified on ``VERSIONS_CHANNEL`` (see ``gis.store.watch``) and published on this machine's
versions board (``gis.store.board``) — the one path is :func:`commit_and_publish`, or
:func:`commit_version` for a caller that holds its own transaction.

A row of ``regions`` is valid at version N from its ``valid_from`` up to, not including,
its ``valid_to``; every reader states that through :func:`valid_at` (and :func:`current`).

Changes are judged by content: a region whose typed columns, free attributes and geometry
at storage precision (:data:`STORAGE_GRID_DEG`) equal its current row is unchanged and
keeps that row — so exporting the boundaries and importing the file again is a no-op.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

import shapely
from sqlalchemy import Connection, Engine, text

from gis.catalogue import REGION_ATTRIBUTES
from gis.errors import InvalidInput, NotFound
from gis.query.cursor import count_matching
from gis.store.arrays import Texts
from gis.store.board import connection_board, publish
from gis.store.generalised import prepare_shapes
from gis.store.models import CURRENT_REGION, LEVELS
from gis.store.statistics import analyze_if_grown
from gis.store.stored_form import (
    GEOMETRY_COPY_TYPE,
    CopyGeometries,
    for_copy,
    geometry_differs,
    stored_form,
)

_LOCK_KEY = 0x67726964  # "grid": serialises writers of boundary versions

VERSIONS_CHANNEL = "gridmap_versions"
"""The NOTIFY channel on which each new version's number is sent when it commits."""
CURRENT_VERSION_SQL = "SELECT max(number) FROM boundary_versions"

ATTRIBUTE_COLUMNS = tuple(f.name for f in REGION_ATTRIBUTES)
"""Typed attribute columns of a region besides code, level, name and parent."""

DERIVED_COLUMNS = ("level", "area_m2")
"""Columns of a region that the store decides itself (the level from the upload, the area
from the geometry) and the export writes as helper columns: a file's fields of these names
are never kept as free attributes (a ``level`` that differs from the region's is kept)."""


@dataclass
class RegionRecord:
    """A region to be written: what an upload or the demo loader supplies (``wkb`` None: its
    geometry is given to :func:`commit_regions` already as stored)."""

    code: str
    level: str
    name: str
    wkb: bytes | None
    parent_code: str | None = None
    households: int | None = None
    population: int | None = None
    grid_worker: str | None = None
    grid_worker_phone: str | None = None
    party_branch: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionSummary:
    """What a commit changed; ``number`` is None when nothing changed."""

    number: int | None
    added: list[str]
    modified: list[str]
    removed: list[str]


_Written = TypeVar("_Written", bound=VersionSummary | None)


def valid_at(alias: str = "r", version: str = ":v") -> str:
    """SQL condition: the row of ``regions`` aliased ``alias`` ("": no alias) is valid at the
    version given by the SQL expression ``version`` (a bind parameter such as ``:v`` or
    ``%(version)s``) — ``valid_from <= N AND (valid_to IS NULL OR valid_to > N)``: a version
    wrote it at or before N, and none had superseded it by N."""
    col = f"{alias}." if alias else ""
    return f"{col}valid_from <= {version} AND ({col}valid_to IS NULL OR {col}valid_to > {version})"


def current(alias: str = "r") -> str:
    """SQL condition: the row of ``regions`` aliased ``alias`` ("": no alias) is current —
    no version has superseded it (:data:`gis.store.models.CURRENT_REGION`, the partial
    indexes' predicate)."""
    return f"{alias}.{CURRENT_REGION}" if alias else CURRENT_REGION


def current_codes(conn: Connection, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` name a current region."""
    sql = f"SELECT code FROM regions WHERE {current('')} AND code = ANY(:codes)"
    return set(conn.scalars(text(sql), {"codes": Texts(codes)}))


def current_version(conn: Connection) -> int | None:
    """Number of the newest boundary version, or None on an empty database."""
    return conn.scalar(text(CURRENT_VERSION_SQL))


def resolve_version(conn: Connection, as_of: int | None) -> int | None:
    """The version a read uses: ``as_of`` if it exists, else the current one."""
    if as_of is None:
        return current_version(conn)
    if not conn.scalar(text("SELECT 1 FROM boundary_versions WHERE number = :n"), {"n": as_of}):
        raise version_not_found(as_of)
    return as_of


def version_not_found(number: int) -> NotFound:
    """The 404 ``version_not_found`` error of a version that does not exist."""
    return NotFound(
        f"边界版本 {number} 不存在 (boundary version {number} does not exist)",
        code="version_not_found",
        details={"version": number},
    )


_STAGED_COLUMNS = ("code", "level", "name", "parent_code", *ATTRIBUTE_COLUMNS, "attributes")
_COLS = ", ".join(_STAGED_COLUMNS)
_STAGED_TYPES = [
    "text",
    "text",
    "text",
    "text",
    *("int4" if f.kind is int else "text" for f in REGION_ATTRIBUTES),
    "bytea",  # jsonb's binary form, made by _jsonb
    GEOMETRY_COPY_TYPE,
    "float8",
]
"""The binary COPY's types of ``staged``'s columns (:data:`_STAGED_COLUMNS`, then geom and
area_m2)."""
_TYPED = attrgetter(*(c for c in _STAGED_COLUMNS if c != "attributes"))
"""A record's typed columns, in :data:`_STAGED_COLUMNS`' order (one C call a row)."""


def differs(old: str, new: str) -> str:
    """SQL: rows aliased ``old`` and ``new`` (of ``regions`` or ``staged``) differ in content —
    typed columns and free attributes (jsonb equality: 1 and 1.0 are equal, key order does
    not matter), or geometry (:func:`geometry_differs`)."""
    columns = (f"({', '.join(f'{a}.{c}' for c in _STAGED_COLUMNS)})" for a in (old, new))
    return f"{' IS DISTINCT FROM '.join(columns)} OR {geometry_differs(old, new)}"


_DIFFERS = differs("r", "s")
"""Whether current row ``r`` and staged row ``s`` differ in content (:func:`differs`)."""


def lock_boundaries(conn: Connection) -> None:
    """Serialise writers of boundaries until the end of the caller's transaction."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def _begin_version(
    conn: Connection,
    author: str,
    action: str,
    message: str | None,
    restored_from: int | None = None,
) -> int:
    lock_boundaries(conn)
    # staged has no statistics: the planner overestimates and JIT-compiles for ~0.2 s
    conn.execute(text("SET LOCAL jit = off"))
    number = (current_version(conn) or 0) + 1
    conn.execute(
        text(
            "INSERT INTO boundary_versions (number, author, action, message, restored_from) "
            "VALUES (:n, :author, :action, :message, :restored_from)"
        ),
        {
            "n": number,
            "author": author,
            "action": action,
            "message": message,
            "restored_from": restored_from,
        },
    )
    conn.execute(
        text(f"CREATE TEMP TABLE staged AS SELECT {_COLS}, geom, area_m2 FROM regions WITH NO DATA")
    )
    return number


def _apply_staged(
    conn: Connection, number: int, remove: Sequence[str], copied: Sequence[str] = ()
) -> VersionSummary:
    """Turn the ``staged`` rows plus ``remove`` into version ``number``, whose rows of new
    regions ``copied`` are already written."""
    modified = conn.scalars(
        text(
            f"UPDATE regions r SET valid_to = :n FROM staged s "
            f"WHERE {current()} AND r.code = s.code AND ({_DIFFERS}) RETURNING r.code"
        ),
        {"n": number},
    ).all()
    removed = conn.scalars(
        text(
            f"UPDATE regions SET valid_to = :n WHERE {current('')} AND code = ANY(:codes) "
            "RETURNING code"
        ),
        {"n": number, "codes": Texts(remove)},
    ).all()
    inserted = conn.scalars(
        text(
            f"INSERT INTO regions ({_COLS}, geom, area_m2, valid_from) "
            f"SELECT {_COLS}, geom, area_m2, :n FROM staged s "
            "WHERE NOT EXISTS (SELECT 1 FROM regions r "
            f"                  WHERE {current()} AND r.code = s.code) "
            "RETURNING code"
        ),
        {"n": number},
    ).all()
    inserted = [*copied, *inserted]
    conn.execute(text("DROP TABLE staged"))
    prepare_shapes(conn, number, inserted)  # the low-zoom tiles' shapes of the new rows
    modified_set = set(modified)
    summary = VersionSummary(
        number=number,
        added=sorted(c for c in inserted if c not in modified_set),
        modified=sorted(modified),
        removed=sorted(removed),
    )
    if not (summary.added or summary.modified or summary.removed):
        conn.execute(text("DELETE FROM boundary_versions WHERE number = :n"), {"n": number})
        return VersionSummary(None, [], [], [])
    conn.execute(
        text("UPDATE boundary_versions SET changes = CAST(:changes AS jsonb) WHERE number = :n"),
        {
            "n": number,
            "changes": json.dumps(
                {"added": summary.added, "modified": summary.modified, "removed": summary.removed},
                ensure_ascii=False,
            ),
        },
    )
    # delivered to listeners (gis.store.watch) when, and only if, the transaction commits
    conn.execute(
        text("SELECT pg_notify(:channel, :n)"), {"channel": VERSIONS_CHANNEL, "n": str(number)}
    )
    return summary


def commit_regions(
    conn: Connection,
    records: Iterable[RegionRecord],
    *,
    author: str,
    action: str,
    message: str | None = None,
    remove: Sequence[str] = (),
    keep: Sequence[str] = (),
    merge_attributes: bool = False,
    geometries: Iterable[CopyGeometries] | None = None,
) -> VersionSummary:
    """Write ``records`` (new or changed regions) and remove ``remove`` as one new version.

    Columns named in ``keep`` (attribute columns) are carried over from the current rows
    of existing regions instead of taken from ``records`` — for files that do not have
    those fields; with ``merge_attributes`` the records' free attributes are added to the
    stored ones instead of replacing them.  Geometries are stored as :func:`stored_form`
    makes them — from each record's ``wkb``, or given as ``geometries`` (chunks of
    :func:`for_copy` of :func:`stored_form`, measured, in the records' order: an upload makes
    the next while the server writes one, and keeps them for its review map); a record's
    free attributes named like :data:`DERIVED_COLUMNS` are dropped (``level`` only when it
    is the record's own level).  New regions' rows go straight into ``regions``; the
    others' are staged and compared with their current rows.
    Regions whose content is unchanged (see ``_DIFFERS``) keep their rows.  Runs inside the
    caller's transaction: roll it back and nothing happened.
    """
    unknown = sorted(set(keep) - set(ATTRIBUTE_COLUMNS))
    if unknown:
        raise ValueError(f"cannot keep columns {unknown}")
    records = list(records)
    duplicates = sorted(c for c, n in Counter(r.code for r in records).items() if n > 1)
    if duplicates:
        raise InvalidInput(
            f"编码重复: {', '.join(duplicates[:10])} (duplicate region codes)",
            code="duplicate_code",
            details={"codes": duplicates},
        )
    bad_levels = sorted({r.level for r in records} - set(LEVELS))
    if bad_levels:
        raise InvalidInput(
            f"未知的层级 {bad_levels} (unknown level; expected one of {list(LEVELS)})",
            code="invalid_level",
            details={"levels": bad_levels},
        )
    number = _begin_version(conn, author, action, message)
    if geometries is None:
        geometries = [for_copy(stored_form(shapely.from_wkb([r.wkb for r in records])))]
    stored = current_codes(conn, (r.code for r in records))
    copied, compared = _copy_new(conn, number, records, geometries, stored)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY staged ({_COLS}, geom, area_m2) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_STAGED_TYPES)
        for row in compared:
            copy.write_row(row)
    del compared  # their EWKB not held through the version's statements
    # a fresh temp table has no statistics: the planner guessed ~900 rows and scanned all of
    # regions below ~20 000 of them instead of probing the code index (bench/validation_scale)
    conn.execute(text("ANALYZE staged"))
    carried = [f"{c} = r.{c}" for c in keep]
    if merge_attributes:
        carried.append("attributes = r.attributes || s.attributes")
    if carried:
        conn.execute(
            text(
                f"UPDATE staged s SET {', '.join(carried)} FROM regions r "
                f"WHERE {current()} AND r.code = s.code"
            )
        )
    return _apply_staged(conn, number, remove, copied)


def _copy_new(
    conn: Connection,
    number: int,
    records: list[RegionRecord],
    geometries: Iterable[CopyGeometries],
    stored: set[str],
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Write the rows of regions that have no current row (codes not in ``stored``) straight
    into ``regions`` as version ``number``'s, in one binary COPY as ``geometries`` come
    (chunks in the records' order: the server inserts one chunk while the caller makes the
    next); the others' rows are returned for ``staged``, to be compared with their current
    rows.  Their codes, and those rows."""
    copied: list[str] = []
    compared: list[tuple[Any, ...]] = []
    pending, made = iter(records), 0
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(
        f"COPY regions ({_COLS}, geom, area_m2, valid_from) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types([*_STAGED_TYPES, "int4"])
        for chunk in geometries:
            if chunk.area_m2 is None:
                raise ValueError("commit_regions needs the geometries' areas (measured)")
            made += len(chunk.ewkb)
            # the records taken as their geometries come (counted after the last chunk)
            for geom, area, r in zip(chunk.ewkb, chunk.area_m2, pending, strict=False):
                row = (*_TYPED(r), _jsonb(_free_attributes(r)), geom, area)
                if r.code in stored:
                    compared.append(row)
                else:
                    copy.write_row((*row, number))
                    copied.append(r.code)
    if not made == len(copied) + len(compared) == len(records):
        raise ValueError("commit_regions needs one geometry per record")
    return copied, compared


_JSONB_FORM = b"\x01"
"""The first byte of jsonb's binary form (its version); the JSON text follows."""
_JSON = json.JSONEncoder(ensure_ascii=False)
"""``json.dumps(…, ensure_ascii=False)``'s encoder, made once (``dumps`` with an argument
makes one per call)."""
_NO_ATTRIBUTES = _JSONB_FORM + b"{}"


def _jsonb(value: dict[str, Any]) -> bytes:
    """A jsonb value in its binary COPY form, for a column the COPY types as bytea (whose
    binary form is the bytes themselves, which jsonb's receive function reads).  Made here,
    where psycopg's jsonb dumper cost ~2 µs more a row; a commit's main thread writes a
    province's million rows while threads make the next geometries (most rows have no free
    attributes: their form is a constant)."""
    return _JSONB_FORM + _JSON.encode(value).encode() if value else _NO_ATTRIBUTES


def _free_attributes(record: RegionRecord) -> dict[str, Any]:
    """The record's free attributes without the export's helper columns."""
    return {
        k: v
        for k, v in record.attributes.items()
        if k not in DERIVED_COLUMNS or (k == "level" and v != record.level)
    }


def restore_version(conn: Connection, target: int, *, author: str) -> VersionSummary:
    """Make the boundaries as of version ``target`` current again, as a new version
    (its rows exactly as they were stored); ``regions`` analysed when it grew much (a restore
    is always committed)."""
    resolve_version(conn, target)
    if target == current_version(conn):
        raise InvalidInput(
            f"版本 {target} 已是当前版本 (version {target} is already current)",
            code="version_is_current",
            details={"version": target},
        )
    number = _begin_version(
        conn, author, "restore", f"restore version {target}", restored_from=target
    )
    conn.execute(
        text(
            f"INSERT INTO staged ({_COLS}, geom, area_m2) SELECT {_COLS}, geom, area_m2 "
            "FROM regions "
            f"WHERE {valid_at('', ':t')}"
        ),
        {"t": target},
    )
    conn.execute(text("ANALYZE staged"))
    remove = conn.scalars(
        text(
            f"SELECT code FROM regions WHERE {current('')} "
            "AND code NOT IN (SELECT code FROM staged)"
        )
    ).all()
    summary = _apply_staged(conn, number, remove)
    analyze_if_grown(conn, "regions", len(summary.added) + len(summary.modified))
    return summary


def commit_version(conn: Connection, number: int | None) -> None:
    """Commit ``conn``'s transaction, which wrote boundary version ``number`` (None: none),
    then publish the number on this machine's versions board.

    The writers (:func:`commit_regions`, :func:`restore_version`) took the lock, wrote the
    rows and queued the NOTIFY; this is the commit and the publish, in that order: the board
    is raised only after the commit, so no worker reads a number whose rows it cannot see,
    and a rolled-back version is never published."""
    board = connection_board(conn) if number is not None else None
    conn.commit()
    if board is not None:
        publish(board, number)


def commit_and_publish(engine: Engine, write: Callable[[Connection], _Written]) -> _Written:
    """Run ``write`` in one new transaction and commit it with :func:`commit_version` (the
    version it returns, if any, published after the commit); if ``write`` raises, the
    transaction rolls back and nothing is written or published."""
    with engine.connect() as conn:
        summary = write(conn)
        commit_version(conn, summary.number if summary is not None else None)
    return summary


def list_versions(
    conn: Connection,
    *,
    limit: int,
    offset: int = 0,
    after: int | None = None,
    exact_up_to: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Boundary versions, newest first, with their audit data; and how many there are.

    Each carries the codes it changed, their counts (``summary``: added, changed, removed —
    the words of :mod:`gis.store.diff`) and the name of the uploaded file it came from
    (``file``; None when it did not come from an upload).  ``after``: the versions before
    that number (a keyset page: the primary key finds its start).  ``exact_up_to``: the
    total is counted exactly up to it and estimated beyond (``gis.query.cursor``)."""
    total = count_matching(conn, "boundary_versions", {}, exact_up_to)
    older = "WHERE v.number < :after " if after is not None else ""
    rows = conn.execute(
        text(
            "SELECT v.number, v.created_at, v.author, v.action, v.message, v.restored_from, "
            "v.changes, (SELECT u.filename FROM uploads u WHERE u.version = v.number "
            "            ORDER BY u.id LIMIT 1) AS file "
            f"FROM boundary_versions v {older}ORDER BY v.number DESC LIMIT :limit OFFSET :offset"
        ),
        {"limit": limit, "offset": offset, "after": after},
    ).mappings()
    versions = []
    for row in rows:
        changes = {k: row["changes"].get(k, []) for k in ("added", "modified", "removed", "moved")}
        versions.append(
            {
                **{
                    k: row[k]
                    for k in ("number", "author", "action", "message", "restored_from", "file")
                },
                "created_at": row["created_at"].isoformat(),
                "changes": changes,
                "summary": {
                    "added": len(changes["added"]),
                    "changed": len(changes["modified"]),
                    "removed": len(changes["removed"]),
                },
            }
        )
    return versions, total
