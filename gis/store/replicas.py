"""Where a read goes: a replica that has the current boundary version, else the primary.

A streaming replica is some way behind its primary, and a node answering from it must never
answer for an older version than it knows to be current (the versions board and ``NOTIFY``
of ``gis.store.watch`` tell it which, from the primary).  So a connection to a replica is
used only once it has shown a boundary version at least the one wanted — checked with one
query when the connection has not shown it yet; a replica only ever moves forward, so a
connection that has shown version N serves every read for N and before without asking again.
A replica that cannot be reached, or is behind, sends the read to the primary: never a stale
answer, never an error a primary could have avoided.

What is not versioned (keys, uploads, rosters) is fresh on a replica because commits wait
for the synchronous standbys to *apply* them (``synchronous_commit = remote_apply``, set by
the local topology's Patroni, ``gis.ha.configs``) and the read port sends reads only to
synchronous standbys.  An asynchronous replica has no such promise: one whose replay lags
more than a bound (``GRIDMAP_REPLICA_MAX_LAG_S``, measured by :data:`REPLAY_LAG_SQL` at most
once every ``LAG_CHECK_S`` per replica) is left alone until it has caught up.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from gis.store.versions import CURRENT_VERSION_SQL

log = logging.getLogger("gridmap.replicas")

SEEN = "gridmap_version_seen"
"""A replica connection's ``info`` key: the newest boundary version it has shown."""

PAUSE_S = 2.0
"""How long a replica that failed to connect is left alone before it is tried again."""

LAG_CHECK_S = 1.0
"""How often a replica's replay lag is measured (once for all connections to it)."""

REPLAY_LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE coalesce(
        extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 'Infinity'
    )
END"""
"""A replica's replay lag in seconds: 0 when it has replayed all the WAL it has received
(a standby cannot know of WAL not sent to it: when its primary is gone — a failover — it is
as fresh as a replica can be), else the time since the last commit it replayed (an upper
bound: that commit may be older than the first one it has not replayed)."""


class Rotation:
    """Replicas taken in turn; one that could not be reached is left alone for ``PAUSE_S``."""

    def __init__(self, count: int) -> None:
        self._turn = itertools.cycle(range(max(count, 1)))
        self._paused_until = [0.0] * count

    def order(self) -> list[int]:
        """The replicas to try for one read, the next in turn first, paused ones left out."""
        count = len(self._paused_until)
        if not count:
            return []
        first, now = next(self._turn), time.monotonic()
        indexes = [(first + k) % count for k in range(count)]
        return [index for index in indexes if self._paused_until[index] <= now]

    def pause(self, index: int) -> None:
        """Leave replica ``index`` alone for a while."""
        self._paused_until[index] = time.monotonic() + PAUSE_S


class ReadEngines:
    """The primary's engine and those of the replicas, for the reads of one process."""

    def __init__(
        self, primary: Engine, replicas: Sequence[Engine] = (), *, max_lag_s: float = 10.0
    ) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.max_lag_s = max_lag_s
        self._rotation = Rotation(len(self.replicas))
        self._lag_checked = [-LAG_CHECK_S] * len(self.replicas)
        self._lagging = [False] * len(self.replicas)

    def connect(self, wanted: int | None) -> Connection:
        """A connection that sees boundary version ``wanted`` (None: no version yet) and
        every commit acknowledged before this call: a replica's if one has it, else the
        primary's."""
        for index in self._rotation.order():
            conn = self._fresh(index, wanted or 0)
            if conn is not None:
                return conn
        return self.primary.connect()

    def _fresh(self, index: int, wanted: int) -> Connection | None:
        try:
            conn = self.replicas[index].connect()
        except DBAPIError as error:
            self._rotation.pause(index)
            log.warning("replica %d unreachable, reading from the primary: %s", index, error)
            return None
        try:
            if self._lags(index, conn):
                conn.close()
                return None
            if conn.info.get(SEEN, 0) < wanted:
                conn.info[SEEN] = conn.scalar(text(CURRENT_VERSION_SQL)) or 0
                conn.rollback()  # end the check's snapshot: the request starts its own
            if conn.info[SEEN] >= wanted:
                return conn
        except DBAPIError as error:
            log.warning("replica %d failed, reading from the primary: %s", index, error)
        conn.close()
        return None

    def _lags(self, index: int, conn: Connection) -> bool:
        """Whether replica ``index`` lags more than ``max_lag_s`` (measured on ``conn`` when
        the last measure is older than ``LAG_CHECK_S``)."""
        now = time.monotonic()
        if now - self._lag_checked[index] >= LAG_CHECK_S:
            lag = float(conn.scalar(text(REPLAY_LAG_SQL)))
            conn.rollback()
            lagging = lag > self.max_lag_s
            if lagging != self._lagging[index]:
                log.warning(
                    "replica %d %s (replay lag %.1f s, bound %g s)",
                    index,
                    "lags, reading from the primary" if lagging else "has caught up",
                    lag,
                    self.max_lag_s,
                )
            self._lagging[index], self._lag_checked[index] = lagging, now
        return self._lagging[index]

    def dispose(self) -> None:
        """Close the replicas' pools (the primary's belongs to its owner)."""
        for engine in self.replicas:
            engine.dispose()
