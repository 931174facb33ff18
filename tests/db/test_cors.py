"""CORS on the public read-only services (tiles, OGC API Features), errors included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.cors import PREFLIGHT_MAX_AGE

ORIGIN = {"Origin": "http://maps.example.org"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/grids/12/3394/1548.mvt", 200),
        ("/tiles/grids/10/0/0.mvt", 204),
        ("/tiles/grids/3/0/8.mvt", 400),
        ("/tiles/roads/1/0/0.mvt", 404),
        ("/tiles/grids/1/0/0.mvt?as_of=0", 422),
        ("/tiles/grids/1/0/0.mvt?as_of=99", 404),
        ("/tiles/grids.json", 200),
        ("/tiles", 200),
        ("/ogc", 200),
        ("/ogc/collections/grids/items?limit=1", 200),
        ("/ogc/collections/nowhere", 404),
        ("/ogc/collections/grids/items?limit=x", 400),
    ],
)
def test_every_answer_of_tiles_and_ogc_may_be_read_by_other_origins(
    client: TestClient, path: str, status: int
) -> None:
    response = client.get(path, headers=ORIGIN)
    assert response.status_code == status, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "x-boundary-version"} <= exposed


def test_a_revalidated_tile_too(client: TestClient) -> None:
    url = "/tiles/grids/12/3394/1548.mvt"
    etag = client.get(url).headers["etag"]
    again = client.get(url, headers={**ORIGIN, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == "*"


def test_preflight(client: TestClient) -> None:
    response = client.options(
        "/tiles/grids/12/3394/1548.mvt",
        headers={
            **ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "if-none-match"
    assert response.headers["access-control-max-age"] == str(PREFLIGHT_MAX_AGE)


def test_the_rest_of_the_api_stays_same_origin(client: TestClient) -> None:
    response = client.get("/api/v1/regions?level=county", headers=ORIGIN)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/v1/uploads", headers={**ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    # a path that merely starts with the same letters is not public either
    assert "access-control-allow-origin" not in client.get("/tilesx", headers=ORIGIN).headers
