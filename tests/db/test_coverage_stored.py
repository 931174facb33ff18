"""Coverage and grid standards stored once per data state (``gis.analysis.stored``): a page
read from the stored result is the page computed afresh, and a change of a centre, an
address or a road — written straight in SQL, as any writer could — is seen by the very next
request, checked against PostGIS geography (not ``gis.analysis``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gis.access.auth import create_key
from gis.settings import Settings

from large_city import COUNTY, add_county
from support import database_copy

GRIDS = 600
COVERAGE = "/api/v1/analysis/coverage"
STANDARDS = "/api/v1/analysis/grid-standards"
COVERED_SQL = (
    "SELECT coalesce(sum(households), 0) FROM addresses a WHERE a.households IS NOT NULL "
    "AND a.code LIKE 'B%' AND EXISTS (SELECT 1 FROM centres c "
    "WHERE ST_DWithin(a.geom::geography, c.geom::geography, c.radius_m))"
)
UNREACHED_SQL = (
    "SELECT g.code FROM regions g WHERE g.level = 'grid' AND g.valid_to IS NULL "
    f"AND g.code LIKE '{COUNTY}%' AND NOT EXISTS (SELECT 1 FROM centres c WHERE "
    "ST_DWithin(g.geom::geography, c.geom::geography, c.radius_m)) "
    'ORDER BY g.code COLLATE "C"'
)


@pytest.fixture(scope="module")
def county(server_url: str, template_db: str) -> Iterator[tuple[TestClient, Engine, dict]]:
    """(client, engine, viewer header) of the demo plus a 600-grid county with buildings, a
    station in every community and a camera every 7 grids."""
    with database_copy(server_url, template_db) as (url, engine):
        add_county(engine, GRIDS, buildings=2, centre_every=1, camera_every=7)
        with engine.begin() as conn:
            key = create_key(conn, role="viewer", name="analyst")
        with TestClient(create_app(Settings(database_url=url))) as client:
            yield client, engine, {"Authorization": f"Bearer {key}"}


def _get(client: TestClient, headers: dict, path: str, **params: Any) -> dict[str, Any]:
    answer = client.get(path, params={"region": COUNTY} | params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _stored(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT analysis, count(*) FROM analysis_results GROUP BY analysis")
            ).all()
        )


def _inputs(engine: Engine) -> list[tuple[str, Any]]:
    """The stored inputs (grids and placed buildings): key and time stored."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT key, made_at FROM analysis_results WHERE analysis = 'inputs'")
        ).all()


def _forget(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM analysis_results"))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (COVERAGE, {"layer": "centres"}),
        (COVERAGE, {"layer": "cameras"}),
        (STANDARDS, {}),
    ],
)
def test_a_stored_page_is_the_page_computed_afresh(
    county: tuple[TestClient, Engine, dict], path: str, params: dict[str, str]
) -> None:
    client, engine, viewer = county
    _forget(engine)
    first = _get(client, viewer, path, limit=250, **params)
    results = _stored(engine)
    assert results.pop("inputs", 1) == 1  # the grids and buildings of the coverage
    assert sum(results.values()) == 1  # the whole region, stored once
    cursor = first["page"]["next_cursor"]
    stored = _get(client, viewer, path, limit=250, cursor=cursor, **params)
    _forget(engine)
    fresh = _get(client, viewer, path, limit=250, cursor=cursor, **params)
    assert stored == fresh
    assert stored["grids"][0]["code"] > first["grids"][-1]["code"]
    assert _get(client, viewer, path, limit=250, **params) == first  # from the stored result


