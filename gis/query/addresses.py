"""The address registry: normalise free Chinese address text and find its address point.

:func:`normalize` (:mod:`gis.query.address_text`) reduces every spelling of an address to
one form; the registry stores that form of each standard address (``addresses.normalized``)
and :func:`match_address` compares it with the query's: exact first, then by pg_trgm
trigram similarity weighted by the parsed parts (road, doorplate, compound, building) that
agree.  On a province's registry (millions of entries sharing trigrams such as "号楼") a
trigram index search reads most of the index, so the entries compared are only those at
the query's doorplates, of its compound or one edit from it, found by btree range scans of
bounded length (:func:`_search`).

pg_trgm only makes trigrams of characters the database's LC_CTYPE calls alphanumeric:
with ``C`` no Chinese character is, every Chinese text has no trigrams, and any two of
them are "similar" (similarity 1).  gridmap's databases are created with ``C.UTF-8``
(``gis.store.db.create_database``, the embedded cluster's initdb), where they are;
:func:`match_address` refuses to run on a database where they are not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from gis.errors import InvalidInput, NotFound, Unavailable
from gis.query.address_text import (
    ParsedAddress,
    parse,
    parse_normalized,
)

LEVELS = ("building", "compound", "road")
"""What kind of registry entry a match is, finest first.  The registry holds buildings,
compounds and doorplates, not rooms: a query with unit and room ("5-2-301") matches its
building, and the unit and room are kept as text beside the match."""

MIN_CONFIDENCE = 0.5
"""Matches scoring below this are not accepted (``address_not_found``)."""
AMBIGUITY_MARGIN = 0.05
"""Other addresses within this score of the best make the match ambiguous."""
_CANDIDATES = 50  # entries scored per query (the most similar by trigrams)

# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class AddressRow:
    """A registry entry as a match returns it (lon/lat in EPSG:4326)."""

    code: str
    address: str
    lon: float
    lat: float
    compound: str | None
    building: str | None
    households: int | None
    region_code: str | None


@dataclass(frozen=True)
class AddressCandidate:
    """A registry entry, how precisely it locates the query, and how sure that is (0..1)."""

    row: AddressRow
    level: str
    confidence: float


@dataclass(frozen=True)
class AddressMatch:
    """The best registry entry for a query; ``candidates`` (best first) when ambiguous.

    As a mapping (:meth:`to_dict`) it keeps the query's ``unit`` and ``room`` as text, and
    the ``rest``: what the query says beyond the matched entry.
    """

    row: AddressRow
    level: str
    confidence: float
    parsed: ParsedAddress
    candidates: list[AddressCandidate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The match as a JSON-ready mapping."""
        unit, room = self.parsed.unit_and_room_text()
        return {
            "address": asdict(self.row),
            "level": self.level,
            "unit": unit,
            "room": room,
            "rest": self.parsed.rest(self.level),
            "confidence": self.confidence,
            "parsed": asdict(self.parsed),
            "candidates": [
                {"address": asdict(c.row), "level": c.level, "confidence": c.confidence}
                for c in self.candidates
            ],
        }


def _agreement(query: ParsedAddress, row: ParsedAddress) -> float | None:
    """How far the row agrees with the parts the query names (road, doorplate, compound,
    building), 0..1, or None if the query names none.

    Each part counts 1 if the row has it too, ½ if the row lacks it (a coarser entry, such
    as a compound's for a query with a building: it neither confirms nor contradicts), 0 if
    the row's differs — except a compound whose name starts with the query's, and a road
    the query's ends with (the query names something before the road: "阳光小区滦河路…"): ¾.
    """
    credits = []
    for part in ("road", "road_number", "compound", "building"):
        mine, theirs = getattr(query, part), getattr(row, part)
        if mine is None:
            continue
        if theirs is None or mine == theirs:
            credits.append(0.5 if theirs is None else 1.0)
        else:
            near = (part == "compound" and theirs.startswith(mine)) or (
                part == "road" and mine.endswith(theirs)
            )
            credits.append(0.75 if near else 0.0)
    return sum(credits) / len(credits) if credits else None


