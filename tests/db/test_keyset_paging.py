"""Lists page by keyset cursors (OGC API Features items, /api/v1/regions, the point layers):
walking the ``next`` links of 12 000+ grids gives each exactly once, in the order PostGIS
sorts them; a commit between two pages mixes no versions into the walk; above 10 000
features ``numberMatched`` is an estimate and says so; cursors this service did not write
are refused; lists by distance keep offsets."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.query import cursor
from gis.query.cursor import EXACT_COUNT_UP_TO

from large_city import add_county
from support import GRIDMAP

pytestmark = pytest.mark.db

GRIDS = 12_000
URL = "/ogc/collections/grids/items"


def _current_grids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT code FROM regions WHERE level = 'grid' AND valid_to IS NULL "
                    "ORDER BY code"
                )
            )
        )


def _page(client: TestClient, href: str, **params: Any) -> dict[str, Any]:
    answer = client.get(href, params=params) if params else client.get(href)  # keep href's query
    assert answer.status_code == 200, answer.text
    return answer.json()


def _next(body: dict[str, Any]) -> str | None:
    return next((link["href"] for link in body["links"] if link["rel"] == "next"), None)


def test_cursor_walk_is_postgis_order_and_pinned_to_its_version(
    fresh_engine: Engine, fresh_client: TestClient, fresh_db_url: str
) -> None:
    add_county(fresh_engine, GRIDS)
    expected = _current_grids(fresh_engine)
    assert len(expected) > EXACT_COUNT_UP_TO
    first = _page(fresh_client, URL, limit=1000)
    assert first["numberMatchedExact"] is False
    # the planner's estimate, within reason of the truth (statistics are fresh: ANALYZEd)
    assert 0.5 * len(expected) < first["numberMatched"] < 2 * len(expected)
    seen = [f["id"] for f in first["features"]]
    href = _next(first)
    assert href is not None and "cursor=" in href and "offset" not in href
    api_first = _page(fresh_client, "/api/v1/regions", level="grid", limit=1000)
    assert api_first["numberMatchedExact"] is False
    api_seen = [f["id"] for f in api_first["features"]]
    api_href = _next(api_first)
    assert api_href is not None and f"as_of={api_first['version']}" in api_href

    # a commit between two pages: the county's version is replaced by the demo's alone
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    subprocess.run([GRIDMAP, "versions", "restore", "1"], env=env, check=True, timeout=120)
    assert len(_current_grids(fresh_engine)) == 66

    while href is not None:
        body = _page(fresh_client, href)
        seen += [f["id"] for f in body["features"]]
        href = _next(body)
    assert seen == expected, "every grid of the walk's version once, in PostGIS's order"
    while api_href is not None:  # the regions API: pinned by as_of
        body = _page(fresh_client, api_href)
        api_seen += [f["id"] for f in body["features"]]
        api_href = _next(body)
    assert api_seen == expected

    fresh = _page(fresh_client, URL, limit=1000)  # a new walk reads the new version
    assert (fresh["numberMatched"], fresh["numberMatchedExact"], _next(fresh)) == (66, True, None)


@pytest.mark.parametrize(
    "bad",
    [
        "!!",
        "x" * 2000,
        cursor.encode(["130227001001001", 1]),
        cursor.encode({"after": 5, "version": 1}),
        cursor.encode({"after": "130227001001001", "version": "1"}),
        cursor.encode({"after": "130227001001001"}),
    ],
)
def test_cursors_not_written_here_are_400(client: TestClient, bad: str) -> None:
    answer = client.get(URL, params={"cursor": bad})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_parameter"
    assert "cursor" in answer.json()["message"]


def test_cursor_and_offset_exclude_each_other(client: TestClient) -> None:
    first = _page(client, URL, limit=10)
    href = _next(first)
    assert href is not None
    answer = client.get(f"{href}&offset=10")
    assert answer.status_code == 400 and "offset" in answer.json()["message"]


def test_offset_still_pages_for_clients_that_count(client: TestClient) -> None:
    by_offset = _page(client, URL, limit=10, offset=20)
    walked = _page(client, URL, limit=10)
    walked = _page(client, _next(walked))
    walked = _page(client, _next(walked))
    assert [f["id"] for f in by_offset["features"]] == [f["id"] for f in walked["features"]]


def test_layer_lists_walk_by_key_and_distance_lists_by_offset(
    client: TestClient, engine: Engine
) -> None:
    with engine.connect() as conn:
        keys = list(conn.scalars(text("SELECT id FROM cameras ORDER BY id")))
    body = _page(client, "/api/v1/cameras", limit=45)
    seen = [f["id"] for f in body["features"]]
    while (href := _next(body)) is not None:
        assert "cursor=" in href
        body = _page(client, href)
        seen += [f["id"] for f in body["features"]]
    assert seen == keys and body["numberMatchedExact"] is True
    near = _page(client, "/api/v1/cameras", lon=118.33, lat=40.15, limit=10)
    assert "offset=10" in _next(near)
    refused = client.get(
        f"{_next(body := _page(client, '/api/v1/cameras', limit=5))}&lon=118.3&lat=40.1"
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_parameter"
