"""The upload pipeline: read → map fields → reproject → check → stage → commit, for every kind.

:func:`run` takes a file (boundaries, an address registry, centres, cameras or roads) through
the same steps: save and read it (an archive unpacked), map its fields to the kind's roles,
reproject it to EPSG:4326 (points from lon/lat columns where it has no geometries), let the
kind check its features — on their own, then in one transaction against what is stored — and
stage the change there — refused (403) first when it reaches outside the uploader's region
scope (``gis.access.scope``).  A dry run (the default) rolls the staged change back, its preview
kept in the report; a commit keeps it whole, or nothing when an error blocks it.  Every upload
that gets as far as a report is recorded with it (``gis.ingest.history``).  A kind plugs in as
an :class:`UploadKind` making a :class:`Batch` of its features; the kinds are registered in
``gis.ingest.uploads``.

A file is read :data:`READ_ROWS` features at a time and each batch reprojected as it comes
(the file's own coordinates are not kept): a kind that checks every feature at once gets the
batches gathered; a kind with :attr:`UploadKind.batch_rows` (address registries of millions of
entries) takes them one by one while it checks, so it holds one batch, never the file.
Reports list at most ``gis.ingest.problems.MAX_LISTED`` problems of a kind and count all.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import shapely
from sqlalchemy import Connection, Engine

from gis.access.scope import require_unscoped
from gis.errors import InvalidInput, TooLarge
from gis.geo.crs import CrsSpec, crs_from_file, infer_crs, lon_lat_out_of_range, parse_crs, to_wgs84
from gis.ingest.ahead import read_ahead
from gis.ingest.candidates import Tolerances
from gis.ingest.collector import young_collections_only
from gis.ingest.encoding import EncodingChoice
from gis.ingest.fields import FieldMapping, coordinate, map_fields, require_roles
from gis.ingest.history import ReviewFeatures, record_upload
from gis.ingest.problems import Problem, ProblemLog
from gis.ingest.readers import Dataset, Layer, open_upload, read_batches
from gis.settings import Settings
from gis.store.statistics import analyze_if_grown, rows_written
from gis.store.versions import commit_version

Progress = Callable[[str], None]
READ_ROWS = 100_000
"""Features read (and reprojected) at a time: what the file costs beyond its features."""


@dataclass(frozen=True)
class UploadRequest:
    """What the uploader asked for (``level`` and ``parent`` apply to boundaries only), the
    uploader's region ``scope`` (None: everywhere; ``gis.access.scope``), and the ``action``
    a boundary version made of it records (``upload``, or ``edit`` for the boundary editor)."""

    filename: str
    level: str | None
    author: str
    kind: str = "boundaries"
    parent: str | None = None
    crs: str | None = None
    encoding: str | None = None
    layer: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    dry_run: bool = True
    repair: bool = False
    allow_moves: bool = False
    scope: str | None = None
    action: str = "upload"

    def params(self) -> dict[str, Any]:
        """The request's options, as recorded in the upload history."""
        return {
            "parent": self.parent,
            "crs": self.crs,
            "encoding": self.encoding,
            "layer": self.layer,
            "fields": self.fields,
            "dry_run": self.dry_run,
            "repair": self.repair,
            "allow_moves": self.allow_moves,
        }


@dataclass(frozen=True)
class Staged:
    """What an upload wrote in its transaction: ``changes`` (lists of keys, or counts) for the
    report, and the boundary version it made, if any."""

    changes: dict[str, Any]
    version: int | None = None


@dataclass
class Reprojected:
    """An upload's file read, its fields mapped, its geometries in EPSG:4326."""

    layer: Layer
    mapping: FieldMapping
    geometries: np.ndarray
    spec: CrsSpec
    """The CRS the file was read in."""
    crs: dict[str, Any]
    """How that CRS was decided: the report's ``crs``."""
    more: Iterator[Reprojected] = field(default_factory=lambda: iter(()))
    """The file's next batches, read and reprojected as they are taken (a kind that reads
    its file in batches, :attr:`UploadKind.batch_rows`); this one is the first."""


def json_safe(value: Any) -> Any:
    """A value read from a file as JSON can hold it (numpy scalars, dates, bytes)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def whole_number(value: Any) -> Any:
    """Integers as int; floats and digit strings that are whole numbers too; else as given."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return value


def save_upload(stream: BinaryIO, dest: Path, max_bytes: int) -> None:
    """Copy an upload's bytes to ``dest``, refusing them once they pass ``max_bytes``."""
    written = 0
    with dest.open("wb") as out:
        while chunk := stream.read(1 << 20):
            written += len(chunk)
            if written > max_bytes:
                raise TooLarge(
                    f"文件超过 {max_bytes // 1_000_000} MB 上限 "
                    f"(the file is larger than the {max_bytes}-byte limit)",
                    code="file_too_large",
                    details={"max_bytes": max_bytes},
                )
            out.write(chunk)


