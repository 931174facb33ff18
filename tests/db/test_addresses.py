"""The address registry: normalisation, matching on the demo registry, and uploads."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.pool import NullPool

from gis.errors import GridmapError, InvalidInput, NotFound
from gis.geo.crs import from_wgs84, gcj02_to_wgs84, parse_crs, wgs84_to_gcj02
from gis.query import addresses
from gis.query.address_text import chinese_number, normalize, parse
from gis.query.addresses import match_address
from gis.settings import Settings
from gis.store.demo_files import read_addresses

from demo_build.addresses import ADDRESS_PREFIX
from support import GRIDMAP, upload, write_layer, zip_dir

REGISTRY = read_addresses(Settings().demo_dir)


def _row(compound: str | None = None, building: str = "") -> dict[str, str]:
    return next(r for r in REGISTRY if r["compound"] == compound and r["building"] == building)


SUNNY = _row("阳光小区", "5")
"""阳光小区 5号楼 (阳光花园 also has a 5号楼)."""
SUNNY_PLACE = f"{SUNNY['road']}{SUNNY['road_number']}号阳光小区"
"""Road, doorplate and compound of 阳光小区, without the province … street prefix."""

# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("五", 5),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十三", 23),
        ("三〇一", 301),
        ("二零一", 201),
        ("一百零五", 105),
        ("一百一十", 110),
        ("两百", 200),
        ("两千零一", 2001),
    ],
)
def test_chinese_numbers(numeral: str, value: int) -> None:
    assert chinese_number(numeral) == value


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        # NFKC: full-width digits, letters and dashes; upper case
        ("滦河路１２号阳光小区５号楼", "滦河路12号阳光小区5号楼"),
        ("阳光小区ａ座", "阳光小区A号楼"),
        ("兴安街１２－３号", "兴安街12-3号"),
        # spaces, punctuation and symbols go
        (" 阳光小区，5号楼 （东门）。", "阳光小区5号楼东门"),
        # Chinese numerals in numbered parts
        ("阳光小区五号楼", "阳光小区5号楼"),
        ("阳光小区十二栋", "阳光小区12号楼"),
        ("阳光小区5号楼二单元", "阳光小区5号楼2单元"),
        ("阳光小区5号楼两单元", "阳光小区5号楼2单元"),
        ("阳光小区5号楼2单元三〇一室", "阳光小区5号楼2单元301室"),
        ("兴安街一百零五号", "兴安街105号"),
        ("阳光小区二十三号楼", "阳光小区23号楼"),
        # … but not elsewhere: road and compound names keep theirs
        ("五一路3号", "五一路3号"),
        ("十里铺小区3号楼", "十里铺小区3号楼"),
        # 栋/幢/座/号栋/# → 号楼; a bare 楼 (maybe a floor) is left alone
        ("龙湾小区3栋", "龙湾小区3号楼"),
        ("龙湾小区3幢", "龙湾小区3号楼"),
        ("龙湾小区3座", "龙湾小区3号楼"),
        ("龙湾小区3号栋", "龙湾小区3号楼"),
        ("龙湾小区3#楼", "龙湾小区3号楼"),
        ("龙湾小区3#", "龙湾小区3号楼"),
        ("龙湾小区3楼", "龙湾小区3楼"),
        # building-unit-room
        ("阳光小区5-2-301", "阳光小区5号楼2单元301室"),
        ("阳光小区5—2—301", "阳光小区5号楼2单元301室"),
        ("阳光小区5－2－301室", "阳光小区5号楼2单元301室"),
        ("阳光小区5 - 2 - 301", "阳光小区5号楼2单元301室"),
        ("阳光小区5一2一301", "阳光小区5号楼2单元301室"),
        ("阳光小区5栋2-301", "阳光小区5号楼2单元301室"),
        ("阳光小区5号楼2单元301", "阳光小区5号楼2单元301室"),
        ("阳光小区5号楼2单元301号", "阳光小区5号楼2单元301室"),
        ("阳光小区5号楼1201", "阳光小区5号楼1201室"),
        ("阳光小区5号楼12", "阳光小区5号楼12"),
        # leading province/city/county/district/street/town names
        (ADDRESS_PREFIX + "滦河路12号", "滦河路12号"),
        ("迁西县滦河路12号", "滦河路12号"),
        ("内蒙古自治区呼和浩特市新城区新华大街1号", "新华大街1号"),
        ("唐山市路北区新区街道阳光小区", "阳光小区"),
        ("河北省迁西县兴城镇阳光小区", "阳光小区"),
        ("阳光小区5号楼", "阳光小区5号楼"),
        ("龙湾社区3号楼", "龙湾社区3号楼"),
        ("唐山市", "唐山市"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize(raw) == normalized
    assert normalize(normalized) == normalized, "idempotent"


def test_parse() -> None:
    full = parse(ADDRESS_PREFIX + "滦河路12号阳光小区五号楼二单元三〇一室")
    assert (full.road, full.road_number, full.compound, full.building, full.unit, full.room) == (
        "滦河路",
        "12",
        "阳光小区",
        "5",
        2,
        301,
    )
    assert full.building_key == "滦河路12号阳光小区5号楼"
    doorplate = parse("喜峰大街88号")
    assert (doorplate.road, doorplate.road_number, doorplate.compound) == ("喜峰大街", "88", None)
    compound = parse("阳光小区5号楼")
    assert (compound.road, compound.compound, compound.building) == (None, "阳光小区", "5")
    assert parse("滦河路5号楼").road_number is None, "5号楼 is a building, not a doorplate"


# --------------------------------------------------------------------------- matching


def _match(engine: Engine, query: str) -> Any:
    with engine.connect() as conn:
        return match_address(conn, query)


def _same_row(match: Any, row: dict[str, str]) -> None:
    assert match.row.code == row["code"]
    assert match.row.address == row["address"]
    assert (match.row.lon, match.row.lat) == pytest.approx(
        (float(row["lon"]), float(row["lat"])), abs=1e-9
    )


def test_show_trgm_makes_chinese_trigrams(engine: Engine) -> None:
    with engine.connect() as conn:
        assert len(conn.scalar(text("SELECT show_trgm('迁西县栗乡街道')"))) == 8


@pytest.mark.parametrize(
    "query",
    [
        SUNNY["address"],
        SUNNY_PLACE + "5号楼",
        "迁西县" + SUNNY_PLACE + "5号楼",
        "河北省唐山市" + SUNNY_PLACE + "5号楼",
    ],
)
def test_exact_text_with_or_without_prefix(engine: Engine, query: str) -> None:
    match = _match(engine, query)
    _same_row(match, SUNNY)
    assert (match.level, match.confidence, match.candidates) == ("building", 1.0, [])
    assert (match.row.compound, match.row.building) == ("阳光小区", "5")
    assert match.row.households == int(SUNNY["households"])


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    ("query", "exact"),
    [
        (SUNNY["address"].replace("阳光小区", "阳先小区"), False),  # one wrong character
        (SUNNY["address"].translate(FULL_WIDTH), True),
        (SUNNY_PLACE.translate(FULL_WIDTH) + "５号楼", True),
        (SUNNY_PLACE + "五号楼", True),
        (SUNNY_PLACE + "5栋", True),
        ("阳光小区５号楼", False),  # no road: the compound and building agree
        ("阳光小区五幢", False),
    ],
)
def test_typos_and_spellings_find_the_building(engine: Engine, query: str, exact: bool) -> None:
    match = _match(engine, query)
    _same_row(match, SUNNY)
    assert match.level == "building"
    assert (match.confidence == 1.0) if exact else (0.5 <= match.confidence < 1.0)
    assert match.candidates == []


@pytest.mark.parametrize(
    "query", ["阳光小区五号楼二单元三〇一室", "阳光小区5-2-301", SUNNY["address"] + "2单元301室"]
)
def test_unit_and_room(engine: Engine, query: str) -> None:
    """The registry holds buildings: the match is the building, unit and room kept as text."""
    match = _match(engine, query)
    _same_row(match, SUNNY)
    assert match.level == "building"
    assert (match.parsed.unit, match.parsed.room) == (2, 301)
    answer = match.to_dict()
    assert (answer["level"], answer["unit"], answer["room"]) == ("building", "2", "301")
    assert answer["rest"] == "2单元301室"


def test_a_unit_or_floor_the_building_lacks_is_a_building_match(engine: Engine) -> None:
    too_high = f"{SUNNY['address']}1单元{int(SUNNY['floors']) + 1}01室"
    no_such_unit = f"{SUNNY['address']}{int(SUNNY['units']) + 1}单元101室"
    for query in (too_high, no_such_unit):
        match = _match(engine, query)
        _same_row(match, SUNNY)
        assert (match.level, match.confidence) == ("building", 1.0)


def test_compound_and_doorplate_levels(engine: Engine) -> None:
    compound = _match(engine, "阳光小区")
    _same_row(compound, _row("阳光小区"))
    assert compound.level == "compound" and compound.candidates == []
    unknown_building = _match(engine, "阳光小区88号楼")
    _same_row(unknown_building, _row("阳光小区"))
    assert unknown_building.level == "compound"
    assert unknown_building.to_dict()["rest"] == "88号楼", "what did not match is kept"
    gate = _match(engine, SUNNY_PLACE.removesuffix("阳光小区"))
    _same_row(gate, _row("阳光小区"))
    assert gate.level == "road" and gate.candidates == [], "its buildings are no alternatives"
    doorplate = next(r for r in REGISTRY if not r["compound"])
    found = _match(engine, f"{doorplate['road']}{doorplate['road_number']}号")
    _same_row(found, doorplate)
    assert (found.level, found.confidence) == ("road", 1.0)


def test_ambiguous_query_lists_candidates(engine: Engine) -> None:
    match = _match(engine, "阳光5号楼")
    twins = {SUNNY["code"], _row("阳光花园", "5")["code"]}
    assert {c.row.code for c in match.candidates} == twins
    assert match.row.code in twins and match.level == "building"
    assert match.candidates[0].row == match.row
    assert match.candidates[0].confidence == match.candidates[1].confidence == match.confidence
    assert json.loads(json.dumps(match.to_dict(), ensure_ascii=False))["candidates"]


@pytest.mark.parametrize("query", ["", "   ", "，。！"])
def test_empty_address(engine: Engine, query: str) -> None:
    with pytest.raises(InvalidInput) as error:
        _match(engine, query)
    assert error.value.code == "empty_address"


def test_gibberish_is_not_found_with_suggestions(engine: Engine) -> None:
    with pytest.raises(NotFound) as error:
        _match(engine, "火星路999号月亮小区")
    assert error.value.code == "address_not_found"
    suggestions = error.value.details["suggestions"]
    assert 1 <= len(suggestions) <= 5
    assert all(set(s) == {"code", "address", "similarity"} for s in suggestions)
    assert [s["similarity"] for s in suggestions] == sorted(
        (s["similarity"] for s in suggestions), reverse=True
    )
    with pytest.raises(NotFound) as error:
        _match(engine, "啊啊啊啊")
    assert error.value.details["suggestions"] == []


def test_the_ctype_is_asked_once_per_database(engine: Engine) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    addresses.TRIGRAMS_READ_CHINESE.clear()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with engine.connect() as conn:
            first = match_address(conn, "阳光小区5号楼")
            again = match_address(conn, "阳光小区5号楼")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert first == again
    assert sum("show_trgm" in s for s in statements) == 1


def test_a_c_ctype_database_is_refused(server_url: str) -> None:
    """With LC_CTYPE=C pg_trgm sees no Chinese trigrams: every text would be 'similar'."""
    name = "gridmap_test_c_ctype"
    admin = create_engine(
        make_url(server_url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(
            text(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        )
    engine = create_engine(make_url(server_url).set(database=name), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION pg_trgm"))
            with pytest.raises(GridmapError) as error:
                match_address(conn, "阳光小区5号楼")
        assert error.value.code == "database_ctype_unsupported"
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- uploads

GRID_POINTS = [(float(r["lon"]), float(r["lat"])) for r in REGISTRY[1:4]]
"""Three WGS84 points inside demo grids."""


def _registry(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT code, address, normalized, households, ST_AsText(geom), updated_at "
                "FROM addresses ORDER BY code"
            )
        ).all()


def _write_csv(path: Path, header: list[str], rows: list[list[Any]], encoding: str) -> Path:
    lines = [",".join(header), *(",".join(str(v) for v in row) for row in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _gcj_rows() -> list[list[Any]]:
    rows = []
    for i, (lon, lat) in enumerate(GRID_POINTS, start=1):
        glon, glat = wgs84_to_gcj02(lon, lat)
        rows.append(
            [f"T{i:04d}", f"迁西县测试路{i}号栗乡花园{i}号楼", f"{glon:.9f}", f"{glat:.9f}", 40]
        )
    return rows


def test_gbk_csv_in_gcj02_round_trips(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    rows = _gcj_rows()
    path = _write_csv(
        tmp_path / "地址.csv", ["地址编码", "地址", "经度", "纬度", "户数"], rows, "gbk"
    )
    editor = make_key("editor")
    before = _registry(fresh_engine)
    response = upload(fresh_client, path, editor, kind="addresses", crs="gcj02", dry_run=False)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["version"]) == ("committed", None)
    report = body["report"]
    assert report["ok"] and report["problems"] == []
    assert report["summary"]["changes"] == {"added": ["T0001", "T0002", "T0003"], "modified": []}
    assert report["encoding"]["encoding"].lower() in ("gb18030", "gbk")
    assert report["crs"] == {
        "crs": "GCJ-02",
        "source": "parameter",
        "reason": "由上传参数指定 (given)",
    }
    assert report["fields"]["mapped"] == {
        "code": "地址编码",
        "address": "地址",
        "lon": "经度",
        "lat": "纬度",
        "households": "户数",
    }
    after = {r[0]: r for r in _registry(fresh_engine)}
    assert len(after) == len(before) + 3
    with fresh_engine.connect() as conn:
        for code, address, glon, glat, _ in rows:
            stored = conn.execute(
                text(
                    "SELECT address, compound, building, households, ST_X(geom), ST_Y(geom) "
                    "FROM addresses WHERE code = :c"
                ),
                {"c": code},
            ).one()
            expected = gcj02_to_wgs84(float(glon), float(glat))
            assert stored[:4] == (address, "栗乡花园", code[-1], 40), "parsed from the text"
            assert stored[4:] == pytest.approx(expected, abs=1e-9)
            match = match_address(conn, address)
            assert (match.row.code, match.confidence) == (code, 1.0)
    history = fresh_client.get("/api/v1/uploads", headers={"Authorization": f"Bearer {editor}"})
    (item,) = history.json()["uploads"]
    assert (item["kind"], item["level"], item["status"]) == ("addresses", None, "committed")

    again = upload(fresh_client, path, editor, kind="addresses", crs="gcj02", dry_run=False)
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    assert {r[0]: r for r in _registry(fresh_engine)} == after


def test_dry_run_writes_nothing(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    path = _write_csv(
        tmp_path / "a.csv",
        ["code", "address", "lon", "lat", "households"],
        [
            [SUNNY["code"], SUNNY["address"], SUNNY["lon"], SUNNY["lat"], 7],
            ["NEW1", "兴安街1号", *GRID_POINTS[0], ""],
        ],
        "utf-8",
    )
    before = _registry(fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), kind="addresses")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "dry_run"
    assert body["report"]["summary"]["changes"] == {"added": ["NEW1"], "modified": [SUNNY["code"]]}
    assert body["report"]["crs"]["source"] == "inferred"
    assert _registry(fresh_engine) == before


def _bad_values(tmp_path: Path) -> Path:
    return _write_csv(
        tmp_path / "bad.csv",
        ["code", "address", "lon", "lat", "floors"],
        [
            ["B1", "兴安街1号", *GRID_POINTS[0], 6],
            ["B1", "兴安街2号", *GRID_POINTS[1], 6],
            ["", "兴安街3号", *GRID_POINTS[2], 6],
            ["B4", "", *GRID_POINTS[2], 6],
            ["B5", "兴安街5号", "东经118度", GRID_POINTS[2][1], 6],
            ["B6", "兴安街6号", *GRID_POINTS[2], "六层"],
        ],
        "utf-8",
    )


def _polygons(tmp_path: Path) -> Path:
    return write_layer(
        tmp_path / "a.geojson",
        [{"code": "P1", "address": "兴安街1号"}],
        [shapely.box(118.3, 40.1, 118.31, 40.11)],
    )


def _no_coordinates(tmp_path: Path) -> Path:
    return _write_csv(tmp_path / "a.csv", ["code", "address"], [["N1", "兴安街1号"]], "utf-8")


def _swapped(tmp_path: Path) -> Path:
    lon, lat = GRID_POINTS[0]
    return _write_csv(
        tmp_path / "a.csv",
        ["code", "address", "lon", "lat"],
        [["S1", "兴安街1号", lat, lon]],
        "utf-8",
    )


@pytest.mark.parametrize(
    ("make", "form", "status", "code"),
    [
        (_bad_values, {}, 422, "validation_failed"),
        (_polygons, {}, 422, "wrong_geometry_type"),
        (_no_coordinates, {}, 422, "required_field_missing"),
        (_swapped, {"crs": "wgs84"}, 422, "coordinates_out_of_range"),
        (_no_coordinates, {"kind": "boundaries"}, 422, "invalid_parameter"),
        (_no_coordinates, {"kind": "streets"}, 422, "invalid_parameter"),
    ],
)
def test_a_bad_file_writes_nothing(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    make: Callable[[Path], Path],
    form: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = _registry(fresh_engine)
    response = upload(
        fresh_client,
        make(tmp_path),
        make_key("editor"),
        **{"kind": "addresses", **form, "dry_run": False},
    )
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    assert _registry(fresh_engine) == before


def test_validation_report_names_each_problem(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    response = upload(fresh_client, _bad_values(tmp_path), make_key("editor"), kind="addresses")
    report = response.json()["report"]
    assert response.json()["status"] == "dry_run" and not report["ok"]
    found = {(p["kind"], p["feature"], p["severity"]) for p in report["problems"]}
    assert found == {
        ("duplicate_code", 1, "error"),
        ("duplicate_code", 2, "error"),
        ("missing_code", 3, "error"),
        ("missing_address", 4, "error"),
        ("invalid_coordinates", 5, "error"),
        ("invalid_number", 6, "error"),
    }
    assert report["summary"]["changes"] is None


def test_points_outside_grids_are_warnings_and_codes_update(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    path = _write_csv(
        tmp_path / "a.csv",
        ["code", "address", "lon", "lat", "households"],
        [
            [SUNNY["code"], SUNNY["address"], SUNNY["lon"], SUNNY["lat"], 7],
            ["FAR1", "迁西县远郊路1号", 118.5, 40.3, ""],
        ],
        "utf-8",
    )
    response = upload(fresh_client, path, make_key("editor"), kind="addresses", dry_run=False)
    assert response.status_code == 201, response.json()
    report = response.json()["report"]
    assert [(p["kind"], p["severity"], p["code"], p["location"]) for p in report["problems"]] == [
        ("outside_grids", "warning", "FAR1", [118.5, 40.3])
    ]
    assert report["summary"]["changes"] == {"added": ["FAR1"], "modified": [SUNNY["code"]]}
    with fresh_engine.connect() as conn:
        assert match_address(conn, SUNNY["address"]).row.households == 7
        assert conn.scalar(text("SELECT count(*) FROM addresses")) == len(REGISTRY) + 1


def test_gbk_shapefile_of_points_in_gauss_kruger(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    gk = parse_crs("EPSG:4527")
    points = from_wgs84(shapely.points(GRID_POINTS), gk)
    rows = [
        {"编码": f"G{i}", "地址": f"喜峰路{i}号", "楼栋": "", "层数": 6} for i in range(len(points))
    ]
    write_layer(
        tmp_path / "地址点.shp",
        rows,
        list(points),
        driver="ESRI Shapefile",
        crs="EPSG:4527",
        encoding="GBK",
        geometry_type="Point",
    )
    archive = zip_dir(sorted(tmp_path.glob("地址点.*")), tmp_path / "points.zip")
    viewer = upload(fresh_client, archive, make_key("viewer"), kind="addresses")
    assert (viewer.status_code, viewer.json()["code"]) == (403, "insufficient_role")
    response = upload(fresh_client, archive, make_key("editor"), kind="addresses", dry_run=False)
    assert response.status_code == 201, response.json()
    assert response.json()["report"]["crs"]["crs"] == "EPSG:4527"
    with fresh_engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT code, address, building, floors, ST_X(geom), ST_Y(geom) FROM addresses "
                "WHERE code LIKE 'G%' ORDER BY code"
            )
        ).all()
    assert [s[:4] for s in stored] == [(f"G{i}", f"喜峰路{i}号", None, 6) for i in range(3)]
    for s, (lon, lat) in zip(stored, GRID_POINTS, strict=True):
        assert s[4:] == pytest.approx((lon, lat), abs=1e-8)


def test_cli_import_of_addresses(fresh_db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    path = _write_csv(
        tmp_path / "地址.csv", ["地址编码", "地址", "经度", "纬度"], _gcj_rows(), "gbk"
    )
    args = [GRIDMAP, "import", str(path), "--kind", "addresses", "--crs", "gcj02"]
    dry = subprocess.run(args, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "dry_run" in dry.stdout and "encoding GB18030" in dry.stdout
    done = subprocess.run([*args, "--commit"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "changes: +3 ~0" in done.stdout and "committed" in done.stdout
    no_level = subprocess.run(
        [GRIDMAP, "import", str(path)], env=env, capture_output=True, text=True
    )
    assert no_level.returncode == 1 and "invalid_parameter" in no_level.stderr


@pytest.mark.parametrize(
    ("lon", "lat"),
    [("东经", "北纬"), ("ｌｎｇ", "ＬＡＴ"), ("Longitude", "Latitude"), ("X坐标", "Y坐标")],
)
def test_address_upload_takes_the_point_column_aliases(
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    tmp_path: Path,
    lon: str,
    lat: str,
) -> None:
    """The one alias table (gis.ingest.fields.POINT_COLUMNS) serves uploads as it serves lookups."""
    path = _write_csv(
        tmp_path / "地址.csv", ["地址编码", "地址", lon, lat], [r[:4] for r in _gcj_rows()], "utf-8"
    )
    response = upload(fresh_client, path, make_key("editor"), kind="addresses", crs="gcj02")
    assert response.status_code == 200, response.json()
    report = response.json()["report"]
    assert report["ok"], report["problems"]
    assert (report["fields"]["mapped"]["lon"], report["fields"]["mapped"]["lat"]) == (lon, lat)
