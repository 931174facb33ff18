"""Every request body bounded before it is read (api/limits.py), against a real uvicorn.

Bodies go over a raw socket so a test can declare a length it never sends, stream chunks,
stall, and read the answer the moment the server gives it. Each worker's memory is its
peak RSS (``VmHWM`` in /proc/<pid>/status); what it wrote is ``wchar`` in /proc/<pid>/io
(every byte passed to write(), files unlinked at once included).
"""

from __future__ import annotations

import json
import os
import select
import socket
import statistics
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from api.app import create_app
from api.limits import family
from gis.settings import Settings
from gis.store.tempfiles import LOOKUP_PREFIX

from support import serve_app

MB = 1_000_000
GROWTH_MB = 100
"""The most a worker's peak RSS may grow while refusing what these tests send."""
FAST_S = 1.0
"""A refusal that needs no body arrives within this."""
SLOW_ENV = {
    "GRIDMAP_BODY_IDLE_TIMEOUT_S": "2",
    "GRIDMAP_BODY_GRACE_S": "2",
    "GRIDMAP_BODY_MIN_RATE": "50000",
    "GRIDMAP_MAX_UPLOAD_BYTES": str(50 * MB),
}
"""Short bounds, so a slow body is refused within seconds."""


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    sent: int
    seconds: float


