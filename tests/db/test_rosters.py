"""Rosters (花名册, issue 15 §5): export a level's regions as xlsx/CSV with Chinese headers, edit
them in a spreadsheet, import them back — attributes only, every bad cell a problem with its
row and column, only changed cells a change, one new version.  The oracle is the database
read directly and the file read with openpyxl / the csv module (not gridmap's readers)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.access.users import create_user
from gis.catalogue import GRIDS

from support import GRID_CODE, GRIDMAP

STREET = "130227001"
"""栗乡街道: its 66 grids are the roster."""
TITLES = [GRIDS.field(name).title for name in ("code", "name", "parent_code")] + [
    GRIDS.field(name).title
    for name in (
        "households",
        "population",
        "grid_worker",
        "grid_worker_phone",
        "party_branch",
        "area_m2",
    )
]
"""The roster's headers, from the catalogue (编码, 名称, 上级编码, 户数 … 面积 (m²))."""
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _export(client: TestClient, key: str | None, **params: str) -> bytes:
    response = client.get(
        "/api/v1/rosters", params={"region": STREET, "level": "grid", **params}, headers=_auth(key)
    )
    assert response.status_code == 200, response.text
    return response.content


def _import(
    client: TestClient, key: str, data: bytes, name: str = "roster.xlsx", **form: str
) -> Any:
    return client.post(
        "/api/v1/rosters", files={"file": (name, data)}, data=form, headers=_auth(key)
    )


