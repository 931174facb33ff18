"""Validation scale: one community's grids uploaded into the demo city and into a city of
100 000 grids — does the work stay proportional to the change?

Issue 12's acceptance: "validation of one community's grids in a database of 100 000 grids
stays within 2× of the same upload into an empty database".  An upload is checked against
what is stored (``gis.ingest.stored_checks``: same codes, regions of the level whose bounding box
meets the file's features, children of replaced regions) with index queries, so its time
should not grow with the regions stored elsewhere.

Two throw-away databases side by side on gridmap's server:

* **small** — migrated, the demo city loaded (``gis.store.seed.load_demo``: 1 county, 19 streets,
  12 communities, 66 grids), ANALYZEd;
* **large** — a copy of small (``CREATE DATABASE … TEMPLATE``) plus ``--grids`` synthetic
  grids (default 100 000) with their communities, streets and counties as one more boundary
  version, written by one ``INSERT … SELECT`` per level, then ANALYZEd.  The synthetic city
  lies near 110–111.6°E, 30–31.2°N (~1 250 km from the demo): squares of 0.004° × 0.003°
  (~380 m × 330 m), 100 (10 × 10) to a community, 10 communities (5 × 2) to a street,
  10 streets (2 × 5) to a county, codes under the county prefix 99.

The same uploads go into both, through ``gis.ingest.uploads.process_upload`` (a GeoJSON file of
the six grids of community 130227001001, re-read from ``data/boundaries/grids.geojson``):

* **dry run** — households changed on every grid and a vertex added in the middle of one edge
  of the first grid: six modified grids, no errors;
* **commit** — alternately the households +1 (and the extra vertex) and +2 (without it), so
  every commit is a real change (a new version in each database, six new rows);
* **doctor** — the original grids moved to GCJ-02 (as if copied from AMap) and sent as
  CRS84: six ``region_moved`` errors, and the CRS doctor runs and names ``gcj02`` (dry run).

Rounds alternate which database goes first; ``--warmup`` untimed rounds first.  Each report
is checked (status, errors, changes, the doctor's suggestion) and must be the same in both
databases.  Printed: median and p90 wall time per case and database, the ratio large/small
(goal ≤ 2×), the median time per upload phase (from ``process_upload``'s progress callback),
and the SQL statements that took the most time in the large database next to the small one
(SQLAlchemy cursor events; ``commit_regions``' COPY goes around them and is not counted).

Usage::

    .venv/bin/python bench/validation_scale.py [--grids 100000] [--rounds 15] [--warmup 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
from common import bench_database, cpu_model, git_state, server_versions, spaced
from shapely.geometry import mapping, shape
from sqlalchemy import Engine, event, make_url, text

from gis.geo.crs import wgs84_to_gcj02
from gis.ingest.uploads import UploadRequest, UploadResult, process_upload
from gis.settings import Settings, get_settings
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.models import LEVELS
from gis.store.seed import load_demo
from gis.store.versions import STORAGE_GRID_DEG

COMMUNITY = "130227001001"
CELL_DEG = (0.004, 0.003)
ORIGIN = (110.0, 30.0)
COUNTIES_PER_ROW = 4
CASES = ("dry run", "commit", "doctor")

# --------------------------------------------------------------------------- databases

_STORED = "ST_ForcePolygonCCW(ST_Multi(ST_ReducePrecision({}, :grid)))"
"""A geometry as gridmap stores it: MultiPolygon, storage grid, outer rings CCW."""

_GRIDS = f"""
INSERT INTO regions (code, level, name, parent_code, households, geom, area_m2, valid_from)
SELECT g.code, 'grid', g.name, g.parent, 250 + i % 150, g.geom, ST_Area(g.geom::geography), :n
FROM generate_series(0, :grids - 1) AS i,
LATERAL (SELECT i / 100 AS k, i % 100 AS j) AS a,
LATERAL (SELECT k % 10 AS m, (k / 10) % 10 AS s, k / 100 AS c) AS b,
LATERAL (
  SELECT (c % {COUNTIES_PER_ROW}) * 100 + (s % 2) * 50 + (m % 5) * 10 + j % 10 AS x,
         (c / {COUNTIES_PER_ROW}) * 100 + (s / 2) * 20 + (m / 5) * 10 + j / 10 AS y
) AS xy,
LATERAL (
  SELECT (990000 + c)::text || lpad((s + 1)::text, 3, '0') || lpad((m + 1)::text, 3, '0')
           AS parent,
         '合成' || (c + 1) || '县' || (s + 1) || '街道' || (m + 1) || '社区第' || (j + 1) || '网格'
           AS name,
         {
    _STORED.format(
        "ST_MakeEnvelope(:x0 + x * :dx, :y0 + y * :dy, :x0 + (x + 1) * :dx, "
        ":y0 + (y + 1) * :dy, 4326)"
    )
} AS geom
) AS g0,
LATERAL (SELECT g0.parent || lpad((j + 1)::text, 3, '0') AS code, g0.*) AS g
"""

_PARENTS = f"""
INSERT INTO regions (code, level, name, parent_code, geom, area_m2, valid_from)
SELECT code, :level, :prefix || code, CASE WHEN :level = 'county' THEN NULL ELSE parent END,
       geom, ST_Area(geom::geography), :n
