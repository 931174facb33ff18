"""Batch lookups at wire speed (issue 19): 1 000 000 points in one streamed request, beside
the PostGIS join, and the 10 000-point JSON batch with and without ``fields=``.

What is measured, in one run, on the demo city (66 grids) in a fresh database and the same
points (``lookup_batch_cities.make_points``: uniform over the city's bounds and 10 % around
it, 5 % exact grid vertices; seeded):

* **stream, CSV** — ``curl --data-binary @points.csv`` to ``POST /api/v1/lookup/stream``
  (``id,lon,lat``, UTF-8; the answer a CSV: the input's columns, the codes of grid,
  community, street and county, version, error) served by one uvicorn worker on 127.0.0.1,
  with a viewer key; end to end: from curl's start to its last byte written to disk.
* **stream, Arrow** — the same points as an Arrow IPC stream, answered as one.
* **PostGIS join** — ``COPY`` of the points into a temporary table and the ``ST_Covers``
  join with the lowest grid code per point (``lookup_batch_tools.run_postgis``, as in
  ``bench/lookup_batch.py``): what a data desk does without gridmap.
* **JSON batch** — 10 000 points, ``POST /api/v1/lookup/batch`` as before (the whole
  answer per point) and with ``fields=grid.code``: the median of ``--repeat`` requests on one
  keep-alive connection (httpx; the body encoded once, before timing), in points per second.

Every answer is checked before it counts: the streamed grid codes equal the in-process
``GridIndex`` (``covering``: the lowest code on shared edges) for every point, and the
PostGIS join's too.  The worker's memory: its peak RSS (VmHWM) after a warm-up stream of
10 000 rows, and after each 1 000 000-row stream — the extra is what a stream costs.

curl, the worker, PostgreSQL and this script share the machine's cores (2 on the reference
VM).  Usage::

    .venv/bin/python bench/lookup_stream.py [--points 1000000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
from common import ROOT, bench_database, drop_databases, heading, machine, publish
from lookup_batch_cities import City, make_demo_city, make_generated_city, make_points
from lookup_batch_tools import run_postgis
from servers import serve_gridmap
from sqlalchemy import create_engine

from gis.access.auth import create_key
from gis.query.lookup import GridIndex
from gis.settings import get_settings

RESULTS = ROOT / "bench" / "results" / "issue19-stream.md"
CODES = ("grid.code", "community.code", "street.code", "county.code")


def _vm(pid: int, key: str) -> float:
    """A /proc/<pid>/status memory figure in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bodies(lon: np.ndarray, lat: np.ndarray, folder: Path) -> dict[str, Path]:
    """The points as a CSV and an Arrow IPC stream file (``id, lon, lat``)."""
    table = pa.table({"id": np.arange(len(lon)), "lon": lon, "lat": lat})
    paths = {"csv": folder / "points.csv", "arrow": folder / "points.arrows"}
    pacsv.write_csv(table, str(paths["csv"]))
    with pa.OSFile(str(paths["arrow"]), "wb") as sink, ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=65_536)
    return paths


MEDIA = {"csv": "text/csv", "arrow": "application/vnd.apache.arrow.stream"}


