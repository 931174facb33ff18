"""A province-sized synthetic address registry and messy queries of it, for the address
matching test at scale (``tests/db/test_address_scale.py``) and its benchmark
(``bench/address_match.py``).

Entries follow the demo registry's grammar — 省 县/区 街道/镇, 路/街/大街/大道 + 号, a compound
(小区/家园/花园/苑/公寓), its buildings (号楼) — with the names of ``gis.demo.province_names``
drawn Zipf-like, so a few road and compound names recur all over the province (as 人民路 and
阳光小区 do): their trigrams are in most entries, which is what makes trigram search slow.
Each road name's doorplates are numbered across the province, so every entry's normalised
text (without the admin prefix, which the matcher strips) is unique: every messy query has
one right answer.  Deterministic for a seed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
from sqlalchemy import Engine, text

from gis.demo.province_names import (
    CHARS,
    COMPOUND_SUFFIXES,
    PROVINCE,
    ROAD_SUFFIXES,
    two_chars,
)
from gis.query.address_text import normalize

BUILDINGS = (4, 12)
"""Buildings of a compound: uniform in this range (inclusive)."""
DOORPLATES = 0.1
"""Share of places that are a doorplate only (no compound)."""
ZIPF = 1.1
"""Exponent of the names' popularity (rank r drawn ∝ r^-ZIPF)."""


@dataclass(frozen=True)
class Entry:
    """A registry entry and the parts the messy forms rewrite."""

    code: str
    address: str
    admin: str
    road: str
    number: int
    compound: str | None
    building: int | None

    @property
    def kind(self) -> str:
        """What the entry is: a building, a compound or a doorplate."""
        if self.building is not None:
            return "building"
        return "doorplate" if self.compound is None else "compound"


def _zipf(rng: np.random.Generator, pool: int, n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, pool + 1) ** ZIPF
    return rng.choice(pool, n, p=weights / weights.sum())


def entries(n: int, seed: int = 16) -> list[Entry]:
    """``n`` registry entries: places (road + doorplate [+ compound entry + buildings])
    until ``n`` is reached."""
    return list(iter_entries(n, seed))


def iter_entries(n: int, seed: int = 16) -> Iterator[Entry]:
    """The entries of :func:`entries` one by one (10 000 000 of them as a list take ~4 GB)."""
    rng = np.random.default_rng(seed)
    pool = len(CHARS) ** 2
    places = n // 8 + 1
    roads = [
        name + ROAD_SUFFIXES[i % len(ROAD_SUFFIXES)]
        for name, i in zip(two_chars(_zipf(rng, pool, places)), range(places), strict=True)
    ]
    compounds = [
        name + COMPOUND_SUFFIXES[int(k) % len(COMPOUND_SUFFIXES)]
        for name, k in zip(
            two_chars(_zipf(rng, pool, places)),
            rng.integers(0, len(COMPOUND_SUFFIXES), places),
            strict=True,
        )
    ]
    counties = [n + "县" for n in two_chars(rng.choice(pool, 150, replace=False))]
    streets = [n + "街道" for n in two_chars(rng.choice(pool, 60, replace=False))]
    county = rng.integers(0, len(counties), places).tolist()
    street = rng.integers(0, len(streets), places).tolist()
    doorplate_only = (rng.random(places) < DOORPLATES).tolist()
    buildings = rng.integers(BUILDINGS[0], BUILDINGS[1] + 1, places).tolist()
    used: dict[str, int] = {}
    made = 0
    for p in range(places):
        road = roads[p]
        used[road] = number = used.get(road, 0) + 1
        admin = f"{PROVINCE}{counties[county[p]]}{streets[street[p]]}"
        place = f"{road}{2 * number - 1}号"
        code = f"DS{p:08d}"
        if doorplate_only[p]:
            place_entries = [
                Entry(code + "00", admin + place, admin, road, 2 * number - 1, None, None)
            ]
        else:
            compound = compounds[p]
            place_entries = [
                Entry(
                    f"{code}{b:02d}",
                    f"{admin}{place}{compound}{b}号楼" if b else admin + place + compound,
                    admin,
                    road,
                    2 * number - 1,
                    compound,
                    b or None,
                )
                for b in range(buildings[p] + 1)
            ]
        yield from place_entries[: n - made]
        made += len(place_entries)
        if made >= n:
            return


_CHUNK = 100_000
"""Entries written by one COPY buffer (a province's registry does not fit one in memory)."""


def _copy_lines(rows: list[Entry], rng: np.random.Generator) -> str:
    lon = rng.uniform(114.0, 119.5, len(rows)).tolist()
    lat = rng.uniform(36.5, 42.0, len(rows)).tolist()
    buffer = io.StringIO()
    for r, x, y in zip(rows, lon, lat, strict=True):
        building = "" if r.building is None else str(r.building)
        households = "\\N" if r.building is None else str(20 + 7 * r.building)
        fields = (
            r.code,
            r.address,
            normalize(r.address),
            r.road,
            str(r.number),
            r.compound or "\\N",
            building or "\\N",
            "\\N" if r.building is None else "2",
            "\\N" if r.building is None else "6",
            households,
            f"SRID=4326;POINT({x:.7f} {y:.7f})",
        )
        buffer.write("\t".join(fields) + "\n")
    return buffer.getvalue()


