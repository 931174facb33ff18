"""Region scope on every write path (issue 15 §1): a principal scoped to a region changes only
what lies inside it — boundary uploads (codes, removals, parents), point uploads and point
writes (on the scope's polygon), roads (refused), restores (refused), ``gridmap import
--user`` — and is refused with 403 ``out_of_scope`` before anything is written, dry run or
not.  Scoped keys are made by ``POST /api/v1/keys`` and ``gridmap keys create --scope``.

The oracles are the demo city's files read directly: ancestry from their ``parent_code``,
"on the polygon" by shapely (gridmap's checks walk the stored regions in PostGIS)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import mapping, shape
from sqlalchemy import Engine, text

from gis.access.auth import issue_key
from gis.access.scope import check_codes, check_points
from gis.errors import Forbidden

from support import GRIDMAP, REGIONS, make_user, state, upload

MINE = "130227001002"
"""清泉里社区: the scoped editors' community."""
OTHER = "130227001001"
"""Another community of the same street."""
STREET = "130227001"
PARENT = {
    f["properties"]["code"]: f["properties"]["parent_code"]
    for features in REGIONS.values()
    for f in features
}
"""Each demo region's parent, from the files."""
POLYGON = {f["properties"]["code"]: shape(f["geometry"]) for fs in REGIONS.values() for f in fs}


def _inside(code: str, scope: str) -> bool:
    """Oracle: ``scope`` is a strict ancestor of ``code``."""
    parent = PARENT.get(code)
    while parent is not None:
        if parent == scope:
            return True
        parent = PARENT.get(parent)
    return False


def _refused(call: Callable[[], Any]) -> list[str] | None:
    """The codes an ``out_of_scope`` refusal names; None when ``call`` passes."""
    try:
        call()
    except Forbidden as error:
        assert error.code == "out_of_scope" and error.details["codes"], error.details
        assert "超出权限范围" in error.message and "outside your scope" in error.message
        return error.details["codes"]
    return None


@pytest.mark.parametrize("scope", [STREET, MINE])
def test_check_codes_follows_the_stored_hierarchy(engine: Engine, scope: str) -> None:
    codes = sorted(PARENT)
    expected = [c for c in codes if not _inside(c, scope)]
    assert scope in expected, "a scope's own outline is shared with its neighbours: outside"
    with engine.connect() as conn:
        assert _refused(lambda: check_codes(conn, scope, codes)) == expected
        for code in codes:  # one by one, and each as the parent of a new region
            outside = _refused(lambda code=code: check_codes(conn, scope, [code]))
            assert (outside is not None) == (code in expected), code
            as_parent = _refused(lambda code=code: check_codes(conn, scope, [], parents=[code]))
            assert (as_parent is not None) == (code in expected and code != scope), code
        assert _refused(lambda: check_codes(conn, scope, ["999"])) == ["999"], "unknown: outside"
        check_codes(conn, None, codes, parents=["999"])  # unscoped: everywhere


def test_check_points_uses_the_scope_polygon(engine: Engine) -> None:
    grids = [f["properties"]["code"] for f in REGIONS["grids"]]
    points = [shapely.point_on_surface(POLYGON[c]) for c in grids]
    expected = [str(i + 1) for i, p in enumerate(points) if not POLYGON[MINE].covers(p)]
    assert 0 < len(expected) < len(points)
    assert expected == [str(i + 1) for i, c in enumerate(grids) if PARENT[c] != MINE]
    with engine.connect() as conn:
        assert _refused(lambda: check_points(conn, MINE, points)) == expected
        inside = [p for i, p in enumerate(points) if str(i + 1) not in expected]
        check_points(conn, MINE, [*inside, None])
        check_points(conn, None, points)


# --------------------------------------------------------------------------- over HTTP


def _key(engine: Engine, role: str, scope: str | None) -> str:
    with engine.begin() as conn:
        return issue_key(conn, role=role, name=f"{role}-{scope}", scope=scope)[1]


def _regions(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT code, parent_code, households, ST_AsBinary(geom) FROM regions "
                "WHERE valid_to IS NULL ORDER BY code"
            )
        ).all()


