"""Names, people and address text of the generated province (``gis.demo.province``).

Every name is two characters of :data:`CHARS` and a suffix: counties unique in the province,
streets in their county, communities in their street, roads and compounds in their street —
so a grid's address (road + doorplate + compound + building) is unique in its street, and
the admin prefix (省 县/区 街道/镇) the matcher strips is unique in the province.  The
characters avoid numerals, road and compound markers (路 街 道 号 楼 …) and admin suffixes,
so :func:`gis.query.address_text.parse` splits the text as written.
"""

from __future__ import annotations

import numpy as np

PROVINCE = "河北省"
CHARS = (
    "安平宁康泰和兴华新阳明光丰盛永昌隆福寿乐清泉河山林园"
    "春秋云龙凤鸣金玉文武德仁义礼智信东西南北嘉瑞祥"
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉红梅志海燕丹凤"
ROAD_SUFFIXES = ("路", "街", "大街", "大道")
COMPOUND_SUFFIXES = ("小区", "家园", "花园", "苑", "公寓")
ROADS_PER_STREET = 12


def two_chars(index: np.ndarray) -> list[str]:
    """The two-character name of each index (< ``len(CHARS)``²)."""
    n = len(CHARS)
    return [CHARS[i // n] + CHARS[i % n] for i in index.tolist()]


def distinct_in(group: np.ndarray, rng: np.random.Generator, choices: int) -> np.ndarray:
    """For items sorted by ``group``, an index below ``choices`` distinct within each group."""
    out = np.empty(len(group), int)
    bounds = np.r_[0, np.flatnonzero(np.diff(group)) + 1, len(group)]
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if b - a > choices:
            raise ValueError("more names needed in one parent than the pool holds")
        out[a:b] = rng.choice(choices, b - a, replace=False)
    return out


def region_names(
    parent: dict[str, np.ndarray], counts: dict[str, int], rng: np.random.Generator
) -> dict[str, list[str]]:
    """Names of the counties (县/区), streets (街道/镇), communities (社区/村) and grids
    (<community>第N网格, N its number in the code)."""
    pool = len(CHARS) ** 2
    county = [
        n + ("区" if r < 0.25 else "县")
        for n, r in zip(
            two_chars(rng.choice(pool, counts["county"], replace=False)),
            rng.random(counts["county"]).tolist(),
            strict=True,
        )
    ]
    is_street = rng.random(counts["street"]) < 0.4
    street = [
        n + ("街道" if s else "镇")
        for n, s in zip(
            two_chars(distinct_in(parent["street"], rng, pool)), is_street.tolist(), strict=True
        )
    ]
    urban = is_street[parent["community"]] | (rng.random(counts["community"]) < 0.15)
    community = [
        n + ("社区" if u else "村")
        for n, u in zip(
            two_chars(distinct_in(parent["community"], rng, pool)), urban.tolist(), strict=True
        )
    ]
    return {"county": county, "street": street, "community": community}


def people(n: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """``n`` grid workers' names and mobile numbers (synthetic)."""
    surname = rng.integers(0, len(SURNAMES), n).tolist()
    given = rng.integers(0, len(GIVEN), (n, 2)).tolist()
    two = (rng.random(n) < 0.6).tolist()
    phones = rng.integers(0, 10**8, n).tolist()
    prefixes = rng.choice(["138", "139", "150", "151", "152", "158", "159", "186", "187"], n)
    return (
        [
            SURNAMES[s] + GIVEN[g[0]] + (GIVEN[g[1]] if t else "")
            for s, g, t in zip(surname, given, two, strict=True)
        ],
        [f"{p}{d:08d}" for p, d in zip(prefixes.tolist(), phones, strict=True)],
    )


def street_places(
    street_of_grid: np.ndarray, rng: np.random.Generator
) -> tuple[list[str], list[int], list[str]]:
    """Each grid's road, doorplate number and compound (grids sorted by street): roads and
    compounds named distinctly within the street, doorplates odd and rising along a road."""
    n = len(street_of_grid)
    pool = len(CHARS) ** 2
    bounds = np.r_[0, np.flatnonzero(np.diff(street_of_grid)) + 1, n]
    roads, numbers = [""] * n, [0] * n
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        names = two_chars(rng.choice(pool, ROADS_PER_STREET, replace=False))
        suffix = rng.integers(0, len(ROAD_SUFFIXES), ROADS_PER_STREET).tolist()
        used = [0] * ROADS_PER_STREET
        for i, r in enumerate(rng.integers(0, ROADS_PER_STREET, b - a).tolist()):
            used[r] += 1
            roads[a + i] = names[r] + ROAD_SUFFIXES[suffix[r]]
            numbers[a + i] = 2 * used[r] - 1
    compound = distinct_in(street_of_grid, rng, pool * len(COMPOUND_SUFFIXES))
    compounds = [
        n + COMPOUND_SUFFIXES[c % len(COMPOUND_SUFFIXES)]
        for n, c in zip(
            two_chars(compound // len(COMPOUND_SUFFIXES)), compound.tolist(), strict=True
        )
    ]
    return roads, numbers, compounds
