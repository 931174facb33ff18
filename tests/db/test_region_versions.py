"""The versions a region row names exist, checked per statement (migration 0017): an INSERT,
a COPY or an UPDATE that names a missing version is refused whole, as the foreign keys
refused it; a version named by regions cannot be deleted or renumbered."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from hierarchy import violations

_GRID = "ST_Multi(ST_MakeEnvelope(120, 40, 120.001, 40.001, 4326))"


def _insert(conn: Connection, code: str, valid_from: int, valid_to: int | None = None) -> None:
    conn.execute(
        text(
            "INSERT INTO regions (code, level, name, geom, area_m2, valid_from, valid_to) "
            f"VALUES (:c, 'county', 'x', {_GRID}, 1, :f, :t)"
        ),
        {"c": code, "f": valid_from, "t": valid_to},
    )


def _refused(engine: Engine, sql: str, params: dict[str, object] | None = None) -> str:
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(text(sql), params or {})
    assert isinstance(caught.value.orig, psycopg.errors.ForeignKeyViolation)
    return str(caught.value.orig)


def test_rows_naming_a_missing_version_are_refused(fresh_engine: Engine) -> None:
    with fresh_engine.connect() as conn:
        latest = conn.scalar(text("SELECT max(number) FROM boundary_versions"))
        rows = conn.scalar(text("SELECT count(*) FROM regions"))
    missing = latest + 1000
    with pytest.raises(IntegrityError), fresh_engine.begin() as conn:
        _insert(conn, "990000", latest)  # fine alone: the statement after it is not
        _insert(conn, "990001", missing)
    with pytest.raises(IntegrityError), fresh_engine.begin() as conn:
        _insert(conn, "990002", latest, missing)
    _refused(
        fresh_engine, "UPDATE regions SET valid_to = :m WHERE valid_to IS NULL", {"m": missing}
    )
    _refused(
        fresh_engine,
        "UPDATE regions SET valid_from = :m WHERE code = (SELECT min(code) FROM regions)",
        {"m": missing},
    )
    with fresh_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM regions")) == rows
        assert conn.scalar(text("SELECT count(*) FROM regions WHERE valid_to IS NULL")) == rows
        assert violations(conn, gaps=False)["version"] == []


def test_a_copy_naming_a_missing_version_is_refused_whole(fresh_engine: Engine) -> None:
    with fresh_engine.connect() as conn:
        latest = conn.scalar(text("SELECT max(number) FROM boundary_versions"))
        rows = conn.scalar(text("SELECT count(*) FROM regions"))
    raw = fresh_engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        with (
            pytest.raises(psycopg.errors.ForeignKeyViolation),
            cursor.copy(
                "COPY regions (code, level, name, geom, area_m2, valid_from) FROM STDIN"
            ) as copy,
        ):
            envelope = "SRID=4326;MULTIPOLYGON(((120 40,120.001 40,120.001 40.001,120 40)))"
            for i, version in enumerate([latest] * 999 + [latest + 7]):
                copy.write_row((f"98{i:04d}", "county", "x", envelope, 1.0, version))
        raw.rollback()
    finally:
        raw.close()
    with fresh_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM regions")) == rows


def test_a_version_named_by_regions_is_kept(fresh_engine: Engine) -> None:
    with fresh_engine.connect() as conn:
        latest = conn.scalar(text("SELECT max(number) FROM boundary_versions"))
    said = _refused(fresh_engine, "DELETE FROM boundary_versions WHERE number = :n", {"n": latest})
    assert f"boundary version {latest}" in said
    _refused(
        fresh_engine, "UPDATE boundary_versions SET number = 99999 WHERE number = :n", {"n": latest}
    )
    with fresh_engine.begin() as conn:  # one no region names goes, as before
        conn.execute(
            text(
                "INSERT INTO boundary_versions (number, author, action) VALUES (:n, 't', 'upload')"
            ),
            {"n": latest + 1},
        )
        conn.execute(text("DELETE FROM boundary_versions WHERE number = :n"), {"n": latest + 1})
