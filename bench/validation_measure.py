"""How the validation scale benchmark times an upload: wall time, time per phase, SQL time
per statement, the reads of ``regions`` per statement, and the check of each report."""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from common import phase_seconds
from sqlalchemy import Engine, event
from validation_data import Upload

from gis.ingest.uploads import UploadRequest, UploadResult, process_upload
from gis.settings import Settings, get_settings
from gis.store.db import make_engine

CASES = ("dry run", "commit", "doctor")


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
    phases = phase_seconds(marks, end)
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
