"""Streamed batch lookups (issue 19): every format and the stream answer what single lookups
answer, at one version, with bad rows named by their row number."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from gis.ingest.csvfiles import csv_encoding
from gis.query.lookup_columns import CODES, FIELDS, place
from gis.query.lookup_index import GridIndex
from gis.query.lookup_stream import answer_stream, read_points
from gis.query.lookup_writers import MEDIA_TYPES, writer_for

from support import serve_app

BBOX = (118.27, 40.125, 118.37, 40.18)


@pytest.fixture(scope="module")
def index(engine: Engine) -> GridIndex:
    with engine.connect() as conn:
        return GridIndex.load(conn, 1)


def _points(index: GridIndex, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Random points in and around the demo street, with grid vertices and edge midpoints."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(BBOX[0], BBOX[2], n)
    lat = rng.uniform(BBOX[1], BBOX[3], n)
    import shapely

    shapes = [shapely.from_wkb(bytes(w)) for w in _grid_wkbs(index)[:40]]
    ring = np.concatenate([shapely.get_coordinates(s) for s in shapes])
    mids = (ring[:-1] + ring[1:]) / 2
    both = np.concatenate([ring[: n // 4], mids[: n // 4]])
    lon[: len(both)], lat[: len(both)] = both[:, 0], both[:, 1]
    return lon, lat


def _grid_wkbs(index: GridIndex) -> list[bytes]:
    blob, offsets = index.arrays["grid.wkb"], index.arrays["grid.wkb_offsets"]
    return [blob[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]


def _single(index: GridIndex, x: float, y: float) -> dict:
    (answer,) = index.answers(np.array([x]), np.array([y]))
    return answer


def test_placed_fields_equal_single_lookups(index: GridIndex) -> None:
    lon, lat = _points(index, 2000)
    placed = {k: v.to_pylist() for k, v in place(index, lon, lat, FIELDS).items()}
    for i in range(len(lon)):
        one = _single(index, lon[i], lat[i])
        assert placed["covered"][i] == one["covered"]
        for level in ("grid", "community", "street", "county"):
            region = one[level] or {}
            assert placed[f"{level}.code"][i] == region.get("code"), (i, level)
            assert placed[f"{level}.name"][i] == region.get("name"), (i, level)
        near = one["nearest"]
        assert placed["nearest.code"][i] == (near["grid"]["code"] if near else None)
        assert placed["distance_m"][i] == (near["distance_m"] if near else None)


def test_a_csv_streams_through(index: GridIndex) -> None:
    lon, lat = _points(index, 5000)
    text = "编号,经度,纬度,备注\n" + "".join(
        f"{i},{float(x)!r},{float(y)!r},记录{i}\n"
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    )
    text += "5000,abc,40.1,坏\n5001,nan,40.1,坏\n"
    sink = io.BytesIO()
    points = read_points(io.BytesIO(text.encode("gb18030")), "csv")
    make = writer_for("csv", sink, index.version, csv_encoding("utf-8"))
    rows = answer_stream(index, points, make, crs="wgs84", fields=("grid.code", "grid.name"))
    assert rows == 5002
    out = pacsv.read_csv(
        io.BytesIO(sink.getvalue()),
        convert_options=pacsv.ConvertOptions(
            column_types={"编号": pa.string(), "grid.code": pa.string()}, strings_can_be_null=True
        ),
    )
    assert out.column_names == [
        "编号",
        "经度",
        "纬度",
        "备注",
        "grid.code",
        "grid.name",
        "version",
        "error",
    ]
    codes = out["grid.code"].to_pylist()
    for i in range(0, 5000, 37):
        one = _single(index, lon[i], lat[i])
        assert codes[i] == (one["grid"] or {}).get("code"), (i, sink.getvalue()[:600].decode())
    assert out["备注"].to_pylist()[4999] == "记录4999"
    errors = out["error"].to_pylist()
    assert errors[:5000] == [None] * 5000
    assert "第 5002 行" in errors[5000] and "第 5003 行" in errors[5001]


def _stream(
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


def _chunks(data: bytes, size: int = 50_000) -> Iterator[bytes]:
    """A body sent in pieces (chunked transfer): the server never sees it whole."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _bodies(lon: np.ndarray, lat: np.ndarray) -> dict[str, bytes]:
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


def _read(kind: str, data: bytes) -> pa.Table:
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


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ("csv", "csv"),
        ("csv", "arrow"),
        ("arrow", "arrow"),
        ("arrow", "csv"),
        ("parquet", "parquet"),
        ("ndjson", "ndjson"),
    ],
)
def test_every_format_streams_the_single_answers(
    fresh_db_url: str,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    given: str,
    wanted: str,
) -> None:
    with fresh_engine.connect() as conn:
        index = GridIndex.load(conn, 1)
    lon, lat = _points(index, 30_000, seed=len(given) + len(wanted))
    expected = index.answers(lon, lat)
    key = make_key("viewer")
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        response, data = _stream(
            base, key, _chunks(_bodies(lon, lat)[given]), MEDIA_TYPES[given], format=wanted
        )
    assert response.status_code == 200, data[:500]
    assert response.headers["x-gridmap-version"] == "1"
    assert response.headers["content-type"].startswith(MEDIA_TYPES[wanted])
    out = _read(wanted, data)
    assert out.num_rows == len(lon)
    assert out.column_names == ["id", "lon", "lat", *CODES, "version", "error"]
    assert out["id"].to_pylist() == [f"事件{i}" for i in range(len(lon))], "input order"
    assert {str(v) for v in out["version"].to_pylist()} == {"1"}
    assert set(out["error"].to_pylist()) == {None}
    for level in ("grid", "community", "street", "county"):
        got = out[f"{level}.code"].to_pylist()
        assert got == [(a[level] or {}).get("code") for a in expected], level
    if wanted in ("arrow", "parquet"):
        assert out.schema.metadata[b"gridmap.version"] == b"1"
