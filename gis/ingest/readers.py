"""Reading uploaded files with pyogrio: find the dataset, its encoding, one layer.

Formats: zipped Shapefile, GeoJSON, GeoPackage, KML/KMZ, FlatGeobuf, CSV with a WKT column
(boundaries: polygons; address registries, centres and cameras: points, or a CSV with lon/lat
columns; roads: lines).
"""

from __future__ import annotations

import codecs
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from gis.errors import InvalidInput, Unsupported
from gis.geo.crs import flat
from gis.ingest.archive import is_archive, unpack
from gis.ingest.encoding import (
    EncodingChoice,
    TextBytes,
    detect_dbf_encoding,
    detect_text_encoding,
)

DRIVERS = {
    ".shp": "ESRI Shapefile",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GPKG",
    ".kml": "KML",
    ".fgb": "FlatGeobuf",
    ".csv": "CSV",
    ".pbf": "OSM",
}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf")
TEXT_FORMATS = (".geojson", ".json", ".csv", ".kml")
_XML_ENCODING = re.compile(rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9_.:-]+)["']""")
_XML_ENCODING_TEXT = re.compile(r"""encoding=["'][A-Za-z0-9_.:-]+["']""")
KML_STYLE_FIELDS = frozenset(
    {
        "id",
        "timestamp",
        "begin",
        "end",
        "altitudeMode",
        "tessellate",
        "extrude",
        "visibility",
        "drawOrder",
        "icon",
        "snippet",
    }
)
"""Fields GDAL's KML drivers add for rendering; not attributes of a region."""
_POLYGONAL = {shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON}
_POINTAL = {shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT}
_LINEAL = {shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING}
GEOMETRY_KINDS = {
    "polygons": (_POLYGONAL, "面要素 (polygons)"),
    "points": (_POINTAL, "点要素（或含经纬度列的 CSV） (points, or a CSV with lon/lat columns)"),
    "lines": (_LINEAL, "线要素 (lines)"),
}
"""What a layer may hold: the shapely types, and how to name them to a clerk."""
CSV_OPEN_OPTIONS = {
    "GEOM_POSSIBLE_NAMES": "wkt,WKT,geometry,geom,the_geom,几何,坐标",
    "KEEP_GEOM_COLUMNS": "NO",
}


@dataclass
class Layer:
    """One layer read from an upload: attribute columns, geometries and what the file said."""

    source: str
    driver: str
    layer: str
    fields: list[str]
    columns: dict[str, list[Any]]
    geometries: np.ndarray
    crs: str | None
    encoding: EncodingChoice | None

    def __len__(self) -> int:
        return len(self.geometries)


def _find_dataset(files: list[Path], root: Path) -> Path:
    """The one dataset among the uploaded files."""
    files = [f for f in files if "__MACOSX" not in f.parts and not f.name.startswith(".")]
    stems: dict[Path, set[str]] = {}
    for f in files:
        if f.suffix.lower() in (*SHAPEFILE_PARTS, ".prj", ".cpg"):
            stems.setdefault(f.with_suffix(""), set()).add(f.suffix.lower())
    for stem, parts in stems.items():
        missing = [p for p in SHAPEFILE_PARTS if p not in parts]
        if missing and parts & set(SHAPEFILE_PARTS):
            raise InvalidInput(
                f"Shapefile {stem.name} 缺少 {', '.join(missing)} 文件 "
                f"(the shapefile is missing its {', '.join(missing)} part)",
                code="shapefile_incomplete",
                details={"shapefile": str(stem.relative_to(root)), "missing": missing},
            )
    datasets = [f for f in files if f.suffix.lower() in DRIVERS]
    if not datasets:
        raise Unsupported(
            "无法识别的文件格式；支持 zip 压缩的 Shapefile、GeoJSON、GeoPackage、KML/KMZ、"
            "FlatGeobuf、含 WKT 列的 CSV (unknown format)",
            code="unknown_format",
            details={"files": sorted(str(f.relative_to(root)) for f in files)[:50]},
        )
    if len(datasets) > 1:
        raise InvalidInput(
            "一次只能上传一个数据集 (the upload holds more than one dataset)",
            code="multiple_datasets",
            details={"datasets": sorted(str(f.relative_to(root)) for f in datasets)},
        )
    return datasets[0]


