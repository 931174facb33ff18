"""The generated province (``gridmap demo province``) loaded through the upload path: the
same seed writes the same files; after loading, the counts are as specified, Chinese names
round-trip, the hierarchy is seamless in PostGIS (children cover their parent exactly, no
gaps, no overlaps), the points sit in their grids, and the service's lookup index answers
what PostGIS ST_Covers answers (lowest code on ties) for random points and for points on
shared vertices and edges."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, text

from gis.demo.province import counts
from gis.demo.province_files import FILES, generate
from gis.query.addresses import match_address
from gis.query.lookup import load_index
from gis.store.db import make_engine

from province import Province, province  # noqa: F401

PARENTS = (("grid", "community"), ("community", "street"), ("street", "county"))


def _digest(directory: Path) -> dict[str, str]:
    return {n: hashlib.sha256((directory / n).read_bytes()).hexdigest() for n in FILES.values()}


@pytest.fixture(scope="module")
def loaded(province) -> Province:  # noqa: F811
    return province()


@pytest.fixture(scope="module")
def db(loaded: Province) -> Iterator[Engine]:
    engine = make_engine(loaded.url)
    yield engine
    engine.dispose()


def test_same_seed_same_files(tmp_path: Path) -> None:
    generate(2_000, 5, tmp_path / "a", progress=lambda _: None)
    generate(2_000, 5, tmp_path / "b", progress=lambda _: None)
    generate(2_000, 6, tmp_path / "c", progress=lambda _: None)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")[FILES["grid"]] != _digest(tmp_path / "c")[FILES["grid"]]


def test_loaded_through_the_upload_path_with_the_specified_counts(
    loaded: Province, db: Engine
) -> None:
    print(f"generated in {loaded.generate_s:.1f} s, loaded in {loaded.load_s:.1f} s")
    assert [item.status for item in loaded.loaded] == ["committed"] * len(FILES)
    versions = [item.version for item in loaded.loaded if item.version is not None]
    assert len(versions) == 4 and versions == sorted(versions)
    expected = counts(loaded.grids)
    assert expected == {"county": 4, "street": 40, "community": 1_000, "grid": 20_000}
    with db.connect() as conn:
        stored = dict(
            conn.execute(
                text("SELECT level, count(*) FROM regions WHERE valid_to IS NULL GROUP BY level")
            ).all()
        )
        assert stored == expected
        assert conn.scalar(text("SELECT count(*) FROM addresses")) == 10 * loaded.grids
        assert conn.scalar(text("SELECT count(*) FROM centres")) == expected["community"]
        assert conn.scalar(text("SELECT count(*) FROM cameras")) == loaded.grids // 2
        uploads = conn.execute(text("SELECT kind, status FROM uploads ORDER BY id")).all()
    assert [status for _, status in uploads] == ["committed"] * len(FILES)
    # ~100 vertices a grid
    sample = pyogrio.read_dataframe(loaded.directory / FILES["grid"], max_features=2_000)
    vertices = shapely.get_num_coordinates(shapely.get_exterior_ring(sample.geometry.values)) - 1
    assert 85 <= vertices.mean() <= 110


def test_names_and_codes_round_trip(loaded: Province, db: Engine) -> None:
    with db.connect() as conn:
        stored = dict(
            conn.execute(text("SELECT code, name FROM regions WHERE valid_to IS NULL")).all()
        )
    written = {}
    for level in ("county", "street", "community", "grid"):
        table = pyogrio.read_dataframe(
            loaded.directory / FILES[level], columns=["编码", "名称"], read_geometry=False
        )
        written |= dict(zip(table["编码"], table["名称"], strict=True))
    assert stored == written
    assert any(n.endswith("县") for n in written.values())
    assert any(n.endswith("街道") for n in written.values())
    assert any(n.endswith("社区") for n in written.values())
    assert all(n.endswith("网格") for c, n in written.items() if len(c) == 15)


@pytest.mark.parametrize(("child", "parent"), PARENTS)
def test_parents_are_the_union_of_their_children(db: Engine, child: str, parent: str) -> None:
    """In PostGIS: each child covered by its parent; the children's union equals the parent
    (no gap) and their areas add up to the parent's (no overlap)."""
    with db.connect() as conn:
        bad = conn.execute(
            text(
                "SELECT p.code, bool_and(ST_Covers(p.geom, c.geom)) AS covered, "
                "ST_Area(ST_SymDifference(p.geom, ST_Union(c.geom))::geography) AS gap, "
                "abs(sum(ST_Area(c.geom::geography)) - ST_Area(p.geom::geography)) AS overlap "
                "FROM regions p JOIN regions c ON c.parent_code = p.code "
                "AND c.valid_to IS NULL AND c.level = :child "
                "WHERE p.valid_to IS NULL AND p.level = :parent GROUP BY p.code, p.geom"
            ),
            {"child": child, "parent": parent},
        ).all()
        orphans = conn.scalar(
            text(
                "SELECT count(*) FROM regions c WHERE c.valid_to IS NULL AND c.level = :child "
                "AND NOT EXISTS (SELECT 1 FROM regions p WHERE p.valid_to IS NULL "
                "AND p.code = c.parent_code AND p.level = :parent)"
            ),
            {"child": child, "parent": parent},
        )
    assert orphans == 0
    assert bad
    assert [r.code for r in bad if not r.covered] == []
    assert max(r.gap for r in bad) < 1.0  # m²
    assert max(r.overlap for r in bad) < 1.0


