"""Requests generated from the OpenAPI documents against the live app (issue 13).

Schemathesis reads ``/openapi.json`` (and the OGC service's ``/ogc/api``) of a real uvicorn on
a database of this module's own, generates valid and invalid requests for every operation
and checks each answer: no server error, a status the operation declares, the declared
media type and headers, a body matching the declared schema.  Anonymous, then with an admin
key (which may write: the database is thrown away).  Bounded: a fixed seed
(``derandomize``) and a few examples an operation, a few minutes in all; any failure fails
the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from api.app import create_app
from api.ogc_openapi import document as ogc_document
from api.routers.ogc import router as ogc_router
from gis.access.auth import create_key
from gis.settings import Settings

from support import database_copy, serve_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""0 server errors, 0 schema violations."""
EXAMPLES = 30
"""Examples an operation and caller: ~2 × 50 operations and the OGC service in ~90 s."""
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def live(
    server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, admin key) of the app under uvicorn on a database of this module's own."""
    with database_copy(server_url, template_db) as (url, engine):
        with engine.begin() as conn:
            # far from the small ids generated requests revoke and rotate
            conn.execute(text("ALTER SEQUENCE api_keys_id_seq RESTART WITH 900000000"))
            key = create_key(conn, role="admin", name="schemathesis")
        log = Path(tmp_path_factory.mktemp("schemathesis")) / "uvicorn.log"
        with serve_app(url, log) as base:
            yield base, key


APP = create_app(Settings(database_url="postgresql+psycopg://unused@127.0.0.1/unused"))
"""Only for its documents: the requests go to ``live``.  (Loaded here, not from a fixture:
schemathesis's lazy loading does not work with pytest 9.)"""
PRINT_WITHOUT_COVERAGE = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-path": "/api/v1/print",
                "phases": {"coverage": {"enabled": False}},
            }
        ]
    }
)
"""Each print renders a page in Chromium; schemathesis's coverage phase ignores
``max_examples`` and made ~150 cases of it (2½ minutes of CI).  Print keeps its
``EXAMPLES`` generated cases; its bad parameters are tested in tests/db/test_print_requests.py."""
app = schemathesis.openapi.from_dict(APP.openapi(), config=PRINT_WITHOUT_COVERAGE)
ogc = schemathesis.openapi.from_dict(ogc_document("/ogc", ogc_router, APP.version))


@app.parametrize()
@BOUNDED
def test_the_app_answers_anonymous_callers_as_documented(
    case: schemathesis.Case, live: tuple[str, str]
) -> None:
    case.call_and_validate(base_url=live[0], checks=CHECKS)


@app.parametrize()
@BOUNDED
def test_the_app_answers_an_admin_as_documented(
    case: schemathesis.Case, live: tuple[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {live[1]}"}
    case.call_and_validate(base_url=live[0], headers=headers, checks=CHECKS)


@ogc.parametrize()
@BOUNDED
def test_the_ogc_service_answers_as_documented(
    case: schemathesis.Case, live: tuple[str, str]
) -> None:
    case.call_and_validate(base_url=f"{live[0]}/ogc", checks=CHECKS)
