"""Signing in and out over HTTP (``api/routers/account.py``): the login form's double-submit
CSRF cookie, the session cookie's flags, ``next`` kept on this site only, the same 401 page
for an unknown name and a wrong password, throttled failures, the session's CSRF token on
forms and API writes, and a disabled user's session refused at once."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, text

from api.app import create_app
from api.deps import CSRF_HEADER, SESSION_COOKIE
from api.routers.account import LOGIN_CSRF_COOKIE
from api.schemas import UserAnswer, UserList
from gis.access.auth import csrf_token
from gis.settings import Settings

from support import TEST_PASSWORD, make_user

PAGE = {"Accept": "text/html"}


def _login(client: TestClient, username: str, password: str, next: str = "/workbench") -> Response:
    """GET the form (its token cookie), then POST it as a browser would."""
    form = client.get("/login", params={"next": next}, headers=PAGE)
    assert form.status_code == 200
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": client.cookies[LOGIN_CSRF_COOKIE],
            "next": next,
        },
        headers=PAGE,
        follow_redirects=False,
    )


def _cookie_line(response: Response, name: str) -> str:
    return next(v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}="))


@pytest.fixture
def https_client(fresh_db_url: str) -> Iterator[TestClient]:
    """The app on this test's database, reached over https (cookies get Secure)."""
    app = create_app(Settings(database_url=fresh_db_url))
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def test_sign_in_and_out(https_client: TestClient, fresh_engine: Engine) -> None:
    client = https_client
    make_user(fresh_engine, "王芳 <b>", "admin")
    form = client.get("/login?next=/workbench/versions", headers=PAGE)
    assert 'value="/workbench/versions"' in form.text and 'data-testid="login-submit"' in form.text
    flags = _cookie_line(form, LOGIN_CSRF_COOKIE).lower()
    assert "httponly" in flags and "samesite=strict" in flags and "secure" in flags
    assert form.headers["cache-control"] == "no-store"

    signed = _login(client, "王芳 <b>", TEST_PASSWORD, "/workbench/versions")
    assert (signed.status_code, signed.headers["location"]) == (303, "/workbench/versions")
    flags = _cookie_line(signed, SESSION_COOKIE).lower()
    assert "httponly" in flags and "samesite=strict" in flags and "secure" in flags
    assert "path=/" in flags and "max-age=28800" in flags
    start = client.get("/workbench", headers=PAGE)
    assert start.status_code == 200
    assert "王芳 &lt;b&gt;" in start.text and "王芳 <b>" not in start.text  # escaped

    again = client.get("/login?next=/workbench/upload", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/workbench/upload")

    session = client.cookies[SESSION_COOKIE]
    refused = client.post("/logout", data={}, headers=PAGE, follow_redirects=False)
    assert (refused.status_code, "csrf_failed" in refused.text) == (403, True)
    assert client.get("/workbench", headers=PAGE, follow_redirects=False).status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf_token(session)}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert SESSION_COOKIE not in client.cookies
    with fresh_engine.connect() as conn:
        log = conn.execute(text("SELECT actor, action, target FROM audit_log ORDER BY id")).all()
    assert [tuple(e) for e in log] == [
        ("王芳 <b>", "POST /login", "user 1"),
        ("王芳 <b>", "POST /logout", "user 1"),
    ]
    client.cookies.set(SESSION_COOKIE, session)  # a copied cookie is worth nothing now
    gone = client.get("/workbench", headers=PAGE, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""],
)
def test_next_stays_on_this_site(
    fresh_client: TestClient, fresh_engine: Engine, target: str
) -> None:
    make_user(fresh_engine, "李娜", "viewer")
    signed = _login(fresh_client, "李娜", TEST_PASSWORD, target)
    assert (signed.status_code, signed.headers["location"]) == (303, "/workbench")


