"""BoxTree answers the pairs an STRtree of one box per polygon answers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.query.boxes import GROUP, POINTS_AT_ONCE, BoxTree


def _oracle(bounds: np.ndarray, x: np.ndarray, y: np.ndarray) -> set[tuple[int, int]]:
    """(point, polygon) pairs of a plain STRtree over each polygon's box."""
    tree = shapely.STRtree(shapely.box(*bounds.T))
    point, polygon = tree.query(shapely.points(x, y))
    return set(zip(point.tolist(), polygon.tolist(), strict=True))


def _boxes(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` boxes of mixed sizes: small tiles, a few wide ones, some points-like."""
    x0 = rng.uniform(100.0, 101.0, n)
    y0 = rng.uniform(30.0, 31.0, n)
    w = rng.choice([1e-4, 1e-3, 1e-2, 0.5, 0.0], n, p=[0.4, 0.4, 0.15, 0.03, 0.02])
    h = rng.choice([1e-4, 1e-3, 1e-2, 0.5, 0.0], n, p=[0.4, 0.4, 0.15, 0.03, 0.02])
    return np.column_stack((x0, y0, x0 + w, y0 + h))


@pytest.mark.parametrize("n", [1, GROUP - 1, GROUP, GROUP + 1, 5_000])
def test_box_tree_pairs_equal_an_strtree_of_boxes(n: int) -> None:
    rng = np.random.default_rng(n)
    bounds = _boxes(n, rng)
    corners = np.vstack([bounds[:, :2], bounds[:, 2:], bounds[:, [0, 3]]])
    sides = np.column_stack(((bounds[:, 0] + bounds[:, 2]) / 2, bounds[:, 1]))
    random = rng.uniform((99.9, 29.9), (101.6, 31.6), size=(POINTS_AT_ONCE + 20_000, 2))
    points = np.vstack([corners, sides, random])
    x, y = points[:, 0].copy(), points[:, 1].copy()

    point, polygon = BoxTree(bounds).query(x, y)
    assert (np.diff(point) >= 0).all(), "in point order"
    found = set(zip(point.tolist(), polygon.tolist(), strict=True))
    assert len(found) == len(point), "no pair twice"
    assert found == _oracle(bounds, x, y)
    assert len(found) >= len(corners) + len(sides), "every box holds its corners and sides"


def test_box_tree_skips_empty_polygons_and_answers_none() -> None:
    bounds = np.array([[0.0, 0.0, 1.0, 1.0], [np.nan] * 4, [0.5, 0.5, 2.0, 2.0]])
    tree = BoxTree(bounds)
    point, polygon = tree.query(np.array([0.75, 1.5, 3.0]), np.array([0.75, 1.5, 3.0]))
    assert list(zip(point.tolist(), polygon.tolist(), strict=True)) in (
        [(0, 0), (0, 2), (1, 2)],
        [(0, 2), (0, 0), (1, 2)],
    )
    assert tree.total_bounds() == (0.0, 0.0, 2.0, 2.0)
    empty = BoxTree(np.empty((0, 4)))
    assert [len(a) for a in empty.query(np.array([0.0]), np.array([0.0]))] == [0, 0]
