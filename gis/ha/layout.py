"""Where a local topology lives: its directory, its loopback ports and its passwords.

A layout is planned once (free ports picked, passwords generated) and kept in
``<root>/layout.json`` (mode 600: it holds the passwords), so ``gridmap ha status`` and a
restart find the same ports.  When we are root the PostgreSQL data directories go where the
``postgres`` user can reach them (:func:`gis.store.cluster.service_dir`).
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from gis.store.cluster import SUPERUSER

SCOPE = "gridmap"
"""Patroni's cluster name (its key prefix in etcd)."""

ROLES = ("superuser", "replication", "rewind")
"""The PostgreSQL roles Patroni needs, each with a generated password."""

DATABASE = "gridmap"
"""The database the gridmap nodes use."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports of 127.0.0.1 free right now (held together while picked,
    so no two are the same)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


@dataclass(frozen=True)
class Layout:
    """The directory and ports of one local topology (everything on 127.0.0.1)."""

    root: Path
    data: Path
    """Parent of the PostgreSQL nodes' directories (reachable by ``postgres``)."""
    etcd_client: int
    etcd_peer: int
    postgres: tuple[int, ...]
    """Each Patroni node's PostgreSQL port."""
    rest: tuple[int, ...]
    """Each Patroni node's REST API port (HAProxy's health checks ask it for the role)."""
    write: int
    """HAProxy's port to the primary."""
    read: int
    """HAProxy's port to the replicas (the primary when none is up)."""
    apps: tuple[int, ...]
    """Each gridmap node's HTTP port."""
    front: int
    """The load balancer's HTTP port in front of the gridmap nodes."""
    stats: int
    """HAProxy's statistics page."""
    passwords: dict[str, str]
    """``superuser``, ``replication`` and ``rewind``."""

    @classmethod
    def plan(cls, root: Path, data: Path, *, nodes: int = 3, apps: int = 2) -> Layout:
        """A new layout: free ports, fresh passwords."""
        ports = free_ports(2 + 2 * nodes + 2 + apps + 2)
        take = iter(ports)
        return cls(
            root=root,
            data=data,
            etcd_client=next(take),
            etcd_peer=next(take),
            postgres=tuple(next(take) for _ in range(nodes)),
            rest=tuple(next(take) for _ in range(nodes)),
            write=next(take),
            read=next(take),
            apps=tuple(next(take) for _ in range(apps)),
            front=next(take),
            stats=next(take),
            passwords={role: secrets.token_urlsafe(18) for role in ROLES},
        )

    @property
    def file(self) -> Path:
        return self.root / "layout.json"

    def save(self) -> None:
        """Write ``layout.json`` (mode 600)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fields = {**asdict(self), "root": str(self.root), "data": str(self.data)}
        self.file.touch(mode=0o600)
        self.file.write_text(json.dumps(fields, indent=1))

    @classmethod
    def load(cls, root: Path) -> Layout | None:
        """The layout kept in ``root`` (None if there is none)."""
        path = root / "layout.json"
        if not path.exists():
            return None
        fields = json.loads(path.read_text())
        for name in ("postgres", "rest", "apps"):
            fields[name] = tuple(fields[name])
        return cls(**{**fields, "root": Path(fields["root"]), "data": Path(fields["data"])})

    @property
    def names(self) -> tuple[str, ...]:
        """The Patroni nodes' names: ``pg1``, ``pg2``, …"""
        return tuple(f"pg{i + 1}" for i in range(len(self.postgres)))

    def node_dir(self, name: str) -> Path:
        """A Patroni node's directory (its config, log and ``pgdata/``)."""
        return self.data / name

    def url(self, port: int, database: str = DATABASE, *, host: str = "127.0.0.1") -> str:
        """SQLAlchemy URL (psycopg 3) of ``database`` through ``port`` as the superuser."""
        return URL.create(
            "postgresql+psycopg",
            username=SUPERUSER,
            password=self.passwords["superuser"],
            host=host,
            port=port,
            database=database,
        ).render_as_string(hide_password=False)

    @property
    def write_url(self) -> str:
        """The gridmap database through HAProxy's write port (the primary)."""
        return self.url(self.write)

    @property
    def read_url(self) -> str:
        """The gridmap database through HAProxy's read port (a replica)."""
        return self.url(self.read)
