"""Rosters in the tests: the demo street whose grids are the roster, its headers from the
catalogue, and the round trips of tests/db/test_rosters.py and test_roster_files.py — the file
read with openpyxl / the csv module, the database read directly (not gridmap's readers)."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import Any

import openpyxl
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.catalogue import GRIDS

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


def auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def export_roster(client: TestClient, key: str | None, **params: str) -> bytes:
    response = client.get(
        "/api/v1/rosters", params={"region": STREET, "level": "grid", **params}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return response.content


def import_roster(
    client: TestClient, key: str, data: bytes, name: str = "roster.xlsx", **form: str
) -> Any:
    return client.post(
        "/api/v1/rosters", files={"file": (name, data)}, data=form, headers=auth(key)
    )


def workbook_of(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def saved(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def row_of(sheet: Any, code: str) -> int:
    return next(cell.row for (cell,) in sheet.iter_rows(min_col=1, max_col=1) if cell.value == code)


def stored(engine: Engine) -> dict[str, tuple]:
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


def version_of(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT max(number) FROM boundary_versions"))


def csv_rows(data: bytes, codec: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(codec))))


def csv_bytes(rows: list[list[str]], codec: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(codec)


def zip_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in entries.items():
            z.writestr(name, body)
    return out.getvalue()
