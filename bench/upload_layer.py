"""The upload benchmark's layer, generated deterministically (seeded numpy): Voronoi cells of
Lloyd-relaxed points in a box of the demo county (118.2–118.5°E, 40.05–40.3°N), built in
metres in EPSG:4527 (CGCS2000 3° Gauss-Krüger zone 39) and rounded to 1 mm; each shared edge
gets the same jagged intermediate vertices in both neighbours, so the coverage stays
seamless (no overlaps, no gaps). It is written with GDAL as a GBK shapefile with Chinese
field names and zipped. The cells are dealt, in reading order, to communities of at most 999
grids, so every grid code is a valid 15-digit code (12-digit community code + 3-digit
sequence)."""

from __future__ import annotations

import argparse
import itertools
import pickle
import shutil
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely
from cities import reading_order, relaxed_cells, sample_inside
from pyproj import Transformer
from shapely.geometry import Polygon

from gis.geo.crs import crs_from_file, to_wgs84

STREET_CODE = "130227001"

GRIDS_PER_COMMUNITY = 999  # a grid code has 3 digits for its sequence

BOX_LONLAT = (118.2, 40.05, 118.5, 40.3)

FILE_CRS = "EPSG:4527"

GRID_MM = 0.001  # coordinates rounded to 1 mm, as a surveyed file would have them

WIGGLE = 0.08  # perpendicular jitter of intermediate edge vertices, as a share of edge length

LAYER = "网格"

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"

GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国玉兰红梅志强海燕丹凤"


@dataclass(frozen=True)
class GridLayer:
    """The generated grids: polygons in EPSG:4527 metres and their attribute columns."""

    cells: list[Polygon]
    codes: list[str]
    parents: list[str]
    names: list[str]
    households: np.ndarray
    workers: list[str]

    @property
    def vertices(self) -> float:
        """Mean number of vertices per polygon (closing vertex not counted)."""
        rings = shapely.get_exterior_ring(np.asarray(self.cells, dtype=object))
        return float(np.mean(shapely.get_num_coordinates(rings) - 1))


def _domain() -> Polygon:
    """The lon/lat box, densified and projected to EPSG:4527 (metres)."""
    box = shapely.segmentize(shapely.box(*BOX_LONLAT), 0.005)
    fwd = Transformer.from_crs("EPSG:4326", FILE_CRS, always_xy=True)
    return shapely.transform(box, lambda xy: np.column_stack(fwd.transform(*xy.T)))


def _cells(n: int, rng: np.random.Generator, lloyd: int) -> np.ndarray:
    """Voronoi cells of ``n`` Lloyd-relaxed random points clipped to the domain, 1 mm grid."""
    domain = _domain()
    envelope = shapely.box(*domain.bounds).buffer(5_000.0)
    points = sample_inside(domain, n, rng, batch=2 * n)
    cells = relaxed_cells(points, domain, envelope, lloyd)
    cells = np.asarray(shapely.set_precision(cells, GRID_MM), dtype=object)
    single = shapely.get_type_id(cells) == shapely.GeometryType.POLYGON
    if not single.all() or (shapely.get_num_interior_rings(cells) > 0).any():
        raise RuntimeError("a Voronoi cell came out multi-part or holed; change --seed")
    return cells


Key = tuple[tuple[float, float], tuple[float, float]]


def _jagged(cells: np.ndarray, rng: np.random.Generator, points_per_edge: int) -> list[Polygon]:
    """Insert ``points_per_edge`` jittered vertices in every edge, identical for both sides.

    Each edge is keyed by its endpoints in canonical order, so both cells sharing it get
    exactly the same intermediate coordinates.  Edges of cells that turn out invalid, or
    overlap a neighbour, are straightened (no intermediate vertices) until every cell is valid
    and the cells a coverage.
    """
    t = np.arange(1, points_per_edge + 1) / (points_per_edge + 1)
    bulge = np.sin(np.pi * t)
    offsets: dict[Key, np.ndarray] = {}
    rings = [np.asarray(c.exterior.coords) for c in cells]

    def build(ring: np.ndarray) -> Polygon:
        out = []
        for a, b in itertools.pairwise(ring):
            ka, kb = (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
            key = (ka, kb) if ka < kb else (kb, ka)
            lo, hi = np.array(key[0]), np.array(key[1])
            jitter = offsets.get(key)
            if jitter is None:
                jitter = offsets[key] = WIGGLE * rng.uniform(-1.0, 1.0, len(t)) * bulge
            out.append(a[None, :])
            if not jitter.any():  # a straightened edge: rounded in-between points could kink it
                continue
            d = hi - lo
            inserted = lo + t[:, None] * d + jitter[:, None] * np.array([-d[1], d[0]])
            inserted = np.round(inserted / GRID_MM) * GRID_MM
            out.append(inserted if ka < kb else inserted[::-1])
        out.append(ring[:1])
        return Polygon(np.vstack(out))

    polygons = [build(r) for r in rings]
    for _ in range(10):
        cells_now = np.asarray(polygons, dtype=object)
        invalid = np.flatnonzero(~shapely.is_valid(cells_now))
        if len(invalid) == 0:  # then those whose jagged edges cross a neighbour's
            invalid = np.flatnonzero(~shapely.is_empty(shapely.coverage_invalid_edges(cells_now)))
        if len(invalid) == 0:
            break
        for i in invalid.tolist():
            ring = rings[i]
            for a, b in itertools.pairwise(ring):
                ka, kb = (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))
                offsets[(ka, kb) if ka < kb else (kb, ka)] = np.zeros(len(t))
        polygons = [build(r) for r in rings]
    if not shapely.is_valid(np.asarray(polygons, dtype=object)).all():
        raise RuntimeError("could not make every jagged cell valid")
    if not shapely.coverage_is_valid(np.asarray(polygons, dtype=object)):
        raise RuntimeError("the generated cells do not form a seamless coverage")
    return polygons


