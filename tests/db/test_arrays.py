"""Long lists sent in PostgreSQL's binary array form (gis.store.arrays) reach the server as the
same values a plain list does — whatever characters they hold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError

from gis.store.arrays import Floats, Texts

TEXTS = [
    "230903001001",
    "二〇二四网格",
    'a "quoted" code',
    "back\\slash",
    "{braces},commas",
    "NULL",
    "",
    " spaced ",
    "line\nbreak\ttab\x1funit",
    "😀 beyond the BMP",
]


def _sent(engine: Engine, value: object, cast: str) -> list[object]:
    with engine.connect() as conn:
        return list(conn.scalars(text(f"SELECT unnest(CAST(:v AS {cast}))"), {"v": value}))


def test_texts_arrive_as_they_are(engine: Engine) -> None:
    assert _sent(engine, Texts(TEXTS), "text[]") == TEXTS
    assert _sent(engine, Texts(TEXTS), "text[]") == _sent(engine, TEXTS, "text[]")
    assert _sent(engine, Texts([None, "x", None]), "text[]") == [None, "x", None]
    assert _sent(engine, Texts([]), "text[]") == []


def test_texts_without_a_cast_and_in_any(engine: Engine) -> None:
    with engine.connect() as conn:
        typed = conn.scalar(text("SELECT pg_typeof(:v)::text"), {"v": Texts(["a"])})
        hits = conn.scalar(
            text("SELECT count(*) FROM unnest(:all) AS t(c) WHERE c = ANY(:some)"),
            {"all": Texts(TEXTS), "some": Texts([*TEXTS[::2], "absent"])},
        )
    assert typed == "text[]"
    assert hits == len(TEXTS[::2])


def test_many_texts(engine: Engine) -> None:
    codes = [f"{i:015d}" for i in range(200_000)]
    with engine.connect() as conn:
        count, first, last = conn.execute(
            text("SELECT cardinality(:v), (:v)[1], (:v)[cardinality(:v)]"), {"v": Texts(codes)}
        ).one()
    assert (count, first, last) == (len(codes), codes[0], codes[-1])


@pytest.mark.parametrize("value", [Texts(["a\x00b"]), ["a\x00b"]], ids=["Texts", "list"])
def test_a_nul_is_refused_as_a_plain_list_is(engine: Engine, value: object) -> None:
    with pytest.raises(DataError):  # by the server in binary, by psycopg in text
        _sent(engine, value, "text[]")


def test_floats_arrive_as_they_are(engine: Engine) -> None:
    values = [0.0, -0.0, 1.5, -123456.789, 1e-300, 1e300, 116.123456789012]
    assert _sent(engine, Floats(values), "float8[]") == values
    assert _sent(engine, Floats(np.array(values)), "float8[]") == values
    odd = _sent(engine, Floats([math.inf, -math.inf, math.nan]), "float8[]")
    assert odd[:2] == [math.inf, -math.inf] and math.isnan(odd[2])
    assert _sent(engine, Floats([]), "float8[]") == []
