"""The fast path of single lookups (api.fast_lookup) answers exactly what the route answers."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from httpx2 import Response
from shapely.geometry import shape
from sqlalchemy import Engine, text

from api.fast_lookup import FastLookup
from gis.access import auth
from gis.query.lookup import GridIndex

from support import write_layer

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
        # as the numbers come: every digit, 10, 9 and 6 decimals (hotline systems), whole
        for query in (
            f"lon={x!r}&lat={y!r}",
            f"lat={y!r}&lon={x!r}&crs=wgs84",
            f"lon={x:.10f}&lat={y:.10f}",
            f"lon={x:.9f}&lat={y:.9f}",
            f"lon={x:.6f}&lat={y:.6f}",
            f"lon={x:.0f}&lat={y:.0f}",
        ):
            fast, route = _get(client, query), _get(client, query, ROUTE)
            assert fast.status_code == route.status_code == 200, route.json()
            assert fast.content == route.content
            assert fast.headers.raw == route.headers.raw
            covered += fast.json()["covered"] and query.endswith("crs=wgs84")
    assert 50 < covered < len(points) - 50, "both covered and outside points were asked"
    assert _fast_path(client).rendered, "the fast path answered"


def test_names_with_percent_signs_are_answered_as_the_route_answers(
    fresh_client: TestClient, make_key, demo_grids: dict, tmp_path: Path
) -> None:
    """The fast path writes the point and distance into a template of ``%`` formatting: a
    name with ``%s``, ``%r``, ``%%`` or a bare ``%`` (committed through the upload API) is
    answered byte for byte as the route answers it, covered and outside every grid."""
    siblings = [
        f for f in demo_grids["features"] if f["properties"]["parent_code"] == "130227001002"
    ]
    names = ["100%网格 %s", "%r%%格", "%(x)s 网格%", "%"]
    rows = [
        {
            "code": f["properties"]["code"],
            "name": names[i % len(names)],
            "parent_code": f["properties"]["parent_code"],
        }
        for i, f in enumerate(siblings)
    ]
    shapes = [shape(f["geometry"]) for f in siblings]
    path = write_layer(tmp_path / "grids.geojson", rows, shapes)
    with path.open("rb") as f:
        committed = fresh_client.post(
            "/api/v1/uploads",
            files={"file": (path.name, f)},
            data={"level": "grid", "dry_run": "false"},
            headers={"Authorization": f"Bearer {make_key('editor')}"},
        )
    assert committed.status_code == 201, committed.json()
    inside = [p.representative_point() for p in shapes]
    x0, y0, x1, y1 = shapely.total_bounds(shapes)
    rng = np.random.default_rng(3)
    around = rng.uniform([x0 - 0.02, y0 - 0.02], [x1 + 0.02, y1 + 0.02], size=(80, 2))
    seen, front = set(), _fast_path(fresh_client)
    for x, y in [(p.x, p.y) for p in inside] + around.tolist():
        query = f"lon={x!r}&lat={y!r}"
        fast, route = _get(fresh_client, query), _get(fresh_client, query, ROUTE)
        assert fast.status_code == route.status_code == 200, route.json()
        assert fast.content == route.content, query
        # answered by the fast path itself (a failure there would hand it to the route)
        written = (round(x, 9), round(y, 9))
        assert fresh_client.portal.call(front._answer, x, y, None, written) == route.content
        answer = fast.json()
        seen.add((answer["covered"], (answer["grid"] or answer["nearest"]["grid"])["name"]))
    assert {(True, name) for name in names} <= seen
    assert any(not covered for covered, _ in seen), "outside points were asked too"


def _fast_path(client: TestClient) -> FastLookup:
    front = client.app.front  # in front of FastAPI's own wrappers (api.app.Gridmap)
    assert isinstance(front, FastLookup)
    return front


def test_a_point_outside_every_grid_is_searched_once(
    fresh_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer of a point outside every grid is rendered from its search's answer: a
    second search would make its block's lists at its first point (``NearLists``: the
    second point's work, ~1 ms a far block beside a province) — and it equals the route's."""
    searched: list[tuple[float, float]] = []
    search = GridIndex.outside_point

    def counted(index: GridIndex, x: float, y: float) -> tuple[int, float, int]:
        searched.append((x, y))
        return search(index, x, y)

    monkeypatch.setattr(GridIndex, "outside_point", counted)
    query = "lon=126.2371&lat=45.5123"  # east of the demo's grids
    fast = _get(fresh_client, query)
    assert fast.json()["covered"] is False and fast.json()["nearest"]["distance_m"] > 1000
    assert searched == [(126.2371, 45.5123)]
    assert fast.content == _get(fresh_client, query, ROUTE).content