def _grids_of(community: str) -> list[dict[str, Any]]:
    return [
        json.loads(json.dumps(f))
        for f in REGIONS["grids"]
        if f["properties"]["parent_code"] == community
    ]


def _split(features: list[dict[str, Any]], new_code: str) -> list[dict[str, Any]]:
    """The first grid cut in two along its middle meridian; the east half a new grid."""
    first = features[0]
    geom = shape(first["geometry"])
    west, south, east, north = geom.bounds
    middle = (west + east) / 2
    halves = [geom & shapely.box(west - 1, south - 1, middle, north + 1)]
    halves.append(geom - halves[0])
    first["geometry"] = mapping(shapely.MultiPolygon(shapely.get_parts(halves[0])))
    new = {
        "type": "Feature",
        "properties": {**first["properties"], "code": new_code, "name": f"{new_code}网格"},
        "geometry": mapping(shapely.MultiPolygon(shapely.get_parts(halves[1]))),
    }
    return [*features, new]


def _file(tmp_path: Path, features: list[dict[str, Any]], name: str = "grids.geojson") -> Path:
    path = tmp_path / name
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def _refused_upload(
    client: TestClient, engine: Engine, path: Path, key: str, **form: Any
) -> dict[str, Any]:
    """Both a dry run and a commit answer 403 out_of_scope; nothing changes, nothing is
    recorded."""
    before, regions = state(engine), _regions(engine)
    for dry_run in (True, False):
        answer = upload(client, path, key, dry_run=dry_run, **form)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "out_of_scope"
    assert state(engine) == before and _regions(engine) == regions
    return answer.json()


def test_a_community_editor_uploads_its_own_grids_only(
    fresh_client: TestClient, fresh_engine: Engine, tmp_path: Path
) -> None:
    key = _key(fresh_engine, "editor", MINE)
    mine = _grids_of(MINE)
    mine[0]["properties"]["households"] = 4321
    done = upload(fresh_client, _file(tmp_path, mine), key, level="grid", dry_run=False)
    assert done.status_code == 201, done.text
    assert done.json()["version"] == 2
    assert done.json()["report"]["summary"]["changes"]["modified"] == [
        mine[0]["properties"]["code"]
    ]

    other = _grids_of(OTHER)
    other[0]["properties"]["households"] = 4321
    refused = _refused_upload(fresh_client, fresh_engine, _file(tmp_path, other), key, level="grid")
    grids = [f["properties"]["code"] for f in other]
    assert refused["details"] == {"scope": MINE, "codes": sorted([OTHER, *grids])}
    assert OTHER in refused["message"] and MINE in refused["message"]

    moved = [*_grids_of(MINE), _grids_of(OTHER)[0]]  # a grid of another community taken in
    moved[-1]["properties"]["parent_code"] = MINE
    refused = _refused_upload(fresh_client, fresh_engine, _file(tmp_path, moved), key, level="grid")
    assert refused["details"]["codes"] == [moved[-1]["properties"]["code"]]


def test_a_new_grid_under_its_own_community_and_not_under_another(
    fresh_client: TestClient, fresh_engine: Engine, tmp_path: Path
) -> None:
    key = _key(fresh_engine, "editor", MINE)
    split = _split(_grids_of(MINE), f"{MINE}901")
    path = _file(tmp_path, split)
    done = upload(fresh_client, path, key, level="grid", dry_run=False, allow_moves=True)
    assert done.status_code == 201, done.text
    assert done.json()["report"]["summary"]["changes"]["added"] == [f"{MINE}901"]

    elsewhere = _split(_grids_of(OTHER), f"{OTHER}901")
    path = _file(tmp_path, elsewhere)
    refused = _refused_upload(fresh_client, fresh_engine, path, key, level="grid", allow_moves=True)
    assert OTHER in refused["details"]["codes"] and f"{OTHER}901" not in refused["details"]["codes"]
    new = _split(_grids_of(MINE), f"{MINE}902")[-1:]  # only the new grid, under OTHER
    new[0]["properties"]["parent_code"] = OTHER
    refused = _refused_upload(fresh_client, fresh_engine, _file(tmp_path, new), key, level="grid")
    assert OTHER in refused["details"]["codes"]


