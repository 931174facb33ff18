"""Storage precision: geometries are written snapped to ``STORAGE_GRID_DEG`` and compared
at it, so float noise is no change and a real edit is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.settings import Settings
from gis.store.seed import demo_records
from gis.store.stored_form import STORAGE_GRID_DEG
from gis.store.versions import RegionRecord, commit_regions

from support import upload

GRID = "130227001001001"


def _moved(record: RegionRecord, dx: float) -> RegionRecord:
    geom = shapely.transform(shapely.from_wkb(record.wkb), lambda xy: xy + np.array([dx, 0]))
    return RegionRecord(**{**record.__dict__, "wkb": shapely.to_wkb(geom)})


def _record() -> RegionRecord:
    return next(r for r in demo_records(Settings().demo_dir) if r.code == GRID)


def _stored(engine: Engine) -> np.ndarray:
    with engine.connect() as conn:
        wkb = conn.scalar(
            text("SELECT ST_AsBinary(geom) FROM regions WHERE code = :c AND valid_to IS NULL"),
            {"c": GRID},
        )
    return shapely.get_coordinates(shapely.from_wkb(bytes(wkb)))


def test_float_noise_is_no_change_and_a_centimetre_grid_step_is(fresh_engine: Engine) -> None:
    with fresh_engine.begin() as conn:
        noise = commit_regions(conn, [_moved(_record(), 3e-9)], author="t", action="edit")
    assert (noise.number, noise.modified) == (None, [])

    with fresh_engine.begin() as conn:
        step = commit_regions(conn, [_moved(_record(), 2.4e-7)], author="t", action="edit")
    assert (step.number, step.modified) == (2, [GRID])
    coords = _stored(fresh_engine)
    steps = coords / STORAGE_GRID_DEG
    assert np.abs(steps - np.round(steps)).max() < 1e-6, "stored on the grid"
    original = shapely.get_coordinates(shapely.from_wkb(_record().wkb))
    assert np.abs(np.unique(coords[:, 0]) - np.unique(original[:, 0]) - 2e-7).max() < 1e-12


def test_rows_stored_before_snapping_are_judged_at_storage_precision(
    fresh_engine: Engine,
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A database written before geometries were snapped (float noise in its rows): an
    export re-imported is still no change."""
    with fresh_engine.begin() as conn:
        conn.execute(
            text("UPDATE regions SET geom = ST_Translate(geom, 2e-10, -3e-10) WHERE level = 'grid'")
        )
    exported = fresh_client.get("/api/v1/export", params={"level": "grid", "format": "gpkg"})
    path = tmp_path / "grids.gpkg"
    path.write_bytes(exported.content)
    response = upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False)
    body = response.json()
    assert response.status_code == 200, body["details"]["report"]["problems"]
    assert body["report"]["summary"]["changes"] == {"added": [], "modified": [], "removed": []}
    assert body["status"] == "unchanged"