def _encoding_for(dataset: Path, override: str | None) -> EncodingChoice | None:
    suffix = dataset.suffix.lower()
    if suffix == ".shp":
        cpg = next(
            (
                p
                for p in dataset.parent.iterdir()
                if p.stem == dataset.stem and p.suffix.lower() == ".cpg"
            ),
            None,
        )
        dbf = next(
            p
            for p in dataset.parent.iterdir()
            if p.stem == dataset.stem and p.suffix.lower() == ".dbf"
        )
        return detect_dbf_encoding(dbf, cpg, override)
    if suffix in TEXT_FORMATS:
        head = TextBytes(dataset).head(200)
        declared = _XML_ENCODING.search(head) if suffix == ".kml" else None
        name = declared[1].decode("ascii") if declared else None
        if override is None and name and name.upper().replace("-", "") != "UTF8":
            given = detect_text_encoding(dataset, name)
            choice = EncodingChoice(
                given.encoding,
                "declared",
                f"按 XML 声明使用 {given.encoding} (declared in the file's XML header)",
            )
        else:
            choice = detect_text_encoding(dataset, override)
        if choice.encoding.upper().replace("-", "") != "UTF8":
            # GDAL reads these formats as UTF-8 (expat knows no GBK): transcode once, exactly
            _to_utf8(dataset, choice.encoding, declared is not None)
        return choice
    return None


def _to_utf8(dataset: Path, encoding: str, declared: bool) -> None:
    """Rewrite the text file in UTF-8 (its XML declaration saying so when it ``declared``
    another), a chunk at a time."""
    decoder = codecs.getincrementaldecoder(encoding)()
    converted = dataset.with_name(dataset.name + ".utf8")
    with converted.open("w", encoding="utf-8", newline="") as out:
        chunks = TextBytes(dataset).chunks()
        for n, chunk in enumerate(chunks):
            text = decoder.decode(chunk)
            if n == 0 and declared:
                text = _XML_ENCODING_TEXT.sub('encoding="UTF-8"', text, count=1)
            out.write(text)
        out.write(decoder.decode(b"", final=True))
    converted.replace(dataset)


def _choose_layer(dataset: Path, layer: str | None) -> str:
    names = [str(name) for name, _ in pyogrio.list_layers(dataset)]
    if layer is not None:
        if layer not in names:
            raise InvalidInput(
                f"文件中没有图层 {layer} (no layer {layer!r} in the file)",
                code="layer_not_found",
                details={"layer": layer, "layers": names},
            )
        return layer
    if len(names) > 1:
        raise InvalidInput(
            "文件包含多个图层，请指定 layer (the file has several layers; choose one)",
            code="layer_required",
            details={"layers": names},
        )
    if not names:
        raise InvalidInput("文件中没有图层 (the file has no layer)", code="empty_layer")
    return names[0]


def _column(values: np.ndarray, dtype: str) -> list[Any]:
    """A field's values as Python values, nulls as None.  pyogrio reads integer and boolean
    fields that have nulls as floats with NaN; ``dtype`` (the field's type) turns them back
    into ints and bools, so that a value reads the same whether or not its column has nulls."""
    cast = {"bool": bool, "int64": int, "int32": int, "int16": int}.get(dtype)
    out = []
    for v in values.tolist():
        if isinstance(v, float):
            if v != v:
                v = None
            elif cast is not None and v.is_integer():
                v = cast(v)
        out.append(v)
    return out


def _arrow_column(values: Any) -> list[Any]:
    """An Arrow column's values as Python values, nulls (and NaN) as None — as
    :func:`_column` reads them from a whole layer (only a floating column holds NaN)."""
    if not pa.types.is_floating(values.type):
        return values.to_pylist()
    return [None if v != v else v for v in values.to_pylist()]


def _without_paths(message: str, files_dir: Path) -> str:
    """GDAL's message with the server's working folder taken out: files are named as the
    user sent them (relative to the upload), never by where they lie on the server."""
    message = message.replace(f"{files_dir}/", "").replace(str(files_dir), "")
    return re.sub(r"(?:/[^\s'\"/]+)+/(?=[^\s'\"/]+)", "", message)