@contextmanager
def opened_upload(
    source: Path | BinaryIO, request: UploadRequest, settings: Settings, geometry: str
) -> Iterator[Dataset]:
    """The uploaded file's dataset — a file on disk, or the bytes of an HTTP upload, saved
    (once) in the upload's temporary folder — an archive unpacked there; the folder is
    removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="gridmap-upload-") as tmp:
        workdir = Path(tmp)
        if isinstance(source, Path):
            path, own = source, False
        else:
            path, own = workdir / "upload.bin", True
            save_upload(source, path, settings.max_upload_bytes)
        yield open_upload(
            path,
            request.filename,
            workdir,
            layer=request.layer,
            encoding=request.encoding,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_entries=settings.max_archive_entries,
            geometry=geometry,
            move=own,
        )


def file_points(layer: Layer, mapping: FieldMapping, columns: bool) -> np.ndarray:
    """Each feature's point in the file's CRS (None where it has no usable one): its point
    geometry (a one-point MultiPoint too) or, when ``columns`` (a layer without
    geometries), its lon/lat fields."""
    if not columns:
        single = shapely.get_geometry(layer.geometries, 0)
        usable = (shapely.get_num_geometries(layer.geometries) == 1) & ~shapely.is_empty(single)
        return np.where(
            usable & (shapely.get_type_id(single) == shapely.GeometryType.POINT), single, None
        )
    lon, lat = (layer.columns[mapping.roles[role]] for role in ("lon", "lat"))
    xy = np.array(
        [[coordinate(x), coordinate(y)] for x, y in zip(lon, lat, strict=True)], dtype=float
    ).reshape(-1, 2)  # a cell holding no number is NaN
    return np.where(np.isfinite(xy).all(axis=1), shapely.points(xy), None)


def choose_crs(layer: Layer, request: UploadRequest) -> tuple[CrsSpec, dict[str, Any]]:
    """The CRS the layer is read in — the request's, else the file's, else inferred from the
    coordinates — and how it was decided (for the report)."""
    if request.crs:
        spec, source, reason = parse_crs(request.crs), "parameter", "由上传参数指定 (given)"
    elif layer.crs:
        spec, source, reason = crs_from_file(layer.crs), "file", "取自文件 (from the file)"
    else:
        present = layer.geometries[~shapely.is_missing(layer.geometries)]
        inferred = infer_crs(*shapely.total_bounds(present))
        if inferred is None:
            raise InvalidInput(
                "文件没有坐标系信息且无法推断，请指定 crs (e.g. EPSG:4527, gcj02) "
                "(the file has no CRS and it cannot be inferred: give crs)",
                code="crs_required",
                details={"bounds": shapely.total_bounds(present).round(3).tolist()},
            )
        (spec, reason), source = inferred, "inferred"
    return spec, {"crs": spec.label, "source": source, "reason": reason}


def reproject(
    layer: Layer, chosen: tuple[CrsSpec, dict[str, Any]]
) -> tuple[np.ndarray, dict[str, Any]]:
    """The layer's geometries in EPSG:4326, read in the ``chosen`` CRS (:func:`choose_crs`),
    and how that was decided; ``coordinates_out_of_range`` when they are no lon/lat."""
    spec, decided = chosen
    geometries = to_wgs84(layer.geometries, spec)
    present = geometries[~shapely.is_missing(geometries)]
    coords = shapely.get_coordinates(present)
    if lon_lat_out_of_range(coords[:, 0], coords[:, 1]).any():
        raise InvalidInput(
            f"坐标超出经纬度范围（经纬度是否颠倒？坐标系 {spec.label} 是否正确？） "
            f"(coordinates out of range after reprojection from {spec.label}: "
            "swapped lat/lon or a wrong CRS?)",
            code="coordinates_out_of_range",
            details={
                "crs": spec.label,
                "bounds": shapely.total_bounds(present).round(6).tolist(),
            },
        )
    return geometries, decided


def encoding_report(choice: EncodingChoice | None) -> dict[str, Any] | None:
    """What the report says about the file's text encoding (None: not a text or DBF file)."""
    if choice is None:
        return None
    return {"encoding": choice.encoding, "source": choice.source, "reason": choice.reason}


def file_report(layer: Layer, crs: dict[str, Any], mapping: FieldMapping) -> dict[str, Any]:
    """What the report says about the file: format, encoding, CRS and field mapping."""
    return {
        "file": {"source": layer.source, "format": layer.driver, "layer": layer.layer},
        "encoding": encoding_report(layer.encoding),
        "crs": crs,
        "output_crs": "EPSG:4326",
        "fields": mapping.to_report(),
    }


