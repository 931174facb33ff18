"""gis.store.pool.ReadPool on a real PostgreSQL: reuse, a dropped connection, the size limit."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import Engine, text

from gis.store.pool import ReadPool

from support import wait_until


def _backends(engine: Engine, name: str) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"), {"n": name}
            )
        )


def test_connections_are_reused_and_bytea_comes_raw(db_url: str, engine: Engine) -> None:
    async def main() -> tuple[list, list[int]]:
        pool = ReadPool(db_url, size=2, application_name="gridmap test reuse")
        try:
            rows = [
                await pool.fetchone("SELECT %(b)s::bytea, pg_backend_pid()", {"b": b"\x00\xff"}),
                await pool.fetchone(
                    "SELECT %(b)s::bytea, pg_backend_pid()", {"b": b"\x00\xff"}, binary=True
                ),
                await pool.fetchone("SELECT 1 WHERE false", {}),
            ]
            return rows, _backends(engine, "gridmap test reuse")
        finally:
            await pool.close()

    rows, backends = asyncio.run(main())
    assert rows[0][0] == rows[1][0] == b"\x00\xff"
    assert rows[0][1] == rows[1][1], "one connection served both"
    assert rows[2] is None
    assert backends == [rows[0][1]]
    assert _backends(engine, "gridmap test reuse") == [], "close() closed it"


def test_a_connection_the_server_dropped_is_replaced(db_url: str, engine: Engine) -> None:
    """As after a database restart: the idle connections are dead; the query still answers,
    on a new connection, and the dead ones are gone."""

    async def main() -> tuple[int, int, int]:
        pool = ReadPool(db_url, size=3, application_name="gridmap test dropped")
        try:
            first = await asyncio.gather(
                *(pool.fetchone("SELECT pg_backend_pid(), pg_sleep(0.1)", {}) for _ in range(3))
            )
            assert len({row[0] for row in first}) == 3
            with engine.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'gridmap test dropped'"
                    )
                )
            wait_until(lambda: not _backends(engine, "gridmap test dropped"), "the backends to end")
            (pid,) = await pool.fetchone("SELECT pg_backend_pid()", {})
            (again,) = await pool.fetchone("SELECT pg_backend_pid()", {})
            return pid, again, len(_backends(engine, "gridmap test dropped"))
        finally:
            await pool.close()

    pid, again, alive = asyncio.run(main())
    assert pid == again
    assert alive == 1


def test_at_most_size_connections_then_a_timeout(db_url: str, engine: Engine) -> None:
    async def main() -> tuple[list[float], int]:
        pool = ReadPool(db_url, size=2, application_name="gridmap test size", timeout=0.3)
        try:
            slow = [
                asyncio.create_task(pool.fetchone("SELECT pg_sleep(1.5)", {})) for _ in range(2)
            ]
            await asyncio.to_thread(  # the loop runs the slow queries meanwhile
                wait_until, lambda: len(_backends(engine, "gridmap test size")) >= 2, "both busy"
            )
            busy = len(_backends(engine, "gridmap test size"))
            with pytest.raises(psycopg.OperationalError, match="no free database connection"):
                await pool.fetchone("SELECT 1", {})
            await asyncio.gather(*slow)
            assert await pool.fetchone("SELECT 1", {}) == (1,)
            return busy, len(_backends(engine, "gridmap test size"))
        finally:
            await pool.close()

    busy, after = asyncio.run(main())
    assert busy == 2
    assert after == 2, "both kept for reuse"


def test_a_failed_statement_leaves_the_connection_usable(db_url: str) -> None:
    async def main() -> tuple[int, int]:
        pool = ReadPool(db_url, size=1, application_name="gridmap test error")
        try:
            (pid,) = await pool.fetchone("SELECT pg_backend_pid()", {})
            with pytest.raises(psycopg.errors.DivisionByZero):
                await pool.fetchone("SELECT 1 / 0", {})
            (again,) = await pool.fetchone("SELECT pg_backend_pid()", {})
            return pid, again
        finally:
            await pool.close()

    pid, again = asyncio.run(main())
    assert pid == again
