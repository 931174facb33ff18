"""``gridmap import`` is a dry run unless ``--commit`` is given, like the HTTP API, and says
which it was; ``gridmap export`` → ``gridmap import --commit`` changes nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine

from gis.geo.crs import wgs84_to_gcj02

from support import GRIDMAP, state, write_layer

COMMUNITY = "130227001002"


def _run(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    return subprocess.run([GRIDMAP, *args], env=env, capture_output=True, text=True)


def test_import_is_a_dry_run_unless_commit_is_given(
    fresh_db_url: str, fresh_engine: Engine, demo_grids: dict, tmp_path: Path
) -> None:
    features = [f for f in demo_grids["features"] if f["properties"]["parent_code"] == COMMUNITY]
    rows = [
        {"编码": f["properties"]["code"], "名称": f["properties"]["name"] + "（新）"}
        for f in features
    ]
    path = write_layer(tmp_path / "grids.geojson", rows, [shape(f["geometry"]) for f in features])
    args = ("import", str(path), "--level", "grid", "--parent", COMMUNITY)

    version, regions, uploads = state(fresh_engine)
    dry = _run(*args, db_url=fresh_db_url)
    assert dry.returncode == 0, dry.stderr
    assert "dry_run" in dry.stdout and "试运行" in dry.stdout and "--commit" in dry.stdout
    assert f"+0 ~{len(rows)} -0" in dry.stdout, "the preview shows what a commit would change"
    assert state(fresh_engine) == (version, regions, uploads + 1), "only the upload is recorded"

    explicit = _run(*args, "--dry-run", db_url=fresh_db_url)
    assert explicit.returncode == 0 and "试运行" in explicit.stdout
    assert state(fresh_engine)[:2] == (version, regions)

    done = _run(*args, "--commit", db_url=fresh_db_url)
    assert done.returncode == 0, done.stderr
    assert "committed, version 2" in done.stdout
    assert "已提交为边界版本 2" in done.stdout and "试运行" not in done.stdout
    assert state(fresh_engine)[:2] == (2, regions + len(rows))

    again = _run(*args, "--commit", db_url=fresh_db_url)
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout and "未产生新版本" in again.stdout
    assert state(fresh_engine)[:2] == (2, regions + len(rows))


def test_export_then_import_commit_changes_nothing(
    fresh_db_url: str, fresh_engine: Engine, tmp_path: Path
) -> None:
    before = state(fresh_engine)
    for fmt, encoding in (("geojson", None), ("gpkg", None), ("shp", "utf-8"), ("shp", "gbk")):
        out = tmp_path / f"{fmt}-{encoding}"
        options = ["--format", fmt, *(["--encoding", encoding] if encoding else [])]
        exported = _run("export", "--level", "grid", *options, "-o", str(out), db_url=fresh_db_url)
        assert exported.returncode == 0, exported.stderr
        (path,) = out.iterdir()
        done = _run("import", str(path), "--level", "grid", "--commit", db_url=fresh_db_url)
        assert done.returncode == 0, (fmt, encoding, done.stdout, done.stderr)
        assert "changes: +0 ~0 -0; 0 errors, 0 warnings" in done.stdout, (fmt, encoding)
        assert "unchanged" in done.stdout
    version, regions, uploads = state(fresh_engine)
    assert (version, regions, uploads) == (before[0], before[1], before[2] + 4)


def test_import_names_the_crs_that_fits_and_allows_moves_when_asked(
    fresh_db_url: str, fresh_engine: Engine, demo_grids: dict, tmp_path: Path
) -> None:
    """The CLI prints the CRS doctor's suggestion with the exact value for --crs; a real move
    (two grids' codes swapped) commits only with --allow-moves."""
    features = [f for f in demo_grids["features"] if f["properties"]["parent_code"] == COMMUNITY]
    rows = [{"编码": f["properties"]["code"], "名称": f["properties"]["name"]} for f in features]
    geoms = [shape(f["geometry"]) for f in features]
    gcj = [
        shapely.transform(g, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        for g in geoms
    ]
    shifted = write_layer(tmp_path / "gcj.geojson", rows, gcj)
    args = ("--level", "grid", "--parent", COMMUNITY, "--commit")
    refused = _run("import", str(shifted), *args, db_url=fresh_db_url)
    assert refused.returncode != 0
    assert "region_moved" in refused.stdout and "crs=gcj02" in refused.stdout
    fixed = _run("import", str(shifted), *args, "--crs", "gcj02", db_url=fresh_db_url)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr

    geoms[0], geoms[-1] = geoms[-1], geoms[0]
    swapped = write_layer(tmp_path / "swapped.geojson", rows, geoms)
    assert _run("import", str(swapped), *args, db_url=fresh_db_url).returncode != 0
    moved = _run("import", str(swapped), *args, "--allow-moves", db_url=fresh_db_url)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "committed" in moved.stdout
