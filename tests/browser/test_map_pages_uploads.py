"""The upload review page works for every upload: a clean dry run shows the file's regions
coloured by what it would do (added, modified, unchanged, removed) over the stored ones;
problems read in Chinese; an upload with nothing to draw gets a page saying so."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.settings import Settings

from browser import DRAWN_JS, PageLog, screenshot
from support import serve_app, upload, write_layer

DEMO = Settings().demo_dir
GRIDS = json.loads((DEMO / "grids.geojson").read_text(encoding="utf-8"))["features"]
PARENT = "130227001002"


def _community_file(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """The grids of ``PARENT`` edited: the smallest merged into the neighbour that dwarfs it
    (removed + modified), the largest other split west/east (modified + a new code), one
    renamed (modified); the expected changes."""
    grids = {
        f["properties"]["code"]: (f["properties"]["name"], shape(f["geometry"]))
        for f in GRIDS
        if f["properties"]["parent_code"] == PARENT
    }
    small = min(grids, key=lambda c: grids[c][1].area)
    host = max(
        (c for c in grids if c != small and grids[c][1].intersection(grids[small][1]).length),
        key=lambda c: grids[c][1].area,
    )
    split = max((c for c in grids if c not in (small, host)), key=lambda c: grids[c][1].area)
    renamed = next(c for c in sorted(grids) if c not in (small, host, split))
    shapes = {c: g for c, (_, g) in grids.items()}
    names = {c: n for c, (n, _) in grids.items()}
    shapes[host] = shapely.union(shapes[host], shapes.pop(small))
    del names[small]
    x0, y0, x1, y1 = shapes[split].bounds
    cut = x0 + 0.75 * (x1 - x0)  # the old code keeps most of it: not a move
    new_code = f"{PARENT}{max(int(c[-3:]) for c in grids) + 1:03d}"
    whole = shapes[split]
    shapes[split] = whole.intersection(shapely.box(x0 - 1, y0 - 1, cut, y1 + 1))
    shapes[new_code] = whole.intersection(shapely.box(cut, y0 - 1, x1 + 1, y1 + 1))
    names[new_code] = "新拆分网格"
    names[renamed] = names[renamed] + "（改名）"
    codes = sorted(shapes)
    rows = [{"code": c, "name": names[c], "parent_code": PARENT} for c in codes]
    path = write_layer(tmp_path / "grids.geojson", rows, [shapes[c] for c in codes])
    expected = {
        "added": [new_code],
        "modified": sorted([host, split, renamed]),
        "removed": [small],
    }
    return path, expected


def test_a_clean_dry_run_is_reviewed_on_the_map(
    fresh_db_url: str,
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    key = make_key("editor")
    path, expected = _community_file(tmp_path)
    response = upload(fresh_client, path, key, level="grid")
    assert response.status_code == 200, response.json()
    report = response.json()["report"]
    assert report["summary"]["errors"] == 0, report["problems"]
    changes = report["summary"]["changes"]
    assert {k: sorted(v) for k, v in changes.items()} == expected
    upload_id = response.json()["id"]
    page = fresh_client.get(f"/maps/uploads/{upload_id}", params={"key": key})
    assert page.status_code == 200, page.text

    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        browser_page = page_log.page
        browser_page.goto(f"{base}/maps/uploads/{upload_id}?key={key}")
        browser_page.wait_for_function("() => document.querySelectorAll('path.gm-added').length")
        drawn = browser_page.evaluate(DRAWN_JS)
        features = report["summary"]["features"]
        assert drawn["gm-added"] == 1
        assert drawn["gm-modified"] == 3
        assert drawn["gm-unchanged"] == features - 4
        assert drawn["gm-removed"] == 1
        assert drawn["gm-context"] >= features
        legend = browser_page.locator(".gm-legend").inner_text()
        for word in ("新增", "修改", "未变", "删除", "现有区域", "试运行"):
            assert word in legend, word
        screenshot(browser_page, "map-upload-review-clean")
    assert page_log.problems() == {}


def test_an_upload_with_nothing_to_draw_gets_a_page_saying_so(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    key = make_key("editor")
    siblings = [f for f in GRIDS if f["properties"]["parent_code"] == PARENT]
    rows = [
        {"code": f["properties"]["code"], "name": f["properties"]["name"], "parent_code": PARENT}
        for f in siblings
    ]
    path = write_layer(tmp_path / "g.geojson", rows, [shape(f["geometry"]) for f in siblings])
    response = upload(fresh_client, path, key, level="grid")
    assert response.status_code == 200 and response.json()["report"]["problems"] == []
    upload_id = response.json()["id"]
    with fresh_engine.begin() as conn:  # as recorded before uploads kept their features
        conn.execute(text("DELETE FROM upload_features WHERE upload_id = :id"), {"id": upload_id})
    page = fresh_client.get(f"/maps/uploads/{upload_id}", params={"key": key})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert json.dumps("没有可在地图上显示的要素或问题")[1:-1] in page.text  # in the legend (JSON)


def test_problem_kinds_read_in_chinese(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    key = make_key("editor")
    siblings = [f for f in GRIDS if f["properties"]["parent_code"] == PARENT]
    shapes = [shape(f["geometry"]) for f in siblings]
    shapes[0] = shapes[0].buffer(0.0008)
    rows = [
        {"code": f["properties"]["code"], "name": f["properties"]["name"], "parent_code": PARENT}
        for f in siblings
    ]
    response = upload(
        fresh_client, write_layer(tmp_path / "g.geojson", rows, shapes), key, level="grid"
    )
    body = response.json()
    assert any(p["kind"] == "overlap" for p in body["report"]["problems"])
    upload_id = body["id"]
    html = fresh_client.get(f"/maps/uploads/{upload_id}", params={"key": key}).text
    assert '"kind":"重叠"' in html and '"kind":"overlap"' not in html


def test_the_review_shows_user_written_text_literally(
    fresh_db_url: str,
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    evil = "山庄里<img src=x onerror=alert(1)>"
    key = make_key("editor")
    siblings = [f for f in GRIDS if f["properties"]["parent_code"] == PARENT]
    rows = [
        {"code": f["properties"]["code"], "name": f["properties"]["name"], "parent_code": PARENT}
        for f in siblings
    ]
    rows[0]["name"] = evil
    path = write_layer(tmp_path / "<u>网格.geojson", rows, [shape(f["geometry"]) for f in siblings])
    response = upload(fresh_client, path, key, level="grid")
    assert response.status_code == 200, response.json()
    upload_id = response.json()["id"]
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        page = page_log.page
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}/maps/uploads/{upload_id}?key={key}")
        page.wait_for_function("() => document.querySelectorAll('path.gm-modified').length")
        page.evaluate(
            """(code) => window[document.querySelector('.folium-map').id].eachLayer(l => {
                 if (l.feature && l.feature.properties.change && l.feature.properties.code
                     === code) { l.fire('click', {latlng: l.getBounds().getCenter()}, true); }
               })""",
            rows[0]["code"],
        )
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for()
        assert evil in popup.inner_text()
        assert "<u>网格.geojson" in page.locator(".gm-legend").inner_text()
        assert page.title().endswith("<u>网格.geojson")
        assert page.locator("img[src=x], .gm-legend u").count() == 0
        screenshot(page, "map-upload-review-escaped")
    assert dialogs == []
    assert page_log.problems() == {}
