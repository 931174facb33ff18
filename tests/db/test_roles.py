"""The role matrix: every write endpoint × no key, bad key, revoked, expired, a key in the
query string, viewer, editor, admin.  Refused callers get 401/403 with a stable code and
change nothing; callers with the role get past authorisation.  A write endpoint missing
from :data:`REQUIRED` fails the test: a new one must say which role it needs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.audit import is_write

REQUIRED = {
    "POST /api/v1/uploads": "editor",
    "POST /api/v1/uploads/inspect": "viewer",  # reads a file, writes nothing
    "POST /api/v1/edits": "editor",
    "POST /api/v1/rosters": "editor",
    "POST /api/v1/versions/{number}/restore": "admin",
    "GET /api/v1/keys": "admin",
    "POST /api/v1/keys": "admin",
    "POST /api/v1/keys/{key_id}/revoke": "admin",
    "POST /api/v1/keys/{key_id}/rotate": "admin",
    "GET /api/v1/audit": "admin",
    "GET /api/v1/users": "admin",
    "POST /api/v1/users": "admin",
    "PATCH /api/v1/users/{user_id}": "admin",
    **{
        f"{method} /api/v1/{layer}{suffix}": "editor"
        for layer in ("centres", "cameras")  # buildings come from uploads only
        for method, suffix in (
            ("POST", ""),
            ("PUT", "/{key}"),
            ("PATCH", "/{key}"),
            ("DELETE", "/{key}"),
        )
    },
}
"""Each write endpoint (and the admin reads) and the least role it needs."""
ROLES = ("viewer", "editor", "admin")
TABLES = ("boundary_versions", "regions", "uploads", "centres", "cameras", "addresses")
PATH_VALUES = {"{number}": "1", "{key_id}": "999999", "{key}": "999999", "{user_id}": "999999"}


def _fingerprint(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        counts = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}
        counts["keys"] = conn.execute(
            text("SELECT id, revoked_at, rotated_at, key_hash FROM api_keys ORDER BY id")
        ).all()
        counts["audit"] = conn.scalar(text("SELECT count(*) FROM audit_log"))
    return counts


def _send(client: TestClient, endpoint: str, headers: dict[str, str], query: str = "") -> Any:
    method, path = endpoint.split(" ", 1)
    for name, value in PATH_VALUES.items():
        path = path.replace(name, value)
    if method == "POST" and path == "/api/v1/uploads":
        return client.post(path + query, files={"nothing": ("x.txt", b"")}, headers=headers)
    body = {} if method in ("POST", "PUT", "PATCH") and "/revoke" not in path else None
    return client.request(method, path + query, json=body, headers=headers)


def test_the_table_names_every_write_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    writes = {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method in operations
        if is_write(method.upper(), path)
    }
    assert writes == {e for e in REQUIRED if not e.startswith("GET")}
    for endpoint in REQUIRED:  # and the document says they need a key
        method, path = endpoint.split(" ", 1)
        assert paths[path][method.lower()].get("security"), endpoint


def test_role_matrix(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    keys = {role: make_key(role) for role in ROLES}
    revoked, expired = make_key("admin"), make_key("admin")
    with fresh_engine.begin() as conn:
        for key, change in ((revoked, "revoked_at = now()"), (expired, "expires_at = now()")):
            conn.execute(
                text(f"UPDATE api_keys SET {change} WHERE key_hash = :h"),
                {"h": hashlib.sha256(key.encode()).hexdigest()},
            )
    refusals = {
        "no key": ({}, "", "auth_required"),
        "bad key": ({"Authorization": "Bearer gm_not-a-key"}, "", "invalid_api_key"),
        "revoked": ({"Authorization": f"Bearer {revoked}"}, "", "invalid_api_key"),
        "expired": ({"Authorization": f"Bearer {expired}"}, "", "api_key_expired"),
        "key in the query": ({}, f"?key={keys['admin']}", "auth_required"),
    }
    before = _fingerprint(fresh_engine)
    problems = []
    for endpoint, required in sorted(REQUIRED.items()):
        for who, (headers, query, code) in refusals.items():
            answer = _send(fresh_client, endpoint, headers, query)
            if (answer.status_code, answer.json().get("code")) != (401, code):
                problems.append((endpoint, who, answer.status_code, answer.text[:120]))
        for role in ROLES:
            answer = _send(fresh_client, endpoint, {"Authorization": f"Bearer {keys[role]}"})
            allowed = ROLES.index(role) >= ROLES.index(required)
            if allowed and answer.status_code in (401, 403):
                problems.append((endpoint, role, answer.status_code, answer.text[:120]))
            if not allowed and (answer.status_code, answer.json().get("code")) != (
                403,
                "insufficient_role",
            ):
                problems.append((endpoint, role, answer.status_code, answer.text[:120]))
    assert problems == []
    after = _fingerprint(fresh_engine)
    assert after == before, "no request of the matrix changed anything"
