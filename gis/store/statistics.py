"""Fresh planner statistics after a large write.

Autovacuum analyses a table about a minute after it changed; an upload in between is planned
on the old statistics.  After 20 000 grids were committed into an empty ``regions``, the next
upload's check for addresses outside every grid ran over 20 minutes on the plan for an empty
table, ~30 s once analysed (bench/results/issue16-A.md).  So a commit that grew a table by a
large fraction analyses it in its own transaction: the statistics commit with the rows.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

GROWTH = 0.2
"""A write of more rows than this share of the table's last counted rows is analysed."""
MIN_ROWS = 1000
"""Writes smaller than this are left to autovacuum (a small table plans well either way)."""


def rows_written(changes: dict[str, list[object] | int]) -> int:
    """Rows a change wrote (``added`` and ``modified``: codes, or counts)."""
    return sum(
        len(value) if isinstance(value, list) else int(value)
        for key, value in changes.items()
        if key in ("added", "modified")
    )


def analyze_if_grown(conn: Connection, table: str, rows: int) -> bool:
    """ANALYZE ``table`` in the caller's transaction (which sees its own new rows) when
    ``rows`` written are at least :data:`MIN_ROWS` and more than :data:`GROWTH` of the rows
    its statistics last counted (``pg_class.reltuples``, -1 when never analysed); True if it
    did.  Only on a commit: ANALYZE's row count is kept even if the transaction rolls back."""
    if rows < MIN_ROWS:
        return False
    counted = conn.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
        {"table": table},
    )
    if counted is not None and counted >= 0 and rows <= GROWTH * counted:
        return False
    conn.execute(text(f"ANALYZE {table}"))
    return True