FROM (
  SELECT left(code, :digits) AS code, left(code, :digits - 3) AS parent,
         {_STORED.format("ST_Union(geom)")} AS geom
  FROM regions WHERE valid_to IS NULL AND level = :child AND code LIKE '99%'
  GROUP BY 1, 2
) AS p
"""


def add_synthetic(url: str, grids: int) -> float:
    """``grids`` synthetic grids with their parents as one new boundary version; the seconds
    it took."""
    start = time.perf_counter()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            number = (conn.scalar(text("SELECT max(number) FROM boundary_versions")) or 0) + 1
            conn.execute(
                text(
                    "INSERT INTO boundary_versions (number, author, action, message) "
                    "VALUES (:n, 'bench', 'load', 'synthetic city (bench/validation_scale.py)')"
                ),
                {"n": number},
            )
            conn.execute(
                text(_GRIDS),
                {
                    "n": number,
                    "grids": grids,
                    "grid": STORAGE_GRID_DEG,
                    "x0": ORIGIN[0],
                    "y0": ORIGIN[1],
                    "dx": CELL_DEG[0],
                    "dy": CELL_DEG[1],
                },
            )
            for level, child, digits, prefix in (
                ("community", "grid", 12, "合成社区"),
                ("street", "community", 9, "合成街道"),
                ("county", "street", 6, "合成县"),
            ):
                conn.execute(
                    text(_PARENTS),
                    {
                        "n": number,
                        "level": level,
                        "child": child,
                        "digits": digits,
                        "prefix": prefix,
                        "grid": STORAGE_GRID_DEG,
                    },
                )
            conn.execute(
                text(
                    "UPDATE boundary_versions SET changes = jsonb_build_object('added', "
                    "(SELECT jsonb_agg(code ORDER BY code) FROM regions WHERE valid_from = :n)) "
                    "WHERE number = :n"
                ),
                {"n": number},
            )
    finally:
        engine.dispose()
    return time.perf_counter() - start


def analyze(url: str) -> float:
    """VACUUM ANALYZE the database (outside a transaction), as autovacuum eventually would;
    the seconds it took."""
    start = time.perf_counter()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


def counts(engine: Engine) -> dict[str, int]:
    """Current regions by level."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT level, count(*) FROM regions WHERE valid_to IS NULL GROUP BY level")
        ).all()
    return {level: n for level, n in rows}


