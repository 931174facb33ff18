"""Streamed lookups under bad input and load (issue 19): broken rows named by their line in
their places, starts refused before any answer, a client that reads only after sending, the
CLI against a remote server, a failure after the answer began, and streams per key bounded."""

from __future__ import annotations

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
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis.access.auth import create_key
from gis.query.lookup_index import GridIndex
from gis.query.lookup_writers import MEDIA_TYPES

from lookup_streams import bodies, chunks, demo_points, read, stream
from support import GRIDMAP, serve_app


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
        response, data = stream(base, key, chunks(broken.encode(), 7000), "text/csv")
        assert response.status_code == 200
        out = read("csv", data)
        errors = out["error"].to_pylist()
        assert out.num_rows == 20_001, "every row answered, the broken one in its place"
        assert errors[12_345].startswith("invalid_row") and "第 12347 行" in errors[12_345]
        assert errors.count(None) == 20_000
        assert out["id"].to_pylist()[12_346] == "12345", "the rows after it answered"

        broken_gb = ("id,lon,lat\n1,118.3,40.15\n").encode("gb18030") + b"2,\xff\xfe,40.1\n"
        response, data = stream(base, key, broken_gb, "text/csv", input_encoding="gb18030")
        assert response.status_code == 422, "bytes that are no GB18030, refused at the start"
        assert "第 3 行" in json.loads(data)["message"]

        response, data = stream(base, key, values.encode(), "text/csv")
        out = read("csv", data)
        errors = out["error"].to_pylist()
        assert [e is None for e in errors] == [True, *[False] * 6, True, True]
        assert all(f"第 {i + 2} 行" in errors[i] for i in range(1, 7))
        assert out["grid.code"].to_pylist()[0] is not None
        assert out["id"].to_pylist()[8] == "9\x00<script>", "the row's own text comes back as is"

        lines = b'{"id": 1, "lon": 118.3, "lat": 40.15}\n[1, 2]\n' + b"[" * 100_000 + b"\n"
        lines += b'{"id": 4, "lon": 118.3, "lat": 40.15}\n'
        response, data = stream(base, key, lines, MEDIA_TYPES["ndjson"])
        out = read("ndjson", data)
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
            response, data = stream(base, key, body, media, **params)
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
    body = bodies(lon, lat)["csv"]
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
    out = read("csv", answer.content)
    assert out.num_rows == n and out["id"].to_pylist()[-1] == f"事件{n - 1}"


def test_the_cli_asks_a_remote_server(
    fresh_db_url: str, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    with fresh_engine.connect() as conn:
        index = GridIndex.load(conn, 1)
    lon, lat = demo_points(index, 5000, seed=2)
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
    out = read("csv", target.read_bytes())
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
            answers.append(stream(base, key, held(), "text/csv")[0].status_code)

        holders = [threading.Thread(target=hold) for _ in range(2)]
        for holder in holders:
            holder.start()
        time.sleep(1.5)  # both streams have begun and wait for their bodies
        refused, data = stream(base, key, b"id,lon,lat\n1,118.3,40.15\n", "text/csv")
        release.set()
        for holder in holders:
            holder.join(30)
        after, _ = stream(base, key, b"id,lon,lat\n1,118.3,40.15\n", "text/csv")
    assert refused.status_code == 429 and json.loads(data)["code"] == "too_many_concurrent"
    assert "批量查询流" in json.loads(data)["message"]
    assert answers == [200, 200] and after.status_code == 200


def test_a_client_that_goes_away_frees_its_stream(
    fresh_db_url: str, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """Clients that hang up mid-body leave no stream held: the key streams again at once."""
    key = make_key("viewer")

    def gone() -> Iterator[bytes]:
        yield b"id,lon,lat\n" + b"1,118.3,40.15\n" * 20_000
        raise ConnectionAbortedError("the client hangs up")

    env = {"GRIDMAP_ANALYSIS_CONCURRENCY": "2"}
    with serve_app(fresh_db_url, tmp_path / "app.log", **env) as base:
        for _ in range(3):
            with pytest.raises(ConnectionAbortedError):
                stream(base, key, gone(), "text/csv")
        time.sleep(1.0)
        answers = []
        threads = [
            threading.Thread(
                target=lambda: answers.append(
                    stream(base, key, b"id,lon,lat\n1,118.3,40.15\n", "text/csv")[0].status_code
                )
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert answers == [200, 200], "the slots of the streams whose clients went away are free"
