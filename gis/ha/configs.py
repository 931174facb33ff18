"""The configuration of each part of a local topology, from its :class:`~gis.ha.layout.Layout`.

- **etcd**: one member on loopback (Patroni's store of the leader key and the cluster's
  configuration); the compose file runs three.
- **Patroni**: PostgreSQL 15 + PostGIS nodes, streaming replication with slots, pg_rewind for
  a returning primary, and **synchronous mode** with every replica synchronous and
  ``synchronous_commit = remote_apply``: a commit is acknowledged only once the synchronous
  standbys have *applied* it, so a promotion never loses an acknowledged version and a read
  on a standby sees every acknowledged write.  Short timers (leader key TTL 10 s, loop 1 s)
  so a failover takes seconds, not half a minute.
- **HAProxy**: ``write`` to the node whose Patroni answers ``/primary`` 200, ``read`` to the
  synchronous standbys (``/sync`` 200; gridmap reads from the primary when none answers), ``front``
  round-robin over the gridmap nodes' ``/health/live``, a request whose node died before
  answering sent again to another (HAProxy retries only what it holds whole: not a large
  upload); the connections of a PostgreSQL node marked down are cut at once, so no client
  keeps talking to a demoted primary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gis.ha.daemons import find_tool
from gis.ha.layout import SCOPE, Layout

LEADER_TTL_S = 10
LOOP_WAIT_S = 1
RETRY_TIMEOUT_S = 4
"""Patroni's timers: ``loop_wait + 2 × retry_timeout ≤ ttl`` as Patroni requires."""

NODE_PARAMETERS = {
    "shared_buffers": "128MB",
    "max_connections": 200,
    "wal_level": "replica",
    "hot_standby": "on",
    "wal_log_hints": "on",
    "max_wal_senders": 10,
    "max_replication_slots": 10,
    "wal_keep_size": "256MB",
    "hot_standby_feedback": "on",
    "jit": "off",
    "synchronous_commit": "remote_apply",
}
"""PostgreSQL settings of every node: small (several nodes share one machine here)."""


def etcd_argv(layout: Layout) -> list[str]:
    """The command line of the topology's etcd member."""
    client = f"http://127.0.0.1:{layout.etcd_client}"
    peer = f"http://127.0.0.1:{layout.etcd_peer}"
    return [
        find_tool("etcd"),
        "--name=etcd1",
        f"--data-dir={layout.root / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=etcd1={peer}",
        f"--initial-cluster-token={SCOPE}-{layout.etcd_client}",
        "--initial-cluster-state=new",
    ]


def patroni_config(layout: Layout, name: str, bindir: Path) -> dict[str, Any]:
    """Patroni's YAML (as a dict) for node ``name`` of the layout."""
    index = layout.names.index(name)
    node = layout.node_dir(name)
    postgres = f"127.0.0.1:{layout.postgres[index]}"
    rest = f"127.0.0.1:{layout.rest[index]}"
    users = {
        "superuser": "gridmap",
        "replication": "replicator",
        "rewind": "rewinder",
    }
    return {
        "scope": SCOPE,
        "name": name,
        "restapi": {"listen": rest, "connect_address": rest},
        "etcd3": {"hosts": [f"127.0.0.1:{layout.etcd_client}"]},
        "bootstrap": {
            "dcs": {
                "ttl": LEADER_TTL_S,
                "loop_wait": LOOP_WAIT_S,
                "retry_timeout": RETRY_TIMEOUT_S,
                "maximum_lag_on_failover": 16 * 1024 * 1024,
                "synchronous_mode": True,
                "synchronous_node_count": max(1, len(layout.names) - 1),
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": NODE_PARAMETERS,
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": postgres,
            "connect_address": postgres,
            "data_dir": str(node / "pgdata"),
            "bin_dir": str(bindir),
            "pgpass": str(node / "pgpass"),
            "authentication": {
                role: {"username": user, "password": layout.passwords[role]}
                for role, user in users.items()
            },
            "pg_hba": [
                "local all all peer",
                "host replication replicator 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ],
            "parameters": {"unix_socket_directories": str(node)},
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


def haproxy_config(layout: Layout) -> str:
    """HAProxy's configuration: the write, read and front ports and the statistics page."""

    def servers(check: str) -> list[str]:
        lines = [f"    option httpchk {check}", "    http-check expect status 200"]
        for name, port, rest in zip(layout.names, layout.postgres, layout.rest, strict=True):
            lines.append(f"    server {name} 127.0.0.1:{port} check port {rest}")
        return lines

    app_servers = [
        f"    server app{i + 1} 127.0.0.1:{port} check" for i, port in enumerate(layout.apps)
    ]
    return "\n".join(
        [
            "global",
            "    maxconn 4000",
            "    log stderr format raw local0 info",
            "defaults",
            "    mode tcp",
            "    log global",
            "    option dontlog-normal",
            "    option log-health-checks",
            "    timeout connect 2s",
            "    timeout client 30m",
            "    timeout server 30m",
            "    timeout check 2s",
            "    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions",
            "listen write",
            f"    bind 127.0.0.1:{layout.write}",
            *servers("GET /primary"),
            "listen read",
            f"    bind 127.0.0.1:{layout.read}",
            "    balance roundrobin",
            *servers("GET /sync"),
            "listen front",
            "    mode http",
            "    option httplog",
            f"    bind 127.0.0.1:{layout.front}",
            "    balance roundrobin",
            "    timeout client 120s",
            "    timeout server 120s",
            "    option httpchk GET /health/live",
            "    http-check expect status 200",
            "    option http-buffer-request",
            "    retry-on conn-failure empty-response",
            "    option redispatch",
            "    retries 2",
            *app_servers,
            "listen stats",
            "    mode http",
            f"    bind 127.0.0.1:{layout.stats}",
            "    stats enable",
            "    stats uri /",
            "",
        ]
    )
