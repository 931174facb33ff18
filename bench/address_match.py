"""Matching messy addresses among a province's registry: the narrowed search at several
registry sizes side by side, and against the trigram search everywhere
(``gis.query.addresses.match_address(narrow=False)``, the method before issue 16).

The registries: ``--entries`` sizes of synthetic entries (``tests/address_registry.py``:
road and compound names recurring all over the province), each in a database
``bench_address_<n>`` (``--keep`` keeps it, and a later run with the same size reuses it),
or the entries already in ``--database`` (a loaded province; its queries are made from a
random sample of its rows).  ``--queries`` messy queries per registry (the forms of
``address_registry.FORMS`` in turn), the registries taking turns query by query so load on
the machine falls on all; the first ``--old`` of the smallest registry's are also matched
the old way right after.  Connections are warm (``--warm`` queries first, untimed).
Prints the hit rates on the demo registry (its every entry's messy forms), then
p50/p95/p99/max per registry (and of a floor: as many ``SELECT 1`` as a match's
round trips, timed after each match) and per form and kind of entry, hit rates, how often
old and new agree, and the old method's plan for one query; then, per registry, the
queries no place probe answers (``--fallback`` doorplates with a typo in the road,
gibberish), the first ``--old-fallback`` of each kind the old way too.

    .venv/bin/python bench/address_match.py [--entries 1000000 10000000] [--queries 2000]
        [--old 200] [--keep]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from common import (
    ROOT,
    bench_database,
    drop_databases,
    git_state,
    load_average,
    machine,
    plan_nodes,
    server_versions,
    spaced,
)
from sqlalchemy import Connection, Engine, make_url, text

from gis.errors import NotFound
from gis.query import addresses
from gis.query.address_text import parse
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate
from gis.store.demo_files import read_addresses

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

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"{statistics.median(ordered):.1f} | {at(0.95):.1f} | {at(0.99):.1f} | {ordered[-1]:.1f}"


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


@dataclass
class Registry:
    """A registry measured: its database, the queries of its entries and what they took."""

    name: str
    url: str
    engine: Engine
    queries: list[tuple[str, str, ar.Entry]]
    warm: list[tuple[str, str, ar.Entry]]
    ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    hits: list[tuple[str, ar.Entry, bool]] = field(default_factory=list)
    by_group: dict[str, list[float]] = field(default_factory=dict)
    doorplates: list[ar.Entry] = field(default_factory=list)


def _table(
    registry: Registry,
    old_ms: list[float],
    old_hits: list[Any],
    same: int,
    demo: dict[str, float],
) -> None:
    with registry.engine.connect() as conn:
        size = conn.scalar(text("SELECT count(*) FROM addresses"))
    print(f"\n### {registry.name}: {spaced(size)} entries, {len(registry.ms)} queries\n")
    print(
        "| method | queries | p50 ms | p95 ms | p99 ms | max ms | hit rate |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    for name, ms, hits in (
        ("narrowed (new)", registry.ms, registry.hits),
        ("trigram everywhere (old)", old_ms, old_hits),
    ):
        if ms:
            rate = sum(h for _, _, h in hits) / len(hits)
            print(f"| {name} | {len(ms)} | {_percentiles(ms)} | {rate:.3f} |")
    floor = registry.floor_ms
    print(f"| floor: {_FLOOR_TRIPS} × SELECT 1 | {len(floor)} | {_percentiles(floor)} | – |")
    if old_ms:
        print(
            "\nold and new give the same answer (entry, level, confidence, number of "
            f"candidates): {same} of {len(old_ms)}"
        )
    subset = ar.hit_rates(registry.hits[: len(old_hits)])
    old_rates = ar.hit_rates(old_hits)
    print(
        "\n| form/kind | queries | p50 ms | p95 ms | p99 ms | max ms | hit rate "
        "| on the demo registry | hit rate on old's subset: new | old |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for group, rate in ar.hit_rates(registry.hits).items():
        times = registry.by_group[group]
        rates = " | ".join(f"{r.get(group, float('nan')):.3f}" for r in (demo, subset, old_rates))
        print(f"| {group} | {len(times)} | {_percentiles(times)} | {rate:.3f} | {rates} |")


GIBBERISH = (
    "火星路999号月亮小区",
    "月球大道1号",
    "银河小区88号楼",
    "不存在的地址",
    "XYZ路7号ABC小区",
    "河北省某某县某某街道某某路1号",
)
"""Queries nothing in any registry is like (their suggestions are looked for)."""


def _fallback(registry: Registry, conn: Connection, old: int) -> None:
    """Queries no place probe answers — a wrong character in a doorplate's road, gibberish —
    matched the narrowed way, and the first ``old`` of each kind the old way too."""
    print(f"\n### {registry.name}: queries no place probe answers\n")
    print(
        "| queries | n | p50 ms | p95 ms | p99 ms | max ms | hits | old: n | old p50 ms "
        "| old max ms | same answers |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    kinds = {
        "doorplate, road typo": [(ar.FORMS["typo"](e), e.code) for e in registry.doorplates],
        "gibberish": [(q, None) for q in GIBBERISH],
    }
    for kind, queries in kinds.items():
        new_ms, old_ms, hits, same = [], [], 0, 0
        for i, (query, code) in enumerate(queries):
            ms, answer = _answer(conn, query, True)
            new_ms.append(ms)
            hits += answer[0] == code
            if i < old:
                ms, before = _answer(conn, query, False)
                old_ms.append(ms)
                same += before[:1] == answer[:1]
        old_cells = f"{statistics.median(old_ms):.1f} | {max(old_ms):.1f}" if old_ms else "– | –"
        print(
            f"| {kind} | {len(new_ms)} | {_percentiles(new_ms)} | {hits} | {len(old_ms)} "
            f"| {old_cells} | {same} of {len(old_ms)} |"
        )


_FLOOR_TRIPS = 3
"""Round trips of a typical match (probes of the doorplates, then of the compound; the
rows): the floor timed after every match is as many ``SELECT 1``, which on a loaded machine
wait for the CPU as the match's do."""