@dataclass(frozen=True)
class UploadResult:
    """The recorded upload: its id, status, resulting version and report."""

    id: int
    status: str
    version: int | None
    report: dict[str, Any]


class Batch:
    """One upload's features as its kind reads them, with the ``problems`` the file alone
    shows.  Boundaries also report their validation ``tolerances`` and the ``repairs`` made
    (known once checked); other kinds have neither."""

    problems: list[Problem]
    tolerances: Tolerances | None = None
    repairs: list[dict[str, Any]] | None = None
    features: int | None = None
    """How many features the file has, when the batch counted them reading it in batches
    (None: the layer's length)."""

    def check(self, conn: Connection, step: Progress) -> Iterable[Problem]:
        """The problems only the database can tell (inside the upload's transaction) — and,
        for a kind that reads its file in batches, those of every batch after the first."""
        return []

    def authorize(self, conn: Connection, scope: str | None) -> None:
        """403 ``out_of_scope`` unless the change stays inside ``scope`` (after
        :meth:`check`, before :meth:`stage`, in the same transaction).  By default a scoped
        uploader is refused: a kind that cannot say which regions it touches is nobody's
        to change but an unscoped uploader's."""
        require_unscoped(scope, self.layer_name, f"上传{self.layer_name}")

    layer_name = "upload"
    """What a refusal names when the whole layer is out of scope."""

    table: str | None = None
    """The table a commit writes; analysed with it when it grew much
    (:func:`gis.store.statistics.analyze_if_grown`)."""

    def stage(self, conn: Connection) -> Staged:
        """Write the change in the upload's transaction (the pipeline commits or rolls back)."""
        raise NotImplementedError

    def review(self, staged: Staged | None, stored: bool = False) -> ReviewFeatures | None:
        """What the upload history keeps for the review map (boundaries), given the staged
        change (None when errors blocked it); ``stored``: the change is committed as a
        version, whose rows hold the geometries."""
        return None


class UploadKind:
    """A kind of upload: what its file holds (``geometry``: a key of
    :data:`gis.ingest.readers.GEOMETRY_KINDS`), the names of its fields (``synonyms``), the
    roles it needs and the :class:`Batch` of its features."""

    geometry: str
    synonyms: dict[str, tuple[str, ...]]

    def required(self, request: UploadRequest) -> list[str]:
        """The roles the file must map (lon/lat are added for points without geometries);
        raises when the request does not fit the kind."""
        raise NotImplementedError

    def explain(
        self,
        engine: Engine,
        error: InvalidInput,
        layer: Layer,
        mapping: FieldMapping,
        request: UploadRequest,
        used: CrsSpec,
    ) -> None:
        """Add what is known of why the coordinates were out of range after reprojection
        from ``used`` to ``error`` (``coordinates_out_of_range``)."""

    def batch(self, read: Reprojected, request: UploadRequest, settings: Settings) -> Batch:
        """The file's features, checked on their own."""
        raise NotImplementedError

    batch_rows: int | None = None
    """Features checked at a time when the kind checks its file in batches (None: all at
    once, the batches gathered first): its batch takes the file's next batches from
    :attr:`Reprojected.more` in :meth:`Batch.check`, so an upload holds one batch, never
    the file."""


def run(
    kind: UploadKind,
    engine: Engine,
    source: Path | BinaryIO,
    request: UploadRequest,
    settings: Settings,
    progress: Progress | None = None,
) -> UploadResult:
    """Take the upload (a file, or the bytes of an HTTP upload) through the pipeline as
    ``kind``: validate it and, unless a dry run, commit it whole."""
    step = progress or (lambda _: None)
    kind.required(request)  # a request that does not fit the kind fails before the read
    step("reading")
    with (
        opened_upload(source, request, settings, kind.geometry) as dataset,
        closing(read_ahead(read_batches(dataset, kind.batch_rows or READ_ROWS))) as batches,
    ):
        return run_layer(kind, engine, next(batches), request, settings, step, batches)


