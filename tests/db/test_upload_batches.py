"""Boundary files are read a batch at a time and gathered before they are checked: the
report and the version are those of a file read in one piece — in Gauss-Krüger with a
right ``.prj``, and with a wrong one (the CRS doctor measures the file's own coordinates,
given back from the reprojected ones)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.geo.crs import from_wgs84, parse_crs
from gis.ingest import pipeline

from support import upload, write_layer

pytestmark = pytest.mark.db

STREET = "130227001"


def _street_grids(demo_grids: dict, tmp_path: Path, crs: str) -> tuple[Path, int]:
    """The grids of the demo street in EPSG:4527 (CGCS2000 GK zone 39), the ``.prj`` saying
    ``crs``; and how many there are."""
    features = [
        f for f in demo_grids["features"] if f["properties"]["parent_code"].startswith(STREET)
    ]
    rows = [
        {
            "code": f["properties"]["code"],
            "name": f["properties"]["name"],
            "parent_code": f["properties"]["parent_code"],
            "households": f["properties"]["households"] + 1,
        }
        for f in features
    ]
    geoms = [from_wgs84(shape(f["geometry"]), parse_crs("EPSG:4527")) for f in features]
    folder = tmp_path / crs.replace(":", "")
    folder.mkdir()
    return write_layer(folder / "grids.gpkg", rows, geoms, crs=crs), len(rows)


def _without_ids(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "upload_id"}


@pytest.mark.parametrize("crs", ["EPSG:4527", "EPSG:4528"], ids=["right-prj", "wrong-zone-prj"])
def test_a_file_read_in_batches_is_checked_and_committed_as_one(
    crs: str,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, n = _street_grids(demo_grids, tmp_path, crs)
    key = make_key("editor")
    whole = upload(fresh_client, path, key, level="grid").json()["report"]
    monkeypatch.setattr(pipeline, "READ_ROWS", 4)
    assert n > 2 * 4, "several batches"
    batched = upload(fresh_client, path, key, level="grid").json()["report"]
    assert _without_ids(batched) == _without_ids(whole)
    assert batched["summary"]["features"] == n
    if crs == "EPSG:4528":  # the doctor names the right zone from the file's coordinates
        assert not batched["ok"]
        assert batched["crs"]["doctor"]["suggestion"]["crs"] == "EPSG:4527"
        return
    assert batched["ok"] and len(batched["summary"]["changes"]["modified"]) == n
    done = upload(fresh_client, path, key, level="grid", dry_run=False)
    assert done.status_code == 201, done.json()
    assert _without_ids(done.json()["report"]) == _without_ids(whole)
    with fresh_engine.connect() as conn:
        stored = dict(
            conn.execute(
                text(
                    "SELECT code, households FROM regions WHERE valid_to IS NULL "
                    "AND level = 'grid' AND parent_code LIKE :street"
                ),
                {"street": f"{STREET}%"},
            ).all()
        )
    expected = {
        f["properties"]["code"]: f["properties"]["households"] + 1
        for f in demo_grids["features"]
        if f["properties"]["parent_code"].startswith(STREET)
    }
    assert stored == expected