def stream(port: int, key: str, body: Path, kind: str, out: Path) -> tuple[float, str]:
    """POST ``body`` to the stream with curl; seconds end to end and the version header."""
    start = time.perf_counter()
    done = subprocess.run(
        [
            "curl", "-sS", "--fail-with-body", "-D", "-", "-o", str(out),
            "-H", f"Authorization: Bearer {key}", "-H", f"Content-Type: {MEDIA[kind]}",
            "--data-binary", f"@{body}",
            f"http://127.0.0.1:{port}/api/v1/lookup/stream",
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    version = next(
        (line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
         if line.lower().startswith("x-gridmap-version:")),
        "",
    )  # fmt: skip
    return seconds, version


def answer_codes(kind: str, out: Path) -> np.ndarray:
    """The grid codes of a streamed answer, in row order ('' for none)."""
    if kind == "csv":
        options = pacsv.ConvertOptions(column_types={c: pa.string() for c in CODES})
        table = pacsv.read_csv(str(out), convert_options=options)
    else:
        with pa.OSFile(str(out)) as source:
            table = ipc.open_stream(source).read_all()
    if set(table["error"].drop_null().to_pylist()):
        raise RuntimeError(f"errors in the answer: {table['error'].drop_null()[:3]}")
    return np.array(table["grid.code"].fill_null("").to_pylist())


def json_batch(port: int, lon: np.ndarray, lat: np.ndarray, fields: str | None, repeat: int):
    """Median seconds of ``repeat`` JSON batches of the points (and the answer's bytes)."""
    points = [
        {"lon": float(x), "lat": float(y), "id": i}
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]
    body = json.dumps({"points": points}).encode()  # encoded once: the client's cost is not timed
    params = {"fields": fields} if fields else {}
    headers = {"Content-Type": "application/json"}
    times, size = [], 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for _ in range(repeat + 1):
            start = time.perf_counter()
            answer = client.post(
                "/api/v1/lookup/batch", params=params, content=body, headers=headers
            )
            times.append(time.perf_counter() - start)
            answer.raise_for_status()
            size = len(answer.content)
    return statistics.median(times[1:]), size


@dataclass
class Measured:
    """One city's figures."""

    title: str
    points: int
    rows: list[tuple[str, float, str]]
    postgis: float
    rss: dict[str, float]
    batch: tuple[float, int, float, int]


def measure(city: City, args: argparse.Namespace, folder: Path) -> Measured:
    """The streams, the JSON batches and the PostGIS join on ``city``'s points."""
    lon, lat, _ = make_points(city, args.points, args.points // 20, args.seed)
    lon, lat = np.round(lon, 7), np.round(lat, 7)  # as written in the bodies
    engine = create_engine(city.url)
    with engine.begin() as conn:
        key = create_key(conn, role="viewer", name="bench-stream")
    with engine.connect() as conn:
        index = GridIndex.load(conn, city.version)
    engine.dispose()
    grid_codes = np.array([*(g["code"] for g in index.grids), ""])
    want = grid_codes[index.covering(lon, lat)]
    paths = bodies(lon, lat, folder)
    (folder / "small").mkdir()
    small = bodies(lon[:10_000], lat[:10_000], folder / "small")
    rows: list[tuple[str, float, str]] = []
    rss = {}
    with serve_gridmap(city.url, ROOT, 1, [], folder) as server:
        worker = (server.workers() or [server.proc.pid])[0]
        stream(server.port, key, small["csv"], "csv", folder / "warm")  # builds the index
        rss["warm-up"] = _vm(worker, "VmHWM")
        for kind in ("csv", "arrow"):
            out = folder / f"answer.{kind}"
            seconds, version = stream(server.port, key, paths[kind], kind, out)
            rss[kind] = _vm(worker, "VmHWM")
            got = answer_codes(kind, out)
            if not (got == want).all():
                bad = np.flatnonzero(got != want)[:5]
                raise RuntimeError(f"stream {kind} differs at {bad}: {got[bad]}")
            size = paths[kind].stat().st_size + out.stat().st_size
            rows.append((f"stream, {kind} (version {version})", seconds, f"{size / 1e6:.0f} MB"))
        batch = (lon[: args.batch], lat[: args.batch])
        full, full_bytes = json_batch(server.port, *batch, None, args.repeat)
        codes, codes_bytes = json_batch(server.port, *batch, "grid.code", args.repeat)
    ordered = np.array(sorted(grid_codes[:-1]))
    post = run_postgis(city.url, lon, lat, ordered, pts_index=args.pts_index, jit="off",
                       explain=False)  # fmt: skip
    if not (np.array([*ordered, ""])[post.answer] == want).all():
        raise RuntimeError("PostGIS differs from the index")
    rows.append(("PostGIS: COPY + ST_Covers join (grid codes)", post.seconds, "—"))
    return Measured(city.title, args.points, rows, post.seconds, rss,
                    (full, full_bytes, codes, codes_bytes))  # fmt: skip


def report(m: Measured, args: argparse.Namespace) -> list[str]:
    """A city's table and notes."""
    n = m.points
    lines = [
        "",
        f"**{m.title}** — {n:,} points ({n // 20:,} on grid vertices); every answer checked "
        "point by point against the in-process index.",
        "",
        "| peer | seconds | points/s | bytes in + out | PostGIS ÷ peer |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, seconds, size in m.rows:
        ratio = m.postgis / seconds
        lines.append(f"| {name} | {seconds:.2f} | {n / seconds:,.0f} | {size} | {ratio:.1f}× |")
    full, full_bytes, codes, codes_bytes = m.batch
    base = m.rss["warm-up"]
    lines += [
        "",
        f"Worker peak RSS: {base:.0f} MB after a 10 000-row warm-up stream; "
        + ", ".join(f"{m.rss[k]:.0f} MB after the {k} stream (+{m.rss[k] - base:.0f} MB)"
                    for k in ("csv", "arrow"))
        + " (goal: ≤ 200 MB extra).",
        "",
        f"JSON batch of {args.batch:,} points, median of {args.repeat}: whole answers "
        f"{full * 1000:.0f} ms ({args.batch / full:,.0f} points/s, {full_bytes / args.batch:.0f} "
        f"bytes a point); `fields=grid.code` {codes * 1000:.1f} ms ({args.batch / codes:,.0f} "
        f"points/s, {codes_bytes / args.batch:.0f} bytes a point): {full / codes:.1f}× the "
        "whole answers (goal: ≥ 430 000 points/s, 5× the 86 000 of the issue).",
    ]  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=100_000, help="a generated city too (0: no)")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--pts-index", default="gist", help="PostGIS: gist on the points or none")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    lines = heading("Batch lookups at wire speed (issue 19)", "bench/lookup_stream.py")
    lines += [f"- {k}: {v}" for k, v in machine().items()]
    urls = []
    try:
        makers = [("demo", make_demo_city)]
        if args.grids:
            makers.append(("city", lambda url: make_generated_city(url, args.grids, args.seed)))
        for name, make in makers:
            url, _ = bench_database(get_settings(), f"stream_{name}")
            urls.append(url)
            with tempfile.TemporaryDirectory() as tmp:
                lines += report(measure(make(url), args, Path(tmp)), args)
    finally:
        drop_databases(urls)
    publish(lines, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
