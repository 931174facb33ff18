"""Loading a generated province through the upload path (``gis.demo.province_load``), this
checkout against another one (``--peer``: e.g. an older commit unpacked with ``git archive``),
side by side in one run: seconds per file and the ratio.

Each load runs in its own process (the checkout's ``gis`` first on its path) into its own
throw-away database; rounds alternate which checkout goes first.  The province is generated
once (or read from ``--dir``).  Prints the machine's load average at start and end.

    git archive COMMIT | tar -x -C /tmp/before
    .venv/bin/python bench/province_load.py --grids 20000 --peer /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, bench_database, drop_databases, git_state

from gis.settings import Settings


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def child(directory: Path) -> None:
    """Load the province in ``directory`` into a fresh database; print seconds per file."""
    from gis.demo.province_load import load_province
    from gis.store.db import create_database, make_engine, migrate

    settings = Settings()
    url, _ = bench_database(settings, "province_load")
    try:
        create_database(url)
        migrate(url)
        engine = make_engine(url)
        loaded = load_province(engine, directory, settings, progress=lambda _: None)
        engine.dispose()
        print(json.dumps({item.layer: item.seconds for item in loaded}))
    finally:
        drop_databases([url])


def run(checkout: Path, directory: Path) -> dict[str, float]:
    """One load by ``checkout``'s code, in a child process."""
    settings = Settings()  # the peer uses this checkout's database server
    env = {**os.environ, "PYTHONPATH": str(checkout), "GRIDMAP_HOME": str(settings.home)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(directory)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--dir", type=Path, help="a generated province (else generated here)")
    parser.add_argument("--peer", type=Path, help="another checkout to load with, side by side")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"{git_state()}; load average at start: {load_average()}", flush=True)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="province-load-"))
    try:
        if args.dir is None:
            from gis.demo.province_files import generate

            generate(args.grids, args.seed, directory, progress=lambda _: None)
        checkouts = {"this": ROOT} | ({"peer": args.peer} if args.peer else {})
        times: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
        for r in range(args.rounds):
            order = list(checkouts) if r % 2 == 0 else list(checkouts)[::-1]
            for name in order:
                started = time.perf_counter()
                times[name].append(run(checkouts[name], directory))
                print(
                    f"round {r + 1} {name}: {time.perf_counter() - started:.1f} s "
                    f"{times[name][-1]} (load {load_average()})",
                    flush=True,
                )
        layers = list(times["this"][0])
        print("\n| file | " + " | ".join(f"{n} (s, median)" for n in checkouts) + " | ratio |")
        print("|---|" + "---:|" * (len(checkouts) + 1))
        for layer in [*layers, "total"]:

            def median(name: str, layer: str = layer) -> float:
                rounds = times[name]
                return statistics.median(
                    sum(t.values()) if layer == "total" else t[layer] for t in rounds
                )

            cells = [f"{median(n):.1f}" for n in checkouts]
            ratio = f"{median('this') / median('peer'):.2f}×" if args.peer else ""
            print(f"| {layer} | " + " | ".join(cells) + f" | {ratio} |")
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
