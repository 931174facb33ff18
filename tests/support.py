"""Small helpers and demo-city facts shared by tests (several of them run gridmap as a real
process)."""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx
import mapbox_vector_tile
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from gis.access.users import (
    UserInfo,
    create_user,
    disable_user,
    get_user,
    set_password,
    set_role_scope,
)
from gis.errors import NotFound
from gis.settings import Settings
from tiles.layers import EXTENT

CITY = (118.3156645, 40.1488890)
"""Lon, lat of 栗乡街道党群服务中心, in the middle of the demo city."""
GRID_CODE = "130227001002001"
"""A demo grid of 清泉里社区 (130227001002)."""
GRID_NAME = "清泉里社区第1网格"
"""The name of grid GRID_CODE."""
GRID_WORKERS = [
    "张伟", "王芳", "阿依古丽·买买提", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰",
    "吴霞", "徐强", "孙丽", "马超", "朱琳", "胡斌", "郭峰", "何婷", "林涛", "高翔",
]  # fmt: skip
"""Twenty grid workers' names for text-encoding tests: common Han names and a Uyghur name with
the middle dot · (U+00B7), which GB2312 readers garble."""

# ---- the demo city read straight from its files: an oracle independent of gridmap's readers


def _demo_csv(name: str) -> list[dict[str, str]]:
    with (Settings().demo_dir / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


REGISTRY = _demo_csv("addresses.csv")
"""The demo city's address registry, as every test database holds it."""


def registry_row(compound: str | None = None, building: str = "") -> dict[str, str]:
    """The registry row of ``building`` of ``compound`` (``""``: the compound itself)."""
    return next(r for r in REGISTRY if r["compound"] == compound and r["building"] == building)


SUNNY = registry_row("阳光小区", "5")
"""阳光小区 5号楼 (阳光花园 also has a 5号楼)."""
REGIONS = {
    name: json.loads((Settings().demo_dir / file).read_text(encoding="utf-8"))["features"]
    for name, file in {
        "counties": "county.geojson",
        "streets": "streets.geojson",
        "communities": "communities.geojson",
        "grids": "grids.geojson",
    }.items()
}
"""The demo city's GeoJSON features per region collection."""
POINTS = {
    "centres": _demo_csv("centres.csv"),
    "cameras": _demo_csv("cameras.csv"),
    "buildings": [r for r in REGISTRY if r["households"]],
}
"""The demo city's CSV rows per point collection."""
COUNTS = {**{k: len(v) for k, v in REGIONS.items()}, **{k: len(v) for k, v in POINTS.items()}}
"""Features per collection in the demo city: 1 county, 19 streets, 12 communities, 66 grids,
28 centres, 300 cameras, 193 buildings."""


def demo_bounds(collection: str) -> tuple[float, float, float, float]:
    """West, south, east, north of a collection's features in the demo files."""
    if collection in REGIONS:
        shapes = [shape(f["geometry"]) for f in REGIONS[collection]]
        return (
            min(s.bounds[0] for s in shapes),
            min(s.bounds[1] for s in shapes),
            max(s.bounds[2] for s in shapes),
            max(s.bounds[3] for s in shapes),
        )
    lons = [float(r["lon"]) for r in POINTS[collection]]
    lats = [float(r["lat"]) for r in POINTS[collection]]
    return min(lons), min(lats), max(lons), max(lats)


def links_by_rel(body: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The ``links`` of an OGC API (or other JSON) document by their ``rel``."""
    return {link["rel"]: link for link in body["links"]}


def next_href(body: dict[str, Any]) -> str | None:
    """The ``next`` link of a page of a list (``api.responses.paged``), None on the last."""
    return links_by_rel(body).get("next", {}).get("href")


GRIDMAP = str(Path(sys.executable).parent / "gridmap")
"""The ``gridmap`` console command of the running virtualenv."""

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], what: str, *, timeout: float = 60, every: float = 0.05
) -> T:
    """The first truthy value of ``condition()``, asked every ``every`` s; AssertionError naming
    ``what`` once ``timeout`` s pass without one.  Tests wait for a state this way, never for a
    fixed time: as short as the machine allows, as long as a slow one needs."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(every)
    return value


def _answered(url: str, status: int) -> httpx.Response | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.TransportError:  # nothing listens there yet
        return None
    return response if response.status_code == status else None


def answer(url: str, status: int = 200, *, timeout: float = 60) -> httpx.Response:
    """The response of GET ``url`` once it answers ``status`` (a server starting, a page built
    in the background), waiting up to ``timeout`` s."""
    return wait_until(lambda: _answered(url, status), f"{url} to answer {status}", timeout=timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upload(client: Any, path: Path, key: str | None, **form: Any) -> Any:
    """POST a file to /api/v1/uploads with form fields (booleans as 'true'/'false')."""
    data = {
        k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items() if v is not None
    }
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with path.open("rb") as f:
        return client.post(
            "/api/v1/uploads", files={"file": (path.name, f)}, data=data, headers=headers
        )


def state(engine: Any) -> tuple[int | None, int, int]:
    """(current version, region rows, upload rows): what a refused upload must not change."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return (
            conn.scalar(text("SELECT max(number) FROM boundary_versions")),
            conn.scalar(text("SELECT count(*) FROM regions")),
            conn.scalar(text("SELECT count(*) FROM uploads")),
        )


def stored_geometry(engine: Any, code: str) -> Any:
    """The current stored geometry (shapely, EPSG:4326) of region ``code``."""
    import shapely
    from sqlalchemy import text

    with engine.connect() as conn:
        wkb = conn.scalar(
            text("SELECT ST_AsBinary(geom) FROM regions WHERE valid_to IS NULL AND code = :c"),
            {"c": code},
        )
    return shapely.from_wkb(bytes(wkb))


def write_layer(
    path: Path,
    rows: list[dict[str, Any]],
    geometries: list[Any],
    *,
    crs: str | None = "EPSG:4326",
    driver: str | None = None,
    encoding: str | None = None,
    geometry_type: str = "MultiPolygon",
) -> Path:
    """Write features (property dicts + shapely geometries) with GDAL through pyogrio."""
    import numpy as np
    import shapely
    from pyogrio.raw import write

    fields = list(rows[0])
    columns = []
    for f in fields:
        values = [r[f] for r in rows]
        if all(isinstance(v, int) for v in values):
            columns.append(np.array(values, dtype=np.int64))
        else:
            columns.append(np.array(values, dtype=object))
    write(
        path,
        geometry=np.array(shapely.to_wkb(geometries), dtype=object),
        field_data=columns,
        fields=fields,
        driver=driver,
        crs=crs,
        encoding=encoding,
        geometry_type=geometry_type,
    )
    return path


def zip_dir(files: list[Path], archive: Path) -> Path:
    """Zip ``files`` flat into ``archive``."""
    import zipfile

    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f.name)
    return archive


def url_of(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server of ``server_url`` (its password kept)."""
    from sqlalchemy import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


@contextmanager
def database_copy(server_url: str, template: str) -> Iterator[tuple[str, Any]]:
    """(URL, engine) of a new copy of database ``template`` on the server of ``server_url``
    (for a module's own fixture), dropped afterwards."""
    import uuid

    from gis.store.db import create_database, drop_database, make_engine

    url_text = url_of(server_url, f"{template}_{uuid.uuid4().hex[:6]}")
    create_database(url_text, template=template)
    engine = make_engine(url_text)
    try:
        yield url_text, engine
    finally:
        engine.dispose()
        drop_database(url_text)


@contextmanager
def serve_app(database_url: str, log_path: Path, *, workers: int = 1, **env: str) -> Iterator[str]:
    """The app under uvicorn with ``workers`` workers on a free port of 127.0.0.1
    (``GRIDMAP_*`` from ``env``); its base URL once ``/health`` answers 200. Output goes to
    ``log_path``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {**os.environ, "GRIDMAP_DATABASE_URL": database_url, **env}
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
    with log_path.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def started() -> httpx.Response | None:
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the app did not start on {base}:\n{tail}")
        return _answered(f"{base}/health", 200)

    try:
        wait_until(started, f"the app on {base} (its output: {log_path})")
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ---- vector tiles: XYZ geometry computed here, independently of PostGIS's ST_TileEnvelope


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding a WGS84 point at zoom ``z`` (the slippy-map formulas, independent
    of PostGIS's ``ST_TileEnvelope``)."""
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def features(data: bytes, layer: str) -> list[dict[str, Any]]:
    """The features of a vector tile's one layer ``layer`` (none for an empty tile); the tile
    must hold that layer only, at gridmap's extent of 4096; y grows downwards, as in the
    tile."""
    if not data:
        return []
    decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    assert set(decoded) == {layer}
    assert decoded[layer]["extent"] == 4096
    return decoded[layer]["features"]


WORLD = 2 * 20037508.342789244
"""Width of the EPSG:3857 world, in metres: the span of tile 0/0/0."""
MERCATOR = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


def get_tile(client: Any, layer: str, z: int, x: int, y: int, **params: Any) -> Any:
    """GET one vector tile of ``layer`` with query ``params``."""
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params=params)


def tile_box(z: int, x: int, y: int, grow: float = 0.0) -> tuple[float, float, float, float]:
    """Minx, miny, maxx, maxy of a tile in EPSG:3857 metres, grown by ``grow`` tile units (the
    XYZ formulas, independent of ``ST_TileEnvelope``)."""
    size = WORLD / 2**z
    pad = grow * size / EXTENT
    minx, maxy = -WORLD / 2 + x * size, WORLD / 2 - y * size
    return minx - pad, maxy - size - pad, minx + size + pad, maxy + pad


def to_mercator(geometry: dict[str, Any], z: int, x: int, y: int) -> shapely.Geometry:
    """A decoded feature's geometry (tile units, y down) in EPSG:3857 metres."""
    minx, _, _, maxy = tile_box(z, x, y)
    unit = WORLD / 2**z / EXTENT
    local = shape(geometry)
    return shapely.transform(
        local, lambda c: np.column_stack([minx + c[:, 0] * unit, maxy - c[:, 1] * unit])
    )


def mercator(geom: shapely.Geometry) -> shapely.Geometry:
    """A lon/lat geometry in EPSG:3857 metres."""
    return shapely.transform(geom, lambda c: np.column_stack(MERCATOR.transform(c[:, 0], c[:, 1])))


def clipped(geom: shapely.Geometry, box: shapely.Geometry) -> shapely.Geometry:
    """The areal part of ``geom`` (lon/lat) in EPSG:3857, inside ``box``: zero-width spikes
    and touching edges, which tiles leave out, dropped."""
    parts = shapely.get_parts(shapely.intersection(mercator(geom), box))
    return shapely.union_all(parts[shapely.get_dimensions(parts) == 2])


TEST_PASSWORD = "gridmap-test-password-2026"
"""The password :func:`make_user` gives unless told otherwise (≥ 10 characters)."""


def make_user(
    engine: Any, name: str, role: str, scope: str | None = None, password: str = TEST_PASSWORD
) -> UserInfo:
    """A user who can sign in with ``password``, ``role`` and ``scope``: created, or — on a
    shared database where an earlier test made one of that name — reset to these and
    enabled."""
    with engine.begin() as conn:
        try:
            user = get_user(conn, name)
        except NotFound:
            return create_user(conn, name, password, role, scope)
        set_password(conn, user.id, password)
        disable_user(conn, user.id, disabled=False)
        return set_role_scope(conn, user.id, role, scope)


def renamed_grid_file(demo_grids: dict, feature: dict, folder: Path, suffix: str) -> Path:
    """The demo grids of community 130227001002 with ``feature`` (one of them) renamed
    "…``suffix``", as a GeoJSON file in ``folder``: an upload that makes a new version."""
    siblings = [
        f for f in demo_grids["features"] if f["properties"]["parent_code"] == "130227001002"
    ]
    rows = [
        {
            "code": f["properties"]["code"],
            "name": f["properties"]["name"] + (suffix if f is feature else ""),
            "parent_code": f["properties"]["parent_code"],
        }
        for f in siblings
    ]
    return write_layer(folder / "grids.geojson", rows, [shape(f["geometry"]) for f in siblings])


def upload_renamed_grid(
    base: str, demo_grids: dict, feature: dict, key: str, folder: Path, suffix: str = "（已调整）"
) -> dict:
    """Commit :func:`renamed_grid_file` through ``base``'s upload API with ``key``: a new
    version (the upload's answer)."""
    path = renamed_grid_file(demo_grids, feature, folder, suffix)
    with httpx.Client(base_url=base, timeout=60) as client:
        committed = upload(client, path, key, level="grid", dry_run=False)
    assert committed.status_code == 201, committed.json()
    return committed.json()


def without_roads(engine: Any) -> None:
    """Delete the demo city's roads and so its walking network: a city with no roads yet
    (``gis.store.seed.load_demo`` writes them back)."""
    from sqlalchemy import text

    from gis.network.build import build_network

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM roads"))
        build_network(conn)
