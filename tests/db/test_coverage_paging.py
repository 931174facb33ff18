"""Coverage and grid standards paged by grid (limit + keyset cursor): the pages of a region
put together are the whole answer, every page carries the whole region's totals, and a bad
cursor or limit is refused.  On a county of 3 000 synthetic grids (``tests/large_city.py``)
the totals and the grids in reach are checked against PostGIS (geography distances), not
against ``gis.analysis``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gis.access.auth import create_key
from gis.analysis.paging import MAX_LIMIT, encode
from gis.settings import Settings

from large_city import COUNTY, add_county
from support import database_copy

GRIDS = 3000
STREET = "130227001"


def _key(engine: Engine) -> dict[str, str]:
    with engine.begin() as conn:
        return {"Authorization": f"Bearer {create_key(conn, role='viewer', name='analyst')}"}


@pytest.fixture(scope="module")
def county(server_url: str, template_db: str) -> Iterator[tuple[TestClient, Engine, dict]]:
    """(client, engine, viewer header) of the demo plus a 3 000-grid county with buildings,
    a station in every community and a camera every 7 grids."""
    with database_copy(server_url, template_db) as (url, engine):
        add_county(engine, GRIDS, buildings=2, centre_every=1, camera_every=7)
        with TestClient(create_app(Settings(database_url=url))) as client:
            yield client, engine, _key(engine)


def _pages(client: TestClient, path: str, headers: dict, limit: int, **params: Any) -> list:
    pages, cursor = [], None
    while True:
        query = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        answer = client.get(path, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        cursor = pages[-1]["page"]["next_cursor"]
        if cursor is None:
            return pages


LISTS = ("grids", "blind_spots", "grids_without_facility", "uncovered")


@pytest.mark.parametrize("layer", ["centres", "cameras"])
def test_coverage_pages_put_together_are_the_whole(
    county: tuple[TestClient, Engine, dict], layer: str
) -> None:
    client, _, viewer = county
    path = "/api/v1/analysis/coverage"
    (whole,) = _pages(client, path, viewer, MAX_LIMIT, region=COUNTY, layer=layer)
    assert whole["page"] == {
        "limit": MAX_LIMIT,
        "grids_total": GRIDS,
        "grids_returned": GRIDS,
        "next_cursor": None,
    }
    pages = _pages(client, path, viewer, 700, region=COUNTY, layer=layer)
    assert [p["page"]["grids_returned"] for p in pages] == [700, 700, 700, 700, 200]
    for name in LISTS:
        paged = [row for p in pages for row in p[name]]
        if name == "uncovered":  # by building code on each page: pages come by grid
            paged.sort(key=lambda row: row["code"])
        assert paged == whole[name], name
    for p in pages:
        assert p["totals"] == whole["totals"] and p["facilities"] == whole["facilities"]
    codes = [g["code"] for g in whole["grids"]]
    assert codes == sorted(codes) and len(set(codes)) == GRIDS
    # keyset: a page starts after the cursor's code, whatever came before it
    after = client.get(
        path,
        params={"region": COUNTY, "layer": layer, "limit": 5, "cursor": encode(codes[1234])},
        headers=viewer,
    ).json()
    assert [g["code"] for g in after["grids"]] == codes[1235:1240]


def test_standards_pages_put_together_are_the_whole(
    county: tuple[TestClient, Engine, dict],
) -> None:
    client, _, viewer = county
    path = "/api/v1/analysis/grid-standards"
    (whole,) = _pages(client, path, viewer, MAX_LIMIT, region=COUNTY)
    pages = _pages(client, path, viewer, 1000, region=COUNTY)
    assert len(pages) == 3
    assert [g for p in pages for g in p["grids"]] == whole["grids"]
    assert all(p["communities"] == whole["communities"] for p in pages)
    assert whole["totals"]["grids"] == GRIDS


def test_totals_and_reach_agree_with_postgis(county: tuple[TestClient, Engine, dict]) -> None:
    """Households covered (a building within a station's 500 m) and the grids no station
    reaches (geodesic distance to the grid over 500 m), from PostGIS geography."""
    client, engine, viewer = county
    (whole,) = _pages(
        client, "/api/v1/analysis/coverage", viewer, MAX_LIMIT, region=COUNTY, layer="centres"
    )
    with engine.connect() as conn:
        covered = conn.scalar(
            text(
                "SELECT sum(households) FROM addresses a WHERE a.code LIKE 'B%' AND EXISTS "
                "(SELECT 1 FROM centres c WHERE ST_DWithin(a.geom::geography, "
                "c.geom::geography, c.radius_m))"
            )
        )
        unreached = conn.scalars(
            text(
                "SELECT g.code FROM regions g WHERE g.level = 'grid' AND g.valid_to IS NULL "
                f"AND g.code LIKE '{COUNTY}%' AND NOT EXISTS (SELECT 1 FROM centres c WHERE "
                "ST_DWithin(g.geom::geography, c.geom::geography, c.radius_m)) "
                'ORDER BY g.code COLLATE "C"'
            )
        ).all()
    assert whole["totals"]["covered_households"] == covered
    assert [g["code"] for g in whole["grids_without_facility"]] == unreached
    reached = [g["code"] for g in whole["grids"] if g["facilities_in_reach"]]
    assert len(reached) + len(unreached) == GRIDS


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "!!"}, "invalid_cursor"),
        ({"cursor": encode("\x00")}, "invalid_cursor"),
        ({"limit": 0}, "invalid_parameter"),
        ({"limit": MAX_LIMIT + 1}, "invalid_parameter"),
    ],
)
def test_a_bad_page_is_refused(
    client: TestClient, engine: Engine, params: dict[str, Any], code: str
) -> None:
    for path in ("/api/v1/analysis/coverage", "/api/v1/analysis/grid-standards"):
        answer = client.get(path, params={"region": STREET, **params}, headers=_key(engine))
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code