def test_a_street_editor_changes_its_communities_not_the_street(
    fresh_client: TestClient, fresh_engine: Engine, tmp_path: Path
) -> None:
    key = _key(fresh_engine, "editor", STREET)
    communities = [
        json.loads(json.dumps(f))
        for f in REGIONS["communities"]
        if f["properties"]["parent_code"] == STREET
    ]
    communities[0]["properties"]["households"] = 777
    path = _file(tmp_path, communities, "communities.geojson")
    assert upload(fresh_client, path, key, level="community").status_code == 200
    streets = [json.loads(json.dumps(f)) for f in REGIONS["streets"]]
    path = _file(tmp_path, streets, "streets.geojson")
    refused = _refused_upload(fresh_client, fresh_engine, path, key, level="street")
    assert STREET in refused["details"]["codes"]


CENTRES = "名称,类别,地址,经度,纬度\n"


def _centres(tmp_path: Path, *codes: str) -> Path:
    """A centres CSV with one centre on (a point of) each region."""
    rows = []
    for i, code in enumerate(codes):
        point = shapely.point_on_surface(POLYGON[code])
        rows.append(f"范围测试服务站{i},党群服务站,测试路{i}号,{point.x:.7f},{point.y:.7f}\n")
    path = tmp_path / "centres.csv"
    path.write_text(CENTRES + "".join(rows), encoding="utf-8")
    return path


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(text(f"SELECT count(*) FROM {table}"))


def test_points_outside_the_scope_are_refused(
    fresh_client: TestClient, fresh_engine: Engine, tmp_path: Path
) -> None:
    key = _key(fresh_engine, "editor", MINE)
    grids = [f["properties"]["code"] for f in _grids_of(MINE)]
    ok = upload(fresh_client, _centres(tmp_path, *grids[:2]), key, kind="centres")
    assert ok.status_code == 200, ok.text
    refused = _refused_upload(
        fresh_client, fresh_engine, _centres(tmp_path, grids[0], OTHER), key, kind="centres"
    )
    assert refused["details"]["codes"] == ["2"], "the row outside"

    registry = io.StringIO()
    point = shapely.point_on_surface(POLYGON[OTHER])
    csv.writer(registry).writerows(
        [["code", "address", "lon", "lat"], ["X1", "测试路1号", point.x, point.y]]
    )
    path = tmp_path / "addresses.csv"
    path.write_text(registry.getvalue(), encoding="utf-8")
    _refused_upload(fresh_client, fresh_engine, path, key, kind="addresses")

    roads = {
        "type": "Feature",
        "properties": {"name": "测试路", "highway": "residential"},
        "geometry": mapping(shapely.LineString([point.coords[0], (point.x + 0.001, point.y)])),
    }
    _refused_upload(fresh_client, fresh_engine, _file(tmp_path, [roads]), key, kind="roads")


