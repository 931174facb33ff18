"""Roster imports: a roster (``gis.query.roster``) edited in Excel comes back as attributes.

The file — xlsx, or CSV in UTF-8 (with or without a BOM) or GB18030 — has a header row (row 1,
the catalogue's titles or the upload synonyms) and a row per region, found by its code.  Only
attributes change (name, households, population, grid worker, phone, party branch); the
geometry, the parent and the area are never touched, and a column the file does not have keeps
its stored values (a viewer's roster has no personal columns).  An empty cell clears the value.

Every row is checked and each problem names the row as Excel shows it (header = row 1) and
the column (header text and letter): unknown codes, codes of another level, a code twice, a
code Excel turned into a rounded number (a CSV saved from Excel: 1.30227E+14),
numbers that are no whole numbers ≥ 0, phones that are neither a mainland mobile
(``1[3-9]`` and 9 digits) nor a landline with its area code, text too long or holding a
control character, no code column.  One error refuses the whole file.  Only changed cells
count: a committed roster is one new boundary version holding the regions whose cells
changed, or none when nothing did.

Reading the file, bounded (the upload limit in bytes, 100 000 rows, the zip-bomb guard for
xlsx), is ``gis.ingest.roster_files``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl.utils import get_column_letter
from sqlalchemy import Connection, Engine, text

from gis.access.scope import check_codes
from gis.catalogue import REGION_LAYERS
from gis.errors import InvalidInput
from gis.ingest.fields import (
    LANDLINE,
    MAX_INTEGER,
    MOBILE,
    PHONE_RULE,
    SYNONYMS,
    FieldMapping,
    as_code,
    map_fields,
)
from gis.ingest.pipeline import encoding_report
from gis.ingest.problems import Problem, errors, report_problems
from gis.ingest.roster_files import Table, read_table
from gis.ingest.validation import MAX_NAME
from gis.query.layers import MAX_TEXT
from gis.query.roster import EDITABLE, ROSTER_COLUMNS
from gis.settings import Settings
from gis.store.versions import (
    ATTRIBUTE_COLUMNS,
    RegionRecord,
    commit_regions,
    commit_version,
    current,
    lock_boundaries,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SCIENTIFIC = re.compile(r"\d(\.\d+)?E\+\d+", re.IGNORECASE)
"""A long code as Excel shows (and saves in a CSV) a number: 1.30227E+14."""
TEXT_LIMITS = {"name": MAX_NAME}
"""Longest text of a column when not :data:`~gis.query.layers.MAX_TEXT`."""


@dataclass(frozen=True)
class RosterRequest:
    """What the importer asked for: the level (None: that of the file's codes)."""

    filename: str
    author: str
    level: str | None = None
    encoding: str | None = None
    dry_run: bool = True


@dataclass(frozen=True)
class RosterResult:
    """``status`` (dry_run, committed, unchanged, rejected), the version made and the report."""

    status: str
    version: int | None
    report: dict[str, Any]


# --------------------------------------------------------------------------- checking


@dataclass
class Column:
    """A roster column of the file: the field, its index, letter and header."""

    field: str
    index: int
    header: str

    @property
    def letter(self) -> str:
        return get_column_letter(self.index + 1)


def _columns(headers: list[str]) -> tuple[FieldMapping, dict[str, Column]]:
    """The roster columns the header names: by the catalogue's title or an upload synonym."""
    layer = REGION_LAYERS["grid"]  # the region layers share their fields
    synonyms = {name: (layer.field(name).title, *SYNONYMS.get(name, ())) for name in ROSTER_COLUMNS}
    mapping = map_fields([h for h in headers if h], {}, synonyms)
    return mapping, {
        role: Column(role, headers.index(header), header) for role, header in mapping.roles.items()
    }


def _integer(value: Any) -> tuple[int | None, str | None]:
    """A whole number ≥ 0 from a cell, or why it is not one."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "invalid_integer"
    if isinstance(value, str):
        try:
            value = float(unicodedata.normalize("NFKC", value).strip().replace(",", ""))
        except ValueError:
            return None, "invalid_integer"
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None, "invalid_integer"
    number = int(value)
    if number < 0:
        return None, "negative_value"
    if number > MAX_INTEGER:
        return None, "value_too_large"
    return number, None


def _text(field: str, value: Any) -> tuple[str | None, str | None]:
    """Text from a cell (a number typed into it as its digits), or why it is not usable."""
    if value is None:
        return None, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    value = str(value).strip()
    if not value:
        return None, None
    if _CONTROL.search(value):
        return None, "invalid_text"
    if len(value) > TEXT_LIMITS.get(field, MAX_TEXT):
        return None, "text_too_long"
    if field == "grid_worker_phone":
        value = re.sub(r"\s", "", value)
        if not (MOBILE.fullmatch(value) or LANDLINE.fullmatch(value)):
            return None, "invalid_phone"
    return value, None


_MESSAGES = {
    "invalid_integer": "应为不小于 0 的整数 (must be a whole number ≥ 0)",
    "negative_value": "不能为负数 (must not be negative)",
    "value_too_large": f"超过上限 {MAX_INTEGER} (larger than {MAX_INTEGER})",
    "invalid_text": "含控制字符（NUL 等）(holds a control character such as NUL)",
    "text_too_long": "文字过长 (the text is too long)",
    "invalid_phone": f"不是有效电话号码：{PHONE_RULE}",
    "missing_name": "名称不能为空 (the name must not be empty)",
}


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _problem(kind: str, row: int, message: str, column: Column | None, code: str | None) -> Problem:
    """A problem at Excel's ``row`` and ``column`` (None: the whole row)."""
    where = f"第 {row} 行" + (f" {column.letter} 列（{column.header}）" if column else "")
    return Problem(
        kind,
        "error",
        f"{where}: {message}",
        feature=row,
        attribute=column.field if column else None,
        row=True,
        details={
            "row": row,
            "column": column.letter if column else None,
            "header": column.header if column else None,
            "code": code,
        },
    )


_STORED = (
    f"SELECT code, level, name, parent_code, {', '.join(ATTRIBUTE_COLUMNS)}, attributes, "
    f"ST_AsBinary(geom) AS wkb FROM regions r WHERE {current()} AND code = ANY(:codes)"
)


def check_table(
    conn: Connection, table: Table, level: str | None
) -> tuple[str | None, dict[str, Column], FieldMapping, list[Problem], dict[str, Any]]:
    """The level, the file's columns, problems and changes (``records``: the regions to write,
    ``cells``: each changed cell with its old and new value, by row)."""
    mapping, columns = _columns(table.headers)
    if "code" not in columns:
        found = [
            _problem(
                "missing_code_column",
                1,
                f"缺少编码列（{REGION_LAYERS['grid'].field('code').title}）"
                f"(no code column; headers: {', '.join(h for h in table.headers if h)})",
                None,
                None,
            )
        ]
        return level, columns, mapping, found, {"records": [], "cells": []}
    key = columns["code"]
    codes = [as_code(r[key.index]) if key.index < len(r) else None for _, r in table.rows]
    stored = {
        row["code"]: dict(row)
        for row in conn.execute(text(_STORED), {"codes": [c for c in codes if c]}).mappings()
    }
    level = level or (
        Counter(s["level"] for s in stored.values()).most_common(1)[0][0] if stored else None
    )
    editable = [columns[name] for name in EDITABLE if name in columns]
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    records, cells = [], []
    for (number, values), code in zip(table.rows, codes, strict=True):
        if code is None:
            problems.append(_problem("missing_code", number, "缺少编码 (no code)", key, None))
            continue
        if SCIENTIFIC.fullmatch(code):
            message = (
                f"编码 {code} 已被 Excel 改成科学计数法，位数已丢失；请改用 xlsx 花名册，"
                "或在 Excel 中将编码列设为文本 (Excel turned the code into a rounded number)"
            )
            problems.append(_problem("code_as_number", number, message, key, code))
            continue
        if code in seen:
            problems.append(
                _problem(
                    "duplicate_code",
                    number,
                    f"编码 {code} 与第 {seen[code]} 行重复 (the code is also in row {seen[code]})",
                    key,
                    code,
                )
            )
            continue
        seen[code] = number
        region = stored.get(code)
        if region is None:
            problems.append(
                _problem("unknown_code", number, f"编码 {code} 不存在 (no such region)", key, code)
            )
            continue
        if region["level"] != level:
            problems.append(
                _problem(
                    "wrong_level",
                    number,
                    f"{code} 是{REGION_LAYERS[region['level']].title}，不是"
                    f"{REGION_LAYERS[level].title} (a {region['level']}, not a {level})",
                    key,
                    code,
                )
            )
            continue
        new: dict[str, Any] = {}
        for column in editable:
            cell = values[column.index] if column.index < len(values) else None
            kind = REGION_LAYERS[level].field(column.field).kind
            value, wrong = _integer(cell) if kind is int else _text(column.field, cell)
            if wrong is None and column.field == "name" and value is None:
                wrong = "missing_name"
            if wrong is not None:
                message = f"{_shown(cell)} {_MESSAGES[wrong]}"
                problems.append(_problem(wrong, number, message, column, code))
            elif value != region[column.field]:
                new[column.field] = value
                cells.append(
                    {
                        "row": number,
                        "column": column.letter,
                        "header": column.header,
                        "code": code,
                        "field": column.field,
                        "old": region[column.field],
                        "new": value,
                    }
                )
        if new:
            records.append(_record({**region, **new}))
    return level, columns, mapping, problems, {"records": records, "cells": cells}


def _record(row: dict[str, Any]) -> RegionRecord:
    """A region as stored, with its new attributes: geometry and free attributes as they are."""
    return RegionRecord(
        code=row["code"],
        level=row["level"],
        name=row["name"],
        wkb=bytes(row["wkb"]),
        parent_code=row["parent_code"],
        attributes=row["attributes"] or {},
        **{c: row[c] for c in ATTRIBUTE_COLUMNS},
    )


# --------------------------------------------------------------------------- import


def _report(
    table: Table,
    request: RosterRequest,
    level: str | None,
    mapping: FieldMapping,
    problems: list[Problem],
    changes: dict[str, Any],
) -> dict[str, Any]:
    """The report, shaped like an upload's: ok, summary, file, encoding, fields, problems —
    and the changed ``cells``."""
    found = errors(problems)
    return {
        "ok": found == 0,
        "summary": {
            "features": len(table.rows),
            "errors": found,
            "warnings": len(problems) - found,
            "changes": None
            if found
            else {
                "added": [],
                "modified": sorted({c["code"] for c in changes["cells"]}),
                "removed": [],
                "cells": len(changes["cells"]),
            },
        },
        "file": {"source": request.filename, "format": table.format, "layer": table.sheet},
        "encoding": encoding_report(table.encoding),
        "level": level,
        "fields": mapping.to_report(),
        "problems": report_problems(problems),
        "cells": [] if found else changes["cells"],
    }


def import_roster(
    engine: Engine,
    source: Path | BinaryIO,
    request: RosterRequest,
    settings: Settings,
    scope: str | None,
) -> RosterResult:
    """Check a roster and, unless a dry run or errors block it, commit its changed cells as
    one new boundary version (``action`` roster).  Changing a region outside the importer's
    ``scope`` is refused (403, ``gis.access.scope``), dry run or not."""
    if request.level is not None and request.level not in REGION_LAYERS:
        raise InvalidInput(
            f"未知层级 {request.level} (unknown level; expected one of {list(REGION_LAYERS)})",
            code="invalid_level",
            details={"level": request.level},
        )
    table = read_table(source, request.filename, settings, request.encoding)
    with engine.connect() as conn:
        if not request.dry_run:
            conn.begin()
            lock_boundaries(conn)  # the stored values compared are those the version replaces
        level, _, mapping, problems, changes = check_table(conn, table, request.level)
        check_codes(conn, scope, [r.code for r in changes["records"]])
        report = _report(table, request, level, mapping, problems, changes)
        if errors(problems):
            return RosterResult("rejected" if not request.dry_run else "dry_run", None, report)
        if request.dry_run:
            return RosterResult("dry_run", None, report)
        summary = commit_regions(
            conn,
            changes["records"],
            author=request.author,
            action="roster",
            message=f"roster {request.filename}",
        )
        commit_version(conn, summary.number)
    status = "committed" if summary.number is not None else "unchanged"
    return RosterResult(status, summary.number, report)