def _floor(conn: Connection) -> float:
    began = time.perf_counter()
    for _ in range(_FLOOR_TRIPS):
        conn.execute(text("SELECT 1")).scalar()
    conn.rollback()
    return 1000 * (time.perf_counter() - began)


def run(registries: list[Registry], args: argparse.Namespace, demo: dict[str, float]) -> None:
    """The registries' queries in turn (query i of each, then i + 1 …); the old way on the
    first ``--old`` of the first (smallest) registry's."""
    conns = [r.engine.connect() for r in registries]
    try:
        for registry, conn in zip(registries, conns, strict=True):
            for _, query, _ in registry.warm:
                _answer(conn, query, True)
        old_ms: list[float] = []
        old_hits: list[tuple[str, ar.Entry, bool]] = []
        same = 0
        for i in range(max(len(r.queries) for r in registries)):
            for registry, conn in zip(registries, conns, strict=True):
                if i >= len(registry.queries):
                    continue
                form, query, entry = registry.queries[i]
                ms, answer = _answer(conn, query, True)
                registry.ms.append(ms)
                registry.floor_ms.append(_floor(conn))
                registry.by_group.setdefault(f"{form}/{entry.kind}", []).append(ms)
                registry.hits.append((form, entry, answer[0] == entry.code))
                if registry is registries[0] and i < args.old:
                    ms, old = _answer(conn, query, False)
                    old_ms.append(ms)
                    old_hits.append((form, entry, old[0] == entry.code))
                    same += old == answer
        plan = _old_plan(conns[0], registries[0].queries[0][1]) if args.old else ""
        for registry, conn in zip(registries, conns, strict=True):
            _fallback(registry, conn, args.old_fallback)
    finally:
        for conn in conns:
            conn.close()
    for registry in registries:
        first = registry is registries[0]
        _table(registry, old_ms if first else [], old_hits if first else [], same, demo)
    if plan:
        print(f"\nold method's plan for {registries[0].queries[0][1]!r}:\n  {plan}")


