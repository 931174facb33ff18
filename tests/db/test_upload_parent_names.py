"""A parent field that holds the parent's name (所属社区: 山庄里社区), as surveying companies
deliver it: each feature is placed under the one current region of the level above with that
name; an unknown or ambiguous name stays a missing parent; a name of another parent than the
upload's is a ``parent_mismatch``.  The oracle is the demo file's own parent codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from support import state, upload, write_layer
from upload_files import COMMUNITY, community_grids

pytestmark = pytest.mark.db


def _names(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT code, name FROM regions WHERE valid_to IS NULL AND level = 'community'")
        )
        return dict(rows.all())


def _file(demo_grids: dict, tmp_path: Path, parent_name: str) -> Path:
    grids = community_grids(demo_grids)
    rows = [
        {"网格编码": p["code"], "网格名称": p["name"], "所属社区": parent_name}
        for p in (f["properties"] for f in grids)
    ]
    return write_layer(tmp_path / "网格.geojson", rows, [shape(f["geometry"]) for f in grids])


def test_a_parent_field_of_names_places_each_grid(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    names = _names(fresh_engine)
    editor = make_key("editor")
    path = _file(demo_grids, tmp_path, names[COMMUNITY])
    inspected = fresh_client.post(
        "/api/v1/uploads/inspect",
        files={"file": (path.name, path.read_bytes())},
        headers={"Authorization": f"Bearer {editor}"},
    ).json()
    assert inspected["mapping"]["parent_code"] == "所属社区"
    assert inspected["parent"] == COMMUNITY, "proposed from the codes, not the names"

    for parent in (None, COMMUNITY):  # placed by name alone, and agreeing with the upload's
        report = upload(fresh_client, path, editor, level="grid", parent=parent).json()["report"]
        assert report["summary"]["errors"] == 0, report["problems"]
    committed = upload(fresh_client, path, editor, level="grid", dry_run=False)
    # placed under the community they are stored in: nothing differs, so no version
    assert committed.json()["status"] == "unchanged", committed.text
    with fresh_engine.connect() as conn:
        parents = set(
            conn.scalars(
                text(
                    "SELECT DISTINCT parent_code FROM regions WHERE valid_to IS NULL "
                    "AND code = ANY(:codes)"
                ),
                {"codes": [f["properties"]["code"] for f in community_grids(demo_grids)]},
            )
        )
    assert parents == {COMMUNITY}


def test_another_or_unknown_parent_name_is_refused(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    names = _names(fresh_engine)
    editor = make_key("editor")
    before = state(fresh_engine)
    other = next(name for code, name in names.items() if code != COMMUNITY)
    mismatch = upload(
        fresh_client, _file(demo_grids, tmp_path, other), editor, level="grid", parent=COMMUNITY
    ).json()["report"]
    assert {p["kind"] for p in mismatch["problems"] if p["severity"] == "error"} == {
        "parent_mismatch"
    }
    unknown = upload(
        fresh_client, _file(demo_grids, tmp_path, "不存在的社区"), editor, level="grid"
    ).json()
    assert unknown["report"]["summary"]["errors"] > 0
    assert state(fresh_engine)[:2] == before[:2], "nothing committed"
