"""Text-encoding detection of hand-made DBF files, byte for byte: values cut mid-character,
deleted records, undecodable and truncated files, reading in blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gis.errors import InvalidInput
from gis.ingest import dbf as dbf_module
from gis.ingest.encoding import (
    detect_dbf_encoding,
)


def write_dbf(
    path: Path,
    fields: list[tuple[bytes, int]],
    records: list[list[bytes]],
    *,
    ldid: int = 0,
    deleted: tuple[int, ...] = (),
) -> Path:
    """A minimal dBase III file with character fields, byte for byte as given."""
    header_length = 32 + 32 * len(fields) + 1
    record_length = 1 + sum(width for _, width in fields)
    head = (
        bytes([0x03, 125, 1, 1])
        + len(records).to_bytes(4, "little")
        + header_length.to_bytes(2, "little")
        + record_length.to_bytes(2, "little")
        + bytes(17)
        + bytes([ldid, 0, 0])
    )
    descriptors = b"".join(
        name.ljust(11, b"\x00") + b"C" + bytes(4) + bytes([width, 0]) + bytes(14)
        for name, width in fields
    )
    body = b"".join(
        (b"*" if i in deleted else b" ")
        + b"".join(v.ljust(width, b" ") for v, (_, width) in zip(record, fields, strict=True))
        for i, record in enumerate(records)
    )
    path.write_bytes(head + descriptors + b"\r" + body + b"\x1a")
    return path


def test_value_cut_mid_character_at_full_width(tmp_path: Path) -> None:
    cut = "黄梅县".encode()[:8]  # 9 bytes into an 8-byte field
    dbf = write_dbf(tmp_path / "a.dbf", [("名称".encode(), 8)], [[cut], ["鄂城区".encode()[:6]]])
    assert detect_dbf_encoding(dbf).encoding == "UTF-8"
    gbk = write_dbf(tmp_path / "b.dbf", [(b"NAME", 5)], [["黄梅县".encode("gbk")[:5]]])
    assert detect_dbf_encoding(gbk).encoding == "GB18030"


def test_value_cut_short_of_full_width_is_not_tolerated(tmp_path: Path) -> None:
    dbf = write_dbf(tmp_path / "a.dbf", [(b"NAME", 8)], [["黄梅县".encode()[:5]]])
    with pytest.raises(InvalidInput) as caught:
        detect_dbf_encoding(dbf)
    assert caught.value.code == "undecodable_encoding"


def test_deleted_records_are_not_checked(tmp_path: Path) -> None:
    records = [["名称".encode()], [b"\xff\xff"], ["编码".encode()]]
    dbf = write_dbf(tmp_path / "a.dbf", [(b"NAME", 8)], records, deleted=(1,))
    assert detect_dbf_encoding(dbf).encoding == "UTF-8"


def test_undecodable_dbf(tmp_path: Path) -> None:
    records = [["名称".encode("gbk")], [b"ok"], [b"\xa1\xa1\x80\xff"]]
    dbf = write_dbf(tmp_path / "a.dbf", [(b"NAME", 8), (b"CODE", 4)], [[*r, b"1"] for r in records])
    with pytest.raises(InvalidInput) as caught:
        detect_dbf_encoding(dbf)
    error = caught.value
    assert error.code == "undecodable_encoding"
    assert (error.details["record"], error.details["field"]) == (3, 1)
    assert error.details["tried"] == ["UTF-8", "GB18030"]
    assert "UTF-8" in error.message and "GB18030" in error.message


def test_records_are_read_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbf_module, "CHUNK_BYTES", 50)  # a few records per block
    records = [["黄梅县".encode()] for _ in range(200)]
    records[150] = [b"\xff"]
    dbf = write_dbf(tmp_path / "a.dbf", [(b"NAME", 9)], records)
    with pytest.raises(InvalidInput) as caught:
        detect_dbf_encoding(dbf, override="UTF-8")
    assert caught.value.details["record"] == 151
    assert caught.value.details["offset"] == 32 + 32 + 1 + 150 * 10 + 1


def test_truncated_dbf_checks_the_records_present(tmp_path: Path) -> None:
    dbf = write_dbf(tmp_path / "a.dbf", [(b"NAME", 6)], [["名称".encode()]] * 5)
    dbf.write_bytes(dbf.read_bytes()[:-20])  # claims 5 records, holds 3
    assert detect_dbf_encoding(dbf).encoding == "UTF-8"


def test_corrupt_dbf(tmp_path: Path) -> None:
    dbf = tmp_path / "a.dbf"
    dbf.write_bytes(b"\x03\x01\x02")
    with pytest.raises(InvalidInput) as caught:
        detect_dbf_encoding(dbf)
    assert caught.value.code == "unreadable_file"
