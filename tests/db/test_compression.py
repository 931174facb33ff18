"""Large answers are gzipped when the client accepts it; tiles once, lookups never."""

from __future__ import annotations

import gzip

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

GZIP = {"Accept-Encoding": "gzip"}


def _raw(client: TestClient, path: str, headers: dict[str, str]) -> tuple[dict, bytes]:
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, path
        return dict(response.headers), b"".join(response.iter_raw())


@pytest.mark.parametrize(
    "path",
    [
        "/maps",
        "/ogc/collections/grids/items?limit=100",
        "/api/v1/regions?level=grid&limit=1000",
        "/openapi.json",
    ],
)
def test_large_answers_are_gzipped(client: TestClient, path: str) -> None:
    headers, raw = _raw(client, path, GZIP)
    assert headers["content-encoding"] == "gzip"
    assert "accept-encoding" in headers["vary"].lower()
    plain_headers, plain = _raw(client, path, {"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain_headers
    if path.startswith(("/ogc", "/maps")):  # a time stamp, element ids drawn per page
        assert len(gzip.decompress(raw)) == len(plain)
    else:
        assert gzip.decompress(raw) == plain
    assert len(raw) < len(plain) / 3


def test_tiles_are_gzipped_once_and_lookups_never(client: TestClient) -> None:
    headers, raw = _raw(client, "/tiles/grids/12/3394/1548.mvt", GZIP)
    assert headers["content-encoding"] == "gzip"
    assert mapbox_vector_tile.decode(gzip.decompress(raw))["grids"]["features"]
    headers, raw = _raw(client, "/api/v1/lookup?lon=118.318&lat=40.15", GZIP)
    assert "content-encoding" not in headers and raw.startswith(b"{")
