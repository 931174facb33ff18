"""Expensive endpoints are bounded per caller (issue 13): analyses need a viewer key, run at
most ``analysis_concurrency`` at once per key and ``rate_limits`` a minute; the open
families (batch lookups, exports, map pages) are rated per client address; analyses refuse
regions too large, saying the limit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.throttle import Bucket, Slots
from gis.access.auth import create_key
from gis.errors import RateLimited
from gis.settings import Settings

STREET = "130227001"
ANALYSES = [
    ("get", "/api/v1/analysis/coverage", {"params": {"region": STREET}}),
    ("get", "/api/v1/analysis/grid-standards", {"params": {"region": STREET}}),
    ("post", "/api/v1/analysis/siting", {"json": {"region": STREET, "k": 1}}),
]


@contextmanager
def _client(db_url: str, **settings: object) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db_url, **settings))) as client:
        yield client


@pytest.fixture
def keys(engine: Engine) -> dict[str, dict[str, str]]:
    with engine.begin() as conn:
        return {
            name: {"Authorization": f"Bearer {create_key(conn, role='viewer', name=name)}"}
            for name in ("甲", "乙")
        }


@pytest.mark.parametrize(("method", "path", "kw"), ANALYSES)
def test_analyses_need_a_viewer_key(client: TestClient, method: str, path: str, kw: dict) -> None:
    response = getattr(client, method)(path, **kw)
    assert (response.status_code, response.json()["code"]) == (401, "auth_required")


def test_a_key_beyond_its_rate_gets_429_with_retry_after(
    db_url: str, keys: dict[str, dict[str, str]]
) -> None:
    with _client(db_url, rate_limits={"analysis": 3}) as client:
        params = {"region": STREET}
        for _ in range(3):
            ok = client.get("/api/v1/analysis/grid-standards", params=params, headers=keys["甲"])
            assert ok.status_code == 200
        refused = client.get("/api/v1/analysis/grid-standards", params=params, headers=keys["甲"])
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert "请求过于频繁" in refused.json()["message"] and "retry" in refused.json()["message"]
        other = client.get("/api/v1/analysis/grid-standards", params=params, headers=keys["乙"])
        assert other.status_code == 200, "another key has its own bucket"


def test_batch_lookups_are_rated_per_client_address(db_url: str) -> None:
    with _client(db_url, rate_limits={"batch": 2}) as client:
        body = {"points": [{"lon": 118.3, "lat": 40.17}]}
        assert [client.post("/api/v1/lookup/batch", json=body).status_code for _ in range(2)] == [
            200,
            200,
        ]
        refused = client.post(
            "/api/v1/lookup/batch", json=body, headers={"Authorization": "Bearer made-up"}
        )
        assert refused.status_code == 429, "a made-up key buys no fresh bucket"
        assert client.get("/api/v1/lookup", params={"lon": 118.3, "lat": 40.17}).status_code == 200


def test_an_analysis_of_too_large_a_region_says_the_limit(
    db_url: str, keys: dict[str, dict[str, str]]
) -> None:
    with _client(db_url, analysis_max_grids=10) as client:
        response = client.get(
            "/api/v1/analysis/coverage", params={"region": STREET}, headers=keys["甲"]
        )
    assert (response.status_code, response.json()["code"]) == (413, "analysis_too_large")
    details = response.json()["details"]
    assert details["limit"] == 10 and details["grids"] > 10
    assert "上限 10" in response.json()["message"]


def test_buckets_refill_with_time() -> None:
    now = [0.0]
    bucket = Bucket(60, clock=lambda: now[0])  # one a second, bursts of 60
    for _ in range(60):
        bucket.take("a")
    with pytest.raises(RateLimited) as refused:
        bucket.take("a")
    assert refused.value.retry_after == 1
    bucket.take("b")
    now[0] = 1.0
    bucket.take("a")


def test_slots_hold_while_the_request_runs() -> None:
    slots = Slots(2)
    first, second = slots.hold("k"), slots.hold("k")
    next(first), next(second)
    with pytest.raises(RateLimited) as busy:
        next(slots.hold("k"))
    assert busy.value.code == "too_many_concurrent"
    next(slots.hold("other"), None)
    first.close()  # the request ends: its slot is free again
    third = slots.hold("k")
    next(third)
