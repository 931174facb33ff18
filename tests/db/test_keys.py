"""``gridmap keys list`` and ``gridmap keys revoke``: no secret is ever printed, and a
revoked key is refused by the HTTP API from the next request on."""

from __future__ import annotations

import hashlib
import os
import subprocess

from fastapi.testclient import TestClient

from support import GRIDMAP


def _keys(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    return subprocess.run([GRIDMAP, "keys", *args], env=env, capture_output=True, text=True)


def test_list_and_revoke_keys(fresh_db_url: str, fresh_client: TestClient) -> None:
    created = {}
    for role, name in (("viewer", "大屏 <dashboard>"), ("editor", "区网格中心")):
        done = _keys("create", "--role", role, "--name", name, db_url=fresh_db_url)
        assert done.returncode == 0, done.stderr
        created[name] = done.stdout.strip()

    listed = _keys("list", db_url=fresh_db_url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"1", "2"}, listed.stdout
    assert "viewer" in rows["1"] and "大屏 <dashboard>" in rows["1"] and "active" in rows["1"]
    assert "editor" in rows["2"] and "区网格中心" in rows["2"]
    for key in created.values():
        assert key not in listed.stdout
        assert key[3:10] not in listed.stdout, "not even the key's prefix"
        assert hashlib.sha256(key.encode()).hexdigest() not in listed.stdout

    viewer = {"Authorization": f"Bearer {created['大屏 <dashboard>']}"}
    editor = {"Authorization": f"Bearer {created['区网格中心']}"}
    assert fresh_client.get("/api/v1/uploads", headers=viewer).status_code == 200

    revoked = _keys("revoke", "1", db_url=fresh_db_url)
    assert revoked.returncode == 0, revoked.stderr
    assert "已吊销" in revoked.stdout
    refused = fresh_client.get("/api/v1/uploads", headers=viewer)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_api_key")
    assert fresh_client.get("/api/v1/uploads", headers=editor).status_code == 200

    listed = _keys("list", db_url=fresh_db_url).stdout.splitlines()
    assert "revoked" in listed[1] and "active" in listed[2]

    again = _keys("revoke", "1", db_url=fresh_db_url)
    assert again.returncode == 1 and "key_already_revoked" in again.stderr
    missing = _keys("revoke", "99", db_url=fresh_db_url)
    assert missing.returncode == 1 and "key_not_found" in missing.stderr
