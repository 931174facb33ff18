"""The history lists at scale — the upload history, the boundary versions, the audit log —
page 1 against a page deep in the list, before and after keyset paging.

A throw-away database with ``--audit`` audit entries (one actor in ten a rare one; the log
only grows), ``--uploads`` uploads and ``--versions`` boundary versions.  Side by side in one
run, each timed ``--rounds`` times (median, rounds outside the cases):

* over HTTP (the app in process), as the lists answer now: page 1, and page ``--page`` by
  the cursor of a ``next`` link (the index finds its start; the count is capped at 10 000
  and estimated above);
* in SQL through the same list functions, as they answered before: page ``--page`` by
  ``offset`` (PostgreSQL reads and drops every row before it) with an exact ``count(*)``;
* the audit log of one actor and since a time, a cursor page, with migration 0014's indexes
  and without them (dropped in a transaction rolled back).

The deep page must hold the same rows both ways.  Prints markdown tables with ratios.

    .venv/bin/python bench/history_paging.py [--audit 1000000] [--uploads 200000]
        [--versions 100000] [--limit 10] [--page 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from common import (
    ROOT,
    bench_database,
    drop_databases,
    git_state,
    machine,
    print_index_effect,
    print_page_costs,
    server_versions,
)
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from api.app import create_app
from gis.access import audit
from gis.access.auth import create_key
from gis.ingest import history
from gis.query import cursor
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate
from gis.store.versions import list_versions

sys.path.insert(0, str(ROOT / "tests"))
from sql_plans import describe, page_plans

RARE = "巡查员"
SINCE = datetime.fromisoformat("2025-03-01T00:00:00+08:00")
"""About half-way back through the log's ~116 days (at 1 000 000 entries)."""

FILL = """
INSERT INTO boundary_versions (number, author, action, changes)
    SELECT n, 'loader', 'upload', '{{}}' FROM generate_series(1, {versions}) n;
INSERT INTO uploads (author, filename, kind, level, status, version)
    SELECT 'clerk', 'grids-' || n || '.zip', 'boundaries', 'grid', 'committed',
           1 + mod(n, {versions})
    FROM generate_series(1, {uploads}) n;
INSERT INTO audit_log (at, actor, action, target, status)
    SELECT timestamptz '2025-01-01 00:00:00+08' + n * interval '10 seconds',
           CASE WHEN mod(n, 10) = 0 THEN '{rare}' ELSE 'clerk' END,
           'POST /api/v1/uploads', '/api/v1/uploads', 201
    FROM generate_series(1, {audit}) n;
VACUUM ANALYZE boundary_versions;
VACUUM ANALYZE uploads;
VACUUM ANALYZE audit_log;
"""


def _timed(runs: list[Callable[[], Any]], rounds: int) -> list[float]:
    """Median ms of each run, the rounds outside (a burst of load falls on every case)."""
    for run in runs:  # warm-up, not timed: the pool's first connection, the plans
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for i, run in enumerate(runs):
            began = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - began)
    return [1000 * statistics.median(t) for t in times]


def _lists(conn: Connection) -> dict[str, tuple[str, str, str, Callable[..., Any], Callable]]:
    """Per list: (path, items, oracle SQL, the list function, the key of an item)."""
    return {
        "uploads": (
            "/api/v1/uploads",
            "uploads",
            "SELECT id FROM uploads ORDER BY id DESC",
            history.list_uploads,
            lambda item: item["id"],
        ),
        "versions": (
            "/api/v1/versions",
            "versions",
            "SELECT number FROM boundary_versions ORDER BY number DESC",
            list_versions,
            lambda item: item["number"],
        ),
        "audit log": (
            "/api/v1/audit",
            "entries",
            "SELECT id FROM audit_log ORDER BY at DESC, id DESC",
            audit.list_entries,
            audit.entry_key,
        ),
    }


