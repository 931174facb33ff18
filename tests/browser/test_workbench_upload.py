"""The workbench's upload page as a clerk uses it (issue 15 §2): drop a real GBK shapefile
whose .prj names the wrong CRS, read its problems in the table and on the map, retry with the
CRS doctor's suggestion in one click, commit, follow the link to the version."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import shapely
from playwright.sync_api import Page, expect
from shapely.geometry import shape

from gis.access.auth import create_key
from gis.settings import Settings
from gis.store.db import make_engine

from browser import PageLog, screenshot, signed_in
from support import TEST_PASSWORD, make_user, serve_app, stored_geometry
from upload_files import COMMUNITY, STATED_CRS, TRUE_CRS, community_grids, gbk_shapefile_wrong_prj

pytestmark = pytest.mark.browser

DEMO_GRIDS = json.loads((Settings().demo_dir / "grids.geojson").read_text(encoding="utf-8"))

DROP_JS = """([name, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "application/zip" }));
  const zone = document.getElementById("drop");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""
"""Drop a file on the drop zone, as a clerk dragging it from the file manager."""
DRAWN_PROBLEMS_JS = """() => new Set([...document.querySelectorAll("path.wb-problem")].map(
  (p) => [...p.classList].find((c) => /^wb-problem-\\d+$/.test(c)))).size"""
"""How many problems are drawn on the map (a problem's shape may have several paths)."""


def _sign_in(page: Page, base: str, engine: object) -> None:
    """Sign in as an editor through the login form, or — while there is none — open the page
    with an editor's key (a key session)."""
    try:
        login = urllib.request.urlopen(f"{base}/login").status
    except urllib.error.HTTPError as error:
        login = error.code
    if login == 200:
        make_user(engine, "clerk", "editor")
        signed_in(page, base, "clerk", TEST_PASSWORD, next="/workbench/upload")
    else:
        with engine.begin() as conn:
            key = create_key(conn, role="editor", name="clerk")
        page.goto(f"{base}/workbench/upload?key={key}")
    page.wait_for_selector("body[data-ready]")


def _check(page: Page) -> dict:
    """Click 检查 and return the API's answer once the report is drawn."""
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/uploads") and r.request.method == "POST"
    ) as answer:
        page.get_by_test_id("upload-check").click()
    body = answer.value.json()
    expect(page.get_by_test_id("upload-check")).to_be_enabled()
    return body


