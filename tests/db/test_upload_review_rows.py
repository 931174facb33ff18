"""The review rows of a committed boundary upload: its features read from the version it made."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from support import upload

pytestmark = pytest.mark.db


def _features(client: TestClient, key: str, upload_id: int) -> dict[int, dict]:
    got = client.get(f"/api/v1/uploads/{upload_id}", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 200, got.json()
    return {f["properties"]["feature"]: f for f in got.json()["features"]["features"]}


def test_a_committed_upload_shows_its_version_not_a_copy(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    demo_grids: dict,
) -> None:
    """The dry run keeps each region's geometry as it would be stored; the commit of the same
    file keeps none (its version's rows are them) and shows the same features — codes, names,
    changes and geometries, vertex for vertex after normalising — even once a later version
    (a restore of the one before) has replaced every region it wrote."""
    key = make_key("admin")
    moved = json.loads(json.dumps(demo_grids))
    moved["features"][0]["properties"]["name"] = "改名网格"
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(moved, ensure_ascii=False), encoding="utf-8")
    dry = upload(fresh_client, path, key, level="grid").json()["id"]
    committed = upload(fresh_client, path, key, level="grid", dry_run=False).json()
    assert committed["status"] == "committed", committed
    with fresh_engine.connect() as conn:
        nulls = dict(
            conn.execute(
                text(
                    "SELECT upload_id, count(*) FILTER (WHERE geom IS NULL) FROM upload_features "
                    "WHERE upload_id IN (:a, :b) GROUP BY upload_id"
                ),
                {"a": dry, "b": committed["id"]},
            ).all()
        )
    assert nulls == {dry: 0, committed["id"]: len(demo_grids["features"])}
    with fresh_engine.connect() as conn:  # no foreign key (migration 0016): none is an orphan
        orphans = conn.scalar(
            text(
                "SELECT count(*) FROM upload_features f "
                "WHERE NOT EXISTS (SELECT 1 FROM uploads u WHERE u.id = f.upload_id)"
            )
        )
    assert orphans == 0
    before = _features(fresh_client, key, dry)
    restored = fresh_client.post(
        f"/api/v1/versions/{committed['version'] - 1}/restore",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert restored.status_code == 201, restored.json()
    after = _features(fresh_client, key, committed["id"])
    assert sorted(after) == sorted(before) == list(range(1, len(demo_grids["features"]) + 1))
    for number, feature in before.items():
        assert after[number]["properties"] == feature["properties"]
        assert (
            shape(after[number]["geometry"])
            .normalize()
            .equals_exact(shape(feature["geometry"]).normalize(), 0)
        ), number
    assert after[1]["properties"]["name"] == "改名网格"
    assert {f["properties"]["change"] for f in after.values()} == {"modified", "unchanged"}


def test_an_upload_that_adds_and_removes_shows_its_version(
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    tmp_path: Path,
    demo_grids: dict,
) -> None:
    """A commit that adds a region (and so removes the one whose code it replaced) is a
    version for sure: the stored form is not kept as it passes, and the review reads every
    feature — the new one too — from the version's rows, as its dry run showed them."""
    key = make_key("admin")
    renamed = json.loads(json.dumps(demo_grids))
    first = renamed["features"][0]["properties"]
    new_code = first["code"][:-3] + "999"
    first["code"] = new_code
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(renamed, ensure_ascii=False), encoding="utf-8")
    dry = upload(fresh_client, path, key, level="grid").json()["id"]
    committed = upload(fresh_client, path, key, level="grid", dry_run=False).json()
    assert committed["status"] == "committed", committed
    before, after = _features(fresh_client, key, dry), _features(fresh_client, key, committed["id"])
    assert sorted(after) == sorted(before) == list(range(1, len(demo_grids["features"]) + 1))
    for number, feature in before.items():
        assert after[number]["properties"] == feature["properties"]
        assert after[number]["geometry"] is not None, number
        assert (
            shape(after[number]["geometry"])
            .normalize()
            .equals_exact(shape(feature["geometry"]).normalize(), 0)
        ), number
    assert after[1]["properties"]["code"] == new_code
    assert after[1]["properties"]["change"] == "added"