def _cases(
    client: TestClient, conn: Connection, headers: dict[str, str], args: argparse.Namespace
) -> list[tuple[str, str, float]]:
    """(list, case, ms): page 1 and the cursor page over HTTP, the offset page in SQL."""
    start = (args.page - 1) * args.limit
    names, runs, checks = [], [], []
    for name, (path, items, oracle, listing, key) in _lists(conn).items():
        expected = conn.scalars(text(f"{oracle} LIMIT :n"), {"n": start + args.limit}).all()
        before, _ = listing(conn, limit=start)  # the rows before the page, for its cursor
        after = cursor.encode({"after": key(before[-1])})
        seen: dict[str, list[Any]] = {}

        def get(
            params: dict[str, Any],
            case: str,
            path: str = path,
            items: str = items,
            seen: dict = seen,
        ) -> None:
            answer = client.get(path, params={"limit": args.limit, **params}, headers=headers)
            assert answer.status_code == 200, answer.text
            seen[case] = [item.get("id", item.get("number")) for item in answer.json()[items]]

        def by_offset(listing: Callable[..., Any] = listing, seen: dict = seen) -> None:
            rows, _ = listing(conn, limit=args.limit, offset=start)  # exact count, as before
            seen["offset"] = [row.get("id", row.get("number")) for row in rows]

        cases = {
            "page 1 (HTTP)": lambda get=get: get({}, "page 1"),
            f"page {args.page} by cursor (HTTP)": lambda get=get, after=after: get(
                {"cursor": after}, "cursor"
            ),
            f"page {args.page} by offset + exact count (SQL, before)": by_offset,
        }
        for case, run in cases.items():
            names.append((name, case))
            runs.append(run)
        checks.append((name, seen, expected[start:]))
    times = _timed(runs, args.rounds)
    for name, seen, expected in checks:
        assert seen["cursor"] == seen["offset"] == expected, name
    return [(name, case, ms) for (name, case), ms in zip(names, times, strict=True)]


def _index_cases(
    conn: Connection, entries: int, rounds: int
) -> list[tuple[str, float, float, str, str]]:
    """Cursor pages of the audit log (all, of an actor, since a time) with 0014's indexes
    and without."""
    middle = conn.execute(
        text("SELECT at, id FROM audit_log ORDER BY at DESC, id DESC OFFSET :half LIMIT 1"),
        {"half": entries // 2},
    ).one()
    deep = (middle.at, middle.id)
    queries: dict[str, tuple[dict[str, Any], Any]] = {
        "page half-way": ({}, deep),
        f"of {RARE}, page half-way": ({"actor": RARE}, deep),
        "since a time, page 1": ({"since": SINCE}, None),
        f"of {RARE} since a time, page 1": ({"actor": RARE, "since": SINCE}, None),
    }
    found = []
    for name, (filters, after) in queries.items():

        def page(filters: dict[str, Any] = filters, after: Any = after) -> None:
            audit.list_entries(conn, limit=11, after=after, exact_up_to=10_000, **filters)

        (with_index,) = _timed([page], rounds)
        with_plan = describe(page_plans(conn, page)[-1][0])
        conn.commit()
        conn.execute(text("DROP INDEX audit_log_at_id_idx"))
        conn.execute(text("DROP INDEX audit_log_actor_at_id_idx"))
        conn.execute(text("CREATE INDEX audit_log_at_idx ON audit_log (at)"))  # as before 0014
        (without,) = _timed([page], rounds)
        without_plan = describe(page_plans(conn, page)[-1][0])
        conn.rollback()
        found.append((name, without, with_index, without_plan, with_plan))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--uploads", type=int, default=200_000)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--page", type=int, default=10_000, help="the deep page's number")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    url, _ = bench_database(Settings(), "history_paging")
    create_database(url)
    try:
        migrate(url)
        engine = make_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            fill = FILL.format(
                versions=args.versions, uploads=args.uploads, audit=args.audit, rare=RARE
            )
            for statement in filter(str.strip, fill.split(";")):
                conn.exec_driver_sql(statement)
            key = create_key(conn, role="admin", name="bench")
        headers = {"Authorization": f"Bearer {key}"}
        with (
            TestClient(create_app(Settings(database_url=url))) as client,
            engine.connect() as conn,
        ):
            http = _cases(client, conn, headers, args)
            indexes = _index_cases(conn, args.audit, args.rounds)
        print(f"\n{machine()} · {server_versions(url)} · {git_state(ROOT)}")
        load_end = os.getloadavg()
        print(f"load average {load_start[0]:.2f} → {load_end[0]:.2f}")
        print(f"{args.audit} audit entries, {args.uploads} uploads, {args.versions} versions")
        print(f"limit {args.limit}; median of {args.rounds}\n")
        print_page_costs(http)
        print_index_effect("audit log", "0014", indexes)
        engine.dispose()
    finally:
        drop_databases([url])
    return 0


if __name__ == "__main__":
    sys.exit(main())
