"""Boundary versions: new versions on change, old ones readable, restore, audit, atomicity."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely import affinity
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.errors import InvalidInput, NotFound
from gis.settings import Settings
from gis.store.seed import demo_records
from gis.store.stored_form import CopyGeometries, for_copy, stored_form
from gis.store.versions import RegionRecord, commit_regions, current_version, restore_version

from hierarchy import assert_sound

COMMUNITY = "130227001001"
GRID = "130227001001001"


def _record(code: str) -> RegionRecord:
    return next(r for r in demo_records(Settings().demo_dir) if r.code == code)


def _shrunk(record: RegionRecord, **changes: object) -> RegionRecord:
    """The record with its polygon scaled to 90 % about its centroid."""
    geom = affinity.scale(shapely.from_wkb(record.wkb), 0.9, 0.9)
    fields = {**record.__dict__, "wkb": shapely.to_wkb(geom), **changes}
    return RegionRecord(**fields)


def _current_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM regions WHERE valid_to IS NULL"))


def test_change_makes_a_new_version_and_keeps_the_old(
    fresh_engine: Engine, fresh_client: TestClient
) -> None:
    old = fresh_client.get(f"/api/v1/regions/{GRID}").json()
    with fresh_engine.begin() as conn:
        summary = commit_regions(
            conn,
            [_shrunk(_record(GRID), households=399)],
            author="tester",
            action="edit",
            message="shrink one grid",
        )
    assert (summary.number, summary.modified, summary.added, summary.removed) == (
        2,
        [GRID],
        [],
        [],
    )
    new = fresh_client.get(f"/api/v1/regions/{GRID}").json()
    as_of_1 = fresh_client.get(f"/api/v1/regions/{GRID}", params={"as_of": 1}).json()
    assert new["version"] == 2 and new["properties"]["households"] == 399
    assert new["properties"]["valid_from_version"] == 2
    assert as_of_1["geometry"] == old["geometry"]
    assert as_of_1["properties"]["households"] == old["properties"]["households"]
    assert new["properties"]["area_m2"] == pytest.approx(
        old["properties"]["area_m2"] * 0.81, rel=1e-3
    )
    assert _current_rows(fresh_engine) == 98
    with fresh_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM regions WHERE code = :c"), {"c": GRID}) == 2

    versions = fresh_client.get("/api/v1/versions").json()
    assert versions["current"] == 2
    v2 = versions["versions"][0]
    assert (v2["number"], v2["author"], v2["action"], v2["message"]) == (
        2,
        "tester",
        "edit",
        "shrink one grid",
    )
    assert v2["changes"] == {"added": [], "modified": [GRID], "removed": [], "moved": []}
    assert v2["created_at"]


def test_unchanged_records_make_no_version(fresh_engine: Engine) -> None:
    with fresh_engine.begin() as conn:
        summary = commit_regions(conn, [_record(GRID)], author="tester", action="edit")
        assert summary.number is None
        assert current_version(conn) == 1


def test_new_community_polygon_does_not_orphan_its_grids(
    fresh_engine: Engine, fresh_client: TestClient
) -> None:
    before = fresh_client.get(f"/api/v1/regions/{COMMUNITY}/children").json()
    with fresh_engine.begin() as conn:
        commit_regions(conn, [_shrunk(_record(COMMUNITY))], author="tester", action="edit")
    after = fresh_client.get(f"/api/v1/regions/{COMMUNITY}/children").json()
    assert after["version"] == 2
    assert [f["id"] for f in after["features"]] == [f["id"] for f in before["features"]]
    chain = fresh_client.get(f"/api/v1/regions/{GRID}").json()["parents"]
    assert chain[-1]["code"] == COMMUNITY


def test_remove_and_restore(fresh_engine: Engine, fresh_client: TestClient) -> None:
    v1_grids = fresh_client.get("/api/v1/regions", params={"level": "grid", "limit": 1000}).json()
    with fresh_engine.begin() as conn:
        removed = commit_regions(conn, [], author="tester", action="edit", remove=[GRID])
    assert removed.removed == [GRID] and removed.number == 2
    assert fresh_client.get(f"/api/v1/regions/{GRID}").json()["code"] == "region_not_found"
    assert fresh_client.get(f"/api/v1/regions/{GRID}", params={"as_of": 1}).status_code == 200

    with fresh_engine.begin() as conn:
        commit_regions(conn, [_shrunk(_record(COMMUNITY))], author="tester", action="edit")
        restored = restore_version(conn, 1, author="admin")
    assert restored.number == 4
    assert restored.added == [GRID] and restored.modified == [COMMUNITY]
    now = fresh_client.get("/api/v1/regions", params={"level": "grid", "limit": 1000}).json()
    assert now["version"] == 4
    assert now["features"] == [
        {**f, "properties": {**f["properties"], "valid_from_version": 4}} if f["id"] == GRID else f
        for f in v1_grids["features"]
    ]
    community = fresh_client.get(f"/api/v1/regions/{COMMUNITY}").json()
    original = fresh_client.get(f"/api/v1/regions/{COMMUNITY}", params={"as_of": 1}).json()
    assert community["geometry"] == original["geometry"]
    v4 = fresh_client.get("/api/v1/versions").json()["versions"][0]
    assert (v4["action"], v4["restored_from"], v4["author"]) == ("restore", 1, "admin")
    assert _current_rows(fresh_engine) == 98


def test_restore_rejects_unknown_and_current_versions(fresh_engine: Engine) -> None:
    with fresh_engine.begin() as conn:
        with pytest.raises(NotFound) as unknown:
            restore_version(conn, 42, author="admin")
        assert unknown.value.code == "version_not_found"
        with pytest.raises(InvalidInput) as current:
            restore_version(conn, 1, author="admin")
        assert current.value.code == "version_is_current"


def test_failed_commit_changes_nothing(fresh_engine: Engine) -> None:
    """A commit that fails half-way (here: a bad level after good rows) leaves no trace."""
    good = _shrunk(_record(GRID))
    broken = _shrunk(_record(COMMUNITY), level="province")
    with pytest.raises(InvalidInput) as error, fresh_engine.begin() as conn:
        commit_regions(conn, [good, broken], author="tester", action="edit")
    assert error.value.code == "invalid_level"
    dup = [good, _record(GRID)]
    with pytest.raises(InvalidInput) as error, fresh_engine.begin() as conn:
        commit_regions(conn, dup, author="tester", action="edit")
    assert error.value.code == "duplicate_code"
    invalid_geometry = RegionRecord(**{**good.__dict__, "wkb": b"not wkb"})
    with pytest.raises(Exception), fresh_engine.begin() as conn:  # noqa: B017 - driver error
        commit_regions(conn, [good, invalid_geometry], author="tester", action="edit")
    with fresh_engine.connect() as conn:
        assert current_version(conn) == 1
        assert conn.scalar(text("SELECT count(*) FROM regions")) == 98
        geom = conn.scalar(
            text("SELECT ST_AsGeoJSON(geom) FROM regions WHERE code = :c"), {"c": GRID}
        )
    assert shape(__import__("json").loads(geom)).equals(shapely.from_wkb(_record(GRID).wkb))


def test_new_changed_and_unchanged_regions_in_one_commit(fresh_engine: Engine) -> None:
    """Geometries given in chunks (one region each): a new region's row is written straight
    as the version's, with its own attributes; a changed one replaces its row, keeping the
    columns named in ``keep`` and merging free attributes; an unchanged one keeps its row;
    one geometry short of the records fails and leaves nothing."""
    grid = _record(GRID)
    new_code = "990000"  # a county of its own, far from the demo city
    far = shapely.to_wkb(shapely.box(100.0, 30.0, 100.1, 30.1))
    free = {"a": 1, "备注": '东区 "甲"', "n": {"x": [1, 2.5, None, True]}}  # as jsonb keeps it
    new = RegionRecord(new_code, "county", "新县", far, households=7, attributes=free)
    changed = RegionRecord(**{**grid.__dict__, "households": 1, "attributes": {"b": 2}})
    unchanged = _record(COMMUNITY + "002")
    records = [new, changed, unchanged]
    made = for_copy(stored_form(shapely.from_wkb([r.wkb for r in records])))
    chunks = [CopyGeometries(made.ewkb[i : i + 1], made.area_m2[i : i + 1]) for i in range(3)]
    with pytest.raises(ValueError), fresh_engine.begin() as conn:
        commit_regions(conn, records, author="t", action="edit", geometries=chunks[:2])
    with fresh_engine.begin() as conn:
        summary = commit_regions(
            conn,
            records,
            author="t",
            action="edit",
            geometries=iter(chunks),
            keep=["households"],
            merge_attributes=True,
        )
        rows = conn.execute(
            text(
                "SELECT code, households, attributes, valid_from, area_m2 FROM regions "
                "WHERE valid_to IS NULL AND code = ANY(:c) ORDER BY code"
            ),
            {"c": [r.code for r in records]},
        ).all()
    assert (summary.number, summary.added, summary.modified) == (2, [new_code], [GRID])
    old = {**grid.attributes, "b": 2}
    by_code = {r.code: r for r in rows}
    assert {c: (r.households, r.attributes, r.valid_from) for c, r in by_code.items()} == {
        GRID: (grid.households, {k: v for k, v in old.items() if k not in ("level", "area_m2")}, 2),
        new_code: (7, free, 2),
        unchanged.code: (unchanged.households, by_code[unchanged.code].attributes, 1),
    }
    assert [by_code[new_code].area_m2, by_code[GRID].area_m2] == made.area_m2[:2]
    assert_sound(fresh_engine)
