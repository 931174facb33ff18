"""The versions page as a clerk uses it (issue 15 §3): the history, the diff map between two
versions, a region's row zooming the map, and an admin's restore whose confirmation shows
the diff first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from browser import PageLog, screenshot, signed_in
from support import TEST_PASSWORD, make_user, serve_app
from version_changes import FILE_NAME, grid, upload_changes

DRAWN = "(sel) => document.querySelectorAll(sel + ' path.leaflet-interactive').length"


def test_history_diff_map_and_restore(
    fresh_db_url: str,
    fresh_engine: Engine,
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    demo_grids: dict,
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    upload_changes(fresh_client, make_key("editor"), demo_grids, tmp_path)
    make_user(fresh_engine, "archivist", "admin")
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        page = signed_in(page_log.page, base, "archivist", TEST_PASSWORD, "/workbench/versions")
        rows = page.get_by_test_id("version-row")
        rows.first.wait_for()
        assert rows.count() == 2
        newest = rows.first.locator("td")
        assert newest.nth(0).inner_text().startswith("2")
        assert newest.nth(4).inner_text() == FILE_NAME
        assert [newest.nth(i).inner_text() for i in (5, 6, 7)] == ["1", "4", "1"]

        # default: the previous version against the current one
        page.get_by_test_id("diff-row").first.wait_for()
        assert page.get_by_test_id("diff-a").input_value() == "1"
        assert page.get_by_test_id("diff-b").input_value() == "2"
        assert page.get_by_test_id("diff-row").count() == 6
        # six regions, and the old outlines of the two whose outline moved
        assert page.evaluate(DRAWN, '[data-testid="diff-map"]') == 8
        summary = page.get_by_test_id("diff-summary").inner_text()
        assert "+1" in summary and "~4" in summary and "−1" in summary
        legend = page.get_by_test_id("diff-legend").first.inner_text()
        for word in ("新增", "删除", "修改后的边界", "修改前的边界"):
            assert word in legend
        renamed = page.locator(f'[data-testid="diff-row"][data-code="{grid(4)}"]')
        assert "名称" in renamed.inner_text() and "山庄里社区新四网格" in renamed.inner_text()
        screenshot(page, "workbench-versions-diff", full_page=True)

        scale = page.locator("#diff-map .leaflet-control-scale-line")
        before = scale.inner_text()
        row = page.locator(f'[data-testid="diff-row"][data-code="{grid(99)}"]')
        row.click()
        assert row.get_attribute("aria-selected") == "true"
        page.wait_for_function(  # zoomed in to the one region: a shorter scale bar
            "(s) => document.querySelector('#diff-map .leaflet-control-scale-line').textContent "
            "!== s",
            arg=before,
        )

        # restore version 1: the confirmation shows what it would change before anything does
        rows.nth(1).get_by_test_id("restore-button").click()
        dialog = page.get_by_test_id("restore-dialog")
        dialog.wait_for()
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=restore-confirm]').disabled"
        )
        restore_summary = page.get_by_test_id("restore-summary").inner_text()
        assert "+1" in restore_summary and "~4" in restore_summary and "−1" in restore_summary
        assert page.evaluate(DRAWN, '[data-testid="restore-map"]') == 8
        screenshot(page, "workbench-versions-restore-confirm")
        with fresh_engine.connect() as conn:
            assert conn.scalar(text("SELECT max(number) FROM boundary_versions")) == 2

        page.get_by_test_id("restore-confirm").click()
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=version-row]').length === 3"
        )
        page.wait_for_function("() => document.querySelector('#diff-b').value === '3'")
        assert page.get_by_test_id("diff-a").input_value() == "2"
        assert not dialog.is_visible()
        with fresh_engine.connect() as conn:
            assert conn.scalar(text("SELECT max(number) FROM boundary_versions")) == 3
            assert (
                conn.scalar(text("SELECT restored_from FROM boundary_versions WHERE number = 3"))
                == 1
            )
        page.wait_for_function("() => location.search.includes('b=3')")
        screenshot(page, "workbench-versions-restored")

        # a link from the upload page: ?b=N opens that version against the one before
        page.goto(f"{base}/workbench/versions?b=2")
        page.get_by_test_id("diff-row").first.wait_for()
        assert page.get_by_test_id("diff-a").input_value() == "1"
        assert page.get_by_test_id("diff-row").count() == 6
    assert page_log.problems() == {}


def test_a_viewer_compares_but_cannot_restore(
    app_server: str, engine: Engine, page_log: PageLog
) -> None:
    make_user(engine, "reader", "viewer")
    page = signed_in(page_log.page, app_server, "reader", TEST_PASSWORD, "/workbench/versions")
    page.get_by_test_id("version-row").first.wait_for()
    page.wait_for_function("() => document.querySelector('#diff-summary').textContent")
    assert page.get_by_test_id("restore-button").count() == 0
    assert page.get_by_test_id("diff-map").is_visible()
    assert page_log.problems() == {}
