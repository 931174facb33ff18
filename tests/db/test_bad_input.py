"""The bad-input catalogue (issue 13): every endpoint family answers bad input with a 4xx, a
stable ``code``, a message in Chinese with English, a status its OpenAPI operation declares —
and writes nothing.

One table, one database for the module: every case is refused, so the database is the same
after each one (boundary versions, regions, uploads, layers, addresses, keys, audit log) — but
for the upload history, which keeps a rejected commit with its report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gis.access.auth import create_key
from gis.settings import Settings

from bad_input import CASES, Case
from support import database_copy

TABLES = (
    "boundary_versions",
    "regions",
    "uploads",
    "addresses",
    "centres",
    "cameras",
    "roads",
    "api_keys",
    "audit_log",
)
"""Everything a write could touch: their row counts must not change."""


def _has_chinese_and_english(message: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", message)) and bool(
        re.search(r"[A-Za-z]{3,}", message)
    )


@pytest.fixture(scope="module")
def world(server_url: str, template_db: str) -> Iterator[tuple[TestClient, Engine, dict]]:
    """The app on a database of this module's own (the demo city), with a key of each role."""
    with database_copy(server_url, template_db) as (url, engine):
        with engine.begin() as conn:
            roles = ("viewer", "editor", "admin")
            keys = {r: create_key(conn, role=r, name=f"bad-{r}") for r in roles}
        app = create_app(Settings(database_url=url))
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, engine, keys


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}


def declared(document: dict[str, Any], method: str, url: str) -> set[str] | None:
    """The statuses the OpenAPI document declares for the operation ``url`` is routed to
    (None where no operation matches: an unknown path or method)."""
    path = url.split("?")[0]
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]*", re.escape(template))
        if re.fullmatch(pattern, path, flags=re.DOTALL) and method.lower() in operations:
            return set(operations[method.lower()]["responses"])
    return None


def test_the_catalogue_is_large_and_covers_every_family() -> None:
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    families = {
        c.url.split("?")[0].split("/")[1:4][-1 if c.url.startswith("/api") else 0] for c in CASES
    }
    for family in (
        "uploads",
        "lookup",
        "regions",
        "centres",
        "cameras",
        "ogc",
        "tiles",
        "maps",
        "analysis",
        "versions",
        "export",
        "keys",
        "audit",
    ):
        assert family in families, family


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_cleanly(world: tuple[TestClient, Engine, dict], case: Case) -> None:
    client, engine, keys = world
    before = counts(engine)
    response = case.send(client, keys)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    codes = (case.code,) if isinstance(case.code, str) else case.code
    assert (response.status_code, body["code"]) in {(case.status, c) for c in codes}, body
    assert _has_chinese_and_english(body["message"]), body["message"]
    after = counts(engine)
    # a rejected upload is kept in the upload history, with its report; nothing else changes
    recorded = {"uploads"} if body["code"] == "validation_failed" else set()
    assert {t for t in TABLES if after[t] != before[t]} <= recorded, (before, after)
    statuses = declared(client.app.openapi(), case.method, case.url)
    assert statuses is None or str(response.status_code) in statuses, statuses
