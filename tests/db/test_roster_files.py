"""Roster files at their limits: broken, zipped bombs, Excel's rounded codes, a large roster,
a sheet claiming a million rows, a multi-line CSV cell, and the ``gridmap roster`` commands.
The helpers and the oracle are tests/rosters.py's (see tests/db/test_rosters.py)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis.access.users import create_user

from rosters import (
    STREET,
    csv_bytes,
    csv_rows,
    export_roster,
    import_roster,
    row_of,
    saved,
    stored,
    version_of,
    zip_of,
)
from support import GRID_CODE, GRIDMAP


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        (
            "bomb.xlsx",
            zip_of({"xl/worksheets/sheet1.xml": b"\0" * 40_000_000}),
            413,
            "archive_too_large",
        ),
        ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 100, 422, "corrupt_archive"),
        ("other.xlsx", zip_of({"readme.txt": b"hello"}), 422, "invalid_xlsx"),
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
    response = import_roster(fresh_client, make_key("editor"), data, name)
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
    row = row_of(sheet, GRID_CODE)
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
    assert refused.returncode == 1 and version_of(fresh_engine) == 1, refused.stdout
    done = _cli("roster", "import", str(path), "--commit", db_url=fresh_db_url)
    assert done.returncode == 0 and "committed, version 2" in done.stdout, done.stderr
    assert stored(fresh_engine)[GRID_CODE][4] == 999


def test_a_large_roster_is_taken_and_too_many_rows_are_not(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    rows = csv_rows(export_roster(fresh_client, key, format="csv"), "utf-8-sig")
    notes = [[*r, "备注" if i == 0 else os.urandom(1000).hex()] for i, r in enumerate(rows)]
    large = csv_bytes(notes, "utf-8-sig")
    assert len(large) > 100_000, "past the 64 kB of a small request body"
    taken = import_roster(fresh_client, key, large, "large.csv")
    assert taken.status_code == 200, taken.text
    assert (
        taken.json()["report"]["cells"] == []
        and "备注" in taken.json()["report"]["fields"]["unmapped"]
    )
    many = "编码\r\n" + "130227001002001\r\n" * 100_001
    refused = import_roster(fresh_client, key, many.encode(), "many.csv")
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
    rows = csv_rows(export_roster(fresh_client, key, format="csv"), "utf-8-sig")
    rows[1][7] = "第一党支部\n（联合）"  # Alt+Enter in a cell: one row in Excel
    rows[2][3] = "abc"
    report = import_roster(fresh_client, key, csv_bytes(rows, "utf-8-sig"), "r.csv").json()[
        "report"
    ]
    assert [(p["kind"], p["row"], p["column"]) for p in report["problems"]] == [
        ("invalid_integer", 3, "D")
    ]


def test_a_sheet_claiming_a_million_rows_is_refused_at_once(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    book = openpyxl.Workbook()
    book.active.append(["编码", "户数"])
    book.active["XFD1048576"] = "far away"
    response = import_roster(fresh_client, make_key("editor"), saved(book), "far.xlsx")
    assert (response.status_code, response.json()["code"]) == (413, "too_many_rows")
