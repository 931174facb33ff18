"""What every ``gridmap`` command shares: the consoles, the author of a change made at the
command line, and an engine on the configured database for the length of one command."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from sqlalchemy import Engine

from gis.settings import get_settings
from gis.store.db import database_url, make_engine, prepare

console = Console()
err_console = Console(stderr=True)
"""Progress bars and errors go to stderr: stdout carries what a command prints (a key, a URL)."""


def author() -> str:
    """Who made a change at the command line: the OS user, ``<user>@cli``."""
    return f"{getpass.getuser()}@cli"


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
