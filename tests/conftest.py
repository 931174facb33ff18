"""Test kinds and the database fixtures every database or browser test shares.

Each test's kind is the folder it lives in — ``tests/unit`` (pure: no database, no browser, no
server), ``tests/db`` (real PostGIS, the app in-process or under uvicorn, real GDAL clients),
``tests/browser`` (real Chromium, fixtures in tests/browser/conftest.py) — and is its marker, so
``pytest -m unit`` runs the pure tests alone.

The database server is ``GRIDMAP_DATABASE_URL`` when set, else gridmap's embedded cluster (started
here if needed, and stopped again at the end if this run started it).  Each session — each
pytest-xdist worker: ``make test`` runs whole files on as many workers as the machine has cores,
at most four — builds one template database (migrated, demo city loaded as version 1);
read-only tests share a copy of it, and tests that write get a fresh copy each.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from gis.access.auth import create_key
from gis.settings import Settings
from gis.store.cluster import Cluster
from gis.store.db import create_database, database_url, drop_database, make_engine, migrate
from gis.store.seed import load_demo

from support import serve_app, url_of

TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "db", "browser")
"""The test folders, each a marker registered in pyproject.toml."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's kind, before ``-m`` selects; a test outside one fails."""
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        kind = item.path.relative_to(TESTS).parts[0]
        if kind not in KINDS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in tests/{{unit,db,browser}}/")
        item.add_marker(kind)


def pytest_configure(config: pytest.Config) -> None:
    """Start the embedded cluster once for the whole run, in the process that owns it: with
    pytest-xdist that is the controller, so the workers never race to start one server."""
    if hasattr(config, "workerinput") or config.option.help or config.option.collectonly:
        return
    settings = Settings()
    if settings.embedded:
        cluster = Cluster.from_settings(settings)
        if cluster.start():
            config.add_cleanup(cluster.stop)


OUTCOMES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a run in which some collected test reported no outcome at all: a plugin whose
    items a pytest-xdist worker silently does not run (schemathesis's API tests) passes
    for green otherwise."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    worker = hasattr(session.config, "workerinput")
    if worker or reporter is None or exitstatus != 0 or session.config.option.collectonly:
        return
    reported = sum(len(reporter.stats.get(outcome, [])) for outcome in OUTCOMES)
    if reported < session.testscollected and not session.shouldstop:
        reporter.write_line(
            f"only {reported} of {session.testscollected} collected tests reported an outcome",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the PostGIS server the tests run against (any database on it)."""
    return database_url(Settings())


@pytest.fixture(scope="session")
def template_db(server_url: str) -> Iterator[str]:
    """Name of the session's template database: migrated, demo city loaded as version 1."""
    name = f"gridmap_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = url_of(server_url, name)
    create_database(url)
    try:
        migrate(url)
        engine = make_engine(url)
        try:
            load_demo(engine, Settings().demo_dir)
        finally:
            engine.dispose()
        yield name
    finally:
        drop_database(url)


def _copy(server_url: str, template: str) -> str:
    url = url_of(server_url, f"{template}_{uuid.uuid4().hex[:6]}")
    create_database(url, template=template)
    return url


@pytest.fixture(scope="session")
def db_url(server_url: str, template_db: str) -> Iterator[str]:
    """A database shared by read-only tests (the demo city at version 1)."""
    url = _copy(server_url, template_db)
    yield url
    drop_database(url)


@pytest.fixture
def fresh_db_url(server_url: str, template_db: str) -> Iterator[str]:
    """A database of this test's own (the demo city at version 1), dropped afterwards."""
    url = _copy(server_url, template_db)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """Engine on the shared read-only database."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_engine(fresh_db_url: str) -> Iterator[Engine]:
    """Engine on this test's own database."""
    engine = make_engine(fresh_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def client(db_url: str) -> Iterator[TestClient]:
    """HTTP client of the app on the shared read-only database."""
    with TestClient(create_app(Settings(database_url=db_url))) as client:
        yield client


@pytest.fixture
def fresh_client(fresh_db_url: str) -> Iterator[TestClient]:
    """HTTP client of the app on this test's own database."""
    with TestClient(create_app(Settings(database_url=fresh_db_url))) as client:
        yield client


@pytest.fixture
def make_key(fresh_engine: Engine) -> Callable[[str], str]:
    """Create an API key with a role in this test's own database."""

    def make(role: str) -> str:
        with fresh_engine.begin() as conn:
            return create_key(conn, role=role, name=f"test-{role}")

    return make


@pytest.fixture
def demo_grids() -> dict:
    """The demo city's grids as a GeoJSON FeatureCollection (EPSG:4326)."""
    return json.loads((Settings().demo_dir / "grids.geojson").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def app_server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``app_server`` writes uvicorn's output, its access log among it."""
    return tmp_path_factory.mktemp("app_server") / "uvicorn.log"


@pytest.fixture(scope="session")
def app_server(db_url: str, app_server_log: Path) -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT) of the app under uvicorn on the shared database."""
    with serve_app(db_url, app_server_log) as base:
        yield base
