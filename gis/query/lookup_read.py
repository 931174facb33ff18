"""Reading one boundary version's regions for the lookup index, a level at a time.

The index builder (``gis.query.lookup.write_index``) of a province reads 1 000 000 grids of
~100 vertices: 1.6 GB of WKB.  Fetched as one result, every row's WKB was a Python bytes
object, then copied into the index's blob, beside the decoded polygons.  Here each level is
read on its own through a server-side cursor in chunks: a chunk's WKB goes into the blob and its
polygons' bounds are kept, then the chunk is dropped — the WKB is held once, as the blob, and
no level's polygons are all decoded at once (1 000 000 decoded grids are ~3 GB): the cell
index decodes them from the blob a band at a time (``gis.query.cell_shapes.WkbShapes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from psycopg.rows import dict_row
from sqlalchemy import Connection

from gis.query.lookup_answers import GRID_FIELDS
from gis.store.versions import valid_at

CHUNK = 50_000
"""Rows a fetch brings from the server-side cursor (~80 MB of grid WKB)."""


@dataclass
class LevelRows:
    """One level's regions in code order: their fields (no geometry), their WKB as one byte
    array with offsets, and each polygon's bounds (x0, y0, x1, y1)."""

    rows: list[dict[str, Any]]
    blob: np.ndarray
    offsets: np.ndarray
    bounds: np.ndarray


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def from_rows(rows: Sequence[Mapping[str, Any]], level: str) -> LevelRows:
    """The regions of ``level`` among ``rows`` (each with ``level`` and ``wkb``) held in
    memory (tests, the empty index)."""
    mine = [row for row in rows if row["level"] == level]
    wkb = [bytes(row["wkb"]) for row in mine]
    return LevelRows(
        [{k: v for k, v in row.items() if k != "wkb"} for row in mine],
        np.frombuffer(b"".join(wkb), dtype=np.uint8),
        _offsets([len(b) for b in wkb]),
        shapely.bounds(shapely.from_wkb(wkb)).reshape(-1, 4),
    )


def read_level(conn: Connection, version: int | None, level: str) -> LevelRows:
    """The regions of ``level`` valid at ``version``, in code order, read in chunks of
    :data:`CHUNK` through a server-side cursor (psycopg's binary format: WKB as stored)."""
    query = (
        f"SELECT {', '.join('r.' + f for f in GRID_FIELDS)}, r.level::text AS level, "
        f"r.parent_code, ST_AsBinary(r.geom) AS wkb FROM regions r "
        f"WHERE {valid_at(version='%(v)s')} AND r.level = %(level)s ORDER BY r.code"
    )
    rows: list[dict[str, Any]] = []
    parts: list[bytes] = []
    lengths: list[int] = []
    bounds: list[np.ndarray] = []
    driver = conn.connection.driver_connection
    with driver.cursor(name="gridmap_lookup_read", row_factory=dict_row, binary=True) as cur:
        cur.execute(query, {"v": version or 0, "level": level})
        while chunk := cur.fetchmany(CHUNK):
            wkb = [row.pop("wkb") for row in chunk]
            bounds.append(shapely.bounds(shapely.from_wkb(wkb)))  # decoded a chunk at a time
            lengths += [len(b) for b in wkb]
            parts.append(b"".join(wkb))
            rows += chunk
            del wkb, chunk
    offsets = _offsets(lengths)
    blob = np.empty(int(offsets[-1]), dtype=np.uint8)
    end = len(blob)
    while parts:  # each part dropped once copied: the WKB is held about once
        part = parts.pop()
        blob[end - len(part) : end] = np.frombuffer(part, dtype=np.uint8)
        end -= len(part)
        del part
    return LevelRows(rows, blob, offsets, np.concatenate(bounds) if bounds else np.empty((0, 4)))
