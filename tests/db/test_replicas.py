"""Reads on replicas never older than the current version (gis.store.replicas, gis.store.pool)
and the version fence of nodes on several machines (gis.store.watch).

A replica behind its primary is played by a second database holding the primary's earlier
state (the demo at version 1 while the primary is at version 2): to a reader that is all a
lagging standby is.  An unreachable replica is a port nothing listens on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import OperationalError

from api.app import create_app
from api.deps import get_connection
from gis.query.lookup import write_index
from gis.settings import Settings
from gis.store.db import make_engine
from gis.store.pool import ReadPool, ReadPools
from gis.store.replicas import ReadEngines
from gis.store.versions import CURRENT_VERSION_SQL
from gis.store.watch import VersionWatch

from support import free_port, renamed_grid_file, state, upload

NEW_VERSION = (
    "INSERT INTO boundary_versions (number, author, action, restored_from) "
    "VALUES (2, 'test', 'restore', 1)"
)
"""Version 2 committed on the primary with no NOTIFY and no board: a commit made on another
machine, its notice not here yet."""

WHICH = "SELECT current_database()"


@pytest.fixture
def behind(db_url: str) -> Iterator[Engine]:
    """The "replica": the shared demo database, at version 1."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def unreachable(url: str) -> str:
    return make_url(url).set(port=free_port()).render_as_string(hide_password=False)


def test_a_read_goes_to_a_replica_only_if_it_has_the_wanted_version(
    fresh_engine: Engine, behind: Engine, db_url: str
) -> None:
    with fresh_engine.begin() as conn:
        conn.execute(text(NEW_VERSION))
    primary_name = fresh_engine.url.database
    dead = make_engine(unreachable(db_url))
    reads = ReadEngines(fresh_engine, [dead, behind])
    try:
        served = []
        for wanted in (1, 2, 1, None, 2):
            with reads.connect(wanted) as conn:
                served.append(conn.scalar(text(WHICH)))
        replica = behind.url.database
        assert served == [replica, primary_name, replica, replica, primary_name]
        with reads.connect(1) as conn:  # a replica connection that has shown version 1 …
            conn.scalar(text(WHICH))
        with behind.begin() as conn:  # … and then replays version 2 is used for it
            conn.execute(text(NEW_VERSION))
        try:
            with reads.connect(2) as conn:
                assert conn.scalar(text(WHICH)) == replica
                assert conn.scalar(text(CURRENT_VERSION_SQL)) == 2
        finally:
            with behind.begin() as conn:
                conn.execute(text("DELETE FROM boundary_versions WHERE number = 2"))
    finally:
        dead.dispose()


def test_tile_reads_pass_a_replica_that_is_behind_or_down(
    fresh_engine: Engine, fresh_db_url: str, db_url: str
) -> None:
    with fresh_engine.begin() as conn:
        conn.execute(text(NEW_VERSION))

    async def main() -> list[str]:
        pools = ReadPools(
            ReadPool(fresh_db_url, size=2, application_name="test primary"),
            [
                ReadPool(unreachable(db_url), size=2, application_name="test down", timeout=1),
                ReadPool(db_url, size=2, application_name="test behind"),
            ],
        )
        try:
            return [
                (await pools.fetchone(WHICH, {}, version=wanted))[0]
                for wanted in (1, 2, None, 2, 1)
            ]
        finally:
            await pools.close()

    replica, primary = make_url(db_url).database, make_url(fresh_db_url).database
    assert asyncio.run(main()) == [replica, primary, replica, primary, replica]


@pytest.mark.parametrize("fence", [False, True])
def test_a_fenced_watch_sees_a_version_committed_elsewhere(
    fresh_engine: Engine, fresh_db_url: str, fence: bool
) -> None:
    """Without the fence a version committed with no notice and no board (another machine's,
    its notice late) is not seen; with it, the very next call sees it."""

    async def main() -> tuple[int | None, int | None]:
        watch = VersionWatch(fresh_db_url, fence=fence)
        try:
            before = await watch.current()
            with fresh_engine.begin() as conn:
                conn.execute(text(NEW_VERSION))
            return before, await watch.current()
        finally:
            await watch.close()

    assert asyncio.run(main()) == (1, 2 if fence else 1)


