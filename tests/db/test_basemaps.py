"""Office base maps: ``gridmap basemap add`` registers an MBTiles or PMTiles file made here
(raster PNGs drawn with Pillow, vector tiles from gridmap's own tile endpoint), and gridmap
serves the file's exact bytes; broken files and bad names are refused with nothing
registered; map pages offer the base map first."""

from __future__ import annotations

import gzip
import json
import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pmtiles.tile import TileType, deserialize_header
from sqlalchemy import text

from api.app import create_app
from gis.settings import Settings

from basemap_files import (
    CITY_BOUNDS,
    city_tiles,
    png,
    raster_metadata,
    raster_tiles,
    vector_metadata,
    write_mbtiles,
    write_pmtiles,
)
from support import GRIDMAP

pytestmark = pytest.mark.db

ZOOMS = range(11, 14)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """gridmap's data directory for this test (base map files are copied under it)."""
    return tmp_path / "home"


@pytest.fixture
def office(fresh_db_url: str, home: Path) -> Iterator[TestClient]:
    """The app on this test's own database and data directory."""
    with TestClient(create_app(Settings(database_url=fresh_db_url, home=home))) as client:
        yield client


def gridmap(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_HOME": str(home)}
    return subprocess.run(
        [GRIDMAP, "basemap", *args], env=env, capture_output=True, text=True, timeout=120
    )


def registered(db_url: str) -> list[str]:
    from sqlalchemy import create_engine

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT name FROM basemaps ORDER BY name")).scalars())
    finally:
        engine.dispose()


def test_an_added_mbtiles_is_served_byte_for_byte(
    fresh_db_url: str, home: Path, office: TestClient, tmp_path: Path
) -> None:
    tiles = raster_tiles(ZOOMS)
    source = write_mbtiles(tmp_path / "影像.mbtiles", tiles, metadata=raster_metadata(ZOOMS))
    added = gridmap(fresh_db_url, home, "add", str(source), "--name", "imagery")
    assert added.returncode == 0, added.stderr
    assert "imagery" in added.stdout and "png" in added.stdout
    listed = gridmap(fresh_db_url, home, "list")
    assert "imagery" in listed.stdout and "测试影像" in listed.stdout

    answer = office.get("/api/v1/basemaps").json()
    (b,) = answer["basemaps"]
    assert (b["name"], b["format"], b["tile_type"], b["raster"]) == (
        "imagery",
        "mbtiles",
        "png",
        True,
    )
    assert (b["minzoom"], b["maxzoom"]) == (ZOOMS.start, ZOOMS.stop - 1)
    assert b["bounds"] == pytest.approx(list(CITY_BOUNDS))
    assert b["attribution"] == "© 测试测绘院" and b["title"] == "测试影像"
    copies = list((home / "basemaps").iterdir())
    assert len(copies) == 1 and copies[0].read_bytes() == source.read_bytes()

    for (z, x, y), data in tiles.items():
        url = b["tiles"].format(z=z, x=x, y=y)
        response = office.get(url)
        assert response.status_code == 200, url
        assert response.content == data
        assert response.headers["content-type"] == "image/png"
        assert "immutable" in response.headers["cache-control"]
        etag = response.headers["etag"]
    again = office.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    z, x, y = next(iter(tiles))
    plain = office.get(f"/basemaps/imagery/{z}/{x}/{y}")
    assert plain.content == tiles[(z, x, y)]
    assert "immutable" not in plain.headers["cache-control"], "no hash in the URL: short"
    assert office.get(f"/basemaps/imagery/{z}/{x + 50}/{y}").status_code == 204
    assert office.get(f"/basemaps/imagery/{ZOOMS.stop + 2}/0/0").status_code == 204
    assert office.get("/basemaps/imagery/3/9/0").status_code == 204, "x beyond 2^z"
    missing = office.get("/basemaps/nowhere/11/0/0")
    assert missing.status_code == 404 and missing.json()["code"] == "basemap_not_found"

    tilejson = office.get("/basemaps/imagery.json").json()
    assert tilejson["tilejson"] == "3.0.0"
    assert tilejson["tiles"] == [b["tiles"]]
    assert (tilejson["minzoom"], tilejson["maxzoom"]) == (ZOOMS.start, ZOOMS.stop - 1)
    assert tilejson["attribution"] == "© 测试测绘院"

    removed = gridmap(fresh_db_url, home, "remove", "imagery")
    assert removed.returncode == 0, removed.stderr
    assert registered(fresh_db_url) == [] and list((home / "basemaps").iterdir()) == []
    assert office.get("/basemaps/imagery.json").status_code == 404


def test_a_vector_pmtiles_is_served_gzipped_as_stored(
    fresh_db_url: str, home: Path, office: TestClient, tmp_path: Path
) -> None:
    zooms = range(13, 15)
    mvt = {}
    for z, x, y in city_tiles(zooms):
        data = office.get(f"/tiles/grids/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"})
        if data.status_code == 200:
            mvt[(z, x, y)] = gzip.compress(data.content, mtime=0)
    assert mvt, "the demo city has grids in these tiles"
    source = write_pmtiles(
        tmp_path / "vector.pmtiles",
        mvt,
        tile_type=TileType.MVT,
        zooms=zooms,
        gzipped=True,
        metadata=vector_metadata(["grids"]),
    )
    added = gridmap(fresh_db_url, home, "add", str(source), "--name", "streets", "--title", "街巷")
    assert added.returncode == 0, added.stderr
    (b,) = office.get("/api/v1/basemaps").json()["basemaps"]
    assert (b["format"], b["tile_type"], b["raster"], b["title"]) == (
        "pmtiles",
        "pbf",
        False,
        "街巷",
    )
    assert b["vector_layers"] == ["grids"]
    for (z, x, y), stored in mvt.items():
        url = b["tiles"].format(z=z, x=x, y=y)
        zipped = office.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert zipped.content == gzip.decompress(stored), "httpx unzips what it is sent"
        raw = office.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers
        assert raw.content == gzip.decompress(stored)
        assert "grids" in mapbox_vector_tile.decode(raw.content)
    assert office.get("/basemaps/streets.json").json()["vector_layers"] == [
        {"id": "grids", "fields": {}}
    ]


