"""OGC items paging at scale: page 1 against a page deep in the list, by offset and by cursor.

A county of ``--grids`` synthetic grids (``tests/large_city.py``) in a throw-away database;
``/ogc/collections/grids/items?limit=100`` through the app in process (FastAPI's TestClient:
the HTTP stack is the same for every case, so the differences are the query's).  Cases, side
by side in one run, each timed ``--rounds`` times (median):

* page 1 (the first request of a walk: its count and its rows);
* the page at ``--deep`` of the list by ``offset`` (PostgreSQL reads and drops every row before
  it);
* the same page by ``cursor`` (the ``next`` link: the code index finds its start).

Both deep pages must hold the same features.  Prints a markdown table with ratios to page 1.

    .venv/bin/python bench/paging.py [--grids 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from common import ROOT, bench_database, drop_databases, git_state, machine, server_versions
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.query import cursor
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate
from gis.store.versions import current_version

sys.path.insert(0, str(ROOT / "tests"))
from large_city import add_county

URL = "/ogc/collections/grids/items"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--deep", type=float, default=0.9, help="where the deep page is (0–1)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    settings = Settings()
    url, _ = bench_database(settings, "paging")
    create_database(url)
    try:
        migrate(url)
        engine = make_engine(url)
        add_county(engine, args.grids)
        with engine.connect() as conn:
            codes = conn.scalars(
                text(
                    "SELECT code FROM regions WHERE level = 'grid' AND valid_to IS NULL "
                    "ORDER BY code"
                )
            ).all()
            version = current_version(conn)
        start = int(len(codes) * args.deep) // args.limit * args.limit
        after = cursor.encode({"after": codes[start - 1], "version": version})
        cases = {
            "page 1": {"limit": args.limit},
            f"page {start // args.limit + 1} by offset": {"limit": args.limit, "offset": start},
            f"page {start // args.limit + 1} by cursor": {"limit": args.limit, "cursor": after},
        }
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        pages: dict[str, list[str]] = {}
        with TestClient(create_app(Settings(database_url=url))) as client:
            for _ in range(args.rounds):
                for name, params in cases.items():
                    began = time.perf_counter()
                    answer = client.get(URL, params=params)
                    seconds[name].append(time.perf_counter() - began)
                    assert answer.status_code == 200, answer.text
                    pages[name] = [f["id"] for f in answer.json()["features"]]
        deep = list(cases)[1:]
        assert pages[deep[0]] == pages[deep[1]] == codes[start : start + args.limit]
        first = statistics.median(seconds["page 1"])
        print(f"\n{machine()} · {server_versions(url)} · {git_state(ROOT)}")
        print(f"load average {load_start:.2f} → {os.getloadavg()[0]:.2f}; {len(codes)} grids\n")
        print("| request | median ms | ratio to page 1 |\n|---|---:|---:|")
        for name, times in seconds.items():
            median = statistics.median(times)
            print(f"| {name} | {1000 * median:.1f} | {median / first:.2f}× |")
        engine.dispose()
    finally:
        drop_databases([url])
    return 0


if __name__ == "__main__":
    sys.exit(main())
