"""Keys: expiry, rotation, last use, the admin API; sessions: a page's ``?key=`` becomes an
HttpOnly SameSite=Strict cookie and a clean URL; the access log never holds a key."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gis.settings import Settings

from browser import PageLog
from support import GRIDMAP, serve_app


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    return subprocess.run([GRIDMAP, *args], env=env, capture_output=True, text=True)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_cli_expiry_and_rotation(
    fresh_db_url: str, fresh_client: TestClient, fresh_engine: Engine
) -> None:
    made = _cli("keys", "create", "--role", "viewer", "--expires", "30d", db_url=fresh_db_url)
    assert made.returncode == 0, made.stderr
    old = made.stdout.strip()
    assert fresh_client.get("/api/v1/uploads", headers=_bearer(old)).status_code == 200

    rotated = _cli("keys", "rotate", "1", db_url=fresh_db_url)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("gm_") and new != old
    refused = fresh_client.get("/api/v1/uploads", headers=_bearer(old))
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_api_key")
    assert fresh_client.get("/api/v1/uploads", headers=_bearer(new)).status_code == 200

    listed = _cli("keys", "list", db_url=fresh_db_url).stdout
    row = listed.splitlines()[1]
    assert "active" in row and row.count("2026-") + row.count("2027-") == 3, listed
    assert new not in listed and old not in listed

    with fresh_engine.begin() as conn:  # its 30 days are over
        conn.execute(text("UPDATE api_keys SET expires_at = now() - interval '1 second'"))
    expired = fresh_client.get("/api/v1/uploads", headers=_bearer(new))
    assert (expired.status_code, expired.json()["code"]) == (401, "api_key_expired")
    assert "expired" in _cli("keys", "list", db_url=fresh_db_url).stdout

    bad = _cli("keys", "create", "--role", "viewer", "--expires", "forever", db_url=fresh_db_url)
    assert bad.returncode == 1 and "invalid_expiry" in bad.stderr
    revoked = _cli("keys", "revoke", "1", db_url=fresh_db_url)
    assert revoked.returncode == 0
    again = _cli("keys", "rotate", "1", db_url=fresh_db_url)
    assert again.returncode == 1 and "key_already_revoked" in again.stderr


def test_last_use_is_written_at_most_once_a_minute(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("viewer")

    def last_used() -> object:
        with fresh_engine.connect() as conn:
            return conn.scalar(text("SELECT last_used_at FROM api_keys"))

    assert last_used() is None
    fresh_client.get("/api/v1/uploads", headers=_bearer(key))
    first = last_used()
    assert first is not None
    for _ in range(5):
        fresh_client.get("/api/v1/uploads", headers=_bearer(key))
    assert last_used() == first, "not written again within the minute"
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET last_used_at = now() - interval '61 seconds'"))
    fresh_client.get("/api/v1/uploads", headers=_bearer(key))
    assert last_used() > first


def test_keys_over_http_for_admins(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    admin = _bearer(make_key("admin"))
    for role in ("viewer", "editor"):
        refused = fresh_client.get("/api/v1/keys", headers=_bearer(make_key(role)))
        assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_role")
    assert fresh_client.get("/api/v1/keys").status_code == 401

    made = fresh_client.post(
        "/api/v1/keys", json={"name": "大屏", "role": "viewer", "expires": "12h"}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    new = made.json()
    assert new["status"] == "active" and new["expires_at"] and new["key"].startswith("gm_")
    assert fresh_client.get("/api/v1/uploads", headers=_bearer(new["key"])).status_code == 200

    listed = fresh_client.get("/api/v1/keys", headers=admin)
    assert listed.status_code == 200
    body = listed.text
    assert new["key"] not in body and hashlib.sha256(new["key"].encode()).hexdigest() not in body
    mine = next(k for k in listed.json()["keys"] if k["id"] == new["id"])
    assert mine["last_used_at"] and mine["role"] == "viewer" and "key" not in mine

    rotated = fresh_client.post(f"/api/v1/keys/{new['id']}/rotate", headers=admin).json()
    assert rotated["key"] != new["key"] and rotated["rotated_at"]
    assert fresh_client.get("/api/v1/uploads", headers=_bearer(new["key"])).status_code == 401
    revoked = fresh_client.post(f"/api/v1/keys/{new['id']}/revoke", headers=admin)
    assert revoked.json()["status"] == "revoked"
    assert fresh_client.get("/api/v1/uploads", headers=_bearer(rotated["key"])).status_code == 401

    bad = fresh_client.post(
        "/api/v1/keys", json={"name": "x", "role": "viewer", "expires": "-1d"}, headers=admin
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_expiry")
    missing = fresh_client.post("/api/v1/keys/999/revoke", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "key_not_found")


def test_a_page_key_becomes_a_session_cookie(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("viewer")
    answer = fresh_client.get(
        "/maps", params={"basemap": "none", "key": key}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/maps?basemap=none", "the key is gone from the URL"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("gridmap_session=") and key not in cookie
    for part in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=28800"):
        assert part.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower(), "plain http: a Secure cookie would never come back"
    assert answer.headers["cache-control"] == "no-store"

    # the session stands for the key on the API and on pages
    assert fresh_client.get("/api/v1/uploads").status_code == 200
    with fresh_engine.connect() as conn:
        stored = conn.scalar(text("SELECT token_hash FROM sessions"))
    token = cookie.split(";")[0].split("=", 1)[1]
    assert stored == hashlib.sha256(token.encode()).hexdigest() != token

    # a bad key: 401, no cookie
    fresh_client.cookies.clear()
    bad = fresh_client.get("/maps", params={"key": "gm_nope"}, follow_redirects=False)
    assert (bad.status_code, "set-cookie" in bad.headers) == (401, False)

    # revoking the key ends its sessions
    fresh_client.cookies.set("gridmap_session", token)
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET revoked_at = now()"))
    refused = fresh_client.get("/api/v1/uploads")
    assert (refused.status_code, refused.json()["code"]) == (401, "auth_required")


def test_the_cookie_is_secure_over_https(fresh_db_url: str, make_key: Callable[[str], str]) -> None:
    key = make_key("viewer")
    settings = Settings(database_url=fresh_db_url, public_url="https://gridmap.example.gov.cn")
    with TestClient(create_app(settings)) as client:
        answer = client.get("/maps", params={"key": key}, follow_redirects=False)
    assert answer.status_code == 303
    assert "secure" in answer.headers["set-cookie"].lower()


def test_no_key_reaches_the_access_log_nor_a_script(
    fresh_db_url: str, make_key: Callable[[str], str], tmp_path: Path, page_log: PageLog
) -> None:
    """Through a real uvicorn: ``?key=`` on a page, on an API path, and Authorization; then in
    Chromium a page opened with ``?key=``: the address bar and ``document.cookie`` hold no
    secret."""
    admin, viewer = make_key("admin"), make_key("viewer")
    log = tmp_path / "uvicorn.log"
    with serve_app(fresh_db_url, log) as base:
        assert httpx.get(f"{base}/maps?key={admin}").status_code == 303
        httpx.get(f"{base}/api/v1/uploads?key={admin}&limit=5")
        assert httpx.get(f"{base}/api/v1/keys", headers=_bearer(admin)).status_code == 200
        page = page_log.page
        page.goto(f"{base}/?key={viewer}")
        assert page.url == f"{base}/"
        assert page.evaluate("document.cookie") == "", "HttpOnly: no script reads the session"
        assert viewer not in page.evaluate("JSON.stringify(history.state) + location.href")
    written = log.read_text(errors="replace")
    assert "GET /maps?key=*** HTTP/1.1" in written, written[-2000:]
    assert "GET /api/v1/uploads?key=***&limit=5" in written
    for secret in (admin, viewer, admin[3:20], viewer[3:20]):
        assert secret not in written
    assert "Bearer" not in written and "authorization" not in written.lower()