def test_a_moved_centre_is_seen_by_the_next_request(
    county: tuple[TestClient, Engine, dict],
) -> None:
    client, engine, viewer = county
    before = _get(client, viewer, COVERAGE, layer="centres", limit=1000)
    standards = _get(client, viewer, STANDARDS, limit=1000)
    inputs = _inputs(engine)
    with engine.connect() as conn:
        unreached = conn.scalars(text(UNREACHED_SQL)).all()
    target = unreached[len(unreached) // 2]
    with engine.begin() as conn:  # the county's first station into an unreached grid
        moved = conn.scalar(
            text(
                "UPDATE centres SET geom = (SELECT ST_PointOnSurface(geom) FROM regions "
                "WHERE code = :code AND valid_to IS NULL) "
                f"WHERE id = (SELECT min(id) FROM centres WHERE region_code LIKE '{COUNTY}%') "
                "RETURNING id"
            ),
            {"code": target},
        )
    after = _get(client, viewer, COVERAGE, layer="centres", limit=1000)
    assert _inputs(engine) == inputs  # the buildings' grids not placed again
    with engine.connect() as conn:
        covered = conn.scalar(text(COVERED_SQL))
        now_unreached = conn.scalars(text(UNREACHED_SQL)).all()
    assert after["totals"]["covered_households"] == covered
    assert covered != before["totals"]["covered_households"]
    assert [g["code"] for g in after["grids_without_facility"]] == now_unreached
    assert target in [g["code"] for g in before["grids_without_facility"]]
    assert target not in now_unreached
    (row,) = [f for f in after["facilities"] if f["id"] == moved]
    assert row["grid_code"] == target
    later = _get(client, viewer, STANDARDS, limit=1000)
    problems = {g["code"]: g["problems"] for g in later["grids"]}
    assert "no_centre_in_reach" not in problems[target]
    assert "no_centre_in_reach" in {
        p for g in standards["grids"] if g["code"] == target for p in g["problems"]
    }
    assert _stored(engine)["coverage-centres"] == 1  # the older result deleted


@pytest.mark.parametrize(("layer", "table"), [("centres", "centres"), ("cameras", "cameras")])
def test_a_moved_facility_on_stored_inputs_is_the_answer_computed_afresh(
    county: tuple[TestClient, Engine, dict], layer: str, table: str
) -> None:
    """After a move the stored inputs are reused and only the grids a facility's envelope
    meets are read exactly (the rest as boxes): the whole answer, every page, is the one
    computed from nothing stored, every grid exact."""
    client, engine, viewer = county
    _get(client, viewer, COVERAGE, layer=layer, limit=1)
    inputs = _inputs(engine)
    with engine.begin() as conn:  # every third facility ~300 m east, across grid edges
        moved = conn.execute(
            text(f"UPDATE {table} SET geom = ST_Translate(geom, 0.003, 0.0005) WHERE id % 3 = 0")
        ).rowcount
    assert moved > 1
    cursors: list[str | None] = [None]
    pages = [_get(client, viewer, COVERAGE, layer=layer, limit=250)]
    assert _inputs(engine) == inputs
    while cursor := pages[-1]["page"]["next_cursor"]:
        cursors.append(cursor)
        pages.append(_get(client, viewer, COVERAGE, layer=layer, limit=250, cursor=cursor))
    assert len(pages) == 3
    _forget(engine)
    fresh = [
        _get(client, viewer, COVERAGE, layer=layer, limit=250, **({"cursor": c} if c else {}))
        for c in cursors
    ]
    assert pages == fresh
    if layer == "centres":
        with engine.connect() as conn:
            assert pages[0]["totals"]["covered_households"] == conn.scalar(text(COVERED_SQL))
            unreached = conn.scalars(text(UNREACHED_SQL)).all()
        listed = [g["code"] for p in pages for g in p["grids_without_facility"]]
        assert listed == unreached


def test_an_address_or_road_written_in_sql_is_seen_by_the_next_request(
    county: tuple[TestClient, Engine, dict],
) -> None:
    client, engine, viewer = county
    before = _get(client, viewer, COVERAGE, layer="cameras", limit=1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO addresses (code, address, normalized, households, geom) "
                "SELECT 'X1', '新楼', '新楼', 77, ST_PointOnSurface(geom) FROM regions "
                "WHERE code = :code AND valid_to IS NULL"
            ),
            {"code": f"{COUNTY}001001001"},
        )
    after = _get(client, viewer, COVERAGE, layer="cameras", limit=1)
    assert after["totals"]["buildings"] == before["totals"]["buildings"] + 1
    assert after["totals"]["households"] == before["totals"]["households"] + 77
    assert "roads" not in after
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO roads (name, geom) "
                "SELECT '新路', ST_ExteriorRing(ST_GeometryN(geom, 1)) "
                "FROM regions WHERE code = :code AND valid_to IS NULL"
            ),
            {"code": f"{COUNTY}001001001"},
        )
        length = conn.scalar(
            text(
                "SELECT ST_Length(ST_ExteriorRing(ST_GeometryN(geom, 1))::geography) FROM regions "
                "WHERE code = :code AND valid_to IS NULL"
            ),
            {"code": f"{COUNTY}001001001"},
        )
    roads = _get(client, viewer, COVERAGE, layer="cameras", limit=1)["roads"]
    assert roads["lines"] == 1
    assert roads["length_m"] == pytest.approx(length, abs=0.01)  # rounded to 1 cm
