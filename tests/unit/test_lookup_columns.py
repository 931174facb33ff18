"""Chosen fields of many lookups (gis.query.lookup_columns) on indexes without regions above
grids, or without anything: every field null, never an error (a city of grids only, a server
before its first version)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.query.lookup import NO_REGIONS
from gis.query.lookup_columns import FIELDS, place
from gis.query.lookup_index import GridIndex

NO_FIELDS = dict.fromkeys(
    ("households", "population", "grid_worker", "grid_worker_phone", "party_branch")
)


def test_fields_of_an_index_without_regions_above_grids() -> None:
    rows = [
        {"code": f"13022700100100{i}", "name": f"网格{i}", "level": "grid", "parent_code": None,
         "wkb": shapely.to_wkb(shapely.box(i, 0, i + 1, 1)), **NO_FIELDS}
        for i in range(3)
    ]  # fmt: skip
    index = GridIndex.build(1, rows)
    lon, lat = np.array([0.5, 2.5, 9.0]), np.array([0.5, 0.5, 0.5])
    placed = {k: v.to_pylist() for k, v in place(index, lon, lat, FIELDS).items()}
    assert placed["grid.code"] == ["130227001001000", "130227001001002", None]
    assert placed["community.code"] == placed["county.name"] == [None] * 3
    assert placed["nearest.code"] == [None, None, "130227001001002"]
    assert placed["distance_m"][2] == pytest.approx(6 * 111_319.5, rel=0.01)


def test_fields_before_the_first_version() -> None:
    placed = place(NO_REGIONS, np.array([118.3]), np.array([40.1]), FIELDS)
    assert {k: v.to_pylist() for k, v in placed.items()} == {
        **{f: [None] for f in FIELDS},
        "covered": [False],
    }
