"""Matching addresses on the demo registry: exact text with or without the place-name prefix,
typos and spellings, unit and room, compound and doorplate levels, ambiguity, not found with
suggestions — and the database's LC_CTYPE, which pg_trgm needs to see Chinese trigrams."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.pool import NullPool

from gis.errors import GridmapError, InvalidInput, NotFound
from gis.query import addresses
from gis.query.addresses import match_address

from support import REGISTRY, SUNNY, registry_row

SUNNY_PLACE = f"{SUNNY['road']}{SUNNY['road_number']}号阳光小区"
"""Road, doorplate and compound of 阳光小区, without the province … street prefix."""


def _match(engine: Engine, query: str) -> Any:
    with engine.connect() as conn:
        return match_address(conn, query)


def _same_row(match: Any, row: dict[str, str]) -> None:
    assert match.row.code == row["code"]
    assert match.row.address == row["address"]
    assert (match.row.lon, match.row.lat) == pytest.approx(
        (float(row["lon"]), float(row["lat"])), abs=1e-9
    )


def test_show_trgm_makes_chinese_trigrams(engine: Engine) -> None:
    with engine.connect() as conn:
        assert len(conn.scalar(text("SELECT show_trgm('迁西县栗乡街道')"))) == 8


@pytest.mark.parametrize(
    "query",
    [
        SUNNY["address"],
        SUNNY_PLACE + "5号楼",
        "迁西县" + SUNNY_PLACE + "5号楼",
        "河北省唐山市" + SUNNY_PLACE + "5号楼",
    ],
)
def test_exact_text_with_or_without_prefix(engine: Engine, query: str) -> None:
    match = _match(engine, query)
    _same_row(match, SUNNY)
    assert (match.level, match.confidence, match.candidates) == ("building", 1.0, [])
    assert (match.row.compound, match.row.building) == ("阳光小区", "5")
    assert match.row.households == int(SUNNY["households"])


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    ("query", "exact"),
    [
        (SUNNY["address"].replace("阳光小区", "阳先小区"), False),  # one wrong character
        (SUNNY["address"].translate(FULL_WIDTH), True),
        (SUNNY_PLACE.translate(FULL_WIDTH) + "５号楼", True),
        (SUNNY_PLACE + "五号楼", True),
        (SUNNY_PLACE + "5栋", True),
        ("阳光小区５号楼", False),  # no road: the compound and building agree
        ("阳光小区五幢", False),
    ],
)
def test_typos_and_spellings_find_the_building(engine: Engine, query: str, exact: bool) -> None:
    match = _match(engine, query)
    _same_row(match, SUNNY)
    assert match.level == "building"
    assert (match.confidence == 1.0) if exact else (0.5 <= match.confidence < 1.0)
    assert match.candidates == []


@pytest.mark.parametrize(
    "query", ["阳光小区五号楼二单元三〇一室", "阳光小区5-2-301", SUNNY["address"] + "2单元301室"]
)
def test_unit_and_room(engine: Engine, query: str) -> None:
    """The registry holds buildings: the match is the building, unit and room kept as text."""
    match = _match(engine, query)
    _same_row(match, SUNNY)
    assert match.level == "building"
    assert (match.parsed.unit, match.parsed.room) == (2, 301)
    answer = match.to_dict()
    assert (answer["level"], answer["unit"], answer["room"]) == ("building", "2", "301")
    assert answer["rest"] == "2单元301室"


def test_a_unit_or_floor_the_building_lacks_is_a_building_match(engine: Engine) -> None:
    too_high = f"{SUNNY['address']}1单元{int(SUNNY['floors']) + 1}01室"
    no_such_unit = f"{SUNNY['address']}{int(SUNNY['units']) + 1}单元101室"
    for query in (too_high, no_such_unit):
        match = _match(engine, query)
        _same_row(match, SUNNY)
        assert (match.level, match.confidence) == ("building", 1.0)


def test_compound_and_doorplate_levels(engine: Engine) -> None:
    compound = _match(engine, "阳光小区")
    _same_row(compound, registry_row("阳光小区"))
    assert compound.level == "compound" and compound.candidates == []
    unknown_building = _match(engine, "阳光小区88号楼")
    _same_row(unknown_building, registry_row("阳光小区"))
    assert unknown_building.level == "compound"
    assert unknown_building.to_dict()["rest"] == "88号楼", "what did not match is kept"
    gate = _match(engine, SUNNY_PLACE.removesuffix("阳光小区"))
    _same_row(gate, registry_row("阳光小区"))
    assert gate.level == "road" and gate.candidates == [], "its buildings are no alternatives"
    doorplate = next(r for r in REGISTRY if not r["compound"])
    found = _match(engine, f"{doorplate['road']}{doorplate['road_number']}号")
    _same_row(found, doorplate)
    assert (found.level, found.confidence) == ("road", 1.0)


def test_ambiguous_query_lists_candidates(engine: Engine) -> None:
    match = _match(engine, "阳光5号楼")
    twins = {SUNNY["code"], registry_row("阳光花园", "5")["code"]}
    assert {c.row.code for c in match.candidates} == twins
    assert match.row.code in twins and match.level == "building"
    assert match.candidates[0].row == match.row
    assert match.candidates[0].confidence == match.candidates[1].confidence == match.confidence
    assert json.loads(json.dumps(match.to_dict(), ensure_ascii=False))["candidates"]


@pytest.mark.parametrize("query", ["", "   ", "，。！"])
def test_empty_address(engine: Engine, query: str) -> None:
    with pytest.raises(InvalidInput) as error:
        _match(engine, query)
    assert error.value.code == "empty_address"


def test_gibberish_is_not_found_with_suggestions(engine: Engine) -> None:
    with pytest.raises(NotFound) as error:
        _match(engine, "火星路999号月亮小区")
    assert error.value.code == "address_not_found"
    suggestions = error.value.details["suggestions"]
    assert 1 <= len(suggestions) <= 5
    assert all(set(s) == {"code", "address", "similarity"} for s in suggestions)
    assert [s["similarity"] for s in suggestions] == sorted(
        (s["similarity"] for s in suggestions), reverse=True
    )
    with pytest.raises(NotFound) as error:
        _match(engine, "啊啊啊啊")
    assert error.value.details["suggestions"] == []


def test_the_ctype_is_asked_once_per_database(engine: Engine) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    addresses.TRIGRAMS_READ_CHINESE.clear()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.connect() as conn:
            first = match_address(conn, "阳光小区5号楼")
            again = match_address(conn, "阳光小区5号楼")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert first == again
    assert sum("show_trgm" in s for s in statements) == 1


def test_a_c_ctype_database_is_refused(server_url: str) -> None:
    """With LC_CTYPE=C pg_trgm sees no Chinese trigrams: every text would be 'similar'."""
    name = "gridmap_test_c_ctype"
    admin = create_engine(
        make_url(server_url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(
            text(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        )
    engine = create_engine(make_url(server_url).set(database=name), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION pg_trgm"))
            with pytest.raises(GridmapError) as error:
                match_address(conn, "阳光小区5号楼")
        assert error.value.code == "database_ctype_unsupported"
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
