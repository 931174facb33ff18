"""Long coordinate arrays converted in two halves at once.

PROJ releases Python's lock while it transforms: a province's boundary file (~25 vertices a
grid, 2.5 M a batch of 100 000) reprojected half in a worker thread and half in the caller's
takes ~0.65 of the time on two cores — the other core is otherwise idle while a file is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

SPLIT_AT = 1_000_000
"""Coordinates below this many are converted in the caller's thread alone."""


class _Worker:
    """One thread for the first halves, kept (pyproj makes a transformer per thread once); a
    forked child makes its own (the parent's thread does not come along)."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="gridmap-halves")


_WORKER = _Worker()
os.register_at_fork(after_in_child=_WORKER.renew)

Convert = Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]


def in_halves(convert: Convert, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``convert(x, y)`` — an element-wise conversion that releases the GIL and may run in
    two threads at once (a pyproj ``Transformer``) — in two halves at once when long: the
    same numbers, in order."""
    if np.size(x) < SPLIT_AT:
        return convert(x, y)
    half = len(x) // 2
    first = _WORKER.pool.submit(convert, x[:half], y[:half])
    x2, y2 = convert(x[half:], y[half:])
    x1, y1 = first.result()
    return np.concatenate([x1, x2]), np.concatenate([y1, y2])