def _sqlite_without_tiles(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.commit()
    db.close()
    return path


BROKEN = {
    "text": lambda p: (p.write_text("not a map", encoding="utf-8"), p)[1],
    "sqlite-no-tiles": _sqlite_without_tiles,
    "mbtiles-empty": lambda p: write_mbtiles(p, {}, metadata=raster_metadata(ZOOMS)),
    "mbtiles-bad-bounds": lambda p: write_mbtiles(
        p, raster_tiles(range(11, 12)), metadata=raster_metadata(ZOOMS, bounds="118,40,200,41")
    ),
    "mbtiles-bad-zooms": lambda p: write_mbtiles(
        p, raster_tiles(range(11, 12)), metadata=raster_metadata(ZOOMS, minzoom="9", maxzoom="3")
    ),
    "mbtiles-unknown-format": lambda p: write_mbtiles(
        p, {(11, 0, 0): b"BM junk"}, metadata=raster_metadata(ZOOMS, format="bmp")
    ),
    "mbtiles-lying-format": lambda p: write_mbtiles(
        p, {(11, 0, 0): png((1, 2, 3))}, metadata=raster_metadata(ZOOMS, format="jpg")
    ),
    "pmtiles-truncated": lambda p: (
        p.write_bytes(
            write_pmtiles(
                p, raster_tiles(range(11, 12)), tile_type=TileType.PNG, zooms=ZOOMS, gzipped=False
            ).read_bytes()[:60]
        ),
        p,
    )[1],
}


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_file_is_refused_and_nothing_registered(
    fresh_db_url: str, home: Path, tmp_path: Path, kind: str
) -> None:
    source = BROKEN[kind](tmp_path / f"{kind}.map")
    refused = gridmap(fresh_db_url, home, "add", str(source), "--name", "broken")
    assert refused.returncode == 1
    assert "invalid_basemap" in refused.stderr, refused.stderr
    assert registered(fresh_db_url) == []
    assert not (home / "basemaps").exists() or not list((home / "basemaps").iterdir())


def test_bad_and_taken_names_are_refused(fresh_db_url: str, home: Path, tmp_path: Path) -> None:
    source = write_mbtiles(
        tmp_path / "a.mbtiles", raster_tiles(ZOOMS), metadata=raster_metadata(ZOOMS)
    )
    for name in ("osm", "none", "Bad Name", "x" * 41, "../etc"):
        refused = gridmap(fresh_db_url, home, "add", str(source), "--name", name)
        assert refused.returncode == 1 and "invalid_basemap_name" in refused.stderr, name
    assert gridmap(fresh_db_url, home, "add", str(source), "--name", "a").returncode == 0
    taken = gridmap(fresh_db_url, home, "add", str(source), "--name", "a")
    assert taken.returncode == 1 and "basemap_exists" in taken.stderr
    assert registered(fresh_db_url) == ["a"]
    assert len(list((home / "basemaps").iterdir())) == 1, "the first copy only"
    gone = gridmap(fresh_db_url, home, "remove", "nothing")
    assert gone.returncode == 1 and "basemap_not_found" in gone.stderr


def test_map_pages_offer_the_office_base_map_first(
    fresh_db_url: str, home: Path, office: TestClient, tmp_path: Path
) -> None:
    assert "无底图" in office.get("/maps").text, "none registered: no base map, a note"
    source = write_mbtiles(
        tmp_path / "a.mbtiles", raster_tiles(ZOOMS), metadata=raster_metadata(ZOOMS)
    )
    assert gridmap(fresh_db_url, home, "add", str(source), "--name", "imagery").returncode == 0
    page = office.get("/maps/region/130227001").text
    assert "/basemaps/imagery/{z}/{x}/{y}?v=" in page
    assert 'c.key === "imagery"' in page, "the first office base map is the page's default"
    assert json.dumps("测试影像") in page
    exported = tmp_path / "exported.html"
    done = subprocess.run(
        [GRIDMAP, "map", "export", "--region", "130227001", "--api-base", "http://gis.lan:8000",
         "--basemap", "imagery", "-o", str(exported)],
        env={**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url, "GRIDMAP_HOME": str(home)},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "http://gis.lan:8000/basemaps/imagery/{z}/{x}/{y}?v=" in exported.read_text()
    offline = tmp_path / "offline.html"
    done = subprocess.run(
        [GRIDMAP, "map", "export", "--region", "130227001", "-o", str(offline)],
        env={**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url, "GRIDMAP_HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert 'c.key === "none"' in offline.read_text(), "an exported file draws no base map unasked"
    chosen = office.get("/maps", params={"basemap": "none"})
    assert chosen.status_code == 200
    unknown = office.get("/maps", params={"basemap": "google"})
    assert unknown.status_code == 422
    assert unknown.json()["details"]["problems"][0]["parameter"] == "basemap"


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_copy_lost_or_damaged_on_this_server_is_404_not_500(
    fresh_db_url: str, home: Path, office: TestClient, tmp_path: Path, damage: str
) -> None:
    tiles = raster_tiles(ZOOMS)
    source = write_mbtiles(tmp_path / "a.mbtiles", tiles, metadata=raster_metadata(ZOOMS))
    assert gridmap(fresh_db_url, home, "add", str(source), "--name", "lost").returncode == 0
    (copy,) = (home / "basemaps").iterdir()
    if damage == "missing":
        copy.unlink()
    else:
        copy.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    z, x, y = next(iter(tiles))
    answer = office.get(f"/basemaps/lost/{z}/{x}/{y}")
    assert answer.status_code == 404
    assert answer.json()["code"] == "basemap_file_unreadable"


def test_a_raster_pmtiles_with_leaf_directories_is_served_byte_for_byte(
    fresh_db_url: str, home: Path, office: TestClient, tmp_path: Path
) -> None:
    zooms = range(11, 20)
    keys = city_tiles(zooms)
    tile, spread = png((200, 220, 160)), random.Random(15)
    # bytes after IEND, of varied length: distinct tiles whose directory does not compress
    # into the root alone
    tiles = {k: tile + bytes(spread.randrange(300)) + i.to_bytes(4) for i, k in enumerate(keys)}
    source = write_pmtiles(
        tmp_path / "deep.pmtiles", tiles, tile_type=TileType.PNG, zooms=zooms, gzipped=False
    )
    with source.open("rb") as f:
        header = deserialize_header(f.read(127))
    assert header["leaf_directory_length"] > 0, "enough tiles for leaf directories"
    assert gridmap(fresh_db_url, home, "add", str(source), "--name", "deep").returncode == 0
    (b,) = office.get("/api/v1/basemaps").json()["basemaps"]
    assert (b["format"], b["tile_type"], b["raster"]) == ("pmtiles", "png", True)
    for z, x, y in [*keys[:50], *keys[-300::7]]:
        answer = office.get(b["tiles"].format(z=z, x=x, y=y))
        assert answer.content == tiles[(z, x, y)], (z, x, y)
        assert answer.headers["content-type"] == "image/png"
    z, x, y = keys[-1]
    assert office.get(f"/basemaps/deep/{z}/{x + 1}/{y + 1}").status_code == 204