def load(engine: Engine, rows: Iterable[Entry], seed: int = 16) -> None:
    """Write the entries into ``addresses`` by COPY, :data:`_CHUNK` at a time, normalised
    as an upload writes them (points scattered over northern Hebei); its indexes built
    afresh, then VACUUM ANALYZE."""
    rng = np.random.default_rng(seed)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            # the table's secondary indexes are dropped and built again after the rows are
            # in: several times faster than growing them row by row
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'addresses' "
                "AND indexdef NOT LIKE 'CREATE UNIQUE%'"
            )
            indexes = cur.fetchall()
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            with cur.copy(
                "COPY addresses (code, address, normalized, road, road_number, compound, "
                "building, units, floors, households, geom) FROM STDIN"
            ) as copy:
                it = iter(rows)
                while chunk := list(islice(it, _CHUNK)):
                    copy.write(_copy_lines(chunk, rng))
            cur.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in indexes:
                cur.execute(definition)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE addresses"))


# --------------------------------------------------------------------------- messy queries

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_DIGITS = "〇一二三四五六七八九"


def chinese(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十 (numbers below 100: a building number in words)."""
    tens, ones = divmod(n, 10)
    return ("" if tens == 0 else ("" if tens == 1 else _DIGITS[tens]) + "十") + (
        _DIGITS[ones] if ones or not tens else ""
    )


def misspelt(address: str, name: str) -> str:
    """``address`` with the second character of ``name`` in it wrong (a typo a matcher must
    forgive)."""
    wrong = name[0] + ("先" if name[1] != "先" else "光") + name[2:]
    return address.replace(name, wrong, 1)


def _typo(e: Entry) -> str:
    """One character of the compound's (or, for a doorplate, the road's) name wrong."""
    return misspelt(e.address, e.compound or e.road)


def _spaced(e: Entry) -> str:
    rest = e.address.removeprefix(e.admin)
    return f" {e.admin[:3]} {e.admin[3:]}  {rest[: len(e.road)]} {rest[len(e.road) :]} "


FORMS: dict[str, Callable[[Entry], str]] = {
    "exact": lambda e: e.address,
    "typo": _typo,
    "full-width": lambda e: e.address.translate(FULL_WIDTH),
    "chinese numerals": lambda e: (
        e.address
        if e.building is None
        else e.address.replace(f"{e.building}号楼", f"{chinese(e.building)}号楼")
    ),
    "5-2-301": lambda e: (
        e.address.removeprefix(e.admin)
        if e.building is None
        else f"{e.road}{e.number}号{e.compound}{e.building}-2-301"
    ),
    "no district": lambda e: e.address.removeprefix(e.admin),
    "extra spaces": _spaced,
    "swapped": lambda e: (
        e.address.removeprefix(e.admin)
        if e.compound is None
        else f"{e.compound}{e.road}{e.number}号" + ("" if e.building is None else f"{e.building}栋")
    ),
}
"""The messy spellings a query of an entry may take (the demo's lookup test's forms, and
the admin prefix missing, spaces, the compound before the road)."""


def picks(n: int, k: int, seed: int = 7) -> list[int]:
    """Indices of ``k`` of ``n`` entries drawn at random (which :func:`messy_queries` asks)."""
    return np.random.default_rng(seed).choice(n, k, replace=False).tolist()


def messy(picked: list[Entry]) -> list[tuple[str, str, Entry]]:
    """(form, query text, entry meant) of each entry, the forms in turn."""
    forms = list(FORMS)
    return [
        (forms[i % len(forms)], FORMS[forms[i % len(forms)]](e), e) for i, e in enumerate(picked)
    ]


def messy_queries(rows: list[Entry], k: int, seed: int = 7) -> list[tuple[str, str, Entry]]:
    """``k`` (form, query text, entry meant) of entries drawn at random, forms in turn."""
    return messy([rows[p] for p in picks(len(rows), k, seed)])


def hit_rates(hits: list[tuple[str, Entry, bool]]) -> dict[str, float]:
    """Share of hits per form and kind of entry ("typo/building"), of (form, entry, hit)."""
    tally: dict[str, list[int]] = {}
    for form, entry, hit in hits:
        counts = tally.setdefault(f"{form}/{entry.kind}", [0, 0])
        counts[0] += hit
        counts[1] += 1
    return {group: h / n for group, (h, n) in sorted(tally.items())}


def from_registry(rows: list[dict[str, str]]) -> list[Entry]:
    """The entries of a registry file's rows (``gis.store.demo_files.read_addresses``)."""
    return [
        Entry(
            r["code"],
            r["address"],
            r["address"][: r["address"].index(r["road"] + r["road_number"] + "号")],
            r["road"],
            int(r["road_number"]),
            r["compound"] or None,
            int(r["building"]) if r["building"] else None,
        )
        for r in rows
    ]
