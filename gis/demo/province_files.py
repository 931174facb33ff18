"""The generated province written as upload files: one GeoPackage (EPSG:4326) per layer.

GeoPackage, not FlatGeobuf: grids and addresses are appended a run at a time, and GDAL
rewrites a FlatGeobuf on every append (quadratic: hours at 10 000 000 addresses), while a
GeoPackage append is an insert.  The file's timestamps are pinned (``OGR_CURRENT_DATE``)
so the same seed writes the same bytes.

Boundaries carry the field names a Chinese desk's file has (编码, 名称, 上级编码, 户数 …;
``gis.ingest.fields.SYNONYMS``); addresses, centres and cameras the demo city's column names
(``gis.store.demo_files``).  Each grid has ``BUILDINGS`` registry entries (buildings of one
compound, households = units × floors × 2) whose households add up to the grid's, and the
parents' households and population are their children's sums.  Grids are built and written
in runs of whole communities (``CHUNK``), so memory stays at the diagram plus one run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import shapely

from gis.demo.province import Cells, Hierarchy, counts, hierarchy, to_lonlat
from gis.demo.province_names import PROVINCE, people, region_names, street_places

FILES = {
    "county": "counties.gpkg",
    "street": "streets.gpkg",
    "community": "communities.gpkg",
    "grid": "grids.gpkg",
    "addresses": "addresses.gpkg",
    "centres": "centres.gpkg",
    "cameras": "cameras.gpkg",
}
"""Each layer's file, in loading order (parents before children, boundaries before points)."""
MANIFEST = "province.json"
BUILDINGS = 10
CAMERA_EVERY = 2
"""One camera for every second grid: 500 000 in 1 000 000 grids."""
CHUNK = 50_000
CAMERA_TYPES = ("枪机", "球机", "半球")
PINNED_DATE = "2026-01-01T00:00:00.000Z"

Progress = Callable[[str], None]


def _write(path: Path, geoms: np.ndarray, columns: dict[str, np.ndarray], kind: str) -> None:
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geoms),
        list(columns.values()),
        list(columns),
        layer=path.stem,
        driver="GPKG",
        geometry_type=kind,
        crs="EPSG:4326",
        append=path.exists(),
    )