def _level(query: ParsedAddress, row: ParsedAddress) -> str:
    """What the row is for the query: its building, its compound, or its road (doorplate)."""
    if row.building is not None and row.building == query.building:
        return "building"
    if row.compound is not None and query.compound is not None:
        return "compound"
    return "road"


TRIGRAMS_READ_CHINESE: set[str] = set()
"""Databases (URLs without password) found to have a ctype in which pg_trgm reads Chinese;
asked once each — a database's ctype is fixed when it is created."""


def _check_trigrams(conn: Connection) -> None:
    database = conn.engine.url.render_as_string(hide_password=True)
    if database in TRIGRAMS_READ_CHINESE:
        return
    if not conn.scalar(text("SELECT show_trgm('栗乡') <> '{}'")):
        raise Unavailable(
            "数据库的 LC_CTYPE 不把汉字视为字母，无法做中文地址匹配；请用 C.UTF-8 等 UTF-8 "
            "ctype 创建数据库 (the database's LC_CTYPE treats Chinese characters as "
            "non-alphanumeric, so trigram matching cannot work: create it with a UTF-8 "
            "ctype such as C.UTF-8)",
            code="database_ctype_unsupported",
        )
    TRIGRAMS_READ_CHINESE.add(database)


_SIMILARITY = "(similarity(normalized, :key) + word_similarity(:key, normalized)) / 2"
_NEAR = "(normalized IN (:key, :full) OR normalized % :key OR :key <% normalized)"
_PROBE_ROWS = 500
"""Entries read per prefix or suffix probe (a compound name common in a province, with no
doorplate to narrow it, has thousands: the query is ambiguous anyway)."""
_PROBED = f"""
WITH near AS MATERIALIZED (
  SELECT code, normalized FROM addresses WHERE (normalized COLLATE "C") IN (:key, :full)
  UNION SELECT p.* FROM unnest(CAST(:prefixes AS text[])) AS k(probe), LATERAL (
    SELECT code, normalized FROM addresses WHERE (normalized COLLATE "C") >= k.probe
    AND (normalized COLLATE "C") < k.probe || chr(1114111) LIMIT {_PROBE_ROWS}) AS p
  UNION SELECT s.* FROM unnest(CAST(:suffixes AS text[])) AS k(probe), LATERAL (
    SELECT code, normalized FROM addresses
    WHERE (reverse(normalized) COLLATE "C") >= reverse(k.probe)
    AND (reverse(normalized) COLLATE "C") < reverse(k.probe) || chr(1114111)
    LIMIT {_PROBE_ROWS}) AS s),
scored AS (SELECT code, normalized, similarity(normalized, :key) AS s,
  word_similarity(:key, normalized) AS w FROM near)
SELECT code, normalized, (s + w) / 2 AS similarity FROM scored
WHERE normalized IN (:key, :full) OR s >= :t OR w >= :t
ORDER BY similarity DESC, code LIMIT :n
"""
"""The probed entries near the query: :data:`_NEAR` and :data:`_SIMILARITY` with each
similarity computed once, and the threshold ``:t`` a parameter (``a % b`` is
``similarity(a, b) >= pg_trgm.similarity_threshold``, ``a <% b`` ``word_similarity(a, b) >=
pg_trgm.word_similarity_threshold``): one statement, no settings to make first."""
_EVERYWHERE = (
    f"SELECT code, normalized, {_SIMILARITY} AS similarity FROM addresses WHERE {_NEAR} "
    "ORDER BY similarity DESC, code LIMIT :n"
)


@dataclass(frozen=True)
class _Similar:
    code: str
    normalized: str
    similarity: float


