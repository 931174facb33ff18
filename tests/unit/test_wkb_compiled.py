"""The index build's compiled reads of WKB (gis/query/_wkb.c) answer what shapely answers:
bounds, outlines and point-in-polygon over every layout of polygon, and WKB the reader does
not take is left to shapely or refused, never misread or read past its end."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.query import _wkb, cell_shapes
from gis.query.cell_shapes import WkbShapes, covers_xy, wkb_bounds
from gis.query.lookup_arrays import _blob


def _polygons(rng: np.random.Generator) -> np.ndarray:
    """Discs, discs with holes, multipolygons and an empty polygon."""
    centres = shapely.points(rng.uniform(100, 101, 400), rng.uniform(30, 31, 400))
    shapes = shapely.buffer(centres, rng.uniform(0.001, 0.05, 400))
    holed = shapely.difference(shapes[:50], shapely.buffer(centres[:50], 0.0005))
    many = shapely.multipolygons([shapes[i : i + 3] for i in range(100, 200, 3)])
    return np.r_[shapes, holed, many, shapely.from_wkt(["POLYGON EMPTY"])]


def test_bounds_are_shapely_s_for_every_polygon_and_every_wkb() -> None:
    polygons = _polygons(np.random.default_rng(5))
    wkb = list(shapely.to_wkb(polygons, byte_order=1))
    wkb[7] = shapely.to_wkb(polygons[7], byte_order=0)
    wkb[8] = shapely.to_wkb(shapely.force_3d(polygons[8]))
    blob, offsets = _blob(wkb)
    found = wkb_bounds(blob, offsets)
    assert np.array_equal(found, shapely.bounds(polygons), equal_nan=True)
    out = np.empty((len(wkb), 4))
    assert _wkb.bounds(blob, offsets, out) == 3, "the big-endian, 3D and empty ones"
    short = np.r_[offsets[:-1], offsets[-1] + 100]
    with pytest.raises(ValueError, match="within the blob"):
        _wkb.bounds(blob, short, out)
    with pytest.raises(ValueError):
        _wkb.bounds(blob, offsets, np.empty((len(wkb) - 1, 4)))
    one = np.empty((1, 4))
    for end in (5, 9, 13, offsets[1] - 8):  # the first polygon cut short
        assert _wkb.bounds(blob, np.array([0, end]), one) == 1, "refused, not read past its end"
        assert np.isnan(one).all()


@pytest.mark.parametrize("split_at", [None, 1000], ids=["one thread", "two halves"])
def test_covers_is_geos_s_off_the_edges_and_left_to_geos_on_them(
    split_at: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random points in the polygons' boxes, their vertices, and points level with a vertex
    (the ray through it: a vertex counts above) against ``shapely.covers``."""
    if split_at is not None:
        monkeypatch.setattr(cell_shapes, "COVERS_SPLIT_AT", split_at)
    rng = np.random.default_rng(9)
    polygons = _polygons(rng)[:-1]
    wkb = list(shapely.to_wkb(polygons, byte_order=1))
    wkb[3] = shapely.to_wkb(polygons[3], byte_order=0)
    blob, offsets = _blob(wkb)
    shapes = WkbShapes(blob, offsets)
    which = rng.integers(0, len(polygons), 60_000)
    boxes = shapely.bounds(polygons)[which]
    x = rng.uniform(boxes[:, 0], boxes[:, 2])
    y = rng.uniform(boxes[:, 1], boxes[:, 3])
    rings = [shapely.get_coordinates(shapely.get_exterior_ring(p))[::7] for p in polygons[:50]]
    vertices = np.vstack(rings)
    on = np.repeat(np.arange(50), [len(r) for r in rings])
    own = shapely.bounds(polygons[on])
    level = rng.uniform(own[:, 0], own[:, 2])  # across its polygon, level with a vertex
    which = np.r_[which, on, on]
    x, y = np.r_[x, vertices[:, 0], level], np.r_[y, vertices[:, 1], vertices[:, 1]]
    truth = shapely.covers(polygons[which], shapely.points(x, y))
    assert (covers_xy(shapes, which, x, y) == truth).all()
    assert truth.sum() > len(truth) / 3 and (~truth).sum() > len(truth) / 10
    out = np.empty(len(which), np.int8)
    undecided = _wkb.covers(blob, offsets, which, x, y, out)
    assert undecided >= len(vertices), "every vertex is left to GEOS"
    decided = out >= 0
    assert (out[decided] == truth[decided]).all()
    with pytest.raises(ValueError, match="not in the offsets"):
        _wkb.covers(blob, offsets, np.array([len(wkb)]), x[:1], y[:1], out[:1])
