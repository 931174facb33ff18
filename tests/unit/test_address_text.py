"""Address text: Chinese numerals, normalisation (full width, punctuation, numbered parts,
building-unit-room, leading place names) and parsing into road, doorplate, compound, building,
unit and room."""

from __future__ import annotations

import pytest

from gis.query.address_text import chinese_number, normalize, parse

from demo_build.addresses import ADDRESS_PREFIX


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("五", 5),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十三", 23),
        ("三〇一", 301),
        ("二零一", 201),
        ("一百零五", 105),
        ("一百一十", 110),
        ("两百", 200),
        ("两千零一", 2001),
    ],
)
def test_chinese_numbers(numeral: str, value: int) -> None:
    assert chinese_number(numeral) == value


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        # NFKC: full-width digits, letters and dashes; upper case
        ("滦河路１２号阳光小区５号楼", "滦河路12号阳光小区5号楼"),
        ("阳光小区ａ座", "阳光小区A号楼"),
        ("兴安街１２－３号", "兴安街12-3号"),
        # spaces, punctuation and symbols go
        (" 阳光小区，5号楼 （东门）。", "阳光小区5号楼东门"),
        # Chinese numerals in numbered parts
        ("阳光小区五号楼", "阳光小区5号楼"),
        ("阳光小区十二栋", "阳光小区12号楼"),
        ("阳光小区5号楼二单元", "阳光小区5号楼2单元"),
        ("阳光小区5号楼两单元", "阳光小区5号楼2单元"),
        ("阳光小区5号楼2单元三〇一室", "阳光小区5号楼2单元301室"),
        ("兴安街一百零五号", "兴安街105号"),
        ("阳光小区二十三号楼", "阳光小区23号楼"),
        # … but not elsewhere: road and compound names keep theirs
        ("五一路3号", "五一路3号"),
        ("十里铺小区3号楼", "十里铺小区3号楼"),
        # 栋/幢/座/号栋/# → 号楼; a bare 楼 (maybe a floor) is left alone
        ("龙湾小区3栋", "龙湾小区3号楼"),
        ("龙湾小区3幢", "龙湾小区3号楼"),
        ("龙湾小区3座", "龙湾小区3号楼"),
        ("龙湾小区3号栋", "龙湾小区3号楼"),
        ("龙湾小区3#楼", "龙湾小区3号楼"),
        ("龙湾小区3#", "龙湾小区3号楼"),
        ("龙湾小区3楼", "龙湾小区3楼"),
        # building-unit-room
        ("阳光小区5-2-301", "阳光小区5号楼2单元301室"),
        ("阳光小区5—2—301", "阳光小区5号楼2单元301室"),
        ("阳光小区5－2－301室", "阳光小区5号楼2单元301室"),
        ("阳光小区5 - 2 - 301", "阳光小区5号楼2单元301室"),
        ("阳光小区5一2一301", "阳光小区5号楼2单元301室"),
        ("阳光小区5栋2-301", "阳光小区5号楼2单元301室"),
        ("阳光小区5号楼2单元301", "阳光小区5号楼2单元301室"),
        ("阳光小区5号楼2单元301号", "阳光小区5号楼2单元301室"),
        ("阳光小区5号楼1201", "阳光小区5号楼1201室"),
        ("阳光小区5号楼12", "阳光小区5号楼12"),
        # leading province/city/county/district/street/town names
        (ADDRESS_PREFIX + "滦河路12号", "滦河路12号"),
        ("迁西县滦河路12号", "滦河路12号"),
        ("内蒙古自治区呼和浩特市新城区新华大街1号", "新华大街1号"),
        ("唐山市路北区新区街道阳光小区", "阳光小区"),
        ("河北省迁西县兴城镇阳光小区", "阳光小区"),
        ("阳光小区5号楼", "阳光小区5号楼"),
        ("龙湾社区3号楼", "龙湾社区3号楼"),
        ("唐山市", "唐山市"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize(raw) == normalized
    assert normalize(normalized) == normalized, "idempotent"


def test_parse() -> None:
    full = parse(ADDRESS_PREFIX + "滦河路12号阳光小区五号楼二单元三〇一室")
    assert (full.road, full.road_number, full.compound, full.building, full.unit, full.room) == (
        "滦河路",
        "12",
        "阳光小区",
        "5",
        2,
        301,
    )
    assert full.building_key == "滦河路12号阳光小区5号楼"
    doorplate = parse("喜峰大街88号")
    assert (doorplate.road, doorplate.road_number, doorplate.compound) == ("喜峰大街", "88", None)
    compound = parse("阳光小区5号楼")
    assert (compound.road, compound.compound, compound.building) == (None, "阳光小区", "5")
    assert parse("滦河路5号楼").road_number is None, "5号楼 is a building, not a doorplate"
