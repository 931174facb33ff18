"""Address matching on a registry of 200 000 entries (``tests/address_registry.py``: road and
compound names recurring all over a province): messy queries hit as often as on the demo
registry, the narrowed search answers as the exhaustive similarity ranking does, and its
plan reads the probe indexes only (no trigram index, no table scan) — also for the queries
no place probe answers (a typo in a doorplate's road, gibberish)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import address_registry as ar
import pytest
from sqlalchemy import Connection, Engine, event, make_url, text

from gis.errors import NotFound
from gis.query import addresses
from gis.query.address_text import parse
from gis.settings import Settings
from gis.store.db import create_database, drop_database, make_engine
from gis.store.demo_files import read_addresses

ENTRIES = 200_000
QUERIES_PER_FORM = 100
ROWS = ar.entries(ENTRIES)


@pytest.fixture(scope="module")
def scale_engine(server_url: str, template_db: str) -> Iterator[Engine]:
    """The demo city's database with the synthetic registry added."""
    url = (
        make_url(server_url)
        .set(database=f"{template_db}_addr")
        .render_as_string(hide_password=False)
    )
    create_database(url, template=template_db)
    engine = make_engine(url)
    try:
        ar.load(engine, ROWS)
        yield engine
    finally:
        engine.dispose()
        drop_database(url)


def _exhaustive(conn: Connection, query: str) -> tuple[Any, ...]:
    """The old method's answer, by a sequential scan (no index)."""
    conn.execute(text("SET enable_bitmapscan = off"))
    conn.execute(text("SET enable_indexscan = off"))
    try:
        return _answer(conn, query, narrow=False)
    finally:
        conn.execute(text("RESET enable_bitmapscan"))
        conn.execute(text("RESET enable_indexscan"))


def _answer(conn: Connection, query: str, **options: Any) -> tuple[Any, ...]:
    """What a match says: the entry, level, confidence and candidates; or not found and
    the suggestions."""
    try:
        m = addresses.match_address(conn, query, **options)
    except NotFound as error:
        return ("not found", *(s["code"] for s in error.details["suggestions"]))
    finally:
        conn.rollback()
    return (m.row.code, m.level, m.confidence, *(c.row.code for c in m.candidates))


def _hit_rates(engine: Engine, queries: list[tuple[str, str, ar.Entry]]) -> dict[str, float]:
    with engine.connect() as conn:
        return ar.hit_rates([(f, e, _answer(conn, q)[0] == e.code) for f, q, e in queries])


def test_messy_queries_hit_as_often_as_on_the_demo_registry(
    engine: Engine, scale_engine: Engine
) -> None:
    """Per form and kind of entry (a compound's own entry written compound first is below
    0.5 on either registry, however many entries it has)."""
    demo = ar.from_registry(read_addresses(Settings().demo_dir))
    on_demo = _hit_rates(engine, ar.messy_queries(demo, len(demo)))
    at_scale = _hit_rates(scale_engine, ar.messy_queries(ROWS, QUERIES_PER_FORM * len(ar.FORMS)))
    print("hit rates, demo registry / 200 000 entries:", on_demo, at_scale)
    assert set(at_scale) <= set(on_demo)
    for group, rate in at_scale.items():
        assert rate >= on_demo[group] - 0.05, group


def test_narrowed_answers_are_the_exhaustive_rankings(scale_engine: Engine) -> None:
    """Oracle: the same scoring of the most similar entries of the whole registry, ranked
    in SQL by a sequential scan (no index)."""
    sample = ar.messy_queries(ROWS, 2 * len(ar.FORMS), seed=5)
    with scale_engine.connect() as conn:
        for form, query, _ in sample:
            narrowed, exhaustive = _answer(conn, query), _exhaustive(conn, query)
            if narrowed[2] == 1.0 or narrowed[0] == "not found":
                assert narrowed == exhaustive, (form, query)
            else:  # the match; candidates within the margin may lie outside the probes
                assert narrowed[:3] == exhaustive[:3], (form, query)


DOORPLATE_TYPOS = [(e, ar.FORMS["typo"](e)) for e in ROWS[::50] if e.kind == "doorplate"][:6]
"""Doorplates with a wrong character in the road: no place probe finds their entry."""


