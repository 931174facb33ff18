"""Each feature's geometry checked by the file's own checks (``gis.ingest.validation``): a
layer may mix kinds (GeoJSON: a null geometry, a point among polygons), and only a valid,
non-empty polygon has nothing to report — the rest are found one by one, whether the
validity of the whole layer was checked in one call or in two halves."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from gis.ingest import validation
from gis.ingest.candidates import Candidate, Tolerances

pytestmark = pytest.mark.unit

BOWTIE = Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
GEOMETRIES = {
    "110101": box(0, 0, 1, 1),
    "110102": None,
    "110103": Polygon(),
    "110104": Point(2, 2),
    "110105": LineString([(3, 3), (4, 4)]),
    "110106": BOWTIE,
    "110107": MultiPolygon([box(5, 5, 6, 6), box(7, 7, 8, 8)]),
    "110108": MultiPolygon(),
}
EXPECTED = [
    ("empty_geometry", "110102"),
    ("empty_geometry", "110103"),
    ("wrong_geometry_type", "110104"),
    ("wrong_geometry_type", "110105"),
    ("invalid_geometry", "110106"),
    ("empty_geometry", "110108"),
]


def _candidates() -> list[Candidate]:
    return [
        Candidate(i, code, f"区{i}", None, geom)
        for i, (code, geom) in enumerate(GEOMETRIES.items())
    ]


@pytest.mark.parametrize("split_at", [10**9, 2])
def test_every_kind_of_geometry_found_as_one_call_finds_it(
    split_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validation, "SPLIT_GEOMETRIES_AT", split_at)
    candidates = _candidates()
    found = validation.validate(candidates, level="county", parents={}, tolerances=Tolerances())
    kinds = [(p.kind, p.code) for p in found.problems if p.kind != "code_format"]
    assert kinds == EXPECTED
    # what is reported is not used further; valid polygons are kept as they are
    kept = {c.code: c.geometry for c in candidates if c.geometry is not None}
    assert kept == {"110101": GEOMETRIES["110101"], "110107": GEOMETRIES["110107"]}


def test_repair_makes_the_invalid_polygon_valid_and_reports_it() -> None:
    candidates = _candidates()
    found = validation.validate(
        candidates, level="county", parents={}, tolerances=Tolerances(), repair=True
    )
    assert [r["code"] for r in found.repairs] == ["110106"]
    repaired = next(c.geometry for c in candidates if c.code == "110106")
    assert shapely.is_valid(repaired) and repaired.area == pytest.approx(0.5)
    assert "invalid_geometry" not in {p.kind for p in found.problems}
