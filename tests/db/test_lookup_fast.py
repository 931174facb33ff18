"""The fast path of single lookups (api.fast_lookup) answers exactly what the route answers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, text

from api.fast_lookup import FastLookup

pytestmark = pytest.mark.db

ROUTE = {"cookie": "unrelated=1"}  # any cookie sends the request on to the route


def _points(engine: Engine) -> np.ndarray:
    """Vertices and edge midpoints of the demo's grids, random points around them (covered,
    in a town without grids, outside everything) and a few far away."""
    with engine.connect() as conn:
        wkb = conn.scalars(text("SELECT ST_AsBinary(geom) FROM regions WHERE level = 'grid'"))
        grids = shapely.from_wkb([bytes(g) for g in wkb])
    rings = [shapely.get_coordinates(g.geoms[0].exterior) for g in grids]
    vertices = np.unique(np.vstack(rings), axis=0)[::7]
    midpoints = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])[::11]
    rng = np.random.default_rng(16)
    x0, y0, x1, y1 = shapely.total_bounds(grids)
    around = rng.uniform([x0 - 0.05, y0 - 0.05], [x1 + 0.05, y1 + 0.05], size=(150, 2))
    far = np.array([[0.0, 0.0], [-179.5, -89.5], [180.0, 90.0], [121.47, 31.23]])
    return np.vstack([vertices, midpoints, around, far])


def _get(client: TestClient, query: str, headers: dict[str, str] | None = None) -> Response:
    return client.get(f"/api/v1/lookup?{query}", headers=headers or {})


def test_fast_answers_equal_the_route_byte_for_byte(client: TestClient, engine: Engine) -> None:
    points = _points(engine)
    covered = 0
    for x, y in points.tolist():
        for query in (f"lon={x!r}&lat={y!r}", f"lat={y!r}&lon={x!r}&crs=wgs84"):
            fast, route = _get(client, query), _get(client, query, ROUTE)
            assert fast.status_code == route.status_code == 200, route.json()
            assert fast.content == route.content
            assert fast.headers.raw == route.headers.raw
        covered += fast.json()["covered"]
    assert 50 < covered < len(points) - 50, "both covered and outside points were asked"
    layer = client.app.middleware_stack  # Starlette's and FastAPI's own wrappers come first
    while not isinstance(layer, FastLookup):
        layer = layer.app
    assert layer.rendered, "the fast path answered"


def test_keys_sessions_and_other_parameters_go_to_the_route(
    fresh_client: TestClient, make_key
) -> None:
    """A caller with a key sees what its role may (the grid worker for an editor); the fast
    path never answers for it.  Other CRSs, as_of and unusual number text reach the route."""
    query = "lon=118.3350&lat=40.1550"
    anonymous = _get(fresh_client, query).json()
    assert anonymous["grid"]["grid_worker"] is None
    editor = _get(fresh_client, query, {"authorization": f"Bearer {make_key('editor')}"}).json()
    assert editor["grid"]["code"] == anonymous["grid"]["code"]
    assert editor["grid"]["grid_worker"], "an editor sees the grid worker"
    for other in (
        "lon=118.3350&lat=40.1550&as_of=1",
        "lon=1.18335e2&lat=40.1550",
        "lon=118.3350&lat=40.1550&crs=EPSG:4326",
        "lon=118.3350&lat=40.1550&lon=118.3350",
        "lon=+118.3350&lat=40.1550",
    ):
        answer = _get(fresh_client, other)
        assert answer.status_code in (200, 422), answer.text
        if answer.status_code == 200:
            assert answer.json()["grid"] == anonymous["grid"], other


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("lon=40.1&lat=118.3", "coordinates_out_of_range"),
        ("lon=181&lat=40.1", "coordinates_out_of_range"),
        ("lon=nan&lat=40.1", "invalid_coordinates"),
        ("lon=118.3&lat=40.1%00", "invalid_text"),
        ("lon=118.3&lat=" + "1" * 400, "invalid_coordinates"),
    ],
)
def test_bad_points_get_the_route_s_errors(client: TestClient, query: str, code: str) -> None:
    answer = _get(client, query)
    assert answer.status_code in (400, 422) and answer.json()["code"] == code, answer.text
