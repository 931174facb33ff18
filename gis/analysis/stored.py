"""Analysis results kept per data state: the first page of a region's coverage or grid
standards computes the whole region once, the pages after it read the stored result.

A result is stored under a key naming everything it was computed from (:func:`key`): the
analysis, the region, the boundary version, the data stamps of the tables it reads
(``layer_stamps``, bumped by a trigger inside every writing transaction of centres, cameras,
addresses and roads — migrations 0005 and 0015), the settings that change its figures, and
:data:`FORMAT`.  Any change makes a new key, so a stored result is never read for data it was
not computed from.  The stamps are read before the data: a result can only be newer than its
key, never older.  Storing a result deletes the region's older ones of the same analysis, and
at most :data:`KEEP` results are kept in all (``analysis_results``, one body each: the
arrays and a JSON summary in an ``.npz`` zip deflated at level 1 — level 6, numpy's, took
0.7 s for a county's uncovered buildings' codes, level 1 0.05 s —, no pickles).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

FORMAT = 1
"""Bumped whenever what a stored result holds changes: older bodies are then never read."""
KEEP = 16
"""Stored results kept in all (~2–5 MB each for a 100 000-grid county)."""
_SUMMARY = "summary"

log = logging.getLogger(__name__)


def stamps(conn: Connection, tables: Iterable[str]) -> dict[str, int]:
    """The data stamp of each table (0 for one never written)."""
    names = sorted(set(tables))
    found = dict(
        conn.execute(
            text("SELECT name, changes FROM layer_stamps WHERE name = ANY(:names)"),
            {"names": names},
        ).all()
    )
    return {name: int(found.get(name, 0)) for name in names}


def key(analysis: str, region: str, version: int | None, **parts: Any) -> str:
    """The key of ``analysis`` of ``region`` at ``version`` given ``parts`` (stamps and
    settings, anything JSON can write)."""
    named = {"format": FORMAT, "analysis": analysis, "region": region, "version": version}
    blob = json.dumps(named | parts, sort_keys=True, ensure_ascii=False, default=str)
    return f"{analysis}:{region}:{hashlib.sha256(blob.encode()).hexdigest()}"


def load(conn: Connection, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The summary and arrays stored under ``name``, or None."""
    body = conn.scalar(text("SELECT body FROM analysis_results WHERE key = :key"), {"key": name})
    if body is None:
        return None
    with np.load(io.BytesIO(bytes(body)), allow_pickle=False) as stored:
        arrays = {k: stored[k] for k in stored.files}
    summary = json.loads(arrays.pop(_SUMMARY).tobytes().decode())
    return summary, arrays


def latest(
    conn: Connection, analysis: str, region: str
) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The newest result of ``analysis`` of ``region`` stored under any key, or None: what
    a computation for a changed key may start from, when the result says it can."""
    name = conn.scalar(
        text(
            "SELECT key FROM analysis_results WHERE analysis = :analysis AND region = :region "
            "ORDER BY made_at DESC LIMIT 1"
        ),
        {"analysis": analysis, "region": region},
    )
    return None if name is None else load(conn, name)


def save(
    conn: Connection,
    name: str,
    analysis: str,
    region: str,
    summary: dict[str, Any],
    arrays: dict[str, np.ndarray],
) -> None:
    """Store a result under ``name`` in a transaction of its own (not the caller's); a failure
        is logged, never raised — the answer was computed and stands without it.  The commit
    does not wait for the disk (``synchronous_commit`` off)."""
    buffer = io.BytesIO()
    encoded = np.frombuffer(json.dumps(summary, ensure_ascii=False).encode(), np.uint8)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as body:
        for array_name, array in (arrays | {_SUMMARY: encoded}).items():
            with body.open(f"{array_name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    try:
        with conn.engine.begin() as writer:
            # a copy of what can be computed again: lost in a crash, nothing is wrong
            writer.execute(text("SET LOCAL synchronous_commit = off"))
            writer.execute(
                text(
                    "INSERT INTO analysis_results (key, analysis, region, body) "
                    "VALUES (:key, :analysis, :region, :body) ON CONFLICT (key) DO NOTHING"
                ),
                {"key": name, "analysis": analysis, "region": region, "body": buffer.getvalue()},
            )
            writer.execute(
                text(
                    "DELETE FROM analysis_results WHERE analysis = :analysis "
                    "AND region = :region AND key <> :key"
                ),
                {"key": name, "analysis": analysis, "region": region},
            )
            writer.execute(
                text(
                    "DELETE FROM analysis_results WHERE key NOT IN "
                    "(SELECT key FROM analysis_results ORDER BY made_at DESC LIMIT :keep)"
                ),
                {"keep": KEEP},
            )
    except SQLAlchemyError as error:
        log.warning("analysis result %s not stored: %s", name, error)


Save = Callable[[Connection, str, str, str, dict[str, Any], dict[str, np.ndarray]], None]
"""The signature of :func:`save`."""


@contextmanager
def beside() -> Iterator[Save]:
    """A :func:`save` that runs in a thread beside the caller, so a computation goes on (or
    its page is listed) while a result is deflated and written; leaving the block waits for
    every save started in it, so what was computed is stored when the caller answers.  The
    arrays handed over must not change afterwards."""
    started: list[Future[None]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="analysis-save") as pool:
        yield lambda *args: started.append(pool.submit(save, *args))
    for done in started:
        done.result()
