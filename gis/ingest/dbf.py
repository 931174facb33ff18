"""A shapefile's ``.dbf`` as encoding detection reads it: header, field names and values, each
checked with a strict decode (``gis.ingest.encoding`` decides what to try).

A character cut in half at the end of a full-width value or of a 10-byte field name does not
count as undecodable: GDAL itself cuts long UTF-8 names (``网格员联系电话`` → ``网格员\\xe8``,
and ``网格\\xe5\\x91_1`` when laundering duplicates).  Deleted records are not checked.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gis.errors import InvalidInput

CHUNK_BYTES = 1 << 20
"""Records are checked about this many bytes at a time."""


def _is_cut_char(tail: bytes, codec: str) -> bool:
    """Whether ``tail`` (held back by an incremental decoder) starts one valid character."""
    if not tail:
        return True
    if codec == "utf-8":  # Python's UTF-8 decoder only holds back valid prefixes
        return True
    if codec == "gb18030":
        return (
            len(tail) <= 3
            and 0x81 <= tail[0] <= 0xFE
            and (len(tail) < 2 or 0x30 <= tail[1] <= 0x39)
            and (len(tail) < 3 or 0x81 <= tail[2] <= 0xFE)
        )
    return len(tail) == 1 and any(_decodes(tail + bytes([b]), codec) for b in range(0x40, 0x100))


def _decodes(raw: bytes, codec: str, *, may_be_cut: bool = False) -> bool:
    try:
        raw.decode(codec)
    except UnicodeDecodeError:
        if not may_be_cut:
            return False
        decoder = codecs.getincrementaldecoder(codec)()
        try:
            decoder.decode(raw, final=False)
        except UnicodeDecodeError:
            return False
        return _is_cut_char(decoder.getstate()[0], codec)
    return True


def _name_decodes(name: bytes, codec: str) -> bool:
    """A DBF field name: up to 10 bytes, which GDAL cuts anywhere and may suffix ``_1``/``01``."""
    if _decodes(name, codec, may_be_cut=len(name) >= 10):
        return True
    laundered = re.fullmatch(rb"(.{8})(?:_\d|\d\d)", name, re.DOTALL)
    return laundered is not None and _decodes(laundered[1], codec, may_be_cut=True)


@dataclass(frozen=True)
class Dbf:
    """The header of a ``.dbf``: where its records and fields are, and its field names."""

    path: Path
    ldid: int
    header_length: int
    record_length: int
    record_count: int  # as many whole records as the file really holds
    names: tuple[bytes, ...]
    fields: tuple[tuple[int, int], ...]  # (offset in the record, width)


@dataclass(frozen=True)
class Bad:
    """Where a strict decode failed: a field name (record None) or a value."""

    field: int
    record: int | None
    offset: int
    raw: bytes

    def where(self) -> tuple[str, str]:
        if self.record is None:
            return f"第 {self.field} 个字段名", f"field name {self.field}"
        return (
            f"第 {self.record} 条记录的第 {self.field} 个字段",
            f"record {self.record}, field {self.field}",
        )

    def details(self) -> dict[str, object]:
        return {
            "field": self.field,
            "record": self.record,
            "offset": self.offset,
            "bytes": self.raw.rstrip(b" \x00")[:16].hex(" "),
        }


def _corrupt(path: Path) -> InvalidInput:
    return InvalidInput(
        f"DBF 文件头已损坏：{path.name} (the .dbf header is corrupt)",
        code="unreadable_file",
        details={"file": path.name},
    )


def read_dbf(path: Path) -> Dbf:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(32)
        if len(head) < 32:
            raise _corrupt(path)
        count = int.from_bytes(head[4:8], "little")
        header_length = int.from_bytes(head[8:10], "little")
        record_length = int.from_bytes(head[10:12], "little")
        if header_length < 33 or record_length < 1 or size < header_length:
            raise _corrupt(path)
        descriptors = f.read(header_length - 32)
    names: list[bytes] = []
    fields: list[tuple[int, int]] = []
    offset = 1  # byte 0 of a record is the deletion flag
    for start in range(0, len(descriptors) - 31, 32):
        d = descriptors[start : start + 32]
        if d[0] == 0x0D or offset >= record_length:
            break
        width = d[16] if d[11:12] in (b"N", b"F") else d[16] + 256 * d[17]
        names.append(d[:11].split(b"\x00", 1)[0])
        fields.append((offset, min(width, record_length - offset)))
        offset += width
    return Dbf(
        path=path,
        ldid=head[29],
        header_length=header_length,
        record_length=record_length,
        record_count=min(count, (size - header_length) // record_length),
        names=tuple(names),
        fields=tuple(fields),
    )


def _blocks(dbf: Dbf) -> Iterator[tuple[int, bytes]]:
    """(number of the first record, bytes) for whole records, about a megabyte at a time."""
    per_block = max(1, CHUNK_BYTES // dbf.record_length)
    with dbf.path.open("rb") as f:
        f.seek(dbf.header_length)
        for first in range(0, dbf.record_count, per_block):
            count = min(per_block, dbf.record_count - first)
            yield first, f.read(count * dbf.record_length)


def first_bad(dbf: Dbf, codec: str) -> Bad | None:
    """The first field name or (undeleted) value that does not decode strictly, if any."""
    for i, name in enumerate(dbf.names):
        if not _name_decodes(name, codec):
            return Bad(field=i + 1, record=None, offset=32 * (i + 1), raw=name)
    length = dbf.record_length
    for first, block in _blocks(dbf):
        try:
            block.decode(codec)  # fast path: the whole block at once
            continue
        except UnicodeDecodeError:
            pass
        for r in range(len(block) // length):
            record = block[r * length : (r + 1) * length]
            if record[:1] == b"*":
                continue
            for k, (offset, width) in enumerate(dbf.fields):
                value = record[offset : offset + width]
                text = value.rstrip(b" \x00")
                if not _decodes(text, codec, may_be_cut=len(text) == width):
                    return Bad(
                        field=k + 1,
                        record=first + r + 1,
                        offset=dbf.header_length + (first + r) * length + offset,
                        raw=value,
                    )
    return None


def is_ascii(dbf: Dbf) -> bool:
    return all(n.isascii() for n in dbf.names) and all(b.isascii() for _, b in _blocks(dbf))
