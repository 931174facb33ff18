"""The boundary editor as a clerk uses it (issue 15 §4): open a grid, draw a line through it,
check and commit the split, then merge the new piece back — PostGIS holds the original grid
again (symmetric difference under 1 m²) and each commit made one version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from browser import PageLog, screenshot
from support import serve_app

pytestmark = pytest.mark.browser

COMMUNITY = "130227001002"
GRID = f"{COMMUNITY}001"
NEW = f"{COMMUNITY}007"
"""The code the split's smaller piece gets: the community's next free grid number."""


def _grids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT code FROM regions WHERE valid_to IS NULL AND parent_code = :p "
                    "ORDER BY code"
                ),
                {"p": COMMUNITY},
            )
        )


def _versions(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT max(number) FROM boundary_versions"))


def test_split_a_grid_by_drawing_a_line_then_merge_it_back(
    fresh_db_url: str,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    page = page_log.page
    page.set_viewport_size({"width": 1400, "height": 1000})
    key = make_key("editor")
    with fresh_engine.connect() as conn:
        original = conn.scalar(
            text("SELECT geom FROM regions WHERE valid_to IS NULL AND code = :c"), {"c": GRID}
        )
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        page.goto(f"{base}/workbench/edit/{GRID}?key={key}")
        merge_with = page.get_by_test_id("edit-merge-with")
        merge_with.locator(f"option[value='{COMMUNITY}002']").wait_for(state="attached")
        assert page.get_by_test_id("edit-attr-name").input_value() == "清泉里社区第1网格"
        screenshot(page, "workbench-edit-loaded", full_page=True)

        # a north–south line through the middle of the grid, from outside to outside
        box = page.locator("path.wb-edited").bounding_box()
        assert box and box["width"] > 50 and box["height"] > 50
        x = box["x"] + box["width"] / 2
        # a line that ends inside the grid cuts nothing: refused, the operation dropped
        page.get_by_test_id("edit-split").click()
        page.mouse.click(x, box["y"] - 25)
        page.mouse.dblclick(x, box["y"] + box["height"] / 2)
        refused = page.locator("[data-testid=edit-message].wb-error")
        refused.wait_for()
        assert "分割线" in refused.inner_text() and "已撤销" in refused.inner_text()
        assert page.get_by_test_id("edit-operation").count() == 0
        screenshot(page, "workbench-edit-split-refused", full_page=True)

        page.get_by_test_id("edit-split").click()
        page.mouse.click(x, box["y"] - 25)
        page.mouse.click(x, box["y"] + box["height"] / 2)
        page.mouse.dblclick(x, box["y"] + box["height"] + 25)
        message = page.locator("[data-testid=edit-message].wb-ok")
        message.wait_for()
        assert "检查通过" in message.inner_text()
        assert page.get_by_test_id("edit-operation").all_inner_texts() == [f"分割 {GRID}"]
        assert "面积变化" in page.get_by_test_id("report-row").first.inner_text(), "zh-CN kind"
        assert page.locator("path.wb-change-added, path[stroke='#1a9850']").count() >= 1
        screenshot(page, "workbench-edit-split-checked", full_page=True)

        page.get_by_test_id("edit-commit").click()
        link = page.get_by_test_id("edit-version-link")
        link.wait_for()
        assert link.get_attribute("href") == "/workbench/versions?b=2"
        assert _grids(fresh_engine)[-1] == NEW and _versions(fresh_engine) == 2
        screenshot(page, "workbench-edit-split-committed", full_page=True)

        page.wait_for_selector("body[data-ready]", state="attached")  # reloaded at version 2
        merge_with.locator(f"option[value='{NEW}']").wait_for(state="attached")
        merge_with.select_option(NEW)
        page.get_by_test_id("edit-merge").click()
        said = page.locator("[data-testid=edit-message]:is(.wb-ok, .wb-error)")
        said.wait_for()
        assert "检查通过" in said.inner_text(), said.inner_text()
        assert page.get_by_test_id("edit-operation").all_inner_texts() == [f"合并 {NEW} → {GRID}"]
        screenshot(page, "workbench-edit-merge-checked", full_page=True)
        page.get_by_test_id("edit-commit").click()
        page.locator("[data-testid=edit-version-link][href='/workbench/versions?b=3']").wait_for()
        screenshot(page, "workbench-edit-merged", full_page=True)

    assert NEW not in _grids(fresh_engine) and _versions(fresh_engine) == 3
    with fresh_engine.connect() as conn:
        difference = conn.scalar(
            text(
                "SELECT ST_Area(ST_Segmentize(ST_SymDifference(geom, :o), 1e-4)::geography) "
                "FROM regions WHERE valid_to IS NULL AND code = :c"
            ),
            {"o": original, "c": GRID},
        )
    assert difference < 1.0, "merged back, the grid is the original within storage precision"
    assert page_log.failed_requests == [f"422 {base}/api/v1/edits"], "only the refused line"
    assert not (page_log.page_errors or page_log.external_requests)


def test_drag_a_shared_edge_and_the_neighbour_follows(
    fresh_db_url: str,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    page = page_log.page
    page.set_viewport_size({"width": 1400, "height": 1000})
    key = make_key("editor")
    with serve_app(fresh_db_url, tmp_path / "app.log") as base:
        page.goto(f"{base}/workbench/edit/{GRID}?key={key}")
        page.get_by_test_id("edit-merge-with").locator(f"option[value='{COMMUNITY}002']").wait_for(
            state="attached"
        )
        page.get_by_test_id("edit-reshape").click()
        middles = page.locator(".marker-icon-middle")
        middles.first.wait_for()
        # the east edge, shared with grid 002 inside the community: its middle marker is the
        # easternmost; drag it 40 px further east, into grid 002
        boxes = [b for b in (m.bounding_box() for m in middles.all()) if b]
        east = max(boxes, key=lambda b: b["x"])
        x, y = east["x"] + east["width"] / 2, east["y"] + east["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 20, y, steps=5)
        page.mouse.move(x + 40, y, steps=5)
        page.mouse.up()
        screenshot(page, "workbench-edit-dragging", full_page=True)
        page.get_by_test_id("edit-reshape-done").click()
        page.locator("[data-testid=edit-message].wb-ok").wait_for()
        assert page.get_by_test_id("edit-operation").all_inner_texts() == [f"调整边界 {GRID}"]
        screenshot(page, "workbench-edit-reshape-checked", full_page=True)
        page.get_by_test_id("edit-commit").click()
        page.get_by_test_id("edit-version-link").wait_for()
    with fresh_engine.connect() as conn:
        changed = conn.scalars(
            text("SELECT code FROM regions WHERE valid_from = 2 ORDER BY code")
        ).all()
        cover, overlap = conn.execute(
            text(
                "SELECT ST_Area(ST_Segmentize(ST_SymDifference(p.geom, c.u), 1e-4)::geography), "
                "(SELECT coalesce(max(ST_Area(ST_Segmentize(ST_Intersection(a.geom, b.geom), "
                "1e-4)::geography)), 0) FROM regions a JOIN regions b ON a.code < b.code "
                "WHERE a.valid_to IS NULL AND b.valid_to IS NULL AND a.parent_code = :p "
                "AND b.parent_code = :p) "
                "FROM regions p, (SELECT ST_Union(geom) AS u FROM regions "
                "WHERE valid_to IS NULL AND parent_code = :p) c "
                "WHERE p.valid_to IS NULL AND p.code = :p"
            ),
            {"p": COMMUNITY},
        ).one()
    assert changed == [GRID, f"{COMMUNITY}002"], "the grid and the neighbour it took ground from"
    assert cover < 1.0 and overlap < 1.0, (cover, overlap)
    assert page_log.problems() == {}
