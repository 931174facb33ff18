"""``gridmap tiles export``: a region's tiles as a PMTiles v3 archive, read back with the
``pmtiles`` reader and compared with what the HTTP tile endpoint serves for the same tiles.

Tile ranges are computed here from the XYZ formulas, independently of ``tiles.pmtiles``.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType
from sqlalchemy import Engine, text

from tiles.layers import LAYERS

from support import CITY, GRIDMAP, tile_at

STREET = "130227001"  # 栗乡街道
ZOOMS = (12, 14)


def run(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    return subprocess.run(
        [GRIDMAP, "tiles", "export", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def street(engine: Engine) -> tuple[str, tuple[float, float, float, float]]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT name, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
                "FROM regions WHERE code = :code AND valid_to IS NULL"
            ),
            {"code": STREET},
        ).one()
    return row[0], tuple(row[1:])


@pytest.fixture(scope="module")
def archive(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pmtiles") / "city.pmtiles"
    done = run(db_url, "--region", STREET, "-o", str(path), "--minzoom", "12", "--maxzoom", "14")
    assert done.returncode == 0, done.stderr
    assert f"wrote {path}" in done.stdout.replace("\n", "")
    assert not path.with_name(path.name + ".part").exists()
    return path


def read(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[tuple[int, int, int], bytes]]:
    with path.open("rb") as f:
        source = MmapSource(f)
        reader = Reader(source)
        return reader.header(), reader.metadata(), dict(all_tiles(source))


def test_header_and_metadata(archive: Path, engine: Engine, client: TestClient) -> None:
    header, metadata, tiles = read(archive)
    name, (west, south, east, north) = street(engine)
    assert header["version"] == 3
    assert header["tile_type"] == TileType.MVT
    assert header["tile_compression"] == Compression.GZIP
    assert (header["min_zoom"], header["max_zoom"]) == ZOOMS
    got = [header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")]
    assert got == pytest.approx([west, south, east, north], abs=2e-7)
    assert west < header["center_lon_e7"] / 1e7 < east
    assert south < header["center_lat_e7"] / 1e7 < north
    assert ZOOMS[0] <= header["center_zoom"] <= ZOOMS[1]
    assert header["clustered"]
    assert header["addressed_tiles_count"] == len(tiles)

    assert name in metadata["name"] and "网格" in metadata["name"]
    assert "网格化治理" in metadata["attribution"]
    assert [v["id"] for v in metadata["vector_layers"]] == list(LAYERS)
    for layer in metadata["vector_layers"]:
        tilejson = client.get(f"/tiles/{layer['id']}.json").json()
        assert layer["fields"] == tilejson["vector_layers"][0]["fields"]
        assert layer["description"] == tilejson["vector_layers"][0]["description"]
        assert (layer["minzoom"], layer["maxzoom"]) == ZOOMS


def test_tiles_are_the_http_tiles_of_every_layer(
    archive: Path, engine: Engine, client: TestClient
) -> None:
    _, _, tiles = read(archive)
    _, (west, south, east, north) = street(engine)
    expected: dict[tuple[int, int, int], bytes] = {}
    candidates = 0
    for z in range(ZOOMS[0], ZOOMS[1] + 1):
        _, x0, y0 = tile_at(west, north, z)
        _, x1, y1 = tile_at(east, south, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                candidates += 1
                parts = [client.get(f"/tiles/{name}/{z}/{x}/{y}.mvt") for name in LAYERS]
                assert {p.status_code for p in parts} <= {200, 204}
                data = b"".join(p.content for p in parts)
                if data:
                    expected[(z, x, y)] = data
    assert set(tiles) == set(expected)  # exactly the non-empty tiles
    assert candidates == len(tiles) > 10  # counties etc. cover the whole box
    for zxy, data in tiles.items():
        assert data[:2] == b"\x1f\x8b"
        assert gzip.decompress(data) == expected[zxy], zxy


def test_a_tile_decodes_to_the_http_grids(archive: Path, client: TestClient) -> None:
    _, _, tiles = read(archive)
    z = 14
    _, x, y = tile_at(*CITY, z)
    decoded = mapbox_vector_tile.decode(gzip.decompress(tiles[(z, x, y)]))
    assert {"grids", "communities", "streets", "counties", "centres"} <= set(decoded)
    http = mapbox_vector_tile.decode(client.get(f"/tiles/grids/{z}/{x}/{y}.mvt").content)
    codes = [f["properties"]["code"] for f in decoded["grids"]["features"]]
    assert codes == [f["properties"]["code"] for f in http["grids"]["features"]]
    assert len(codes) > 3
    names = [f["properties"]["name"] for f in decoded["grids"]["features"]]
    assert all("社区第" in n and n.endswith("网格") for n in names)
    streets = {f["properties"]["name"] for f in decoded["streets"]["features"]}
    assert any(n.endswith("街道") for n in streets)


def test_layers_option_and_empty_tiles_left_out(
    db_url: str, tmp_path: Path, engine: Engine, client: TestClient
) -> None:
    path = tmp_path / "points.pmtiles"
    done = run(
        db_url, "--region", STREET, "-o", str(path), "--minzoom", "14", "--maxzoom", "14",
        "--layers", "centres, cameras",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, metadata, tiles = read(path)
    assert [v["id"] for v in metadata["vector_layers"]] == ["centres", "cameras"]
    _, (west, south, east, north) = street(engine)
    (_, x0, y0), (_, x1, y1) = tile_at(west, north, 14), tile_at(east, south, 14)
    candidates = [(14, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    expected = {}
    for z, x, y in candidates:
        data = b"".join(
            client.get(f"/tiles/{name}/{z}/{x}/{y}.mvt").content for name in ("centres", "cameras")
        )
        if data:
            expected[(z, x, y)] = data
    assert 0 < len(expected) < len(candidates)  # points leave some tiles empty
    assert {zxy: gzip.decompress(d) for zxy, d in tiles.items()} == expected
    for data in tiles.values():
        assert set(mapbox_vector_tile.decode(gzip.decompress(data))) <= {"centres", "cameras"}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--region", "999999999"], "region_not_found"),
        (["--region", STREET, "--minzoom", "15", "--maxzoom", "12"], "invalid_zoom"),
        (["--region", STREET, "--maxzoom", "40"], "invalid_zoom"),
        (["--region", STREET, "--layers", "grids,roads"], "layer_not_found"),
        (
            [
                "--region",
                "130227001001001",
                "--layers",
                "cameras",
                "--minzoom",
                "20",
                "--maxzoom",
                "20",
            ],
            "nothing_to_export",
        ),
    ],
)
def test_bad_input_is_a_clear_error(
    db_url: str, tmp_path: Path, args: list[str], code: str
) -> None:
    path = tmp_path / "bad.pmtiles"
    done = run(db_url, *args, "-o", str(path))
    assert done.returncode != 0
    assert code in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not path.exists() and not list(tmp_path.iterdir())
