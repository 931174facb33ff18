"""Upload benchmark: a 10 000-polygon grid shapefile through gridmap vs bare ``ogr2ogr``.

What is measured, in one run and on the same file:

* **gridmap** — wall time of ``gis.ingest.uploads.process_upload(..., dry_run=False)`` on the zipped
  shapefile: unzip, encoding detection (GBK), reading with GDAL (pyogrio), field mapping,
  reprojection EPSG:4527 → EPSG:4326, full validation (geometry validity, attributes,
  duplicates, parents, slivers, parts outside the parent, sibling overlaps, gaps in the
  parent) and the commit of all polygons as one new boundary version, with the upload and
  its report recorded.  The database is a fresh copy of a migrated one that holds the
  parent communities (each the union of its cells, so the grids cover them seamlessly).
* **ogr2ogr** — wall time of the Debian ``ogr2ogr -f PostgreSQL`` process importing the same
  zip (``/vsizip/``) into a fresh PostGIS database: reading, reprojection, COPY, spatial
  index; no validation.  This is the bare-import peer.

Rounds alternate which tool goes first; each round gets fresh databases (copies of
templates made before timing).  Both tools talk to the same embedded PostgreSQL cluster.
The script prints per-round times, the medians, the ratio gridmap / ogr2ogr (goal ≤ 2×),
gridmap's time and peak RSS per phase (from its progress callback), and — when the
ratio is above 2× or ``--profile always`` — a cProfile breakdown of one extra gridmap upload.

The layer: ``upload_layer`` (seamless Voronoi grid cells, a zipped GBK shapefile in EPSG:4527).

Usage::

    .venv/bin/python bench/upload_vs_ogr2ogr.py [--polygons 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import multiprocessing
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyogrio
import shapely
from common import (
    ROOT,
    drop_databases,
    git_state,
    heading,
    load_average,
    machine,
    phase_seconds,
    server_versions,
)
from meters import peak_rss, vm_kib
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.pool import NullPool
from upload_layer import STREET_CODE, LayerFiles, layer_files

from gis.ingest.uploads import UploadRequest, process_upload
from gis.settings import Settings, get_settings
from gis.store.db import create_database, database_url, drop_database, make_engine, migrate
from gis.store.versions import RegionRecord, commit_regions

# --------------------------------------------------------------------------- databases


def _db_url(base: str, name: str) -> str:
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _plain_engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def make_gridmap_template(url: str, parents: dict[str, shapely.MultiPolygon]) -> None:
    """A migrated database holding the parent communities (version 1), each the exact union
    of its cells, stored as gridmap stores every geometry: snapped to ``STORAGE_GRID_DEG``
    (up to ~8 mm off the cells in the file, which the upload's checks take as storage
    precision, not as gaps or parts outside the parent)."""
    create_database(url)
    migrate(url)
    engine = _plain_engine(url)
    try:
        with engine.begin() as conn:
            commit_regions(
                conn,
                [
                    RegionRecord(
                        code=code,
                        level="community",
                        name=f"测试{k + 1}社区",
                        parent_code=STREET_CODE,
                        wkb=shapely.to_wkb(geom),
                    )
                    for k, (code, geom) in enumerate(parents.items())
                ],
                author="bench",
                action="load",
            )
    finally:
        engine.dispose()


def make_ogr_template(url: str) -> None:
    """A plain database with PostGIS, nothing else."""
    create_database(url)
    engine = _plain_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- measuring


POLL_S = 0.01


@dataclass
class Run:
    """One timed step."""

    seconds: float
    phases: dict[str, float] = field(default_factory=dict)
    rss_before_kib: int = 0
    rss_peak_kib: int = 0
    backend_peak_kib: int = 0
    """The largest peak RSS of the database's PostgreSQL backends (shared buffers they
    touched included)."""
    phase_peaks_kib: dict[str, int] = field(default_factory=dict)
    """The process's peak RSS so far at the end of each phase: where the peak was reached."""


