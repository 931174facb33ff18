"""Lists page by keyset cursors (OGC API Features items, /api/v1/regions, the point layers):
walking the ``next`` links of 12 000 grids gives each exactly once, in the order PostGIS
sorts them — by the app and by GDAL's ogr2ogr against a live server; a commit between two
pages mixes no versions into the walk; the pages' SQL starts in an index (no sort, no
sequential scan, no OFFSET) at every level; above 10 000 features ``numberMatched`` is an
estimate and says so; cursors this service did not write are refused (400 on /ogc, 422 on
/api/v1, code ``invalid_cursor``); lists by distance keep offsets."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gis.query import cursor, features, regions
from gis.query.cursor import EXACT_COUNT_UP_TO
from gis.settings import Settings
from gis.store.versions import current_version, valid_at

from large_city import COUNTY, add_county
from sql_plans import node_types, page_plans
from support import GRIDMAP, database_copy, next_href, serve_app

pytestmark = pytest.mark.db

GRIDS = 12_000
URL = "/ogc/collections/grids/items"


@pytest.fixture(scope="module")
def county(server_url: str, template_db: str) -> Iterator[tuple[str, Engine]]:
    """(URL, engine) of a database of the module's own: the demo city and a county of
    ``GRIDS`` grids with a camera and a building each (read only)."""
    with database_copy(server_url, template_db) as (url, engine):
        add_county(engine, GRIDS, camera_every=1, buildings=1)
        yield url, engine


@pytest.fixture(scope="module")
def county_client(county: tuple[str, Engine]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=county[0]))) as client:
        yield client


def _codes(engine: Engine, where: str = "level = 'grid'") -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text(f"SELECT code FROM regions WHERE {where} AND valid_to IS NULL ORDER BY code")
            )
        )


def _page(client: TestClient, href: str, **params: Any) -> dict[str, Any]:
    answer = client.get(href, params=params) if params else client.get(href)  # keep href's query
    assert answer.status_code == 200, answer.text
    return answer.json()


def _walk(client: TestClient, href: str, **params: Any) -> list[Any]:
    """The ids of every page from ``href`` on, following ``next`` links."""
    body = _page(client, href, **params)
    seen = [f["id"] for f in body["features"]]
    while (href := next_href(body)) is not None:
        assert "cursor=" in href and "offset" not in href
        body = _page(client, href)
        seen += [f["id"] for f in body["features"]]
    return seen


def test_cursor_walk_is_pinned_to_its_version(
    fresh_engine: Engine, fresh_client: TestClient, fresh_db_url: str
) -> None:
    add_county(fresh_engine, 2_000)
    expected = _codes(fresh_engine)
    first = _page(fresh_client, URL, limit=300)
    seen = [f["id"] for f in first["features"]]
    href = next_href(first)
    api_first = _page(fresh_client, "/api/v1/regions", level="grid", limit=300)
    api_seen = [f["id"] for f in api_first["features"]]
    api_href = next_href(api_first)
    assert api_href is not None and f"as_of={api_first['version']}" in api_href

    # a commit between two pages: the county's version is replaced by the demo's alone
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    subprocess.run([GRIDMAP, "versions", "restore", "1"], env=env, check=True, timeout=120)
    assert len(_codes(fresh_engine)) == 66

    seen += _walk(fresh_client, href)
    assert seen == expected, "every grid of the walk's version once, in PostGIS's order"
    api_seen += _walk(fresh_client, api_href)  # the regions API: pinned by as_of
    assert api_seen == expected

    fresh = _page(fresh_client, URL, limit=1000)  # a new walk reads the new version
    assert fresh["numberMatched"] == 66 and fresh["numberMatchedExact"] is True
    assert next_href(fresh) is None


def test_walks_are_postgis_order_and_counts_estimated_above_the_threshold(
    county: tuple[str, Engine], county_client: TestClient
) -> None:
    """Every grid once in PostGIS's order; small levels among many grids, a parent's
    children, and a point layer by key; counts exact up to the threshold, estimated above
    (the planner's, within reason of the truth: statistics are fresh)."""
    _, engine = county
    grids = _codes(engine)
    assert len(grids) > EXACT_COUNT_UP_TO
    first = _page(county_client, URL, limit=1000)
    assert first["numberMatchedExact"] is False
    assert 0.5 * len(grids) < first["numberMatched"] < 2 * len(grids)
    assert _walk(county_client, URL, limit=1000) == grids
    for level, collection in (("community", "communities"), ("street", "streets")):
        expected = _codes(engine, f"level = '{level}'")
        assert _walk(county_client, f"/ogc/collections/{collection}/items", limit=37) == expected
        body = _page(county_client, "/api/v1/regions", level=level, limit=1)
        assert (body["numberMatched"], body["numberMatchedExact"]) == (len(expected), True)
    community = f"{COUNTY}001001"
    children = _codes(engine, f"parent_code = '{community}'")
    assert len(children) == 100
    assert _walk(county_client, f"/api/v1/regions/{community}/children", limit=30) == children
    with engine.connect() as conn:
        cameras = list(conn.scalars(text("SELECT id FROM cameras ORDER BY id")))
    assert len(cameras) > EXACT_COUNT_UP_TO
    assert _walk(county_client, "/ogc/collections/cameras/items", limit=1000) == cameras


@pytest.mark.parametrize(
    "collection", ["grids", "communities", "streets", "counties", "cameras", "buildings"]
)
def test_keyset_pages_start_in_an_index(county: tuple[str, Engine], collection: str) -> None:
    """Page 1 and a page after a cursor of the large tables: an index scan in key order
    under the LIMIT — no sort, no sequential scan, OFFSET 0 — so the page deep in the list
    costs what page 1 costs (a table of a few rows, such as the centres here, is rightly
    read whole)."""
    _, engine = county
    found = features.get_collection(collection)
    settings = Settings()
    with engine.connect() as conn:
        first = features.list_items(
            conn, found, features.items_query(found, [("limit", "1")], **_LIMITS), settings
        )
        assert len(first.features) == 2, "one more than the page: a next page follows"
        after = features.cursor_after(first.features[0]["id"], first.version)
        query = features.items_query(found, [("limit", "5"), ("cursor", after)], **_LIMITS)
        plans = page_plans(conn, lambda: features.list_items(conn, found, query, settings))
        version = current_version(conn)
        plans += page_plans(  # a parent's children (the regions API)
            conn,
            lambda: regions.list_regions(
                conn, version=version, parent=f"{COUNTY}001", limit=5, after=f"{COUNTY}0010"
            ),
        )
    assert plans
    for plan, params in plans:
        kinds = node_types(plan)
        assert kinds[0] == "Limit" and "Sort" not in kinds and "Seq Scan" not in kinds, kinds
        assert {"Index Scan", "Index Only Scan"} & set(kinds), kinds
        assert params["offset"] == 0


_LIMITS = {"default_limit": 10, "max_limit": 10_000}


def test_capped_count_reads_the_index(county: tuple[str, Engine]) -> None:
    """numberMatched of a small level among many grids reads the (level, code) index, not
    every region (a level with many rows stops at the threshold however it is read)."""
    _, engine = county
    with engine.connect() as conn:
        version = current_version(conn)
        for level in ("county", "street"):
            plan = conn.scalar(
                text(
                    "EXPLAIN (FORMAT JSON) SELECT count(*) FROM (SELECT 1 FROM regions r WHERE "
                    f"{valid_at()} AND r.level = :level LIMIT :cap) c"
                ),
                {"v": version, "level": level, "cap": EXACT_COUNT_UP_TO + 1},
            )
            kinds = node_types(plan[0]["Plan"])
            assert "Seq Scan" not in kinds, kinds


def _forged(**payload: Any) -> str:
    return cursor.encode(payload)


@pytest.mark.parametrize(
    ("collection", "bad"),
    [
        ("grids", "!!"),
        ("grids", "x" * 2000),
        ("grids", cursor.encode(["130227001001001", 1])),
        ("grids", _forged(after=5, version=1)),
        ("grids", _forged(after="130227001001001", version="1")),
        ("grids", _forged(after="130227001001001")),
        ("grids", _forged(after="130227001001001", version=None)),
        ("grids", _forged(after="130227001001001", version=0)),
        ("grids", _forged(after="130227001001001", version=99_999)),  # no such version
        ("grids", _forged(after="130227\x00", version=1)),
        ("cameras", _forged(after=5, version=1)),  # point layers have no version
        ("cameras", _forged(after="5", version=None)),
        ("cameras", _forged(after=True, version=None)),
        ("cameras", _forged(after=2**63, version=None)),
    ],
)
def test_cursors_not_written_here_are_400(client: TestClient, collection: str, bad: str) -> None:
    answer = client.get(f"/ogc/collections/{collection}/items", params={"cursor": bad})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "invalid_cursor"
    assert "cursor 无效" in body["message"] and "invalid cursor" in body["message"]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("/api/v1/regions", "!!"),
        ("/api/v1/regions", _forged(after=5)),
        ("/api/v1/regions", _forged(after={"code": "130227"})),
        ("/api/v1/regions", _forged(after="130227", version=1)),
        ("/api/v1/regions/130227/children", _forged(after=["130227001"])),
        ("/api/v1/cameras", _forged(after="abc")),
        ("/api/v1/cameras", _forged(after=[1])),
        ("/api/v1/centres", _forged(after=1.5)),
    ],
)
def test_api_cursors_not_written_here_are_422(client: TestClient, path: str, bad: str) -> None:
    answer = client.get(path, params={"cursor": bad})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_cursor"


