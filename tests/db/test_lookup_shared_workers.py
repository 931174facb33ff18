"""Three uvicorn workers share one lookup index file per version, built once, and each sees a
commit in its very next request."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.query.lookup_file import MAGIC
from gis.store.board import OID_SQL, lookup_folder

from support import serve_app, upload_renamed_grid

pytestmark = pytest.mark.db

WORKERS = 3


def _mappers(path: Path) -> dict[int, int]:
    """Processes that map ``path``: pid → the inode they map."""
    found = {}
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text_ = maps.read_text()
        except OSError:
            continue
        for line in text_.splitlines():
            if line.endswith(str(path)):  # "(deleted)" after it if it was replaced
                found[int(maps.parent.name)] = int(line.split()[4])
    return found


def _built_by(path: Path) -> int:
    data = path.read_bytes()
    length = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    return json.loads(data[len(MAGIC) + 8 : len(MAGIC) + 8 + length])["built_by"]


def _ask_until_every_worker_maps(base: str, query: dict, path: Path) -> tuple[list, dict]:
    """Ask (a new connection each time) until WORKERS processes map ``path``."""
    answers = []
    for _ in range(400):
        answers.append(httpx.get(f"{base}/api/v1/lookup", params=query).json())
        if len(answers) >= 30 and len(mappers := _mappers(path)) >= WORKERS:
            return answers, mappers
    raise AssertionError(f"{path} mapped by {_mappers(path)}")


def test_workers_share_one_index_file_and_see_each_commit(
    fresh_db_url: str,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    with fresh_engine.connect() as conn:
        folder = lookup_folder(fresh_engine.url, int(conn.scalar(text(OID_SQL))))
    feature = next(
        f for f in demo_grids["features"] if f["properties"]["code"] == "130227001002001"
    )
    inside = shape(feature["geometry"]).representative_point()
    query = {"lon": inside.x, "lat": inside.y}
    log = tmp_path / "uvicorn.log"
    with serve_app(fresh_db_url, log, workers=WORKERS) as base:
        before, mappers = _ask_until_every_worker_maps(base, query, folder / "v1.idx")
        assert {(b["version"], b["grid"]["code"]) for b in before} == {(1, "130227001002001")}
        assert len(set(mappers.values())) == 1, "one file, the same inode in every worker"
        assert (folder / "v1.idx").stat().st_ino in mappers.values(), "never replaced"
        assert _built_by(folder / "v1.idx") in mappers, "built by one of the workers"

        upload_renamed_grid(base, demo_grids, feature, make_key("editor"), tmp_path)
        after, mappers = _ask_until_every_worker_maps(base, query, folder / "v2.idx")
        assert {(a["version"], a["grid"]["name"]) for a in after} == {
            (2, "清泉里社区第1网格（已调整）")
        }, "every answer after the commit is of version 2"
        assert len(set(mappers.values())) == 1
        assert _built_by(folder / "v2.idx") in mappers
    assert "refused" not in log.read_text(errors="replace")
    assert not re.search(r"\.part$", "\n".join(os.listdir(folder))), "no half-written file"
