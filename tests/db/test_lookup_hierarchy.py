"""Lookup answers the whole hierarchy at any point, in every path (single, batch, CSV, CLI).

The oracle is PostGIS on the same points, independent of the lookup index
(``tests/oracles.py``): the deepest level whose regions ``ST_Covers`` the point (lowest code
on a shared edge or vertex) and its ancestors by ``parent_code``; for a point outside every
grid, the grid at the least ``ST_Distance(geography)`` (on the WGS 84 spheroid).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.query.lookup import GridIndex

from oracles import DISTANCE, LEVELS, boundary_points, check_hierarchy, postgis_hierarchy
from support import GRIDMAP

COUNTY_BBOX = (118.10, 39.94, 118.64, 40.48)  # 迁西县 and a little around it


def test_a_town_without_grids_answers_its_street_and_county(client: TestClient) -> None:
    body = client.get("/api/v1/lookup", params={"lon": 118.2, "lat": 40.3}).json()
    assert body["covered"] is False and body["grid"] is None and body["community"] is None
    assert body["street"] == {"code": "130227105", "name": "东荒峪镇"}
    assert body["county"] == {"code": "130227", "name": "迁西县"}
    assert body["nearest"]["grid"]["code"].startswith("130227001")
    assert 10_000 < body["nearest"]["distance_m"] < 30_000
    assert body["distance_unit"] == "m" and body["crs"] == "EPSG:4326"


def test_outside_the_county_only_the_nearest_grid(client: TestClient) -> None:
    body = client.get("/api/v1/lookup", params={"lon": 117.5, "lat": 40.0}).json()
    assert [body[level] for level in LEVELS] == [None] * 4
    assert body["nearest"]["grid"]["code"] and body["nearest"]["distance_m"] > 50_000


def test_batch_matches_postgis_at_every_level(client: TestClient, engine: Engine) -> None:
    rng = np.random.default_rng(11)
    uniform = np.column_stack(
        [rng.uniform(COUNTY_BBOX[0], COUNTY_BBOX[2], 1500), rng.uniform(*COUNTY_BBOX[1::2], 1500)]
    )
    points = np.vstack([uniform, boundary_points(engine, np.random.default_rng(12), 1500)])
    xs, ys = points[:, 0].tolist(), points[:, 1].tolist()
    batch = [{"lon": x, "lat": y, "id": i} for i, (x, y) in enumerate(zip(xs, ys, strict=True))]
    answers: list[dict[str, Any]] = []
    for start in range(0, len(batch), 2000):
        response = client.post("/api/v1/lookup/batch", json={"points": batch[start : start + 2000]})
        assert response.status_code == 200, response.json()
        answers += response.json()["results"]
    expected = postgis_hierarchy(engine, xs, ys)
    check_hierarchy(answers, expected)
    found = {level: sum(a[level] is not None for a in answers) for level in LEVELS}
    assert found["county"] >= found["street"] > found["community"] >= found["grid"] > 500
    uncovered_in_county = [a for a in answers if a["county"] and not a["grid"]]
    assert len(uncovered_in_county) > 1000, "most of the county has no grids"


def test_single_lookups_match_postgis_on_shared_vertices(
    client: TestClient, engine: Engine
) -> None:
    points = boundary_points(engine, np.random.default_rng(12), 1500)[::25]
    xs, ys = points[:, 0].tolist(), points[:, 1].tolist()
    answers = [client.get("/api/v1/lookup", params={"lon": x, "lat": y}).json() for x, y in points]
    check_hierarchy(answers, postgis_hierarchy(engine, xs, ys))


def _grid_points(client: TestClient, n: int) -> tuple[list[float], list[float]]:
    """``n`` points over the county: inside grids, in towns without grids, and outside."""
    rng = np.random.default_rng(7)
    grid = shape(client.get("/api/v1/regions/130227001003002").json()["geometry"])
    inside = grid.representative_point()
    xs = [inside.x, 118.2, 117.5, *rng.uniform(COUNTY_BBOX[0], COUNTY_BBOX[2], n - 3).tolist()]
    ys = [inside.y, 40.3, 40.0, *rng.uniform(COUNTY_BBOX[1], COUNTY_BBOX[3], n - 3).tolist()]
    return xs, ys


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        ("经度", "纬度"),
        ("lng", "lat"),
        ("Longitude", "Latitude"),
        ("x", "y"),
        ("东经", "北纬"),
        ("ｌｏｎ", "ｌａｔ"),
        ("ＬＮＧ", "ＬＡＴ"),
        ("X坐标", "Y坐标"),
    ],
)
def test_batch_csv_takes_every_column_alias(
    client: TestClient, engine: Engine, lon: str, lat: str
) -> None:
    xs, ys = _grid_points(client, 40)
    table = f"编号,{lon},{lat}\n" + "".join(
        f"单{i},{x!r},{y!r}\n" for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    )
    response = client.post(
        "/api/v1/lookup/batch",
        content=table.encode("gb18030"),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200, response.json()
    check_hierarchy(response.json()["results"], postgis_hierarchy(engine, xs, ys))


def _csv_answer(client: TestClient, params: dict[str, str], table: str) -> Any:
    return client.post(
        "/api/v1/lookup/batch",
        params=params,
        content=table.encode("utf-8"),
        headers={"content-type": "text/csv", "accept": "text/csv"},
    )


def test_batch_csv_answers_open_in_excel(client: TestClient, engine: Engine) -> None:
    xs, ys = _grid_points(client, 30)
    table = "工单号,地址,经度,纬度\n" + "".join(
        f"A{i},迁西县栗乡街道{i}号,{x!r},{y!r}\n"
        for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    )
    expected = postgis_hierarchy(engine, xs, ys)
    utf8 = _csv_answer(client, {}, table)
    assert utf8.status_code == 200
    assert utf8.headers["content-type"] == "text/csv; charset=utf-8"
    assert utf8.content.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    gb = _csv_answer(client, {"encoding": "gb18030"}, table)
    assert gb.headers["content-type"] == "text/csv; charset=gb18030"
    assert not gb.content.startswith(b"\xef\xbb\xbf")
    for rows in (
        list(csv.DictReader(io.StringIO(utf8.content.decode("utf-8-sig")))),
        list(csv.DictReader(io.StringIO(gb.content.decode("gb18030")))),
    ):
        assert [r["地址"] for r in rows[:2]] == ["迁西县栗乡街道0号", "迁西县栗乡街道1号"]
        _check_rows(rows, expected)
    bad = _csv_answer(client, {"encoding": "latin-1"}, table)
    assert (bad.status_code, bad.json()["code"]) == (422, "unsupported_encoding")
    assert "编码" in bad.json()["message"] and "encoding" in bad.json()["message"]


def _check_rows(rows: list[dict[str, str]], expected: list[dict[str, Any]]) -> None:
    """CSV answers: the same codes as the oracle, nearest grid and distance outside grids."""
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert {level: row[f"{level}_code"] or None for level in LEVELS} == {
            level: want[level] for level in LEVELS
        }
        assert row["covered"] == str(want["grid"] is not None)
        if want["grid"]:
            assert row["nearest_grid_code"] == row["distance_m"] == ""
        else:
            assert float(row["distance_m"]) == pytest.approx(want["distance_m"], **DISTANCE)


def test_cli_csv_answers_the_hierarchy_in_excel_encodings(
    db_url: str, client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    xs, ys = _grid_points(client, 500)
    source = tmp_path / "工单.csv"
    source.write_bytes(
        (
            "工单号,地址,东经,北纬\n"
            + "".join(
                f"A{i},迁西县{i}号,{x!r},{y!r}\n"
                for i, (x, y) in enumerate(zip(xs, ys, strict=True))
            )
        ).encode("gbk")
    )
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    expected = postgis_hierarchy(engine, xs, ys)
    for encoding, args in (("utf-8-sig", []), ("gb18030", ["--encoding", "gb18030"])):
        target = tmp_path / f"out-{encoding}.csv"
        done = subprocess.run(
            [GRIDMAP, "lookup", str(source), "-o", str(target), "--chunk", "97", *args],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        raw = target.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(raw.decode(encoding))))
        assert rows[5]["地址"] == "迁西县5号"
        _check_rows(rows, expected)
    no_columns = tmp_path / "no.csv"
    no_columns.write_text("a,b\n118.3,40.1\n", encoding="utf-8")
    failed = subprocess.run(
        [GRIDMAP, "lookup", str(no_columns), "-o", str(tmp_path / "x.csv")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1 and "invalid_csv" in failed.stderr and "经度" in failed.stderr


def test_a_point_as_near_to_two_grids_gets_the_lower_code(engine: Engine) -> None:
    """Two grids side by side under one community: a point straight above their shared
    vertex (or below it) is exactly as near to both — the lower code wins, at PostGIS's
    geodesic distance (equidistant grids used to crash the lookup)."""
    x0, y0, d = 118.3, 40.1, 0.01
    boxes = {
        "130227001001002": shapely.box(x0, y0, x0 + d, y0 + d),
        "130227001001001": shapely.box(x0 + d, y0, x0 + 2 * d, y0 + d),
    }
    community = shapely.box(x0, y0, x0 + 2 * d, y0 + d)
    rows = [
        {
            "code": "130227001001",
            "name": "社区",
            "level": "community",
            "parent_code": None,
            "wkb": shapely.to_wkb(community),
        },
        *(
            {
                "code": code,
                "name": f"网格{code[-1]}",
                "level": "grid",
                "parent_code": "130227001001",
                "wkb": shapely.to_wkb(box),
                **dict.fromkeys(
                    ("households", "population", "grid_worker", "grid_worker_phone", "party_branch")
                ),
            }
            for code, box in sorted(boxes.items())
        ),
    ]
    index = GridIndex.build(1, rows)
    lon = np.array([x0 + d, x0 + d, x0 + d, x0 + 0.3 * d, x0 + 1.5 * d])
    lat = np.array([y0 + 1.5 * d, y0 - 2 * d, y0 + d / 2, y0 + d / 2, y0 + 3 * d])
    answers = index.answers(lon, lat)
    singles = [index.answers(lon[i : i + 1], lat[i : i + 1])[0] for i in range(len(lon))]
    assert answers == singles
    with engine.connect() as conn:
        expected = conn.execute(
            text(
                "SELECT p.i, (SELECT b.code FROM unnest(CAST(:codes AS text[]), "
                "CAST(:wkts AS text[])) AS b(code, wkt) ORDER BY ST_Distance(CAST("
                "ST_GeomFromText(b.wkt, 4326) AS geography), CAST(p.g AS geography)), b.code "
                "LIMIT 1), (SELECT min(ST_Distance(CAST(ST_GeomFromText(b.wkt, 4326) AS "
                "geography), CAST(p.g AS geography))) FROM unnest(CAST(:wkts AS text[])) AS "
                "b(wkt)), ST_Covers(ST_GeomFromText(:community, 4326), p.g) "
                "FROM (SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS g FROM unnest("
                "CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS t(x, y, i)) p "
                "ORDER BY p.i"
            ),
            {
                "codes": list(boxes),
                "wkts": [b.wkt for b in boxes.values()],
                "community": community.wkt,
                "xs": lon.tolist(),
                "ys": lat.tolist(),
            },
        ).all()
    covered = [a["grid"]["code"] if a["covered"] else None for a in answers]
    assert covered == [None, None, "130227001001001", "130227001001002", None]
    for answer, (_, code, metres, in_community) in zip(answers, expected, strict=True):
        assert (answer["community"] is not None) == in_community
        if not answer["covered"]:
            assert answer["nearest"]["grid"]["code"] == code
            assert answer["nearest"]["distance_m"] == pytest.approx(metres, abs=0.006)
    assert answers[0]["nearest"]["grid"]["code"] == "130227001001001", "the lower of a tie"
    assert answers[1]["nearest"]["grid"]["code"] == "130227001001001"
