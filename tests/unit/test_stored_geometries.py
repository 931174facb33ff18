"""A boundary upload's stored geometries, made in chunks by threads, are what one pass makes:
same order, same EWKB, areas of the stored form; a commit lets each candidate's polygon go."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.geo.geodesy import geodesic_area_m2
from gis.ingest import stored_geometry
from gis.ingest.candidates import Candidate
from gis.store.stored_form import for_copy, stored_form


def _candidates() -> list[Candidate]:
    rng = np.random.default_rng(11)
    seeds = shapely.multipoints(rng.uniform([118.2, 40.0], [118.3, 40.1], (50, 2)))
    cells = shapely.get_parts(
        shapely.voronoi_polygons(seeds, extend_to=shapely.box(118, 40, 119, 41))
    )
    return [Candidate(k, f"g{k}", f"网格{k}", "c", cell) for k, cell in enumerate(cells)]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_chunks_in_threads_make_what_one_pass_makes(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any chunk size (one, a few, more than the candidates): the EWKB of one
    ``for_copy(stored_form(...))`` pass in the candidates' order, their stored-form areas,
    every candidate's polygon let go."""
    candidates = _candidates()
    stored = stored_form(np.array([c.geometry for c in candidates], dtype=object))
    expected = for_copy(stored)
    monkeypatch.setattr(stored_geometry, "STORED_CHUNK", chunk)
    made = stored_geometry.stored_geometries(candidates, commit=True)
    assert made.ewkb == expected.ewkb
    assert made.area_m2 == pytest.approx(geodesic_area_m2(stored).tolist(), rel=1e-12)
    assert all(c.geometry is None for c in candidates)
    assert shapely.get_srid(shapely.from_wkb(made.ewkb)).tolist() == [4326] * len(candidates)


def test_a_review_keeps_the_polygons_and_measures_nothing() -> None:
    """Not for a commit (the review map of a dry run): no areas, the polygons kept."""
    candidates = _candidates()
    made = stored_geometry.stored_geometries(candidates)
    assert made.area_m2 is None and len(made.ewkb) == len(candidates)
    assert all(c.geometry is not None for c in candidates)


def test_only_the_stored_form_is_copied() -> None:
    """``for_copy`` refuses a geometry not in stored form (a Polygon, not a MultiPolygon)."""
    with pytest.raises(ValueError):
        for_copy(np.array([shapely.box(0, 0, 1, 1)], dtype=object))
