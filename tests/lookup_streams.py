"""Streamed lookups in tests (issue 19): random points of the demo city with grid vertices
and edge midpoints, bodies in every format, and a stream request and its answer read back."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import shapely

from gis.query.lookup_columns import CODES
from gis.query.lookup_index import GridIndex

BBOX = (118.27, 40.125, 118.37, 40.18)
"""The demo street and some way around it."""


def demo_points(index: GridIndex, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Random points in and around the demo street, with grid vertices and edge midpoints."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(BBOX[0], BBOX[2], n)
    lat = rng.uniform(BBOX[1], BBOX[3], n)

    shapes = [shapely.from_wkb(bytes(w)) for w in grid_wkbs(index)[:40]]
    ring = np.concatenate([shapely.get_coordinates(s) for s in shapes])
    mids = (ring[:-1] + ring[1:]) / 2
    both = np.concatenate([ring[: n // 4], mids[: n // 4]])
    lon[: len(both)], lat[: len(both)] = both[:, 0], both[:, 1]
    return lon, lat


def grid_wkbs(index: GridIndex) -> list[bytes]:
    blob, offsets = index.arrays["grid.wkb"], index.arrays["grid.wkb_offsets"]
    return [blob[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]


def single(index: GridIndex, x: float, y: float) -> dict:
    (answer,) = index.answers(np.array([x]), np.array([y]))
    return answer


def stream(
    base: str, key: str, body: Any, media: str, **params: Any
) -> tuple[httpx.Response, bytes]:
    with (
        httpx.Client(base_url=base, timeout=120) as client,
        client.stream(
            "POST",
            "/api/v1/lookup/stream",
            content=body,
            params=params,
            headers={"Authorization": f"Bearer {key}", "Content-Type": media},
        ) as response,
    ):
        return response, response.read()


def chunks(data: bytes, size: int = 50_000) -> Iterator[bytes]:
    """A body sent in pieces (chunked transfer): the server never sees it whole."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def bodies(lon: np.ndarray, lat: np.ndarray) -> dict[str, bytes]:
    ids = [f"事件{i}" for i in range(len(lon))]
    table = pa.table({"id": ids, "lon": lon, "lat": lat})
    made = {}
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    made["csv"] = buffer.getvalue()
    buffer = io.BytesIO()
    with ipc.new_stream(buffer, table.schema) as writer:
        writer.write_table(table, max_chunksize=7000)
    made["arrow"] = buffer.getvalue()
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=7000)
    made["parquet"] = buffer.getvalue()
    made["ndjson"] = "".join(
        json.dumps({"id": i, "lon": float(x), "lat": float(y)}, ensure_ascii=False) + "\n"
        for i, x, y in zip(ids, lon, lat, strict=True)
    ).encode()
    return made


def read(kind: str, data: bytes) -> pa.Table:
    if kind == "csv":
        options = pacsv.ConvertOptions(
            strings_can_be_null=True,
            column_types={n: pa.string() for n in ("id", *CODES, "error")},
        )
        return pacsv.read_csv(io.BytesIO(data), convert_options=options)
    if kind == "arrow":
        return ipc.open_stream(data).read_all()
    if kind == "parquet":
        return pq.read_table(io.BytesIO(data))
    return pa.Table.from_pylist([json.loads(line) for line in data.splitlines()])
