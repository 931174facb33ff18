"""Rosters (花名册): one level's regions under a region as an attribute table for Excel.

A roster has one row per region and the columns of its layer in ``gis.catalogue`` (code,
name, parent code, the typed attributes, area), headed by the catalogue's zh-CN titles.  It
travels to a clerk's desk and comes back (``gis.ingest.roster_uploads``), so:

- personal columns (``gis.access.privacy``) are written only for a role that sees them
  whole — a viewer's roster has none, and its re-import keeps the stored values;
- the code column is text (Excel would turn 130227001001001 into 1.30227E+14 and drop the
  leading zeros of local schemes);
- a text cell starting with ``= + - @`` is never a formula (CSV/formula injection): in xlsx
  it is stored as a text cell, in CSV prefixed with ``'`` (which the import strips again);
- the boundary version it was read at is stated (the 说明 sheet, and the file name).

xlsx through openpyxl; CSV in UTF-8 with a BOM, or GB18030 (``gis.ingest.csvfiles``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import Connection, text

from gis.access.privacy import view
from gis.catalogue import REGION_LAYERS
from gis.catalogue.schema import Field
from gis.errors import InvalidInput
from gis.ingest.csvfiles import csv_encoding
from gis.query.regions import require_region
from gis.store.versions import ATTRIBUTE_COLUMNS, valid_at

ROSTER_COLUMNS = ("code", "name", "parent_code", *ATTRIBUTE_COLUMNS, "area_m2")
"""The columns of a roster, in order (their titles from the level's layer)."""
EDITABLE = ("name", *ATTRIBUTE_COLUMNS)
"""The columns an imported roster may change; the code is the key, the rest read-only."""
FORMULA_START = ("=", "+", "-", "@")
"""A text cell starting with one of these would be a formula in Excel (or LibreOffice)."""
CSV_TEXT_MARK = "'"
"""The prefix a CSV roster puts before such a cell so that it stays text."""
CODE_WIDTH = 18
"""Column width (characters) of the code columns: a 15-digit grid code and some air."""
INFO_SHEET = "说明"
"""The xlsx sheet stating what the roster is: level, region, version, date, source."""


@dataclass(frozen=True)
class Roster:
    """Regions of ``level`` under ``region`` (None: all) at boundary ``version``."""

    level: str
    region: str | None
    region_name: str | None
    version: int
    fields: tuple[Field, ...]
    rows: list[dict[str, Any]]
    personal_left_out: bool

    @property
    def filename(self) -> str:
        """The file's name without suffix: level, region and version (``grids_130227001_v3``)."""
        return f"{REGION_LAYERS[self.level].name}_{self.region or 'all'}_v{self.version}"


def roster_fields(level: str, role: str | None) -> tuple[Field, ...]:
    """The roster's columns for ``role``: personal ones only for a role that sees them whole."""
    layer = REGION_LAYERS[level]
    whole = view(role) == "whole"
    return tuple(
        layer.field(name) for name in ROSTER_COLUMNS if whole or not layer.field(name).personal
    )


def read_roster(
    conn: Connection, *, level: str, region: str | None, version: int, role: str | None
) -> Roster:
    """The regions of ``level`` at ``version`` at or below ``region`` (None: everywhere),
    ordered by code; ``region_not_found`` when ``region`` does not exist then,
    ``nothing_to_export`` when it has no regions of ``level``."""
    if level not in REGION_LAYERS:
        raise InvalidInput(
            f"未知层级 {level} (unknown level; expected one of {list(REGION_LAYERS)})",
            code="invalid_level",
            details={"level": level},
        )
    region_name = None
    if region is not None:
        require_region(conn, region, version)
        region_name = conn.scalar(
            text(f"SELECT name FROM regions r WHERE code = :code AND {valid_at()}"),
            {"code": region, "v": version},
        )
    fields = roster_fields(level, role)
    columns = ", ".join(f"r.{f.name}" for f in fields)
    below = (
        "WITH RECURSIVE below AS ("
        f"  SELECT code FROM regions r WHERE code = :region AND {valid_at()}"
        "  UNION SELECT r.code FROM regions r JOIN below b ON r.parent_code = b.code"
        f"  WHERE {valid_at()}) "
    )
    rows = conn.execute(
        text(
            (below if region else "")
            + f"SELECT {columns} FROM regions r "
            + ("JOIN below USING (code) " if region else "")
            + f"WHERE r.level = :level AND {valid_at()} ORDER BY r.code"
        ),
        {"level": level, "region": region, "v": version},
    ).mappings()
    found = [
        {**row, "area_m2": round(row["area_m2"], 1) if row["area_m2"] is not None else None}
        for row in rows
    ]
    if not found:
        raise InvalidInput(
            f"{region or '全部'} 下没有{REGION_LAYERS[level].title} (no regions of that level)",
            code="nothing_to_export",
            details={"level": level, "region": region, "version": version},
        )
    return Roster(
        level=level,
        region=region,
        region_name=region_name,
        version=version,
        fields=fields,
        rows=found,
        personal_left_out=len(fields) < len(ROSTER_COLUMNS),
    )


def _info(roster: Roster) -> list[tuple[str, str]]:
    """What the 说明 sheet states."""
    layer = REGION_LAYERS[roster.level]
    place = f"{roster.region} {roster.region_name or ''}".strip() if roster.region else "全部"
    notes = [
        ("层级", f"{layer.title} ({roster.level})"),
        ("范围", place),
        ("边界版本", str(roster.version)),
        ("导出时间", datetime.now().astimezone().isoformat(timespec="seconds")),
        ("行数", str(len(roster.rows))),
        ("坐标系", "不适用：仅属性，无几何 (attributes only)"),
        ("数据来源", "gridmap 网格管理工作台"),
        (
            "导入说明",
            "可修改名称、户数、人口、网格员、电话、党支部后在工作台「花名册」导入；"
            "编码为行的标识，上级编码与面积只读，空单元格表示清空该值",
        ),
    ]
    if roster.personal_left_out:
        notes.append(("个人信息", "按权限未导出网格员及电话列；导入时保留原值"))
    return notes


def to_xlsx(roster: Roster) -> bytes:
    """The roster as an xlsx workbook: the table (header frozen, widths set, codes as text
    cells, formula-like text as text cells) and the 说明 sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = REGION_LAYERS[roster.level].title
    sheet.append([f.title for f in roster.fields])
    for row in roster.rows:
        sheet.append([row[f.name] for f in roster.fields])
    for column, spec in enumerate(roster.fields, start=1):
        letter = get_column_letter(column)
        if spec.kind is str:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
                cell.number_format = "@"  # typed later into the cell, it stays text too
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
                    cell.data_type = "s"  # openpyxl took it for a formula
        width = (
            CODE_WIDTH if spec.name in ("code", "parent_code") else max(10, len(spec.title) * 2 + 2)
        )
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(roster.fields))}{len(roster.rows) + 1}"
    info = book.create_sheet(INFO_SHEET)
    for name, value in _info(roster):
        info.append([name, value])
    info.column_dimensions["A"].width = 12
    info.column_dimensions["B"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(roster: Roster, encoding: str | None = None) -> bytes:
    """The roster as CSV (UTF-8 with a BOM, or GB18030): the header, then a row per region;
    formula-like text prefixed with ``'``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f.title for f in roster.fields])
    for row in roster.rows:
        writer.writerow(
            [
                CSV_TEXT_MARK + v if isinstance(v, str) and v.startswith(FORMULA_START) else v
                for v in (row[f.name] for f in roster.fields)
            ]
        )
    return out.getvalue().encode(csv_encoding(encoding).codec)