def test_cursor_and_offset_exclude_each_other(client: TestClient) -> None:
    first = _page(client, URL, limit=10)
    href = next_href(first)
    assert href is not None
    answer = client.get(f"{href}&offset=10")
    assert answer.status_code == 400 and "offset" in answer.json()["message"]


def test_offset_still_pages_for_clients_that_count(client: TestClient) -> None:
    by_offset = _page(client, URL, limit=10, offset=20)
    walked = _page(client, URL, limit=10)
    walked = _page(client, next_href(walked))
    walked = _page(client, next_href(walked))
    assert [f["id"] for f in by_offset["features"]] == [f["id"] for f in walked["features"]]


def test_layer_lists_walk_by_key_and_distance_lists_by_offset(
    client: TestClient, engine: Engine
) -> None:
    with engine.connect() as conn:
        keys = list(conn.scalars(text("SELECT id FROM cameras ORDER BY id")))
    assert _walk(client, "/api/v1/cameras", limit=45) == keys
    assert _page(client, "/api/v1/cameras", limit=45)["numberMatchedExact"] is True
    near = _page(client, "/api/v1/cameras", lon=118.33, lat=40.15, limit=10)
    assert "offset=10" in next_href(near)
    refused = client.get(
        f"{next_href(_page(client, '/api/v1/cameras', limit=5))}&lon=118.3&lat=40.1"
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_parameter"


_GDAL_OPTIONS = ("-oo", "PAGE_SIZE=1000", "-select", "device_id")


def test_ogr2ogr_reads_every_camera_once(county: tuple[str, Engine], tmp_path: Path) -> None:
    """GDAL's OAPIF driver follows the ``next`` links (cursors) to the end, its count being
    an estimate: every one of the 12 000+ cameras once, in key order."""
    url, engine = county
    program = shutil.which("ogr2ogr")
    if program is None:
        pytest.fail("ogr2ogr is missing: run make bootstrap (Debian package gdal-bin)")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(GDAL_HTTP_TIMEOUT="60", NO_PROXY="*", no_proxy="*", CPL_DEBUG="OFF")
    with serve_app(url, tmp_path / "uvicorn.log") as base:
        done = subprocess.run(
            [program, "-f", "CSV", "/vsistdout/", f"OAPIF:{base}/ogc", "cameras", *_GDAL_OPTIONS],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr
    got = [row["device_id"] for row in csv.DictReader(io.StringIO(done.stdout))]
    with engine.connect() as conn:
        assert got == list(conn.scalars(text("SELECT device_id FROM cameras ORDER BY id")))
