"""``GET /api/v1/lookup?address=…``: free address text → the registry entry → its grid.

The expected grid of each address is computed independently, by PostGIS ``ST_Covers`` over
the registry point (lowest code on a shared edge), not by the lookup index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from address_registry import FULL_WIDTH, chinese, misspelt
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.settings import Settings
from gis.store.demo_files import read_addresses

REGISTRY = read_addresses(Settings().demo_dir)
BUILDINGS = [r for r in REGISTRY if r["building"] and r["units"] and r["floors"]]
SAMPLE = [
    BUILDINGS[i]
    for i in sorted(np.random.default_rng(4).choice(len(BUILDINGS), 12, replace=False).tolist())
]


def _unit_room(row: dict[str, str]) -> tuple[str, int]:
    unit, floor = min(2, int(row["units"])), min(3, int(row["floors"]))
    place = f"{row['road']}{row['road_number']}号{row['compound']}"
    return f"{place}{row['building']}-{unit}-{floor}01", 100 * floor + 1


FORMS = {
    "exact": lambda r: r["address"],
    "typo": lambda r: misspelt(r["address"], r["compound"]),
    "full-width": lambda r: r["address"].translate(FULL_WIDTH),
    "chinese numerals": lambda r: r["address"].replace(
        f"{r['building']}号楼", f"{chinese(int(r['building']))}号楼"
    ),
    "5-2-301": lambda r: _unit_room(r)[0],
}


@pytest.fixture(scope="module")
def expected_grids(engine: Engine) -> dict[str, str | None]:
    """Registry code → code of the lowest-code current grid covering its point (PostGIS)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.code, (SELECT min(r.code) FROM regions r WHERE r.level = 'grid' "
                "AND r.valid_to IS NULL AND ST_Covers(r.geom, a.geom)) FROM addresses a"
            )
        )
        return {code: grid for code, grid in rows}


def _lookup(client: TestClient, address: str) -> Any:
    return client.get("/api/v1/lookup", params={"address": address})


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("row", SAMPLE, ids=[r["code"] for r in SAMPLE])
def test_each_form_finds_the_right_grid(
    client: TestClient, expected_grids: dict[str, str | None], row: dict[str, str], form: str
) -> None:
    query = FORMS[form](row)
    response = _lookup(client, query)
    assert response.status_code == 200, (query, response.json())
    body = response.json()
    match = body["match"]
    assert match["address"]["code"] == row["code"], query
    assert expected_grids[row["code"]] is not None, "demo registry points lie in grids"
    assert body["covered"] is True
    assert body["grid"]["code"] == expected_grids[row["code"]]
    assert body["community"]["code"] == body["grid"]["code"][:12]
    assert (body["point"]["lon"], body["point"]["lat"]) == pytest.approx(
        (float(row["lon"]), float(row["lat"])), abs=1e-7
    )
    assert body["crs"] == "EPSG:4326" and body["version"] == 1
    assert match["level"] == "building", "the registry entry that matched is a building"
    if form == "5-2-301":
        unit, room = str(min(2, int(row["units"]))), str(_unit_room(row)[1])
        assert (match["unit"], match["room"]) == (unit, room)
        assert match["rest"] == f"{unit}单元{room}室"
    else:
        assert match["unit"] is match["room"] is match["rest"] is None
    assert (match["confidence"] == 1.0) == (form != "typo")


def test_ambiguous_address_lists_candidates_with_their_grids(
    client: TestClient, expected_grids: dict[str, str | None]
) -> None:
    body = _lookup(client, "阳光5号楼").json()
    candidates = body["match"]["candidates"]
    assert 2 <= len(candidates) <= 5
    assert {c["address"]["compound"] for c in candidates} == {"阳光小区", "阳光花园"}
    for candidate in candidates:
        assert candidate["grid"]["code"] == expected_grids[candidate["address"]["code"]]
    assert body["grid"]["code"] == candidates[0]["grid"]["code"]


def test_unknown_and_empty_addresses(client: TestClient) -> None:
    unknown = _lookup(client, "火星路999号月亮小区")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "address_not_found")
    assert 1 <= len(unknown.json()["details"]["suggestions"]) <= 5
    for blank in ("", "  ", "。"):
        empty = _lookup(client, blank)
        assert (empty.status_code, empty.json()["code"]) == (422, "empty_address")


@pytest.mark.parametrize(
    "params",
    [{}, {"lon": 118.3}, {"address": "阳光小区", "lon": 118.3, "lat": 40.1}],
    ids=["nothing", "lon only", "address and point"],
)
def test_a_point_or_an_address(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/lookup", params=params)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_parameter")
