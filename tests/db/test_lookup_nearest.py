"""Points outside every grid: the nearest grid and its geodesic distance equal PostGIS's
(``ST_Distance`` of geographies, the lowest code on a tie), near and far, on every side, and
on the meridians of shared vertices (a tie: two grids at the same distance); the search's
cost by distance is measured by ``bench/results/issue16-P2.md``, not here."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine, text

from gis.query import _near, lookup_near
from gis.query.lookup import GridIndex, load_index
from gis.query.lookup_near import FEW, MAX_EDGES, MOST_EDGES
from gis.store.versions import current_version

from large_city import CELL, ORIGIN, add_county
from oracles import check_hierarchy, postgis_hierarchy
from support import database_copy

pytestmark = pytest.mark.db

COLUMNS, ROWS = 60, 10
"""The synthetic county of 600 grids: 60 across, 10 down (``large_city``)."""


@pytest.fixture(scope="module")
def county(server_url: str, template_db: str) -> Iterator[tuple[Engine, GridIndex]]:
    with database_copy(server_url, template_db) as (_, engine):
        version = add_county(engine, COLUMNS * ROWS)
        with engine.connect() as conn:
            yield engine, load_index(conn, version)


@pytest.fixture(scope="module")
def demo(server_url: str, template_db: str) -> Iterator[tuple[Engine, GridIndex]]:
    """The demo city alone (PostGIS's nearest grid, a scan of every grid, stays cheap)."""
    with database_copy(server_url, template_db) as (_, engine), engine.connect() as conn:
        yield engine, load_index(conn, current_version(conn))


def _outside() -> tuple[np.ndarray, np.ndarray]:
    """South, east and north-west of the county from 1 m to 3 000 km; south of it on the
    meridian of every tenth vertex shared by two bottom grids (a tie)."""
    x0, y0 = ORIGIN
    x1, y1 = x0 + COLUMNS * CELL[0], y0 + ROWS * CELL[1]
    steps = np.array([1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 27.0])
    shared = x0 + CELL[0] * np.arange(1, COLUMNS, 10)
    xs = [
        np.full(len(steps), x0 + 0.1013),  # south
        x1 + steps,  # east
        x0 - steps * 0.7,  # north-west
        np.repeat(shared, 3),  # ties: on a shared vertex's meridian
    ]
    ys = [
        y0 - steps,
        np.full(len(steps), y0 + 0.0171),
        y1 + steps * 0.5,
        y0 - np.tile([0.0004, 0.05, 3.0], len(shared)),
    ]
    return np.concatenate(xs), np.concatenate(ys)


def test_the_nearest_grid_is_postgis_s_near_and_far(county: tuple[Engine, GridIndex]) -> None:
    engine, index = county
    xs, ys = _outside()
    expected = postgis_hierarchy(engine, xs, ys)
    assert all(e["grid"] is None for e in expected)
    ties = [e["nearest"] for e in expected[-18:]]
    assert len(set(ties)) > 1
    check_hierarchy(index.answers(xs, ys), expected)  # vectorised
    singles = [index.answers(xs[i : i + 1], ys[i : i + 1])[0] for i in range(len(xs))]
    check_hierarchy(singles, expected)
    # a tie goes where PostGIS puts it: the lower code
    assert [a["nearest"]["grid"]["code"] for a in singles[-18:]] == ties


def test_points_sharing_a_block_get_postgis_s_nearest(county: tuple[Engine, GridIndex]) -> None:
    """Many points in each of a few blocks (the first point's block list serves the rest):
    around the county's south-west corner (two sides near), 100 m and 5 km south, on and
    beside a shared vertex's meridian (ties), and 30 km east; each answer is PostGIS's, and
    the lists the points used hold a few grids, not the search's whole neighbourhood."""
    engine, index = county
    x0, y0 = ORIGIN
    x1 = x0 + COLUMNS * CELL[0]
    rng = np.random.default_rng(7)
    centres = [
        (x0 - 0.0005, y0 - 0.0005),
        (x0 + 0.0501, y0 - 0.001),
        (x0 + 0.0502, y0 - 0.05),
        (x0 + CELL[0] * 21, y0 - 0.0013),
        (x1 + 0.3, y0 + 0.01),
    ]
    xs = np.concatenate([cx + rng.uniform(-4e-4, 4e-4, 40) for cx, _ in centres])
    ys = np.concatenate([cy + rng.uniform(-4e-4, 4e-4, 40) for _, cy in centres])
    xs = np.r_[xs, np.full(5, x0 + CELL[0] * 21)]  # exactly on the shared vertex's meridian
    ys = np.r_[ys, y0 - 0.0013 + np.arange(5) * 1e-4]
    expected = postgis_hierarchy(engine, xs, ys)
    assert all(e["grid"] is None for e in expected)
    singles = [index.answers(xs[i : i + 1], ys[i : i + 1])[0] for i in range(len(xs))]
    check_hierarchy(singles, expected)
    assert index.near_lists is not None
    used = [index.near_lists.candidates(x, y) for x, y in zip(xs, ys, strict=True)]
    assert all(u is not None and 1 <= len(u) <= FEW for u in used)
    assert len({id(u) for u in used}) < len(used)  # blocks shared by points
    # within a few kilometres each point is measured on its block's few edges (compiled),
    # not on whole outlines; 30 km beside a long straight side, no block makes them few: its
    # block keeps more, measured compiled all the same
    lists = index.near_lists
    points = list(zip(xs.tolist(), ys.tolist(), strict=True))
    blocks = [lists._block(x, y) for x, y in points]
    walked = [_near.walk(lists.lists, x, y, *lists.box, *lists.frame) for x, y in points]
    assert all(w is b for w, b in zip(walked, blocks, strict=True)), "compiled: the same entry"
    near = blocks[:160] + blocks[200:]
    assert all(edges is not None and 1 <= len(edges) // 7 <= MAX_EDGES for _, _, edges, _ in near)
    far = {id(edges): edges for _, _, edges, _ in blocks[160:200]}.values()
    assert all(edges is not None and MAX_EDGES < len(edges) // 7 <= MOST_EDGES for edges in far)


def test_the_edges_a_worker_keeps_are_bounded(
    county: tuple[Engine, GridIndex], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks far beside a long straight side keep many edges each: past the bound on kept
    edges the lists start again (memory stays bounded whatever points come), and every
    answer is still PostGIS's."""
    engine, index = county
    lists = index.near_lists
    assert lists is not None
    monkeypatch.setattr(lookup_near, "MAX_KEPT_EDGES", 100)
    lists.lists.clear()  # the earlier tests' blocks
    lists.seen.clear()
    lists.kept = 0
    x1 = ORIGIN[0] + COLUMNS * CELL[0]
    ys = ORIGIN[1] + np.repeat(np.linspace(0.002, 0.028, 12), 2)
    xs = np.full(len(ys), x1 + 0.3)
    kept = []
    answers = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        answers.append(index.answers(np.array([x]), np.array([y]))[0])
        kept.append(lists.kept)
    assert max(kept) <= 100 + lookup_near.MOST_EDGES
    assert any(b < a for a, b in itertools.pairwise(kept)), "the lists started again"
    check_hierarchy(answers, postgis_hierarchy(engine, xs, ys))


def test_a_block_s_list_is_made_at_its_second_point(county: tuple[Engine, GridIndex]) -> None:
    """A point alone in its block is answered by the full search and makes no list (far
    points mostly are alone: a list costs ~9× the search there); the block's second point
    makes it, and is measured on it. Both answers are PostGIS's."""
    engine, index = county
    lists = index.near_lists
    assert lists is not None
    xs = ORIGIN[0] + np.array([0.0733, 0.07331])  # 3.3 km south, 1 m apart: one block
    ys = ORIGIN[1] - np.array([0.0301, 0.0301])
    made = len(lists.lists)
    first = index.answers(xs[:1], ys[:1])[0]
    assert len(lists.lists) == made, "no list for a block's first point"
    block = lists._first(xs[0], ys[0])
    assert block == lists._first(xs[1], ys[1]) and block in lists.seen
    second = index.answers(xs[1:], ys[1:])[0]
    assert len(lists.lists) > made, "the second point made its block's list"
    assert block not in lists.seen and block in lists.lists
    check_hierarchy([first, second], postgis_hierarchy(engine, xs, ys))


def test_a_block_s_region_is_postgis_s_for_each_of_its_points(
    demo: tuple[Engine, GridIndex],
) -> None:
    """A block keeps the region covering all of its points (one street's or the county's
    inside, none outside the county) and, astride a street's outline, none (each point is
    tested): points outside every grid around the demo streets' vertices away from grids,
    each asked twice (the second is measured on its block's list), answer PostGIS's chain."""
    engine, index = demo
    with engine.connect() as conn:
        corners = conn.execute(
            text(
                """SELECT DISTINCT ST_X(v.geom), ST_Y(v.geom)
                   FROM (SELECT (ST_DumpPoints(geom)).geom FROM regions
                         WHERE level = 'street' AND valid_to IS NULL) v
                   WHERE NOT EXISTS (SELECT 1 FROM regions g WHERE g.level = 'grid'
                     AND g.valid_to IS NULL AND ST_DWithin(g.geom, v.geom, 0.01))
                   ORDER BY 1, 2"""
            )
        ).all()
    rng = np.random.default_rng(11)
    picked = rng.choice(len(corners), size=min(len(corners), 40), replace=False)
    offsets = np.array([0.0, 2e-5, -3e-4, 6e-4, -2e-3])
    xs = np.concatenate([corners[i][0] + rng.choice(offsets, 6) for i in picked])
    ys = np.concatenate([corners[i][1] + rng.choice(offsets, 6) for i in picked])
    expected = postgis_hierarchy(engine, xs, ys)
    outside = [i for i, e in enumerate(expected) if e["grid"] is None]
    xs, ys, expected = xs[outside], ys[outside], [expected[i] for i in outside]
    for _ in range(2):  # the first point of a block makes no list
        singles = [index.answers(xs[i : i + 1], ys[i : i + 1])[0] for i in range(len(xs))]
        check_hierarchy(singles, expected)
    assert index.near_lists is not None
    kept = [index.near_lists._block(x, y)[3] for x, y in zip(xs, ys, strict=True)]
    assert None in kept and -1 in kept and any(k is not None and k >= 0 for k in kept)
    assert {e["street"] for e in expected} - {None}, "points inside streets"