def run_layer(
    kind: UploadKind,
    engine: Engine,
    layer: Layer,
    request: UploadRequest,
    settings: Settings,
    progress: Progress | None = None,
    more: Iterator[Layer] = iter(()),
) -> UploadResult:
    """:func:`run` from a layer already read — a file's (or its first batch, ``more``
    giving the next), or features made in memory (the boundary editor's draft,
    ``gis.edit``).  Fields are mapped and the CRS decided on the first batch."""
    step = progress or (lambda _: None)
    required = kind.required(request)
    mapping = map_fields(layer.fields, request.fields, kind.synonyms)
    points = kind.geometry == "points"
    columns = points and bool(shapely.is_missing(layer.geometries).all())
    if columns:
        required = [*required, "lon", "lat"]
    require_roles(mapping, required, layer.fields, kind.synonyms)
    step("reprojecting")

    def reprojected(layer: Layer, chosen: tuple[CrsSpec, dict[str, Any]] | None) -> Reprojected:
        if points:
            layer = replace(layer, geometries=file_points(layer, mapping, columns))
        chosen = chosen or choose_crs(layer, request)
        try:
            geometries, crs = reproject(layer, chosen)
        except InvalidInput as exc:
            if exc.code == "coordinates_out_of_range":
                kind.explain(engine, exc, layer, mapping, request, chosen[0])
            raise
        return Reprojected(layer, mapping, geometries, chosen[0], crs)

    with young_collections_only():  # the upload's objects live until it ends (collector)
        read = reprojected(layer, None)
        read.more = (reprojected(batch, (read.spec, read.crs)) for batch in more)
        if kind.batch_rows is None:
            read = _gathered(read)
        return _check_and_commit(engine, read, kind.batch(read, request, settings), request, step)


def _gathered(read: Reprojected) -> Reprojected:
    """The whole file from its batches, for a kind that checks every feature at once: one
    layer whose columns are the batches' joined and whose geometries are the EPSG:4326
    ones — each batch's geometries as read are dropped once reprojected, so a province's
    polygons are held once, not twice (``from_wgs84`` gives them back where needed)."""
    columns = {f: list(v) for f, v in read.layer.columns.items()}
    geometries = [read.geometries]
    for batch in read.more:
        for f, values in batch.layer.columns.items():
            columns[f] += values
        geometries.append(batch.geometries)
    joined = np.concatenate(geometries) if len(geometries) > 1 else read.geometries
    layer = replace(read.layer, columns=columns, geometries=joined)
    return Reprojected(layer, read.mapping, joined, read.spec, read.crs)


def _check_and_commit(
    engine: Engine, read: Reprojected, batch: Batch, request: UploadRequest, step: Progress
) -> UploadResult:
    """Check and stage in one transaction; keep it for a commit without errors, else roll
    it back; record the upload either way."""
    problems = ProblemLog()
    with engine.connect() as conn:
        with conn.begin() as tx:
            step("validating")
            problems.extend(batch.check(conn, step))  # first: a batched kind reads its file here
            problems.extend(batch.problems)
            batch.authorize(conn, request.scope)  # dry run or not: 403, nothing recorded
            staged = None
            if problems.errors == 0:
                step("previewing" if request.dry_run else "committing")
                staged = batch.stage(conn)
            report = _report(read, batch, problems, staged)
            if staged is not None and not request.dry_run:
                status = "committed" if any(staged.changes.values()) else "unchanged"
                review = batch.review(staged, stored=staged.version is not None)
                upload_id = record_upload(conn, request, status, report, staged.version, review)
                if batch.table is not None:
                    analyze_if_grown(conn, batch.table, rows_written(staged.changes))
                commit_version(conn, staged.version)
                return UploadResult(upload_id, status, staged.version, report)
            review = batch.review(staged)
            tx.rollback()
        status = "dry_run" if request.dry_run else "rejected"
        with conn.begin():
            upload_id = record_upload(conn, request, status, report, None, review)
    return UploadResult(upload_id, status, None, report)


def _report(
    read: Reprojected, batch: Batch, problems: ProblemLog, staged: Staged | None
) -> dict[str, Any]:
    """The upload's report: ``ok``, ``summary`` (features, errors, warnings, repairs made,
    changes — lists of keys or counts, null when errors blocked them), the file's part
    (:func:`file_report`), the tolerances, the sorted ``problems`` (at most
    :data:`gis.ingest.problems.MAX_LISTED` of a kind; ``problems_omitted`` counts the rest
    by kind) and the repairs."""
    repaired = batch.repairs is not None
    omitted = problems.omitted()
    return {
        "ok": problems.errors == 0,
        "summary": {
            "features": len(read.layer) if batch.features is None else batch.features,
            "errors": problems.errors,
            "warnings": problems.warnings,
            **({"repairs": len(batch.repairs or [])} if repaired else {}),
            "changes": None if staged is None else staged.changes,
        },
        **file_report(read.layer, read.crs, read.mapping),
        **({} if batch.tolerances is None else {"tolerances": asdict(batch.tolerances)}),
        "problems": problems.report(),
        **({"problems_omitted": omitted} if omitted else {}),
        **({"repairs": batch.repairs} if repaired else {}),
    }
