"""The shared lookup index: one file per version per machine, equal to PostGIS.

The oracle is PostGIS on the same points (``tests/oracles.py``: ``ST_Covers``, the deepest
level, the lowest code; outside every grid the least ``ST_Distance`` of geographies), on the
demo city beside a synthetic county of 600 square grids of ~100 vertices each
(``tests/large_city.py``): vertices shared by four grids, points on edges, points between
the two places and far away.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text

from gis.query import lookup, lookup_file
from gis.query.lookup import GridIndex, LookupService, load_index
from gis.query.lookup_sql import SqlIndex
from gis.store.board import OID_SQL, lookup_folder
from gis.store.replicas import ReadEngines
from gis.store.watch import VersionWatch

from large_city import add_county
from oracles import boundary_points, check_hierarchy, postgis_hierarchy
from support import database_copy

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def county(server_url: str, template_db: str) -> Iterator[tuple[str, Engine, int]]:
    """(URL, engine, version) of a database with the demo city and a synthetic county."""
    with database_copy(server_url, template_db) as (url, engine):
        yield url, engine, add_county(engine, 600)


def _folder(engine: Engine) -> Path:
    with engine.connect() as conn:
        return lookup_folder(engine.url, int(conn.scalar(text(OID_SQL))))


def _points(engine: Engine) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (shared by up to four grids) and edge midpoints of stored regions, random
    points over and between the demo city and the county, and far points."""
    rng = np.random.default_rng(16)
    county = rng.uniform((109.99, 29.995), (110.25, 30.035), size=(400, 2))
    between = rng.uniform((109.0, 29.0), (119.0, 41.0), size=(20, 2))
    far = np.array([[0.0, 0.0], [-179.5, -89.5], [180.0, 90.0], [121.47, 31.23]])
    points = np.vstack([boundary_points(engine, rng, 600), county, between, far])
    return points[:, 0].copy(), points[:, 1].copy()


def test_the_mapped_index_and_the_sql_fallback_answer_what_postgis_answers(
    county: tuple[str, Engine, int],
) -> None:
    _, engine, version = county
    xs, ys = _points(engine)
    expected = postgis_hierarchy(engine, xs, ys)
    assert 400 < sum(a["grid"] is not None for a in expected) < len(xs) - 60
    with engine.connect() as conn:
        mapped = load_index(conn, version)
    path = _folder(engine) / f"v{version}.idx"
    assert not mapped.arrays["grid.cells.labels"].flags.writeable, "mapped read-only"
    assert mapped.cells is not None and mapped.cells.split > 1, "cells coarse: refined"
    assert path.is_file()
    check_hierarchy(mapped.answers(xs, ys), expected)  # vectorised
    singles = [mapped.answers(xs[i : i + 1], ys[i : i + 1])[0] for i in range(0, len(xs), 7)]
    check_hierarchy(singles, expected[::7])  # one point at a time, through the per-worker cache
    sample = slice(0, len(xs), 5)
    check_hierarchy(
        SqlIndex(engine.connect, version).answers(xs[sample], ys[sample]), expected[sample]
    )
    rows = mapped.rows(xs[:50], ys[:50])
    assert [r[1] for r in rows] == [e["grid"] for e in expected[:50]]


def test_a_bad_index_file_is_refused_and_built_again(
    county: tuple[str, Engine, int], caplog: pytest.LogCaptureFixture
) -> None:
    """Corrupt, truncated, another version's, or writable by others: never trusted."""
    _, engine, version = county
    with engine.connect() as conn:
        load_index(conn, version)
    path = _folder(engine) / f"v{version}.idx"
    good = path.read_bytes()
    point = (np.array([110.0101]), np.array([30.0071]))
    with engine.connect() as conn:
        other = GridIndex.load(conn, 1)  # the demo city alone
    lookup_file.write(
        path.with_name("other.idx"), other.arrays, {"database": "elsewhere", "version": version}
    )

    def corrupt(data: bytes) -> None:
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])

    def zeroed(data: bytes) -> None:  # a crash before the disk had a page (files are not synced)
        page = len(data) // 2 // 4096 * 4096
        path.write_bytes(data[:page] + bytes(4096) + data[page + 4096 :])

    damages = [
        ("checksum mismatch", corrupt),
        ("checksum mismatch", zeroed),
        ("bytes, not", lambda data: path.write_bytes(data[: len(data) - 64])),
        ("not a gridmap lookup index", lambda data: path.write_bytes(b"X" + data[1:])),
        ("made for", lambda _: path.with_name("other.idx").replace(path)),
        ("writable only by it", lambda data: (path.write_bytes(data), path.chmod(0o666))),
    ]
    for problem, damage in damages:
        damage(good)
        inode = os.stat(path).st_ino
        caplog.clear()
        with engine.connect() as conn:
            index = load_index(conn, version)
        assert problem in caplog.text, problem
        assert os.stat(path).st_ino != inode, "a new file"
        assert path.read_bytes() != b"" and oct(path.stat().st_mode & 0o777) == "0o644"
        (answer,) = index.answers(*point)
        assert answer["grid"]["code"].startswith("990001"), problem


