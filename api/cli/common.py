"""What every ``gridmap`` command shares: the consoles, the author of a change made at the
command line, and an engine on the configured database for the length of one command."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from sqlalchemy import Connection, Engine

from gis.access.auth import Principal
from gis.errors import InvalidInput
from gis.settings import get_settings
from gis.store.db import database_url, make_engine, prepare

console = Console()
err_console = Console(stderr=True)
"""Progress bars and errors go to stderr: stdout carries what a command prints (a key, a URL)."""


def author() -> str:
    """Who made a change at the command line: the OS user, ``<user>@cli``."""
    return f"{getpass.getuser()}@cli"


def audit_change(conn: Connection, action: str, target: str, details: dict[str, Any]) -> None:
    """Write the audit entry of a change made at the command line (``gridmap <action>``, by
    :func:`author`) in ``conn``'s transaction: it lands with the change or not at all."""
    from gis.access import audit

    audit.record(
        conn,
        actor=author(),
        key_id=None,
        address="cli",
        action=f"gridmap {action}",
        target=target,
        details=details,
    )


def acting_user(engine: Engine, user: str | None, role: str) -> Principal:
    """Who a command writes as: with ``--user NAME`` that active workbench user, needing at
    least ``role`` (their name the author, their region scope applied); without it the
    operator at the machine's console — unscoped, as ``author()``."""
    if user is None:
        return Principal(name=author(), role="admin")
    from gis.access.users import get_user

    with engine.connect() as conn:
        found = get_user(conn, user)
    if found.disabled_at is not None:
        raise InvalidInput(f"用户 {user} 已停用 (user disabled)", code="user_disabled")
    acting = Principal(name=found.username, role=found.role, user_id=found.id, scope=found.scope)
    acting.require(role)
    return acting


@contextmanager
def database(*, prepared: bool = False) -> Iterator[Engine]:
    """An engine on the configured database, disposed of when the command is done.

    ``prepared``: start the embedded cluster and migrate first (``gis.store.db.prepare``) —
    for commands that write or read tables a fresh install may not have yet."""
    settings = get_settings()
    engine = make_engine(prepare(settings)[0] if prepared else database_url(settings))
    try:
        yield engine
    finally:
        engine.dispose()
