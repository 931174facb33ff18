"""Reading one boundary version's regions for the lookup index, a level at a time.

The index builder (``gis.query.lookup.write_index``) of a province reads 1 000 000 grids of
~100 vertices: 1.6 GB of WKB.  Fetched as one result, every row's WKB was a Python bytes
object, then copied into the index's blob, beside the decoded polygons.  Here each level is
read on its own through a server-side cursor in chunks: a chunk's WKB goes into the blob and its
polygons' bounds are kept, then the chunk is dropped — the WKB is held once, as the blob, and
no polygon is decoded (1 000 000 decoded grids are ~3 GB): the bounds are read from the WKB
(``gis.query.cell_shapes.wkb_bounds``), and the cell index decodes polygons from the blob a
band at a time (``gis.query.cell_shapes.WkbShapes``).  The fields come as tuples and are
kept as tuples: a dict a row cost ~3.5 s and ~0.8 GB of the province's read (and lists of
columns made of them more of the garbage collector's passes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from gis.query.cell_shapes import wkb_bounds
from gis.query.lookup_answers import GRID_FIELDS
from gis.store.versions import valid_at

CHUNK = 50_000
"""Rows a fetch brings from the server-side cursor (~80 MB of grid WKB)."""
FIELDS = (*GRID_FIELDS, "level", "parent_code")
"""A region's fields the index keeps, in the order of :attr:`LevelRows.rows`."""


@dataclass
class LevelRows:
    """One level's regions in code order: their fields (no geometry: :data:`FIELDS`, a
    tuple each), their WKB as one byte array with offsets, and each polygon's bounds (x0,
    y0, x1, y1)."""

    rows: list[tuple[Any, ...]]
    blob: np.ndarray
    offsets: np.ndarray
    bounds: np.ndarray

    def column(self, field: str) -> list[Any]:
        """One of :data:`FIELDS` of every region."""
        i = FIELDS.index(field)
        return [row[i] for row in self.rows]


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def from_rows(rows: Sequence[Mapping[str, Any]], level: str) -> LevelRows:
    """The regions of ``level`` among ``rows`` (each with ``level`` and ``wkb``) held in
    memory (tests, the empty index)."""
    mine = [row for row in rows if row["level"] == level]
    blob = b"".join(bytes(row["wkb"]) for row in mine)
    offsets = _offsets([len(row["wkb"]) for row in mine])
    return LevelRows(
        [tuple(row.get(f) for f in FIELDS) for row in mine],
        np.frombuffer(blob, dtype=np.uint8),
        offsets,
        wkb_bounds(blob, offsets),
    )


def read_level(conn: Connection, version: int | None, level: str) -> LevelRows:
    """The regions of ``level`` valid at ``version``, in code order, read in chunks of
    :data:`CHUNK` through a server-side cursor (psycopg's binary format: WKB as stored)."""
    fields = ", ".join(f"r.{f}::text" if f == "level" else f"r.{f}" for f in FIELDS)
    query = (
        f"SELECT {fields}, ST_AsBinary(r.geom) AS wkb FROM regions r "
        f"WHERE {valid_at(version='%(v)s')} AND r.level = %(level)s ORDER BY r.code"
    )
    rows: list[tuple[Any, ...]] = []
    parts: list[bytes] = []
    lengths: list[int] = []
    bounds: list[np.ndarray] = []
    driver = conn.connection.driver_connection
    with driver.cursor(name="gridmap_lookup_read", binary=True) as cur:
        cur.execute(query, {"v": version or 0, "level": level})
        while chunk := cur.fetchmany(CHUNK):
            wkb = [row[-1] for row in chunk]
            rows += [row[:-1] for row in chunk]
            del chunk
            sizes = [len(b) for b in wkb]
            parts.append(b"".join(wkb))
            bounds.append(wkb_bounds(parts[-1], _offsets(sizes)))
            lengths += sizes
            del wkb
    offsets = _offsets(lengths)
    blob = np.empty(int(offsets[-1]), dtype=np.uint8)
    end = len(blob)
    while parts:  # each part dropped once copied: the WKB is held about once
        part = parts.pop()
        blob[end - len(part) : end] = np.frombuffer(part, dtype=np.uint8)
        end -= len(part)
        del part
    return LevelRows(rows, blob, offsets, np.concatenate(bounds) if bounds else np.empty((0, 4)))
