"""Walking coverage benchmark: which buildings are within their centres' service distance on
foot, gridmap's one search against pgRouting's plain per-centre searches and the radius.

What is measured, in one run, on the same seeded data:

* **gridmap** — ``gis.network.walk``: every building and centre joined to its nearest road
  (``snap``, timed apart), then one ``pgr_drivingDistance`` from a virtual source joined to
  every centre with a head start of (longest − its own) service distance, and the buildings'
  distances from their edges' ends in numpy;
* **pgr_drivingDistance per centre** — the same joins, one search per centre bounded by its
  own distance (the plain way), a building covered when any search reaches it in time;
* **radius** — ``gis.analysis.reach.circle_pairs``: within the distance in a straight line
  (geodesic), what the coverage report draws as circles.

The two walking answers must be the same set of covered buildings (the script fails
otherwise); the radius one is printed beside them (always a superset).

Data: ``bench/coverage_city.py``'s city (20 km × 20 km around 118.32°E 40.15°N, buildings
70 % in compounds, centres of three levels with 1 000 / 500 / 300 m) and a street network of
its own: streets every ``--spacing`` metres east–west and north–south across the city, each
block side dropped with probability 0.3 (seeded) — so walks detour — and a river along the
middle east–west with a bridge about every 2 km.  Streets are loaded into ``roads`` and the
network built with ``gis.network.build`` (timed: what an upload of the roads adds).

Usage::

    .venv/bin/python bench/walking.py [--points 100000] [--centres 200] [--spacing 150]
        [--repeat 3] [--seed 20240601]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import shapely
from common import bench_database, git_state, machine, server_versions, spaced
from coverage_city import CENTRE, HALF_SIDE_M, _offsets, make_city
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from gis.analysis.reach import circle_pairs
from gis.network.build import build_network
from gis.network.walk import Snaps, along_edge, distances, edges_sql, snap, via_ends
from gis.settings import get_settings
from gis.store.cluster import Cluster
from gis.store.db import create_database, drop_database, migrate

RIVER_BRIDGE_M = 2_000.0


def streets(
    spacing: float,
    seed: int,
    half_side: float = HALF_SIDE_M,
    centre: tuple[float, float] = CENTRE,
    river: bool = True,
) -> list[shapely.LineString]:
    """Block sides of the street grid (``half_side`` metres around ``centre``), some dropped,
    none crossing the river (with ``river``: east–west through the centre) but bridges."""
    rng = np.random.default_rng(seed)
    ticks = np.arange(-half_side, half_side + 1, spacing)
    lines = []
    for along_east in (True, False):
        for fixed in ticks:
            for a, b in itertools.pairwise(ticks):
                crosses_river = river and not along_east and a < 0 < b
                bridge = (
                    crosses_river and round(fixed / spacing) % round(RIVER_BRIDGE_M / spacing) == 0
                )
                if (crosses_river and not bridge) or (not bridge and rng.random() < 0.3):
                    continue
                east = np.array([a, b]) if along_east else np.array([fixed, fixed])
                north = np.array([fixed, fixed]) if along_east else np.array([a, b])
                lon, lat = _offsets(np.full(2, centre[0]), np.full(2, centre[1]), east, north)
                lines.append(shapely.LineString(np.column_stack([lon, lat])))
    return lines


def per_centre(conn, doors: Snaps, centres: Snaps, service: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Covered buildings by one plain ``pgr_drivingDistance`` per centre (the buildings'
    walks combined as gridmap's: ``via_ends``, ``along_edge``)."""
    covered = np.zeros(len(doors), bool)
    for k in range(len(centres)):
        alone = Snaps(*(np.asarray(getattr(centres, f))[[k]] for f in Snaps.__dataclass_fields__))
        rows = conn.execute(
            text("SELECT node, agg_cost FROM pgr_drivingDistance(:edges, -1, :limit, true)"),
            {"edges": edges_sql(alone, np.zeros(1)), "limit": float(service[k])},
        ).all()
        nodes = np.array([n for n, _ in rows if n > 0], np.int64)
        metres = np.array([c for n, c in rows if n > 0], float)
        best = np.minimum(via_ends(doors, nodes, metres), along_edge(doors, alone, np.zeros(1)))
        covered |= best + doors.access_m <= service[k]
    return covered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--centres", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=150.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)

    settings = get_settings()
    url, started = bench_database(settings, "walking")
    create_database(url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        migrate(url)
        city = make_city(args.points, args.centres, 10, args.seed)  # its cameras unused
        lines = streets(args.spacing, args.seed)
        service, longest = city.radius, float(city.radius.max())
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO roads (geom) SELECT ST_GeomFromWKB(w, 4326) FROM unnest(:w) w"),
                {"w": [shapely.to_wkb(line) for line in lines]},
            )
            t0 = time.perf_counter()
            edges = build_network(conn)
            built = time.perf_counter() - t0
        print(
            f"{server_versions(url)}; {git_state()}; {machine()}\n"
            f"{spaced(args.points)} buildings, {args.centres} centres, {spaced(len(lines))} "
            f"street pieces → {spaced(edges)} edges (network built in {built:.2f} s)"
        )
        rows: dict[str, list[float]] = {"snap": [], "gridmap": [], "per centre": [], "radius": []}
        answers = {}
        for r in range(args.repeat):
            with engine.connect() as conn:
                t0 = time.perf_counter()
                doors = snap(conn, city.plon, city.plat)
                centres = snap(conn, city.clon, city.clat)
                t1 = time.perf_counter()
                walked = distances(conn, doors, centres, longest - service, longest) <= longest
                t2 = time.perf_counter()
                plain = per_centre(conn, doors, centres, service)
                t3 = time.perf_counter()
            pairs = circle_pairs(city.plon, city.plat, city.clon, city.clat, service)
            t4 = time.perf_counter()
            radius = np.zeros(args.points, bool)
            radius[pairs[0]] = True
            for name, seconds in zip(rows, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                rows[name].append(seconds)
            if not np.array_equal(walked, plain):
                raise SystemExit(f"DIFFERENT ANSWERS: {int((walked != plain).sum())} buildings")
            answers = {"walking": int(walked.sum()), "radius": int(radius.sum())}
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in rows.items()))
        best = {k: min(v) for k, v in rows.items()}
        print()
        print("| step | best of rounds (s) |\n|---|---:|")
        for name, seconds in best.items():
            print(f"| {name} | {seconds:.3f} |")
        total = best["snap"] + best["gridmap"]
        print(
            f"\ngridmap walking coverage (snap + one search): {total:.3f} s; per-centre "
            f"searches {best['per centre']:.3f} s (+ the same snap) → "
            f"{best['per centre'] / best['gridmap']:.1f}× the search alone; radius "
            f"{best['radius']:.3f} s.\nCovered buildings: walking {spaced(answers['walking'])}, "
            f"radius {spaced(answers['radius'])} of {spaced(args.points)} (both walking "
            "methods the same set)."
        )
    finally:
        engine.dispose()
        drop_database(url)
        if started:
            Cluster.from_settings(settings).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
