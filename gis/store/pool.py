"""A small pool of asyncio connections for one-statement autocommit reads on the request path.

Tiles need one short query per request.  psycopg_pool's ``AsyncConnectionPool`` does more than
that needs (background growing and shrinking, health checks, statistics) and spends ~45 µs of
CPU per borrow here — a sixth of a cold tile's whole Python time — so this pool only lends:
an idle connection if there is one, else a new one, at most ``size`` at once.  There is no
ping before use: a connection the database dropped (a restart) fails its statement, and then
every idle connection is closed and the statement retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from gis.store.watch import conninfo

IDLE = TransactionStatus.IDLE


class ReadPool:
    """At most ``size`` autocommit connections to the database of ``url``, for one event loop.

    Errors are psycopg's: ``psycopg.OperationalError`` when the database cannot be reached or
    no connection is free within ``timeout`` seconds.
    """

    def __init__(self, url: str, *, size: int, application_name: str, timeout: float = 5.0) -> None:
        self._conninfo = conninfo(url)
        self._application_name = application_name
        self.size = size
        self.timeout = timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection] = []
        self._closed = False

    async def fetchone(
        self, sql: str, params: dict[str, Any], *, binary: bool = False
    ) -> tuple[Any, ...] | None:
        """The first row of ``sql`` with ``params`` (None when it has none); ``binary``
        asks for results in binary (bytea as raw bytes)."""
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), self.timeout)
            except TimeoutError:
                raise psycopg.OperationalError(
                    f"no free database connection after {self.timeout:g} s ({self.size} in use)"
                ) from None
        else:
            await self._slots.acquire()
        try:
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                row = await self._run(conn, sql, params, binary)
            except psycopg.OperationalError:
                if not conn.broken:
                    raise
                await self._discard_idle()  # the others died with it
                conn = await self._connect()
                row = await self._run(conn, sql, params, binary)
            return row
        finally:
            self._slots.release()

    async def _run(
        self, conn: psycopg.AsyncConnection, sql: str, params: dict[str, Any], binary: bool
    ) -> tuple[Any, ...] | None:
        """Run on ``conn``, then keep it if it is idle and well (else close it)."""
        try:
            return await (await conn.execute(sql, params, binary=binary)).fetchone()
        finally:
            if self._closed or conn.broken or conn.info.transaction_status != IDLE:
                await conn.close()
            else:
                self._idle.append(conn)

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(1, round(self.timeout)),
            application_name=self._application_name,
        )

    async def _discard_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def close(self) -> None:
        """Close the idle connections; those lent out are closed as they come back."""
        self._closed = True
        await self._discard_idle()
