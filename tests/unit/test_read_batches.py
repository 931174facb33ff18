"""Reading a layer in batches (GDAL's Arrow stream) gives what reading it whole gives, in
every format an address registry comes in: the same fields, values (Chinese text, nulls,
integers) and points, batch after batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from gis.errors import InvalidInput
from gis.ingest.readers import Layer, open_upload, read_batches, read_dataset

from support import write_layer, zip_dir

pytestmark = pytest.mark.unit

ROWS = [
    {
        "code": f"A{n:04d}",
        "address": f"迁西县栗乡路{n}号" if n % 11 else None,
        "households": n % 40,
    }
    for n in range(1, 251)
]
POINTS = [shapely.Point(118.3 + n * 1e-4, 40.1 + n * 1e-4) for n in range(1, 251)]


def _shapefile(tmp_path: Path) -> Path:
    write_layer(tmp_path / "reg.shp", ROWS, POINTS, encoding="GBK", geometry_type="Point")
    parts = [tmp_path / f"reg{s}" for s in (".shp", ".shx", ".dbf", ".prj", ".cpg")]
    return zip_dir([p for p in parts if p.exists()], tmp_path / "reg.zip")


def _csv(tmp_path: Path) -> Path:
    lines = ["code,address,households,lon,lat"] + [
        f"{r['code']},{r['address'] or ''},{r['households']},{p.x!r},{p.y!r}"
        for r, p in zip(ROWS, POINTS, strict=True)
    ]
    path = tmp_path / "reg.csv"
    path.write_bytes("\r\n".join(lines).encode("gb18030"))
    return path


WRITERS = {
    "gpkg": lambda d: write_layer(d / "reg.gpkg", ROWS, POINTS, geometry_type="Point"),
    "fgb": lambda d: write_layer(d / "reg.fgb", ROWS, POINTS, geometry_type="Point"),
    "geojson": lambda d: write_layer(d / "reg.geojson", ROWS, POINTS, geometry_type="Point"),
    "kml": lambda d: write_layer(d / "reg.kml", ROWS, POINTS, driver="KML", geometry_type="Point"),
    "shapefile (GBK)": _shapefile,
    "csv (GB18030)": _csv,
}


def _open(path: Path, workdir: Path) -> Any:
    return open_upload(
        path,
        path.name,
        workdir,
        max_unpacked_bytes=10**8,
        max_entries=100,
        geometry="points",
    )


def _values(layer: Layer) -> dict[str, list[Any]]:
    return {f: [None if v == "" else v for v in layer.columns[f]] for f in layer.fields}


@pytest.mark.parametrize("fmt", WRITERS)
def test_batches_are_the_whole_layer_cut_in_pieces(fmt: str, tmp_path: Path) -> None:
    path = WRITERS[fmt](tmp_path)
    whole = read_dataset(_open(path, tmp_path / "a"))
    batches = list(read_batches(_open(path, tmp_path / "b"), 100))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert {b.fields == whole.fields for b in batches} == {True}
    assert {
        (b.crs, b.driver, b.layer) == (whole.crs, whole.driver, whole.layer) for b in batches
    } == {True}
    joined = {f: [v for b in batches for v in _values(b)[f]] for f in whole.fields}
    assert joined == _values(whole)
    codes = joined.get("code") or joined["Name"]  # FlatGeobuf keeps them in its index's order
    assert sorted(zip(codes, joined["address"], strict=True), key=str) == sorted(
        ((r["code"], r["address"]) for r in ROWS), key=str
    )
    geometries = np.concatenate([b.geometries for b in batches])
    assert shapely.equals_exact(geometries, whole.geometries, 0).all() or fmt.startswith("csv")


def test_an_empty_layer_is_refused_before_any_batch(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("code,address,lon,lat\r\n")
    with pytest.raises(InvalidInput) as raised:
        list(read_batches(_open(path, tmp_path / "w"), 100))
    assert raised.value.code == "empty_layer"


def test_heights_are_dropped(tmp_path: Path) -> None:
    """Points with a height (a surveyed file's Z) come back 2-D, at the same x and y."""
    path = tmp_path / "reg.geojson"
    raised = [shapely.Point(p.x, p.y, 12.5) for p in POINTS]
    write_layer(path, ROWS, raised, geometry_type="Point Z")
    (batch, *_) = read_batches(_open(path, tmp_path / "w"), 100)
    assert not shapely.has_z(batch.geometries).any()
    assert shapely.equals_exact(batch.geometries, np.array(POINTS[:100]), 1e-9).all()
