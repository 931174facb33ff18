"""The exported map page, opened from ``file://``, asks a running server for addresses: the
lookup answers CORS GETs, and the box says plainly when no server answers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.settings import Settings
from gis.store.demo_files import read_addresses

from browser import PageLog, screenshot
from support import GRIDMAP, free_port

ORIGIN = {"Origin": "null"}
"""What Chromium sends from a page opened from a file."""


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("lon=118.32&lat=40.15", 200),
        ("address=阳光小区5-2-301", 200),
        ("address=没有这个地方", 404),
        ("lon=118.32", 422),
    ],
)
def test_the_lookup_answers_other_origins(client: TestClient, query: str, status: int) -> None:
    response = client.get(f"/api/v1/lookup?{query}", headers=ORIGIN)
    assert response.status_code == status, response.text
    assert response.headers["access-control-allow-origin"] == "*"


def test_the_rest_of_the_api_stays_same_origin(client: TestClient) -> None:
    batch = client.post(
        "/api/v1/lookup/batch", json={"points": [{"lon": 118.32, "lat": 40.15}]}, headers=ORIGIN
    )
    assert batch.status_code == 200
    assert "access-control-allow-origin" not in batch.headers
    assert "access-control-allow-origin" not in client.get("/api/v1/uploads").headers


def _export(db_url: str, api_base: str, output: Path) -> str:
    """``gridmap map export`` of 栗乡街道 asking ``api_base``; the file's URL."""
    done = subprocess.run(
        [GRIDMAP, "map", "export", "--region", "130227001", "--api-base", api_base,
         "-o", str(output)],
        env={**os.environ, "GRIDMAP_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return output.as_uri()


def _ask(page_log: PageLog, url: str, query: str) -> str:
    page = page_log.page
    page.route("file://**", lambda route: route.continue_())  # the guard lets only HTTP through
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('path.gm-grid').length > 0")
    page.locator(".gm-lookup input").fill(query)
    page.locator(".gm-lookup button").click()
    page.wait_for_function(
        "() => !['', '查询中…'].includes(document.querySelector('.gm-answer').textContent)"
    )
    return page.locator(".gm-answer").inner_text()


def test_exported_page_asks_the_server_from_a_file(
    db_url: str, app_server: str, engine: Engine, page_log: PageLog, tmp_path: Path
) -> None:
    row = next(
        r
        for r in read_addresses(Settings().demo_dir)
        if r["compound"] == "阳光小区" and r["building"] == "5"
    )
    with engine.connect() as conn:
        expected = conn.scalar(
            text(
                "SELECT min(r.code) FROM regions r, addresses a WHERE a.code = :c "
                "AND r.level = 'grid' AND r.valid_to IS NULL AND ST_Covers(r.geom, a.geom)"
            ),
            {"c": row["code"]},
        )
    url = _export(db_url, app_server, tmp_path / "栗乡街道.html")
    assert url.startswith("file://")
    answer = _ask(page_log, url, "阳光小区5-2-301")
    assert expected in answer and "所在网格" in answer
    assert page_log.page.evaluate("() => window.gridmapLookup.code") == expected
    screenshot(page_log.page, "map-export-file-lookup")
    assert page_log.problems() == {}


def test_exported_page_says_when_no_server_answers(
    db_url: str, page_log: PageLog, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    url = _export(db_url, nowhere, tmp_path / "map.html")
    answer = _ask(page_log, url, "阳光小区5-2-301")
    assert answer.startswith(f"无法连接查询服务 {nowhere}") and "gridmap 服务" in answer
    screenshot(page_log.page, "map-export-no-server")
    # the refused request is the point; nothing else went wrong
    refused = [r for r in page_log.failed_requests if f"{nowhere}/api/v1/lookup?" in r]
    assert len(refused) == 1 and "ERR_CONNECTION_REFUSED" in refused[0]
    page_log.failed_requests.remove(refused[0])
    page_log.console_errors[:] = [e for e in page_log.console_errors if nowhere not in e]
    assert page_log.problems() == {}


def test_a_point_outside_every_grid_names_where_it_is(
    app_server: str, page_log: PageLog, engine: Engine
) -> None:
    with engine.connect() as conn:
        county, street = conn.execute(
            text(
                "SELECT c.name, s.name FROM regions s JOIN regions c ON c.code = s.parent_code "
                "WHERE s.level = 'street' AND s.valid_to IS NULL AND c.valid_to IS NULL "
                "AND ST_Covers(s.geom, ST_SetSRID(ST_Point(118.2, 40.3), 4326))"
            )
        ).one()
    answer = _ask(page_log, f"{app_server}/maps", "118.2,40.3")
    assert answer.startswith(f"不在任何网格内（位于 {county} {street}），最近网格：")
    assert answer.endswith(" 米）")
    assert page_log.problems() == {}
