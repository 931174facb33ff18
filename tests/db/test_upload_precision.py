"""Storage precision in uploads: a community is stored snapped to the 1e-7° grid (moved by up
to ~8 mm), and grids surveyed along its boundary as drawn — at full precision, with corners
in the middle of its edges — tile it up to those millimetres.  That is no gap and no part
outside the parent; a real gap or overhang of over a square metre still is an error, of the
area shapely gives the square cut from (or added to) a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import Engine

from gis.ingest.uploads import UploadRequest, process_upload
from gis.settings import Settings
from gis.store.stored_form import STORAGE_GRID_DEG
from gis.store.versions import RegionRecord, commit_regions

from support import stored_geometry, write_layer

pytestmark = pytest.mark.db

STREET = "130227001"
COMMUNITY = "130227001099"
OFF_GRID = 0.45 * STORAGE_GRID_DEG  # every corner moves by ~4-5 mm when stored
SIDE_M = 1.2  # the side of the real gap and overhang
DEG_LAT = 1 / 111_000
DEG_LON = 1 / 86_500  # at 39°N


def _corners() -> np.ndarray:
    """A ~1 km quadrilateral (far from the demo city: no stored neighbours), off the grid."""
    corners = np.array([[117.0, 39.0], [117.0123, 39.0004], [117.0119, 39.0091], [117.0, 39.009]])
    return corners + OFF_GRID


def _quarters(corners: np.ndarray) -> list[Polygon]:
    """Four grids tiling the quadrilateral as drawn: edge midpoints and the centre."""
    a, b, c, d = corners
    ab, bc, cd, da = (a + b) / 2, (b + c) / 2, (c + d) / 2, (d + a) / 2
    o = corners.mean(axis=0)
    return [Polygon([a, ab, o, da]), Polygon([ab, b, bc, o]), Polygon([o, bc, c, cd]),
            Polygon([da, o, cd, d])]  # fmt: skip


def _store_community(engine: Engine, corners: np.ndarray) -> None:
    with engine.begin() as conn:
        commit_regions(
            conn,
            [
                RegionRecord(
                    code=COMMUNITY,
                    level="community",
                    name="精度社区",
                    parent_code=STREET,
                    wkb=shapely.to_wkb(Polygon(corners)),
                )
            ],
            author="test",
            action="load",
        )


def _upload(engine: Engine, tmp_path: Path, grids: list[Polygon]) -> dict:
    rows = [
        {"code": f"{COMMUNITY}{k:03d}", "name": f"精度网格{k}", "parent_code": COMMUNITY}
        for k in range(1, len(grids) + 1)
    ]
    path = write_layer(tmp_path / "grids.geojson", rows, grids)
    request = UploadRequest(filename=path.name, level="grid", author="test")
    return process_upload(engine, path, request, Settings()).report


def test_grids_drawn_along_the_community_at_full_precision_fit_it(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    corners = _corners()
    _store_community(fresh_engine, corners)
    stored = stored_geometry(fresh_engine, COMMUNITY)
    moved = np.abs(shapely.get_coordinates(stored)[:4] - corners).max()
    assert moved > 0.4 * STORAGE_GRID_DEG, "the stored community moved off the file's corners"

    report = _upload(fresh_engine, tmp_path, _quarters(corners))
    assert report["summary"]["errors"] == 0, report["problems"]
    assert [p for p in report["problems"] if "gap" in p["kind"] or "outside" in p["kind"]] == []


@pytest.mark.parametrize("kind", ["gap", "outside_parent"])
def test_a_real_gap_or_overhang_of_a_square_metre_and_a_half_is_still_an_error(
    fresh_engine: Engine, tmp_path: Path, kind: str
) -> None:
    corners = _corners()
    _store_community(fresh_engine, corners)
    grids = _quarters(corners)
    if kind == "gap":  # a square cut at the centre, inside the community
        x, y = corners.mean(axis=0)
        square = shapely.box(x, y, x + SIDE_M * DEG_LON, y + SIDE_M * DEG_LAT)
        grids[2] = grids[2].difference(square)
    else:  # a square sticking out of the southern edge, under the first grid
        x, y = (corners[0] + corners[1]) / 2 - [3 * SIDE_M * DEG_LON, 0]
        square = shapely.box(x, y - SIDE_M * DEG_LAT, x + SIDE_M * DEG_LON, y + 1e-5)
        grids[0] = grids[0].union(square)
    report = _upload(fresh_engine, tmp_path, grids)

    found = [p for p in report["problems"] if p["kind"] == kind]
    assert [p["severity"] for p in found] == ["error"], report["problems"]
    piece = square.intersection(Polygon(corners)) if kind == "gap" else square - Polygon(corners)
    assert piece.area / (DEG_LON * DEG_LAT) > 1.0  # over the 1 m² tolerance
    assert found[0]["area_m2"] == pytest.approx(piece.area / (DEG_LON * DEG_LAT), rel=0.02)