def run_gridmap(url: str, zip_path: Path, settings: Settings, n: int) -> Run:
    """Time one committed upload of ``zip_path``; check it added ``n`` grids, no errors."""
    engine = make_engine(url)
    marks: list[tuple[str, float]] = []
    peaks: list[int] = []  # VmHWM at each mark: the peak so far

    def mark(step: str) -> None:
        marks.append((step, time.perf_counter()))
        peaks.append(vm_kib("VmHWM"))

    request = UploadRequest(filename="grids.zip", level="grid", author="bench", dry_run=False)
    try:
        with peak_rss() as rss:
            start = time.perf_counter()
            result = process_upload(engine, zip_path, request, settings, progress=mark)
            end = time.perf_counter()
            peaks.append(vm_kib("VmHWM"))
        summary = result.report["summary"]
        added = len((summary.get("changes") or {}).get("added", []))
        phase_peaks = {step: kib for (step, _), kib in zip(marks, peaks[1:], strict=True)}
        if result.status != "committed" or summary["errors"] != 0 or added != n:
            raise RuntimeError(
                f"gridmap upload not committed as expected: status={result.status} "
                f"summary={ {k: v for k, v in summary.items() if k != 'changes'} } added={added}"
            )
        with engine.connect() as conn:  # the pooled connection(s) of the upload, still open
            pids = conn.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            ).all()
            backend = max(vm_kib("VmHWM", pid) for pid in pids)
            stored = conn.scalar(
                text("SELECT count(*) FROM regions WHERE level = 'grid' AND valid_to IS NULL")
            )
        if stored != n:
            raise RuntimeError(f"gridmap stored {stored} grids, expected {n}")
    finally:
        engine.dispose()
    return Run(
        end - start, phase_seconds(marks, end), rss["before"], rss["peak"], backend, phase_peaks
    )


def _gridmap_child(queue: Any, url: str, zip_path: Path, settings: Settings, n: int) -> None:
    try:
        queue.put(run_gridmap(url, zip_path, settings, n))
    except Exception as error:  # handed to the parent, which raises it
        queue.put(RuntimeError(f"gridmap upload failed in its process: {error!r}"))


def run_gridmap_apart(url: str, zip_path: Path, settings: Settings, n: int) -> Run:
    """:func:`run_gridmap` in a fresh (spawned) process that holds only what an upload needs,
    as a server worker does: its peak RSS is the upload's own, not the benchmark's (which
    keeps the layer's codes and names, and whose allocator keeps the generated cells' pages)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_gridmap_child, args=(queue, url, zip_path, settings, n))
    proc.start()
    result = queue.get()
    proc.join()
    if isinstance(result, Exception):
        raise result
    return result


def ogr_command(url: str, zip_path: Path) -> list[str]:
    """The bare ogr2ogr import (the password goes in PGPASSWORD, not on the command line)."""
    u = make_url(url)
    conn = f"PG:host={u.host} port={u.port} dbname={u.database} user={u.username}"
    return [
        "ogr2ogr",
        "-f",
        "PostgreSQL",
        conn,
        f"/vsizip/{zip_path}",
        "-nln",
        "grids",
        "-t_srs",
        "EPSG:4326",
        "-nlt",
        "PROMOTE_TO_MULTI",
        "-lco",
        "GEOMETRY_NAME=geom",
        "--config",
        "SHAPE_ENCODING",
        "GBK",
    ]


def run_ogr2ogr(url: str, zip_path: Path, layer: LayerFiles) -> Run:
    """Time one ogr2ogr import; check the row count and that a Chinese name round-trips."""
    env = {**os.environ, "PGPASSWORD": make_url(url).password or ""}
    command = ogr_command(url, zip_path)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, vm_kib("VmHWM", proc.pid))
            time.sleep(POLL_S)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip()
            raise RuntimeError(f"ogr2ogr failed ({proc.returncode}): {message}")
    engine = _plain_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.scalar(text("SELECT count(*) FROM grids"))
            columns = set(
                conn.scalars(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'grids'"
                    )
                )
            )
            if not {"编码", "名称"} <= columns:
                raise RuntimeError(f"ogr2ogr columns lack 编码/名称: {sorted(columns)}")
            name = conn.scalar(
                text('SELECT "名称" FROM grids WHERE "编码" = :code'), {"code": layer.code}
            )
    finally:
        engine.dispose()
    if count != layer.polygons or name != layer.name:
        raise RuntimeError(f"ogr2ogr import wrong: {count} rows, name {name!r}")
    return Run(seconds, rss_peak_kib=peak)


def profile_gridmap(url: str, zip_path: Path, settings: Settings, top: int) -> str:
    """cProfile of one committed upload: gridmap's own functions and the top callees."""
    engine = make_engine(url)
    request = UploadRequest(filename="grids.zip", level="grid", author="bench", dry_run=False)
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        process_upload(engine, zip_path, request, settings)
        profiler.disable()
    finally:
        engine.dispose()
    stats = pstats.Stats(profiler)
    total = max(float(getattr(stats, "total_tt", 0.0)), 1e-9)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_, calls, tottime, cumtime, _) in raw.items():
        rows.append((cumtime, tottime, calls, filename, line, func))
    out = io.StringIO()
    out.write(f"total profiled time {total:.2f} s (cProfile overhead included)\n")
    out.write("\ngridmap functions by cumulative time (s, % of total, calls):\n")
    root = str(ROOT)
    own = [r for r in rows if "/gis/" in r[3] and r[0] >= 0.01 * total]
    for cum, _, calls, filename, line, func in sorted(own, reverse=True)[:top]:
        where = filename.replace(root + "/", "")
        out.write(f"  {cum:7.2f} {100 * cum / total:5.1f}%  {calls:>7}  {where}:{line} {func}\n")
    out.write("\ntop functions by own time (s, % of total, calls):\n")
    for _, tot, calls, filename, line, func in sorted(rows, key=lambda r: -r[1])[:top]:
        where = filename.replace(root + "/", "").split("site-packages/")[-1]
        out.write(f"  {tot:7.2f} {100 * tot / total:5.1f}%  {calls:>7}  {where}:{line} {func}\n")
    return out.getvalue()


