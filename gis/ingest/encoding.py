"""Choosing the text encoding of uploaded files, so that no Chinese name is ever garbled.

Shapefile attributes (and field names) are bytes in some code page.  GDAL picks it from the
``.cpg`` file, else from the DBF language-driver byte (LDID, header offset 29), else silently
decodes ISO-8859-1: a GBK file without a ``.cpg`` comes out as mojibake with no error.  So we
decide ourselves and pass the result to pyogrio explicitly.

Rules of :func:`detect_dbf_encoding`, first match wins:

1. an explicit override (validated: unknown name → ``unknown_encoding``; bytes that do not
   decode strictly → ``undecodable_encoding``);
2. the ``.cpg`` file (``UTF-8``, ``utf8``, ``65001``, ``GBK``, ``936``, ``CP936``, ``ANSI 936``,
   ``GB2312``, ``GB18030``, ``88591``, ``1252`` …; unknown text is ignored);
3. the LDID byte (:data:`LDID_ENCODINGS`; 0x4D/0x7A = GBK; 0x57 means "the Windows ANSI code
   page" and is ambiguous, 0x00 means nothing);
4. strict UTF-8 (a plain-ASCII DBF is UTF-8 too);
5. strict GB18030;
6. otherwise ``undecodable_encoding``.

A declaration (2, 3) is trusted only if every field name and value decodes strictly with it;
otherwise the next rule applies and the reason says the declaration was wrong.  A single-byte
declaration (ISO-8859-1, CP1252 …) decodes any bytes, so it is also skipped when the text is
non-ASCII valid UTF-8 — real Western text practically never is.  Deleted records are not
checked, and a character cut in half at the end of a full-width value or of a 10-byte field
name (GDAL itself cuts long UTF-8 names, e.g. ``网格员联系电话`` → ``网格员\\xe8``, and
``网格\\xe5\\x91_1`` when laundering duplicates) does not count as undecodable.

:func:`detect_text_encoding` (CSV, GeoJSON, KML bytes): override → UTF-8 BOM → strict UTF-8 →
strict GB18030 → ``undecodable_encoding``.

Encoding names (:func:`normalise_encoding_name`) are canonical names that both Python's
codecs and GDAL's iconv (glibc) accept: ``UTF-8``, ``GBK``, ``GB18030``, ``CP950``,
``CP932``, ``CP949``, ``CP874``, ``CP437``/``CP850``…, ``CP1250``–``CP1257`` (not CP1255),
``ISO-8859-1``/``-2``/``-5``/``-7``/``-9``/``-15``.  ``gbk``, ``cp936``, ``936``, ``GB2312`` and
``EUC-CN`` all become ``GBK``: GB2312 ⊂ GBK, and GBK maps A1A4 to ``·`` (U+00B7, the dot in
names such as 阿依古丽·买买提) where GB2312 codecs give ``・`` (U+30FB).

Verified with pyogrio 0.13 / GDAL 3.12: for shapefiles pyogrio hands ``encoding=`` to GDAL
as ``SHAPE_ENCODING`` (it beats both ``.cpg`` and LDID) and iconv recodes field names *and*
values; pyogrio then decodes UTF-8.  So the name must be one iconv knows: a Python-only name
(``utf_8``, ``cp65001``, ``utf-8-sig``) silently disables recoding, and ``GBK`` on GB18030
bytes silently mangles four-byte characters with only a warning.  glibc's GBK and CP936 agree
with Python's ``gbk`` on every two-byte code; glibc's GB18030 differs from Python's on 25
codes (e.g. FE51 → U+20087 instead of the private-use U+E816).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gis.errors import InvalidInput
from gis.ingest.dbf import Bad, first_bad, is_ascii, read_dbf

Source = Literal["override", "declared", "cpg", "ldid", "utf-8", "gb18030"]

UTF8_BOM = codecs.BOM_UTF8
MULTIBYTE = frozenset({"UTF-8", "GBK", "GB18030", "CP950", "CP932", "CP949"})
"""Canonical encodings with multi-byte characters; all others are single-byte code pages."""

_NAMED = {
    "utf8": "UTF-8",
    "utf8sig": "UTF-8",
    "gbk": "GBK",
    "gb2312": "GBK",
    "gb231280": "GBK",
    "euccn": "GBK",
    "gb18030": "GB18030",
    "gb180302000": "GB18030",
    "gb180302005": "GB18030",
    "big5": "CP950",
    "sjis": "CP932",
    "shiftjis": "CP932",
    "euckr": "CP949",
    "uhc": "CP949",
    "latin1": "ISO-8859-1",
    "l1": "ISO-8859-1",
    "latin2": "ISO-8859-2",
    "latin9": "ISO-8859-15",
}
_CODE_PAGES = {
    65001: "UTF-8",
    936: "GBK",
    54936: "GB18030",
    950: "CP950",
    932: "CP932",
    949: "CP949",
    874: "CP874",
    **{cp: f"CP{cp}" for cp in (437, 737, 850, 852, 857, 860, 861, 863, 865, 866)},
    **{cp: f"CP{cp}" for cp in (1250, 1251, 1252, 1253, 1254, 1256, 1257)},
    28591: "ISO-8859-1",
    28592: "ISO-8859-2",
    28595: "ISO-8859-5",
    28597: "ISO-8859-7",
    28599: "ISO-8859-9",
    28605: "ISO-8859-15",
}
_ISO_8859 = (1, 2, 5, 7, 9, 15)
ENCODINGS = frozenset(_CODE_PAGES.values())
"""Every canonical encoding name (all verified to round-trip through GDAL's iconv)."""

LDID_ENCODINGS = {
    **dict.fromkeys((0x01, 0x09, 0x0B, 0x0D, 0x0F, 0x11, 0x15, 0x18, 0x19, 0x1B), "CP437"),
    **dict.fromkeys((0x02, 0x0A, 0x0E, 0x10, 0x12, 0x14, 0x16, 0x1A, 0x1D, 0x25, 0x37), "CP850"),
    **dict.fromkeys((0x1F, 0x22, 0x23, 0x40, 0x64, 0x87), "CP852"),
    **dict.fromkeys((0x08, 0x17, 0x66), "CP865"),
    **dict.fromkeys((0x26, 0x65), "CP866"),
    **dict.fromkeys((0x1C, 0x6C), "CP863"),
    **dict.fromkeys((0x6A, 0x86), "CP737"),
    **dict.fromkeys((0x6B, 0x88), "CP857"),
    0x24: "CP860",
    0x67: "CP861",
    **dict.fromkeys((0x03, 0x58, 0x59), "CP1252"),
    0xC8: "CP1250",
    0xC9: "CP1251",
    0xCB: "CP1253",
    0xCA: "CP1254",
    0x7E: "CP1256",
    0xCC: "CP1257",
    **dict.fromkeys((0x4D, 0x7A), "GBK"),
    **dict.fromkeys((0x4F, 0x78), "CP950"),
    **dict.fromkeys((0x13, 0x7B), "CP932"),
    **dict.fromkeys((0x4E, 0x79), "CP949"),
    **dict.fromkeys((0x50, 0x7C), "CP874"),
}
"""DBF language-driver byte → canonical encoding (ESRI's table; 0x57 "ANSI" is ambiguous)."""
LDID_ANSI = 0x57

_LANGUAGES = {
    "GBK": ("简体中文", "Simplified Chinese"),
    "CP950": ("繁体中文", "Traditional Chinese"),
    "CP932": ("日文", "Japanese"),
    "CP949": ("韩文", "Korean"),
    "CP874": ("泰文", "Thai"),
    "CP1252": ("西欧", "Western European"),
    "CP437": ("美国 DOS", "US DOS"),
    "CP850": ("西欧 DOS", "Western European DOS"),
}


@dataclass(frozen=True)
class EncodingChoice:
    """The encoding chosen for a file, where the choice came from, and why (for the report)."""

    encoding: str
    source: Source
    reason: str


def normalise_encoding_name(name: str) -> str:
    """The canonical name (see :data:`ENCODINGS`) for a user- or ``.cpg``-given encoding.

    ``gbk``/``cp936``/``936``/``GB2312`` → ``GBK``; ``utf8``/``65001`` → ``UTF-8``;
    ``gb18030``/``54936`` → ``GB18030``; ``88591``/``latin1`` → ``ISO-8859-1``; ``ANSI 1252``
    → ``CP1252``.  Anything else raises ``unknown_encoding``.
    """
    key = re.sub(r"[\s_.\-]", "", name).lower()
    canonical = _NAMED.get(key)
    if canonical is None and (match := re.fullmatch(r"(?:iso)?8859(\d{1,2})", key)):
        number = int(match[1])
        canonical = f"ISO-8859-{number}" if number in _ISO_8859 else None
    if canonical is None and (
        match := re.fullmatch(r"(?:cp|windows|win|ms|ibm|ansi|oem|codepage)?(\d{3,5})", key)
    ):
        canonical = _CODE_PAGES.get(int(match[1]))
    if canonical is None:
        shown = name.strip()[:40]
        raise InvalidInput(
            f"不支持的文字编码“{shown}”，请使用 UTF-8、GBK 或 GB18030 "
            f"(unknown encoding {shown!r}; use UTF-8, GBK or GB18030)",
            code="unknown_encoding",
            details={"encoding": shown, "supported": sorted(ENCODINGS)},
        )
    return canonical


def _codec(encoding: str) -> str:
    return codecs.lookup(encoding).name


def _reason(notes: list[tuple[str, str]], chinese: str, english: str) -> str:
    """One sentence: the notes about skipped declarations, then the decision."""
    return (
        "；".join([*(n[0] for n in notes), chinese])
        + f" ({'; '.join([*(n[1] for n in notes), english])})"
    )


def _read_cpg(cpg: Path) -> str:
    raw = cpg.read_bytes()[:200]
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    return text.splitlines()[0].strip() if text else ""


def detect_dbf_encoding(
    dbf: Path, cpg: Path | None = None, override: str | None = None
) -> EncodingChoice:
    """The encoding of a shapefile's ``.dbf`` (field names and values); see the module rules."""
    info = read_dbf(dbf)
    if override is not None:
        encoding = normalise_encoding_name(override)
        bad = first_bad(info, _codec(encoding))
        if bad is not None:
            cn, en = bad.where()
            others = [e for e in ("GB18030", "UTF-8") if e != encoding]
            raise InvalidInput(
                f"按 {encoding} 无法正确读取 {dbf.name}（{cn}），请改用 {' 或 '.join(others)} "
                f"(the file is not valid {encoding} at {en}; try {' or '.join(others)})",
                code="undecodable_encoding",
                details={"encoding": encoding, "file": dbf.name, "suggested": others}
                | bad.details(),
            )
        return EncodingChoice(
            encoding,
            "override",
            _reason([], f"按用户指定使用 {encoding}", f"encoding {encoding} chosen by the user"),
        )

    notes: list[tuple[str, str]] = []
    utf8: list[Bad | None] = []  # computed at most once

    def valid_utf8() -> bool:
        if not utf8:
            utf8.append(first_bad(info, "utf-8"))
        return utf8[0] is None

    def trusted(encoding: str, what_cn: str, what_en: str) -> bool:
        if first_bad(info, _codec(encoding)) is not None:
            notes.append(
                (
                    f"{what_cn}声明的 {encoding} 与文件内容不符",
                    f"{what_en} declares {encoding} but the bytes are not valid {encoding}",
                )
            )
            return False
        if encoding not in MULTIBYTE and valid_utf8() and not is_ascii(info):
            notes.append(
                (
                    f"{what_cn}声明的 {encoding} 与内容不符，内容是 UTF-8",
                    f"{what_en} declares {encoding} but the bytes are UTF-8",
                )
            )
            return False
        return True

    if cpg is not None and cpg.is_file():
        text = _read_cpg(cpg)
        try:
            encoding = normalise_encoding_name(text) if text else None
        except InvalidInput:
            encoding = None
        if encoding is None:
            notes.append(
                (f"无法识别 .cpg 内容“{text[:40]}”，已忽略", f"unrecognised .cpg {text[:40]!r}")
            )
        elif trusted(encoding, ".cpg 文件", "the .cpg file"):
            if text.upper() == encoding:
                said = (f"按 .cpg 文件声明使用 {encoding}", "declared by the .cpg file")
            else:
                said = (
                    f"按 .cpg 文件声明“{text}”使用 {encoding}",
                    f"the .cpg file declares {text!r}, read as {encoding}",
                )
            return EncodingChoice(encoding, "cpg", _reason(notes, *said))

    ldid = info.ldid
    if ldid == LDID_ANSI:
        notes.append(
            (
                "DBF 语言驱动标记 0x57 表示“系统默认代码页”，无法确定编码",
                "language driver 0x57 means 'the Windows ANSI code page', which is ambiguous",
            )
        )
    elif ldid in LDID_ENCODINGS:
        encoding = LDID_ENCODINGS[ldid]
        what = (f"DBF 语言驱动标记 0x{ldid:02X} ", f"language driver 0x{ldid:02X}")
        if trusted(encoding, *what):
            cn_lang, en_lang = _LANGUAGES.get(encoding, ("", ""))
            return EncodingChoice(
                encoding,
                "ldid",
                _reason(
                    notes,
                    f"按 DBF 语言驱动标记 0x{ldid:02X} 使用 {encoding}"
                    + (f"（{cn_lang}）" if cn_lang else ""),
                    f"declared by the DBF language driver byte 0x{ldid:02X}: {encoding}"
                    + (f", {en_lang}" if en_lang else ""),
                ),
            )
    elif ldid != 0:
        notes.append(
            (f"未知的 DBF 语言驱动标记 0x{ldid:02X}", f"unknown language driver 0x{ldid:02X}")
        )

    if valid_utf8():
        if is_ascii(info):
            said = ("文本均为 ASCII 字符，按 UTF-8 读取", "plain ASCII text, read as UTF-8")
        else:
            said = ("按内容识别为 UTF-8", "the bytes are valid UTF-8")
        return EncodingChoice("UTF-8", "utf-8", _reason(notes, *said))
    bad = first_bad(info, "gb18030")
    if bad is None:
        return EncodingChoice(
            "GB18030",
            "gb18030",
            _reason(
                notes,
                "按内容识别为 GB18030（兼容 GBK/GB2312）",
                "the bytes are valid GB18030, a superset of GBK/GB2312",
            ),
        )
    cn, en = bad.where()
    raise InvalidInput(
        f"无法识别 {dbf.name} 的文字编码：{cn}既不是 UTF-8 也不是 GB18030，请指定编码 "
        f"(cannot tell the text encoding: {en} is neither UTF-8 nor GB18030; "
        "specify the encoding)",
        code="undecodable_encoding",
        details={"file": dbf.name, "tried": ["UTF-8", "GB18030"]} | bad.details(),
    )


CHUNK = 1 << 20
"""Bytes of a text file read at a time when its encoding is detected or converted."""


@dataclass(frozen=True)
class BadBytes:
    """Where a text first fails to decode: its byte ``offset`` and the 16 bytes from there."""

    offset: int
    bytes: str


class TextBytes:
    """A text file's bytes — in memory, or a file read :data:`CHUNK` bytes at a time, so
    that a file of gigabytes is checked without being held."""

    def __init__(self, source: bytes | Path) -> None:
        self.source = source

    def chunks(self, skip: int = 0) -> Iterator[bytes]:
        """The bytes from offset ``skip`` on, a chunk at a time."""
        if isinstance(self.source, bytes):
            view = memoryview(self.source)
            for start in range(skip, len(view), CHUNK):
                yield bytes(view[start : start + CHUNK])
            return
        with self.source.open("rb") as f:
            f.seek(skip)
            while chunk := f.read(CHUNK):
                yield chunk

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes."""
        return next(self.chunks(), b"")[:n]

    def isascii(self) -> bool:
        return all(chunk.isascii() for chunk in self.chunks())

    def first_error(self, encoding: str, skip: int = 0) -> BadBytes | None:
        """Where the bytes from ``skip`` on first fail to decode strictly as ``encoding``
        (a character cut at the end counts), or None."""
        decoder = codecs.getincrementaldecoder(_codec(encoding))()
        offset = skip  # of the chunk being decoded
        chunks = self.chunks(skip)
        chunk = next(chunks, b"")
        while True:
            following = next(chunks, None)
            try:
                decoder.decode(chunk, final=following is None)
            except UnicodeDecodeError as error:
                held = len(error.object) - len(chunk)  # bytes kept from the chunk before
                at = offset - held + error.start
                return BadBytes(at, bytes(error.object[error.start : error.start + 16]).hex(" "))
            if following is None:
                return None
            offset += len(chunk)
            chunk = following


def detect_text_encoding(data: bytes | Path, override: str | None = None) -> EncodingChoice:
    """The encoding of a text file (CSV, GeoJSON, KML: its bytes, or the file, read in
    chunks): override, BOM, UTF-8, GB18030."""
    text = TextBytes(data)
    if override is not None:
        encoding = normalise_encoding_name(override)
        skip = len(UTF8_BOM) if encoding == "UTF-8" and text.head(3) == UTF8_BOM else 0
        bad = text.first_error(encoding, skip)
        if bad is not None:
            others = [e for e in ("GB18030", "UTF-8") if e != encoding]
            raise InvalidInput(
                f"按 {encoding} 无法正确读取文件（第 {bad.offset - skip} 字节处），"
                f"请改用 {' 或 '.join(others)} "
                f"(the file is not valid {encoding} at byte {bad.offset - skip}; "
                f"try {' or '.join(others)})",
                code="undecodable_encoding",
                details={
                    "encoding": encoding,
                    "suggested": others,
                    "offset": bad.offset - skip,
                    "bytes": bad.bytes,
                },
            )
        return EncodingChoice(
            encoding,
            "override",
            _reason([], f"按用户指定使用 {encoding}", f"encoding {encoding} chosen by the user"),
        )
    if text.head(3) == UTF8_BOM:
        bad = text.first_error("UTF-8", len(UTF8_BOM))
        if bad is not None:
            raise InvalidInput(
                f"文件以 UTF-8 标记（BOM）开头，但第 {bad.offset} 字节处不是 UTF-8，请指定编码 "
                f"(the file starts with a UTF-8 byte order mark but is not UTF-8 at byte "
                f"{bad.offset}; specify the encoding)",
                code="undecodable_encoding",
                details={"tried": ["UTF-8"], "offset": bad.offset},
            )
        return EncodingChoice(
            "UTF-8",
            "utf-8",
            _reason([], "文件带 UTF-8 标记（BOM）", "the file starts with a UTF-8 byte order mark"),
        )
    if text.first_error("UTF-8") is None:
        said = (
            ("文本均为 ASCII 字符，按 UTF-8 读取", "plain ASCII text, read as UTF-8")
            if text.isascii()
            else ("按内容识别为 UTF-8", "the bytes are valid UTF-8")
        )
        return EncodingChoice("UTF-8", "utf-8", _reason([], *said))
    bad = text.first_error("GB18030")
    if bad is not None:
        raise InvalidInput(
            f"无法识别文件的文字编码：第 {bad.offset} 字节处既不是 UTF-8 也不是 GB18030，"
            f"请指定编码 (cannot tell the text encoding: byte {bad.offset} is neither UTF-8 "
            "nor GB18030; specify the encoding)",
            code="undecodable_encoding",
            details={"tried": ["UTF-8", "GB18030"], "offset": bad.offset, "bytes": bad.bytes},
        )
    return EncodingChoice(
        "GB18030",
        "gb18030",
        _reason([], "按内容识别为 GB18030（兼容 GBK/GB2312）", "the bytes are valid GB18030"),
    )
