"""The roster page as a clerk uses it (issue 15 acceptance): export the roster as xlsx, change a
household count with openpyxl, import it — the problems of a bad file by row and column, then
the good file checked, committed, and the change seen in PostGIS and linked as a version."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import openpyxl
from sqlalchemy import Engine, text

from browser import PageLog, screenshot
from support import GRID_CODE, serve_app

STREET = "130227001"


def _households(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(
            text("SELECT households FROM regions WHERE code = :c AND valid_to IS NULL"),
            {"c": GRID_CODE},
        )


def test_export_edit_and_import_a_roster_in_the_page(
    fresh_db_url: str,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    page = page_log.page
    key = make_key("editor")
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        page.goto(f"{base}/workbench/roster?key={key}")
        page.get_by_test_id("roster-region").locator(f"option[value='{STREET}']").wait_for(
            state="attached"
        )
        page.get_by_test_id("roster-region").select_option(STREET)
        page.get_by_test_id("roster-level").select_option("grid")
        with page.expect_download() as download:
            page.get_by_test_id("roster-export").click()
        exported = tmp_path / "roster.xlsx"
        download.value.save_as(exported)
        assert download.value.suggested_filename.endswith(f"grids_{STREET}_v1.xlsx")

        book = openpyxl.load_workbook(exported)
        sheet = book.worksheets[0]
        row = next(c.row for (c,) in sheet.iter_rows(min_col=1, max_col=1) if c.value == GRID_CODE)
        old = sheet.cell(row, 4).value
        assert old == _households(fresh_engine)

        sheet.cell(row, 7).value = "1381234567"  # one digit short
        bad = tmp_path / "bad.xlsx"
        book.save(bad)
        page.get_by_test_id("roster-import").set_input_files(bad)
        page.get_by_test_id("report-row").first.wait_for()
        assert page.get_by_test_id("report-errors").text_content() == "1"
        problem = page.get_by_test_id("report-row").first.text_content() or ""
        assert "invalid_phone" in problem and f"第 {row} 行" in problem and "G" in problem
        assert page.get_by_test_id("roster-commit").is_disabled()
        screenshot(page, "workbench-roster-problems", full_page=True)

        sheet.cell(row, 7).value = "13812345678"
        sheet.cell(row, 4).value = old + 25
        good = tmp_path / "good.xlsx"
        out = io.BytesIO()
        book.save(out)
        good.write_bytes(out.getvalue())
        page.get_by_test_id("roster-import").set_input_files(good)
        page.get_by_test_id("roster-change").first.wait_for()
        changes = [r.text_content() or "" for r in page.get_by_test_id("roster-change").all()]
        assert any("户数" in c and str(old) in c and str(old + 25) in c for c in changes)
        assert page.get_by_test_id("report-errors").text_content() == "0"
        assert _households(fresh_engine) == old, "a check writes nothing"
        page.locator(".wb-change-modified").first.wait_for()  # the changed grid on the map
        screenshot(page, "workbench-roster-checked", full_page=True)

        page.get_by_test_id("roster-commit").click()
        link = page.get_by_test_id("roster-version-link")
        link.wait_for()
        assert link.get_attribute("href") == "/workbench/versions?b=2"
        assert _households(fresh_engine) == old + 25
        screenshot(page, "workbench-roster-committed", full_page=True)
    assert page_log.problems() == {}


def test_an_editor_scoped_to_another_community_is_refused_in_the_page(
    fresh_db_url: str,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    page = page_log.page
    key = make_key("editor")
    scope = "130227001001"  # 山庄里社区; GRID_CODE is a grid of 清泉里社区
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET scope_code = :s"), {"s": scope})
    old = _households(fresh_engine)
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        page.goto(f"{base}/workbench/roster?key={key}")
        region = page.get_by_test_id("roster-region")
        region.locator(f"option[value='{scope}']").wait_for(state="attached")
        assert region.input_value() == scope, "the page starts at the editor's own region"
        region.select_option(STREET)
        with page.expect_download() as download:
            page.get_by_test_id("roster-export").click()
        exported = tmp_path / "street.xlsx"
        download.value.save_as(exported)
        book = openpyxl.load_workbook(exported)
        sheet = book.worksheets[0]
        row = next(c.row for (c,) in sheet.iter_rows(min_col=1, max_col=1) if c.value == GRID_CODE)
        sheet.cell(row, 4).value = old + 1
        edited = tmp_path / "other.xlsx"
        book.save(edited)
        page.get_by_test_id("roster-import").set_input_files(edited)
        page.locator("[data-testid=roster-message].wb-error").wait_for()
        assert page.get_by_test_id("roster-commit").is_disabled()
        screenshot(page, "workbench-roster-scope", full_page=True)
        assert page_log.failed_requests == [f"403 {base}/api/v1/rosters"]
    assert _households(fresh_engine) == old
    assert not (page_log.page_errors or page_log.external_requests)