def test_a_clerk_uploads_a_gbk_shapefile_with_a_wrong_prj(
    page_log: PageLog, fresh_db_url: str, tmp_path: Path
) -> None:
    page = page_log.page
    archive = gbk_shapefile_wrong_prj(DEMO_GRIDS, tmp_path / "file")
    engine = make_engine(fresh_db_url)
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        _sign_in(page, base, engine)
        page.evaluate(DROP_JS, [archive.name, base64.b64encode(archive.read_bytes()).decode()])
        # what was detected: level, parent, the Chinese fields, encoding, the stated CRS
        expect(page.get_by_test_id("upload-level")).to_have_value("grid")
        expect(page.get_by_test_id("upload-parent")).to_have_value(COMMUNITY)
        expect(page.get_by_test_id("map-code")).to_have_value("网格编码")
        expect(page.get_by_test_id("map-parent_code")).to_have_value("社区编码")
        expect(page.locator("#encoding-note")).to_contain_text("GBK")
        expect(page.locator("#crs-note")).to_contain_text(STATED_CRS)
        expect(page.get_by_test_id("upload-commit")).to_be_disabled()
        screenshot(page, "workbench-upload-1-detected")

        dry = _check(page)
        problems = dry["report"]["problems"]
        errors = dry["report"]["summary"]["errors"]
        assert errors > 0, problems
        expect(page.get_by_test_id("report-errors")).to_have_text(str(errors))
        expect(page.get_by_test_id("report-warnings")).to_have_text(
            str(dry["report"]["summary"]["warnings"])
        )
        expect(page.get_by_test_id("report-row")).to_have_count(len(problems))
        placed = [p for p in problems if p.get("geometry") or p.get("location")]
        assert placed, "the problems have places"
        assert page.evaluate(DRAWN_PROBLEMS_JS) == len(placed)
        assert page.locator("path.wb-change").count() == 6, "the file's six grids are drawn"
        expect(page.get_by_test_id("upload-commit")).to_be_disabled()
        first = page.get_by_test_id("report-row").first
        first.click()
        expect(first).to_have_attribute("aria-selected", "true")
        screenshot(page, "workbench-upload-2-problems")

        suggestion = page.get_by_test_id("crs-suggestion")
        expect(suggestion).to_contain_text(TRUE_CRS)
        with page.expect_response(
            lambda r: r.url.endswith("/api/v1/uploads") and r.request.method == "POST"
        ) as retry:
            suggestion.click()
        again = retry.value.json()
        expect(page.get_by_test_id("upload-crs")).to_have_value(TRUE_CRS)
        expect(page.get_by_test_id("report-errors")).to_have_text("0")
        assert again["report"]["summary"]["errors"] == 0
        expect(page.get_by_test_id("report-row")).to_have_count(len(again["report"]["problems"]))
        expect(page.get_by_test_id("upload-commit")).to_be_enabled()
        screenshot(page, "workbench-upload-3-checked")

        page.get_by_test_id("upload-commit").click()
        link = page.get_by_test_id("version-link")
        expect(link).to_be_visible()
        expect(page.get_by_test_id("commit-summary")).to_contain_text("已提交为版本 2")
        screenshot(page, "workbench-upload-4-committed")
        assert link.get_attribute("href") == "/workbench/versions?b=2"
        link.click()
        page.wait_for_url(f"{base}/workbench/versions?b=2")
        expect(page.get_by_test_id("diff-map")).to_be_visible()
        screenshot(page, "workbench-upload-5-version")

    # the stored grids are the demo grids again (read in the right CRS: centimetres)
    for grid in community_grids(DEMO_GRIDS):
        stored = stored_geometry(engine, grid["properties"]["code"])
        assert shapely.hausdorff_distance(stored, shape(grid["geometry"])) < 1e-6
    engine.dispose()
    assert page_log.page_errors == [] and page_log.external_requests == []
    assert page_log.console_errors == [], page_log.console_errors


def test_a_report_of_many_problems_says_how_many_it_does_not_list(
    page_log: PageLog, fresh_db_url: str, tmp_path: Path
) -> None:
    """A file of 1 010 grids without names: the report lists the first 1 000 of a kind and
    the page says how many more there are; the counts above the table are whole."""
    community = shape(
        next(
            f["geometry"]
            for f in json.loads((Settings().demo_dir / "communities.geojson").read_text())[
                "features"
            ]
            if f["properties"]["code"] == COMMUNITY
        )
    )
    x0, y0, x1, y1 = community.bounds
    step = min(x1 - x0, y1 - y0) / 40
    features = [
        {
            "type": "Feature",
            "properties": {"code": f"{COMMUNITY}{n:04d}", "name": "", "parent_code": COMMUNITY},
            "geometry": shapely.geometry.mapping(
                shapely.box(
                    x0 + (n % 40) * step,
                    y0 + (n // 40) * step / 2,
                    x0 + (n % 40 + 1) * step,
                    y0 + (n // 40 + 1) * step / 2,
                )
            ),
        }
        for n in range(1_010)
    ]
    path = tmp_path / "many.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    engine = make_engine(fresh_db_url)
    page = page_log.page
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        _sign_in(page, base, engine)
        page.evaluate(DROP_JS, [path.name, base64.b64encode(path.read_bytes()).decode()])
        # 16-digit codes are no level's form: the clerk says which level it is
        expect(page.get_by_test_id("map-code")).to_have_value("code")
        page.get_by_test_id("upload-level").select_option("grid")
        dry = _check(page)
        report = dry["report"]
        # each grid: no name, and a code of no level's form (12 + 4 digits)
        assert report["problems_omitted"] == {"code_format": 10, "missing_name": 10}
        expect(page.get_by_test_id("report-errors")).to_have_text(str(report["summary"]["errors"]))
        assert report["summary"]["errors"] >= 1_010
        note = page.get_by_test_id("report-omitted")
        expect(note).to_be_visible()
        expect(note).to_contain_text("10 个")
        screenshot(page, "workbench-upload-omitted")
