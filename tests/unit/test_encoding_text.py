"""Text-encoding detection of text files (CSV: UTF-8 with or without BOM, GBK, GB18030) and the
encoding names: aliases normalised to a closed set of canonical names."""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pytest

from gis.errors import InvalidInput
from gis.ingest import encoding
from gis.ingest.encoding import (
    ENCODINGS,
    LDID_ENCODINGS,
    TextBytes,
    detect_text_encoding,
    normalise_encoding_name,
)

from support import GRID_WORKERS

CSV = "名称,编码,网格员,户数,wkt\n" + "".join(
    f"{name},42112{i},{worker},{100 + i},POINT (115.9 30.1)\n"
    for i, (name, worker) in enumerate(
        zip(["黄梅县", "鄂城区", "龙里县", "鄠邑区"], GRID_WORKERS, strict=False)
    )
)


@pytest.mark.parametrize(
    ("data", "expected", "word"),
    [
        (CSV.encode("utf-8"), "UTF-8", "UTF-8"),
        (codecs.BOM_UTF8 + CSV.encode("utf-8"), "UTF-8", "BOM"),
        (CSV.encode("gbk"), "GB18030", "GB18030"),
        ((CSV + "6,刘䶮,陈𠀀\n").encode("gb18030"), "GB18030", "GB18030"),
        (b"code,wkt\n1,POINT (1 2)\n", "UTF-8", "ASCII"),
        (b"", "UTF-8", "ASCII"),
    ],
    ids=["utf8", "utf8-bom", "gbk", "gb18030-rare", "ascii", "empty"],
)
def test_text_detection(data: bytes, expected: str, word: str) -> None:
    choice = detect_text_encoding(data)
    assert choice.encoding == expected
    assert choice.source == ("utf-8" if expected == "UTF-8" else "gb18030")
    assert word in choice.reason
    text = data.removeprefix(codecs.BOM_UTF8).decode(choice.encoding)
    assert text.startswith("名称") or text.isascii()


def _random_bytes() -> bytes:
    return random.Random(20240601).randbytes(256)


@pytest.mark.parametrize(
    "data",
    [b"\x80", b"\xff", b"abc\xff", CSV.encode("gbk") + b"\x81\x20", _random_bytes()],
    ids=["0x80", "0xff", "trailing-0xff", "gbk-then-bad-pair", "random"],
)
def test_text_undecodable(data: bytes) -> None:
    for codec in ("utf-8", "gb18030"):  # GB18030 decodes almost anything, but not these
        with pytest.raises(UnicodeDecodeError):
            data.decode(codec)
    with pytest.raises(InvalidInput) as caught:
        detect_text_encoding(data)
    assert caught.value.code == "undecodable_encoding"
    assert caught.value.details["tried"] == ["UTF-8", "GB18030"]


def test_text_bom_but_not_utf8() -> None:
    with pytest.raises(InvalidInput) as caught:
        detect_text_encoding(codecs.BOM_UTF8 + CSV.encode("gbk"))
    assert caught.value.code == "undecodable_encoding"
    assert "BOM" in caught.value.message


def test_text_overrides() -> None:
    gbk = CSV.encode("gbk")
    choice = detect_text_encoding(gbk, "GB2312")
    assert (choice.encoding, choice.source) == ("GBK", "override")
    assert gbk.decode(choice.encoding) == CSV
    assert detect_text_encoding(codecs.BOM_UTF8 + CSV.encode(), "utf8").encoding == "UTF-8"
    with pytest.raises(InvalidInput) as caught:
        detect_text_encoding(gbk, "UTF-8")
    assert caught.value.code == "undecodable_encoding"
    assert caught.value.details["encoding"] == "UTF-8"
    assert "GB18030" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        detect_text_encoding(gbk, "utf-9")
    assert caught.value.code == "unknown_encoding"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("UTF-8", "UTF-8"), ("utf8", "UTF-8"), ("utf_8", "UTF-8"), ("65001", "UTF-8"),
        ("CP65001", "UTF-8"), ("utf-8-sig", "UTF-8"),
        ("GBK", "GBK"), ("gbk", "GBK"), ("cp936", "GBK"), ("CP936", "GBK"), ("936", "GBK"),
        ("ANSI 936", "GBK"), ("ms936", "GBK"), ("GB2312", "GBK"), ("gb_2312-80", "GBK"),
        ("EUC-CN", "GBK"),
        ("GB18030", "GB18030"), ("gb18030", "GB18030"), ("54936", "GB18030"),
        ("88591", "ISO-8859-1"), ("ISO-8859-1", "ISO-8859-1"), ("latin1", "ISO-8859-1"),
        ("885915", "ISO-8859-15"), ("1252", "CP1252"), ("windows-1252", "CP1252"),
        ("ANSI 1251", "CP1251"), ("ibm437", "CP437"), ("Big5", "CP950"), ("Shift_JIS", "CP932"),
        (" GBK\n", "GBK"),
    ],
)  # fmt: skip
def test_normalise_encoding_name(name: str, canonical: str) -> None:
    assert normalise_encoding_name(name) == canonical


@pytest.mark.parametrize("name", ["", "klingon", "utf-9", "8859", "ANSI 9999", "UTF-16", "ascii"])
def test_normalise_unknown(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_encoding_name(name)
    assert caught.value.code == "unknown_encoding"
    assert "GBK" in caught.value.details["supported"]


def test_canonical_names_are_closed() -> None:
    assert set(LDID_ENCODINGS.values()) <= ENCODINGS
    for name in ENCODINGS:
        assert normalise_encoding_name(name) == name
        codecs.lookup(name)  # Python knows it too


@pytest.mark.parametrize("codec", ["utf-8", "gb18030", "gbk"])
def test_a_file_read_in_chunks_fails_where_its_bytes_do(
    codec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk size cuts a character somewhere: the offset of the first bad byte and
    the decision are the whole bytes' own, and a character cut by a chunk is no error."""
    good = (CSV + "6,刘䶮,陈𠀀\n" if codec == "gb18030" else CSV).encode(codec)
    for bad_at in (0, 5, len(good) // 2, len(good)):
        data = good[:bad_at] + b"\xff" + good[bad_at:]
        with pytest.raises(UnicodeDecodeError) as whole:
            data.decode(codec)
        path = tmp_path / "t.csv"
        path.write_bytes(data)
        for chunk in (1, 2, 3, 7, 64):
            monkeypatch.setattr(encoding, "CHUNK", chunk)
            bad = TextBytes(path).first_error(codec)
            assert bad is not None and bad.offset == whole.value.start, (bad_at, chunk)
            path.write_bytes(good)
            assert TextBytes(path).first_error(codec) is None
            assert detect_text_encoding(path).encoding == detect_text_encoding(good).encoding
            path.write_bytes(data)
