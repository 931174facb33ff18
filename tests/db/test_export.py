"""Exported files are named after the level's real plural; shapefile parts stay in the zip."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("params", "filename"),
    [
        ({"level": "county"}, "counties.geojson"),
        ({"level": "street", "format": "gpkg"}, "streets.gpkg"),
        ({"level": "community", "format": "shp"}, "communities.zip"),
        ({"level": "grid", "parent": "130227001001"}, "grids_130227001001.geojson"),
    ],
)
def test_export_file_names_use_real_plurals(
    client: TestClient, params: dict[str, str], filename: str
) -> None:
    response = client.get("/api/v1/export", params=params)
    assert response.status_code == 200, response.text
    assert f'filename="{filename}"' in response.headers["content-disposition"]
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(response.content)) as z:
            names = sorted(z.namelist())
        assert names == [f"communities.{ext}" for ext in ("cpg", "dbf", "prj", "shp", "shx")]
