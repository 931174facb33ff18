"""Topology-aware boundary edits (issue 15 §4, POST /api/v1/edits): split a grid and merge it
back to the original geometry; move a shared vertex and both neighbours follow — no gap, no
overlap; bad operations refused with nothing changed; a commit is one version.  The oracles
are PostGIS (ST_SymDifference, ST_Union, geography areas), shapely with pyproj's geodesic
areas, and tests/hierarchy.py's invariants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import mapping
from sqlalchemy import Engine, text

from gis.edit import draft
from gis.settings import Settings

from hierarchy import assert_sound

pytestmark = pytest.mark.db

COMMUNITY = "130227001002"
"""清泉里社区: six grids, 001 … 006."""
GRID = f"{COMMUNITY}001"
NEIGHBOUR = f"{COMMUNITY}002"
FAR = f"{COMMUNITY}003"
"""Shares no edge with GRID."""
GEOD = Geod(ellps="WGS84")


def _area_m2(geometry: Any) -> float:
    """Geodesic area by pyproj (not gridmap's geodesy) of the geometry densified to 1e-4°:
    its edges are straight in lon/lat, not geodesics (see tests/hierarchy.py)."""
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(geometry, 1e-4))[0])


def _stored(engine: Engine, parent: str = COMMUNITY) -> dict[str, dict[str, Any]]:
    """The current grids under ``parent``: geometry and typed columns."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, households, population, grid_worker, ST_AsBinary(geom) AS g "
                "FROM regions WHERE valid_to IS NULL AND parent_code = :p ORDER BY code"
            ),
            {"p": parent},
        ).mappings()
        return {r["code"]: {**r, "g": shapely.from_wkb(bytes(r["g"]))} for r in rows}