def _synthetic(n: int, args: argparse.Namespace, made: list[str]) -> Registry:
    """The registry of ``n`` synthetic entries in ``bench_address_<n>``: built unless that
    database holds them already (its URL then added to ``made``, to be dropped); the entries
    the queries ask for kept as they stream by."""
    base, _ = bench_database(Settings(), "address")
    url = make_url(base).set(database=f"bench_address_{n}").render_as_string(hide_password=False)
    created = create_database(url)
    if created:
        made.append(url)
    engine = make_engine(url)
    if not created:
        with engine.connect() as conn:
            held = conn.scalar(text("SELECT count(*) FROM addresses"))
        if held != n:
            raise SystemExit(f"bench_address_{n} holds {held} entries: drop it first")
    wanted = {p: None for p in ar.picks(n, min(args.queries, n))} | {
        p: None for p in ar.picks(n, min(args.warm, n), seed=99)
    }
    kept: dict[int, ar.Entry] = {}
    doorplates: list[ar.Entry] = []

    def keeping() -> Iterator[ar.Entry]:
        for i, entry in enumerate(ar.iter_entries(n)):
            if i in wanted:
                kept[i] = entry
            if entry.kind == "doorplate" and i % 101 == 0 and len(doorplates) < args.fallback:
                doorplates.append(entry)
            yield entry

    began = time.perf_counter()
    if created:
        migrate(url)
        ar.load(engine, keeping())
        print(f"{spaced(n)} entries built and loaded in {time.perf_counter() - began:.0f} s")
    else:
        for _ in keeping():
            pass
        print(f"{spaced(n)} entries: bench_address_{n} reused")
    return Registry(
        spaced(n),
        url,
        engine,
        ar.messy([kept[p] for p in ar.picks(n, min(args.queries, n))]),
        ar.messy([kept[p] for p in ar.picks(n, min(args.warm, n), seed=99)]),
        doorplates=doorplates,
    )


def _demo_rates(made: list[str]) -> dict[str, float]:
    """Hit rates per form and kind of entry on the demo registry (every entry's messy
    forms), loaded as the synthetic ones are into ``bench_address_demo``: what a
    province's must equal."""
    base, _ = bench_database(Settings(), "address")
    url = make_url(base).set(database="bench_address_demo").render_as_string(hide_password=False)
    if create_database(url):
        made.append(url)
        migrate(url)
    engine = make_engine(url)
    try:
        entries = ar.from_registry(read_addresses(Settings().demo_dir))
        with engine.connect() as conn:
            empty = not conn.scalar(text("SELECT count(*) FROM addresses"))
        if empty:  # (its indexes are dropped and built again: no transaction may read it)
            ar.load(engine, entries)
        with engine.connect() as conn:
            hits = [
                (form, entry, _answer(conn, query, True)[1][0] == entry.code)
                for form, query, entry in ar.messy_queries(entries, len(entries))
            ]
    finally:
        engine.dispose()
    return ar.hit_rates(hits)


def _loaded(url: str, args: argparse.Namespace) -> Registry:
    """The registry already in ``url``, queries made from a sample of its rows."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(_SAMPLE_ROWS), {"n": 3 * args.queries}).mappings()
        entries = ar.from_registry([dict(r) for r in rows])
    return Registry(
        make_url(url).database or url,
        url,
        engine,
        ar.messy_queries(entries, min(args.queries, len(entries))),
        ar.messy_queries(entries, min(args.warm, len(entries)), seed=99),
        doorplates=[e for e in entries if e.kind == "doorplate"][: args.fallback],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--database", help="URL of a database whose registry to use as it is")
    parser.add_argument("--queries", type=int, default=2000, help="per registry")
    parser.add_argument("--old", type=int, default=200, help="queries also run the old way")
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--fallback", type=int, default=100, help="doorplate typos")
    parser.add_argument(
        "--old-fallback", type=int, default=3, help="of them and of gibberish, the old way"
    )
    parser.add_argument("--keep", action="store_true", help="keep the built databases")
    args = parser.parse_args(argv)
    print(f"load average at start {load_average()}")
    registries: list[Registry] = []
    made: list[str] = []
    try:
        if args.database:
            registries.append(_loaded(args.database, args))
        else:
            for n in sorted(args.entries):
                registries.append(_synthetic(n, args, made))
        print(f"{machine()} · {server_versions(registries[0].url)} · {git_state(ROOT)}")
        print(f"load average before the queries {load_average()}")
        run(registries, args, _demo_rates(made))
    finally:
        for registry in registries:
            registry.engine.dispose()
        if not args.keep:
            drop_databases(made)
        print(f"\nload average at end {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