def test_a_typo_no_place_probe_finds_is_answered_as_exhaustively(scale_engine: Engine) -> None:
    """The entries one edit from the query (:meth:`ParsedAddress.typo_probes`) hold the
    exhaustive ranking's match, or its best suggestion when nothing scores 0.5; the
    registry is never searched as a whole (no statement of the old method runs)."""
    assert len(DOORPLATE_TYPOS) == 6
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with scale_engine.connect() as conn:
        found = 0
        for entry, query in DOORPLATE_TYPOS:
            assert not parse(query).place_suffixes(), query
            event.listen(conn, "before_cursor_execute", seen)
            narrowed = _answer(conn, query)
            event.remove(conn, "before_cursor_execute", seen)
            exhaustive = _exhaustive(conn, query)
            assert narrowed[:2] == exhaustive[:2], query
            found += narrowed[0] == entry.code
        assert statements and not any(addresses._EVERYWHERE in s for s in statements)
    print(f"doorplate typos matched: {found} of {len(DOORPLATE_TYPOS)}")


def test_gibberish_gets_suggestions_from_its_beginnings_and_ends(scale_engine: Engine) -> None:
    """Nothing like it: suggested are the most similar of the entries sharing a beginning
    or an end with it (bounded probes), as similar as the exhaustive ranking's best."""
    with scale_engine.connect() as conn:
        narrowed = _answer(conn, "火星路999号月亮小区")
        exhaustive = _exhaustive(conn, "火星路999号月亮小区")
    assert narrowed[0] == exhaustive[0] == "not found"
    assert len(narrowed) > 1


def test_probes_read_the_btree_indexes_only(scale_engine: Engine) -> None:
    query = parse(ROWS[123].address)
    assert query.place_prefixes() and query.place_suffixes()
    with scale_engine.connect() as conn:
        plan = "\n".join(
            conn.scalars(
                text(f"EXPLAIN {addresses._PROBED}"),
                {
                    "key": query.building_key,
                    "full": query.normalized,
                    "n": 50,
                    "prefixes": query.place_prefixes(),
                    "suffixes": query.place_suffixes(),
                    "t": 0.2,
                },
            )
        )
    assert "Index Only Scan using addresses_prefix_idx" in plan
    assert "Index Only Scan using addresses_suffix_idx" in plan
    assert "Seq Scan on addresses" not in plan and "trgm" not in plan


@pytest.mark.parametrize(
    ("address", "prefixes", "suffixes"),
    [
        (
            "河北省安平县康泰街道安安路25号安平小区3号楼",
            ["安安路25号", "安路25号"],
            ["安平小区3号楼"],
        ),
        (
            "安平小区安安路25号3栋",
            [
                "安平小区安安路25号",
                "平小区安安路25号",
                "小区安安路25号",
                "区安安路25号",
                "安安路25号",
                "安路25号",
            ],
            [],
        ),
        ("安平小区5号楼", [], ["安平小区5号楼", "安平小区"]),
        ("新华大街3号", ["新华大街3号", "华大街3号"], []),
    ],
)
def test_probes_of_a_query(address: str, prefixes: list[str], suffixes: list[str]) -> None:
    """A doorplate probes the texts beginning with it and 1–8 characters of road name; a
    compound those ending with it and its building (and itself, without a doorplate)."""
    query = parse(address)
    assert (query.place_prefixes(), query.place_suffixes()) == (prefixes, suffixes)


def test_typo_probes_cover_every_text_one_edit_away() -> None:
    """A character replaced, dropped or added anywhere in the key: the text still begins
    with one of the prefixes or ends with one of the suffixes (a typo's entry is read)."""
    query = parse("安安路25号安平小区3号楼")
    prefixes, suffixes = query.typo_probes()
    key = query.building_key
    edits = {key[:j] + c + key[j + 1 :] for j in range(len(key)) for c in "先9"}
    edits |= {key[:j] + key[j + 1 :] for j in range(len(key))}
    edits |= {key[:j] + "先" + key[j:] for j in range(len(key) + 1)}
    for text_ in edits:
        assert any(text_.startswith(p) for p in prefixes) or any(
            text_.endswith(s) for s in suffixes
        ), text_
    assert min(map(len, prefixes + suffixes)) >= (len(key) - 1) // 2