@dataclass
class Server:
    base: str
    pid: int
    tmp: Path
    keys: dict[str, str]

    def leftovers(self) -> list[Path]:
        """What the server left in its temp dir, but the lookup index (a cache it keeps)."""
        return [p for p in self.tmp.iterdir() if not p.name.startswith(LOOKUP_PREFIX)]

    def status(self) -> str:
        return Path(f"/proc/{self.pid}/status").read_text()

    def peak_mb(self) -> float:
        line = next(x for x in self.status().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def written(self) -> int:
        io_stats = Path(f"/proc/{self.pid}/io").read_text()
        return int(next(x for x in io_stats.splitlines() if x.startswith("wchar:")).split()[1])


def _pid_on(port: int) -> int:
    """The uvicorn process serving ``port`` (one worker: the process itself)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in argv and str(port).encode() in argv and proc.name.isdigit():
            return int(proc.name)
    raise LookupError(port)


@pytest.fixture
def serve(
    fresh_db_url: str, make_key: Callable[[str], str], tmp_path: Path
) -> Iterator[Callable[..., Server]]:
    """Start the app under uvicorn (one worker, TMPDIR of its own, short body bounds)."""
    started: list[Any] = []

    def start(**env: str) -> Server:
        tmp = tmp_path / "tmp"
        tmp.mkdir(exist_ok=True)
        keys = {role: make_key(role) for role in ("viewer", "editor")}
        server = serve_app(
            fresh_db_url, tmp_path / "uvicorn.log", TMPDIR=str(tmp), **{**SLOW_ENV, **env}
        )
        base = server.__enter__()
        started.append(server)
        return Server(base, _pid_on(int(base.rsplit(":", 1)[1])), tmp, keys)

    yield start
    for server in started:
        server.__exit__(None, None, None)


def send(
    server: Server,
    method: str,
    path: str,
    body: Iterable[bytes] = (),
    *,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    pause: float = 0.0,
    timeout: float = 30.0,
) -> Answer:
    """Send a request over a raw socket, stopping the body once the server answers."""
    host, port = server.base.removeprefix("http://").split(":")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    start = time.monotonic()
    sent = 0
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
                sent += len(chunk)
                time.sleep(pause)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw = b""
        while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < _length(raw):
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    head, _, content = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return Answer(status, json.loads(content or b"{}"), sent, time.monotonic() - start)


def _length(raw: bytes) -> int:
    for line in raw.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def repeat(piece: bytes, total: int) -> Iterator[bytes]:
    """``total`` bytes of ``piece`` again and again, 64 KB at a time."""
    block = piece * (65536 // len(piece))
    for start in range(0, total, len(block)):
        yield block[: total - start]


def kernel_buffering() -> int:
    """Most bytes loopback TCP can hold between our ``sendall`` and the server's reads: the
    largest receive buffer plus the largest send buffer. A chunked body has no declared length,
    so the server reads up to its limit and answers; what we count as sent beyond that sat in
    these buffers (autotuned: 10 MB on one CI machine, up to 32 MB where ``tcp_rmem`` allows)."""
    largest = [
        int(Path(f"/proc/sys/net/ipv4/tcp_{name}").read_text().split()[2])
        for name in ("rmem", "wmem")
    ]
    return sum(largest)


def multipart(size: int, filename: str = "grids.geojson") -> tuple[dict[str, str], Iterator[bytes]]:
    """Headers and body of an upload form whose file part is ``size`` bytes of junk."""
    boundary = "gridmapboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }

    def body() -> Iterator[bytes]:
        yield head
        yield from repeat(b"x", size)
        yield tail

    return headers, body()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_refused(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.body.get("code")) == (status, code), answer
    assert not answer.body["message"].isascii() and "(" in answer.body["message"]  # zh (en)


# ---- families, from the app's own routes -----------------------------------------------


def test_every_keyed_body_route_checks_its_key_before_the_body() -> None:
    """Each POST/PUT/PATCH that takes a key and a body is in a family with a role, so its
    key is checked before its body is read; those taking a body without a key are bounded."""
    settings = Settings(database_url="postgresql://unused/x")
    spec = create_app(settings).openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch") or "requestBody" not in operation:
                continue
            found = family(method.upper(), path.replace("{key}", "k1"), settings)
            assert found.name != "small", (method, path)
            assert (found.role is not None) == bool(operation.get("security")), (method, path)
    assert family("POST", "/api/v1/uploads", settings).role == "editor"
    assert family("GET", "/api/v1/uploads", settings).max_bytes == settings.max_small_body_bytes


# ---- size --------------------------------------------------------------------------------


def test_oversized_bodies_refused_before_they_are_read(serve: Callable[..., Server]) -> None:
    """100 MB declared to the batch lookup, 100 MB chunked, 300 MB of JSON to a layer write
    (anonymous: 401; editor: 413): each refused at once or at the limit, memory flat."""
    server = serve()
    httpx.get(f"{server.base}/api/v1/lookup?lon=118.45&lat=40.0")  # warm
    before = server.peak_mb()
    declared = {"Content-Type": "application/json", "Content-Length": str(100 * MB)}
    answer = send(server, "POST", "/api/v1/lookup/batch", repeat(b" ", 100 * MB), headers=declared)
    assert_refused(answer, 413, "body_too_large")
    assert answer.body["details"]["max_bytes"] == 5 * MB
    assert answer.seconds < FAST_S and answer.sent < 5 * MB

    chunked = send(
        server,
        "POST",
        "/api/v1/lookup/batch",
        repeat(b" ", 100 * MB),
        headers={"Content-Type": "application/json"},
        chunked=True,
    )
    assert_refused(chunked, 413, "body_too_large")
    assert chunked.sent < 5 * MB + kernel_buffering() < 100 * MB

    big_json = {"Content-Type": "application/json", "Content-Length": str(300 * MB)}
    anonymous = send(server, "POST", "/api/v1/centres", repeat(b" ", 300 * MB), headers=big_json)
    assert_refused(anonymous, 401, "auth_required")
    assert anonymous.seconds < FAST_S
    editor = {**big_json, **bearer(server.keys["editor"])}
    keyed = send(server, "POST", "/api/v1/centres", repeat(b" ", 300 * MB), headers=editor)
    assert_refused(keyed, 413, "body_too_large")
    assert keyed.body["details"]["max_bytes"] == 1 * MB
    del editor["Content-Length"]
    streamed = send(
        server, "PUT", "/api/v1/centres/1", repeat(b" ", 20 * MB), headers=editor, chunked=True
    )
    assert_refused(streamed, 413, "body_too_large")

    too_big_upload, body = multipart(60 * MB)
    upload = send(
        server,
        "POST",
        "/api/v1/uploads",
        body,
        headers={**too_big_upload, **bearer(server.keys["editor"])},
    )
    assert_refused(upload, 413, "body_too_large")
    assert upload.seconds < FAST_S and upload.sent < 5 * MB

    small = send(
        server, "GET", "/health", repeat(b" ", 2 * MB), headers={"Content-Length": "2000000"}
    )
    assert_refused(small, 413, "body_too_large")
    assert server.peak_mb() - before < GROWTH_MB


def test_batch_of_tiny_points_counted_before_they_are_built(serve: Callable[..., Server]) -> None:
    """Just under the body limit, ~300 000 tiny points as JSON, GeoJSON or CSV: 413
    ``batch_too_large`` before a point object is made, memory flat."""
    server = serve()
    httpx.get(f"{server.base}/api/v1/lookup?lon=118.45&lat=40.0")
    before = server.peak_mb()
    size = 5 * MB - 100
    json_body = b'{"points":[' + b",".join([b'{"lon":1,"lat":2}'] * (size // 18)) + b"]}"
    geo_body = (
        b'{"type":"FeatureCollection","features":['
        + b",".join([b'{"geometry":{"type":"Point","coordinates":[1,2]}}'] * (size // 50))
        + b"]}"
    )
    csv_body = b"lon,lat\n" + b"1,2\n" * (size // 4 - 4)
    for media, body in [
        ("application/json", json_body),
        ("application/geo+json", geo_body),
        ("text/csv", csv_body),
    ]:
        assert len(body) < 5 * MB
        answer = httpx.post(
            f"{server.base}/api/v1/lookup/batch",
            content=body,
            headers={"Content-Type": media},
            timeout=60,
        )
        assert (answer.status_code, answer.json()["code"]) == (413, "batch_too_large"), media
        assert answer.json()["details"]["points"] > 90_000
    assert server.peak_mb() - before < GROWTH_MB


# ---- the key before the body ---------------------------------------------------------------


def test_upload_without_a_good_key_writes_nothing(serve: Callable[..., Server]) -> None:
    """300 MB uploads with no key, a bad key, a viewer key: 401/403 at once, not a byte
    parsed or written (the temp dir stays empty); an editor's upload is written (the
    measure sees it)."""
    server = serve()
    before_written, before_peak = server.written(), server.peak_mb()
    for key, status, code in [
        (None, 401, "auth_required"),
        ("gm_not-a-key", 401, "invalid_api_key"),
        (server.keys["viewer"], 403, "insufficient_role"),
    ]:
        headers, body = multipart(300 * MB)
        if key:
            headers.update(bearer(key))
        answer = send(server, "POST", "/api/v1/uploads", body, headers=headers)
        assert_refused(answer, status, code)
        assert answer.seconds < FAST_S and answer.sent < 5 * MB
    assert server.written() - before_written < MB
    assert server.leftovers() == []
    assert server.peak_mb() - before_peak < GROWTH_MB

    headers, body = multipart(3 * MB)
    keyed = send(
        server,
        "POST",
        "/api/v1/uploads",
        body,
        headers={**headers, **bearer(server.keys["editor"])},
    )
    assert keyed.status in (415, 422), keyed
    assert server.written() - before_written > 3 * MB  # spooled to disk, as an editor's may
    assert server.leftovers() == []  # and removed


# ---- time ------------------------------------------------------------------------------------


def test_slow_bodies_time_out_while_others_are_served(serve: Callable[..., Server]) -> None:
    """A body that stalls and one that trickles are refused 408 ``body_timeout`` within the
    bounds; meanwhile (a slow editor upload in flight) lookups answer at their usual speed."""
    server = serve()
    lookup = f"{server.base}/api/v1/lookup?lon=118.45&lat=40.0"
    httpx.get(lookup)

    def stall() -> Iterator[bytes]:
        yield b'{"points": ['
        for _ in range(50):  # nothing for 5 s (empty sends: the answer is looked for)
            time.sleep(0.1)
            yield b""
        yield b"]}"

    stalled = send(
        server,
        "POST",
        "/api/v1/lookup/batch",
        stall(),
        headers={"Content-Type": "application/json", "Content-Length": "1000"},
    )
    assert_refused(stalled, 408, "body_timeout")
    assert 1.5 < stalled.seconds < 4

    trickled: list[Answer] = []
    headers, body = multipart(10 * MB)
    slow_upload = threading.Thread(
        target=lambda: trickled.append(
            send(
                server,
                "POST",
                "/api/v1/uploads",
                (piece[:1000] for piece in body),
                headers={**headers, **bearer(server.keys["editor"])},
                pause=0.05,
            )
        )
    )
    quiet = []
    for _ in range(20):
        t = time.monotonic()
        assert httpx.get(lookup).status_code == 200
        quiet.append(time.monotonic() - t)
    slow_upload.start()
    busy = []
    while slow_upload.is_alive() and len(busy) < 200:
        t = time.monotonic()
        assert httpx.get(lookup).status_code == 200
        busy.append(time.monotonic() - t)
        time.sleep(0.02)
    slow_upload.join(timeout=30)
    (answer,) = trickled
    assert_refused(answer, 408, "body_timeout")
    assert answer.seconds < 6
    assert len(busy) > 10
    assert statistics.median(busy) < max(0.05, 3 * statistics.median(quiet)), (quiet, busy)
    assert server.leftovers() == []


# ---- archives and temp folders -------------------------------------------------------------


def zip_bomb(path: Path, unpacked_mb: int) -> Path:
    """A GeoJSON of one polygon padded with ``unpacked_mb`` MB of spaces, deflated ~1 000×."""
    feature = (
        b'{"type":"Feature","properties":{"code":"130227001001001","name":"x"},'
        b'"geometry":{"type":"Polygon","coordinates":[[[118,40],[118.1,40],[118.1,40.1],'
        b"[118,40]]]}}"
    )
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("grids.geojson", "w", force_zip64=True) as out,
    ):
        out.write(b'{"type":"FeatureCollection","features":[' + feature)
        for _ in range(unpacked_mb):
            out.write(b" " * MB)
        out.write(b"]}")
    return path


def test_zip_bomb_refused_with_memory_flat(serve: Callable[..., Server], tmp_path: Path) -> None:
    """A 0.6 MB zip that unpacks to 605 MB: 413 ``archive_too_large`` (it may unpack to
    100× its size), peak memory flat, no temp folder left."""
    bomb = zip_bomb(tmp_path / "bomb.zip", 605)
    assert bomb.stat().st_size < MB
    server = serve()
    before = server.peak_mb()
    with bomb.open("rb") as f:
        answer = httpx.post(
            f"{server.base}/api/v1/uploads",
            files={"file": ("grids.zip", f)},
            data={"level": "grid", "parent": "130227001001"},
            headers=bearer(server.keys["editor"]),
            timeout=120,
        )
    assert (answer.status_code, answer.json()["code"]) == (413, "archive_too_large"), answer.text
    assert answer.json()["details"]["max_ratio"] == 100
    assert server.peak_mb() - before < GROWTH_MB
    assert server.leftovers() == []


def test_stale_temp_folders_removed_at_start_up(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """gridmap-* folders older than a day go at start-up; younger ones, files and other
    names stay."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    old = time.time() - 2 * 86_400
    lookup = LOOKUP_PREFIX + "0123456789abcdef01234567"  # another database's shared index
    names = ("gridmap-upload-dead", "gridmap-recv-dead", "gridmap-young", "other-old", lookup)
    for name in names:
        (tmp / name).mkdir()
        (tmp / name / "upload.bin").write_bytes(b"x" * 1000)
    (tmp / "gridmap-versions-board").write_bytes(b"\0" * 8)
    for name in (*names[:2], "other-old", "gridmap-versions-board", lookup):
        os.utime(tmp / name, (old, old))
    serve()
    assert (tmp / lookup / "upload.bin").exists()
    assert sorted(p.name for p in tmp.iterdir() if not p.name.startswith(LOOKUP_PREFIX)) == [
        "gridmap-versions-board",
        "gridmap-young",
        "other-old",
    ]
