"""The whole topology on one machine, on loopback ports, from the Debian packages: one etcd
member, Patroni PostgreSQL+PostGIS nodes, HAProxy (write, read and front ports) and gridmap
nodes — what ``gridmap ha up`` runs and what the tests start.

Order of start: etcd; every Patroni node (the first to take the leader key initialises the
cluster, the others clone it); once a leader and a synchronous standby stand, HAProxy; then
the gridmap database is created and migrated once through the write port (and the demo city
loaded when asked), and the gridmap nodes start with the write port as their database and the
read port as their replica.  Stop is the reverse.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from gis.errors import ClusterError
from gis.ha.configs import etcd_argv, haproxy_config, patroni_config
from gis.ha.daemons import Daemon, find_tool, http_get, http_status, wait_for
from gis.ha.layout import Layout
from gis.store.cluster import SERVICE_USER, find_bindir, service_dir
from gis.store.db import create_database, make_engine, migrate

START_TIMEOUT_S = 120

APP_HOSTS = ("127.0.0.1", "localhost")
"""How the gridmap nodes, in turn, name the machine of HAProxy."""


class LocalTopology:
    """etcd + ``nodes`` Patroni nodes + HAProxy + ``apps`` gridmap nodes under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        nodes: int = 3,
        apps: int = 2,
        app_workers: int = 1,
        demo: bool = False,
        app_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.nodes = nodes
        self.app_count = apps
        self.app_workers = app_workers
        self.demo = demo
        self.app_env = app_env or {}
        self.layout: Layout | None = None
        self.etcd: Daemon | None = None
        self.patroni: dict[str, Daemon] = {}
        self.haproxy: Daemon | None = None
        self.apps: list[Daemon] = []

    # --- the whole ------------------------------------------------------------------------
    def up(self) -> Layout:
        """Start every part, each once the one before is ready; ClusterError (with the log of
        the part that failed) if one is not ready in time."""
        try:
            layout = self._layout()
            self._start_etcd(layout)
            for name in layout.names:
                self.start_node(name)
            self.wait_replicated()
            self._start_haproxy(layout)
            self._prepare_database(layout)
            for index in range(len(layout.apps)):
                self.start_app(index)
            for index in range(len(layout.apps)):
                self.wait_app(index)
        except BaseException:
            self.down()
            raise
        return layout

    def down(self) -> None:
        """Stop every part (gridmap nodes first, etcd last).  Patroni runs its PostgreSQL
        detached (it outlives a Patroni that dies), so each node's postmaster is stopped too
        if its Patroni left it running."""
        for daemon in [*self.apps, self.haproxy]:
            if daemon is not None:
                daemon.stop()
        for name, daemon in self.patroni.items():
            daemon.stop()
            self._stop_postmaster(name)
        if self.etcd is not None:
            self.etcd.stop()

    def _postmaster(self, name: str) -> int | None:
        """The PID of node ``name``'s running postmaster (None: none runs)."""
        pid_file = self._need_layout().node_dir(name) / "pgdata" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def _stop_postmaster(self, name: str, grace_s: float = 10.0) -> None:
        """Fast shutdown (SIGINT) of node ``name``'s postmaster, SIGKILL after ``grace_s``."""
        if (pid := self._postmaster(name)) is None:
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        while self._postmaster(name) == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._postmaster(name) == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        """Stop every part and delete its data — the PostgreSQL nodes' and etcd's — keeping
        the logs (tests, benchmarks)."""
        self.down()
        if self.layout is not None:
            shutil.rmtree(self.layout.data, ignore_errors=True)
        shutil.rmtree(self.root / "etcd", ignore_errors=True)

    def _layout(self) -> Layout:
        layout = Layout.load(self.root)
        if layout is None:
            self.root.mkdir(parents=True, exist_ok=True)
            data = self.root / "nodes"
            if os.geteuid() == 0:
                data = service_dir(data, f"{self.root}/nodes")
            data.mkdir(parents=True, exist_ok=True)
            layout = Layout.plan(self.root, data, nodes=self.nodes, apps=self.app_count)
            layout.save()
        self.layout = layout
        return layout

    # --- etcd -----------------------------------------------------------------------------
    def _start_etcd(self, layout: Layout) -> None:
        self.etcd = Daemon("etcd", etcd_argv(layout), layout.root / "etcd.log")
        self.etcd.start()
        health = f"http://127.0.0.1:{layout.etcd_client}/health"
        wait_for("etcd", lambda: http_status(health) == 200, START_TIMEOUT_S, watch=self.etcd)

    # --- Patroni --------------------------------------------------------------------------
    def start_node(self, name: str) -> None:
        """Start (or restart) Patroni node ``name``; it joins as a replica if a leader exists."""
        layout = self._need_layout()
        node = layout.node_dir(name)
        node.mkdir(mode=0o700, exist_ok=True)
        config = node / "patroni.yml"
        config.touch(mode=0o600)
        # JSON is YAML: Patroni reads it as it is
        config.write_text(json.dumps(patroni_config(layout, name, find_bindir()), indent=1))
        if os.geteuid() == 0:
            for path in (node, config):
                shutil.chown(path, SERVICE_USER, SERVICE_USER)
        daemon = Daemon(
            name,
            [find_tool("patroni"), str(config)],
            node / "patroni.log",
            user=SERVICE_USER,
            env=_clean_env(),
        )
        daemon.start()
        self.patroni[name] = daemon

    def kill_node(self, name: str) -> None:
        """SIGKILL Patroni node ``name`` and its PostgreSQL at once: a machine that dies."""
        daemon = self.patroni[name]
        daemon.signal_group(signal.SIGKILL)
        if (pid := self._postmaster(name)) is not None:
            os.kill(pid, signal.SIGKILL)
        daemon.stop(grace_s=5)

    def members(self) -> list[dict[str, Any]]:
        """Patroni's view of the cluster (:func:`members`)."""
        return members(self._need_layout())

    def leader(self) -> str | None:
        """The name of the node holding the leader key and running (None during a failover)."""
        for member in self.members():
            if member.get("role") == "leader" and member.get("state") == "running":
                return str(member["name"])
        return None

    def wait_replicated(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until one leader runs, every live node replicates from it, and (with two or
        more nodes) one of them is its synchronous standby."""
        live = [name for name, daemon in self.patroni.items() if daemon.alive]

        def ready() -> bool:
            members = {m["name"]: m for m in self.members()}
            if self.leader() is None or any(name not in members for name in live):
                return False
            states = [members[name].get("state") in ("running", "streaming") for name in live]
            sync = any(m.get("role") == "sync_standby" for m in members.values())
            return all(states) and (sync or len(live) < 2)

        wait_for("a Patroni leader and its standbys", ready, timeout_s, watch=self.etcd_daemon)

    def tails(self, chars: int = 3000) -> str:
        """The end of every part's log, each under its name (what a failed test prints)."""
        daemons = [*self.patroni.values(), self.haproxy, *self.apps]
        return "\n".join(
            f"--- {d.name} ({d.state}) ---\n{d.tail(chars)}" for d in daemons if d is not None
        )

    @property
    def etcd_daemon(self) -> Daemon:
        if self.etcd is None:
            raise ClusterError("etcd is not started")
        return self.etcd

    # --- HAProxy and the database ---------------------------------------------------------
    def _start_haproxy(self, layout: Layout) -> None:
        config = layout.root / "haproxy.cfg"
        config.write_text(haproxy_config(layout))
        self.haproxy = Daemon(
            "haproxy", [find_tool("haproxy"), "-db", "-f", str(config)], layout.root / "haproxy.log"
        )
        self.haproxy.start()
        stats = f"http://127.0.0.1:{layout.stats}/"
        wait_for("HAProxy", lambda: http_status(stats) == 200, START_TIMEOUT_S, watch=self.haproxy)

    def _prepare_database(self, layout: Layout) -> None:
        """Create and migrate the gridmap database once, through the write port — once it
        leads to the primary alone: HAProxy counts every server up until its first check, so
        for a moment the write port also leads to the standbys (a migration sent there fails
        on a read-only transaction)."""
        wait_for(
            "the write port to lead to the primary alone",
            lambda: _primary_only(layout.write_url),
            START_TIMEOUT_S,
            watch=self.haproxy,
        )
        create_database(layout.write_url)
        migrate(layout.write_url)
        if self.demo:
            from gis.settings import Settings
            from gis.store.seed import load_demo

            engine = make_engine(layout.write_url)
            try:
                load_demo(engine, Settings().demo_dir)
            finally:
                engine.dispose()

    # --- gridmap nodes --------------------------------------------------------------------
    def start_app(self, index: int) -> None:
        """Start (or restart) gridmap node ``index`` behind the front port."""
        layout = self._need_layout()
        home = layout.root / f"app{index + 1}"
        home.mkdir(exist_ok=True)
        # every other node names the primary "localhost": the versions board of a machine is
        # keyed by the server's name, so the nodes share none, as on two machines
        host = APP_HOSTS[index % len(APP_HOSTS)]
        env = {
            **os.environ,
            **self.app_env,
            "GRIDMAP_HOME": str(home),
            "GRIDMAP_DATABASE_URL": layout.url(layout.write, host=host),
            "GRIDMAP_REPLICA_URLS": layout.url(layout.read, host=host),
        }
        gridmap = str(Path(sys.executable).with_name("gridmap"))
        argv = [gridmap, "serve", "--host", "127.0.0.1", "--port", str(layout.apps[index])]
        argv += ["--workers", str(self.app_workers), "--no-demo"]
        daemon = Daemon(f"app{index + 1}", argv, home / "serve.log", env=env)
        daemon.start()
        if index < len(self.apps):
            self.apps[index] = daemon
        else:
            self.apps.append(daemon)

    def wait_app(self, index: int) -> None:
        """Wait until gridmap node ``index`` answers ``/health/live`` and the front counts it
        up (HAProxy marks a server down until a check passes: before, the front answers 503)."""
        layout = self._need_layout()
        live = f"http://127.0.0.1:{layout.apps[index]}/health/live"
        name = f"app{index + 1}"
        wait_for(name, lambda: http_status(live) == 200, START_TIMEOUT_S, watch=self.apps[index])
        wait_for(
            f"{name} up in HAProxy's front",
            lambda: front_states(layout).get(name) == "UP",
            START_TIMEOUT_S,
            watch=self.apps[index],
        )

    def _need_layout(self) -> Layout:
        if self.layout is None:
            raise ClusterError("the topology has no layout yet: call up()")
        return self.layout


def front_states(layout: Layout) -> dict[str, str]:
    """HAProxy's state of each gridmap node behind the front (``UP``, ``DOWN``, …), from
    its statistics page; empty when HAProxy does not answer."""
    status, body = http_get(f"http://127.0.0.1:{layout.stats}/;csv")
    if status != 200:
        return {}
    rows = csv.DictReader(io.StringIO(body.decode().removeprefix("# ")))
    return {row["svname"]: row["status"] for row in rows if row["pxname"] == "front"}


def _clean_env() -> dict[str, str]:
    """The environment for Patroni: ours without the virtualenv (Patroni is Debian's
    Python and must import Debian's packages) and without PG* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def members(layout: Layout) -> list[dict[str, Any]]:
    """Patroni's view of the cluster (name, role, state, lag …), from the first node whose
    REST API answers (none: an empty list)."""
    for rest in layout.rest:
        status, body = http_get(f"http://127.0.0.1:{rest}/cluster")
        if status == 200:
            try:
                return list(json.loads(body).get("members", []))
            except (ValueError, AttributeError):
                continue
    return []


PRIMARY_IN_A_ROW = 6
"""Connections through the write port that must all reach the primary (HAProxy balances
each new connection over the servers it counts up: 3 in a row would do for 3 nodes)."""


def _primary_only(write_url: str) -> bool:
    """Whether :data:`PRIMARY_IN_A_ROW` new connections through the write port all reach a
    server that is not in recovery."""
    engine = create_engine(make_url(write_url).set(database="postgres"), poolclass=NullPool)
    try:
        for _ in range(PRIMARY_IN_A_ROW):
            with engine.connect() as conn:
                if conn.scalar(text("SELECT pg_is_in_recovery()")):
                    return False
        return True
    except Exception:  # not reachable yet
        return False
    finally:
        engine.dispose()