def _text(values: list[str] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _inside(cells: Cells, h: Hierarchy, grid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random point (km) in each ``grid``'s cell: on the way from its seed towards a point of
    one of its straight edges, at most half way — inside the cell whatever the edge jitter."""
    length = cells.offsets[grid + 1] - cells.offsets[grid]
    j = (rng.random(len(grid)) * length).astype(int)
    a = cells.km[cells.vertex[cells.offsets[grid] + j]]
    b = cells.km[cells.vertex[cells.offsets[grid] + (j + 1) % length]]
    w, s = rng.random((2, len(grid), 1))
    seed = h.xy[grid]
    return seed + (0.05 + 0.45 * s) * (w * a + (1 - w) * b - seed)


def generate(grids: int, seed: int, out: Path, progress: Progress = print) -> dict[str, int]:
    """Write a province of ``grids`` grids (the same files for the same ``seed``) to ``out``;
    the number of features of each file."""
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": PINNED_DATE})
    try:
        return _generate(grids, seed, out, progress)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def _generate(grids: int, seed: int, out: Path, progress: Progress) -> dict[str, int]:
    started = time.perf_counter()

    def say(what: str) -> None:
        progress(f"[{time.perf_counter() - started:7.1f} s] {what}")

    out.mkdir(parents=True, exist_ok=True)
    for name in (*FILES.values(), MANIFEST):
        (out / name).unlink(missing_ok=True)
    n = counts(grids)
    h = hierarchy(grids, seed)
    say(f"hierarchy: {n}")
    cells = Cells(h, seed)
    say(f"Voronoi diagram: {len(cells.lo)} edges")
    say(f"valid: {cells.straighten_invalid()} cells straightened")

    rng = np.random.default_rng([seed, 2])
    names = region_names(h.parent, n, rng)
    community_of = h.parent["grid"]
    street_of = h.parent["community"][community_of]
    county_of = h.parent["street"][street_of]
    roads, numbers, compounds = street_places(street_of, rng)
    workers, phones = people(grids, rng)
    units = rng.integers(1, 4, (grids, BUILDINGS))
    floors = rng.integers(2, 12, (grids, BUILDINGS))
    households = units * floors * 2
    population = np.round(households * rng.uniform(2.4, 3.2, households.shape)).astype(int)
    grid_hh, grid_pop = households.sum(axis=1), population.sum(axis=1)
    sequence = [int(c[-3:]) for c in h.codes["grid"]]
    grid_names = [
        f"{names['community'][c]}第{q}网格" for c, q in zip(community_of, sequence, strict=True)
    ]
    places = [
        f"{PROVINCE}{names['county'][k]}{names['street'][s]}{r}{d}号{c}"
        for k, s, r, d, c in zip(county_of, street_of, roads, numbers, compounds, strict=True)
    ]

    community_geoms: list[shapely.Geometry] = []
    camera_serial = np.zeros(n["county"], int)
    for chunk in cells.chunks(community_of, CHUNK):
        polygons = cells.polygons(chunk)
        c0, c1 = chunk[0], chunk[-1] + 1
        _write(
            out / FILES["grid"],
            polygons,
            {
                "编码": h.codes["grid"][c0:c1],
                "名称": _text(grid_names[c0:c1]),
                "上级编码": h.codes["community"][community_of[c0:c1]],
                "户数": grid_hh[c0:c1].astype(np.int32),
                "人口": grid_pop[c0:c1].astype(np.int32),
                "网格员": _text(workers[c0:c1]),
                "网格员电话": _text(phones[c0:c1]),
                "党支部": _text([f"{g}党支部" for g in grid_names[c0:c1]]),
            },
            "Polygon",
        )
        bounds = np.r_[0, np.flatnonzero(np.diff(community_of[chunk])) + 1, len(chunk)]
        community_geoms += [
            shapely.coverage_union_all(polygons[a:b])
            for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
        ]
        # the address registry: BUILDINGS buildings of the grid's compound
        grid = np.repeat(chunk, BUILDINGS)
        building = np.tile(np.arange(1, BUILDINGS + 1), len(chunk))
        _write(
            out / FILES["addresses"],
            shapely.points(to_lonlat(_inside(cells, h, grid, rng))),
            {
                "code": _text(
                    [f"DZ{h.codes['grid'][g]}{b:02d}" for g, b in zip(grid, building, strict=True)]
                ),
                "address": _text(
                    [f"{places[g]}{b}号楼" for g, b in zip(grid, building, strict=True)]
                ),
                "road": _text([roads[g] for g in grid]),
                "road_number": _text([str(numbers[g]) for g in grid]),
                "compound": _text([compounds[g] for g in grid]),
                "building": _text([str(b) for b in building]),
                "units": units[chunk].ravel().astype(np.int32),
                "floors": floors[chunk].ravel().astype(np.int32),
                "households": households[chunk].ravel().astype(np.int32),
                "region_code": h.codes["grid"][grid],
            },
            "Point",
        )
        watched = chunk[chunk % CAMERA_EVERY == 0]
        county = county_of[watched]
        serial = []
        for k in county.tolist():
            camera_serial[k] += 1
            serial.append(camera_serial[k])
        m = len(watched)
        _write(
            out / FILES["cameras"],
            shapely.points(to_lonlat(_inside(cells, h, watched, rng))),
            {
                "device_id": _text(
                    [
                        f"{h.codes['county'][k]}0000131{s:07d}"
                        for k, s in zip(county, serial, strict=True)
                    ]
                ),
                "name": _text([f"{roads[g]}{numbers[g]}号{compounds[g]}门口" for g in watched]),
                "azimuth_deg": np.round(rng.uniform(0, 360, m), 1),
                "fov_deg": rng.choice([43.0, 54.0, 77.0, 90.0], m),
                "range_m": rng.choice([70.0, 85.0, 100.0, 115.0], m),
                "height_m": np.round(rng.uniform(4, 8, m), 1),
                "type": _text(rng.choice(CAMERA_TYPES, m).tolist()),
                "status": _text(np.where(rng.random(m) < 0.95, "online", "offline").tolist()),
                "region_code": h.codes["grid"][watched],
            },
            "Point",
        )
        say(f"grids {c1:,}/{grids:,}")
    del cells

    geoms = {"community": np.asarray(community_geoms, dtype=object)}
    sums = {"community": (np.bincount(community_of, grid_hh), np.bincount(community_of, grid_pop))}
    for level, child in (("street", "community"), ("county", "street")):
        of = h.parent[child]
        bounds = np.r_[0, np.flatnonzero(np.diff(of)) + 1, len(of)]
        geoms[level] = np.asarray(
            [
                shapely.coverage_union_all(geoms[child][a:b])
                for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
            ],
            dtype=object,
        )
        sums[level] = tuple(np.bincount(of, s) for s in sums[child])
        say(f"{level} boundaries")
    for level in ("county", "street", "community"):
        columns = {"编码": h.codes[level], "名称": _text(names[level])}
        if level != "county":
            above = "county" if level == "street" else "street"
            columns["上级编码"] = h.codes[above][h.parent[level]]
        columns["户数"] = sums[level][0].astype(np.int32)
        columns["人口"] = sums[level][1].astype(np.int32)
        multi = np.asarray(  # one geometry type per file
            [shapely.MultiPolygon(list(shapely.get_parts(g))) for g in geoms[level]], dtype=object
        )
        _write(out / FILES[level], multi, columns, "MultiPolygon")

    # a 党群服务站 per community at its first grid's seed, its address that grid's first
    # building's; the street's first community has the street's 党群服务中心 instead
    first = np.r_[0, np.flatnonzero(np.diff(community_of)) + 1]
    centre = np.r_[True, np.diff(h.parent["community"]) != 0]
    m = len(first)
    county, street = county_of[first], street_of[first]
    _write(
        out / FILES["centres"],
        shapely.points(to_lonlat(h.xy[first])),
        {
            "name": _text(
                [
                    f"{names['county'][k]}{names['street'][s]}党群服务中心"
                    if c
                    else f"{names['county'][k]}{names['street'][s]}{names['community'][i]}"
                    "党群服务站"
                    for i, (k, s, c) in enumerate(zip(county, street, centre, strict=True))
                ]
            ),
            "level": _text(np.where(centre, "centre", "station").tolist()),
            "address": _text([f"{places[g]}1号楼" for g in first]),
            "floor_area_m2": np.where(
                centre, rng.integers(1000, 2001, m), rng.integers(300, 1001, m)
            ).astype(float),
            "opening_hours": _text(["周一至周日 8:30-17:30"] * m),
            "region_code": h.codes["grid"][first],
        },
        "Point",
    )
    written = {
        **n,
        "addresses": grids * BUILDINGS,
        "centres": m,
        "cameras": int(camera_serial.sum()),
    }
    (out / MANIFEST).write_text(
        json.dumps({"grids": grids, "seed": seed, "files": FILES, "features": written}, indent=1)
    )
    say(f"written: {written}")
    return written