def community_code(k: int) -> str:
    """12-digit code of the k-th generated community (0-based)."""
    return f"{STREET_CODE}{101 + k:03d}"


def generate(n: int, seed: int, points_per_edge: int) -> GridLayer:
    """``n`` seamless grid cells with Chinese attributes, deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    cells = _cells(n, rng, lloyd=2)
    # reading order: rows from north to south, each west to east
    centroids = shapely.get_coordinates(shapely.centroid(cells))
    ymin, ymax = centroids[:, 1].min(), centroids[:, 1].max()
    cells = cells[reading_order(centroids, max(1, round(np.sqrt(n))), ymax, ymax - ymin)]
    polygons = _jagged(cells, rng, points_per_edge) if points_per_edge else list(cells)
    community = [i // GRIDS_PER_COMMUNITY for i in range(n)]
    seq = [i % GRIDS_PER_COMMUNITY + 1 for i in range(n)]
    surnames = rng.integers(0, len(SURNAMES), n)
    given = rng.integers(0, len(GIVEN), (n, 2))
    two = rng.random(n) < 0.6
    return GridLayer(
        cells=polygons,
        codes=[f"{community_code(c)}{q:03d}" for c, q in zip(community, seq, strict=True)],
        parents=[community_code(c) for c in community],
        names=[f"测试{c + 1}社区第{q}网格" for c, q in zip(community, seq, strict=True)],
        households=rng.integers(150, 401, n).astype(np.int32),
        workers=[
            SURNAMES[s] + GIVEN[g[0]] + (GIVEN[g[1]] if t else "")
            for s, g, t in zip(surnames.tolist(), given.tolist(), two.tolist(), strict=True)
        ],
    )


def write_zip(layer: GridLayer, workdir: Path) -> Path:
    """The layer as a GBK shapefile in EPSG:4527, zipped (as the upload path takes it)."""
    shp_dir = workdir / "shp"
    shp_dir.mkdir()
    pyogrio.raw.write(
        shp_dir / "grids.shp",
        shapely.to_wkb(np.asarray(layer.cells, dtype=object)),
        [
            np.array(layer.codes, dtype=object),
            np.array(layer.names, dtype=object),
            np.array(layer.parents, dtype=object),
            layer.households,
            np.array(layer.workers, dtype=object),
        ],
        ["编码", "名称", "上级编码", "户数", "网格员"],
        layer=LAYER,
        driver="ESRI Shapefile",
        geometry_type="Polygon",
        crs=FILE_CRS,
        encoding="GBK",
    )
    path = workdir / "grids.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(shp_dir.iterdir()):
            archive.write(part, part.name)
    return path


def parent_geometry(workdir: Path, layer: GridLayer) -> dict[str, shapely.MultiPolygon]:
    """Each community: the union of its cells as gridmap will see them (read back, in 4326)."""
    meta, _, wkb, _ = pyogrio.raw.read(workdir / "shp" / "grids.shp", read_geometry=True)
    geoms = to_wgs84(shapely.from_wkb(wkb), crs_from_file(meta["crs"]))
    parents = np.array(layer.parents)
    return {
        code: shapely.MultiPolygon(
            list(shapely.get_parts(shapely.coverage_union_all(geoms[parents == code])))
        )
        for code in sorted(set(layer.parents))
    }


@dataclass
class LayerFiles:
    """The generated layer as the rounds use it: its zip, the parents' geometries for the
    gridmap template, and one grid's code and name to check ogr2ogr's import by."""

    polygons: int
    seed: int
    edge_points: int
    vertices: float
    zip_path: Path
    parents: dict[str, shapely.MultiPolygon]
    code: str
    name: str


def layer_files(args: argparse.Namespace, workdir: Path) -> LayerFiles:
    """The layer of ``args`` in ``args.layer_dir`` when an earlier run left it there (same
    size, seed and edge points), else generated into it (or into ``workdir``) — the 1 000 000
    polygons take minutes to make."""
    where = Path(args.layer_dir) if args.layer_dir else workdir
    saved = where / "layer.pickle"
    key = (args.polygons, args.seed, args.edge_points)
    if args.layer_dir and saved.exists():
        with saved.open("rb") as f:
            files = LayerFiles(**pickle.load(f))
        if (files.polygons, files.seed, files.edge_points) == key:
            return files
    shutil.rmtree(where / "shp", ignore_errors=True)
    where.mkdir(parents=True, exist_ok=True)
    layer = generate(args.polygons, args.seed, args.edge_points)
    zip_path = write_zip(layer, where)
    i = len(layer.codes) // 2
    parents = parent_geometry(where, layer)
    files = LayerFiles(*key, layer.vertices, zip_path, parents, layer.codes[i], layer.names[i])
    if args.layer_dir:
        with saved.open("wb") as f:
            pickle.dump(asdict(files), f)
    return files
