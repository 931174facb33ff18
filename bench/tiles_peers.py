"""What the tile benchmark compares: the tile list, the paths each server answers them at,
tipg (the peer, in its own venv) and how one server's tiles are checked against the SQL
floor's (the sets of grid codes per tile)."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import mapbox_vector_tile
import shapely
from common import ROOT
from servers import Server, uvicorn_server

from gis.store.watch import conninfo as libpq_conninfo
from tiles.layers import tile_bounds
from tiles.pmtiles import covering_tiles

TIPG_VENV = ROOT / ".gridmap" / "bench" / "tipg-venv"

ZOOMS = range(12, 17)

TIPG_FILTER = "level='grid' AND valid_to IS NULL"

TIPG_PROPERTIES = "code,name,parent_code,households,grid_worker"


# --------------------------------------------------------------------------- the tiles


def tile_list(grids: list[shapely.Geometry], seed: int) -> list[tuple[int, int, int]]:
    """Every tile at ``ZOOMS`` whose box intersects a grid (in z, x, y order), shuffled with
    ``seed``."""
    tree = shapely.STRtree(grids)
    box = tuple(shapely.total_bounds(grids).tolist())
    out = [
        (z, x, y)
        for z, x, y in sorted(covering_tiles(box, ZOOMS.start, ZOOMS.stop - 1))
        if len(tree.query(shapely.box(*tile_bounds(z, x, y)), predicate="intersects"))
    ]
    random.Random(seed).shuffle(out)
    return out


def gridmap_path(z: int, x: int, y: int, cache: bool) -> str:
    return f"/tiles/grids/{z}/{x}/{y}.mvt" + ("" if cache else "?cache=off")


def tipg_path(z: int, x: int, y: int) -> str:
    return (
        f"/collections/public.regions/tiles/WebMercatorQuad/{z}/{x}/{y}"
        f"?filter={quote(TIPG_FILTER)}&filter-lang=cql2-text&properties={TIPG_PROPERTIES}"
    )


# --------------------------------------------------------------------------- the peer


def ensure_tipg() -> Path:
    """The tipg venv's python (created with ``pip install tipg uvicorn`` when missing)."""
    python = TIPG_VENV / "bin" / "python"
    if (
        not (TIPG_VENV / "bin" / "uvicorn").exists()
        or subprocess.run(
            [str(python), "-c", "import tipg"], capture_output=True, check=False
        ).returncode
    ):
        print(f"creating {TIPG_VENV} (pip install tipg uvicorn)", flush=True)
        subprocess.run(["python3", "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


def venv_version(python: Path, dist: str) -> str:
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


@contextmanager
def serve_tipg(db_url: str, workers: int, max_features: int, workdir: Path) -> Iterator[Server]:
    """tipg under uvicorn with ``workers`` workers, up once /healthz answers 200."""
    url = libpq_conninfo(db_url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_TILE_BUFFER": "64",
        "TIPG_MAX_FEATURES_PER_TILE": str(max_features),
    }
    with uvicorn_server(
        TIPG_VENV / "bin" / "uvicorn",
        ["tipg.main:app"],
        workers=workers,
        env=env,
        cwd=workdir,
        log=workdir / "tipg.log",
        health="/healthz",
        timeout=90,
    ) as server:
        yield server


# --------------------------------------------------------------------------- same features


def codes(data: bytes) -> frozenset[str]:
    """The grid codes of a tile's features (every layer)."""
    if not data:
        return frozenset()
    layers = mapbox_vector_tile.decode(data)
    return frozenset(
        str(f["properties"].get("code")) for layer in layers.values() for f in layer["features"]
    )


@dataclass
class Diff:
    """How a peer's tiles differ from the floor's, in grid codes."""

    tiles: int = 0
    only_peer: set[str] = field(default_factory=set)
    missing_in_tile: int = 0
    """Features the floor draws and the peer lacks, of grids overlapping the tile itself."""
    missing_in_buffer: int = 0
    """… of grids that reach only the tile's buffer."""


def compare(
    sample: list[int],
    floor: dict[int, bytes],
    fetch: Callable[[int], bytes],
    tiles: list[tuple[int, int, int]],
    shapes: dict[str, shapely.Geometry],
) -> Diff:
    """Compare the sets of grid codes of the peer's tiles with the floor's."""
    diff = Diff()
    examples: list = []
    for i in sample:
        theirs, ours = codes(fetch(i)), codes(floor[i])
        if theirs == ours:
            continue
        diff.tiles += 1
        diff.only_peer.update(theirs - ours)
        box = shapely.box(*tile_bounds(*tiles[i]))
        for code in ours - theirs:
            if shapely.intersects(shapes[code], box):
                diff.missing_in_tile += 1
            else:
                diff.missing_in_buffer += 1
        if len(examples) < 3:
            examples.append((tiles[i], sorted(theirs - ours), sorted(ours - theirs)))
    if examples:
        print(f"differs (tile, only peer, only floor), e.g. {examples}", flush=True)
    return diff
