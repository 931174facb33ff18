"""Error messages never show server paths (issue 13): GDAL names the file it could not read
by its full temporary path; the answer names it as the user sent it."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support import upload


def _broken_geojson(tmp_path: Path) -> Path:
    path = tmp_path / "网格.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    return path


def _broken_shapefile(tmp_path: Path) -> Path:
    archive = tmp_path / "网格.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("网格.shp", b"\x00" * 120)
        z.writestr("网格.shx", b"\x00" * 120)
        z.writestr("网格.dbf", b"\x03" + b"\x00" * 40)
    return archive


def _garbage(suffix: str) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / f"网格{suffix}"
        path.write_bytes(b"not really " * 50)
        return path

    make.__name__ = f"garbage{suffix}"
    return make


@pytest.mark.parametrize(
    "make",
    [_broken_geojson, _broken_shapefile, *(_garbage(s) for s in (".gpkg", ".kml", ".fgb"))],
)
def test_unreadable_files_are_named_without_server_paths(
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    tmp_path: Path,
    make: Callable[[Path], Path],
) -> None:
    response = upload(fresh_client, make(tmp_path), make_key("editor"), level="grid")
    assert 400 <= response.status_code < 500, response.json()
    text = json.dumps(response.json(), ensure_ascii=False)
    assert "/tmp" not in text and "gridmap-" not in text and str(tmp_path) not in text, text
    assert "网格" in response.json()["message"]