def _versions(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM boundary_versions"))


def _post(client: TestClient, key: str, *operations: dict, dry_run: bool = False) -> Any:
    return client.post(
        "/api/v1/edits",
        json={"dry_run": dry_run, "operations": list(operations)},
        headers={"Authorization": f"Bearer {key}"},
    )


def _line_across(geometry: Any) -> dict[str, Any]:
    """A north–south line through the middle of ``geometry``, beyond both its edges."""
    minx, miny, maxx, maxy = geometry.bounds
    x = (minx + maxx) / 2
    return mapping(shapely.LineString([(x, miny - 0.001), (x, maxy + 0.001)]))


def _sym_difference_m2(engine: Engine, code: str, original: Any) -> float:
    """PostGIS: area (m², geography) of the stored region's symmetric difference with
    ``original``."""
    with engine.connect() as conn:
        return conn.scalar(
            text(
                f"SELECT {_m2('ST_SymDifference(geom, ST_GeomFromWKB(:g, 4326))')} "
                "FROM regions WHERE valid_to IS NULL AND code = :c"
            ),
            {"g": shapely.to_wkb(original), "c": code},
        )


def test_split_then_merge_back_restores_the_grid(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    before = _stored(fresh_engine)
    original = before[GRID]
    versions = _versions(fresh_engine)

    split = _post(
        fresh_client, key, {"op": "split", "code": GRID, "line": _line_across(original["g"])}
    )
    assert split.status_code == 201, split.text
    new_code = f"{COMMUNITY}007"  # the next free sequence after 001 … 006
    body = split.json()
    assert body["report"]["ok"] and body["version"] == versions + 1
    assert body["report"]["summary"]["changes"] == {
        "added": [new_code],
        "modified": [GRID],
        "removed": [],
    }
    changes = {
        f["properties"]["code"]: f["properties"]["change"] for f in body["regions"]["features"]
    }
    assert changes[new_code] == "added" and changes[GRID] == "modified"
    assert changes[NEIGHBOUR] == "unchanged"
    assert _versions(fresh_engine) == versions + 1
    assert_sound(fresh_engine)

    after = _stored(fresh_engine)
    kept, piece = after[GRID], after[new_code]
    assert _area_m2(kept["g"]) >= _area_m2(piece["g"]) > 0, "the larger piece keeps the code"
    assert kept["households"] + piece["households"] == original["households"]
    assert kept["population"] + piece["population"] == original["population"]
    share = _area_m2(piece["g"]) / _area_m2(original["g"])
    assert piece["households"] == pytest.approx(original["households"] * share, abs=1)
    assert piece["grid_worker"] is None and kept["grid_worker"] == original["grid_worker"]
    together = shapely.union(kept["g"], piece["g"])
    assert _area_m2(shapely.symmetric_difference(together, original["g"])) < 1.0
    assert _area_m2(shapely.intersection(kept["g"], piece["g"])) < 1.0

    merged = _post(fresh_client, key, {"op": "merge", "codes": [GRID, new_code], "into": GRID})
    assert merged.status_code == 201, merged.text
    assert merged.json()["report"]["summary"]["changes"]["removed"] == [new_code]
    assert _versions(fresh_engine) == versions + 2
    assert_sound(fresh_engine)
    restored = _stored(fresh_engine)
    assert set(restored) == set(before)
    back = restored[GRID]
    assert _area_m2(shapely.symmetric_difference(back["g"], original["g"])) < 1.0  # shapely
    assert _sym_difference_m2(fresh_engine, GRID, original["g"]) < 1.0  # PostGIS
    assert (back["households"], back["population"], back["grid_worker"], back["name"]) == (
        original["households"],
        original["population"],
        original["grid_worker"],
        original["name"],
    )


def _bent(grid: Any, neighbour: Any, toward: Any, share: float) -> Any:
    """``grid``'s outline with the first edge it shares with ``neighbour`` bent: a vertex
    added at the edge's middle and moved ``share`` of the way to the point ``toward`` — what
    dragging an edge's middle marker on the edit page sends (on the storage grid)."""
    ring = shapely.get_coordinates(shapely.get_exterior_ring(shapely.get_parts(grid)[0]))
    for i in range(len(ring) - 1):
        middle = (ring[i] + ring[i + 1]) / 2
        if shapely.Point(middle).distance(neighbour.boundary) < 1e-7:
            moved = (middle + share * (np.array(toward.coords[0]) - middle)).round(7)
            return shapely.Polygon([*ring[: i + 1], moved, *ring[i + 1 :]])
    raise AssertionError("the grids share no edge")


def _m2(geometry_sql: str) -> str:
    """SQL: the geography area of a geometry densified to 1e-4° (see :func:`_area_m2`)."""
    return f"ST_Area(ST_Segmentize({geometry_sql}, 1e-4)::geography)"


def _partition_breaches(engine: Engine) -> dict[str, float]:
    """PostGIS: the community's grids cover it (area of the symmetric difference of their
    union with it) and overlap nowhere (largest pairwise intersection, and ST_Overlaps)."""
    union = "(SELECT ST_Union(geom) FROM regions WHERE valid_to IS NULL AND parent_code = :p)"
    common = _m2("ST_Intersection(a.geom, b.geom)")
    with engine.connect() as conn:
        cover = conn.scalar(
            text(
                f"SELECT {_m2(f'ST_SymDifference(p.geom, {union})')} "
                "FROM regions p WHERE valid_to IS NULL AND code = :p"
            ),
            {"p": COMMUNITY},
        )
        overlap, overlaps = conn.execute(
            text(
                f"SELECT coalesce(max({common}), 0), "
                f"bool_or(ST_Overlaps(a.geom, b.geom) AND {common} > 1) "
                "FROM regions a JOIN regions b ON a.code < b.code AND a.geom && b.geom "
                "WHERE a.valid_to IS NULL AND b.valid_to IS NULL "
                "AND a.parent_code = :p AND b.parent_code = :p"
            ),
            {"p": COMMUNITY},
        ).one()
    return {"cover": cover, "overlap": overlap, "overlaps": float(bool(overlaps))}


@pytest.mark.parametrize("direction", [0.3, -0.3], ids=["into-the-neighbour", "away-from-it"])
def test_moving_a_shared_edge_moves_both_neighbours(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    direction: float,
) -> None:
    key = make_key("editor")
    before = _stored(fresh_engine)
    grid, neighbour = before[GRID]["g"], before[NEIGHBOUR]["g"]
    toward = neighbour.centroid if direction > 0 else grid.centroid
    outline = _bent(grid, neighbour, toward, abs(direction))
    answer = _post(fresh_client, key, {"op": "reshape", "code": GRID, "geometry": mapping(outline)})
    assert answer.status_code == 201, answer.text
    assert {GRID, NEIGHBOUR} <= set(answer.json()["report"]["summary"]["changes"]["modified"])
    after = _stored(fresh_engine)
    assert _area_m2(shapely.symmetric_difference(after[GRID]["g"], outline)) < 1.0
    gained = _area_m2(after[GRID]["g"]) - _area_m2(grid)
    assert (gained > 100) == (direction > 0) and abs(gained) > 100
    lost = _area_m2(neighbour) - _area_m2(after[NEIGHBOUR]["g"])
    if direction > 0:  # all the ground gained came from the neighbour
        assert lost == pytest.approx(gained, rel=0.01)
    breaches = _partition_breaches(fresh_engine)
    assert breaches["cover"] < 1.0 and breaches["overlap"] < 1.0 and not breaches["overlaps"], (
        breaches
    )
    assert_sound(fresh_engine)


def test_a_dry_run_changes_nothing_and_answers_the_draft(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    before, versions = _stored(fresh_engine), _versions(fresh_engine)
    answer = _post(
        fresh_client,
        key,
        {"op": "split", "code": GRID, "line": _line_across(before[GRID]["g"])},
        {"op": "attributes", "code": GRID, "set": {"name": "新网格", "households": 100}},
        dry_run=True,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "dry_run" and body["version"] is None and body["report"]["ok"]
    features = {f["properties"]["code"]: f for f in body["regions"]["features"]}
    assert features[GRID]["properties"]["name"] == "新网格"
    assert set(features) == {*before, f"{COMMUNITY}007"}
    assert "grid_worker" not in features[GRID]["properties"], "no personal data in the draft"
    assert _stored(fresh_engine) == before and _versions(fresh_engine) == versions
    with fresh_engine.connect() as conn:
        filename = conn.scalar(text("SELECT filename FROM uploads ORDER BY id DESC LIMIT 1"))
    assert filename.startswith("编辑: split")


@pytest.mark.parametrize(
    ("operation", "code", "field"),
    [
        ({"op": "split", "code": GRID, "line": "inside"}, "invalid_split", None),
        (
            {"op": "split", "code": GRID, "line": {"type": "Point", "coordinates": [118, 40]}},
            "invalid_geometry",
            None,
        ),
        ({"op": "merge", "codes": [GRID, FAR], "into": GRID}, "invalid_merge", None),
        ({"op": "merge", "codes": [GRID, "130227001001001"], "into": GRID}, "invalid_merge", None),
        ({"op": "merge", "codes": [GRID, NEIGHBOUR], "into": FAR}, "invalid_merge", None),
        (
            {"op": "attributes", "code": GRID, "set": {"households": "many"}},
            "invalid_attribute",
            "households",
        ),
        (
            {"op": "attributes", "code": GRID, "set": {"grid_worker_phone": "123"}},
            "invalid_attribute",
            "grid_worker_phone",
        ),
        (
            {"op": "attributes", "code": GRID, "set": {"colour": "red"}},
            "invalid_attribute",
            "colour",
        ),
        (
            {"op": "attributes", "code": "130227001002999", "set": {"name": "x"}},
            "region_not_found",
            None,
        ),
    ],
)
def test_bad_operations_are_refused_and_change_nothing(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    operation: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    key = make_key("editor")
    before, versions = _stored(fresh_engine), _versions(fresh_engine)
    if operation.get("line") == "inside":  # a line that ends inside the grid
        c = before[GRID]["g"].representative_point()
        operation["line"] = mapping(shapely.LineString([(c.x, c.y), (c.x + 1e-5, c.y + 1e-5)]))
    answer = _post(fresh_client, key, operation)
    assert answer.status_code in (404, 422), answer.text
    error = answer.json()
    assert error["code"] == code, error
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), "a message in Chinese"
    if field:
        assert error["details"]["field"] == field and field in error["message"]
    assert _stored(fresh_engine) == before and _versions(fresh_engine) == versions


def test_an_operation_on_a_region_merged_away_earlier_is_refused(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    answer = _post(
        fresh_client,
        make_key("editor"),
        {"op": "merge", "codes": [GRID, NEIGHBOUR], "into": GRID},
        {"op": "attributes", "code": NEIGHBOUR, "set": {"households": 1}},
        dry_run=True,
    )
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_edit", answer.text


def test_a_draft_that_fails_validation_is_refused_with_its_report(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    before, versions = _stored(fresh_engine), _versions(fresh_engine)
    outside = shapely.affinity.translate(before[GRID]["g"], xoff=-0.02)  # ~1.7 km west
    answer = _post(fresh_client, key, {"op": "reshape", "code": GRID, "geometry": mapping(outside)})
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["code"] == "validation_failed"
    report = error["details"]["report"]
    assert not report["ok"] and report["summary"]["errors"] > 0
    assert error["details"]["regions"]["type"] == "FeatureCollection"
    assert _stored(fresh_engine) == before and _versions(fresh_engine) == versions


def test_edits_need_an_editor_and_bounded_bodies(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    operation = {"op": "attributes", "code": GRID, "set": {"households": 1}}
    assert fresh_client.post("/api/v1/edits", json={"operations": [operation]}).status_code == 401
    assert _post(fresh_client, make_key("viewer"), operation).status_code == 403
    too_many = _post(fresh_client, make_key("editor"), *[operation] * 101)
    assert too_many.status_code == 422, too_many.text


@pytest.mark.parametrize(
    ("scope", "status"), [("130227001001", 403), (COMMUNITY, 200), ("130227001", 200)]
)
def test_an_editor_edits_within_their_scope_only(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    scope: str,
    status: int,
) -> None:
    key = make_key("editor")
    with fresh_engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET scope_code = :s"), {"s": scope})
    before = _stored(fresh_engine)
    line = _line_across(before[GRID]["g"])
    answer = _post(fresh_client, key, {"op": "split", "code": GRID, "line": line}, dry_run=True)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.json()["code"] == "out_of_scope"
    assert _stored(fresh_engine) == before


def test_attributes_are_stored_and_checked_as_typed(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    values = {"name": "清泉里第一网格", "households": 400, "grid_worker_phone": "0315-5612345"}
    answer = _post(fresh_client, key, {"op": "attributes", "code": GRID, "set": values})
    assert answer.status_code == 201, answer.text
    assert answer.json()["report"]["summary"]["changes"]["modified"] == [GRID]
    with fresh_engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT name, households, grid_worker_phone FROM regions "
                "WHERE valid_to IS NULL AND code = :c"
            ),
            {"c": GRID},
        ).one()
        action = conn.scalar(
            text("SELECT action FROM boundary_versions ORDER BY number DESC LIMIT 1")
        )
    assert tuple(stored) == ("清泉里第一网格", 400, "0315-5612345")
    assert action == "edit", "the history tells an edit from an upload"


def test_a_draft_is_refused_when_the_boundaries_changed_meanwhile(
    fresh_db_url: str, fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The draft was loaded at the version before the current one (as if another clerk
    committed while it was edited): its commit is refused, nothing changed."""
    real = draft.current_version
    calls: list[int] = []

    def loaded_earlier(conn: Any) -> int:
        calls.append(1)
        return real(conn) - (1 if len(calls) == 1 else 0)

    monkeypatch.setattr(draft, "current_version", loaded_earlier)
    before, versions = _stored(fresh_engine), _versions(fresh_engine)
    result = draft.run_edit(
        fresh_engine,
        [{"op": "attributes", "code": GRID, "set": {"households": 1}}],
        author="test",
        scope=None,
        settings=Settings(database_url=fresh_db_url),
        dry_run=False,
    )
    assert result.upload.status == "rejected"
    assert [p["kind"] for p in result.upload.report["problems"]] == ["stale_draft"]
    assert _stored(fresh_engine) == before and _versions(fresh_engine) == versions
