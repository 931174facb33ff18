"""Coverage benchmark: which buildings each centre and camera covers, gridmap vs PostGIS.

What is measured, in one run, on the same seeded data:

* **gridmap** — ``circle_pairs`` (every building within a centre's service radius) plus
  ``sector_pairs`` (every building a camera sees) of ``gis.analysis.coverage`` on numpy arrays:
  candidates from cells of a local metric frame (the reach widened by the frame's
  distortion), then ``pyproj.Geod.inv`` on the candidates (distance ≤ radius/range; for cameras the
  forward azimuth within ± fov/2 of the camera's, across north; a building at the camera
  itself is seen).
* **PostGIS** — the buildings, centres and cameras go into temporary tables with a
  ``geography(Point, 4326)`` column (binary ``COPY`` of EWKB encoded with numpy), each with a
  GiST index on the geography, ``ANALYZE``d; then
  ``ST_DWithin(c.geog, p.geog, c.radius_m)`` for centres (geography: on the spheroid) and
  ``ST_DWithin(c.geog, p.geog, c.range_m)`` plus ``degrees(ST_Azimuth(c.geog, p.geog))``
  within the field of view for cameras (a NULL azimuth — the building at the camera — counts
  as seen), each result streamed back with ``COPY … TO STDOUT``.  Timed: loading (tables,
  COPY, indexes, ANALYZE) and the two queries, reported apart; the ratio is given both for
  the queries alone (tables already loaded, as in a live database) and for everything.
* **the full report** — what the coverage endpoint runs:
  ``gis.analysis.coverage.coverage_report`` for the centres and for the cameras over
  ``--grids`` grids (per-grid table, uncovered buildings, blind-spot polygons, grids without
  facility with the nearest one, per-facility rows, redundant centres), timed apart from the
  pairs (it computes them again inside).  Its totals are checked against the pairs: covered
  buildings and households and the number of pairs must be the same.  No roads are given
  (``roads=()``): the endpoint's cameras report also measures the roads' covered length, not
  timed here.

The two answers are compared as sets of (building, centre) and (building, camera) pairs.
The data include buildings placed exactly on the boundaries (``Geod.fwd`` at exactly the
radius or range, exactly on a field-of-view edge, and at a camera), where the two may
legitimately split on the last bit of a float; every differing pair is listed with its
distance to the boundary.  Elsewhere they must agree; the script fails loudly otherwise.

Data (seeded): a 20 km × 20 km city centred on 118.32°E 40.15°N; ``--points`` buildings,
70 % in 300 compounds (Gaussian, σ 250 m) and 30 % uniform; ``--centres`` centres
(5 % street centres r = 1 000 m, 20 % community stations 500 m, 75 % homes 300 m — the
settings' GB 50180 defaults) near compounds; ``--cameras`` cameras on compounds' edges:
azimuth uniform, field of view 30–90° (70 %), 90–180° (20 %) or 360° domes (10 %), range
30–150 m (domes 20–60 m).  Grids for the report (seeded apart, so the city is the same as
without them): Voronoi cells of ``--grids`` seeds drawn among the buildings (so grids are
smaller where buildings are dense), jittered by ± 50 m east and north, clipped to the buildings'
lon/lat bounding box; codes in rows of 2 km north to south, west to east, ten grids to a
community.  Buildings have 1–3 households (mean 1.7); a grid's registered households are
its buildings' ± 10 %, its population 2.3–3.0 per household.  Each building goes to the
lowest-index grid covering it (as ``gis.analysis.report.region_data`` does); centres carry only
their level (radius from the settings' defaults), cameras are all online.

Usage::

    .venv/bin/python bench/coverage.py [--points 100000] [--centres 200] [--cameras 3000]
        [--grids 400] [--repeat 3] [--seed 20240601]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np
import psycopg
import pyproj
import shapely
from common import bench_database, git_state, heading, machine, plan_nodes, spaced
from coverage_city import GRIDS, LEVELS, City, Region, make_city, make_region
from coverage_tools import (
    Difference,
    Reports,
    Run,
    check_reports,
    compare,
    run_gridmap,
    run_postgis,
    run_reports,
    summarise,
)

from gis.settings import get_settings
from gis.store.cluster import Cluster
from gis.store.db import create_database, drop_database
from gis.store.watch import conninfo

GOAL_S = 1.0


# --------------------------------------------------------------------------- reporting


def environment(url: str) -> dict[str, str]:
    with psycopg.connect(conninfo(url)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
        gis = conn.execute("SELECT postgis_full_version()").fetchone()
    full = gis[0] if gis else ""
    pieces = {p.split("=")[0]: p.split("=", 1)[1].strip('"') for p in full.split() if "=" in p}
    return {
        **machine(),
        "numpy": np.__version__,
        "shapely": f"{shapely.__version__} (GEOS {shapely.geos_version_string})",
        "pyproj": f"{pyproj.__version__} (PROJ {pyproj.proj_version_str})",
        "postgres": f"PostgreSQL {pg[0] if pg else '?'}",
        "postgis": f"PostGIS {pieces.get('POSTGIS', '?')} (PROJ {pieces.get('PROJ', '?')})",
        "code": git_state(),
    }


def markdown(
    args: argparse.Namespace,
    env: dict[str, str],
    city: City,
    region: Region,
    rounds: list[dict[str, Run]],
    reports: list[Reports],
    orders: list[str],
    diffs: list[Difference],
    plans: dict[str, str],
    load: tuple[float, float],
) -> str:
    """The results section for ``bench/RESULTS.md``."""
    g = [r["gridmap"] for r in rounds]
    p = [r["PostGIS"] for r in rounds]
    med = statistics.median
    g_total = med(x.seconds for x in g)
    p_query = med(x.phases["centres query"] + x.phases["cameras query"] for x in p)
    p_total = med(x.seconds for x in p)
    pairs = (len(g[0].centres), len(g[0].cameras))
    command = (
        f".venv/bin/python bench/coverage.py --points {args.points} --centres {args.centres} "
        f"--cameras {args.cameras}"
        + (f" --grids {args.grids}" if args.grids != GRIDS else "")
        + f" --repeat {args.repeat} --seed {args.seed}"
    )
    r_centres = med(x.phases["report centres"] for x in reports)
    r_cameras = med(x.phases["report cameras"] for x in reports)
    r_total = med(x.seconds for x in reports)
    grid_hh = np.array([grid.households for grid in region.grids])
    grid_buildings = np.bincount([d.grid for d in region.demand], minlength=len(region.grids))
    one = reports[0]
    totals = one.centres["totals"]
    lines = [
        *heading(
            f"Coverage: {spaced(args.points)} buildings × {args.centres} centres × "
            f"{spaced(args.cameras)} cameras, gridmap vs PostGIS",
            command,
        ),
        f"Machine: {env['nproc']} cores ({env['cpu']}), load average {load[0]:.1f} → "
        f"{load[1]:.1f} over the run; Python {env['python']}; numpy {env['numpy']}, shapely "
        f"{env['shapely']}, pyproj {env['pyproj']}; {env['postgres']}, {env['postgis']} "
        f"(gridmap's embedded cluster, jit off). gridmap code: {env['code']}.",
        "",
        "Data (seeded): a 20 km × 20 km city around 118.32°E 40.15°N; buildings 70 % in 300 "
        "compounds, 30 % uniform; centres at the settings' radii (5 % 1 000 m, 20 % 500 m, "
        "75 % 300 m); cameras with fov 30–180° or 360° domes, range 20–150 m. Boundary probes "
        "among the buildings: "
        + ", ".join(f"{spaced(v)} {k}" for k, v in city.probes.items())
        + f". Answers: {spaced(pairs[0])} (building, centre) pairs and "
        f"{spaced(pairs[1])} (building, camera) pairs.",
        "",
        f"Grids for the full report (seeded apart from the city, which is unchanged): "
        f"{len(region.grids)} Voronoi cells of seeds drawn among the buildings, clipped to the "
        f"buildings' lon/lat bounding box ({totals['area_km2']:.0f} km²); buildings 1–3 "
        f"households each ({spaced(totals['households'])} in all), each in the lowest-index "
        f"grid covering it (as `region_data`); per grid {int(np.median(grid_buildings))} "
        f"buildings and {int(np.median(grid_hh))} registered households at the median "
        f"({int(grid_hh.min())}–{spaced(int(grid_hh.max()))}; registered = its buildings' "
        f"± 10 %), population 2.3–3.0 per household ({spaced(totals['population'])} in all). "
        "Centres carry only their level (radius from the settings' defaults, "
        "`default_radius_m`); cameras all online.",
        "",
        "gridmap = `circle_pairs` + `sector_pairs` on numpy arrays (candidates from cells of a "
        "local metric frame, the reach widened by its distortion, then `Geod.inv` on them). "
        "PostGIS = temp tables with `geography(Point, 4326)` + binary `COPY` + GiST index on "
        "each + `ANALYZE` (*load*), then `ST_DWithin(c.geog, p.geog, c.radius_m)` and "
        "`ST_DWithin(c.geog, p.geog, c.range_m)` + `degrees(ST_Azimuth(c.geog, p.geog))` "
        "within ± fov/2 (*queries*, results via `COPY … TO STDOUT`; one core: temp tables "
        "are not scanned in parallel). Rounds alternate which tool goes first.",
        "",
        "| round | first | gridmap circles (s) | gridmap sectors (s) | gridmap (s) "
        "| PostGIS load (s) | PostGIS centres (s) | PostGIS cameras (s) "
        "| queries / gridmap | all / gridmap |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (gr, pr, first) in enumerate(zip(g, p, orders, strict=True), 1):
        q = pr.phases["centres query"] + pr.phases["cameras query"]
        lines.append(
            f"| {i} | {first} | {gr.phases['circle_pairs']:.3f} | "
            f"{gr.phases['sector_pairs']:.3f} | {gr.seconds:.3f} | {pr.phases['load']:.2f} | "
            f"{pr.phases['centres query']:.2f} | {pr.phases['cameras query']:.2f} | "
            f"{q / gr.seconds:.1f}× | {pr.seconds / gr.seconds:.1f}× |"
        )
    lines.append(
        f"| **median** | | {med(x.phases['circle_pairs'] for x in g):.3f} | "
        f"{med(x.phases['sector_pairs'] for x in g):.3f} | **{g_total:.3f}** | "
        f"{med(x.phases['load'] for x in p):.2f} | "
        f"{med(x.phases['centres query'] for x in p):.2f} | "
        f"{med(x.phases['cameras query'] for x in p):.2f} | **{p_query / g_total:.1f}×** | "
        f"**{p_total / g_total:.1f}×** |"
    )
    lines += [
        "",
        "Full report = `coverage_report(grids, demand, facilities, kind, "
        "default_radius_m=settings.centre_radius_m)` for `centres` and for `cameras`, in the "
        "same rounds after both tools, as the coverage endpoint runs it once the region's rows "
        "are read (not timed: reading them from the database, building the `Grid` / "
        "`DemandPoint` / `Facility` objects, JSON encoding; no roads given, so the cameras' "
        "road lengths are not in it). It computes the pairs again inside, then the per-grid "
        "table, uncovered buildings, blind-spot polygons (GeoJSON), grids without facility "
        "with the nearest one, per-facility rows and, for centres, redundant centres.",
        "",
        "| round | report centres (s) | report cameras (s) | full report, both (s) "
        "| pairs only, both (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for i, (rep, gr) in enumerate(zip(reports, g, strict=True), 1):
        lines.append(
            f"| {i} | {rep.phases['report centres']:.3f} | {rep.phases['report cameras']:.3f} "
            f"| {rep.seconds:.3f} | {gr.seconds:.3f} |"
        )
    lines.append(
        f"| **median** | {r_centres:.3f} | {r_cameras:.3f} | **{r_total:.3f}** "
        f"| **{g_total:.3f}** |"
    )
    sizes = []
    for kind, report in (("centres", one.centres), ("cameras", one.cameras)):
        t = report["totals"]
        size = (
            f"{kind}: {spaced(t['covered_buildings'])} buildings "
            f"({t['covered_buildings_pct']} %) and {spaced(t['covered_households'])} "
            f"households ({t['covered_households_pct']} %) covered, "
            f"{spaced(len(report['uncovered']))} uncovered buildings listed, "
            f"{len(report['blind_spots'])} grids with blind spots "
            f"({t['blind_area_pct']} % of the area), "
            f"{len(report['grids_without_facility'])} grids without facility"
        )
        if "redundant_centres" in report:
            size += f", {len(report['redundant_centres'])} redundant centres"
        sizes.append(size)
    verdict = "met" if r_total <= GOAL_S else "**not met**"
    lines += [
        "",
        "Reports (the same totals in every round): "
        + "; ".join(sizes)
        + ". Checked in every round: "
        "each report's covered buildings and covered households, and its per-facility "
        "buildings summed, equal the pairs' answer (the distinct buildings of the pairs, "
        "their households, the number of pairs); its grids' covered households add up to the "
        "total.",
        "",
        f"Goal ≤ {GOAL_S:.0f} s, judged on the **full report of both layers** (centres + "
        f"cameras, median of the rounds' sums): {verdict} — **{r_total:.3f} s** "
        f"({r_centres:.3f} s centres + {r_cameras:.3f} s cameras, medians). The pairs alone "
        f"(`circle_pairs` + `sector_pairs`) take {g_total:.3f} s. PostGIS computes only the "
        f"pairs, so its ratios are against gridmap's pairs: queries alone / gridmap "
        f"**{p_query / g_total:.1f}×**; with loading the tables **{p_total / g_total:.1f}×**.",
        "",
    ]
    if not diffs:
        lines.append(
            "Answers: identical sets of pairs for centres and for cameras in every round, "
            "boundary probes included."
        )
    else:
        lines += [
            f"Answers: {len(diffs)} pairs differ (the same in every round), every one a "
            "boundary probe; all else identical. *Replayed*: PostGIS's answer recomputed with "
            "pyproj after its degree → radian → degree round trip of the coordinates "
            "(PostGIS measures geography points as radians, converted back to degrees for "
            "GeographicLib) and, for azimuths, its radians and `degrees()`. The few not "
            "replayed are presumably last-bit differences between the GeographicLib code in "
            "PostGIS's PROJ and in pyproj's (versions above; not verified).",
            "",
            "| facilities | where | found by | pairs | largest distance to the boundary "
            "| replayed |",
            "|---|---|---|---:|---:|---:|",
        ]
        for kind, where, who, count, largest, replayed in summarise(diffs):
            unit = "°" if where == "on a fov edge" else " m"
            lines.append(
                f"| {kind} | {where} | {who} | {count} | {largest:.1e}{unit} "
                f"| {replayed} of {count} |"
            )
    lines += [
        "",
        f"PostGIS plans: centres {plan_nodes(plans.get('centres', ''))}; cameras "
        f"{plan_nodes(plans.get('cameras', ''))}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000, help="buildings")
    parser.add_argument("--centres", type=int, default=200, help="party-service centres")
    parser.add_argument("--cameras", type=int, default=3000, help="cameras")
    parser.add_argument("--grids", type=int, default=GRIDS, help="grids of the full report")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per tool")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the data")
    args = parser.parse_args(argv)

    settings = get_settings()
    url, started = bench_database(settings, "coverage")
    create_database(url)
    try:
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        env = environment(url)
        print(f"{env['postgres']}, {env['postgis']}; pyproj {env['pyproj']}; {env['code']}")
        load_before = os.getloadavg()[0]
        city = make_city(args.points, args.centres, args.cameras, args.seed)
        region = make_region(city, args.grids, args.seed)
        defaults = dict(settings.centre_radius_m)
        if any(defaults.get(name) != radius for name, radius, _ in LEVELS):
            raise SystemExit(f"the settings' radii {defaults} are not the data's {LEVELS}")
        rounds: list[dict[str, Run]] = []
        reports: list[Reports] = []
        orders: list[str] = []
        plans: dict[str, str] = {}
        diffs: list[Difference] = []
        for r in range(args.repeat):
            first = ("gridmap", "PostGIS")[r % 2]
            steps: dict[str, Run] = {}
            for tool in (first, "PostGIS" if first == "gridmap" else "gridmap"):
                if tool == "gridmap":
                    steps[tool] = run_gridmap(city)
                else:
                    steps[tool], got = run_postgis(url, city, explain=r == 0)
                    plans |= got
            rep = run_reports(region, defaults)
            check_reports(rep, steps["gridmap"], region)
            if reports and (rep.centres["totals"], rep.cameras["totals"]) != (
                reports[0].centres["totals"],
                reports[0].cameras["totals"],
            ):
                raise SystemExit("the reports' totals changed between rounds")
            now = compare(city, steps["gridmap"], steps["PostGIS"])
            if r and now != diffs:
                raise SystemExit("the differences changed between rounds")
            diffs = now
            rounds.append(steps)
            reports.append(rep)
            orders.append(first)
            g, p = steps["gridmap"], steps["PostGIS"]
            print(
                f"round {r + 1} ({first} first): gridmap {g.seconds:.3f} s "
                f"[{', '.join(f'{k} {v:.3f}' for k, v in g.phases.items())}], PostGIS "
                f"{p.seconds:.2f} s [{', '.join(f'{k} {v:.2f}' for k, v in p.phases.items())}]; "
                f"pairs {len(g.centres)} / {len(g.cameras)}; differing pairs {len(now)}; "
                f"full reports {rep.seconds:.3f} s "
                f"[{', '.join(f'{k} {v:.3f}' for k, v in rep.phases.items())}], totals = pairs",
                flush=True,
            )
        stray = [d for d in diffs if d.where == "elsewhere"]
        if stray:
            raise SystemExit(f"DIFFERENT ANSWERS away from the boundaries: {stray[:10]}")
        for row in summarise(diffs):
            print("  ", row)
        print()
        print(
            markdown(
                args,
                env,
                city,
                region,
                rounds,
                reports,
                orders,
                diffs,
                plans,
                (load_before, os.getloadavg()[0]),
            )
        )
    finally:
        drop_database(url)
        if started:
            Cluster.from_settings(settings).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