def test_point_writes_stay_inside_the_scope(fresh_client: TestClient, fresh_engine: Engine) -> None:
    headers = {"Authorization": f"Bearer {_key(fresh_engine, 'editor', MINE)}"}

    def centre(code: str) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": mapping(shapely.point_on_surface(POLYGON[code])),
            "properties": {"name": f"范围测试{code}", "level": "station"},
        }

    before = _count(fresh_engine, "centres")
    refused = fresh_client.post("/api/v1/centres", json=centre(OTHER), headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope"
    made = fresh_client.post("/api/v1/centres", json=centre(MINE), headers=headers)
    assert made.status_code == 201, made.text
    mine = made.json()["id"]
    moved = fresh_client.put(f"/api/v1/centres/{mine}", json=centre(OTHER), headers=headers)
    assert moved.status_code == 403, "moving it out"
    with fresh_engine.connect() as conn:
        elsewhere = conn.scalar(
            text(
                "SELECT c.id FROM centres c JOIN regions r ON r.code = :other "
                "AND r.valid_to IS NULL AND ST_Covers(r.geom, c.geom) LIMIT 1"
            ),
            {"other": OTHER},
        )
    assert elsewhere is not None
    for answer in (
        fresh_client.patch(
            f"/api/v1/centres/{elsewhere}", json={"properties": {"phone": "1"}}, headers=headers
        ),
        fresh_client.delete(f"/api/v1/centres/{elsewhere}", headers=headers),
    ):
        assert answer.status_code == 403 and answer.json()["code"] == "out_of_scope"
    assert _count(fresh_engine, "centres") == before + 1
    assert fresh_client.delete(f"/api/v1/centres/{mine}", headers=headers).status_code == 204


def test_restore_needs_an_unscoped_admin(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    mine = _grids_of(MINE)
    mine[0]["properties"]["households"] = 4321
    changed = upload(fresh_client, _file(tmp_path, mine), make_key("editor"), level="grid",
                     dry_run=False)  # fmt: skip
    assert changed.json()["version"] == 2, changed.text
    scoped = {"Authorization": f"Bearer {_key(fresh_engine, 'admin', STREET)}"}
    before = state(fresh_engine)
    refused = fresh_client.post("/api/v1/versions/1/restore", headers=scoped)
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope"
    assert state(fresh_engine) == before
    unscoped = {"Authorization": f"Bearer {make_key('admin')}"}
    assert fresh_client.post("/api/v1/versions/1/restore", headers=unscoped).status_code == 201


def test_scoped_keys_over_http(fresh_client: TestClient, make_key: Callable[[str], str]) -> None:
    admin = {"Authorization": f"Bearer {make_key('admin')}"}
    made = fresh_client.post(
        "/api/v1/keys", json={"name": "清泉里", "role": "editor", "scope": MINE}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.json()["scope"] == MINE
    listed = fresh_client.get("/api/v1/keys", headers=admin).json()["keys"]
    assert {k["name"]: k["scope"] for k in listed} == {"test-admin": None, "清泉里": MINE}
    for bad in ("999", f"{MINE}001"):  # no region; a grid is too small to be a scope
        refused = fresh_client.post(
            "/api/v1/keys", json={"name": "x", "role": "editor", "scope": bad}, headers=admin
        )
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_scope", bad
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    centre = {
        "type": "Feature",
        "geometry": mapping(shapely.point_on_surface(POLYGON[OTHER])),
        "properties": {"name": "范围外", "level": "station"},
    }
    refused = fresh_client.post("/api/v1/centres", json=centre, headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope"


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    return subprocess.run([GRIDMAP, *args], env=env, capture_output=True, text=True)


def test_cli_import_as_a_user_and_scoped_keys(
    fresh_db_url: str, fresh_engine: Engine, tmp_path: Path
) -> None:
    make_user(fresh_engine, "qingquan", "editor", MINE)
    make_user(fresh_engine, "reader", "viewer")
    other = _grids_of(OTHER)
    other[0]["properties"]["households"] = 4321
    path = _file(tmp_path, other)
    before = state(fresh_engine)
    for extra in ((), ("--commit",)):
        refused = _cli("import", str(path), "--level", "grid", "--user", "qingquan", *extra,
                       db_url=fresh_db_url)  # fmt: skip
        assert refused.returncode == 1 and "[out_of_scope]" in refused.stderr, refused.stderr
    viewer = _cli("import", str(path), "--level", "grid", "--user", "reader", db_url=fresh_db_url)
    assert viewer.returncode == 1 and "[insufficient_role]" in viewer.stderr, viewer.stderr
    assert state(fresh_engine) == before

    mine = _grids_of(MINE)
    mine[0]["properties"]["households"] = 4321
    path = _file(tmp_path, mine)
    done = _cli("import", str(path), "--level", "grid", "--user", "qingquan", "--commit",
                db_url=fresh_db_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    operator = _cli("import", str(_file(tmp_path, other)), "--level", "grid", "--commit",
                    db_url=fresh_db_url)  # fmt: skip
    assert operator.returncode == 0, "the operator at the console is unscoped"
    with fresh_engine.connect() as conn:
        authors = conn.scalars(text("SELECT author FROM boundary_versions ORDER BY number"))
        assert list(authors)[1] == "qingquan"

    key = _cli("keys", "create", "--role", "editor", "--scope", MINE, db_url=fresh_db_url)
    assert key.returncode == 0, key.stderr
    listed = _cli("keys", "list", db_url=fresh_db_url)
    assert MINE in listed.stdout
    bad = _cli("keys", "create", "--role", "editor", "--scope", "999", db_url=fresh_db_url)
    assert bad.returncode == 1 and "[invalid_scope]" in bad.stderr
