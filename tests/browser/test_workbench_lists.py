"""The workbench's history lists — versions, uploads, the audit log — reach every entry: each
shows the newest page and its "更早的…" button follows the API's ``next`` link (its cursor)
until none is left, the rows being the list in the API's SQL order, each once; people's
text (file names, authors, actors) stays text; the audit log's filters are the API's and its
count says when it is an estimate; the menu shows a page to the roles that may open it."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page
from sqlalchemy import Engine, text

from browser import PageLog, screenshot, signed_in
from support import TEST_PASSWORD, make_user, serve_app

ROWS = 250
"""Versions and uploads: two and a half pages of the workbench's lists (100 a page)."""
AUDIT_ROWS = 10_050
"""Audit entries: more than the lists count exactly (10 000)."""
NASTY = '<img src=x onerror="window.__xss=1">'
RARE = "<b>巡查员</b>"
"""The actor of every 100th audit entry (markup: it must show as text)."""

_FILL = f"""
INSERT INTO boundary_versions (number, author, action, changes)
    SELECT n, 'loader' || n, 'upload', '{{}}' FROM generate_series(2, {ROWS}) n;
INSERT INTO uploads (author, filename, kind, level, status, version)
    SELECT CASE WHEN n = 7 THEN :nasty ELSE 'clerk' END,
           CASE WHEN n = 7 THEN :nasty || '.zip' ELSE 'grids-' || n || '.zip' END,
           'boundaries', 'grid', CASE WHEN mod(n, 2) = 0 THEN 'committed' ELSE 'dry_run' END,
           CASE WHEN mod(n, 2) = 0 AND n / 2 + 1 <= {ROWS} THEN n / 2 + 1 END
    FROM generate_series(1, {ROWS}) n;
INSERT INTO audit_log (at, actor, action, target, status, details)
    SELECT timestamptz '2026-01-01 00:00:00+08' + (n / 3) * interval '1 second',
           CASE WHEN mod(n, 100) = 0 THEN :rare ELSE 'clerk' END,
           'POST /api/v1/uploads', '/api/v1/uploads', 201, jsonb_build_object('n', n)
    FROM generate_series(1, {AUDIT_ROWS}) n ORDER BY random();
ANALYZE audit_log;
"""
SINCE = "2026-01-01T00:54:00+08:00"
"""About 330 entries before the end of the audit log (the page's field takes it in 北京时间,
whatever the browser's zone: headless Chromium runs in UTC)."""


def _ids(engine: Engine, sql: str, **params: object) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(text(sql), params))


def _walk(page: Page, row: str, key: str) -> list[int]:
    """Click "更早的…" until it is gone; the ``data-<key>`` of every row, top to bottom.
    Each click appends one page (100 rows) and no row twice."""
    rows = page.get_by_test_id(row)
    more = page.get_by_test_id("list-more")
    rows.first.wait_for()
    while more.is_visible():
        count = rows.count()
        assert count % 100 == 0, "a full page before each further one"
        more.click()
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length > n",
            arg=[f'[data-testid="{row}"]', count],
        )
    page.wait_for_function("() => !document.querySelector('[data-testid=list-more]').disabled")
    return [int(v) for v in rows.evaluate_all(f"(rs) => rs.map((r) => r.dataset.{key})")]


