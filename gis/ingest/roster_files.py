"""Reading a roster file (``gis.ingest.roster_uploads``): xlsx or CSV into a :class:`Table`
of rows numbered as Excel shows them (the header is row 1).

xlsx is told by its zip signature and unpacked through the upload's zip-bomb guard
(``gis.ingest.archive.unpack``) before openpyxl opens it; rows and columns are bounded
whatever the sheet claims.  CSV is UTF-8 (a BOM or not) or GB18030 as detected
(``gis.ingest.encoding``), or the encoding given; the ``'`` a roster puts before
formula-like text (``gis.query.roster``) is taken off again.  An old binary .xls is refused.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from gis.errors import InvalidInput, TooLarge, Unsupported
from gis.ingest.archive import ZIP_MAGIC, unpack
from gis.ingest.encoding import EncodingChoice, detect_text_encoding
from gis.ingest.pipeline import save_upload
from gis.query.roster import CSV_TEXT_MARK, FORMULA_START, INFO_SHEET
from gis.settings import Settings

MAX_ROWS = 100_000
"""Most data rows a roster may have (a city has ~1 000 grids; 100 000 is every grid of a
province)."""
MAX_COLUMNS = 100
"""Columns of a sheet read (a roster has nine)."""


@dataclass
class Table:
    """A roster file read: its header, its rows (Excel's row number, the cells) and format."""

    headers: list[str]
    rows: list[tuple[int, list[Any]]]
    format: str
    sheet: str | None = None
    encoding: EncodingChoice | None = None


def _too_many_rows() -> TooLarge:
    return TooLarge(
        f"花名册超过 {MAX_ROWS} 行 (the roster has more than {MAX_ROWS} rows)",
        code="too_many_rows",
        details={"max_rows": MAX_ROWS},
    )


def _rows(cells: Any, first: int) -> list[tuple[int, list[Any]]]:
    """Non-empty rows with their numbers, at most :data:`MAX_ROWS` of them."""
    rows = []
    for number, values in enumerate(cells, start=first):
        values = list(values)
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if len(rows) == MAX_ROWS:
            raise _too_many_rows()
        rows.append((number, values))
    return rows


def _read_xlsx(path: Path, workdir: Path, settings: Settings) -> Table:
    """The first sheet that is not 说明; the zip is unpacked (bounded) before openpyxl reads it."""
    unpack(
        path,
        workdir / "xlsx",
        max_bytes=settings.max_unpacked_bytes,
        max_entries=settings.max_archive_entries,
    )
    try:
        with path.open("rb") as f:  # a file object: openpyxl would judge a path by its suffix
            book = load_workbook(f, read_only=True, data_only=True)
            sheet = next(s for s in book.worksheets if s.title != INFO_SHEET)
            if (sheet.max_row or 0) > MAX_ROWS + 1:
                raise _too_many_rows()
            # bounded whatever the sheet claims: empty rows and columns are generated too
            cells = sheet.iter_rows(max_row=MAX_ROWS + 1, max_col=MAX_COLUMNS, values_only=True)
            header = next(cells, ())
            return Table(
                headers=[str(h).strip() if h is not None else "" for h in header],
                rows=_rows(cells, 2),
                format="xlsx",
                sheet=sheet.title,
            )
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, StopIteration) as e:
        raise InvalidInput(
            f"无法读取 Excel 文件（须为 .xlsx）(the file is not a readable xlsx workbook: {e})",
            code="invalid_xlsx",
        ) from e


def _csv_cell(value: str) -> str | None:
    """A CSV cell as typed: the ``'`` a roster puts before formula-like text removed."""
    if value.startswith(CSV_TEXT_MARK) and value[1:].startswith(FORMULA_START):
        value = value[1:]
    return value if value.strip() else None


def _read_csv(path: Path, encoding: str | None) -> Table:
    data = path.read_bytes()
    choice = detect_text_encoding(data, encoding)
    body = data.decode("utf-8-sig" if choice.encoding == "UTF-8" else choice.encoding)
    try:
        records = list(csv.reader(io.StringIO(body, newline="")))
    except csv.Error as e:
        raise InvalidInput(f"CSV 格式有误 (malformed CSV: {e})", code="invalid_csv") from e
    header = records[0] if records else []
    cells = ([_csv_cell(v) for v in r] for r in records[1:])
    return Table([h.strip() for h in header], _rows(cells, 2), "CSV", encoding=choice)


def read_table(
    source: Path | BinaryIO, filename: str, settings: Settings, encoding: str | None = None
) -> Table:
    """Read a roster (a path, or the bytes of an HTTP upload, saved bounded by the upload
    limit): xlsx by its zip signature, else CSV; an old binary .xls is refused."""
    with tempfile.TemporaryDirectory(prefix="gridmap-roster-") as tmp:
        workdir = Path(tmp)
        if isinstance(source, Path):
            path = source
        else:
            path = workdir / "roster.bin"
            save_upload(source, path, settings.max_upload_bytes)
        with path.open("rb") as f:
            magic = f.read(4)
        if magic == ZIP_MAGIC:
            return _read_xlsx(path, workdir, settings)
        if filename.lower().endswith((".xls", ".xlsx")):
            raise Unsupported(
                "只接受 .xlsx 或 .csv 花名册；旧版 .xls 请在 Excel 中另存为 .xlsx "
                "(only .xlsx or .csv rosters; save an old .xls as .xlsx)",
                code="unknown_format",
                details={"filename": filename},
            )
        return _read_csv(path, encoding)
