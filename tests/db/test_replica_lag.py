"""An asynchronous replica whose replay lags past ``GRIDMAP_REPLICA_MAX_LAG_S`` is not read from
(gis.store.replicas): a real streaming standby of a cluster of its own, its replay paused.

The topology of tests/db/test_ha.py cannot show it: its standbys are synchronous with
``remote_apply``, so a commit waits for them and they never lag.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gis.store.cluster import (
    SERVICE_USER,
    SYSTEM_ROOT,
    Cluster,
    find_bindir,
    service_dir,
)
from gis.store.db import make_engine
from gis.store.replicas import LAG_CHECK_S, REPLAY_LAG_SQL, ReadEngines

from support import free_port

BOUND_S = 0.5
WHERE = "SELECT pg_is_in_recovery()"
NOTES = "SELECT count(*) FROM notes"


def _as_service_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class Pair:
    primary: Engine
    standby: Engine
    primary_cluster: Cluster


def _wait(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """A primary with a ``boundary_versions`` table at version 1 and a streaming standby."""
    base = tmp_path
    primary = Cluster(home=base / "primary", port=free_port(), dbname="lag")
    primary.start()
    admin = make_engine(primary.url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE DATABASE lag"))
    admin.dispose()
    primary_engine = make_engine(primary.url())
    with primary_engine.begin() as conn:
        conn.execute(text("CREATE TABLE boundary_versions (number int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO boundary_versions VALUES (1)"))
        conn.execute(text("CREATE TABLE notes (note text)"))

    root = service_dir(base / "standby", str(base / "standby"))
    data = root / "pgdata"
    bindir = find_bindir()
    standby_port = free_port()
    source = primary.url("postgres").replace("postgresql+psycopg", "postgresql")
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(
        _as_service_user(
            [str(bindir / "pg_basebackup"), "-d", source, "-D", str(data), "-R", "-c", "fast"]
        ),
        **run,
    )
    subprocess.run(
        _as_service_user(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-o",
                f"-p {standby_port}",
            ]
        ),
        **run,
    )
    standby_url = primary.url().replace(f":{primary.port}/", f":{standby_port}/")
    standby_engine = make_engine(standby_url)
    with primary_engine.begin() as conn:  # a commit the standby replays: its lag is known
        conn.execute(text("INSERT INTO notes VALUES ('replayed')"))
    try:
        yield Pair(primary_engine, standby_engine, primary)
    finally:
        standby_engine.dispose()
        primary_engine.dispose()
        subprocess.run(
            _as_service_user([str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate"]),
            capture_output=True,
            check=False,
        )
        primary.destroy()
        if root.is_relative_to(SYSTEM_ROOT):
            shutil.rmtree(root, ignore_errors=True)


def _replayed(standby: Engine) -> bool:
    with standby.connect() as conn:
        return bool(
            conn.scalar(text("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"))
        )


def test_a_replica_is_left_while_its_replay_lags_past_the_bound(pair: Pair) -> None:
    bounded = ReadEngines(pair.primary, [pair.standby], max_lag_s=BOUND_S)
    unbounded = ReadEngines(pair.primary, [pair.standby], max_lag_s=3600)
    _wait(lambda: _replayed(pair.standby), "the standby replays the set-up")
    time.sleep(BOUND_S + LAG_CHECK_S)  # idle is not lag: it has replayed all it received
    with bounded.connect(1) as conn:
        assert conn.scalar(text(WHERE)), "a standby that is caught up serves the read"

    with pair.standby.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
        conn.commit()
    try:
        with pair.primary.begin() as conn:
            conn.execute(text("INSERT INTO notes VALUES ('written while the standby lags')"))
        with pair.standby.connect() as conn:
            _wait(
                lambda: conn.scalar(
                    text("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")
                ),
                "the standby receives WAL it does not replay",
            )
            conn.rollback()
        time.sleep(BOUND_S + LAG_CHECK_S)
        with pair.standby.connect() as conn:
            assert conn.scalar(text(REPLAY_LAG_SQL)) > BOUND_S
        with unbounded.connect(1) as conn:  # without the bound the read is stale
            assert conn.scalar(text(WHERE)) and conn.scalar(text(NOTES)) == 1
        with bounded.connect(1) as conn:
            assert not conn.scalar(text(WHERE)), "a lagging standby is left: the primary answers"
            assert conn.scalar(text(NOTES)) == 2
    finally:
        with pair.standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            conn.commit()

    _wait(lambda: _replayed(pair.standby), "the standby catches up")
    time.sleep(LAG_CHECK_S)
    with bounded.connect(1) as conn:
        assert conn.scalar(text(WHERE)), "caught up, the standby serves reads again"
        assert conn.scalar(text(NOTES)) == 2


def test_a_standby_whose_primary_is_gone_is_not_counted_as_lagging(pair: Pair) -> None:
    """In a failover the standbys are all there is: one that replayed what it received reads on."""
    _wait(lambda: _replayed(pair.standby), "the standby replays everything")
    pair.primary.dispose()
    pair.primary_cluster.stop()
    time.sleep(BOUND_S + LAG_CHECK_S)
    with pair.standby.connect() as conn:
        assert conn.scalar(text(REPLAY_LAG_SQL)) == 0
    bounded = ReadEngines(pair.primary, [pair.standby], max_lag_s=BOUND_S)
    with bounded.connect(1) as conn:
        assert conn.scalar(text(WHERE)) and conn.scalar(text(NOTES)) == 1
