"""The lookup batch benchmark's cities, each in a fresh migrated database: the demo city, and a
generated city of seamless Voronoi grids; and the points the tools are asked about (see
``lookup_batch``'s docstring)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from cities import reading_order, voronoi_cells
from common import spaced
from sqlalchemy import Engine, text

from gis.settings import get_settings
from gis.store.db import create_database, make_engine, migrate
from gis.store.seed import load_demo
from gis.store.versions import RegionRecord, commit_regions, current_version

COUNTY_CODE = "130227"

PER_PARENT = 999  # a code level has 3 digits for its sequence

CENTRE = (118.3, 40.1)

BOX_SIZE = (0.6, 0.4)

GRID_DEG = 1e-7  # generated coordinates rounded to 1e-7° (about 1 cm)

MARGIN = 0.05  # points are drawn over the bounding box plus 5 % on every side


@dataclass
class City:
    """A city in its own database, and its current grids as stored (in code order)."""

    key: str
    title: str
    url: str
    version: int
    codes: np.ndarray  # str, sorted: the order of GridIndex.grids
    geoms: np.ndarray  # shapely geometries read back from PostGIS
    setup_s: float

    @property
    def vertices(self) -> float:
        """Mean number of vertices per grid (closing vertices not counted)."""
        rings = shapely.get_num_coordinates(self.geoms) - shapely.get_num_geometries(self.geoms)
        return float(np.mean(rings))


def community_code(k: int) -> str:
    """12-digit code of the k-th generated community (0-based): street + community."""
    street, community = divmod(k, PER_PARENT)
    return f"{COUNTY_CODE}{street + 1:03d}{community + 1:03d}"


def generate_grids(n: int, seed: int) -> list[RegionRecord]:
    """``n`` seamless Voronoi grid cells around CENTRE, in reading order, with valid codes."""
    rng = np.random.default_rng(seed)
    (cx, cy), (w, h) = CENTRE, BOX_SIZE
    box = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    seeds = rng.uniform([cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2], size=(n, 2))
    cells = shapely.set_precision(voronoi_cells(seeds, box, box.buffer(0.1)), GRID_DEG)
    single = shapely.get_type_id(cells) == shapely.GeometryType.POLYGON
    if not single.all() or not shapely.is_valid(cells).all():
        raise RuntimeError("a Voronoi cell came out multi-part or invalid; change --seed")
    if not shapely.coverage_is_valid(cells):
        raise RuntimeError("the generated cells do not form a seamless coverage; change --seed")
    centroids = shapely.get_coordinates(shapely.centroid(cells))
    cells = cells[reading_order(centroids, max(1, round(np.sqrt(n * h / w))), cy + h / 2, h)]
    records = []
    for i, wkb in enumerate(shapely.to_wkb(cells).tolist()):
        community, seq = divmod(i, PER_PARENT)
        parent = community_code(community)
        records.append(
            RegionRecord(
                code=f"{parent}{seq + 1:03d}",
                level="grid",
                name=f"测试{community + 1}社区第{seq + 1}网格",
                parent_code=parent,
                wkb=wkb,
                households=int(rng.integers(150, 401)),
            )
        )
    return records


def _fresh_database(url: str) -> Engine:
    create_database(url)
    migrate(url)
    return make_engine(url)


def _analyze(engine: Engine) -> None:
    """Statistics on the regions, as autovacuum would soon gather on a live database."""
    with engine.connect() as conn:
        conn.execute(text("ANALYZE regions"))
        conn.commit()


def read_grids(engine: Engine) -> tuple[int, np.ndarray, np.ndarray]:
    """The current version and its grids (codes sorted, geometries as PostGIS stores them)."""
    with engine.connect() as conn:
        version = current_version(conn)
        rows = conn.execute(
            text(
                "SELECT code, ST_AsBinary(geom) FROM regions "
                "WHERE level = 'grid' AND valid_to IS NULL ORDER BY code"
            )
        ).all()
    if version is None or not rows:
        raise RuntimeError("the city has no grids")
    codes = np.array([r[0] for r in rows])
    geoms = shapely.from_wkb([bytes(r[1]) for r in rows])
    return version, codes, geoms


def _stored_grids(
    engine: Engine, fill: Callable[[Engine], None] | None = None
) -> tuple[int, np.ndarray, np.ndarray]:
    """``fill(engine)`` (when given), statistics, then :func:`read_grids`; the engine is
    disposed of either way."""
    try:
        if fill is not None:
            fill(engine)
        _analyze(engine)
        return read_grids(engine)
    finally:
        engine.dispose()


def make_demo_city(url: str) -> City:
    """The demo city in a fresh migrated database."""
    start = time.perf_counter()
    demo = get_settings().demo_dir
    version, codes, geoms = _stored_grids(_fresh_database(url), lambda e: load_demo(e, demo))
    return City(
        "demo",
        "demo city (迁西县 栗乡街道)",
        url,
        version,
        codes,
        geoms,
        time.perf_counter() - start,
    )


def make_generated_city(url: str, n: int, seed: int) -> City:
    """``n`` generated grids committed as one version into a fresh migrated database."""
    start = time.perf_counter()
    records = generate_grids(n, seed)

    def commit(engine: Engine) -> None:
        with engine.begin() as conn:
            commit_regions(conn, records, author="bench", action="load", message="lookup bench")

    version, codes, geoms = _stored_grids(_fresh_database(url), commit)
    if len(codes) != n:
        raise RuntimeError(f"stored {len(codes)} grids, expected {n}")
    return City(
        "generated",
        f"generated city ({spaced(n)} Voronoi grids)",
        url,
        version,
        codes,
        geoms,
        time.perf_counter() - start,
    )


def existing_city(url: str) -> City:
    """The current grids of a database already loaded (a province: ``gridmap demo province``),
    left as it is."""
    start = time.perf_counter()
    version, codes, geoms = _stored_grids(make_engine(url))
    return City(
        "given",
        f"the given database ({spaced(len(codes))} grids)",
        url,
        version,
        codes,
        geoms,
        time.perf_counter() - start,
    )


def make_points(city: City, n: int, vertices: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``n`` points over the city's bounds + MARGIN, ``vertices`` of them exact grid vertices."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = shapely.total_bounds(city.geoms)
    mx, my = MARGIN * (x1 - x0), MARGIN * (y1 - y0)
    lon = rng.uniform(x0 - mx, x1 + mx, n)
    lat = rng.uniform(y0 - my, y1 + my, n)
    corners = np.unique(shapely.get_coordinates(city.geoms), axis=0)
    k = min(vertices, n)
    where = rng.choice(n, k, replace=False)
    pick = rng.choice(len(corners), k, replace=k > len(corners))  # the demo has few vertices
    lon[where], lat[where] = corners[pick].T
    return lon, lat, k
