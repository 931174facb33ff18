"""The versions board (gis.store.board): every committer publishes, every watch reads it, so a
worker of this machine never answers from a version older than one committed here — even
before the NOTIFY reaches it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.store.board import Board, board_path, connection_board, publish
from gis.store.db import drop_database
from gis.store.watch import VersionWatch

from support import GRIDMAP, upload, write_layer

COMMUNITY = "130227001002"  # 清泉里社区


def _board(engine: Engine) -> Path:
    with engine.connect() as conn:
        return connection_board(conn)


def _posted(path: Path) -> int:
    board = Board(path)
    try:
        return board.read()
    finally:
        board.close()


def test_publish_raises_and_never_lowers(tmp_path: Path) -> None:
    path = tmp_path / "board"
    board = Board(path)
    try:
        assert board.read() == 0
        publish(path, 3)
        assert board.read() == 3, "the mapping sees the write"
        publish(path, 2)
        publish(path, None)
        assert board.read() == 3
    finally:
        board.close()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the file away")
def test_a_board_of_another_user_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "board"
    path.write_bytes((7).to_bytes(8, "little"))
    os.chown(path, 65534, 65534)  # nobody
    publish(path, 9)  # refused, logged
    assert path.read_bytes() == (7).to_bytes(8, "little")
    os.setresuid(0, 65534, 0)
    try:
        with pytest.raises(PermissionError):
            Board(path)
    finally:
        os.setresuid(0, 0, 0)


def test_every_commit_path_publishes(
    fresh_client: TestClient,
    fresh_engine: Engine,
    fresh_db_url: str,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """An upload, an API restore and a CLI restore (another process): each new version is
    on the board as soon as its answer is; a dry run publishes nothing."""
    path = _board(fresh_engine)
    grids = [f for f in demo_grids["features"] if f["properties"]["parent_code"] == COMMUNITY]
    rows = [
        {"code": p["code"], "name": p["name"] + "（改）", "parent_code": COMMUNITY}
        for p in (f["properties"] for f in grids)
    ]
    layer = write_layer(tmp_path / "grids.geojson", rows, [shape(f["geometry"]) for f in grids])
    editor = make_key("editor")
    dry = upload(fresh_client, layer, editor, level="grid", dry_run=True)
    assert dry.status_code == 200, dry.text
    assert _posted(path) == 0
    committed = upload(fresh_client, layer, editor, level="grid", dry_run=False)
    assert committed.status_code == 201, committed.text
    assert _posted(path) == committed.json()["version"] == 2
    restored = fresh_client.post(
        "/api/v1/versions/1/restore", headers={"Authorization": f"Bearer {make_key('admin')}"}
    )
    assert restored.status_code == 201, restored.text
    assert _posted(path) == restored.json()["version"] == 3
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    subprocess.run([GRIDMAP, "versions", "restore", "2"], env=env, check=True, capture_output=True)
    assert _posted(path) == 4
    drop_database(fresh_db_url)
    assert not path.exists(), "dropping the database drops its board"


def test_a_watch_sees_the_board_before_the_notice(fresh_engine: Engine, fresh_db_url: str) -> None:
    """A version committed with no NOTIFY (as if its notice were late) is answered as soon
    as it is published on this machine's board; before that it is not."""

    async def main() -> tuple[int | None, int | None, int | None]:
        watch = VersionWatch(fresh_db_url)
        try:
            before = await watch.current()
            with fresh_engine.begin() as conn:  # a version committed, nothing published yet
                number = conn.scalar(
                    text(
                        "INSERT INTO boundary_versions (number, author, action, restored_from) "
                        "VALUES (2, 'test', 'restore', 1) RETURNING number"
                    )
                )
                path = connection_board(conn)
            await asyncio.sleep(0.3)  # a NOTIFY would have arrived by now
            unpublished = await watch.current()
            publish(path, number)
            return before, unpublished, await watch.current()
        finally:
            await watch.close()

    before, unpublished, after = asyncio.run(main())
    assert (before, unpublished, after) == (1, 1, 2)


def test_a_board_ahead_of_its_database_is_ignored(fresh_engine: Engine, fresh_db_url: str) -> None:
    with fresh_engine.connect() as conn:
        oid = conn.scalar(text("SELECT oid FROM pg_database WHERE datname = current_database()"))
    publish(board_path(fresh_db_url, oid), 99)  # e.g. left by a database of the same OID

    async def main() -> int | None:
        watch = VersionWatch(fresh_db_url)
        try:
            return await watch.current()
        finally:
            await watch.close()

    assert asyncio.run(main()) == 1
