"""A small pool of asyncio connections for one-statement autocommit reads on the request path.

Tiles need one short query per request.  psycopg_pool's ``AsyncConnectionPool`` does more than
that needs (background growing and shrinking, health checks, statistics) and spends ~45 µs of
CPU per borrow here — a sixth of a cold tile's whole Python time — so this pool only lends:
an idle connection if there is one, else a new one, at most ``size`` at once.  There is no
ping before use: a connection the database dropped (a restart) fails its statement, and then
every idle connection is closed and the statement retried once on a fresh one.

With replicas (``GRIDMAP_REPLICA_URLS``) the tiles read through :class:`ReadPools`: a pool per
replica, each read on a replica whose connection has shown the boundary version drawn, else on
the primary's pool (``gis.store.replicas`` has the rule).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from gis.store.replicas import Rotation
from gis.store.versions import CURRENT_VERSION_SQL
from gis.store.watch import conninfo

IDLE = TransactionStatus.IDLE

log = logging.getLogger("gridmap.pool")


class Behind(Exception):
    """A replica's connection has not shown the boundary version a read wants yet."""


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
        self._seen: weakref.WeakKeyDictionary[psycopg.AsyncConnection, int] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False

    async def fetchone(
        self,
        sql: str,
        params: dict[str, Any],
        *,
        binary: bool = False,
        version: int | None = None,
    ) -> tuple[Any, ...] | None:
        """The first row of ``sql`` with ``params`` (None when it has none); ``binary``
        asks for results in binary (bytea as raw bytes).  ``version``: the connection must
        have shown at least this boundary version (a replica's: checked once per connection
        and version, :class:`Behind` when it has not)."""
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
                row = await self._run(conn, sql, params, binary, version)
            except psycopg.OperationalError:
                if not conn.broken:
                    raise
                await self._discard_idle()  # the others died with it
                conn = await self._connect()
                row = await self._run(conn, sql, params, binary, version)
            return row
        finally:
            self._slots.release()

    async def _run(
        self,
        conn: psycopg.AsyncConnection,
        sql: str,
        params: dict[str, Any],
        binary: bool,
        version: int | None,
    ) -> tuple[Any, ...] | None:
        """Run on ``conn``, then keep it if it is idle and well (else close it)."""
        try:
            if version is not None and self._seen.get(conn, 0) < version:
                (newest,) = await (await conn.execute(CURRENT_VERSION_SQL)).fetchone()
                self._seen[conn] = newest or 0
                if self._seen[conn] < version:
                    raise Behind(f"version {version} not replayed yet (has {newest})")
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


class ReadPools:
    """Reads of one event loop over replicas' pools, the primary's when none can serve one:
    a replica that cannot be reached or has not replayed the version a read wants
    (:class:`Behind`) passes the read on (``gis.store.replicas`` says why it is safe)."""

    def __init__(self, primary: ReadPool, replicas: list[ReadPool]) -> None:
        self.primary = primary
        self.replicas = replicas
        self._rotation = Rotation(len(replicas))

    async def fetchone(
        self,
        sql: str,
        params: dict[str, Any],
        *,
        binary: bool = False,
        version: int | None = None,
    ) -> tuple[Any, ...] | None:
        """:meth:`ReadPool.fetchone` on a replica that can answer it, else on the primary."""
        for index in self._rotation.order():
            try:
                return await self.replicas[index].fetchone(
                    sql, params, binary=binary, version=version
                )
            except Behind:
                continue
            except psycopg.OperationalError as error:
                self._rotation.pause(index)
                log.warning("replica %d failed, reading from the primary: %s", index, error)
        return await self.primary.fetchone(sql, params, binary=binary)  # it has every version

    async def close(self) -> None:
        """Close every pool."""
        for pool in [self.primary, *self.replicas]:
            await pool.close()
