"""Streamed batch lookups (issue 19): every format and the stream answer what single lookups
answer, at one version, with bad rows named by their row number."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis.ingest.csvfiles import csv_encoding
from gis.query.lookup_columns import CODES, FIELDS, place
from gis.query.lookup_index import GridIndex
from gis.query.lookup_stream import answer_stream, read_points
from gis.query.lookup_writers import MEDIA_TYPES, writer_for

from lookup_streams import bodies, chunks, demo_points, read, single, stream
from support import serve_app, upload_renamed_grid


@pytest.fixture(scope="module")
def index(engine: Engine) -> GridIndex:
    with engine.connect() as conn:
        return GridIndex.load(conn, 1)


def test_placed_fields_equal_single_lookups(index: GridIndex) -> None:
    lon, lat = demo_points(index, 2000)
    placed = {k: v.to_pylist() for k, v in place(index, lon, lat, FIELDS).items()}
    for i in range(len(lon)):
        one = single(index, lon[i], lat[i])
        assert placed["covered"][i] == one["covered"]
        for level in ("grid", "community", "street", "county"):
            region = one[level] or {}
            assert placed[f"{level}.code"][i] == region.get("code"), (i, level)
            assert placed[f"{level}.name"][i] == region.get("name"), (i, level)
        near = one["nearest"]
        assert placed["nearest.code"][i] == (near["grid"]["code"] if near else None)
        assert placed["distance_m"][i] == (near["distance_m"] if near else None)


def test_a_csv_streams_through(index: GridIndex) -> None:
    lon, lat = demo_points(index, 5000)
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
        one = single(index, lon[i], lat[i])
        assert codes[i] == (one["grid"] or {}).get("code"), (i, sink.getvalue()[:600].decode())
    assert out["备注"].to_pylist()[4999] == "记录4999"
    errors = out["error"].to_pylist()
    assert errors[:5000] == [None] * 5000
    assert "第 5002 行" in errors[5000] and "第 5003 行" in errors[5001]


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
    lon, lat = demo_points(index, 30_000, seed=len(given) + len(wanted))
    expected = index.answers(lon, lat)
    key = make_key("viewer")
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        response, data = stream(
            base, key, chunks(bodies(lon, lat)[given]), MEDIA_TYPES[given], format=wanted
        )
    assert response.status_code == 200, data[:500]
    assert response.headers["x-gridmap-version"] == "1"
    assert response.headers["content-type"].startswith(MEDIA_TYPES[wanted])
    out = read(wanted, data)
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


def test_a_batch_answers_chosen_fields_compactly(client: TestClient, index: GridIndex) -> None:
    lon, lat = demo_points(index, 3000, seed=3)
    expected = index.answers(lon, lat)
    points = [
        {"lon": float(x), "lat": float(y), "id": i}
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]
    fields = "grid.code,community.name,county.code,covered,nearest.code,distance_m"
    answer = client.post("/api/v1/lookup/batch", params={"fields": fields}, json={"points": points})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["version"] == 1 and body["crs"] == "EPSG:4326" and body["distance_unit"] == "m"
    regions = body["regions"]
    for i, (got, one) in enumerate(zip(body["results"], expected, strict=True)):
        assert got["id"] == i
        assert set(got) == {
            "id",
            "grid.code",
            "community.code",
            "county.code",
            "covered",
            "nearest.code",
            "distance_m",
        }
        assert got["grid.code"] == (one["grid"] or {}).get("code")
        assert got["community.code"] == (one["community"] or {}).get("code")
        if one["community"]:
            assert regions[got["community.code"]] == one["community"]["name"]
        assert got["covered"] == one["covered"]
        near = one["nearest"]
        assert got["nearest.code"] == (near["grid"]["code"] if near else None)
        assert got["distance_m"] == (near["distance_m"] if near else None)
    codes = client.post(
        "/api/v1/lookup/batch", params={"fields": "grid.code"}, json={"points": points}
    )
    full = client.post("/api/v1/lookup/batch", json={"points": points})
    assert len(codes.content) < 0.1 * len(full.content), "codes only: a tenth of the full answer"

    csv_answer = client.post(
        "/api/v1/lookup/batch",
        params={"fields": "grid.code,grid.name", "format": "csv", "encoding": "gb18030"},
        json={"points": points},
    )
    assert csv_answer.headers["content-type"] == "text/csv; charset=gb18030"
    table = pacsv.read_csv(
        io.BytesIO(csv_answer.content.decode("gb18030").encode()),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    )
    assert table.column_names == ["id", "lon", "lat", "grid.code", "grid.name", "version"]
    assert table["grid.name"].to_pylist() == [(a["grid"] or {}).get("name") for a in expected]

    bad = client.post(
        "/api/v1/lookup/batch", params={"fields": "grid.code,<script>"}, json={"points": points[:2]}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_field"


RENAMED = "130227001002001"


def test_a_commit_during_a_stream_does_not_mix_versions(
    fresh_db_url: str,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    with fresh_engine.connect() as conn:
        index = GridIndex.load(conn, 1)
    feature = next(f for f in demo_grids["features"] if f["properties"]["code"] == RENAMED)
    inside = shapely.geometry.shape(feature["geometry"]).representative_point()
    lon, lat = demo_points(index, 60_000, seed=11)
    lon[::3], lat[::3] = inside.x, inside.y  # a third of the rows in the grid renamed meanwhile
    body = bodies(lon, lat)["csv"]
    viewer, editor = make_key("viewer"), make_key("editor")
    committed = {}
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:

        def slow() -> Iterator[bytes]:
            half = len(body) // 2
            yield from chunks(body[:half])
            committed.update(upload_renamed_grid(base, demo_grids, feature, editor, tmp_path))
            yield from chunks(body[half:])

        response, data = stream(base, viewer, slow(), "text/csv", fields="grid.code,grid.name")
        after, later = stream(base, viewer, body[:2000], "text/csv", fields="grid.name")
        before, earlier = stream(base, viewer, body[:2000], "text/csv", as_of=1, fields="grid.name")
    assert committed["version"] == 2
    assert response.status_code == 200 and response.headers["x-gridmap-version"] == "1"
    out = read("csv", data)
    assert out.num_rows == len(lon)
    assert {str(v) for v in out["version"].to_pylist()} == {"1"}, "one version per answer"
    names = out["grid.name"].to_pylist()
    assert names == [(a["grid"] or {}).get("name") for a in index.answers(lon, lat)]
    assert not any("（已调整）" in (n or "") for n in names)
    assert after.headers["x-gridmap-version"] == "2"
    assert "（已调整）" in read("csv", later)["grid.name"].to_pylist()[0]
    assert before.headers["x-gridmap-version"] == "1", "as_of honoured"
    assert "（已调整）" not in read("csv", earlier)["grid.name"].to_pylist()[0]
