"""Rosters (花名册, issue 15 §5): export a level's regions as xlsx/CSV with Chinese headers, edit
them in a spreadsheet, import them back — attributes only, every bad cell a problem with its
row and column, only changed cells a change, one new version.  The oracle is the database
read directly and the file read with openpyxl / the csv module (not gridmap's readers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from rosters import (
    STREET,
    TITLES,
    csv_bytes,
    csv_rows,
    export_roster,
    import_roster,
    row_of,
    saved,
    stored,
    version_of,
    workbook_of,
)
from support import GRID_CODE


def test_export_xlsx_has_chinese_headers_exact_codes_and_the_version(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    engine = fresh_engine
    book = workbook_of(export_roster(fresh_client, make_key("editor")))
    sheet = book.worksheets[0]
    assert sheet.title == "网格" and sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == TITLES
    with engine.connect() as conn:
        expected = conn.execute(
            text(
                "WITH RECURSIVE below AS (SELECT code FROM regions WHERE code = :s AND "
                "valid_to IS NULL UNION SELECT r.code FROM regions r JOIN below b "
                "ON r.parent_code = b.code WHERE r.valid_to IS NULL) "
                "SELECT code, households, grid_worker FROM regions JOIN below USING (code) "
                "WHERE level = 'grid' AND valid_to IS NULL ORDER BY code"
            ),
            {"s": STREET},
        ).all()
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(expected) == 66
    for cells, (code, households, worker) in zip(rows, expected, strict=True):
        assert cells[0].value == code and cells[0].data_type == "s", "codes are exact text"
        assert cells[0].number_format == "@"
        assert cells[3].value == households and cells[5].value == worker
    info = dict(book["说明"].iter_rows(values_only=True))
    assert info["边界版本"] == str(version_of(engine)) and info["范围"].startswith(STREET)
    assert sheet.column_dimensions["A"].width >= 16, "a 15-digit code fits its column"


def test_round_trip_changes_households_and_nothing_else(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    data = export_roster(fresh_client, key)
    before, version = stored(fresh_engine), version_of(fresh_engine)

    unchanged = import_roster(fresh_client, key, data, dry_run="false")
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["status"] == "unchanged" and unchanged.json()["report"]["cells"] == []
    assert version_of(fresh_engine) == version, "an unedited roster is no change"

    book = workbook_of(data)
    sheet = book.worksheets[0]
    row = row_of(sheet, GRID_CODE)
    old = sheet.cell(row, 4).value
    sheet.cell(row, 4).value = old + 17
    edited = saved(book)

    dry = import_roster(fresh_client, key, edited)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["status"] == "dry_run" and body["report"]["ok"]
    assert body["report"]["cells"] == [
        {
            "row": row,
            "column": "D",
            "header": "户数",
            "code": GRID_CODE,
            "field": "households",
            "old": old,
            "new": old + 17,
        }
    ]
    assert body["report"]["summary"]["changes"]["modified"] == [GRID_CODE]
    assert stored(fresh_engine) == before, "a dry run writes nothing"

    done = import_roster(fresh_client, key, edited, dry_run="false")
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "committed" and done.json()["version"] == version + 1
    after = stored(fresh_engine)
    assert after[GRID_CODE][4] == old + 17
    assert (
        after[GRID_CODE][:4] + after[GRID_CODE][5:] == before[GRID_CODE][:4] + before[GRID_CODE][5:]
    ), "only the household count changed: geometry, parent and the rest as they were"
    assert {c: r for c, r in after.items() if c != GRID_CODE} == {
        c: r for c, r in before.items() if c != GRID_CODE
    }
    with fresh_engine.connect() as conn:
        made = conn.execute(
            text("SELECT action, changes FROM boundary_versions WHERE number = :n"),
            {"n": version + 1},
        ).one()
    assert made.action == "roster" and made.changes["modified"] == [GRID_CODE]


def _edited(data: bytes, edit: Callable[[Any, int], None]) -> bytes:
    book = workbook_of(data)
    sheet = book.worksheets[0]
    edit(sheet, row_of(sheet, GRID_CODE))
    return saved(book)


def _set(column: int, value: Any) -> Callable[[Any, int], None]:
    def edit(sheet: Any, row: int) -> None:
        sheet.cell(row, column).value = value

    return edit


def _duplicate(sheet: Any, row: int) -> None:
    sheet.append([c.value for c in sheet[row]])


def _rename_code(sheet: Any, row: int) -> None:
    sheet.cell(1, 1).value = "序号"


BAD_CELLS = [
    ("unknown_code", _set(1, "130227001002999"), "A"),
    ("wrong_level", _set(1, "130227001002"), "A"),
    ("code_as_number", _set(1, "1.30227E+14"), "A"),  # a CSV saved by Excel
    ("duplicate_code", _duplicate, "A"),
    ("invalid_integer", _set(4, "abc"), "D"),
    ("invalid_integer", _set(4, 3.5), "D"),
    ("negative_value", _set(4, -5), "D"),
    ("invalid_integer", _set(5, "十"), "E"),
    ("invalid_phone", _set(7, "12345"), "G"),
    ("invalid_phone", _set(7, "010-123"), "G"),
    ("text_too_long", _set(2, "网" * 201), "B"),
    ("text_too_long", _set(8, "支" * 501), "H"),
    ("missing_name", _set(2, None), "B"),
    ("missing_code_column", _rename_code, None),
]


@pytest.mark.parametrize(("kind", "edit", "column"), BAD_CELLS)
def test_bad_cells_are_problems_with_row_and_column_and_change_nothing(
    kind: str,
    edit: Callable[[Any, int], None],
    column: str | None,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
) -> None:
    key = make_key("editor")
    data = export_roster(fresh_client, key)
    own = row_of(workbook_of(data).worksheets[0], GRID_CODE)
    # the duplicate is appended below the 66 grids; a missing column is the header's problem
    expected_row = {"duplicate_code": 68, "missing_code_column": 1}.get(kind, own)
    edited = _edited(data, edit)
    sheet = workbook_of(edited).worksheets[0]
    before, version = stored(fresh_engine), version_of(fresh_engine)

    dry = import_roster(fresh_client, key, edited)
    assert dry.status_code == 200, dry.text
    report = dry.json()["report"]
    assert not report["ok"] and report["summary"]["changes"] is None
    problem = next(p for p in report["problems"] if p["kind"] == kind)
    assert problem["row"] == expected_row and problem["column"] == column
    if column:
        assert problem["header"] == sheet.cell(1, ord(column) - 64).value
        assert f"第 {expected_row} 行 {column} 列" in problem["message"]
    if kind == "invalid_phone":
        assert "11 位" in problem["message"] and "区号" in problem["message"], "says which rule"

    refused = import_roster(fresh_client, key, edited, dry_run="false")
    assert refused.status_code == 422 and refused.json()["code"] == "validation_failed"
    assert stored(fresh_engine) == before and version_of(fresh_engine) == version


@pytest.mark.parametrize(
    ("encoding", "codec", "detected"),
    [("utf-8", "utf-8-sig", "UTF-8"), ("gb18030", "gb18030", "GB18030")],
)
def test_csv_round_trip_in_utf8_with_bom_and_gb18030(
    encoding: str,
    codec: str,
    detected: str,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
) -> None:
    key = make_key("editor")
    data = export_roster(fresh_client, key, format="csv", encoding=encoding)
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8"), "Excel needs the BOM"
    rows = csv_rows(data, codec)
    assert rows[0] == TITLES and len(rows) == 67
    line = next(i for i, r in enumerate(rows) if r[0] == GRID_CODE)
    rows[line][6] = "0315 5612345"  # a landline with its area code, spaces as typed
    rows[line][7] = "清泉里第一网格党支部"
    before = stored(fresh_engine)

    done = import_roster(fresh_client, key, csv_bytes(rows, codec), "roster.csv", dry_run="false")
    assert done.status_code == 201, done.text
    report = done.json()["report"]
    assert report["encoding"]["encoding"] == detected and report["file"]["format"] == "CSV"
    assert {(c["row"], c["column"], c["new"]) for c in report["cells"]} == {
        (line + 1, "G", "03155612345"),
        (line + 1, "H", "清泉里第一网格党支部"),
    }
    after = stored(fresh_engine)
    assert after[GRID_CODE][7:9] == ("03155612345", "清泉里第一网格党支部")
    assert after[GRID_CODE][:7] == before[GRID_CODE][:7]


def test_a_nul_in_a_csv_cell_is_a_problem(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    rows = csv_rows(export_roster(fresh_client, key, format="csv"), "utf-8-sig")
    rows[1][1] = "清泉\x00里"
    response = import_roster(fresh_client, key, csv_bytes(rows, "utf-8-sig"), "r.csv")
    problem = response.json()["report"]["problems"][0]
    assert (problem["kind"], problem["row"], problem["column"]) == ("invalid_text", 2, "B")


def test_formula_like_text_stays_text(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    """Formula injection: a cell starting with = + - @ is a text cell in xlsx and is written
    with a leading ' in CSV; the CSV read back is no change."""
    key = make_key("editor")
    formula = '=HYPERLINK("http://evil.example","点我")'

    def typed_as_text(sheet: Any, row: int) -> None:  # as Excel keeps '=… typed with a '
        sheet.cell(row, 8).value = formula
        sheet.cell(row, 8).data_type = "s"

    edited = _edited(export_roster(fresh_client, key), typed_as_text)
    assert import_roster(fresh_client, key, edited, dry_run="false").status_code == 201

    cell = workbook_of(export_roster(fresh_client, key)).worksheets[0]
    row = row_of(cell, GRID_CODE)
    assert cell.cell(row, 8).value == formula and cell.cell(row, 8).data_type == "s"
    data = export_roster(fresh_client, key, format="csv")
    rows = csv_rows(data, "utf-8-sig")
    assert next(r for r in rows if r[0] == GRID_CODE)[7] == "'" + formula
    again = import_roster(fresh_client, key, data, "r.csv")
    assert again.json()["report"]["cells"] == [], "the ' is the roster's own mark"