def _similar(
    conn: Connection,
    query: ParsedAddress,
    threshold: float,
    limit: int,
    probes: tuple[list[str], list[str]] | None = None,
) -> list[_Similar]:
    """Entries equal to the query (or its building) or trigram-similar above ``threshold``,
    most similar first; ``similarity`` is the mean of pg_trgm's similarity and word
    similarity (how much of the query the entry contains).

    Without ``probes`` the trigram GIN index finds them everywhere: on a province's
    registry that reads the posting lists of trigrams most entries share ("号楼", "小区"),
    ~1 s at 1 000 000 entries.  With ``probes`` (prefixes, suffixes) only among the
    entries whose text begins with a prefix or ends with a suffix, read from btree
    indexes of the text and of its reversed text (covering, so no table rows are read).
    """
    params: dict[str, Any] = {
        "key": query.building_key or query.normalized,
        "full": query.normalized,
        "n": limit,
    }
    if probes is None:  # the operators the trigram index serves read their thresholds here
        conn.execute(
            text(
                "SELECT set_config('pg_trgm.similarity_threshold', :t, true), "
                "set_config('pg_trgm.word_similarity_threshold', :t, true)"
            ),
            {"t": str(threshold)},
        )
    else:
        params |= {"prefixes": probes[0], "suffixes": probes[1], "t": threshold}
    rows = conn.execute(text(_EVERYWHERE if probes is None else _PROBED), params)
    return [_Similar(*r) for r in rows]


@dataclass(frozen=True)
class _Scored:
    entry: _Similar
    level: str
    confidence: float


def _score(query: ParsedAddress, entry: _Similar) -> _Scored:
    parts = parse_normalized(entry.normalized)
    agreement = _agreement(query, parts)
    if entry.normalized in (query.building_key, query.normalized):
        score = 1.0
    elif agreement is None:
        score = entry.similarity
    else:
        score = 0.4 * entry.similarity + 0.6 * agreement
    return _Scored(entry, _level(query, parts), round(score, 3))


def _ranked(entries: list[_Similar], query: ParsedAddress) -> list[_Scored]:
    return sorted((_score(query, e) for e in entries), key=lambda s: (-s.confidence, s.entry.code))


def _probes(query: ParsedAddress, affixes: bool = False) -> tuple[list[str], list[str]]:
    """The probes of a query's places and those one edit from it; with ``affixes``, of
    every beginning and end of the query (:meth:`ParsedAddress.affixes`) instead."""
    prefixes, suffixes = query.affixes() if affixes else query.typo_probes()
    return [*query.place_prefixes(), *prefixes], [*query.place_suffixes(), *suffixes]


def _search(
    conn: Connection, query: ParsedAddress, narrow: bool
) -> tuple[list[_Similar], list[_Scored]]:
    """The :data:`_CANDIDATES` most similar entries, and the same scored, best first.

    ``narrow``: first only the entries at the query's doorplates
    (:meth:`ParsedAddress.place_prefixes`) — an exact entry found there is the answer, as
    every entry within :data:`AMBIGUITY_MARGIN` of 1 agrees on road and doorplate, so
    begins with them; then with the entries of its compound
    (:meth:`ParsedAddress.place_suffixes`); when neither scores :data:`MIN_CONFIDENCE`
    (a typo in the one part given, say), with the entries one edit from the query too
    (:meth:`ParsedAddress.typo_probes`).  Every stage reads at most :data:`_PROBE_ROWS` a
    probe, so none grows with the registry (a trigram search of the whole registry took
    seconds at 1 000 000 entries).  Without ``narrow``: the whole registry.
    """
    if not narrow:
        entries = _similar(conn, query, 0.2, _CANDIDATES)
        return entries, _ranked(entries, query)
    prefixes, suffixes = query.place_prefixes(), query.place_suffixes()
    stages = [(prefixes, []), (prefixes, suffixes)] if prefixes and suffixes else []
    for probes in stages or [(prefixes, suffixes)]:
        entries = _similar(conn, query, 0.2, _CANDIDATES, probes)
        scored = _ranked(entries, query)
        if scored and scored[0].confidence == 1.0:
            return entries, scored
    if scored and scored[0].confidence >= MIN_CONFIDENCE:
        return entries, scored
    entries = _similar(conn, query, 0.2, _CANDIDATES, _probes(query))
    return entries, _ranked(entries, query)