# --------------------------------------------------------------------------- reporting


def _versions() -> dict[str, str]:
    ogr = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True, check=False)
    return {
        **machine(),
        "ogr2ogr": ogr.stdout.strip(),
        "pyogrio": f"{pyogrio.__version__} (bundled GDAL {pyogrio.__gdal_version_string__})",
        "shapely": f"{shapely.__version__} (GEOS {shapely.geos_version_string})",
        "code": git_state(),
    }


def _median(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


PHASES = {
    "reading": "reading (unzip, encoding detection, GDAL read of the first batch)",
    "reprojecting": "reprojecting + the other batches read + candidates + lock + parent fetch",
    "validating": "validating (+ removals query)",
    "committing": "committing (staging, version, report, upload record, COMMIT)",
}


def markdown(
    args: argparse.Namespace,
    vertices: float,
    zip_path: Path,
    env: dict[str, str],
    gm: list[Run],
    ogr: list[Run],
) -> str:
    """The results section for ``bench/RESULTS.md``."""
    ratio = _median(gm) / _median(ogr)
    lines = [
        *heading(
            f"Upload: {args.polygons:,} polygons, gridmap vs ogr2ogr".replace(",", " "),
            f".venv/bin/python bench/upload_vs_ogr2ogr.py --polygons {args.polygons} "
            f"--repeat {args.repeat}",
        ),
        f"Machine: {env['nproc']} cores ({env['cpu']}); Python {env['python']}; "
        f"{env['ogr2ogr']} (Debian gdal-bin); gridmap reads with pyogrio {env['pyogrio']}; "
        f"shapely {env['shapely']}; {env['postgres']} (gridmap's embedded cluster). "
        f"gridmap code: {env['code']}.",
        "",
        f"File: {args.polygons} seamless Voronoi grid cells (seed {args.seed}, "
        f"{vertices:.1f} vertices per polygon on average), GBK shapefile in EPSG:4527, "
        f"zipped ({zip_path.stat().st_size / 1e6:.1f} MB).",
        "",
        "| round | first | gridmap (s) | ogr2ogr (s) | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    for i, (g, o) in enumerate(zip(gm, ogr, strict=True), 1):
        first = "gridmap" if i % 2 else "ogr2ogr"
        lines.append(
            f"| {i} | {first} | {g.seconds:.2f} | {o.seconds:.2f} | {g.seconds / o.seconds:.2f}× |"
        )
    lines += [
        f"| **median** | | **{_median(gm):.2f}** | **{_median(ogr):.2f}** | **{ratio:.2f}×** |",
        "",
        f"Ratio gridmap / ogr2ogr (medians): **{ratio:.2f}×**; goal ≤ 2× — "
        + ("met." if ratio <= 2 else "**not met**."),
        "",
        "gridmap phases (median s): "
        + "; ".join(
            f"{PHASES.get(p, p)} {statistics.median(r.phases.get(p, 0.0) for r in gm):.2f}"
            for p in PHASES
        )
        + ".",
        "",
        "Peak RSS (max over rounds): gridmap step "
        f"{max(r.rss_peak_kib for r in gm) / 1024:.0f} MiB for its own Python process "
        f"(spawned; it held {max(r.rss_before_kib for r in gm) / 1024:.0f} MiB before the "
        "step); "
        f"ogr2ogr {max(r.rss_peak_kib for r in ogr) / 1024:.0f} MiB for its process "
        f"(sampled every {POLL_S * 1000:.0f} ms); gridmap's PostgreSQL backend "
        f"{max(r.backend_peak_kib for r in gm) / 1024:.0f} MiB (peak RSS, the shared buffers "
        "it touched included; ogr2ogr's backend not measured).",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polygons", type=int, default=10_000, help="number of grid cells")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per tool")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the layer")
    parser.add_argument(
        "--edge-points",
        type=int,
        default=3,
        help="jittered vertices inserted in every edge (0: plain Voronoi cells)",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile one extra gridmap upload (auto: when the ratio exceeds 2×)",
    )
    parser.add_argument("--top", type=int, default=25, help="rows per profile table")
    parser.add_argument(
        "--layer-dir",
        help="keep the generated layer here and reuse it in later runs of the same size and seed",
    )
    args = parser.parse_args(argv)
    if shutil.which("ogr2ogr") is None:
        parser.error("ogr2ogr not found (apt-get install gdal-bin)")

    settings = get_settings()
    base = database_url(settings)
    prefix = f"bench_upload_{os.getpid()}"
    gm_tpl, ogr_tpl = f"{prefix}_gridmap_tpl", f"{prefix}_ogr_tpl"
    created: list[str] = []

    def fresh(template: str, name: str) -> str:
        url = _db_url(base, name)
        created.append(url)
        create_database(url, template=template)
        return url

    def log(message: str) -> None:
        print(message, flush=True)

    gm_runs: list[Run] = []
    ogr_runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        log(f"load average at start: {load_average()}")
        layer = layer_files(args, workdir)
        gc.collect()  # the cells are in the zip: not kept (4 GiB at 1 000 000 polygons)
        zip_path, parent, vertices = layer.zip_path, layer.parents, layer.vertices
        log(
            f"layer: {args.polygons} polygons, {vertices:.1f} vertices each on average, "
            f"{zip_path.stat().st_size / 1e6:.1f} MB zip ({time.perf_counter() - t0:.1f} s)"
        )
        try:
            for name in (gm_tpl, ogr_tpl):
                created.append(_db_url(base, name))
            make_gridmap_template(_db_url(base, gm_tpl), parent)
            make_ogr_template(_db_url(base, ogr_tpl))
            env = _versions()
            env["postgres"] = server_versions(_db_url(base, ogr_tpl))
            log(f"databases ready; {env['ogr2ogr']}; {env['postgres']}; gridmap {env['code']}")
            steps: dict[str, Callable[[int], Run]] = {
                "gridmap": lambda r: run_gridmap_apart(
                    fresh(gm_tpl, f"{prefix}_gridmap_{r}"), zip_path, settings, args.polygons
                ),
                "ogr2ogr": lambda r: run_ogr2ogr(
                    fresh(ogr_tpl, f"{prefix}_ogr_{r}"), zip_path, layer
                ),
            }
            for r in range(1, args.repeat + 1):
                order = ["gridmap", "ogr2ogr"] if r % 2 else ["ogr2ogr", "gridmap"]
                results: dict[str, Run] = {}
                for tool in order:
                    results[tool] = steps[tool](r)
                gm_runs.append(results["gridmap"])
                ogr_runs.append(results["ogr2ogr"])
                g, o = results["gridmap"], results["ogr2ogr"]
                phases = ", ".join(f"{k} {v:.2f}" for k, v in g.phases.items())
                peaks = ", ".join(f"{k} {v / 1024:.0f}" for k, v in g.phase_peaks_kib.items())
                log(
                    f"round {r} ({order[0]} first): gridmap {g.seconds:.2f} s "
                    f"[{phases}], ogr2ogr {o.seconds:.2f} s, ratio {g.seconds / o.seconds:.2f}×; "
                    f"gridmap peak RSS (MiB) by the end of [{peaks}]"
                )
                for url in created[2:]:
                    drop_database(url)
                del created[2:]
            ratio = _median(gm_runs) / _median(ogr_runs)
            log(
                f"median: gridmap {_median(gm_runs):.2f} s, ogr2ogr {_median(ogr_runs):.2f} s, "
                f"ratio {ratio:.2f}× (goal ≤ 2×)"
            )
            if args.profile == "always" or (args.profile == "auto" and ratio > 2):
                log("\nprofiling one more gridmap upload (cProfile):")
                log(
                    profile_gridmap(
                        fresh(gm_tpl, f"{prefix}_gridmap_prof"), zip_path, settings, args.top
                    )
                )
            log(f"load average at end: {load_average()}")
            log("\n" + markdown(args, vertices, zip_path, env, gm_runs, ogr_runs))
        finally:
            drop_databases(created)
    return 0


if __name__ == "__main__":
    sys.exit(main())
