"""Numpy arrays in and out of PostgreSQL by ``COPY``: points as a binary COPY stream (encoded
with numpy, no per-row Python), query results as COPY text."""

from __future__ import annotations

import numpy as np
import psycopg

EWKB_POINT_SRID = 0x20000001  # little-endian EWKB type: point with an SRID


def points_copy(lon: np.ndarray, lat: np.ndarray, *values: np.ndarray) -> bytes:
    """Rows (id int4 = row number, EWKB point SRID 4326, float8 …) as a binary COPY stream."""
    fields = [("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("geom_len", ">i4")]
    fields += [("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
    for i in range(len(values)):
        fields += [(f"v{i}_len", ">i4"), (f"v{i}", ">f8")]
    rows = np.empty(len(lon), dtype=np.dtype(fields))
    rows["fields"] = 2 + len(values)
    rows["id_len"], rows["id"] = 4, np.arange(len(lon))
    rows["geom_len"], rows["order"], rows["type"], rows["srid"] = 25, 1, EWKB_POINT_SRID, 4326
    rows["x"], rows["y"] = lon, lat
    for i, v in enumerate(values):
        rows[f"v{i}_len"], rows[f"v{i}"] = 8, v
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


def copy_out(cur: psycopg.Cursor, sql: str) -> bytes:
    """The rows of ``sql`` as COPY text (tab-separated columns, one row per line)."""
    with cur.copy(f"COPY ({sql}) TO STDOUT") as copy:
        return b"".join(bytes(block) for block in copy)
