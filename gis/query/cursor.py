"""Keyset cursors: where the next page of a list starts, opaque to clients.

A page of a long list is "the ``limit`` rows after the last key seen", not "rows ``offset``
to ``offset + limit``": PostgreSQL finds the start through the ordering index, so page
10 000 costs what page 1 costs, and a row added or removed before the cursor shifts no
later page.  The cursor carries the last key (and whatever pins the list, e.g. the boundary
version it was read from) as base64url JSON.  It is not signed: a made-up cursor can only
start a list somewhere else a client could ask for anyway; it is validated on reading.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, text

from gis.errors import InvalidInput

MAX_CURSOR_CHARS = 1000
EXACT_COUNT_UP_TO = 10_000
"""Lists count their matches exactly up to this many; above it they give the planner's
estimate and say so (``numberMatchedExact``): an exact count of 10 000 000 addresses would
read them all for every page."""


def encode(payload: Any) -> str:
    """The cursor of ``payload`` (JSON-serialisable)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def invalid(cursor: str) -> InvalidInput:
    """422 ``invalid_cursor``: a cursor this service did not write."""
    return InvalidInput(
        "cursor 无效：请使用上一页返回的链接或 next_cursor (invalid cursor: use the link or "
        "next_cursor of the previous page)",
        code="invalid_cursor",
        details={"cursor": cursor[:100]},
    )


MAX_OFFSET = 10_000
"""The largest ``offset`` a list takes: an offset page reads every row it skips, so one request
skips at most this many; further on, pages go by cursor (the ``next`` link)."""


def check_offset(offset: int, error: type[InvalidInput] = InvalidInput) -> int:
    """``offset`` if at most :data:`MAX_OFFSET`; else ``error`` (422, or a 400 ``InvalidQuery``
    where the protocol asks for one) ``offset_too_large``."""
    if offset > MAX_OFFSET:
        raise error(
            f"offset 不能超过 {MAX_OFFSET}：请沿 next 链接 (cursor) 翻页或缩小查询 (offset above "
            f"{MAX_OFFSET}: follow the next link's cursor, or narrow the query)",
            code="offset_too_large",
            details={"parameter": "offset", "offset": offset, "max": MAX_OFFSET},
        )
    return offset


_BIGINT = 2**63


def is_key(value: Any, key_type: type) -> bool:
    """Whether ``value`` can be the last key of a list keyed by ``key_type`` as a cursor
    carries it: a bigint, or text without NUL (PostgreSQL stores none) — anything else was
    written by no page, and is refused before it reaches SQL."""
    if key_type is int:
        return type(value) is int and -_BIGINT <= value < _BIGINT
    return type(value) is str and "\x00" not in value


def check_key(cursor: str | None, after: Any, key_type: type) -> None:
    """422 ``invalid_cursor`` unless ``after`` (read from ``cursor``) is None or a key of
    ``key_type`` (:func:`is_key`)."""
    if after is not None and not is_key(after, key_type):
        raise invalid(cursor or "")


def decode(cursor: str) -> Any:
    """The payload of a cursor; 422 ``invalid_cursor`` for anything that is not one."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise invalid(cursor)
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid(cursor) from None


def count_matching(
    conn: Connection, from_where: str, params: Mapping[str, Any], exact_up_to: int | None
) -> int:
    """How many rows ``SELECT … FROM {from_where}`` gives: exact when ``exact_up_to`` is None
    or the count is at most it (a count that stops there); beyond it the planner's estimate,
    at least ``exact_up_to + 1`` — so a count above ``exact_up_to`` says it is an estimate.
    Counting 10 000 000 addresses exactly reads them all; the estimate reads statistics."""
    if exact_up_to is None:
        return conn.scalar(text(f"SELECT count(*) FROM {from_where}"), params) or 0
    capped = conn.scalar(
        text(f"SELECT count(*) FROM (SELECT 1 FROM {from_where} LIMIT :count_cap) c"),
        {**params, "count_cap": exact_up_to + 1},
    )
    if capped <= exact_up_to:
        return capped
    plan = conn.scalar(text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {from_where}"), params)
    return max(int(plan[0]["Plan"]["Plan Rows"]), exact_up_to + 1)