def test_failed_sign_ins(fresh_client: TestClient, fresh_engine: Engine) -> None:
    client = fresh_client
    make_user(fresh_engine, "张伟", "editor")
    wrong = _login(client, "张伟", "not the password")
    unknown = _login(client, "nobody", TEST_PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert SESSION_COOKIE not in client.cookies
    for page in (wrong, unknown):
        assert "用户名或密码不正确" in page.text and 'data-testid="login-username"' in page.text
        assert TEST_PASSWORD not in page.text
    tokenless = [re.sub(r'name="csrf_token" value="[^"]*"', "", p.text) for p in (wrong, unknown)]
    assert tokenless[0] == tokenless[1], "the same page, but for its fresh form token"

    forged = client.post(
        "/login",
        data={"username": "张伟", "password": TEST_PASSWORD, "csrf_token": "forged"},
        headers=PAGE,
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "csrf_failed" in forged.text
    client.cookies.delete(LOGIN_CSRF_COOKIE, path="/login")
    missing = client.post(
        "/login", data={"username": "张伟", "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert (missing.status_code, missing.json()["code"]) == (403, "csrf_failed")

    for _ in range(4):  # five failures a minute per address and username, one spent above
        assert _login(client, "张伟", "not the password").status_code == 401
    throttled = _login(client, "张伟", TEST_PASSWORD)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert _login(client, "nobody", "guess guess guess").status_code == 401  # its own bucket


def test_session_writes_need_the_csrf_header(
    fresh_client: TestClient, fresh_engine: Engine
) -> None:
    client = fresh_client
    admin = make_user(fresh_engine, "admin", "admin")
    assert _login(client, "admin", TEST_PASSWORD).status_code == 303
    token = csrf_token(client.cookies[SESSION_COOKIE])
    new = {"username": "吴霞", "password": TEST_PASSWORD, "role": "editor"}

    refused = client.post("/api/v1/users", json=new)
    assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
    wrong = client.post("/api/v1/users", json=new, headers={CSRF_HEADER: "x" * 64})
    assert wrong.json()["code"] == "csrf_failed"
    listed = UserList.model_validate(client.get("/api/v1/users").json())
    assert [u.username for u in listed.users] == ["admin"]

    made = client.post("/api/v1/users", json=new, headers={CSRF_HEADER: token})
    assert made.status_code == 201, made.text
    user = UserAnswer.model_validate(made.json()).model_dump()  # as the document says
    assert (user["username"], user["role"], user["scope"], user["status"]) == (
        "吴霞",
        "editor",
        None,
        "active",
    )
    assert "password" not in made.text and "hash" not in made.text

    own = client.patch(
        f"/api/v1/users/{admin.id}", json={"disabled": True}, headers={CSRF_HEADER: token}
    )
    assert (own.status_code, own.json()["code"]) == (422, "own_account")


def test_disabled_users_session_is_refused(
    fresh_db_url: str, fresh_client: TestClient, fresh_engine: Engine
) -> None:
    make_user(fresh_engine, "admin", "admin")
    clerk = make_user(fresh_engine, "孙丽", "editor")
    admin = fresh_client
    assert _login(admin, "admin", TEST_PASSWORD).status_code == 303
    headers = {CSRF_HEADER: csrf_token(admin.cookies[SESSION_COOKIE])}
    with TestClient(create_app(Settings(database_url=fresh_db_url))) as browser:
        assert _login(browser, "孙丽", TEST_PASSWORD).status_code == 303
        assert browser.get("/workbench", headers=PAGE).status_code == 200

        changed = admin.patch(
            f"/api/v1/users/{clerk.id}", json={"role": "viewer"}, headers=headers
        ).json()
        assert (changed["role"], changed["scope"]) == ("viewer", None)
        assert "查看" in browser.get("/workbench", headers=PAGE).text  # the new role at once

        disabled = admin.patch(
            f"/api/v1/users/{clerk.id}", json={"disabled": True}, headers=headers
        )
        assert disabled.json()["status"] == "disabled"
        after = browser.get("/workbench", headers=PAGE, follow_redirects=False)
        assert after.status_code == 303 and after.headers["location"].startswith("/login")
        assert browser.get("/api/v1/users").json()["code"] == "auth_required"
        assert _login(browser, "孙丽", TEST_PASSWORD).status_code == 401

        admin.patch(f"/api/v1/users/{clerk.id}", json={"disabled": False}, headers=headers)
        assert _login(browser, "孙丽", TEST_PASSWORD).status_code == 303