def _book(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def _saved(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _row_of(sheet: Any, code: str) -> int:
    return next(cell.row for (cell,) in sheet.iter_rows(min_col=1, max_col=1) if cell.value == code)


def _stored(engine: Engine) -> dict[str, tuple]:
    """Every current region: its typed columns, free attributes and geometry (normalised)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, level, parent_code, households, population, grid_worker, "
                "grid_worker_phone, party_branch, attributes::text, encode(ST_AsBinary(geom), "
                "'hex') FROM regions WHERE valid_to IS NULL"
            )
        ).all()
    # the same vertices: a rewritten row may start its ring at another vertex (shapely says)
    return {
        row[0]: (*row[:-1], shapely.normalize(shapely.from_wkb(row[-1])).wkb_hex) for row in rows
    }


def _version(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT max(number) FROM boundary_versions"))


def test_export_xlsx_has_chinese_headers_exact_codes_and_the_version(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    engine = fresh_engine
    book = _book(_export(fresh_client, make_key("editor")))
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
    assert info["边界版本"] == str(_version(engine)) and info["范围"].startswith(STREET)
    assert sheet.column_dimensions["A"].width >= 16, "a 15-digit code fits its column"


def test_round_trip_changes_households_and_nothing_else(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    data = _export(fresh_client, key)
    before, version = _stored(fresh_engine), _version(fresh_engine)

    unchanged = _import(fresh_client, key, data, dry_run="false")
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["status"] == "unchanged" and unchanged.json()["report"]["cells"] == []
    assert _version(fresh_engine) == version, "an unedited roster is no change"

    book = _book(data)
    sheet = book.worksheets[0]
    row = _row_of(sheet, GRID_CODE)
    old = sheet.cell(row, 4).value
    sheet.cell(row, 4).value = old + 17
    edited = _saved(book)

    dry = _import(fresh_client, key, edited)
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
    assert _stored(fresh_engine) == before, "a dry run writes nothing"

    done = _import(fresh_client, key, edited, dry_run="false")
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "committed" and done.json()["version"] == version + 1
    after = _stored(fresh_engine)
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
    book = _book(data)
    sheet = book.worksheets[0]
    edit(sheet, _row_of(sheet, GRID_CODE))
    return _saved(book)


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
    data = _export(fresh_client, key)
    own = _row_of(_book(data).worksheets[0], GRID_CODE)
    # the duplicate is appended below the 66 grids; a missing column is the header's problem
    expected_row = {"duplicate_code": 68, "missing_code_column": 1}.get(kind, own)
    edited = _edited(data, edit)
    sheet = _book(edited).worksheets[0]
    before, version = _stored(fresh_engine), _version(fresh_engine)

    dry = _import(fresh_client, key, edited)
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

    refused = _import(fresh_client, key, edited, dry_run="false")
    assert refused.status_code == 422 and refused.json()["code"] == "validation_failed"
    assert _stored(fresh_engine) == before and _version(fresh_engine) == version


def _csv_rows(data: bytes, codec: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(codec))))


def _csv_bytes(rows: list[list[str]], codec: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(codec)


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
    data = _export(fresh_client, key, format="csv", encoding=encoding)
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8"), "Excel needs the BOM"
    rows = _csv_rows(data, codec)
    assert rows[0] == TITLES and len(rows) == 67
    line = next(i for i, r in enumerate(rows) if r[0] == GRID_CODE)
    rows[line][6] = "0315 5612345"  # a landline with its area code, spaces as typed
    rows[line][7] = "清泉里第一网格党支部"
    before = _stored(fresh_engine)

    done = _import(fresh_client, key, _csv_bytes(rows, codec), "roster.csv", dry_run="false")
    assert done.status_code == 201, done.text
    report = done.json()["report"]
    assert report["encoding"]["encoding"] == detected and report["file"]["format"] == "CSV"
    assert {(c["row"], c["column"], c["new"]) for c in report["cells"]} == {
        (line + 1, "G", "03155612345"),
        (line + 1, "H", "清泉里第一网格党支部"),
    }
    after = _stored(fresh_engine)
    assert after[GRID_CODE][7:9] == ("03155612345", "清泉里第一网格党支部")
    assert after[GRID_CODE][:7] == before[GRID_CODE][:7]


def test_a_nul_in_a_csv_cell_is_a_problem(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    rows = _csv_rows(_export(fresh_client, key, format="csv"), "utf-8-sig")
    rows[1][1] = "清泉\x00里"
    response = _import(fresh_client, key, _csv_bytes(rows, "utf-8-sig"), "r.csv")
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

    edited = _edited(_export(fresh_client, key), typed_as_text)
    assert _import(fresh_client, key, edited, dry_run="false").status_code == 201

    cell = _book(_export(fresh_client, key)).worksheets[0]
    row = _row_of(cell, GRID_CODE)
    assert cell.cell(row, 8).value == formula and cell.cell(row, 8).data_type == "s"
    data = _export(fresh_client, key, format="csv")
    rows = _csv_rows(data, "utf-8-sig")
    assert next(r for r in rows if r[0] == GRID_CODE)[7] == "'" + formula
    again = _import(fresh_client, key, data, "r.csv")
    assert again.json()["report"]["cells"] == [], "the ' is the roster's own mark"


@pytest.mark.parametrize("role", ["viewer", None])
def test_viewer_and_anonymous_rosters_have_no_personal_columns_and_keep_them_on_import(
    role: str | None,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
) -> None:
    data = _export(fresh_client, make_key(role) if role else None)
    book = _book(data)
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert "网格员" not in headers and "网格员电话" not in headers
    assert headers == [t for t in TITLES if t not in ("网格员", "网格员电话")]
    assert "个人信息" in dict(book["说明"].iter_rows(values_only=True))
    before = _stored(fresh_engine)
    row = _row_of(sheet, GRID_CODE)
    sheet.cell(row, 4).value = 1
    done = _import(fresh_client, make_key("editor"), _saved(book), dry_run="false")
    assert done.status_code == 201, done.text
    after = _stored(fresh_engine)
    assert after[GRID_CODE][4] == 1
    assert after[GRID_CODE][6:8] == before[GRID_CODE][6:8], "worker and phone kept"


def test_import_needs_an_editor(fresh_client: TestClient, make_key: Callable[[str], str]) -> None:
    data = _export(fresh_client, None)
    assert _import(fresh_client, None, data).status_code == 401
    assert _import(fresh_client, make_key("viewer"), data).status_code == 403


def test_an_editor_scoped_elsewhere_cannot_change_a_grid(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    with fresh_engine.begin() as conn:  # another community of the street
        conn.execute(text("UPDATE api_keys SET scope_code = '130227001001'"))
    data = _export(fresh_client, key)
    before = _stored(fresh_engine)
    assert _import(fresh_client, key, data, dry_run="false").status_code == 200, (
        "unchanged rows outside the scope are no change"
    )
    edited = _edited(data, _set(4, 4321))
    for dry_run in ("true", "false"):
        refused = _import(fresh_client, key, edited, dry_run=dry_run)
        assert refused.status_code == 403, refused.text
    assert _stored(fresh_engine) == before


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in entries.items():
            z.writestr(name, body)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        (
            "bomb.xlsx",
            _zip({"xl/worksheets/sheet1.xml": b"\0" * 40_000_000}),
            413,
            "archive_too_large",
        ),
        ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 100, 422, "corrupt_archive"),
        ("other.xlsx", _zip({"readme.txt": b"hello"}), 422, "invalid_xlsx"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, 415, "unknown_format"),
        ("empty.csv", b"", 200, None),
    ],
)
def test_bad_files_are_refused_with_a_clear_code(
    name: str,
    data: bytes,
    status: int,
    code: str | None,
    fresh_client: TestClient,
    make_key: Callable[[str], str],
) -> None:
    response = _import(fresh_client, make_key("editor"), data, name)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["code"] == code
    else:
        assert response.json()["report"]["problems"][0]["kind"] == "missing_code_column"


def _cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    return subprocess.run([GRIDMAP, *args], env=env, capture_output=True, text=True)


def test_cli_export_and_import(fresh_db_url: str, fresh_engine: Engine, tmp_path: Path) -> None:
    """``gridmap roster export`` → edit → ``gridmap roster import`` (a dry run, then --commit);
    ``--user`` imports within that user's scope."""
    path = tmp_path / "grids.xlsx"
    made = _cli("roster", "export", STREET, "--level", "grid", "-o", str(path), db_url=fresh_db_url)
    assert made.returncode == 0, made.stderr
    assert "66 rows, boundary version 1" in made.stdout
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    assert "网格员" in [c.value for c in sheet[1]], "the operator sees every column"
    row = _row_of(sheet, GRID_CODE)
    sheet.cell(row, 4).value = 999
    book.save(path)
    with fresh_engine.begin() as conn:
        create_user(conn, "elsewhere", "a long enough password", "editor", "130227001001")

    dry = _cli("roster", "import", str(path), db_url=fresh_db_url)
    assert dry.returncode == 0, dry.stderr
    assert f"{GRID_CODE} 第 {row} 行 D 列 户数" in dry.stdout and "dry_run" in dry.stdout
    refused = _cli(
        "roster", "import", str(path), "--commit", "--user", "elsewhere", db_url=fresh_db_url
    )
    assert refused.returncode == 1 and _version(fresh_engine) == 1, refused.stdout
    done = _cli("roster", "import", str(path), "--commit", db_url=fresh_db_url)
    assert done.returncode == 0 and "committed, version 2" in done.stdout, done.stderr
    assert _stored(fresh_engine)[GRID_CODE][4] == 999


def test_a_large_roster_is_taken_and_too_many_rows_are_not(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    rows = _csv_rows(_export(fresh_client, key, format="csv"), "utf-8-sig")
    notes = [[*r, "备注" if i == 0 else os.urandom(1000).hex()] for i, r in enumerate(rows)]
    large = _csv_bytes(notes, "utf-8-sig")
    assert len(large) > 100_000, "past the 64 kB of a small request body"
    taken = _import(fresh_client, key, large, "large.csv")
    assert taken.status_code == 200, taken.text
    assert (
        taken.json()["report"]["cells"] == []
        and "备注" in taken.json()["report"]["fields"]["unmapped"]
    )
    many = "编码\r\n" + "130227001002001\r\n" * 100_001
    refused = _import(fresh_client, key, many.encode(), "many.csv")
    assert (refused.status_code, refused.json()["code"]) == (413, "too_many_rows")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"region": GRID_CODE, "level": "community"}, 422, "nothing_to_export"),
        ({"region": "130227999", "level": "grid"}, 404, "region_not_found"),
        ({"level": "town"}, 422, "invalid_parameter"),
    ],
)
def test_export_of_nothing_is_a_clear_error(
    params: dict[str, str], status: int, code: str, client: TestClient
) -> None:
    response = client.get("/api/v1/rosters", params=params)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_a_multi_line_csv_cell_keeps_the_row_numbers_excel_shows(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    rows = _csv_rows(_export(fresh_client, key, format="csv"), "utf-8-sig")
    rows[1][7] = "第一党支部\n（联合）"  # Alt+Enter in a cell: one row in Excel
    rows[2][3] = "abc"
    report = _import(fresh_client, key, _csv_bytes(rows, "utf-8-sig"), "r.csv").json()["report"]
    assert [(p["kind"], p["row"], p["column"]) for p in report["problems"]] == [
        ("invalid_integer", 3, "D")
    ]


def test_a_sheet_claiming_a_million_rows_is_refused_at_once(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    book = openpyxl.Workbook()
    book.active.append(["编码", "户数"])
    book.active["XFD1048576"] = "far away"
    response = _import(fresh_client, make_key("editor"), _saved(book), "far.xlsx")
    assert (response.status_code, response.json()["code"]) == (413, "too_many_rows")
