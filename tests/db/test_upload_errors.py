"""Bad uploads: each gets its own 4xx code and a clerk-readable message, and changes nothing."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import Engine

from api.app import create_app
from gis.settings import Settings

from support import state, upload, write_layer, zip_dir

LIMIT = 2_000_000


@pytest.fixture
def client(fresh_db_url: str) -> Iterator[TestClient]:
    """The app on this test's database, with small size limits."""
    settings = Settings(database_url=fresh_db_url, max_upload_bytes=LIMIT, max_unpacked_bytes=LIMIT)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def editor(make_key: Callable[[str], str]) -> str:
    return make_key("editor")


def _grid_rows(demo_grids: dict, n: int = 5) -> tuple[list[dict], list]:
    features = demo_grids["features"][:n]
    rows = [
        {
            "code": f["properties"]["code"],
            "name": f["properties"]["name"],
            "parent_code": f["properties"]["parent_code"],
        }
        for f in features
    ]
    return rows, [shape(f["geometry"]) for f in features]


def _shapefile(tmp_path: Path, demo_grids: dict, **kwargs: object) -> list[Path]:
    rows, geoms = _grid_rows(demo_grids)
    shp = write_layer(tmp_path / "grids.shp", rows, geoms, driver="ESRI Shapefile", **kwargs)
    return sorted(shp.parent.glob("grids.*"))


def _expect(response: object, status: int, code: str, engine: Engine, before: tuple) -> dict:
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), body
    assert body["message"]
    assert state(engine) == before, "a refused upload changes nothing"
    return body


