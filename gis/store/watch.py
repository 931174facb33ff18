"""The current boundary version, pushed by PostgreSQL to every worker.

Every commit of a boundary version sends ``NOTIFY gridmap_versions, '<number>'`` inside the
committing transaction (``gis.store.versions``), so it reaches each listening process as soon as it
lands — whichever worker, or the ``gridmap`` command, made it.  A lookup then needs no
database round trip at all.  On this machine the commit (``gis.store.versions.commit_version``)
also writes the number on the versions board (``gis.store.board``) before the committer
answers, which every call here reads too: the notice may come a moment late, the board does not.

The board is this machine's.  When gridmap nodes on several machines share one primary, a
node must not answer from an older version than one committed on another machine a moment
ago: with ``fence`` every call also waits for a query of the primary's newest version that
*started after the call* — one query shared by every call that arrives while none has started
yet, so under load a worker asks the primary about once per round trip, not once per request.
While the primary cannot be reached the fence asks the replicas instead, so reads go on
answering through a failover.
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import Sequence
from contextlib import suppress

import psycopg
from sqlalchemy import make_url

from gis.store.board import OID_SQL, Board, board_path
from gis.store.versions import CURRENT_VERSION_SQL, VERSIONS_CHANNEL

log = logging.getLogger("gridmap.watch")


def conninfo(url: str) -> str:
    """A libpq connection string for a SQLAlchemy database URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class VersionWatch:
    """The current version for one event loop, kept by a listening connection.

    The listener LISTENs first and reads the current version second, so no commit falls in
    between.  While it is not connected (before the first call, after an outage) a call
    connects it; calls that arrive together share one attempt, and a failure raises
    ``psycopg.OperationalError`` (the database is unreachable) to each of them.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: int = 5,
        fence: bool = False,
        replica_urls: Sequence[str] = (),
    ) -> None:
        self._url = url
        self._fence = fence
        self._fence_targets = [conninfo(u) for u in (url, *replica_urls)]
        self._probe_conns: dict[str, psycopg.AsyncConnection] = {}
        self._probe: tuple[int, asyncio.Task[None]] | None = None
        self._probes_started = 0
        self._conninfo = conninfo(url)
        self._board: Board | None = None
        self._connect_timeout = connect_timeout
        self._conn: psycopg.AsyncConnection | None = None
        self._version: int | None = None
        self._connecting: asyncio.Task[None] | None = None

    async def current(self) -> int | None:
        """The current version (None before the first commit)."""
        if self._conn is None:
            if self._connecting is None:
                self._connecting = asyncio.create_task(self._listen())
                self._connecting.add_done_callback(self._connected)
            try:
                await asyncio.shield(self._connecting)
            except psycopg.OperationalError:
                if not self._fence:
                    raise  # fenced: the fence's answer (a replica's in an outage) will do
        elif _readable(self._conn):
            self._receive()  # notices already here: the event loop may run this call first
        if self._board is not None and (posted := self._board.read()) > (self._version or 0):
            self._version = posted  # committed on this machine; its notice is on its way
        if self._fence:
            await self._fenced()
        return self._version

    @property
    def listening(self) -> bool:
        """Whether a listening connection is open (notices arrive as they are sent)."""
        return self._conn is not None and not self._conn.closed

    @property
    def probes(self) -> int:
        """How many times the fence has asked the primary so far."""
        return self._probes_started

    async def _fenced(self) -> None:
        """Return once a query of the primary's newest version that started after this call
        has answered (and raised ``self._version`` to it)."""
        arrival = self._probes_started
        while True:
            probe = self._probe
            if probe is None:
                self._probes_started += 1
                probe = (self._probes_started, asyncio.create_task(self._ask_newest()))
                self._probe = probe
                probe[1].add_done_callback(lambda _task, entry=probe: self._probe_done(entry))
            if probe[0] > arrival:  # started after this call: its answer will do
                await asyncio.shield(probe[1])
                return
            await asyncio.wait([probe[1]])  # started before: let it end, then ask again

    def _probe_done(self, probe: tuple[int, asyncio.Task[None]]) -> None:
        if self._probe is probe:
            self._probe = None
        if not probe[1].cancelled():
            probe[1].exception()  # retrieved here; the callers waiting for it get it too

    async def _ask_newest(self) -> None:
        """Raise ``self._version`` to the primary's newest version — or, when the primary
        cannot be reached (a failover), to a replica's: with synchronous standbys that apply
        every commit before it is acknowledged (``gis.ha``), a standby has every acknowledged
        version, and while there is no primary there is no newer one."""
        failure: psycopg.Error | None = None
        for target in self._fence_targets:
            try:
                newest = await self._newest(target)
            except psycopg.Error as error:
                failure = failure or error
                continue
            self._version = max(self._version or 0, newest or 0) or None
            return
        assert failure is not None
        raise failure

    async def _newest(self, target: str) -> int | None:
        conn = self._probe_conns.get(target)
        if conn is None or conn.closed:
            conn = await psycopg.AsyncConnection.connect(
                target,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                application_name="gridmap version fence",
            )
            self._probe_conns[target] = conn
        try:
            (newest,) = await (await conn.execute(CURRENT_VERSION_SQL)).fetchone()
        except psycopg.Error:
            del self._probe_conns[target]
            await _close(conn)
            raise
        return newest

    def _connected(self, task: asyncio.Task[None]) -> None:
        self._connecting = None
        if not task.cancelled():
            task.exception()  # retrieved here; the callers waiting for it get it too

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            application_name="gridmap version watch",
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            try:
                await conn.execute(f"LISTEN {VERSIONS_CHANNEL}")
            except psycopg.errors.ReadOnlySqlTransaction as error:  # a standby, not the primary
                raise psycopg.OperationalError(f"not the primary (yet): {error}") from error
            cursor = await conn.execute(CURRENT_VERSION_SQL)
            (self._version,) = await cursor.fetchone()
            if self._board is None:
                self._board = await self._open_board(conn)
        except psycopg.Error:
            await _close(conn)
            raise
        self._conn = conn
        asyncio.get_running_loop().add_reader(conn.pgconn.socket, self._receive)

    async def _open_board(self, conn: psycopg.AsyncConnection) -> Board | None:
        """This database's versions board, unless it cannot be read or it names a version
        the database does not have (a stale file: then NOTIFY alone)."""
        (oid,) = await (await conn.execute(OID_SQL)).fetchone()
        try:
            board = Board(board_path(self._url, oid))
        except OSError as error:
            log.warning("versions board unusable (%s): NOTIFY alone", error)
            return None
        if board.read() > (self._version or 0):
            (newest,) = await (await conn.execute(CURRENT_VERSION_SQL)).fetchone()
            if board.read() > (newest or 0):
                log.warning("versions board %s ahead of the database: ignored", board.path)
                board.close()
                return None
        return board

    def _receive(self) -> None:
        """Apply the notices in the listener's socket (the event loop calls this when it is
        readable); on a dead connection stop listening — the next call reconnects.

        The loop stops watching the socket *before* libpq reads it: libpq closes the socket
        of a connection it finds dead, and a descriptor closed while the loop watches it is
        given to the next connection or client, which then makes uvloop's libuv abort the
        process (a gridmap node died so at a failover)."""
        conn = self._conn
        if conn is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(conn.pgconn.socket)
        try:
            conn.pgconn.consume_input()
            while (note := conn.pgconn.notifies()) is not None:
                self._version = max(self._version or 0, int(note.extra.decode()))
        except psycopg.Error:
            self._conn = None
            conn.pgconn.finish()
            return
        loop.add_reader(conn.pgconn.socket, self._receive)

    async def close(self) -> None:
        """Stop listening."""
        if (conn := self._conn) is not None:
            self._conn = None
            asyncio.get_running_loop().remove_reader(conn.pgconn.socket)
            await _close(conn)
        if self._board is not None:
            self._board.close()
            self._board = None
        for conn in self._probe_conns.values():
            await _close(conn)
        self._probe_conns.clear()


def _readable(conn: psycopg.AsyncConnection) -> bool:
    """Whether the connection's socket has something to read (a notice, or its end); poll,
    not select: a busy server's descriptors pass select's limit of 1024."""
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


async def _close(conn: psycopg.AsyncConnection) -> None:
    with suppress(psycopg.Error):
        await conn.close()
