"""Streamed batch lookups (issue 19): every format and the stream answer what single lookups
answer, at one version, with bad rows named by their row number."""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import time
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
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis.access.auth import create_key
from gis.ingest.csvfiles import csv_encoding
from gis.query.lookup_columns import CODES, FIELDS, place
from gis.query.lookup_index import GridIndex
from gis.query.lookup_stream import answer_stream, read_points
from gis.query.lookup_writers import MEDIA_TYPES, writer_for

from support import GRIDMAP, serve_app, upload_renamed_grid

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


def test_a_batch_answers_chosen_fields_compactly(client: TestClient, index: GridIndex) -> None:
    lon, lat = _points(index, 3000, seed=3)
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
    lon, lat = _points(index, 60_000, seed=11)
    lon[::3], lat[::3] = inside.x, inside.y  # a third of the rows in the grid renamed meanwhile
    body = _bodies(lon, lat)["csv"]
    viewer, editor = make_key("viewer"), make_key("editor")
    committed = {}
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:

        def slow() -> Iterator[bytes]:
            half = len(body) // 2
            yield from _chunks(body[:half])
            committed.update(upload_renamed_grid(base, demo_grids, feature, editor, tmp_path))
            yield from _chunks(body[half:])

        response, data = _stream(base, viewer, slow(), "text/csv", fields="grid.code,grid.name")
        after, later = _stream(base, viewer, body[:2000], "text/csv", fields="grid.name")
        before, earlier = _stream(
            base, viewer, body[:2000], "text/csv", as_of=1, fields="grid.name"
        )
    assert committed["version"] == 2
    assert response.status_code == 200 and response.headers["x-gridmap-version"] == "1"
    out = _read("csv", data)
    assert out.num_rows == len(lon)
    assert {str(v) for v in out["version"].to_pylist()} == {"1"}, "one version per answer"
    names = out["grid.name"].to_pylist()
    assert names == [(a["grid"] or {}).get("name") for a in index.answers(lon, lat)]
    assert not any("（已调整）" in (n or "") for n in names)
    assert after.headers["x-gridmap-version"] == "2"
    assert "（已调整）" in _read("csv", later)["grid.name"].to_pylist()[0]
    assert before.headers["x-gridmap-version"] == "1", "as_of honoured"
    assert "（已调整）" not in _read("csv", earlier)["grid.name"].to_pylist()[0]


