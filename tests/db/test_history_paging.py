"""The history lists — /api/v1/uploads, /versions and /audit — page by keyset, newest first:
walking their ``next`` links gives each row once, page by page the slice of the list a plain
SQL query orders (the audit log by time then id, among entries of one time and ids out of
time order); above 10 000 rows ``numberMatched`` is an estimate and says so; the pages' SQL
starts in an index (no sort, no sequential scan) with and without the audit log's filters;
cursors no page of that list wrote are 422 ``invalid_cursor``; no list skips more than
``MAX_OFFSET`` rows for one request (422 on /api/v1, 400 on /ogc, ``offset_too_large``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.app import create_app
from gis.access import audit
from gis.access.auth import create_key
from gis.ingest import history
from gis.query import cursor
from gis.query.cursor import EXACT_COUNT_UP_TO, MAX_OFFSET
from gis.settings import Settings
from gis.store.versions import list_versions

from sql_plans import node_types, page_plans
from support import database_copy, links_by_rel, next_href

pytestmark = pytest.mark.db

ROWS = 12_000
"""Rows of each history: more than ``EXACT_COUNT_UP_TO``, and enough for the planner to
prefer the indexes."""
RARE = "巡查员"
"""The actor of every tenth audit entry."""
SINCE = datetime.fromisoformat("2026-01-01T01:00:00+08:00")
"""A ``since`` about a third of the way back through the log."""

_FILL = f"""
INSERT INTO boundary_versions (number, author, action, changes)
    SELECT n, 'loader', 'upload', '{{}}' FROM generate_series(2, {ROWS}) n;
INSERT INTO uploads (author, filename, kind, level, status, version)
    SELECT 'clerk', 'grids-' || n || '.zip', 'boundaries', 'grid', 'committed',
           CASE WHEN mod(n, 3) = 0 THEN n / 3 + 1 END
    FROM generate_series(1, {ROWS}) n;
-- ids in random order of time, three entries at each time
INSERT INTO audit_log (at, actor, action, target, status)
    SELECT timestamptz '2026-01-01 00:00:00+08' + (n / 3) * interval '1 second',
           CASE WHEN mod(n, 10) = 0 THEN '{RARE}' ELSE 'clerk' END,
           'POST /api/v1/uploads', '/api/v1/uploads', 201
    FROM generate_series(1, {ROWS}) n ORDER BY random();
ANALYZE boundary_versions; ANALYZE uploads; ANALYZE audit_log;
"""

AUDIT_ORDER = "ORDER BY at DESC, id DESC"


@pytest.fixture(scope="module")
def histories(server_url: str, template_db: str) -> Iterator[tuple[Engine, TestClient, dict]]:
    """(engine, client, headers of an admin) on a database of the module's own holding
    ``ROWS`` versions, uploads and audit entries (read only)."""
    with database_copy(server_url, template_db) as (url, engine):
        with engine.begin() as conn:
            conn.exec_driver_sql(_FILL)
            admin = create_key(conn, role="admin", name="审计员")
        with TestClient(create_app(Settings(database_url=url))) as client:
            yield engine, client, {"Authorization": f"Bearer {admin}"}


def _ids(engine: Engine, sql: str, **params: Any) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(text(sql), params))


def _walk(client: TestClient, path: str, items: str, key: str, headers: dict, **params: Any):
    """Every page from ``path`` on, following ``next`` links: a list of each page's keys,
    and the first page's answer."""
    first = body = client.get(path, params=params, headers=headers).json()
    pages = [[item[key] for item in body[items]]]
    while (href := next_href(body)) is not None:
        assert "cursor=" in href and "offset" not in href
        answer = client.get(href, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([item[key] for item in body[items]])
    return pages, first


def _slices(expected: list[int], size: int) -> list[list[int]]:
    return [expected[i : i + size] for i in range(0, len(expected), size)]


@pytest.mark.parametrize(
    ("path", "items", "key", "oracle"),
    [
        ("/api/v1/uploads", "uploads", "id", "SELECT id FROM uploads ORDER BY id DESC"),
        (
            "/api/v1/versions",
            "versions",
            "number",
            "SELECT number FROM boundary_versions ORDER BY number DESC",
        ),
        ("/api/v1/audit", "entries", "id", f"SELECT id FROM audit_log {AUDIT_ORDER}"),
    ],
)
def test_pages_are_the_slices_of_the_ordered_list(
    histories: tuple[Engine, TestClient, dict], path: str, items: str, key: str, oracle: str
) -> None:
    engine, client, admin = histories
    expected = _ids(engine, oracle)
    pages, first = _walk(client, path, items, key, admin, limit=1000)
    assert pages == _slices(expected, 1000), "page N is the N-th slice of the list"
    assert first["numberMatched"] > EXACT_COUNT_UP_TO and first["numberMatchedExact"] is False
    by_offset = client.get(path, params={"offset": 20, "limit": 10}, headers=admin).json()
    assert [item[key] for item in by_offset[items]] == expected[20:30]
    assert set(links_by_rel(by_offset)) == {"self", "next", "prev"}


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"actor": RARE}, "actor = :actor"),
        ({"since": SINCE.isoformat()}, "at >= :since"),
        ({"actor": RARE, "since": SINCE.isoformat()}, "actor = :actor AND at >= :since"),
    ],
)
def test_audit_walks_of_an_actor_and_since_a_time(
    histories: tuple[Engine, TestClient, dict], params: dict[str, str], where: str
) -> None:
    engine, client, admin = histories
    expected = _ids(
        engine, f"SELECT id FROM audit_log WHERE {where} {AUDIT_ORDER}", actor=RARE, since=SINCE
    )
    assert 0 < len(expected) < EXACT_COUNT_UP_TO
    pages, first = _walk(client, "/api/v1/audit", "entries", "id", admin, limit=97, **params)
    assert pages == _slices(expected, 97)
    assert (first["numberMatched"], first["numberMatchedExact"]) == (len(expected), True)


