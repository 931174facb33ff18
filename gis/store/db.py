"""Connecting to PostGIS: the URL, the engine, creating the database, migrations."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from gis.settings import Settings
from gis.store.board import board_path, lookup_folder
from gis.store.cluster import Cluster

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def database_url(settings: Settings) -> str:
    """The URL of gridmap's database: ``GRIDMAP_DATABASE_URL`` or the embedded cluster."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    return Cluster.from_settings(settings).url()


def make_engine(url: str) -> Engine:
    """An engine that checks connections before use, so it recovers after an outage.

    A server that refuses a write as read-only was reached as the primary but is a standby
    (a failover: Patroni hands over the leader key a moment before PostgreSQL is promoted;
    or a database an operator made read-only): its error becomes ``OperationalError`` — the
    database unavailable for now, a 503 — and the connection is dropped, so the next one is
    made afresh to whichever server is the primary then."""
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=5,
        connect_args={"connect_timeout": 5, "application_name": "gridmap"},
    )
    event.listen(engine, "handle_error", _read_only_is_unavailable)
    return engine


def _read_only_is_unavailable(context: ExceptionContext) -> DBAPIError | None:
    original = context.original_exception
    if not isinstance(original, psycopg.errors.ReadOnlySqlTransaction):
        return None
    context.is_disconnect = True
    return OperationalError(context.statement, context.parameters, original)


def _admin_engine(url: str) -> Engine:
    """An autocommit engine on the ``postgres`` database of the URL's server."""
    admin_url = make_url(url).set(database="postgres")
    return create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def create_database(url: str, *, template: str = "template0") -> bool:
    """Create the URL's database (UTF-8, C.UTF-8 ctype) if missing; True if created.

    ``template`` names a database to copy (tests copy a migrated, loaded one).
    """
    target = make_url(url)
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            )
            if exists:
                return False
            conn.execute(
                text(
                    f'CREATE DATABASE "{target.database}" TEMPLATE "{template}" '
                    "ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
                )
            )
            return True
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop the URL's database, disconnecting its sessions (used for throw-away databases),
    and its versions board (``gis.store.board``)."""
    target = make_url(url)
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            oid = conn.scalar(
                text("SELECT oid FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    finally:
        admin.dispose()
    if oid is not None:
        board_path(url, int(oid)).unlink(missing_ok=True)
        shutil.rmtree(lookup_folder(url, int(oid)), ignore_errors=True)  # its lookup indexes


def migrate(url: str, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    command.upgrade(config, revision)


def prepare(settings: Settings) -> tuple[str, bool]:
    """Start the embedded cluster if needed, create the database, migrate it.

    Returns the database URL and whether this call started the cluster.
    """
    started = False
    if settings.embedded:
        started = Cluster.from_settings(settings).start()
    url = database_url(settings)
    if settings.embedded:
        create_database(url)
    migrate(url)
    return url, started