def test_calls_arriving_together_share_the_primary_s_answers(
    fresh_engine: Engine, fresh_db_url: str
) -> None:
    """200 calls at once, after a version committed elsewhere: each sees it, and they cost
    one or two queries of the primary, not 200."""

    async def main() -> tuple[list[int | None], int]:
        watch = VersionWatch(fresh_db_url, fence=True)
        try:
            await watch.current()
            with fresh_engine.begin() as conn:
                conn.execute(text(NEW_VERSION))
            asked = watch.probes
            answers = await asyncio.gather(*(watch.current() for _ in range(200)))
            return answers, watch.probes - asked
        finally:
            await watch.close()

    answers, probes = asyncio.run(main())
    assert answers == [2] * 200
    assert 1 <= probes <= 2


def test_with_the_primary_down_the_fence_asks_a_replica(
    fresh_engine: Engine, fresh_db_url: str
) -> None:
    """A failover: the primary unreachable, the synchronous standby (which has every
    acknowledged version) answers the fence, and no call fails; with no replica either,
    the call fails as the database being unreachable."""
    with fresh_engine.begin() as conn:
        conn.execute(text(NEW_VERSION))
    down = unreachable(fresh_db_url)

    async def main(replicas: list[str]) -> int | None:
        watch = VersionWatch(down, fence=True, replica_urls=replicas, connect_timeout=1)
        try:
            return await watch.current()
        finally:
            await watch.close()

    assert asyncio.run(main([fresh_db_url])) == 2
    with pytest.raises(psycopg.OperationalError):
        asyncio.run(main([]))


def test_a_read_whose_server_left_after_its_answer_still_answers(
    fresh_engine: Engine, behind: Engine
) -> None:
    """A failover cuts a standby's sessions, maybe between a read's last query and its
    closing ROLLBACK: the request keeps its answer (it was a 500 once)."""
    request = SimpleNamespace(
        app=SimpleNamespace(
            state=SimpleNamespace(
                services=SimpleNamespace(reads=ReadEngines(fresh_engine, [behind]))
            )
        )
    )
    reading = get_connection(request, 1)  # type: ignore[arg-type]
    conn = next(reading)
    pid = conn.scalar(text("SELECT pg_backend_pid()"))
    with fresh_engine.connect() as other:
        assert other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(StopIteration):
        next(reading)  # closing the connection of a server gone
    with ReadEngines(fresh_engine, [behind]).connect(1) as again:
        assert again.scalar(text("SELECT 1")) == 1


def test_a_primary_that_refuses_writes_is_a_503_not_a_500(
    fresh_engine: Engine,
    fresh_db_url: str,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """Patroni hands the leader key over a moment before PostgreSQL is promoted, so the
    write port may lead to a server still in recovery, which refuses writes as read-only (a
    500 in CI's failover run).  Here the database is made read-only: reads answer, an upload
    gets 503 ``database_unavailable`` and nothing is written."""
    key = make_key("editor")
    path = renamed_grid_file(demo_grids, demo_grids["features"][0], tmp_path, "（只读）")
    with fresh_engine.connect() as conn:
        name = conn.scalar(text("SELECT current_database()"))
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        conn.commit()
    before = state(fresh_engine)
    with TestClient(create_app(Settings(database_url=fresh_db_url))) as client:
        lookup = client.get("/api/v1/lookup", params={"lon": 118.4, "lat": 40.1})
        committed = upload(client, path, key, level="grid", dry_run=False)
    assert lookup.status_code == 200
    assert (committed.status_code, committed.json()["code"]) == (503, "database_unavailable")
    assert state(fresh_engine) == before


def test_an_index_built_apart_refuses_a_replica_behind(db_url: str, tmp_path: Path) -> None:
    """A large version's index is built in a process of its own, which connects anew — through
    a replica's URL maybe to a standby that has not replayed the version: it refuses rather
    than write the version before under the new one's name."""
    target = tmp_path / "index"
    with pytest.raises(OperationalError, match="not replayed"):
        write_index(db_url, 2, target, {"version": 2})
    assert not target.exists()
