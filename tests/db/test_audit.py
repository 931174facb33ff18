"""The audit log: every write — upload dry run and commit, restore, layer create, update and
delete, key changes over HTTP and the CLI — with who, when, from where and what changed;
reads and refusals leave nothing; admins read it (HTTP and ``gridmap audit``); the table
is append-only for the app's database role."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from support import GRIDMAP, upload, write_layer

COMMUNITY = "130227001001"
CENTRE = {"type": "Point", "coordinates": [118.3156645, 40.1488890]}


def _grids_file(demo_grids: dict, tmp_path: Path) -> Path:
    """The community's grids with one household count changed: an upload that modifies one."""
    features = [f for f in demo_grids["features"] if f["properties"]["parent_code"] == COMMUNITY]
    rows = [
        {k: f["properties"][k] for k in ("code", "name", "parent_code", "households")}
        for f in features
    ]
    rows[0]["households"] = 399
    return write_layer(tmp_path / "grids.geojson", rows, [shape(f["geometry"]) for f in features])


def test_every_write_is_recorded(
    fresh_client: TestClient,
    fresh_db_url: str,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    editor, admin = make_key("editor"), make_key("admin")
    as_editor, as_admin = (
        {"Authorization": f"Bearer {editor}"},
        {"Authorization": f"Bearer {admin}"},
    )
    viewer = {"Authorization": f"Bearer {make_key('viewer')}"}
    path = _grids_file(demo_grids, tmp_path)

    # reads and refusals: no entry
    fresh_client.get("/api/v1/regions", headers=as_admin)
    fresh_client.post("/api/v1/lookup/batch", json={"points": [{"lon": 118.3, "lat": 40.1}]})
    assert fresh_client.post("/api/v1/centres", json={}, headers=viewer).status_code == 403
    assert fresh_client.get("/api/v1/audit", headers=as_admin).json()["numberMatched"] == 0

    assert upload(fresh_client, path, editor, level="grid").status_code == 200
    committed = upload(fresh_client, path, editor, level="grid", dry_run=False)
    assert committed.status_code == 201, committed.text
    feature = {"type": "Feature", "geometry": CENTRE, "properties": {"name": "站", "level": "home"}}
    created = fresh_client.post("/api/v1/centres", json=feature, headers=as_editor).json()
    fid = created["id"]
    fresh_client.patch(
        f"/api/v1/centres/{fid}", json={"properties": {"radius_m": 250}}, headers=as_editor
    )
    assert fresh_client.delete(f"/api/v1/centres/{fid}", headers=as_editor).status_code == 204
    restored = fresh_client.post("/api/v1/versions/1/restore", headers=as_admin)
    assert restored.status_code == 201
    key = fresh_client.post(
        "/api/v1/keys", json={"name": "大屏", "role": "viewer"}, headers=as_admin
    ).json()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    cli = subprocess.run([GRIDMAP, "keys", "revoke", str(key["id"])], env=env)
    assert cli.returncode == 0

    for role in ("viewer", "editor"):
        refused = fresh_client.get(
            "/api/v1/audit", headers={"Authorization": f"Bearer {make_key(role)}"}
        )
        assert refused.status_code == 403
    log = fresh_client.get("/api/v1/audit", headers=as_admin).json()
    entries = list(reversed(log["entries"]))
    assert [e["action"] for e in entries] == [
        "POST /api/v1/uploads",
        "POST /api/v1/uploads",
        "POST /api/v1/centres",
        "PATCH /api/v1/centres/{key}",
        "DELETE /api/v1/centres/{key}",
        "POST /api/v1/versions/{number}/restore",
        "POST /api/v1/keys",
        "gridmap keys revoke",
    ]
    dry, commit, create, patch, delete, restore, made, revoked = entries
    assert {e["actor"] for e in (dry, commit, create, patch, delete)} == {"test-editor"}
    assert restore["actor"] == made["actor"] == "test-admin" and restore["key_id"]
    assert revoked["actor"].endswith("@cli") and revoked["address"] == "cli"
    assert dry["address"] == "testclient" and dry["status"] == 200
    assert dry["details"]["status"] == "dry_run" and dry["details"]["version"] is None
    assert commit["details"]["version"] == 2 and commit["status"] == 201
    assert commit["details"]["counts"]["changes"]["modified"] != []
    assert create["details"]["id"] == fid and patch["target"] == f"/api/v1/centres/{fid}"
    assert delete["status"] == 204
    assert restore["details"] == restored.json() | {"version": 3}
    assert made["details"] == {
        "id": key["id"],
        "name": "大屏",
        "role": "viewer",
        "status": "active",
    }
    assert key["key"] not in str(log), "a new key's secret is never recorded"

    printed = subprocess.run([GRIDMAP, "audit"], env=env, capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    assert "POST /api/v1/versions/{number}/restore" in printed.stdout
    assert "test-admin" in printed.stdout and "8 of 8" in printed.stdout


def test_the_audit_log_is_append_only(fresh_engine: Engine) -> None:
    with fresh_engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (actor, action) VALUES ('x', 'test')"))
    for statement in (
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), fresh_engine.begin() as conn:
            conn.execute(text(statement))
    with fresh_engine.connect() as conn:
        assert conn.execute(text("SELECT actor, action FROM audit_log")).all() == [("x", "test")]