def make_databases(small: str, large: str, grids: int, analyzed: bool) -> tuple[float, float]:
    """Create the small and the large database (drop them afterwards), the large one ANALYZEd
    unless ``analyzed`` is false; the seconds the synthetic grids and the ANALYZE took."""
    settings = get_settings()
    create_database(small)
    migrate(small)
    engine = make_engine(small)
    try:
        load_demo(engine, settings.demo_dir)
    finally:
        engine.dispose()
    analyze(small)
    create_database(large, template=make_url(small).database or "")
    inserted = add_synthetic(large, grids)
    return inserted, analyze(large) if analyzed else 0.0


# --------------------------------------------------------------------------- the files


def community_grids(demo_dir: Path) -> list[dict[str, Any]]:
    """The demo's grids of :data:`COMMUNITY` as GeoJSON features."""
    features = json.loads((demo_dir / "grids.geojson").read_text())["features"]
    return [f for f in features if f["properties"]["parent_code"] == COMMUNITY]


def with_vertex(geometry: dict[str, Any]) -> dict[str, Any]:
    """The polygon with a vertex added in the middle of its longest edge (a real change at
    storage precision that leaves the coverage as it is)."""
    parts = list(shapely.get_parts(shape(geometry)))
    big = int(np.argmax(shapely.area(parts)))
    ring = np.asarray(parts[big].exterior.coords)
    k = int(np.argmax(np.hypot(*np.diff(ring, axis=0).T)))
    middle = np.round((ring[k] + ring[k + 1]) / 2 / STORAGE_GRID_DEG) * STORAGE_GRID_DEG
    parts[big] = shapely.Polygon(np.insert(ring, k + 1, middle, axis=0), parts[big].interiors)
    return mapping(shapely.MultiPolygon(parts))


def edited(grids: list[dict[str, Any]], households: int, vertex: bool) -> list[dict[str, Any]]:
    """The grids with ``households`` added to each, and the first one's extra vertex."""
    out = copy.deepcopy(grids)
    for f in out:
        f["properties"]["households"] += households
    if vertex:
        out[0]["geometry"] = with_vertex(out[0]["geometry"])
    return out