_TEXT_FORMATS = (".geojson", ".json", ".csv", ".kml")
_NUL_MARKS = (b"\x00", b"\\u0000")


def _refuse_nul(dataset: Path) -> None:
    """A text file (GeoJSON, CSV, KML) with a NUL character, raw or as the JSON escape: GDAL
    would cut the field at it without a word, so the file is refused (``invalid_text``)."""
    if dataset.suffix.lower() not in _TEXT_FORMATS:
        return
    tail = b""
    with dataset.open("rb") as f:
        while chunk := f.read(1 << 20):
            if any(mark in tail + chunk for mark in _NUL_MARKS):
                raise InvalidInput(
                    f"文件 {dataset.name} 中有字段含 NUL 字符，读取时会被截断，请清除后重传 "
                    "(a field of the file holds a NUL character, which would cut it short)",
                    code="invalid_text",
                    details={"file": dataset.name},
                )
            tail = chunk[-8:]


def _unread_prj(dataset: Path) -> str | None:
    """The text of a shapefile's ``.prj`` that GDAL could not make a CRS of: kept as the
    file's CRS so that it is refused (``unknown_crs``) unless ``crs`` is given — not ignored
    with the CRS guessed from the coordinates."""
    prj = [
        p for p in dataset.parent.iterdir() if p.stem == dataset.stem and p.suffix.lower() == ".prj"
    ]
    if not prj:
        return None
    return prj[0].read_bytes()[:2000].decode("utf-8", "replace").strip() or "(empty .prj)"


@dataclass(frozen=True)
class Dataset:
    """An upload's one dataset, found (an archive unpacked), its encoding decided (a text
    file transcoded to UTF-8 when it was not) and its layer chosen: ready to read, whole
    (:func:`read_dataset`) or in batches (:func:`read_batches`)."""

    path: Path
    files_dir: Path
    layer: str
    encoding: EncodingChoice | None
    geometry: str

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()

    @property
    def gdal_encoding(self) -> str | None:
        """The encoding GDAL is told (shapefiles' DBF only: text files are UTF-8 by now)."""
        return self.encoding.encoding if self.suffix == ".shp" and self.encoding else None

    @property
    def options(self) -> dict[str, str]:
        return CSV_OPEN_OPTIONS if self.suffix == ".csv" else {}

    @contextmanager
    def gdal_errors(self) -> Iterator[None]:
        """GDAL's refusals as ``unreadable_file`` / ``undecodable_encoding``, the server's
        folders taken out of what it said."""
        try:
            yield
        except (DataSourceError, DataLayerError) as error:
            said = _without_paths(str(error), self.files_dir)
            raise InvalidInput(
                f"无法读取文件 {self.path.name} (GDAL could not read the file: {said})",
                code="unreadable_file",
            ) from error
        except UnicodeDecodeError as error:
            # e.g. a field name GDAL cut in the middle of a multi-byte character
            used = self.gdal_encoding or "UTF-8"
            raise InvalidInput(
                f"文件 {self.path.name} 的字段名或属性无法按 {used} 解码，"
                "请用 encoding 参数指定正确编码 "
                f"(field names or values do not decode as {used})",
                code="undecodable_encoding",
                details={
                    "encoding": self.gdal_encoding,
                    "error": _without_paths(str(error), self.files_dir),
                },
            ) from error


def open_upload(
    path: Path,
    filename: str,
    workdir: Path,
    *,
    layer: str | None = None,
    encoding: str | None = None,
    max_unpacked_bytes: int,
    max_entries: int,
    geometry: str = "polygons",
    move: bool = False,
) -> Dataset:
    """Find the one dataset of an uploaded file (or archive) saved at ``path``.

    ``geometry`` says what it must hold: ``polygons`` (boundaries), ``lines`` (roads) or
    ``points`` — or, for points, no geometry at all (a CSV of lon/lat columns: its
    geometries are then all None).  A file that is no archive is read in ``workdir`` under
    its own name (GDAL knows formats by it; text may be transcoded there): copied, or moved
    when ``move`` says ``path`` is the upload's own saved copy.
    """
    files_dir = workdir / "files"
    files_dir.mkdir(parents=True)
    if is_archive(path, filename):
        files = unpack(path, files_dir, max_bytes=max_unpacked_bytes, max_entries=max_entries)
    else:
        target = files_dir / Path(filename).name
        (shutil.move if move else shutil.copyfile)(path, target)
        files = [target]
    dataset = _find_dataset(files, files_dir)
    _refuse_nul(dataset)
    choice = _encoding_for(dataset, encoding)
    draft = Dataset(dataset, files_dir, "", choice, geometry)
    with draft.gdal_errors():
        return replace(draft, layer=_choose_layer(dataset, layer))


