"""Generating the province (``gridmap demo province``): time, peak memory, file sizes and
the shape of what was written; with ``--load``, loading it through the upload path into a
throw-away database (time per file).

    .venv/bin/python bench/province_generate.py --grids 1000000 [--out DIR] [--load]

Prints a Markdown section for ``bench/results/issue16-A.md``.  The files are removed at the
end unless ``--out`` was given (1 000 000 grids write ~3 GB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from common import bench_database, drop_databases, git_state, heading, machine, spaced
from meters import peak_rss
from sqlalchemy import make_url

from gis.demo.province_files import FILES, generate
from gis.demo.province_load import load_province
from gis.settings import Settings
from gis.store.db import create_database, make_engine, migrate

SAMPLE = 20_000
"""Grids read back to count vertices."""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--load", action="store_true")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="province-"))
    lines = heading(
        f"Province generation, {spaced(args.grids)} grids", "python " + " ".join(sys.argv)
    )
    lines += [f"- {git_state()}; {machine()}", f"- load average at start: {load_average()}"]
    try:
        started = time.perf_counter()
        with peak_rss() as rss:
            written = generate(args.grids, args.seed, out, progress=print)
        seconds = time.perf_counter() - started
        sample = pyogrio.read_dataframe(out / FILES["grid"], max_features=SAMPLE, columns=[])
        rings = shapely.get_exterior_ring(sample.geometry.values)
        vertices = float(np.mean(shapely.get_num_coordinates(rings) - 1))
        lines += [
            f"- generated in **{seconds:.0f} s**, peak RSS **{rss['peak'] / 2**20:.2f} GiB**",
            f"- features: {', '.join(f'{k} {spaced(v)}' for k, v in written.items())}",
            f"- mean vertices a grid (first {spaced(SAMPLE)} read back): {vertices:.1f}",
            "- files: "
            + ", ".join(
                f"{name} {(out / name).stat().st_size / 2**20:.0f} MiB" for name in FILES.values()
            ),
        ]
        if args.load:
            settings = Settings()
            url, _ = bench_database(settings, "bench_province_load")
            try:
                create_database(url)
                migrate(url)
                engine = make_engine(url)
                started = time.perf_counter()
                loaded = load_province(engine, out, settings, progress=print)
                engine.dispose()
                lines.append(
                    f"- loaded through the upload path in "
                    f"{time.perf_counter() - started:.0f} s into {make_url(url).database}:"
                )
                lines += [
                    f"  - {item.layer}: {item.status} in {item.seconds:.1f} s, "
                    f"problems {item.problems or 'none'}"
                    for item in loaded
                ]
            finally:
                drop_databases([url])
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    lines.append(f"- load average at end: {load_average()}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