def _bomb(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("grids.geojson", b" " * size)
    return path


CASES: dict[str, Callable[[Path, dict], tuple[Path, dict, int, str]]] = {}


def case(fn: Callable[[Path, dict], tuple[Path, dict, int, str]]) -> Callable:
    CASES[fn.__name__] = fn
    return fn


@case
def corrupt_archive(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    files = _shapefile(tmp, grids)
    good = zip_dir(files, tmp / "good.zip").read_bytes()
    bad = tmp / "grids.zip"
    bad.write_bytes(good[: len(good) // 2])
    return bad, {}, 422, "corrupt_archive"


@case
def not_a_zip(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    path = tmp / "grids.zip"
    path.write_text("这不是压缩包", encoding="utf-8")
    return path, {}, 422, "corrupt_archive"


@case
def parent_dir_entry(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    path = tmp / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("../../etc/grids.geojson", json.dumps(grids))
    return path, {}, 422, "unsafe_archive_path"


@case
def absolute_entry(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    path = tmp / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("/tmp/grids.geojson", json.dumps(grids))
    return path, {}, 422, "unsafe_archive_path"


@case
def zip_bomb(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    path = _bomb(tmp / "bomb.zip", 50 * LIMIT)
    assert path.stat().st_size < LIMIT / 10
    return path, {}, 413, "archive_too_large"


@case
def shapefile_without_shx(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    files = [f for f in _shapefile(tmp, grids) if f.suffix != ".shx"]
    return zip_dir(files, tmp / "grids.zip"), {}, 422, "shapefile_incomplete"


@case
def shapefile_without_dbf(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    files = [f for f in _shapefile(tmp, grids) if f.suffix != ".dbf"]
    return zip_dir(files, tmp / "grids.zip"), {}, 422, "shapefile_incomplete"


@case
def file_too_large(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    path = tmp / "huge.geojson"
    path.write_bytes(b" " * (LIMIT + 1))
    return path, {}, 413, "file_too_large"


@case
def unknown_format(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    path = tmp / "grids.txt"
    path.write_text("网格", encoding="utf-8")
    return path, {}, 415, "unknown_format"


@case
def empty_layer(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    path = tmp / "empty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    return path, {}, 422, "empty_layer"


@case
def wrong_geometry_type(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    rows, geoms = _grid_rows(grids)
    points = [g.representative_point() for g in geoms]
    path = write_layer(tmp / "points.geojson", rows, points, geometry_type="Point")
    return path, {}, 422, "wrong_geometry_type"


@case
def required_field_missing(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    rows, geoms = _grid_rows(grids)
    rows = [{"名字": r["name"], "上级": r["parent_code"]} for r in rows]
    return write_layer(tmp / "nocode.geojson", rows, geoms), {}, 422, "required_field_missing"


@case
def unknown_crs(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    rows, geoms = _grid_rows(grids)
    path = write_layer(tmp / "grids.geojson", rows, geoms)
    return path, {"crs": "EPSG:999999"}, 422, "unknown_crs"


@case
def swapped_lat_lon(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    rows, geoms = _grid_rows(grids)
    swapped = [shapely.transform(g, lambda xy: xy[:, ::-1]) for g in geoms]
    path = write_layer(tmp / "swapped.geojson", rows, swapped)
    return path, {}, 422, "coordinates_out_of_range"


@case
def no_crs_and_ambiguous(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    rows, geoms = _grid_rows(grids)
    to_cm = Transformer.from_crs("EPSG:4326", "EPSG:4548", always_xy=True)
    projected = [
        shapely.transform(g, lambda xy: np.column_stack(to_cm.transform(*xy.T))) for g in geoms
    ]
    files = _shapefile_from(tmp, rows, projected)
    return zip_dir(files, tmp / "grids.zip"), {}, 422, "crs_required"


@case
def undecodable_encoding(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    files = [f for f in _shapefile(tmp, grids, encoding="GBK") if f.suffix != ".cpg"]
    return zip_dir(files, tmp / "grids.zip"), {"encoding": "UTF-8"}, 422, "undecodable_encoding"


@case
def unknown_encoding(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    files = _shapefile(tmp, grids)
    return zip_dir(files, tmp / "grids.zip"), {"encoding": "klingon"}, 422, "unknown_encoding"


@case
def bad_field_mapping(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    rows, geoms = _grid_rows(grids)
    path = write_layer(tmp / "grids.geojson", rows, geoms)
    return path, {"fields": json.dumps({"code": "BM"})}, 422, "field_not_found"


@case
def unknown_parent(tmp: Path, grids: dict) -> tuple[Path, dict, int, str]:
    rows, geoms = _grid_rows(grids)
    path = write_layer(tmp / "grids.geojson", rows, geoms)
    return path, {"parent": "130227001099"}, 404, "parent_not_found"


def _shapefile_from(tmp: Path, rows: list[dict], geoms: list) -> list[Path]:
    shp = write_layer(tmp / "grids.shp", rows, geoms, driver="ESRI Shapefile", crs=None)
    return sorted(shp.parent.glob("grids.*"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_upload(
    name: str,
    client: TestClient,
    fresh_engine: Engine,
    editor: str,
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    path, form, status, code = CASES[name](tmp_path, demo_grids)
    before = state(fresh_engine)
    for dry_run in (True, False):
        response = upload(client, path, editor, level="grid", dry_run=dry_run, **form)
        _expect(response, status, code, fresh_engine, before)


def test_unknown_level_is_a_parameter_error(
    client: TestClient, fresh_engine: Engine, editor: str, demo_grids: dict, tmp_path: Path
) -> None:
    rows, geoms = _grid_rows(demo_grids)
    path = write_layer(tmp_path / "grids.geojson", rows, geoms)
    before = state(fresh_engine)
    _expect(
        upload(client, path, editor, level="province"),
        422,
        "invalid_parameter",
        fresh_engine,
        before,
    )


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("..", 415, "unknown_format"),
        ("../..", 415, "unknown_format"),
        (".", 415, "unknown_format"),
        ("/", 415, "unknown_format"),
        ("", 422, "invalid_parameter"),  # no name at all: a form field, not a file
    ],
)
def test_a_file_named_only_dots_or_slashes_is_refused(
    name: str,
    status: int,
    code: str,
    client: TestClient,
    fresh_engine: Engine,
    editor: str,
    demo_grids: dict,
) -> None:
    """A name with no file in it (``..`` once moved the saved upload onto its own folder: 500)
    is read as a file without a name, whose format no suffix tells."""
    before = state(fresh_engine)
    response = client.post(
        "/api/v1/uploads",
        files={"file": (name, json.dumps(demo_grids).encode())},
        data={"level": "grid"},
        headers={"Authorization": f"Bearer {editor}"},
    )
    _expect(response, status, code, fresh_engine, before)