def test_keyed_answers_equal_the_route_s_by_role(
    fresh_client: TestClient, fresh_engine: Engine, make_key
) -> None:
    """With no key, a viewer's, an editor's or an admin's, the fast path answers what the
    route answers (personal fields by role), for covered points, shared edges and vertices,
    and points outside every grid."""
    points = _points(fresh_engine)[::3]
    callers = {"anonymous": {}} | {
        role: {"authorization": f"Bearer {make_key(role)}"}
        for role in ("viewer", "editor", "admin")
    }
    workers: dict[str, set] = {role: set() for role in callers}
    for x, y in points.tolist():
        for role, headers in callers.items():
            query = f"lon={x!r}&lat={y!r}"
            fast = _get(fresh_client, query, headers)
            route = _get(fresh_client, query, {**headers, **ROUTE})
            assert fast.status_code == route.status_code == 200, route.json()
            assert fast.content == route.content, (role, query)
            assert fast.headers.raw == route.headers.raw
            if (grid := fast.json()["grid"]) is not None:
                workers[role].add(grid["grid_worker"])
    assert workers["anonymous"] == {None}
    assert None not in workers["viewer"] and all("*" in name for name in workers["viewer"])
    assert workers["editor"] == workers["admin"] and not workers["editor"] & workers["viewer"]
    roles = {key[3] for key in _fast_path(fresh_client).rendered}
    assert roles == {None, "viewer", "editor", "admin"}, "the fast path answered every caller"


def test_revoked_rotated_expired_and_unknown_keys_get_the_route_s_401(
    fresh_client: TestClient, fresh_engine: Engine, make_key
) -> None:
    """A key held by the fast path is refused from the very next request after it is revoked,
    rotated (the new secret answers) or expired; bad keys never reach the fast path's cache."""
    query = "lon=118.3350&lat=40.1550"
    admin = {"authorization": f"Bearer {make_key('admin')}"}
    with fresh_engine.begin() as conn:
        revoked, gone = auth.issue_key(conn, role="viewer", name="revoked")
        rotated, old = auth.issue_key(conn, role="viewer", name="rotated")
        _, brief = auth.issue_key(
            conn, role="editor", name="brief", expires_in=timedelta(seconds=2)
        )
    keys = {"revoked": gone, "rotated": old, "brief": brief}
    for key in keys.values():
        assert _get(fresh_client, query, {"authorization": f"Bearer {key}"}).status_code == 200
    cache = _fast_path(fresh_client).keys
    assert cache is not None and all(cache.cached(auth.key_hash(k)) for k in keys.values())

    done = fresh_client.post(f"/api/v1/keys/{revoked.id}/revoke", headers=admin)
    assert done.status_code == 200, done.text
    refused = _get(fresh_client, query, {"authorization": f"Bearer {keys['revoked']}"})
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"

    new = fresh_client.post(f"/api/v1/keys/{rotated.id}/rotate", headers=admin).json()["key"]
    assert _get(fresh_client, query, {"authorization": f"Bearer {old}"}).status_code == 401
    assert _get(fresh_client, query, {"authorization": f"Bearer {new}"}).status_code == 200

    time.sleep(2.1)
    expired = _get(fresh_client, query, {"authorization": f"Bearer {brief}"})
    assert expired.status_code == 401 and expired.json()["code"] == "api_key_expired"

    for bad in ("Bearer gm_nothing", "Bearer ", "Bearer  " + old, "Basic eDp5"):
        answer = _get(fresh_client, query, {"authorization": bad})
        route = _get(fresh_client, query, {"authorization": bad, **ROUTE})
        assert (answer.status_code, answer.content) == (route.status_code, route.content), bad
    assert not any(cache.cached(auth.key_hash(k)) for k in (*keys.values(), "gm_nothing"))


def test_last_use_written_off_the_request_path(
    fresh_client: TestClient, fresh_engine: Engine, make_key, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request reads the key and writes its last use; once the interval has passed
    a request is answered from the cache while the key is read (and its use written) beside
    it — which also finds a revocation made where the key board is not seen (another
    machine)."""
    key = make_key("viewer")
    headers = {"authorization": f"Bearer {key}"}
    query = "lon=118.3350&lat=40.1550"
    assert _get(fresh_client, query, headers).status_code == 200
    with fresh_engine.begin() as conn:
        assert conn.scalar(text("SELECT last_used_at IS NOT NULL FROM api_keys")), "written"
        conn.execute(text("UPDATE api_keys SET last_used_at = now() - interval '1 hour'"))
    assert _get(fresh_client, query, headers).status_code == 200, "a minute not yet passed here"
    monkeypatch.setattr(auth, "LAST_USED_EVERY", timedelta(0))
    with fresh_engine.begin() as conn:  # revoked behind the key board's back
        conn.execute(text("UPDATE api_keys SET revoked_at = now()"))
    assert _get(fresh_client, query, headers).status_code == 200, "from the cache, read beside"
    for _ in range(100):
        if _get(fresh_client, query, headers).status_code == 401:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the background read never dropped the revoked key")


def test_sessions_and_other_parameters_go_to_the_route(fresh_client: TestClient, make_key) -> None:
    """A session cookie (and any cookie) goes to the route, as do other CRSs, as_of and
    unusual number text."""
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
