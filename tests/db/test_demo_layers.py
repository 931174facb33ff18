"""The demo city's party-service centres and cameras as loaded into PostGIS (``load_demo``):
where they lie, checked by PostGIS against the loaded boundaries, and how much of the
address registry's households the centres leave uncovered (room for siting)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.settings import Settings
from gis.store.demo_files import read_addresses, read_centres, read_roads
from gis.store.seed import load_demo
from gis.web import page_data

from demo_build.cameras import N_CAMERAS

GEOD = Geod(ellps="WGS84")
CURRENT_GRIDS = "SELECT code, geom FROM regions WHERE level = 'grid' AND valid_to IS NULL"


def _rows(engine: Engine, sql: str, **params: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _counts(engine: Engine) -> tuple[int, int]:
    ((centres, cameras),) = _rows(
        engine, "SELECT (SELECT count(*) FROM centres), (SELECT count(*) FROM cameras)"
    )
    return centres, cameras


def test_centres_lie_in_their_regions(engine: Engine) -> None:
    levels = dict(_rows(engine, "SELECT level, count(*) FROM centres GROUP BY level"))
    assert (levels["centre"], levels["station"]) == (1, 12)
    assert 8 <= levels["home"] <= 15
    # one station inside each community, named after it
    stations = _rows(
        engine,
        "SELECT c.name, r.name, r.code FROM centres c JOIN regions r ON r.level = 'community' "
        "AND r.valid_to IS NULL AND ST_Covers(r.geom, c.geom) WHERE c.level = 'station' "
        "ORDER BY r.code",
    )
    assert len(stations) == 12 and len({code for _, _, code in stations}) == 12
    assert all(station == f"{community}党群服务站" for station, community, _ in stations)
    # the street centre in 栗乡街道; every centre's region code is the grid covering it
    ((inside,),) = _rows(
        engine,
        "SELECT ST_Covers(r.geom, c.geom) FROM centres c, regions r WHERE c.level = 'centre' "
        "AND r.code = '130227001' AND r.valid_to IS NULL",
    )
    assert inside
    mismatched = _rows(
        engine,
        "SELECT name, region_code, grid FROM (SELECT c.name, c.region_code, "
        f"(SELECT min(g.code) FROM ({CURRENT_GRIDS}) g WHERE ST_Covers(g.geom, c.geom)) AS grid "
        "FROM centres c) t WHERE grid IS NULL OR region_code IS DISTINCT FROM grid",
    )
    assert mismatched == []
    ((null_radius, explicit),) = _rows(
        engine,
        "SELECT count(*) FILTER (WHERE radius_m IS NULL), count(*) FILTER (WHERE radius_m > 0) "
        "FROM centres",
    )
    assert null_radius == sum(levels.values()) - explicit and 1 <= explicit <= 2


def test_cameras_lie_in_the_grid_they_name(engine: Engine) -> None:
    rows = _rows(
        engine,
        f"SELECT c.device_id, c.status, c.region_code, (SELECT min(g.code) FROM ({CURRENT_GRIDS}) "
        "g WHERE ST_Covers(g.geom, c.geom)) FROM cameras c ORDER BY c.device_id",
    )
    assert len(rows) == N_CAMERAS
    assert all(grid is not None and code == grid for _, _, code, grid in rows)
    ids = [device_id for device_id, *_ in rows]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"\d{20}", i) and i[10:13] in ("131", "132") for i in ids)
    assert all(i.startswith("13022700") for i in ids)
    offline = sum(status == "offline" for _, status, _, _ in rows) / len(rows)
    assert 0.03 <= offline <= 0.08
    ((fov, azimuth, range_m),) = _rows(
        engine,
        "SELECT bool_and(fov_deg BETWEEN 40 AND 110 OR fov_deg = 360), "
        "bool_and(azimuth_deg >= 0 AND azimuth_deg < 360), bool_and(range_m BETWEEN 30 AND 120) "
        "FROM cameras",
    )
    assert fov and azimuth and range_m


def _uncovered(engine: Engine, *, own_radius: bool) -> tuple[set[str], int, int]:
    """Address codes with households out of every centre's reach (geodesic metres), their
    households and all households; a centre reaches its level's default radius, or its own
    radius with ``own_radius``."""
    radius = Settings().centre_radius_m
    reach = "COALESCE(radius_m, d.r)" if own_radius else "d.r"
    rows = _rows(
        engine,
        f"WITH d(level, r) AS (VALUES ('centre', :centre), ('station', :station), "
        f"('home', :home)), c AS (SELECT geom::geography AS g, {reach} AS r FROM centres "
        "JOIN d USING (level)) SELECT a.code, a.households, NOT EXISTS (SELECT 1 FROM c "
        "WHERE ST_DWithin(c.g, a.geom::geography, c.r)) FROM addresses a "
        "WHERE a.households IS NOT NULL",
        centre=float(radius["centre"]),
        station=float(radius["station"]),
        home=float(radius["home"]),
    )
    codes = {code for code, _, out in rows if out}
    return codes, sum(h for _, h, out in rows if out), sum(h for _, h, _ in rows)


def test_some_households_are_out_of_reach_of_every_centre(engine: Engine) -> None:
    """With the default radii (1000/500/300 m), 5–40 % of households are uncovered."""
    for own_radius in (False, True):
        _, uncovered, total = _uncovered(engine, own_radius=own_radius)
        assert 0.05 <= uncovered / total <= 0.40, (own_radius, uncovered, total)

    # the same set by pyproj geodesics on the committed files
    demo_dir = Settings().demo_dir
    radius = Settings().centre_radius_m
    centres = [
        (float(c["lon"]), float(c["lat"]), radius[c["level"]]) for c in read_centres(demo_dir)
    ]
    expected = set()
    for a in read_addresses(demo_dir):
        if a["households"]:
            lon, lat = float(a["lon"]), float(a["lat"])
            if all(GEOD.inv(lon, lat, x, y)[2] > r for x, y, r in centres):
                expected.add(a["code"])
    assert _uncovered(engine, own_radius=False)[0] == expected


def test_the_demo_roads_make_one_walking_network(engine: Engine) -> None:
    """Every road of the file is stored, and the walking network built from them is one
    piece (networkx on the stored edges) whose length is the roads' less their overlaps."""
    roads = read_roads(Settings().demo_dir)
    ((stored, road_m),) = _rows(
        engine, "SELECT count(*), sum(ST_Length(geom::geography)) FROM roads WHERE kind = 'road'"
    )
    assert stored == len(roads)
    edges = _rows(engine, "SELECT source, target, length_m FROM walk_edges")
    graph = nx.Graph((s, t) for s, t, _ in edges)
    assert nx.number_connected_components(graph) == 1
    ((union_m,),) = _rows(
        engine, "SELECT ST_Length(ST_UnaryUnion(ST_Collect(geom))::geography) FROM roads"
    )
    assert sum(m for *_, m in edges) == pytest.approx(union_m, rel=1e-6)
    assert union_m < road_m * (1 + 1e-6)  # overlaps counted once (noding adds ~mm)


