"""Matching messy addresses among a province's registry: the narrowed search against the
trigram search everywhere (``gis.query.addresses.match_address(narrow=False)``, the method
before issue 16), side by side on the same registry.

The registry: ``--entries`` synthetic entries (``tests/address_registry.py``: road and
compound names recurring all over the province) in a throw-away database, or the entries
already in ``--database`` (a loaded province; its queries are made from a random sample of
its rows).  ``--queries`` messy queries (the forms of ``address_registry.FORMS`` in turn),
each matched by the narrowed search, and the first ``--old`` of them right after by the old
one (so load on the machine falls on both); the connection is warm (``--warm`` queries
first, untimed).  Prints p50/p99/max per method, hit rates per form and kind of entry, how
often the two agree, and the old method's plan for one query.

    .venv/bin/python bench/address_match.py [--entries 1000000] [--queries 2000] [--old 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from common import (
    ROOT,
    bench_database,
    drop_databases,
    git_state,
    machine,
    plan_nodes,
    server_versions,
    spaced,
)
from sqlalchemy import Connection, Engine, text

from gis.errors import NotFound
from gis.query import addresses
from gis.query.address_text import parse
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate

sys.path.insert(0, str(ROOT / "tests"))
import address_registry as ar

_SAMPLE_ROWS = (
    "SELECT code, address, road, road_number, coalesce(compound, '') AS compound, "
    "coalesce(building, '') AS building FROM addresses TABLESAMPLE SYSTEM (1) "
    "WHERE road IS NOT NULL AND road_number ~ '^[0-9]+$' AND coalesce(building, '') ~ '^[0-9]*$' "
    "AND position(road || road_number || '号' IN address) > 0 LIMIT :n"
)


def _answer(conn: Connection, query: str, narrow: bool) -> tuple[float, tuple[Any, ...]]:
    began = time.perf_counter()
    try:
        m = addresses.match_address(conn, query, narrow=narrow)
        answer: tuple[Any, ...] = (m.row.code, m.level, m.confidence, len(m.candidates))
    except NotFound:
        answer = ("not found",)
    finally:
        conn.rollback()
    return 1000 * (time.perf_counter() - began), answer


def _percentiles(ms: list[float]) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{statistics.median(ordered):.1f} | {p99:.1f} | {ordered[-1]:.1f}"


def _old_plan(conn: Connection, query: str) -> str:
    parsed = parse(query)
    conn.execute(text("SELECT set_config('pg_trgm.similarity_threshold', '0.2', true)"))
    conn.execute(text("SELECT set_config('pg_trgm.word_similarity_threshold', '0.2', true)"))
    plan = conn.scalars(
        text(f"EXPLAIN (ANALYZE, BUFFERS) {addresses._EVERYWHERE}"),
        {"key": parsed.building_key or parsed.normalized, "full": parsed.normalized, "n": 50},
    ).all()
    conn.rollback()
    scans = [line.strip() for line in plan if "Bitmap Index Scan" in line or "Heap Scan" in line]
    last = plan[-1].strip()
    return f"{plan_nodes(chr(10).join(plan))}\n  " + "\n  ".join(scans) + f"\n  {last}"


def run(engine: Engine, entries: list[ar.Entry], args: argparse.Namespace) -> None:
    queries = ar.messy_queries(entries, min(args.queries, len(entries)))
    warm = ar.messy_queries(entries, min(args.warm, len(entries)), seed=99)
    with engine.connect() as conn:
        registry = conn.scalar(text("SELECT count(*) FROM addresses"))
        for _, query, _ in warm:
            _answer(conn, query, True)
        new_ms, old_ms, new_hits, old_hits, same = [], [], [], [], 0
        by_group: dict[str, list[float]] = {}
        for i, (form, query, entry) in enumerate(queries):
            ms, answer = _answer(conn, query, True)
            new_ms.append(ms)
            by_group.setdefault(f"{form}/{entry.kind}", []).append(ms)
            new_hits.append((form, entry, answer[0] == entry.code))
            if i < args.old:
                ms, old = _answer(conn, query, False)
                old_ms.append(ms)
                old_hits.append((form, entry, old[0] == entry.code))
                same += old == answer
        plan = _old_plan(conn, queries[0][1])
    print(
        f"registry {spaced(registry)} entries; {len(new_ms)} queries "
        f"(old method: first {len(old_ms)})\n"
    )
    print(
        "| method | queries | p50 ms | p99 ms | max ms | hit rate |\n|---|---:|---:|---:|---:|---:|"
    )
    for name, ms, hits in (
        ("narrowed (new)", new_ms, new_hits),
        ("trigram everywhere (old)", old_ms, old_hits),
    ):
        if ms:
            rate = sum(h for _, _, h in hits) / len(hits)
            print(f"| {name} | {len(ms)} | {_percentiles(ms)} | {rate:.3f} |")
    print(
        "\nold and new give the same answer (entry, level, confidence, number of "
        f"candidates): {same} of {len(old_ms)}"
    )
    subset = ar.hit_rates(new_hits[: len(old_hits)])
    old_rates = ar.hit_rates(old_hits)
    print(
        "\n| form/kind | new: queries | p50 ms | p99 ms | max ms | hit rate "
        "| hit rate on old's subset: new | old |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for group, rate in ar.hit_rates(new_hits).items():
        print(
            f"| {group} | {len(by_group[group])} | {_percentiles(by_group[group])} | {rate:.3f} "
            f"| {subset.get(group, float('nan')):.3f} | {old_rates.get(group, float('nan')):.3f} |"
        )
    print(f"\nold method's plan for {queries[0][1]!r}:\n  {plan}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database", help="URL of a database whose registry to use as it is")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--old", type=int, default=200, help="queries also run the old way")
    parser.add_argument("--warm", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.database:
        engine = make_engine(args.database)
        with engine.connect() as conn:
            rows = conn.execute(text(_SAMPLE_ROWS), {"n": 3 * args.queries}).mappings()
            entries = ar.from_registry([dict(r) for r in rows])
        urls = []
        url = args.database
    else:
        url, _ = bench_database(Settings(), "address")
        urls = [url]
        create_database(url)
        migrate(url)
        engine = make_engine(url)
        began = time.perf_counter()
        entries = ar.entries(args.entries)
        ar.load(engine, entries)
        print(f"registry built and loaded in {time.perf_counter() - began:.0f} s")
    try:
        print(f"{machine()} · {server_versions(url)} · {git_state(ROOT)}")
        run(engine, entries, args)
    finally:
        engine.dispose()
        drop_databases(urls)
        print(f"load average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
