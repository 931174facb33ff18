"""Lookups and tiles through the high-availability topology (front HAProxy → two gridmap nodes
of one worker each, reads on synchronous standbys, the version fence) beside one gridmap node
alone (two workers, straight on the primary), same machine, same data, same wrk, in turns.

On one machine the topology cannot be faster: its parts share the same cores (three
PostgreSQL servers, Patroni ×3, etcd, HAProxy ×1 for both the front and the database ports),
and each request crosses HAProxy and asks the primary for the newest version (the fence).
What this prints is the price of those hops — the figure to scale a deployment by when the
parts get machines of their own (docs/scale.md).

    .venv/bin/python bench/ha_overhead.py [--duration 10] [--rounds 3] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wrk
from common import heading, load_average, machine, publish
from servers import serve_gridmap

from gis.ha.topology import LocalTopology
from tiles.pmtiles import covering_tiles

ROOT = Path(__file__).resolve().parent.parent
DEMO_BOX = (118.25, 40.05, 118.55, 40.30)
"""West, south, east, north of the demo city's grids (迁西县)."""


def lookup_paths(count: int = 400) -> list[str]:
    """Lookups on a lattice over the demo city."""
    side = int(math.sqrt(count))
    w, s, e, n = DEMO_BOX
    lons = [w + (e - w) * (i + 0.5) / side for i in range(side)]
    lats = [s + (n - s) * (j + 0.5) / side for j in range(side)]
    return [f"/api/v1/lookup?lon={lon:.6f}&lat={lat:.6f}" for lon in lons for lat in lats]


def tile_paths(z: int = 13) -> list[str]:
    """Every grids tile of zoom ``z`` over the demo city."""
    return [f"/tiles/grids/{z}/{x}/{y}.mvt" for z, x, y in covering_tiles(DEMO_BOX, z, z)]


def one_pass(label: str, port: int, paths: list[str], args: argparse.Namespace) -> wrk.WrkRun:
    return wrk.run_paths(
        label,
        f"http://127.0.0.1:{port}",
        paths,
        threads=2,
        connections=args.connections,
        duration=args.duration,
        timeout="10s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    kinds = {"lookups": lookup_paths(), "tiles z13": tile_paths()}
    runs: dict[tuple[str, str], list[wrk.WrkRun]] = {}
    with tempfile.TemporaryDirectory(prefix="gridmap-ha-bench-") as tmp:
        topology = LocalTopology(Path(tmp) / "ha", nodes=3, apps=2, demo=True)
        topology.up()
        try:
            layout = topology.layout
            assert layout is not None
            leader = topology.leader()
            primary = layout.url(layout.postgres[layout.names.index(leader)])
            with serve_gridmap(primary, ROOT, 2, [], Path(tmp)) as alone:
                peers = {"HAProxy + 2 nodes": layout.front, "1 node alone": alone.port}
                for _ in range(args.rounds):
                    for kind, paths in kinds.items():
                        for peer, port in peers.items():
                            run = one_pass(f"{peer} {kind}", port, paths, args)
                            runs.setdefault((kind, peer), []).append(run)
        finally:
            topology.destroy()
    lines = heading(
        "High availability: HAProxy + 2 gridmap nodes beside 1 node alone",
        "python bench/ha_overhead.py " + " ".join(sys.argv[1:]),
    )
    lines += [
        f"Machine: {machine()}; load {load_average()}; wrk {args.connections} connections, "
        f"{args.duration} s × {args.rounds} rounds in turns (median shown).",
        "",
        "| requests | peer | req/s | p50 ms | p99 ms | errors | topology / alone |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind in kinds:
        alone = wrk.median_run(runs[(kind, "1 node alone")])
        for peer in ("HAProxy + 2 nodes", "1 node alone"):
            run = wrk.median_run(runs[(kind, peer)])
            ratio = run.requests_per_s / alone.requests_per_s
            lines.append(
                f"| {kind} | {peer} | {run.requests_per_s:,.0f} | {run.ms('50'):.2f} | "
                f"{run.ms('99'):.2f} | {run.failures} | {ratio:.2f} |"
            )
    lines += [
        "",
        "On this one machine the topology shares two cores between three PostgreSQL servers, "
        "Patroni, etcd and HAProxy: the ratio is the overhead of the hops (HAProxy, the fence's "
        "query of the primary), not a speed-up.",
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