def test_a_shared_folder_of_others_is_not_used(tmp_path: Path) -> None:
    folder = lookup_file.index_folder(tmp_path / "lookup")
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    folder.chmod(0o777)  # a folder others may plant files in
    with pytest.raises(PermissionError):
        lookup_file.index_folder(folder)


def test_half_written_files_of_dead_builders_are_removed(tmp_path: Path) -> None:
    """A builder killed mid-write leaves ``.v<N>.idx.<pid>.part``: the next prune removes it;
    a live builder's file stays."""
    folder = lookup_file.index_folder(tmp_path / "lookup")
    child = subprocess.Popen(["true"])
    child.wait()  # a process id no one has now
    dead = folder / f".v3.idx.{child.pid}.part"
    live = folder / f".v4.idx.{os.getpid()}.part"
    for path in (dead, live, folder / "v3.idx"):
        path.write_bytes(b"x" * 100)
    lookup_file.prune(folder, keep=2, version=3)
    assert sorted(p.name for p in folder.iterdir()) == [live.name, "v3.idx"]


def test_dropping_a_database_removes_its_index_files(server_url: str, template_db: str) -> None:
    with database_copy(server_url, template_db) as (_, engine):
        with engine.connect() as conn:
            load_index(conn, None)
        folder = _folder(engine)
        assert list(folder.glob("v1.idx"))
    assert not folder.exists()


def test_while_the_index_is_built_postgis_answers_the_new_version(
    county: tuple[str, Engine, int],
) -> None:
    """A service that may not wait answers the current version from PostGIS at once, then
    from the index once it is built — the same answer."""
    url, engine, version = county
    xs, ys = np.array([110.0101, 110.1013, 115.0]), np.array([30.0071, 30.05, 35.0])

    async def run() -> tuple[Any, Any, list[Any], list[Any]]:
        watch = VersionWatch(url)
        service = LookupService(ReadEngines(engine), watch, wait_s=0.0)
        try:
            first = await service.index()
            sql_answers = await service.lookup(xs, ys)
            while service._building:
                await asyncio.sleep(0.05)
            second = await service.index()
            return first, second, sql_answers, await service.lookup(xs, ys)
        finally:
            await watch.close()

    first, second, sql_answers, index_answers = asyncio.run(run())
    assert isinstance(first, SqlIndex) and first.version == version
    assert isinstance(second, GridIndex) and second.version == version
    for a, b in zip(sql_answers, index_answers, strict=True):
        assert a["version"] == b["version"] == version
        assert a["grid"] == b["grid"] and a["community"] == b["community"]
        if b["nearest"]:
            assert a["nearest"]["grid"] == b["nearest"]["grid"]
            assert a["nearest"]["distance_m"] == pytest.approx(b["nearest"]["distance_m"], abs=0.02)


def test_a_large_version_is_built_in_a_process_of_its_own(
    server_url: str, template_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``BUILD_APART_ABOVE`` regions the file is written by another process (the
    worker keeps none of the build's memory), and answers the same."""
    monkeypatch.setattr(lookup, "BUILD_APART_ABOVE", 0)
    with database_copy(server_url, template_db) as (_, engine):
        with engine.connect() as conn:
            index = load_index(conn, None)
            in_process = GridIndex.load(conn, 1)
        path = _folder(engine) / "v1.idx"
        data = path.read_bytes()
        length = int.from_bytes(data[len(lookup_file.MAGIC) : len(lookup_file.MAGIC) + 8], "little")
        start = len(lookup_file.MAGIC) + 8
        assert json.loads(data[start : start + length])["built_by"] != os.getpid()
        xs, ys = np.array([118.3350, 118.2, 117.5]), np.array([40.1550, 40.3, 40.0])
        assert index.answers(xs, ys) == in_process.answers(xs, ys)