def _plans(conn: Connection, run: Callable[[], Any]) -> list[list[str]]:
    return [node_types(plan) for plan, _ in page_plans(conn, run)]


def test_pages_start_in_an_index(histories: tuple[Engine, TestClient, dict]) -> None:
    """Page 1 and a page from a cursor of each list: an index scan, never a sort or a
    sequential scan (a version's file too: one probe of uploads by version)."""
    engine, _, _ = histories
    with engine.connect() as conn:
        at = conn.scalar(text(f"SELECT at FROM audit_log {AUDIT_ORDER} OFFSET 5000 LIMIT 1"))
        middle = (at, ROWS // 2)
        plans = _plans(
            conn,
            lambda: [
                history.list_uploads(conn, limit=101),
                history.list_uploads(conn, limit=101, after=ROWS // 2),
                list_versions(conn, limit=101),
                list_versions(conn, limit=101, after=ROWS // 2),
                audit.list_entries(conn, limit=101),
                audit.list_entries(conn, limit=101, after=middle),
                audit.list_entries(conn, limit=101, after=middle, actor=RARE),
                audit.list_entries(conn, limit=101, after=middle, since=SINCE),
                audit.list_entries(conn, limit=101, actor=RARE, since=SINCE),
            ],
        )
    assert len(plans) == 9
    for nodes in plans:
        assert "Sort" not in nodes and "Seq Scan" not in nodes, nodes
        assert nodes[:2] == ["Limit", "Index Scan"], nodes


def _forged(payload: Any) -> str:
    return cursor.encode({"after": payload})


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("/api/v1/uploads", "not-a-cursor!"),
        ("/api/v1/uploads", _forged("130227001")),  # a regions list's cursor
        ("/api/v1/uploads", _forged(2**63)),
        ("/api/v1/versions", _forged([1, 2])),
        ("/api/v1/versions", cursor.encode({"after": 3, "as_of": 1})),
        ("/api/v1/audit", _forged(5)),  # an uploads list's cursor
        ("/api/v1/audit", _forged(["2026-01-01T00:00:00", 5])),  # a time without its zone
        ("/api/v1/audit", _forged(["yesterday", 5])),
        ("/api/v1/audit", _forged(["2026-01-01T00:00:00+08:00", "5"])),
        ("/api/v1/audit", _forged(["2026-01-01T00:00:00+08:00", 5, 6])),
    ],
)
def test_foreign_cursors_are_refused(
    histories: tuple[Engine, TestClient, dict], path: str, bad: str
) -> None:
    _, client, admin = histories
    answer = client.get(path, params={"cursor": bad}, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_cursor"


def test_a_cursor_of_the_audit_log_is_its_entry(
    histories: tuple[Engine, TestClient, dict],
) -> None:
    """The cursor after an entry carries its time with zone and its id, and starts the next
    page right after it, in another time zone too."""
    engine, client, admin = histories
    expected = _ids(engine, f"SELECT id FROM audit_log {AUDIT_ORDER}")
    first = client.get("/api/v1/audit", params={"limit": 3}, headers=admin).json()
    last = first["entries"][-1]
    elsewhere = datetime.fromisoformat(last["at"]).astimezone(timezone(timedelta(hours=-5)))
    forged = _forged([elsewhere.isoformat(), last["id"]])
    answer = client.get("/api/v1/audit", params={"limit": 3, "cursor": forged}, headers=admin)
    assert [e["id"] for e in answer.json()["entries"]] == expected[3:6]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/uploads", 422),
        ("/api/v1/versions", 422),
        ("/api/v1/audit", 422),
        ("/api/v1/regions", 422),
        ("/api/v1/cameras", 422),
        ("/ogc/collections/grids/items", 400),
    ],
)
def test_no_request_skips_more_than_max_offset(
    histories: tuple[Engine, TestClient, dict], path: str, status: int
) -> None:
    _, client, admin = histories
    assert client.get(path, params={"offset": MAX_OFFSET, "limit": 1}, headers=admin).is_success
    answer = client.get(path, params={"offset": MAX_OFFSET + 1}, headers=admin)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == "offset_too_large" and "next" in body["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
