"""The nearest grid of points outside every grid, in process: the block lists
(``gis.query.lookup_near.NearLists``) against the full search they replace.

A fresh database with the demo city and a synthetic county of ``--grids`` grids
(``tests/large_city.py``); its index built in this process.  Per distance south of the county
(50 m … 100 km), ``--points`` points uniform along the parallel (seeded); each row times
``GridIndex.nearest_point`` for every point four ways, in turns on the same index:

* **search** — the lists switched off (``nearest`` answers None): the full bounded search
  every request made before;
* **lists, first point** — fresh lists: the first point of a block is answered by the full
  search (its block only noted);
* **lists, second point** — the same points again: the second point of a block pays the
  block's list;
* **lists, warm** — the same points a third time (every block's list made).

The answers of the four must be the same grid, and metres within a micrometre (a block's
few edges are measured in plain Python, whose sine and cosine may differ from numpy's in the
last bit); the run stops otherwise.
Usage::

    .venv/bin/python bench/lookup_nearest.py [--grids 100000] [--points 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
from common import ROOT, bench_database, git_state, load_average

from gis.query.lookup import GridIndex
from gis.settings import get_settings
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.seed import load_demo
from gis.store.versions import current_version

sys.path.insert(0, str(ROOT / "tests"))
from large_city import BLOCKS_PER_ROW, CELL, ORIGIN, add_county

DISTANCES_M = (50.0, 1_000.0, 10_000.0, 30_000.0, 100_000.0)


def timed(
    index: GridIndex, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Milliseconds of each ``nearest_point`` and its answers."""
    ms, answers = [], []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        start = time.perf_counter()
        answers.append(index.nearest_point(x, y))
        ms.append((time.perf_counter() - start) * 1000)
    return np.array(ms), answers


def row(index: GridIndex, xs: np.ndarray, ys: np.ndarray) -> list[str]:
    """Median / p99 ms of the four ways, the lists' lengths; stops on a differing answer."""
    lists = index.near_lists
    assert lists is not None
    nearest: Callable[[float, float], tuple[int, float] | None] = lists.nearest
    lists.nearest = lambda x, y: None  # type: ignore[method-assign]
    search, expected = timed(index, xs, ys)
    lists.nearest = nearest  # type: ignore[method-assign]
    lists.lists.clear()
    lists.seen.clear()
    first, answers = timed(index, xs, ys)
    second, made = timed(index, xs, ys)
    warm, again = timed(index, xs, ys)
    if made != again or not all(
        g == e and abs(m - f) <= 1e-6
        for found in (answers, made)
        for (g, m), (e, f) in zip(found, expected, strict=True)
    ):
        raise SystemExit("the lists' answers differ from the full search's")
    used = [lists.candidates(x, y) for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]
    sizes = [len(u) for u in used if u is not None]
    share = f"{len(sizes)}/{len(used)}"
    size = f"{np.median(sizes):.0f} / {max(sizes)}" if sizes else "–"
    cells = [
        f"{np.median(t):.2f} / {np.percentile(t, 99):.2f}" for t in (search, first, second, warm)
    ]
    return [*cells, share, size, str(len(lists.lists))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = get_settings()
    db_url, _ = bench_database(settings, "nearest")
    print(f"commit {git_state()}; load average at start {load_average()}", flush=True)
    create_database(db_url)
    try:
        migrate(db_url)
        engine = make_engine(db_url)
        try:
            load_demo(engine, settings.demo_dir)
            add_county(engine, args.grids)
            with engine.connect() as conn:
                index = GridIndex.load(conn, current_version(conn) or 0)
        finally:
            engine.dispose()
    finally:
        drop_database(db_url)
    rng = np.random.default_rng(args.seed)
    width = min(args.grids, BLOCKS_PER_ROW * 10) * CELL[0]  # the county's first row
    print(
        "| points south of the county | search: median / p99 ms | lists, first point "
        "| lists, second point | lists warm | points with a list | grids a list: median / max "
        "| blocks |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for metres in DISTANCES_M:
        xs = ORIGIN[0] + rng.uniform(0, width, args.points)
        ys = np.full(args.points, ORIGIN[1] - metres / 110_574.0)
        print(f"| {metres:,.0f} m | " + " | ".join(row(index, xs, ys)) + " |", flush=True)
    print(f"load average at end {load_average()}")


if __name__ == "__main__":
    main()
