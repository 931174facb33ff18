"""Signing in to the workbench as a clerk does (issue 15 §1, §8): the login form, the start
page with the user's name, rights and the latest versions, the admin page adding a user
and issuing, showing once and revoking an API key, and signing out."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import Engine

from gis.access.users import verify_login

from browser import PageLog, screenshot, signed_in
from support import GRID_CODE, TEST_PASSWORD, make_user


def test_sign_in_start_page_and_sign_out(
    app_server: str, engine: Engine, page_log: PageLog
) -> None:
    name = f"网格员<i>{uuid.uuid4().hex[:6]}"
    make_user(engine, name, "editor", "130227001002")
    page = page_log.page

    page.goto(f"{app_server}/workbench/versions")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.wait_for_load_state("networkidle")
    page.get_by_test_id("login-username").fill(name)
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    assert "用户名或密码不正确" in page.get_by_test_id("login-message").inner_text()
    screenshot(page, "workbench_login_failed")
    page.wait_for_load_state("networkidle")
    # the 401 page is the answer expected: it is the one failed request
    assert [e for e in page_log.console_errors if "401" not in e] == []
    assert [r for r in page_log.failed_requests if "401" not in r] == []
    page_log.console_errors.clear()
    page_log.failed_requests.clear()

    page = signed_in(page, app_server, name, TEST_PASSWORD)
    assert page.get_by_test_id("user-name").inner_text() == name  # as text, not markup
    assert "编辑" in page.get_by_test_id("start-rights").inner_text()
    scope = page.get_by_test_id("start-scope")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=start-scope]')"
        ".textContent.includes('清泉里社区')"
    )
    assert scope.inner_text() == "清泉里社区（130227001002）"
    page.get_by_test_id("start-version").first.wait_for()
    assert page.get_by_test_id("start-version").count() >= 1
    assert page.get_by_role("link", name="用户与密钥").count() == 0  # not an admin
    screenshot(page, "workbench_start")

    page.get_by_test_id("start-edit-code").fill(GRID_CODE)  # a grid of the scope
    page.get_by_test_id("start-edit").get_by_role("button").click()
    page.wait_for_url(f"{app_server}/workbench/edit/{GRID_CODE}")
    page.wait_for_load_state("networkidle")

    page.get_by_test_id("logout").click()
    page.wait_for_url(f"{app_server}/login")
    page.wait_for_load_state("networkidle")  # its icon too, before leaving it
    page.goto(f"{app_server}/workbench")
    page.wait_for_url(re.compile(r"/login\?next=%2Fworkbench"))
    assert page_log.problems() == {}


def test_admin_adds_a_user_and_a_key(app_server: str, engine: Engine, page_log: PageLog) -> None:
    admin = f"admin-{uuid.uuid4().hex[:6]}"
    clerk = f"王芳-{uuid.uuid4().hex[:6]}"
    make_user(engine, admin, "admin")
    page = signed_in(page_log.page, app_server, admin, TEST_PASSWORD, "/workbench/admin")
    page.on("dialog", lambda dialog: dialog.accept())

    page.get_by_test_id("user-username").fill(clerk)
    page.get_by_test_id("user-password").fill("clerk password 2026")
    page.get_by_test_id("user-role").select_option("editor")
    page.get_by_test_id("user-scope").fill("130227001002")
    page.get_by_test_id("user-add").click()
    row = page.locator(f'[data-testid="user-row"][data-username="{clerk}"]')
    row.wait_for()
    assert "正常" in row.inner_text()
    assert row.locator("input").first.input_value() == "130227001002"
    assert "清泉里社区" in row.inner_text()  # the scope's name beside its code

    row.get_by_test_id("user-reset").click()
    row.get_by_test_id("user-new-password").fill("a new password 2026")
    row.get_by_test_id("user-password-save").click()
    page.get_by_text(f"已重置 {clerk} 的密码").wait_for()
    with engine.begin() as conn:
        assert verify_login(conn, clerk, "a new password 2026").scope == "130227001002"

    page.get_by_test_id("key-name").fill("12345 热线 <对接>")
    page.get_by_test_id("key-role").select_option("viewer")
    page.get_by_test_id("key-expires").select_option("30d")
    page.get_by_test_id("key-scope").fill("130227001002")
    page.get_by_test_id("key-create").click()
    page.get_by_test_id("new-key-box").wait_for()
    key = page.get_by_test_id("new-key").inner_text()
    assert key.startswith("gm_")
    key_row = page.locator('[data-testid="key-row"][data-name="12345 热线 <对接>"]')
    key_row.wait_for()
    assert "有效" in key_row.inner_text() and key not in key_row.inner_text()
    assert "清泉里社区（130227001002）" in key_row.inner_text()
    screenshot(page, "workbench_admin", full_page=True)

    key_row.get_by_test_id("key-revoke").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=key-row]')]"
        ".some(r => r.dataset.name === '12345 热线 <对接>' && r.innerText.includes('已吊销'))"
    )
    row.get_by_test_id("user-toggle").click()
    page.wait_for_function(
        f"() => [...document.querySelectorAll('[data-testid=user-row]')]"
        f".some(r => r.dataset.username === {clerk!r} && r.innerText.includes('已停用'))"
    )
    assert page_log.problems() == {}
