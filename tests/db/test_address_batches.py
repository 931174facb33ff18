"""Address uploads read in batches: the same report as a whole read, problems numbered
across batches, duplicates found across them, reports that list a bounded number of
problems and count them all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.ingest.address_uploads import Addresses
from gis.ingest.problems import MAX_LISTED

from support import REGISTRY, upload, write_layer

pytestmark = pytest.mark.db

ROWS = 2_500
INSIDE = [(float(r["lon"]), float(r["lat"])) for r in REGISTRY[1:4]]
FAR = (118.5, 40.3)  # outside every demo grid
EXPECTED = {
    ("missing_code", 7, "error"),
    ("missing_address", 1_500, "error"),
    ("invalid_number", 2_200, "error"),
    ("duplicate_code", 3, "error"),
    ("duplicate_code", 2_300, "error"),
    ("duplicate_address", 10, "warning"),
    ("duplicate_address", 1_999, "warning"),
    ("outside_grids", 1_001, "warning"),
    ("outside_grids", 2_499, "warning"),
}
"""Problems planted in :func:`_registry_file` (kind, feature, severity), in all three
batches of 1 000 entries."""


def _registry_file(tmp_path: Path) -> Path:
    """A GeoPackage of :data:`ROWS` entries with :data:`EXPECTED`'s problems planted."""
    rows: list[dict[str, Any]] = []
    points = []
    for n in range(1, ROWS + 1):
        lon, lat = INSIDE[n % len(INSIDE)]
        rows.append({"code": f"B{n:05d}", "address": f"迁西县兴安街{n}号", "households": n % 50})
        points.append(shapely.Point(lon + (n % 7) * 1e-6, lat + (n % 5) * 1e-6))
    rows[7 - 1]["code"] = None
    rows[1_500 - 1]["address"] = None
    rows[2_200 - 1]["households"] = 10**12  # larger than the column holds
    rows[2_300 - 1]["code"] = rows[3 - 1]["code"]
    rows[1_999 - 1]["address"] = rows[10 - 1]["address"]
    for n in (1_001, 2_499):
        points[n - 1] = shapely.Point(*FAR)
    return write_layer(tmp_path / "registry.gpkg", rows, points, geometry_type="Point")


def _report(client: TestClient, path: Path, key: str, **form: Any) -> dict[str, Any]:
    response = upload(client, path, key, kind="addresses", **form)
    assert response.status_code in (200, 201), response.json()
    return response.json()["report"]


def test_a_registry_read_in_batches_reports_what_a_whole_read_does(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, key = _registry_file(tmp_path), make_key("editor")
    monkeypatch.setattr(Addresses, "batch_rows", ROWS)
    whole = _report(fresh_client, path, key)
    monkeypatch.setattr(Addresses, "batch_rows", 1_000)
    batched = _report(fresh_client, path, key)
    assert batched == whole
    found = {(p["kind"], p["feature"], p["severity"]) for p in batched["problems"]}
    assert found == EXPECTED
    assert batched["summary"] | {"changes": None} == {
        "features": ROWS,
        "errors": 5,
        "warnings": 4,
        "changes": None,
    }
    far = [p["location"] for p in batched["problems"] if p["kind"] == "outside_grids"]
    assert far == [list(FAR), list(FAR)]


def test_a_registry_committed_in_batches_writes_every_valid_entry(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [
        {"code": f"C{n:05d}", "address": f"迁西县栗乡路{n}号", "households": n}
        for n in range(1, 2_501)
    ]
    points = [shapely.Point(*INSIDE[n % len(INSIDE)]) for n in range(1, 2_501)]
    path = write_layer(tmp_path / "good.gpkg", rows, points, geometry_type="Point")
    monkeypatch.setattr(Addresses, "batch_rows", 1_000)
    with fresh_engine.connect() as conn:
        before = conn.scalar(text("SELECT count(*) FROM addresses"))
    response = upload(fresh_client, path, make_key("editor"), kind="addresses", dry_run=False)
    assert response.status_code == 201, response.json()
    assert response.json()["report"]["summary"]["changes"] == {"added": 2_500, "modified": 0}
    with fresh_engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT code, households, ST_X(geom), ST_Y(geom) FROM addresses "
                "WHERE code LIKE 'C%' ORDER BY code"
            )
        ).all()
        after = conn.scalar(text("SELECT count(*) FROM addresses"))
    assert after == before + 2_500
    assert [(r.code, r.households) for r in stored] == [
        (row["code"], row["households"]) for row in rows
    ]
    assert [(r[2], r[3]) for r in stored] == [(p.x, p.y) for p in points]

    rows[1_234]["households"] = 7  # one entry changed: one modified, the rest unchanged
    path = write_layer(tmp_path / "again.gpkg", rows, points, geometry_type="Point")
    response = upload(fresh_client, path, make_key("editor"), kind="addresses", dry_run=False)
    assert response.json()["report"]["summary"]["changes"] == {"added": 0, "modified": 1}


def test_a_report_lists_the_first_problems_of_each_kind_and_counts_all(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    rows = [{"code": f"E{n:05d}", "address": None} for n in range(1, MAX_LISTED + 201)]
    points = [shapely.Point(*INSIDE[0])] * len(rows)
    path = write_layer(tmp_path / "empty.gpkg", rows, points, geometry_type="Point")
    report = _report(fresh_client, path, make_key("editor"))
    assert report["summary"]["errors"] == MAX_LISTED + 200
    assert [p["feature"] for p in report["problems"]] == list(range(1, MAX_LISTED + 1))
    assert {p["kind"] for p in report["problems"]} == {"missing_address"}
    assert report["problems_omitted"] == {"missing_address": 200}


@pytest.mark.parametrize(
    ("bad", "code", "recorded"),
    [
        # a polygon among points is a feature without a usable point: its row's error
        (
            shapely.Polygon([(118.3, 40.1), (118.31, 40.1), (118.31, 40.11)]),
            "validation_failed",
            1,
        ),
        # metres read as degrees: the whole file is refused before it is recorded
        (shapely.Point(11_830_000.0, 4_010_000.0), "coordinates_out_of_range", 0),
    ],
    ids=["polygon", "projected-metres"],
)
def test_a_bad_feature_in_a_later_batch_refuses_the_whole_file(
    bad: shapely.Geometry,
    code: str,
    recorded: int,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [{"code": f"L{n:04d}", "address": f"迁西县兴安街{n}号"} for n in range(1, 251)]
    points: list[Any] = [shapely.Point(*INSIDE[n % len(INSIDE)]) for n in range(1, 251)]
    points[230] = bad  # in the third batch of 100
    path = write_layer(tmp_path / "mixed.geojson", rows, points, geometry_type="Unknown")
    monkeypatch.setattr(Addresses, "batch_rows", 100)
    with fresh_engine.connect() as conn:
        uploads = conn.scalar(text("SELECT count(*) FROM uploads"))
        entries = conn.scalar(text("SELECT count(*) FROM addresses"))
    response = upload(fresh_client, path, make_key("editor"), kind="addresses", dry_run=False)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    if recorded:
        problems = response.json()["details"]["report"]["problems"]
        assert [(p["kind"], p["feature"]) for p in problems] == [("invalid_coordinates", 231)]
    with fresh_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM uploads")) == uploads + recorded
        assert conn.scalar(text("SELECT count(*) FROM addresses")) == entries
