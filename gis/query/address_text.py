"""Free Chinese address text: one normal form of every spelling, and its parts.

Other systems send addresses as people type them (full-width digits, Chinese numerals,
"5-2-301", with or without "河北省唐山市迁西县…").  :func:`normalize` reduces every
spelling to one form (the registry stores that form of each standard address);
:func:`parse` splits it into road, doorplate, compound, building, unit and room.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# --------------------------------------------------------------------------- normalisation

_CN_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_MULTIPLIERS = {"十": 10, "百": 100, "千": 1000}
# a Chinese numeral directly before a marker of a numbered part (号, 栋, 单元, 室 …)
_CN_NUMBERED = re.compile(r"[〇零一二两三四五六七八九十百千]+(?=号|栋|幢|座|单元|室|层|楼)")
_DIGIT_DASH = re.compile(r"(?<=\d)[-‐‑‒–—―~一](?=\d)")  # 一 too: "5一2一301" typed by hand
_HASH_BUILDING = re.compile(r"(\d+)#楼?")  # 5#楼, 5# → 5号楼
_NOISE = re.compile(r"[^\w-]|_")  # spaces, punctuation, symbols
_STRAY_DASH = re.compile(r"(?<!\d)-|-(?!\d)")
_BUILDING_MARK = re.compile(r"([0-9A-Z]+)(?:号楼|号?[栋幢座])")
_BUILDING_UNIT_ROOM = re.compile(r"(\d+)-(\d+)-(\d+)(?:室|号)?")
_UNIT_ROOM = re.compile(r"(\d+)号楼(\d+)-(\d+)(?:室|号)?")
_BARE_ROOM = (  # 2单元301 → 2单元301室; 5号楼1201 → 5号楼1201室
    re.compile(r"(\d+单元)(\d+)号?(?![\d室])"),
    re.compile(r"(号楼)(\d{3,4})号?(?![\d室单])"),
)
# a leading 省/市/县/区/街道/镇 name: 2–10 Han characters and the suffix; not …小区/…社区
# (a compound), and not the 区 of a following 街道 (新区街道 is one street)
_ADMIN_PREFIX = re.compile(
    r"[\u4e00-\u9fff]{2,10}?"
    r"(?:省|自治区|市|自治州|地区|盟|县|旗|(?<![小社园校景厂营])区|街道|镇)"
    r"(?!街道|道)"
)


def chinese_number(numeral: str) -> int:
    """The value of a Chinese numeral: digit by digit (三〇一 → 301) or with 十/百/千 (十二 → 12,
    一百零五 → 105, 两百 → 200)."""
    if not any(c in _CN_MULTIPLIERS for c in numeral):
        return int("".join(str(_CN_DIGITS[c]) for c in numeral))
    total, digit = 0, None
    for c in numeral:
        if c in _CN_MULTIPLIERS:
            total += (1 if digit is None else digit) * _CN_MULTIPLIERS[c]
            digit = None
        else:
            digit = _CN_DIGITS[c]
    return total + (digit or 0)


def normalize(address: str) -> str:
    """The form of an address used for matching; the same rules apply to stored addresses.

    In order: NFKC (full-width digits, letters and dashes become ASCII) and upper case;
    a dash (or 一) between digits becomes "-", "5#楼" becomes 5号楼; spaces, punctuation and
    symbols go; Chinese numerals before 号/栋/幢/座/单元/室/层/楼 become digits (五号楼 → 5号楼,
    三〇一室 → 301室); 栋/幢/座/号楼 become 号楼; "5-2-301" and "5号楼2-301" become
    5号楼2单元301室; a number after 单元 (or of 3–4 digits after 号楼) gets its 室; finally
    leading province, city, county, district, street and town names (河北省唐山市迁西县栗乡街道
    …) are dropped, as long as something is left.
    """
    s = unicodedata.normalize("NFKC", address).upper()
    s = _HASH_BUILDING.sub(r"\1号楼", _DIGIT_DASH.sub("-", re.sub(r"\s+", "", s)))
    s = _STRAY_DASH.sub("", _NOISE.sub("", s))
    s = _CN_NUMBERED.sub(lambda m: str(chinese_number(m[0])), s)
    s = _BUILDING_MARK.sub(r"\1号楼", s)
    s = _BUILDING_UNIT_ROOM.sub(r"\1号楼\2单元\3室", s)
    s = _UNIT_ROOM.sub(r"\1号楼\2单元\3室", s)
    for bare_room in _BARE_ROOM:
        s = bare_room.sub(r"\1\2室", s)
    while (prefix := _ADMIN_PREFIX.match(s)) and prefix.end() < len(s):
        s = s[prefix.end() :]
    return s


# --------------------------------------------------------------------------- parsing

_ROAD = re.compile(r"^(\D*?(?:大街|大道|路|街|巷|胡同))(?:(\d+(?:-\d+)?)号(?!楼))?")
_COMPOUND = re.compile(r"\D+")
_BUILDING = re.compile(r"([0-9A-Z]+)号楼")
_UNIT = re.compile(r"(\d+)单元")
_ROOM = re.compile(r"(\d+)室")
_UNIT_AND_ROOM = re.compile(r"(?:\d+单元)?(?:\d+室)?$")
_DOORPLATE = re.compile(r"(?:大街|大道|路|街|巷|胡同)(\d+(?:-\d+)?号)(?!楼)")
ROAD_NAME_CHARS = 8
"""Longest road name (before its 路/街/… marker) a doorplate probe assumes."""


@dataclass(frozen=True)
class ParsedAddress:
    """The parts of a normalised address (None where absent)."""

    normalized: str
    road: str | None = None
    road_number: str | None = None
    compound: str | None = None
    building: str | None = None
    unit: int | None = None
    room: int | None = None

    @property
    def building_key(self) -> str:
        """The normalised text without unit and room: what a building's row stores."""
        return _UNIT_AND_ROOM.sub("", self.normalized)

    def place_prefixes(self) -> list[str]:
        """Texts that a registry entry at one of the query's doorplates begins with.

        A registry text begins with road and doorplate ("安安路25号…"); in the query the road
        may follow something else (a compound written first: "阳光小区安安路25号"), so the
        name's start is unknown: each doorplate gives the marker and number with 1 to
        :data:`ROAD_NAME_CHARS` characters of name before them.
        """
        out = []
        for m in _DOORPLATE.finditer(self.normalized):
            head, marker = self.normalized[: m.start(1)], len(m[0]) - len(m[1])
            start = max(0, len(head) - marker - ROAD_NAME_CHARS)
            out += [head[i:] + m[1] for i in range(start, len(head) - marker)]
        return out

    def place_suffixes(self) -> list[str]:
        """Texts that a registry entry of the query's compound ends with: compound and
        building ("阳光小区5号楼"); the compound alone (its own entry) too when the query
        names no doorplate (else that entry begins with the doorplate)."""
        if self.compound is None:
            return []
        out = [f"{self.compound}{self.building}号楼"] if self.building else []
        return out if self.road_number else [*out, self.compound]

    def typo_probes(self) -> tuple[list[str], list[str]]:
        """Prefixes and suffixes of the registry texts one edit from the query's
        :attr:`building_key` (a character wrong, missing or extra, as a typo makes).

        Such a text agrees with the key but for position ``j``: it begins with ``key[:j]``
        and ends with ``key[j + 1:]``; of the two the longer is probed (the fewer entries
        share it), so every ``j`` is covered by a probe of at least half the key.
        """
        key = self.building_key or self.normalized
        prefixes, suffixes = [], []
        for j in range(len(key)):
            head, tail = key[:j], key[j + 1 :]
            if len(head) >= len(tail):
                prefixes.append(head)
            else:
                suffixes.append(tail)
        return [p for p in prefixes if p], suffixes

    def affixes(self) -> tuple[list[str], list[str]]:
        """Every prefix and suffix of the query's :attr:`building_key` of two characters or
        more (those of :meth:`typo_probes` among them): the entries sharing a beginning or
        an end with a query nothing matches, whose most similar are its suggestions."""
        key = self.building_key or self.normalized
        ends = range(2, len(key) + 1)
        return [key[:i] for i in ends], [key[-i:] for i in ends]

    def unit_and_room_text(self) -> tuple[str | None, str | None]:
        """The unit and room numbers as written in the normalised text (leading zeros kept)."""
        unit, room = _UNIT.search(self.normalized), _ROOM.search(self.normalized)
        return (unit[1] if unit else None), (room[1] if room else None)

    def rest(self, level: str) -> str | None:
        """The part of the normalised text finer than an entry of ``level`` (of a building:
        unit and room, "2单元301室"; of a compound: from the building on), or None."""
        if level == "building":
            start = len(self.building_key)
        elif level == "compound" and (building := _BUILDING.search(self.normalized)):
            start = building.start()
        else:
            return None
        return self.normalized[start:] or None


def parse_normalized(s: str) -> ParsedAddress:
    """:func:`parse` of a text already normalised (a stored ``addresses.normalized``)."""
    road = _ROAD.match(s)
    building = _BUILDING.search(s)
    unit = _UNIT.search(s)
    room = _ROOM.search(s)
    start = road.end() if road else 0
    compound = _COMPOUND.match(s, start, building.start() if building else len(s))
    return ParsedAddress(
        normalized=s,
        road=road[1] if road else None,
        road_number=road[2] if road else None,
        compound=compound[0] if compound else None,
        building=building[1] if building else None,
        unit=int(unit[1]) if unit else None,
        room=int(room[1]) if room else None,
    )


def parse(address: str) -> ParsedAddress:
    """Normalise ``address`` and split it into road, doorplate, compound, building, unit, room.

    Heuristic: the road is the text up to the first 路/街/大街/大道/巷/胡同, followed by an
    optional doorplate number (…号); the compound is the text after that up to the
    building number (…号楼); then …单元 and …室.
    """
    return parse_normalized(normalize(address))
