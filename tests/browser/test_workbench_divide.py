"""The grid division page as a clerk uses it (issue 18 A, the workbench action): choose a
community, draw the drafts, read their figures, check them as an upload and commit them — the
community's grids in PostGIS are then the drafts; a viewer may draft but not commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from browser import PageLog, screenshot
from support import serve_app

COMMUNITY = "130227001004"


def _grids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT code, households FROM regions WHERE parent_code = :c "
                    "AND level = 'grid' AND valid_to IS NULL"
                ),
                {"c": COMMUNITY},
            ).all()
        )


def test_draw_check_and_commit_the_drafts_of_a_community(
    fresh_db_url: str,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    editor = make_key("editor")
    drafts = fresh_client.post(
        "/api/v1/analysis/divide",
        json={"region": COMMUNITY},
        headers={"Authorization": f"Bearer {editor}"},
    ).json()
    before = _grids(fresh_engine)
    page = page_log.page
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        page.goto(f"{base}/workbench/divide?region={COMMUNITY}&key={editor}")
        page.wait_for_selector("body[data-ready]")
        rows = page.get_by_test_id("divide-grid")
        assert rows.count() == len(drafts["features"])
        shown = [r.text_content() or "" for r in rows.all()]
        for row, feature in zip(shown, drafts["features"], strict=True):
            props = feature["properties"]
            assert props["code"] in row and props["name"] in row
            assert str(props["households"]) in row
        counts = page.get_by_test_id("divide-counts").text_content() or ""
        assert f"{len(drafts['features'])} 个网格草案" in counts and "共 2294 户" in counts
        assert page.locator("path.wb-division-building").count() == len(
            drafts["report"]["building_grids"]
        ), "every building drawn, coloured by its draft"
        assert page.get_by_test_id("divide-commit").is_disabled(), "check before commit"
        screenshot(page, "workbench-divide-drafts", full_page=True)

        page.get_by_test_id("divide-check").click()
        summary = page.get_by_test_id("divide-check-summary")
        summary.wait_for()
        assert "检查通过" in (summary.text_content() or "")
        assert _grids(fresh_engine) == before, "a check writes nothing"
        page.get_by_test_id("divide-commit").click()
        done = page.get_by_test_id("divide-committed")
        done.wait_for()
        assert "已提交为版本" in (done.text_content() or "")
        screenshot(page, "workbench-divide-committed", full_page=True)

        expected = {
            f["properties"]["code"]: f["properties"]["households"] for f in drafts["features"]
        }
        assert _grids(fresh_engine) == expected

        viewer = make_key("viewer")
        page.goto(f"{base}/workbench/divide?key={viewer}")
        page.wait_for_selector("body[data-ready]")
        assert page.get_by_test_id("divide-check").count() == 0, "viewers draft, editors commit"
        page.get_by_test_id("divide-region").fill("130227001")
        page.get_by_test_id("divide-run").click()
        message = page.get_by_test_id("divide-message")
        message.wait_for()
        assert "not_a_community" in (message.text_content() or "")
    problems = page_log.problems()
    refused = problems.pop("failed_requests", [])
    logged = problems.pop("console_errors", [])
    assert problems == {}
    assert all("status of 422" in line for line in logged), logged
    assert len(refused) == 1 and "/api/v1/analysis/divide" in refused[0], refused
