"""Unit tests are pure: one asking for the database fails, and none may connect to PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest


@pytest.fixture(scope="session")
def server_url() -> str:
    """Every database fixture starts here; in a unit test it is an error, not a database."""
    pytest.fail("a unit test asked for the database: it belongs in tests/db")


@pytest.fixture(autouse=True)
def no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a unit test that opens a PostgreSQL connection: psycopg is gridmap's only driver, and
    these are its ways in (SQLAlchemy calls ``psycopg.connect``; the pool and the watcher
    ``AsyncConnection.connect``)."""

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("a unit test connected to PostgreSQL: it belongs in tests/db")

    monkeypatch.setattr(psycopg, "connect", refuse)
    monkeypatch.setattr(psycopg.Connection, "connect", refuse)
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", refuse)
