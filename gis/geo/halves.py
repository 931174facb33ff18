"""Long arrays converted in two halves at once.

PROJ releases Python's lock while it transforms, GEOS while it checks, the compiled crossing
scan while it tests a batch lookup's point–polygon pairs (``gis.query.cell_shapes``): a
province's boundary file (~25 vertices a grid, 2.5 M a batch of 100 000) reprojected half in
a worker thread and half in the caller's takes ~0.65 of the time on two cores — the other
core is otherwise idle while a file is read; its million grids checked for validity, ~0.6;
a million points' 1.4 M pairs scanned, ~0.6.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

SPLIT_AT = 1_000_000
"""Coordinates below this many are converted in the caller's thread alone."""

SPLIT_GEOMETRIES_AT = 20_000
"""Geometries below this many are checked in the caller's thread alone (grids have ~25–100
vertices each)."""


class _Worker:
    """One thread for the first halves, kept (pyproj makes a transformer per thread once); a
    forked child makes its own (the parent's thread does not come along)."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="gridmap-halves")


_WORKER = _Worker()
os.register_at_fork(after_in_child=_WORKER.renew)


def in_halves(convert: Callable[..., Any], *arrays: np.ndarray, at: int | None = None) -> Any:
    """``convert(*arrays)`` — element-wise, releasing the GIL and safe in two threads at once
    (a pyproj ``Transformer``'s transform, a shapely predicate) — in two halves at once when
    the arrays have ``at`` elements or more (:data:`SPLIT_AT` unless given): the same result,
    an array or a tuple of arrays, in order."""
    size = np.size(arrays[0])
    if size < (SPLIT_AT if at is None else at):
        return convert(*arrays)
    half = size // 2
    first = _WORKER.pool.submit(convert, *(a[:half] for a in arrays))
    second = convert(*(a[half:] for a in arrays))
    if isinstance(second, tuple):
        return tuple(np.concatenate(pair) for pair in zip(first.result(), second, strict=True))
    return np.concatenate([first.result(), second])