def gcj02(grids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grids moved to GCJ-02 (what a copy from AMap gives), still labelled CRS84."""
    out = copy.deepcopy(grids)
    for f in out:
        moved = shapely.transform(
            shape(f["geometry"]), lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
        )
        f["geometry"] = mapping(moved)
    return out


def write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    )
    return path


@dataclass(frozen=True)
class Upload:
    """One upload as the bench sends it, and what its report must say."""

    path: Path
    dry_run: bool
    status: str
    modified: int
    moved: int = 0
    suggestion: str | None = None


def uploads(workdir: Path, demo_dir: Path) -> dict[str, list[Upload]]:
    """The files of each case (the commit case alternates two)."""
    grids = community_grids(demo_dir)
    n = len(grids)
    return {
        "dry run": [
            Upload(write(workdir / "dry.geojson", edited(grids, 1000, True)), True, "dry_run", n)
        ],
        "commit": [
            Upload(write(workdir / "a.geojson", edited(grids, 1, True)), False, "committed", n),
            Upload(write(workdir / "b.geojson", edited(grids, 2, False)), False, "committed", n),
        ],
        "doctor": [
            Upload(write(workdir / "gcj02.geojson", gcj02(grids)), True, "dry_run", 0, n, "gcj02")
        ],
    }


# --------------------------------------------------------------------------- measuring


def statement(sql: str) -> str:
    """A statement's group: its text, whitespace collapsed."""
    return re.sub(r"\s+", " ", sql).strip()


def shortened(sql: str, head: int = 70, tail: int = 60) -> str:
    """A statement for a table cell: its start and its end."""
    shown = sql if len(sql) <= head + tail + 3 else f"{sql[:head]} … {sql[-tail:]}"
    return shown.replace("|", "\\|")


@dataclass
class Measured:
    """One timed upload: wall seconds, seconds per phase, SQL seconds per statement group."""

    seconds: float
    phases: dict[str, float]
    sql: dict[str, float]
    result: UploadResult


@contextmanager
def sql_timer(engine: Engine) -> Iterator[dict[str, float]]:
    """SQL seconds per statement group spent on ``engine`` inside the block."""
    spent: dict[str, float] = defaultdict(float)

    def before(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        spent[statement(sql)] += time.perf_counter() - conn.info["bench_started"].pop()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def run(engine: Engine, upload: Upload, settings: Settings) -> Measured:
    """Send ``upload`` once and check its report."""
    request = UploadRequest(
        filename=upload.path.name, level="grid", author="bench", dry_run=upload.dry_run
    )
    marks: list[tuple[str, float]] = []
    with sql_timer(engine) as sql:
        start = time.perf_counter()
        result = process_upload(
            engine,
            upload.path,
            request,
            settings,
            progress=lambda step: marks.append((step, time.perf_counter())),
        )
        end = time.perf_counter()
    ends = [t for _, t in marks[1:]] + [end]
    phases = {step: t1 - t0 for (step, t0), t1 in zip(marks, ends, strict=True)}
    check(upload, result)
    return Measured(end - start, phases, dict(sql), result)


def check(upload: Upload, result: UploadResult) -> None:
    """The report says what the upload should get: no errors but ``region_moved`` ones (and
    what moved regions overlap), the changes, the doctor's suggestion."""
    report = result.report
    changes = report["summary"]["changes"] or {}
    errors = {p["kind"] for p in report["problems"] if p["severity"] == "error"}
    moved = sum(p["kind"] == "region_moved" for p in report["problems"])
    suggested = ((report["crs"].get("doctor") or {}).get("suggestion") or {}).get("crs")
    allowed = {"region_moved", "overlap_stored", "outside_parent", "gap"} if upload.moved else set()
    got = (result.status, errors <= allowed, len(changes.get("modified", [])), moved, suggested)
    want = (upload.status, True, upload.modified, upload.moved, upload.suggestion)
    if got != want:
        problems = [(p["kind"], p["severity"], p["message"]) for p in report["problems"]]
        raise RuntimeError(f"{upload.path.name}: got {got}, expected {want}; {problems}")


@dataclass
class Series:
    """The timed uploads of one case in one database."""

    runs: list[Measured] = field(default_factory=list)

    def seconds(self) -> list[float]:
        return [r.seconds for r in self.runs]

    def median(self) -> float:
        return statistics.median(self.seconds())

    def p90(self) -> float:
        return float(np.percentile(self.seconds(), 90))

    def phase(self, name: str) -> float | None:
        """Median seconds of a phase, None if the case does not go through it."""
        times = [r.phases[name] for r in self.runs if name in r.phases]
        return statistics.median(times) if times else None

    def sql(self) -> dict[str, float]:
        groups = {g for r in self.runs for g in r.sql}
        return {g: statistics.median([r.sql.get(g, 0.0) for r in self.runs]) for g in groups}


READS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch")
"""Counters of a table's reads in PostgreSQL's statistics views."""


@contextmanager
def scan_tracer(engine: Engine) -> Iterator[dict[str, list[int]]]:
    """Per statement group, the scans of ``regions`` it made and the rows they read
    (``pg_stat_xact_user_tables``: the transaction's own counts, read on the same connection
    after each statement; statements that read none are left out)."""
    traced: dict[str, list[int]] = defaultdict(lambda: [0] * len(READS))
    query = f"SELECT {', '.join(READS)} FROM pg_stat_xact_user_tables WHERE relname = 'regions'"

    def counts(conn: Any) -> list[int]:
        with conn.connection.driver_connection.cursor() as cursor:
            row = cursor.execute(query).fetchone()
        return list(row) if row else [0] * len(READS)

    def before(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        conn.info.setdefault("bench_counts", []).append(counts(conn))

    def after(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        start, end = conn.info["bench_counts"].pop(), counts(conn)
        if end != start:
            total = traced[statement(sql)]
            for k, (a, b) in enumerate(zip(start, end, strict=True)):
                total[k] += b - a

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield traced
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


Traced = dict[tuple[str, str], dict[str, list[int]]]
"""Per case and database, the reads of ``regions`` per statement group (see READS)."""


def measure(
    urls: dict[str, str], files: dict[str, list[Upload]], rounds: int, warmup: int
) -> tuple[dict[tuple[str, str], Series], Traced]:
    """``warmup`` untimed and ``rounds`` timed rounds of every case in both databases, then
    one untimed round with the reads of ``regions`` traced per statement."""
    settings = get_settings()
    engines = {db: make_engine(url) for db, url in urls.items()}
    series: dict[tuple[str, str], Series] = defaultdict(Series)
    traced: Traced = {}
    try:
        for r in range(warmup + rounds + 1):
            order = ("small", "large") if r % 2 == 0 else ("large", "small")
            trace = r == warmup + rounds
            for case in CASES:
                upload = files[case][r % len(files[case])]
                reports = {}
                for db in order:
                    if trace:
                        with scan_tracer(engines[db]) as traced[(case, db)]:
                            measured = run(engines[db], upload, settings)
                    else:
                        measured = run(engines[db], upload, settings)
                    reports[db] = measured.result.report
                    if warmup <= r < warmup + rounds:
                        series[(case, db)].runs.append(measured)
                if reports["small"] != reports["large"]:
                    raise RuntimeError(f"{case}: the reports differ between the databases")
            done = "warm-up" if r < warmup else "traced" if trace else r + 1 - warmup
            print(f"round {done} done", flush=True)
    finally:
        for engine in engines.values():
            engine.dispose()
    return series, traced


# --------------------------------------------------------------------------- the report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def table(series: dict[tuple[str, str], Series]) -> list[str]:
    lines = [
        "| case | small: median ms | p90 ms | large: median ms | p90 ms | "
        "ratio large/small (median) | ratio (p90) | goal ≤ 2× |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in CASES:
        s, big = series[(case, "small")], series[(case, "large")]
        ratio = big.median() / s.median()
        lines.append(
            f"| {case} | {ms(s.median())} | {ms(s.p90())} | {ms(big.median())} | "
            f"{ms(big.p90())} | {ratio:.2f}× | {big.p90() / s.p90():.2f}× | "
            f"{'met' if ratio <= 2 else '**not met**'} |"
        )
    return lines


def phase_table(series: dict[tuple[str, str], Series]) -> list[str]:
    names = list(dict.fromkeys(p for s in series.values() for r in s.runs for p in r.phases))
    lines = [
        "| case | db | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for case in CASES:
        for db in ("small", "large"):
            s = series[(case, db)]
            cells = [s.phase(p) for p in names]
            shown = ["–" if t is None else ms(t) for t in cells]
            lines.append(f"| {case} | {db} | " + " | ".join(shown) + " |")
    return lines


def sql_table(series: dict[tuple[str, str], Series], top: int) -> list[str]:
    lines = [
        "| case | statement | small ms | large ms |",
        "|---|---|---:|---:|",
    ]
    for case in CASES:
        small, large = series[(case, "small")].sql(), series[(case, "large")].sql()
        for group in sorted(large, key=lambda g: -large[g])[:top]:
            lines.append(
                f"| {case} | `{shortened(group)}` | {ms(small.get(group, 0.0))} | "
                f"{ms(large[group])} |"
            )
    return lines


def reads_table(traced: Traced) -> list[str]:
    lines = [
        "| case | db | seq scans | rows read by seq scans | index scans | rows fetched by index |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case in CASES:
        for db in ("small", "large"):
            totals = [sum(v[k] for v in traced[(case, db)].values()) for k in range(len(READS))]
            lines.append(f"| {case} | {db} | " + " | ".join(spaced(t) for t in totals) + " |")
    return lines


def seq_table(traced: Traced) -> list[str]:
    lines = [
        "| case | statement | rows read by seq scans: small | large |",
        "|---|---|---:|---:|",
    ]
    for case in CASES:
        small, large = traced[(case, "small")], traced[(case, "large")]
        for group in sorted(large, key=lambda g: -large[g][1]):
            if large[group][0]:
                rows = spaced(small.get(group, [0, 0])[1]), spaced(large[group][1])
                lines.append(f"| {case} | `{shortened(group)}` | {rows[0]} | {rows[1]} |")
    if len(lines) == 2:
        lines.append("| – | none: every read of `regions` went through an index | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, default=100_000, help="synthetic grids (× 100)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--top", type=int, default=4, help="SQL statements shown per case")
    parser.add_argument("--keep", action="store_true", help="keep the databases (print URLs)")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="leave the large database without statistics (as right after a bulk load)",
    )
    args = parser.parse_args(argv)
    if args.grids <= 0 or args.grids % 100:
        parser.error("--grids must be a positive multiple of 100 (whole communities)")

    settings = get_settings()
    urls = {db: bench_database(settings, f"val{db}")[0] for db in ("small", "large")}
    try:
        started = time.perf_counter()
        insert_s, analyze_s = make_databases(urls["small"], urls["large"], args.grids, args.analyze)
        built_s = time.perf_counter() - started
        sizes = {}
        for db, url in urls.items():
            engine = make_engine(url)
            try:
                sizes[db] = counts(engine)
            finally:
                engine.dispose()
        code = git_state()
        env = (
            f"{cpu_model()} × {os.cpu_count()}, Python {platform.python_version()}, "
            f"{server_versions(urls['small'])}, shapely {shapely.__version__}"
        )
        print(f"{env}; gridmap {code}", flush=True)
        for db in ("small", "large"):
            shown = ", ".join(f"{spaced(sizes[db].get(lv, 0))} {lv}" for lv in LEVELS)
            print(f"{db}: {make_url(urls[db]).database}: {shown}", flush=True)
        built = (
            f"built in {built_s:.1f} s: the synthetic {spaced(args.grids)} grids "
            f"with their parents inserted in {insert_s:.1f} s, "
            + (f"VACUUM ANALYZE {analyze_s:.1f} s" if args.analyze else "no ANALYZE")
        )
        print(f"databases {built}", flush=True)
        with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as tmp:
            files = uploads(Path(tmp), settings.demo_dir)
            series, traced = measure(urls, files, args.rounds, args.warmup)
        print()
        print(
            f"`.venv/bin/python bench/validation_scale.py --grids {args.grids} "
            f"--rounds {args.rounds} --warmup {args.warmup}"
            + ("" if args.analyze else " --no-analyze")
            + f"` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {code}."
        )
        print()
        print(f"Machine: {env}. Databases: {built}.")
        print()
        print("\n".join(table(series)))
        print()
        print("Median ms per phase (`process_upload` progress steps, each up to the next):")
        print()
        print("\n".join(phase_table(series)))
        print()
        print("Reads of `regions` by one upload (the traced round; `pg_stat_xact_user_tables`):")
        print()
        print("\n".join(reads_table(traced)))
        print()
        print("Statements that scanned `regions` sequentially in the large database (traced):")
        print()
        print("\n".join(seq_table(traced)))
        print()
        print("SQL statements with the most time in the large database (median ms per upload):")
        print()
        print("\n".join(sql_table(series, args.top)))
    finally:
        if args.keep:
            for db, url in urls.items():
                print(f"kept {db}: {url}")
        else:
            for url in urls.values():
                try:
                    drop_database(url)
                except Exception as error:
                    print(f"could not drop {make_url(url).database}: {error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