def test_every_entry_reachable(
    fresh_db_url: str, fresh_engine: Engine, page_log: PageLog, tmp_path: Path
) -> None:
    with fresh_engine.begin() as conn:
        for statement in filter(str.strip, _FILL.split(";")):
            conn.execute(text(statement), {"nasty": NASTY, "rare": RARE})
    make_user(fresh_engine, "档案员", "admin")
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log") as base:
        page = signed_in(page_log.page, base, "档案员", TEST_PASSWORD, "/workbench/versions")

        # versions: 100 of 250 at first, then every one, newest first; the pickers hold them
        page.wait_for_function("() => document.body.dataset.ready === '1'")
        assert page.get_by_test_id("version-row").count() == 100
        count = page.get_by_test_id("list-count")
        assert "已列出最新的 100 个版本，共 250 个版本" in count.inner_text()
        page.get_by_test_id("list-more").scroll_into_view_if_needed()
        screenshot(page, "workbench-versions-first-page")
        numbers = _walk(page, "version-row", "number")
        assert numbers == _ids(fresh_engine, "SELECT number FROM boundary_versions ORDER BY 1 DESC")
        assert page.get_by_test_id("list-more").is_hidden()
        assert "共 250 个版本，已全部列出" in count.inner_text()
        options = (
            page.get_by_test_id("diff-b")
            .locator("option")
            .evaluate_all("(os) => os.map((o) => Number(o.value))")
        )
        assert options == numbers
        page.locator('[data-testid="version-row"][data-number="2"]').click()  # the oldest page's
        page.wait_for_function("() => location.search.includes('b=2')")
        assert page.get_by_test_id("diff-a").input_value() == "1"
        page.wait_for_function(  # the diff has come (leaving before it would abort its fetch)
            "() => document.querySelector('#diff-summary').textContent.includes('版本 1 → 版本 2')"
        )
        screenshot(page, "workbench-versions-all-pages")

        # a link to a version not on the first page: it is offered and chosen, A before it
        page.goto(f"{base}/workbench/versions?b=42")
        page.wait_for_function("() => document.querySelector('#diff-summary').textContent")
        assert page.get_by_test_id("diff-b").input_value() == "42"
        assert page.get_by_test_id("diff-a").input_value() == "41"
        assert "版本 41 → 版本 42" in page.get_by_test_id("diff-summary").inner_text()
        assert page.get_by_test_id("version-row").count() == 100

        # uploads: every one, a nasty file name and author shown as text, links to reports
        page.goto(f"{base}/workbench/uploads")
        page.get_by_test_id("list-more").scroll_into_view_if_needed()
        screenshot(page, "workbench-uploads-first-page")
        ids = _walk(page, "upload-row", "id")
        assert ids == _ids(fresh_engine, "SELECT id FROM uploads ORDER BY id DESC")
        nasty_id = _ids(fresh_engine, "SELECT id FROM uploads WHERE author = :a", a=NASTY)[0]
        nasty = page.locator(f'[data-testid="upload-row"][data-id="{nasty_id}"]')
        assert nasty.locator("td").nth(2).inner_text() == NASTY
        assert nasty.get_by_role("link").inner_text() == f"{NASTY}.zip"
        assert nasty.get_by_role("link").get_attribute("href") == (
            f"/workbench/upload?upload={nasty_id}"
        )
        assert page.locator("[data-testid=uploads-table] img").count() == 0
        committed = page.locator('[data-testid="upload-row"]').filter(has_text="已提交").first
        version = committed.locator("td").nth(9).get_by_role("link")
        assert version.get_attribute("href") == f"/workbench/versions?b={version.inner_text()}"
        assert f"共 {len(ids)} 次上传，已全部列出" in page.get_by_test_id("list-count").inner_text()
        nasty.scroll_into_view_if_needed()
        screenshot(page, "workbench-uploads-all-pages")
        nasty.get_by_role("link").click()  # its report on the upload page
        page.wait_for_url(f"{base}/workbench/upload?upload={nasty_id}")
        page.wait_for_function("() => document.body.dataset.ready === '1'")

        # the audit log: an estimated count; every entry since a time; one actor's
        page.goto(f"{base}/workbench/audit")
        page.get_by_test_id("audit-row").first.wait_for()
        assert "总数约" in page.get_by_test_id("list-count").inner_text()
        assert page.get_by_test_id("list-more").is_visible()
        page.get_by_test_id("audit-since").fill(SINCE[:16])
        page.get_by_test_id("audit-apply").click()
        page.wait_for_function("() => location.search.includes('since=')")
        expected = _ids(
            fresh_engine,
            "SELECT id FROM audit_log WHERE at >= CAST(:since AS timestamptz) "
            "ORDER BY at DESC, id DESC",
            since=SINCE,
        )
        assert 100 < len(expected) < 10_000
        page.wait_for_function(
            "(n) => document.querySelector('[data-testid=list-count]').textContent"
            ".includes(`共 ${n.toLocaleString('zh-CN')} 条记录`)",
            arg=len(expected),
        )
        assert _walk(page, "audit-row", "id") == expected
        page.get_by_test_id("audit-since").fill("")
        page.get_by_test_id("audit-actor").fill(RARE)
        page.get_by_test_id("audit-apply").click()
        rare = _ids(
            fresh_engine,
            "SELECT id FROM audit_log WHERE actor = :a ORDER BY at DESC, id DESC",
            a=RARE,
        )
        page.wait_for_function(
            "(n) => document.querySelectorAll('[data-testid=audit-row]').length === n",
            arg=len(rare),
        )
        assert _walk(page, "audit-row", "id") == rare
        first = page.get_by_test_id("audit-row").first.locator("td")
        assert first.nth(1).inner_text() == RARE and first.nth(6).inner_text().startswith('{"n"')
        with fresh_engine.connect() as conn:  # the time as 北京时间, not the browser's UTC
            beijing = conn.scalar(
                text(
                    "SELECT to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') "
                    "FROM audit_log WHERE id = :i"
                ),
                {"i": rare[0]},
            )
        assert first.nth(0).inner_text() == beijing
        assert page.locator("[data-testid=audit-table] b").count() == 0
        screenshot(page, "workbench-audit-filtered")
        assert page.evaluate("() => window.__xss") is None
    assert page_log.problems() == {}


def test_menu_by_role(app_server: str, engine: Engine, page_log: PageLog) -> None:
    """A viewer is offered the uploads page, not the audit log, which answers it 403."""
    make_user(engine, "读者", "viewer")
    page = signed_in(page_log.page, app_server, "读者", TEST_PASSWORD, "/workbench/uploads")
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    menu = page.locator("header nav")
    assert menu.get_by_role("link", name="上传记录").count() == 1
    assert menu.get_by_role("link", name="操作日志").count() == 0
    assert page_log.problems() == {}
    assert page.goto(f"{app_server}/workbench/audit").status == 403
