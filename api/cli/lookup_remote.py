"""``gridmap lookup --server URL``: a CSV of points placed by a gridmap server's streamed
lookup (POST /api/v1/lookup/stream) — the file sent and the answer written a block at a time,
with the bytes of each for a progress bar; the output appears only when the answer is whole."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

BLOCK = 1 << 20
TIMEOUT_S = 600.0


class RemoteError(Exception):
    """The server refused the file (its message and code) or could not be reached."""


class _Counted:
    """A file whose reads report how many bytes have been read."""

    def __init__(self, file: BinaryIO, seen: Callable[[int], None]) -> None:
        self.file, self.seen, self.done = file, seen, 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.done += len(data)
        self.seen(self.done)
        return data


def remote_lookup(
    server: str,
    key: str,
    source: Path,
    target: Path,
    params: dict[str, Any],
    *,
    sent: Callable[[int], None] = lambda n: None,
    received: Callable[[int], None] = lambda n: None,
) -> tuple[int, str]:
    """Send ``source`` (a CSV) to ``server``'s stream with ``params``; write the answer to
    ``target``.  Returns the rows answered and the boundary version that answered them."""
    url = urlsplit(server.rstrip("/"))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise RemoteError(f"服务器地址应为 http(s)://主机[:端口] (not a server URL: {server})")
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = kind(url.hostname, url.port, timeout=TIMEOUT_S, blocksize=BLOCK)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    partial = target.with_name(target.name + ".partial")
    try:
        with source.open("rb") as body:
            connection.request(
                "POST",
                f"{url.path}/api/v1/lookup/stream?{query}",
                body=_Counted(body, sent),  # type: ignore[arg-type]
                headers={
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "text/csv",
                    "Content-Length": str(source.stat().st_size),
                },
            )
        response = connection.getresponse()
        if response.status != 200:
            raise RemoteError(_refusal(response.status, response.read(100_000)))
        lines, done = 0, 0
        with partial.open("wb") as out:
            while chunk := response.read(BLOCK):
                out.write(chunk)
                lines += chunk.count(b"\n")
                done += len(chunk)
                received(done)
        os.replace(partial, target)
        return max(lines - 1, 0), response.getheader("X-Gridmap-Version") or ""
    except OSError as error:
        raise RemoteError(
            f"无法连接 {server} (the server could not be reached: {error})"
        ) from error
    finally:
        connection.close()
        partial.unlink(missing_ok=True)


def _refusal(status: int, body: bytes) -> str:
    try:
        error = json.loads(body)
        return f"{error['message']} ({error['code']}, HTTP {status})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}: {body[:300].decode(errors='replace')}"