def test_a_page_draws_the_roads_of_its_area_up_to_a_bound(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's roads inside a box cut to it, every one for the county; none past the
    bound of lines drawn inline."""
    county = shape(
        json.loads((Settings().demo_dir / "county.geojson").read_text())["features"][0]["geometry"]
    )
    with engine.connect() as conn:
        lines = page_data.roads_in(conn, [county])
        assert lines is not None and len(lines) == len(read_roads(Settings().demo_dir))
        corner = shapely.box(118.30, 40.14, 118.32, 40.16)
        cut = page_data.roads_in(conn, [corner])
        assert cut and all(corner.buffer(1e-9).covers(shapely.from_wkb(w)) for w in cut)
        monkeypatch.setattr(page_data, "MAX_INLINE_ROADS", len(lines) - 1)
        assert page_data.roads_in(conn, [county]) is None


def test_load_demo_fills_empty_layers_when_boundaries_exist(
    fresh_engine: Engine, fresh_db_url: str
) -> None:
    loaded = _counts(fresh_engine)
    assert loaded[1] == N_CAMERAS
    ((version,),) = _rows(fresh_engine, "SELECT max(number) FROM boundary_versions")
    with fresh_engine.begin() as conn:
        conn.execute(text("DELETE FROM centres"))
        conn.execute(text("DELETE FROM cameras"))
    assert load_demo(fresh_engine, Settings().demo_dir) is None  # boundaries already there
    assert _counts(fresh_engine) == loaded
    assert load_demo(fresh_engine, Settings().demo_dir) is None
    assert _counts(fresh_engine) == loaded, "tables with rows are left alone"

    # the same through `gridmap demo load`
    with fresh_engine.begin() as conn:
        conn.execute(text("DELETE FROM cameras"))
    gridmap = Path(sys.executable).with_name("gridmap")
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    done = subprocess.run(
        [str(gridmap), "demo", "load"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing done" in done.stdout
    assert _counts(fresh_engine) == loaded
    assert _rows(fresh_engine, "SELECT max(number) FROM boundary_versions") == [(version,)]
