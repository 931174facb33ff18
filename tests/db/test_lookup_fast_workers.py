"""Two uvicorn workers answer a key from their own caches, and a revocation reaches both at
their very next request (the key board, ``gis.access.auth.KeyCache``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import Engine, text

from gis.access.auth import keys_board

from support import serve_app

pytestmark = pytest.mark.db

WORKERS = 2
QUERY = {"lon": "118.3350", "lat": "40.1550"}


def _mappers(path: Path) -> set[int]:
    """Processes that map ``path`` (each worker's key cache maps the key board)."""
    found = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            if str(path) in maps.read_text():
                found.add(int(maps.parent.name))
        except OSError:
            continue
    return found


def test_a_revoked_key_is_refused_by_every_worker_at_once(
    fresh_db_url: str, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    viewer = {"authorization": f"Bearer {make_key('viewer')}"}
    admin = {"authorization": f"Bearer {make_key('admin')}"}
    with fresh_engine.connect() as conn:
        board = keys_board(conn)
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log", workers=WORKERS) as base:
        url = f"{base}/api/v1/lookup"
        for _ in range(400):  # a new connection each time, until both workers hold the key
            answer = httpx.get(url, params=QUERY, headers=viewer)
            assert answer.status_code == 200 and "*" in answer.json()["grid"]["grid_worker"]
            if len(_mappers(board)) >= WORKERS:
                break
        else:
            raise AssertionError(f"the key board mapped by {_mappers(board)} only")
        with fresh_engine.connect() as conn:
            key_id = conn.scalar(text("SELECT id FROM api_keys WHERE role = 'viewer'"))
        revoked = httpx.post(f"{base}/api/v1/keys/{key_id}/revoke", headers=admin)
        assert revoked.status_code == 200, revoked.text
        answers = [httpx.get(url, params=QUERY, headers=viewer) for _ in range(40)]
        assert {(a.status_code, a.json()["code"]) for a in answers} == {(401, "invalid_api_key")}
        assert httpx.get(url, params=QUERY).status_code == 200, "anonymous callers still answered"