def _rows(conn: Connection, codes: list[str]) -> list[AddressRow]:
    """The registry entries of ``codes``, in that order."""
    found = {
        r.code: r
        for r in (
            AddressRow(**r)
            for r in conn.execute(
                text(
                    "SELECT code, address, ST_X(geom) AS lon, ST_Y(geom) AS lat, compound, "
                    "building, households, region_code FROM addresses WHERE code = ANY(:codes)"
                ),
                {"codes": codes},
            ).mappings()
        )
    }
    return [found[c] for c in codes]


MAX_ADDRESS_CHARS = 200
"""Longest address text matched: a full Chinese address is well under 100 characters, and
matching cost grows with the text (10 000 characters took ~0.7 s)."""


def match_address(
    conn: Connection, address: str, limit: int = 5, *, narrow: bool = True
) -> AddressMatch:
    """Find the registry entry for free address text.

    An entry whose normalised text equals the query's (or, for a query with unit/room,
    the query's building) scores 1; others 0.4 × their trigram similarity + 0.6 × how far
    they agree with the query's parts (:func:`_agreement`).  The best entry scoring at least
    :data:`MIN_CONFIDENCE` is the match; other entries within :data:`AMBIGUITY_MARGIN` of
    it (except those that merely extend it, e.g. the buildings of a matched compound)
    make it ambiguous and are listed, best first, as up to ``limit`` candidates.  The
    entries scored are the most similar of those at the query's doorplates or compound,
    or one edit from it (``narrow``, :func:`_search`), else of the whole registry
    (``narrow=False``: what the tests and ``bench/address_match.py`` compare the narrowed
    search with).

    Raises ``InvalidInput`` (``empty_address``) for text without content,
    (``address_too_long``) beyond :data:`MAX_ADDRESS_CHARS`, and
    ``NotFound`` (``address_not_found``) with up to ``limit`` suggestions (code, address,
    similarity) when nothing scores high enough.
    """
    if len(address or "") > MAX_ADDRESS_CHARS:
        raise InvalidInput(
            f"地址过长：{len(address)} 个字符，最多 {MAX_ADDRESS_CHARS} 个 "
            f"(the address has {len(address)} characters, at most {MAX_ADDRESS_CHARS})",
            code="address_too_long",
            details={"length": len(address), "limit": MAX_ADDRESS_CHARS},
        )
    query = parse(address or "")
    if not query.normalized:
        raise InvalidInput(
            "地址为空 (the address is empty or only punctuation)", code="empty_address"
        )
    _check_trigrams(conn)
    entries, scored = _search(conn, query, narrow)
    if not scored or scored[0].confidence < MIN_CONFIDENCE:
        suggestions = entries[:limit] or _similar(
            conn, query, 0.05, limit, _probes(query, affixes=True) if narrow else None
        )
        rows = _rows(conn, [e.code for e in suggestions])
        raise NotFound(
            f"未找到地址“{address.strip()}” (no address matches)",
            code="address_not_found",
            details={
                "normalized": query.normalized,
                "suggestions": [
                    {"code": r.code, "address": r.address, "similarity": round(e.similarity, 3)}
                    for r, e in zip(rows, suggestions, strict=True)
                ],
            },
        )
    best, *others = scored
    close = [
        s
        for s in others
        if s.confidence >= best.confidence - AMBIGUITY_MARGIN
        and not s.entry.normalized.startswith(best.entry.normalized)
    ]
    listed = [best, *close][:limit]
    rows = _rows(conn, [s.entry.code for s in listed])
    candidates = [
        AddressCandidate(r, s.level, s.confidence) for r, s in zip(rows, listed, strict=True)
    ]
    return AddressMatch(
        row=rows[0],
        level=best.level,
        confidence=best.confidence,
        parsed=query,
        candidates=candidates if close else [],
    )
