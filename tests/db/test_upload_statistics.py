"""A committed upload that grows a table by a large fraction leaves its planner statistics
fresh (``gis.store.statistics``): the rows ANALYZE counted (``pg_class.reltuples``) are the
rows stored, right after the commit — with autovacuum off for the tables, so nothing else
analyses them.  A dry run, and a small commit, leave the statistics as they were."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from gis.demo.province_files import FILES, generate
from gis.ingest.uploads import UploadRequest, process_upload
from gis.settings import Settings
from gis.store.db import create_database, drop_database, make_engine, migrate
from gis.store.statistics import MIN_ROWS, rows_written

GRIDS = 1_000
"""Enough grids (and ten addresses each) for a commit of at least MIN_ROWS rows."""


@pytest.fixture(scope="module")
def empty(server_url: str) -> Iterator[Engine]:
    """A migrated database with no regions, autovacuum off for the tables uploads write."""
    name = f"gridmap_statistics_{uuid.uuid4().hex[:6]}"
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    create_database(url)
    try:
        migrate(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            for table in ("regions", "addresses"):
                conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
        yield engine
        engine.dispose()
    finally:
        drop_database(url)


def _counted(engine: Engine, table: str) -> tuple[float, int]:
    """(rows the statistics counted, rows stored)."""
    with engine.connect() as conn:
        return (
            conn.scalar(text(f"SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass")),
            conn.scalar(text(f"SELECT count(*) FROM {table}")),
        )


def _upload(engine: Engine, path: Path, layer: str, *, dry_run: bool) -> dict:
    points = layer == "addresses"
    request = UploadRequest(
        filename=path.name,
        level=None if points else layer,
        author="test",
        kind="addresses" if points else "boundaries",
        dry_run=dry_run,
    )
    result = process_upload(engine, path, request, Settings())
    assert result.status == ("dry_run" if dry_run else "committed"), result.report["problems"][:3]
    return result.report["summary"]


def test_rows_written_counts_added_and_modified() -> None:
    assert rows_written({"added": ["a", "b"], "modified": ["c"], "removed": ["d"]}) == 3
    assert rows_written({"added": 5, "removed": 7}) == 5


def test_statistics_fresh_after_large_commits_only(empty: Engine, tmp_path: Path) -> None:
    generate(GRIDS, 3, tmp_path, progress=lambda _: None)
    for layer in ("county", "street", "community"):
        _upload(empty, tmp_path / FILES[layer], layer, dry_run=False)
    before, _ = _counted(empty, "regions")  # never analysed: small commits
    assert before < 0

    _upload(empty, tmp_path / FILES["grid"], "grid", dry_run=False)  # 1 000 rows: analysed
    counted, stored = _counted(empty, "regions")
    assert stored == GRIDS + 53 and counted == stored

    summary = _upload(empty, tmp_path / FILES["addresses"], "addresses", dry_run=True)
    assert summary["changes"]["added"] and _counted(empty, "addresses") == (-1, 0)

    _upload(empty, tmp_path / FILES["addresses"], "addresses", dry_run=False)
    counted, stored = _counted(empty, "addresses")
    assert stored == 10 * GRIDS >= MIN_ROWS and counted == stored

    with empty.begin() as conn:  # 20 entries fewer, counted so
        conn.execute(
            text(
                "DELETE FROM addresses WHERE code IN (SELECT min(code) FROM addresses "
                "GROUP BY region_code ORDER BY 1 LIMIT 20)"
            )
        )
        conn.execute(text("ANALYZE addresses"))
    summary = _upload(empty, tmp_path / FILES["addresses"], "addresses", dry_run=False)
    assert summary["changes"]["added"] == 20  # a small commit: left to autovacuum
    assert _counted(empty, "addresses") == (stored - 20, stored)
