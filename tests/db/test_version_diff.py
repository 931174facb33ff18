"""The diff between two boundary versions (GET /api/v1/versions/{a}/diff/{b}) against an
oracle: the two versions' regions read back and compared with shapely, areas with pyproj."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import Engine

from gis.store.versions import ATTRIBUTE_COLUMNS, restore_version

from version_changes import FILE_NAME, grid, upload_changes

GEOD = Geod(ellps="WGS84")
COMPARED = ("name", "parent_code", *ATTRIBUTE_COLUMNS, "attributes")


def _regions(client: TestClient, key: str, version: int) -> dict[str, dict]:
    body = client.get(
        "/api/v1/regions",
        params={"as_of": version, "limit": 1000},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert body["numberMatched"] == body["numberReturned"]
    return {f["id"]: f for f in body["features"]}


def _oracle(old: dict[str, dict], new: dict[str, dict]) -> dict[str, set[str]]:
    """The codes by change, computed with shapely on the regions read back."""
    changed = set()
    for code in old.keys() & new.keys():
        a, b = old[code], new[code]
        same_shape = shape(a["geometry"]).equals(shape(b["geometry"]))
        same_values = all(a["properties"][c] == b["properties"][c] for c in COMPARED)
        if not (same_shape and same_values):
            changed.add(code)
    return {
        "added": new.keys() - old.keys(),
        "removed": old.keys() - new.keys(),
        "changed": changed,
    }


def _geodesic_area(geometry: dict) -> float:
    """Area on the WGS 84 ellipsoid (pyproj), edges densified as PostGIS measures them."""
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(shape(geometry), 1e-6))[0])


def _by_change(body: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"added": set(), "removed": set(), "changed": set()}
    for f in body["features"]:
        found[f["properties"]["change"]].add(f["id"])
    return found


def _diff(client: TestClient, a: int, b: int, key: str | None = None, **params: object) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.get(f"/api/v1/versions/{a}/diff/{b}", params=params, headers=headers)
    assert response.status_code == 200, response.json()
    assert response.headers["content-type"].startswith("application/geo+json")
    return response.json()


def test_diff_matches_the_oracle_after_a_real_upload(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    admin = make_key("admin")
    expected = upload_changes(fresh_client, make_key("editor"), demo_grids, tmp_path)
    old, new = _regions(fresh_client, admin, 1), _regions(fresh_client, admin, 2)
    assert _oracle(old, new) == expected

    body = _diff(fresh_client, 1, 2, admin)
    assert (body["type"], body["crs_name"], body["a"], body["b"]) == (
        "FeatureCollection",
        "EPSG:4326",
        1,
        2,
    )
    assert _by_change(body) == expected
    assert body["summary"] == {k: len(v) for k, v in expected.items()}
    assert body["numberMatched"] == body["numberReturned"] == 6
    assert [f["id"] for f in body["features"]] == sorted(f["id"] for f in body["features"])
    for f in body["features"]:
        p, code = f["properties"], f["id"]
        before = _geodesic_area(old[code]["geometry"]) if code in old else None
        after = _geodesic_area(new[code]["geometry"]) if code in new else None
        for got, want in ((p["area_m2_before"], before), (p["area_m2_after"], after)):
            assert (got is None) == (want is None)
            if want is not None:
                assert got == pytest.approx(want, rel=1e-3)
        assert p["area_delta_m2"] == pytest.approx((after or 0) - (before or 0), rel=1e-3, abs=1)
        # the outline drawn: at b, or at a for a removed region; the old one of a moved outline
        drawn = (new if code in new else old)[code]["geometry"]
        assert shape(f["geometry"]).equals(shape(drawn))
        moved = (
            code in old and code in new and not shape(old[code]["geometry"]).equals(shape(drawn))
        )
        assert p["geometry_changed"] == (moved or p["change"] != "changed")
        if moved:
            assert shape(p["geometry_before"]).equals(shape(old[code]["geometry"]))
        else:
            assert p["geometry_before"] is None
    props = {f["id"]: f["properties"] for f in body["features"]}
    assert props[grid(4)]["changed_attributes"] == ["name"]
    assert props[grid(4)]["after"] == {"name": "山庄里社区新四网格"}
    assert props[grid(4)]["geometry_changed"] is False
    assert props[grid(5)]["changed_attributes"] == ["grid_worker"]
    assert props[grid(5)]["after"] == {"grid_worker": "欧阳晓明"}
    assert props[grid(2)]["area_delta_m2"] > 0 and props[grid(3)]["area_delta_m2"] < 0

    back = _diff(fresh_client, 2, 1, admin)
    assert _by_change(back) == {
        "added": expected["removed"],
        "removed": expected["added"],
        "changed": expected["changed"],
    }
    d3 = {f["id"]: f["properties"] for f in back["features"]}[grid(3)]
    assert d3["area_delta_m2"] == pytest.approx(-props[grid(3)]["area_delta_m2"], abs=0.02)


def test_personal_attributes_by_role(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    upload_changes(fresh_client, make_key("editor"), demo_grids, tmp_path)
    worker = {
        role: {f["id"]: f["properties"] for f in _diff(fresh_client, 1, 2, key)["features"]}[
            grid(5)
        ]
        for role, key in (("anonymous", None), ("viewer", make_key("viewer")))
    }
    anonymous, viewer = worker["anonymous"], worker["viewer"]
    assert anonymous["change"] == "changed"
    assert (anonymous["changed_attributes"], anonymous["before"], anonymous["after"]) == (
        [],
        {},
        {},
    )
    assert viewer["changed_attributes"] == ["grid_worker"]
    assert viewer["after"] == {"grid_worker": "欧**明"}
    assert "欧阳晓明" not in fresh_client.get("/api/v1/versions/1/diff/2").text


def test_equal_versions_limits_levels_and_unknown_versions(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    upload_changes(fresh_client, make_key("editor"), demo_grids, tmp_path)
    same = _diff(fresh_client, 2, 2)
    assert (same["features"], same["numberMatched"]) == ([], 0)
    assert same["summary"] == {"added": 0, "changed": 0, "removed": 0}
    cut = _diff(fresh_client, 1, 2, limit=2)
    assert (cut["numberReturned"], cut["numberMatched"]) == (2, 6)
    assert cut["summary"] == {"added": 1, "changed": 4, "removed": 1}
    assert _diff(fresh_client, 1, 2, level="community")["numberMatched"] == 0
    assert _diff(fresh_client, 1, 2, level="grid")["numberMatched"] == 6
    for path in ("/api/v1/versions/1/diff/99", "/api/v1/versions/99/diff/1"):
        missing = fresh_client.get(path)
        assert (missing.status_code, missing.json()["code"]) == (404, "version_not_found")
    too_many = fresh_client.get("/api/v1/versions/1/diff/2", params={"limit": 5001})
    assert too_many.status_code == 422

    with fresh_engine.begin() as conn:  # restored rows are new rows with the old content
        assert restore_version(conn, 1, author="admin").number == 3
    assert _diff(fresh_client, 1, 3)["numberMatched"] == 0
    assert _by_change(_diff(fresh_client, 2, 3)) == _by_change(_diff(fresh_client, 2, 1))


def test_versions_list_names_the_file_and_counts(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    upload_changes(fresh_client, make_key("editor"), demo_grids, tmp_path)
    listed = fresh_client.get("/api/v1/versions").json()["versions"]
    assert [(v["number"], v["file"]) for v in listed] == [(2, FILE_NAME), (1, None)]
    assert listed[0]["summary"] == {"added": 1, "changed": 4, "removed": 1}
    assert listed[0]["summary"]["changed"] == len(listed[0]["changes"]["modified"])
