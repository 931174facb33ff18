"""CSV files gridmap writes, in encodings Excel on a Chinese Windows desktop reads.

Excel opens a CSV in the system's ANSI code page (GBK on zh-CN Windows) unless it starts with
a UTF-8 byte-order mark: plain UTF-8 comes out garbled.  So every CSV gridmap writes is UTF-8
with a BOM by default, or GB18030 (a superset of GBK that encodes every character) on request.
"""

from __future__ import annotations

from dataclasses import dataclass

from gis.errors import InvalidInput


@dataclass(frozen=True)
class CsvEncoding:
    """How to write a CSV: Python's codec, and the charset to name in Content-Type."""

    codec: str
    charset: str


CSV_ENCODINGS = {
    "utf-8": CsvEncoding("utf-8-sig", "utf-8"),
    "gb18030": CsvEncoding("gb18030", "gb18030"),
}
"""The encodings a CSV answer may be asked for (``utf-8`` is written with a BOM)."""


def csv_encoding(name: str | None) -> CsvEncoding:
    """The encoding called ``name`` (``utf-8`` when None; case, ``-`` and ``_`` ignored);
    ``unsupported_encoding`` for any other."""
    key = (name or "utf-8").strip().lower().replace("_", "-").replace("utf8", "utf-8")
    if key not in CSV_ENCODINGS:
        raise InvalidInput(
            f"不支持的 CSV 编码 {name}，可选 {' 或 '.join(CSV_ENCODINGS)} "
            f"(unsupported CSV encoding; use {' or '.join(CSV_ENCODINGS)})",
            code="unsupported_encoding",
            details={"encoding": name, "supported": list(CSV_ENCODINGS)},
        )
    return CSV_ENCODINGS[key]
