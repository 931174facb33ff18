"""Keyset pages of an analysis's per-grid rows: the grids in code order (byte order, as
``COLLATE "C"`` sorts them), a page the ``limit`` grids after the cursor — the last code of
the previous page, opaque to clients — so every page costs what the first does and a grid
added or removed elsewhere shifts no other page's rows."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gis.query import cursor as cursors

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
"""Grids a page lists by default and at most (a grid's coverage row is ~0.5 KB of JSON)."""


@dataclass(frozen=True)
class GridPage:
    """``limit`` grids after ``cursor`` (None: from the first)."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def encode(code: str) -> str:
    """The cursor naming ``code`` as the last grid seen."""
    return cursors.encode(code)


def decode(cursor: str) -> str:
    """The code a cursor names; 422 ``invalid_cursor`` for anything else."""
    code = cursors.decode(cursor)
    if not isinstance(code, str) or not code or not code.isprintable():
        raise cursors.invalid(cursor)
    return code


def rows(codes: Sequence[str], page: GridPage) -> slice:
    """The rows of ``codes`` (sorted) on ``page``."""
    start = 0 if page.cursor is None else bisect_right(codes, decode(page.cursor))
    return slice(start, min(start + page.limit, len(codes)))


def about(codes: Sequence[str], shown: slice, page: GridPage) -> dict[str, Any]:
    """What an answer says of its page: limit, grids in all, listed, and the next cursor
    (None on the last page)."""
    more = shown.stop < len(codes)
    return {
        "limit": page.limit,
        "grids_total": len(codes),
        "grids_returned": shown.stop - shown.start,
        "next_cursor": encode(codes[shown.stop - 1]) if more else None,
    }
