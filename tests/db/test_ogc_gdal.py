"""OGC API – Features under /ogc read by a real client: GDAL's ``ogrinfo`` (OAPIF driver)
against the app under uvicorn — collections, summaries, every feature, filters, and
``-where`` evaluated by the server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from shapely.geometry import Point, box
from sqlalchemy import Engine, text

from gis.query.features import COLLECTIONS

from support import COUNTS, GRID_NAME, POINTS, demo_bounds

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy")


def _ogrinfo(*args: str) -> str:
    """Run GDAL's ogrinfo (Debian gdal-bin) with a timeout and no proxy; its stdout."""
    program = shutil.which("ogrinfo")
    if program is None:
        pytest.fail("ogrinfo is missing: run make bootstrap (Debian package gdal-bin)")
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    env.update(GDAL_HTTP_TIMEOUT="30", NO_PROXY="*", no_proxy="*", CPL_DEBUG="OFF")
    done = subprocess.run(
        [program, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "ERROR" not in done.stderr, done.stderr
    return done.stdout


def _features(output: str, layer: str) -> list[str]:
    """The ``OGRFeature(layer):N`` blocks of ogrinfo's output."""
    return re.split(rf"^OGRFeature\({layer}\):\d+$", output, flags=re.M)[1:]


def test_ogrinfo_lists_the_collections(app_server: str) -> None:
    output = _ogrinfo("-ro", "-so", f"OAPIF:{app_server}/ogc")
    layers = re.findall(r"^\d+: (\w+) \(title: ([^)]*\)?)\)", output, flags=re.M)
    assert [name for name, _ in layers] == list(COLLECTIONS), output
    assert dict(layers)["grids"] == "网格"
    assert re.search(r"^4: grids .*\(Multi Polygon\)$", output, flags=re.M), output
    assert re.search(r"^6: cameras .*\(Point\)$", output, flags=re.M), output


def test_ogrinfo_summary_of_grids(app_server: str) -> None:
    output = _ogrinfo("-ro", "-so", f"OAPIF:{app_server}/ogc", "grids")
    assert "Feature Count: 66" in output
    assert "Geometry: Multi Polygon" in output
    assert re.search(r"^name: String", output, flags=re.M)
    assert re.search(r"^households: Integer", output, flags=re.M)
    minx, miny, maxx, maxy = demo_bounds("grids")
    assert f"Extent: ({minx:.6f}, {miny:.6f}) - ({maxx:.6f}, {maxy:.6f})" in output


@pytest.mark.parametrize("layer", ["grids", "centres", "cameras", "buildings"])
def test_ogrinfo_reads_every_feature(app_server: str, layer: str) -> None:
    """ogrinfo pages through the items (10 a request) by the next links to the end."""
    output = _ogrinfo("-ro", "-q", f"OAPIF:{app_server}/ogc", layer)
    features = _features(output, layer)
    assert len(features) == COUNTS[layer]
    if layer == "grids":
        [grid] = [f for f in features if f"name (String) = {GRID_NAME}\n" in f]
        assert "MULTIPOLYGON (((" in grid
        assert f"party_branch (String) = {GRID_NAME}党支部" in grid
    if layer == "centres":
        assert "name (String) = 栗乡街道党群服务中心" in output
    if layer == "cameras":
        ids = re.findall(r"device_id \(String\) = (\d{20})", output)
        assert sorted(ids) == sorted(r["device_id"] for r in POINTS["cameras"])


def test_ogrinfo_filters(app_server: str) -> None:
    source = f"OAPIF:{app_server}/ogc"
    where = _ogrinfo("-ro", "-q", source, "grids", "-where", f"name = '{GRID_NAME}'")
    [grid] = _features(where, "grids")
    assert f"name (String) = {GRID_NAME}" in grid
    by_id = _ogrinfo("-ro", "-q", source, "grids", "-where", "id = '130227001002003'")
    [grid] = _features(by_id, "grids")  # fetched as /items/130227001002003
    assert "code (String) = 130227001002003" in grid
    area = (118.3012, 40.1337, 118.3289, 40.1523)
    spat = _ogrinfo("-ro", "-q", source, "cameras", "-spat", *map(str, area))
    expected = sum(
        box(*area).intersects(Point(float(r["lon"]), float(r["lat"]))) for r in POINTS["cameras"]
    )
    assert len(_features(spat, "cameras")) == expected > 10


def _requests(log: Path, start: int, path: str) -> list[dict[str, list[str]]]:
    """The query strings of the GET ``path`` requests in uvicorn's access log after byte
    ``start``."""
    found = []
    for line in log.read_bytes()[start:].decode(errors="replace").splitlines():
        match = re.search(r'"GET (\S+) HTTP/[\d.]+" 200', line)
        if match and urlsplit(match[1]).path == path:
            found.append(parse_qs(urlsplit(match[1]).query))
    return found


GRIDS_SQL = "SELECT code FROM regions WHERE valid_to IS NULL AND level = 'grid'"


@pytest.mark.parametrize(
    ("layer", "where", "sql"),
    [
        ("grids", {"name": GRID_NAME}, f"{GRIDS_SQL} AND name = :name"),
        ("grids", {"code": "130227001002003"}, f"{GRIDS_SQL} AND code = :code"),
        (
            "cameras",  # several pages, each asked with both filters
            {"status": "online", "type": "球机"},
            "SELECT device_id FROM cameras WHERE status = :status AND type = :type",
        ),
    ],
)
def test_ogrinfo_where_is_evaluated_by_the_server(
    app_server: str,
    app_server_log: Path,
    engine: Engine,
    layer: str,
    where: dict[str, str],
    sql: str,
) -> None:
    """GDAL finds the layer's queryables in /ogc/api and sends ``-where`` as query
    parameters (on every page); the features are exactly those PostGIS says match."""
    with engine.connect() as conn:
        expected = sorted(conn.scalars(text(sql), where))
    start = app_server_log.stat().st_size
    condition = " AND ".join(f"{field} = '{value}'" for field, value in where.items())
    output = _ogrinfo("-ro", "-q", f"OAPIF:{app_server}/ogc", layer, "-where", condition)
    key = "code" if layer == "grids" else "device_id"
    pattern = re.compile(rf"^  {key} \(String\) = (.*)$", flags=re.M)
    assert sorted(pattern.findall(output)) == expected
    pages = -(-len(expected) // 10)  # GDAL asks for 10 features a page
    asked = _requests(app_server_log, start, f"/ogc/collections/{layer}/items")
    filtered = [q for q in asked if all(q.get(f) == [v] for f, v in where.items())]
    assert len(filtered) == pages >= 1, asked
    assert len(asked) <= pages + 1, asked  # besides: one page without filter, for the fields
