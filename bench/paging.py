"""Paged lists at scale: page 1 against a page deep in the list, by offset and by cursor.

A county of ``--grids`` synthetic grids with a camera each (``tests/large_city.py``) in a
throw-away database.  Through the app in process (FastAPI's TestClient: the HTTP stack is
the same for every case, so the differences are the queries'), for the OGC items of grids
and of cameras and for ``/api/v1/regions?level=grid``, side by side in one run, each timed
``--rounds`` times (median):

* page 1 (the first request of a walk: its count and its rows);
* page ``--page`` by ``offset`` (PostgreSQL reads and drops every row before it);
* the same page by ``cursor`` (a ``next`` link's: the index finds its start).

Both deep pages must hold the same features, = PostGIS's ``ORDER BY``.  Then, in SQL on one
connection: ``numberMatched`` of the grids counted exactly vs the capped count and the
planner's estimate (``gis.query.cursor.count_matching``); and the page of the counties and a
community's children with migration 0013's indexes vs without them (dropped in a transaction
rolled back).  Prints markdown tables with ratios.

    .venv/bin/python bench/paging.py [--grids 100000] [--limit 10] [--page 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
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
from gis.query import cursor, regions
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate
from gis.store.versions import current_version, valid_at

sys.path.insert(0, str(ROOT / "tests"))
from large_city import COUNTY, add_county
from sql_plans import describe, page_plans


def _median_ms(run: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def _get(
    client: TestClient, url: str, params: dict[str, Any], pages: dict[str, list[Any]], case: str
) -> None:
    """GET a page; its ids into ``pages[case]``."""
    answer = client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    pages[case] = [f["id"] for f in answer.json()["features"]]


def _http_cases(
    client: TestClient, conn: Connection, args: argparse.Namespace
) -> list[tuple[str, float, float]]:
    """(list, page, ms) of page 1, the deep page by offset and by cursor, of three lists."""
    version = current_version(conn)
    grids = conn.scalars(
        text("SELECT code FROM regions WHERE level = 'grid' AND valid_to IS NULL ORDER BY code")
    ).all()
    cameras = conn.scalars(text("SELECT id FROM cameras ORDER BY id")).all()
    start = (args.page - 1) * args.limit
    lists = {
        "OGC grids": ("/ogc/collections/grids/items", grids, {"version": version}, {}),
        "OGC cameras": ("/ogc/collections/cameras/items", cameras, {"version": None}, {}),
        "/api/v1/regions?level=grid": (
            "/api/v1/regions",
            grids,
            {},
            {"level": "grid", "as_of": version},
        ),
    }
    runs: list[tuple[str, str, Callable[[], None]]] = []
    checks = []
    for name, (url, keys, pin, extra) in lists.items():
        if start >= len(keys):
            raise SystemExit(f"page {args.page} of {args.limit} is past the {len(keys)} of {name}")
        after = cursor.encode({"after": keys[start - 1], **pin})
        cases = {
            "page 1": {},
            f"page {args.page} by offset": {"offset": start},
            f"page {args.page} by cursor": {"cursor": after},
        }
        pages: dict[str, list[Any]] = {}
        for case, params in cases.items():
            query = {"limit": args.limit, **extra, **params}
            runs.append((name, case, partial(_get, client, url, query, pages, case)))
        checks.append((name, pages, list(cases)[1:], list(keys[start : start + args.limit])))
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(args.rounds):  # rounds outside: a burst of load falls on every case
        for i, (_, _, run) in enumerate(runs):
            began = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - began)
    for name, pages, deep, expected in checks:
        assert pages[deep[0]] == pages[deep[1]] == expected, name
    return [
        (name, case, 1000 * statistics.median(t))
        for (name, case, _), t in zip(runs, times, strict=True)
    ]


def _count_cases(conn: Connection, rounds: int) -> list[tuple[str, float, int]]:
    """numberMatched of the grids: exact, and capped with the planner's estimate above."""
    version = current_version(conn)
    where = f"regions r WHERE {valid_at()} AND r.level = 'grid'"
    found: list[tuple[str, float, int]] = []
    for name, cap in (("exact count(*)", None), ("capped + estimate", cursor.EXACT_COUNT_UP_TO)):
        matched: list[int] = []

        def count(cap: int | None = cap, matched: list[int] = matched) -> None:
            matched.append(cursor.count_matching(conn, where, {"v": version}, cap))

        found.append((name, _median_ms(count, rounds), matched[-1]))
    return found


def _index_cases(conn: Connection, rounds: int) -> list[tuple[str, float, float, str, str]]:
    """Pages of the small levels among the grids and a community's children, with 0013's
    indexes and without."""
    version = current_version(conn)
    queries = {
        "counties, page 1": {"level": "county"},
        "streets, page 1": {"level": "street"},
        "communities, page after the 500th": {"level": "community", "after": f"{COUNTY}050010"},
        "a community's 100 grids": {"parent": f"{COUNTY}001001"},
    }
    found = []
    for name, filters in queries.items():

        def page(filters: dict[str, Any] = filters) -> None:
            regions.list_regions(conn, version=version, limit=101, **filters)

        with_index, with_plan = _median_ms(page, rounds), _plan(conn, page)
        conn.commit()
        conn.execute(text("DROP INDEX regions_level_code_idx"))
        conn.execute(text("DROP INDEX regions_parent_code_idx"))
        without, without_plan = _median_ms(page, rounds), _plan(conn, page)
        conn.rollback()
        found.append((name, without, with_index, without_plan, with_plan))
    return found


def _plan(conn: Connection, run: Callable[[], None]) -> str:
    """The plan of the page's statement ``run`` runs, as one line."""
    return describe(page_plans(conn, run)[-1][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--page", type=int, default=10_000, help="the deep page's number")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    settings = Settings()
    url, _ = bench_database(settings, "paging")
    create_database(url)
    try:
        migrate(url)
        engine = make_engine(url)
        add_county(engine, args.grids, camera_every=1)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE regions"))  # as autovacuum leaves a loaded table
        with (
            TestClient(create_app(Settings(database_url=url))) as client,
            engine.connect() as conn,
        ):
            http = _http_cases(client, conn, args)
            counts = _count_cases(conn, args.rounds)
            indexes = _index_cases(conn, args.rounds)
        print(f"\n{machine()} · {server_versions(url)} · {git_state(ROOT)}")
        load_end = os.getloadavg()
        print(f"load average {load_start[0]:.2f} → {load_end[0]:.2f}; {args.grids} grids\n")
        print(f"limit {args.limit}; median of {args.rounds}\n")
        print_page_costs(http)
        print("\n| numberMatched of the grids | median ms | value |\n|---|---:|---:|")
        for name, ms, value in counts:
            print(f"| {name} | {ms:.1f} | {value} |")
        print_index_effect("regions list", "0013", indexes)
        engine.dispose()
    finally:
        drop_databases([url])
    return 0


if __name__ == "__main__":
    sys.exit(main())