def test_bad_input_in_a_stream(
    fresh_db_url: str, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    key = make_key("viewer")
    rows = [f"{i},118.3{i % 10},40.15" for i in range(20_000)]
    broken = "id,lon,lat\n" + "\n".join([*rows[:12345], "12345,118.3,40.1,多出一列", *rows[12345:]])
    values = (
        "id,lon,lat\n1,118.3,40.15\n2,NaN,40.15\n3,inf,40.1\n4,1e999,40.1\n5,,40.1\n"
        "6,118.3\x00,40.1\n7,40.15,118.3\n8, 118.3 ,40.15\n9\x00<script>,118.3,40.15\n"
    )
    env = {"GRIDMAP_MAX_STREAM_BODY_BYTES": "3000000"}
    with serve_app(fresh_db_url, tmp_path / "app.log", **env) as base:
        response, data = _stream(base, key, _chunks(broken.encode(), 7000), "text/csv")
        assert response.status_code == 200
        out = _read("csv", data)
        errors = out["error"].to_pylist()
        assert out.num_rows == 20_001, "every row answered, the broken one in its place"
        assert errors[12_345].startswith("invalid_row") and "第 12347 行" in errors[12_345]
        assert errors.count(None) == 20_000
        assert out["id"].to_pylist()[12_346] == "12345", "the rows after it answered"

        broken_gb = ("id,lon,lat\n1,118.3,40.15\n").encode("gb18030") + b"2,\xff\xfe,40.1\n"
        response, data = _stream(base, key, broken_gb, "text/csv", input_encoding="gb18030")
        assert response.status_code == 422, "bytes that are no GB18030, refused at the start"
        assert "第 3 行" in json.loads(data)["message"]

        response, data = _stream(base, key, values.encode(), "text/csv")
        out = _read("csv", data)
        errors = out["error"].to_pylist()
        assert [e is None for e in errors] == [True, *[False] * 6, True, True]
        assert all(f"第 {i + 2} 行" in errors[i] for i in range(1, 7))
        assert out["grid.code"].to_pylist()[0] is not None
        assert out["id"].to_pylist()[8] == "9\x00<script>", "the row's own text comes back as is"

        lines = b'{"id": 1, "lon": 118.3, "lat": 40.15}\n[1, 2]\n' + b"[" * 100_000 + b"\n"
        lines += b'{"id": 4, "lon": 118.3, "lat": 40.15}\n'
        response, data = _stream(base, key, lines, MEDIA_TYPES["ndjson"])
        out = _read("ndjson", data)
        errors = out["error"].to_pylist()
        assert errors[0] is None and errors[3] is None
        assert "第 2 行" in errors[1] and "第 3 行" in errors[2], "bad lines in their places"

        refusals = [
            (b"id,x1,y1\n1,2,3\n", "text/csv", {}, 422, "invalid_csv"),
            (b"", "text/csv", {}, 422, "invalid_csv"),
            (b"id,lon,lat,grid.code\n1,118.3,40.1,x\n", "text/csv", {}, 422, "column_clash"),
            (b"id,lon,lat\n1,118.3,40.1\n", "application/pdf", {}, 415, "unsupported_media_type"),
            (b"id,lon,lat\n", "text/csv", {"fields": "grid.code,x"}, 422, "unknown_field"),
            (b"id,lon,lat\n", "text/csv", {"crs": "EPSG:99999"}, 422, None),
            (b"\x00\x01 not arrow", MEDIA_TYPES["arrow"], {}, 422, "invalid_arrow"),
            (b"PAR1 not parquet", MEDIA_TYPES["parquet"], {}, 422, "invalid_parquet"),
            (b"[1, 2]\n", MEDIA_TYPES["ndjson"], {}, 422, "invalid_ndjson"),
            (b"x" * 3_000_001, "text/csv", {}, 413, "body_too_large"),
        ]
        for body, media, params, status, code in refusals:
            response, data = _stream(base, key, body, media, **params)
            assert response.status_code == status, (body[:40], data[:300])
            if code:
                assert json.loads(data)["code"] == code, data[:300]
        anonymous = httpx.post(
            f"{base}/api/v1/lookup/stream",
            content=b"id,lon,lat\n",
            headers={"Content-Type": "text/csv"},
        )
        assert anonymous.status_code == 401


def test_a_client_that_sends_everything_before_it_reads(
    fresh_db_url: str, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """Most HTTP libraries send the whole body first: the answer waits on the server's disk
    (beyond 8 MiB in memory) instead of stalling the stream."""
    rng = np.random.default_rng(5)
    n = 400_000
    lon, lat = rng.uniform(118.27, 118.37, n), rng.uniform(40.125, 40.18, n)
    body = _bodies(lon, lat)["csv"]
    key = make_key("viewer")
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        answer = httpx.post(
            f"{base}/api/v1/lookup/stream",
            content=body,
            params={"fields": "grid.code,grid.name,community.name,street.name,county.name"},
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
            timeout=120,
        )
    assert answer.status_code == 200
    assert len(answer.content) > 3 * (1 << 23), "more than the server keeps in memory"
    out = _read("csv", answer.content)
    assert out.num_rows == n and out["id"].to_pylist()[-1] == f"事件{n - 1}"


def test_the_cli_asks_a_remote_server(
    fresh_db_url: str, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    with fresh_engine.connect() as conn:
        index = GridIndex.load(conn, 1)
    lon, lat = _points(index, 5000, seed=2)
    source = tmp_path / "工单.csv"
    lines = [
        "工单号,经度,纬度",
        *(
            f"A{i},{x!r},{y!r}"
            for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True))
        ),
    ]
    source.write_bytes("\n".join(lines).encode("gb18030"))
    target = tmp_path / "结果.csv"
    env = {k: v for k, v in os.environ.items() if k != "GRIDMAP_DATABASE_URL"}
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        args = [GRIDMAP, "lookup", str(source), "-o", str(target), "--server", base]
        done = subprocess.run(
            [*args, "--fields", "grid.code,grid.name"],
            env={**env, "GRIDMAP_KEY": make_key("viewer")}, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "5000 rows" in done.stdout and "version 1" in done.stdout
        refused = subprocess.run(
            [*args, "--key", "gm_wrong"], env=env, capture_output=True, text=True
        )
    assert refused.returncode == 1 and "401" in refused.stderr
    out = _read("csv", target.read_bytes())
    assert out["工单号"].to_pylist()[:2] == ["A0", "A1"], "the file's own columns, decoded"
    expected = index.answers(lon, lat)
    assert out["grid.name"].to_pylist() == [(a["grid"] or {}).get("name") for a in expected]


def test_a_failure_after_the_answer_began_ends_it(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unforeseen error in the stream's thread cuts the answer short (the client sees a
    broken transfer) instead of leaving the client waiting for the rest."""
    from api.routers import lookup_stream

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("broke after the answer began")

    monkeypatch.setattr(lookup_stream, "answer_stream", broken)
    with engine.begin() as conn:
        key = create_key(conn, role="viewer", name="test-broken-stream")
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.post(
                "/api/v1/lookup/stream",
                content=b"id,lon,lat\n1,118.3,40.15\n",
                headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
            )
        except BaseException as error:  # the server's error, raised in the test client
            outcome.append(error)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(20)
    assert not caller.is_alive(), "the client was left waiting"
    assert outcome and "broke after the answer began" in str(outcome[0])


def test_streams_at_once_per_key_are_bounded(
    fresh_db_url: str, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    key = make_key("viewer")
    release = threading.Event()

    def held() -> Iterator[bytes]:
        yield b"id,lon,lat\n1,118.3,40.15\n"
        release.wait(30)

    answers: list[int] = []
    env = {"GRIDMAP_ANALYSIS_CONCURRENCY": "2"}
    with serve_app(fresh_db_url, tmp_path / "app.log", **env) as base:

        def hold() -> None:
            answers.append(_stream(base, key, held(), "text/csv")[0].status_code)

        holders = [threading.Thread(target=hold) for _ in range(2)]
        for holder in holders:
            holder.start()
        time.sleep(1.5)  # both streams have begun and wait for their bodies
        refused, data = _stream(base, key, b"id,lon,lat\n1,118.3,40.15\n", "text/csv")
        release.set()
        for holder in holders:
            holder.join(30)
        after, _ = _stream(base, key, b"id,lon,lat\n1,118.3,40.15\n", "text/csv")
    assert refused.status_code == 429 and json.loads(data)["code"] == "too_many_concurrent"
    assert "批量查询流" in json.loads(data)["message"]
    assert answers == [200, 200] and after.status_code == 200