@pytest.mark.parametrize("role", ["viewer", None])
def test_viewer_and_anonymous_rosters_have_no_personal_columns_and_keep_them_on_import(
    role: str | None,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
) -> None:
    data = export_roster(fresh_client, make_key(role) if role else None)
    book = workbook_of(data)
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert "网格员" not in headers and "网格员电话" not in headers
    assert headers == [t for t in TITLES if t not in ("网格员", "网格员电话")]
    assert "个人信息" in dict(book["说明"].iter_rows(values_only=True))
    before = stored(fresh_engine)
    row = row_of(sheet, GRID_CODE)
    sheet.cell(row, 4).value = 1
    done = import_roster(fresh_client, make_key("editor"), saved(book), dry_run="false")
    assert done.status_code == 201, done.text
    after = stored(fresh_engine)
    assert after[GRID_CODE][4] == 1
    assert after[GRID_CODE][6:8] == before[GRID_CODE][6:8], "worker and phone kept"


def test_import_needs_an_editor(fresh_client: TestClient, make_key: Callable[[str], str]) -> None:
    data = export_roster(fresh_client, None)
    assert import_roster(fresh_client, None, data).status_code == 401
    assert import_roster(fresh_client, make_key("viewer"), data).status_code == 403


def test_an_editor_scoped_elsewhere_cannot_change_a_grid(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    with fresh_engine.begin() as conn:  # another community of the street
        conn.execute(text("UPDATE api_keys SET scope_code = '130227001001'"))
    data = export_roster(fresh_client, key)
    before = stored(fresh_engine)
    assert import_roster(fresh_client, key, data, dry_run="false").status_code == 200, (
        "unchanged rows outside the scope are no change"
    )
    edited = _edited(data, _set(4, 4321))
    for dry_run in ("true", "false"):
        refused = import_roster(fresh_client, key, edited, dry_run=dry_run)
        assert refused.status_code == 403, refused.text
    assert stored(fresh_engine) == before