def test_points_sit_in_their_grids(db: Engine) -> None:
    with db.connect() as conn:
        for table in ("addresses", "centres", "cameras"):
            outside = conn.scalar(
                text(
                    f"SELECT count(*) FROM {table} t LEFT JOIN regions r ON r.code = "
                    "t.region_code AND r.valid_to IS NULL "
                    "WHERE r.code IS NULL OR NOT ST_Covers(r.geom, t.geom)"
                )
            )
            assert outside == 0, table


def test_generated_addresses_match_themselves(db: Engine) -> None:
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT code, address FROM addresses ORDER BY md5(code) LIMIT 20")
        ).all()
        for code, address in rows:
            match = match_address(conn, address)
            assert match.row is not None and match.row.code == code, address


def test_lookup_index_equals_postgis(loaded: Province, db: Engine) -> None:
    """Random points, grid vertices (where three grids meet) and points on shared edges."""
    rng = np.random.default_rng(3)
    sample = pyogrio.read_dataframe(loaded.directory / FILES["grid"], max_features=400)
    ring, which = shapely.get_coordinates(
        shapely.get_exterior_ring(sample.geometry.values), return_index=True
    )
    vertices = ring[rng.choice(len(ring), 1_000, replace=False)]
    same_ring = np.flatnonzero(which[:-1] == which[1:])
    step = rng.choice(same_ring, 1_000, replace=False)
    midpoints = (ring[step] + ring[step + 1]) / 2
    with db.connect() as conn:
        bx0, by0, bx1, by1 = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
                "SELECT ST_Extent(geom) AS e FROM regions WHERE valid_to IS NULL) s"
            )
        ).one()
        random = rng.uniform([bx0, by0], [bx1, by1], (2_000, 2))
        xy = np.vstack([vertices, midpoints, random])
        oracle = (
            conn.execute(
                text(
                    "SELECT (SELECT min(code) FROM regions r WHERE r.valid_to IS NULL "
                    "AND r.level = 'grid' AND ST_Covers(r.geom, ST_SetSRID(ST_MakePoint(x, y), "
                    "4326))) FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) "
                    "WITH ORDINALITY AS p(x, y, i) ORDER BY i"
                ),
                {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist()},
            )
            .scalars()
            .all()
        )
        index = load_index(conn, None)
    found = index.covering(xy[:, 0], xy[:, 1])
    answers = [index.grids[i]["code"] if i >= 0 else None for i in found.tolist()]
    assert answers == oracle
    assert None not in oracle[:1_000]  # every vertex is in a grid
