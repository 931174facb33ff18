"""The SQL a piece of code runs, and its plans — for tests and benchmarks that check a
query starts in an index (``tests/db/test_keyset_paging.py``, ``bench/paging.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, event


def page_plans(conn: Connection, run: Callable[[], Any]) -> list[tuple[dict[str, Any], Any]]:
    """(EXPLAIN's JSON plan, parameters) of each statement with ORDER BY — a page of a list
    — that ``run()`` executes on ``conn``, in order."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement and not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(conn, "before_cursor_execute", record)
    return [
        (conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", params).scalar()[0]["Plan"], params)
        for sql, params in seen
    ]


def node_types(plan: dict[str, Any]) -> list[str]:
    """The plan's node types, outermost first (depth first)."""
    return [plan["Node Type"], *(t for child in plan.get("Plans", []) for t in node_types(child))]


def describe(plan: dict[str, Any]) -> str:
    """One line of the plan's nodes, outermost first, with the index or table each reads:
    "Limit ← Index Scan regions_level_code_idx"."""
    name = plan.get("Index Name") or plan.get("Relation Name")
    line = f"{plan['Node Type']} {name}" if name else plan["Node Type"]
    return " ← ".join([line, *(describe(child) for child in plan.get("Plans", []))])
