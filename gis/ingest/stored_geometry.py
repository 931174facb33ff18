"""A boundary upload's regions as they will be stored: the stored form in chunks made by
threads (what a commit COPYs, ``gis.store.versions``) and the review map's features."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from gis.ingest.candidates import Candidate, geometries
from gis.ingest.history import ReviewFeatures
from gis.ingest.pipeline import Staged
from gis.store.stored_form import CopyGeometries, as_ewkb, stored_form, wkb_for_copy


def upload_features(
    candidates: list[Candidate],
    staged: Staged | None,
    stored: CopyGeometries | None,
    committed: bool = False,
) -> ReviewFeatures:
    """The file's regions as they would be stored (``stored``: :func:`stored_geometries`, if
    already made), for the review map (EPSG:4326, at storage precision), each with what the
    upload does to it — ``added``, ``modified``, ``unchanged``, or None when errors kept the
    change from being worked out.  ``committed``: the change is a stored version, whose rows
    are the geometries (none are kept with the features)."""
    added, modified = (
        (set(staged.changes["added"]), set(staged.changes["modified"]))
        if staged
        else (set(), set())
    )

    def change(code: str | None) -> str | None:
        if staged is None:
            return None
        if code in added:
            return "added"
        return "modified" if code in modified else "unchanged"

    return ReviewFeatures(
        features=[c.feature for c in candidates],
        codes=[c.code for c in candidates],
        names=[c.name for c in candidates],
        changes=[change(c.code) for c in candidates],
        geometries=None if committed else (stored or stored_geometries(candidates)).ewkb,
    )


STORED_CHUNK = 20_000
"""Geometries put in stored form at a time: only their EWKB is kept for all."""
STORED_THREADS = 2
"""Chunks put in stored form at once: GEOS and numpy release the GIL (the machine's two cores;
the database writes the chunk before them meanwhile)."""


def stored_chunks(candidates: list[Candidate], commit: bool = False) -> Iterator[CopyGeometries]:
    """The candidates' geometries as stored, ready for COPY (``gis.store.versions``), in
    their order, :data:`STORED_CHUNK` at a time: :data:`STORED_THREADS` chunks are made in
    threads while the caller takes the one before (a province's stored-form polygons are
    never all alive).  ``commit``: measured too (their areas are stored) and each
    candidate's own polygon let go once converted (a commit needs only the stored form from
    then on), so a province's polygons are not held twice."""

    def convert(chunk: list[Candidate]) -> tuple[list[bytes | None], list[float] | None]:
        stored = stored_form(geometries(chunk))
        return wkb_for_copy(stored, measure=commit)

    pending: deque[tuple[list[Candidate], Future[tuple[Any, Any]]]] = deque()

    def take() -> CopyGeometries:  # the oldest chunk in flight; its EWKB made here
        chunk, converted = pending.popleft()
        wkb, areas = converted.result()
        if commit:
            for c in chunk:
                c.geometry = None
        return CopyGeometries(as_ewkb(wkb), areas)

    with ThreadPoolExecutor(STORED_THREADS) as pool:
        for start in range(0, len(candidates), STORED_CHUNK):
            chunk = candidates[start : start + STORED_CHUNK]
            pending.append((chunk, pool.submit(convert, chunk)))
            if len(pending) > STORED_THREADS:  # the threads busy while the caller takes one
                yield take()
        while pending:
            yield take()


def stored_geometries(candidates: list[Candidate], commit: bool = False) -> CopyGeometries:
    """All of :func:`stored_chunks` at once."""
    out = CopyGeometries([], [] if commit else None)
    for chunk in stored_chunks(candidates, commit):
        out.extend(chunk)
    return out