def _empty(dataset: Dataset) -> InvalidInput:
    return InvalidInput(
        f"图层 {dataset.layer} 没有要素 (the layer has no features)",
        code="empty_layer",
        details={"layer": dataset.layer},
    )


def _layer(
    dataset: Dataset,
    meta: dict[str, Any],
    wkb: Sequence[bytes | None] | None,
    columns: dict[str, list[Any]],
    rows: int,
) -> Layer:
    """A layer (or one batch of it) from what GDAL read: ``wkb`` None when the layer has no
    geometry column (then ``rows`` say how many features); wrong geometry types refused."""
    points = dataset.geometry == "points"
    if wkb is None:
        geometries = np.full(rows, None, dtype=object)
    else:
        geometries = flat(shapely.from_wkb(wkb, on_invalid="fix"))
    types = set(shapely.get_type_id(geometries[~shapely.is_missing(geometries)]).tolist())
    allowed, expected = GEOMETRY_KINDS[dataset.geometry]
    if (wkb is not None or not points) and not types & allowed:
        found = sorted({shapely.GeometryType(t).name.title() for t in types}) or ["None"]
        raise InvalidInput(
            f"文件应为{expected}，实际为 {', '.join(found)} (wrong geometry type)",
            code="wrong_geometry_type",
            details={"geometry_types": found, "expected": dataset.geometry},
        )
    fields = [str(f) for f in meta["fields"]]
    if dataset.suffix == ".kml":
        fields = [f for f in fields if f not in KML_STYLE_FIELDS]
    return Layer(
        source=str(dataset.path.relative_to(dataset.files_dir)),
        driver=DRIVERS[dataset.suffix],
        layer=dataset.layer,
        fields=fields,
        columns={f: columns[f] for f in fields},
        geometries=geometries,
        crs=meta.get("crs") or _unread_prj(dataset.path),
        encoding=dataset.encoding,
    )


def read_dataset(dataset: Dataset) -> Layer:
    """The dataset's layer, read whole."""
    with dataset.gdal_errors():
        meta, _, wkb, field_data = pyogrio.raw.read(
            dataset.path, layer=dataset.layer, encoding=dataset.gdal_encoding, **dataset.options
        )
    points = dataset.geometry == "points"
    rows = len(field_data[0]) if points and wkb is None and len(field_data) else 0
    if (wkb is None or len(wkb) == 0) and not rows:
        raise _empty(dataset)
    columns = {
        str(f): _column(v, str(dtype))
        for f, v, dtype in zip(meta["fields"], field_data, meta["dtypes"], strict=True)
    }
    return _layer(dataset, meta, wkb, columns, rows)


def read_batches(dataset: Dataset, rows: int) -> Iterator[Layer]:
    """The dataset's layer ``rows`` features at a time, in one pass over the file (GDAL's
    Arrow stream): what is held is one batch, never the file.  Each batch is a
    :class:`Layer` of its own (the same fields, CRS and encoding); an empty layer raises
    ``empty_layer`` before the first."""
    with (
        dataset.gdal_errors(),
        pyogrio.raw.open_arrow(
            dataset.path,
            layer=dataset.layer,
            encoding=dataset.gdal_encoding,
            batch_size=rows,
            use_pyarrow=True,
            **dataset.options,
        ) as (meta, reader),
    ):
        geometry = meta.get("geometry_name") or "wkb_geometry"
        empty = True
        for batch in reader:
            if not batch.num_rows:
                continue
            empty = False
            names = batch.schema.names
            wkb = (
                batch.column(geometry).to_numpy(zero_copy_only=False) if geometry in names else None
            )
            columns = {str(f): _arrow_column(batch.column(str(f))) for f in meta["fields"]}
            yield _layer(dataset, meta, wkb, columns, batch.num_rows)
        if empty:
            raise _empty(dataset)
