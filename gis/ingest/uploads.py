"""Boundary uploads: read, map fields, reproject, validate, then commit all or nothing.

A dry run (the default) returns the validation report and a preview of what would change.
A commit turns the whole file into one new boundary version in one transaction; the
uploaded set replaces the previous children of its parent(s).  Every upload that gets as
far as a report is recorded with its report in the upload history — address registries
too (``gis.ingest.address_uploads`` shares the reading and recording steps defined here).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import Connection, Engine, text

from gis.errors import InvalidInput, NotFound
from gis.geo.crs import CrsSpec, crs_from_file, infer_crs, parse_crs, to_wgs84
from gis.ingest.crs_doctor import References, diagnose
from gis.ingest.fields import (
    INTEGER_ROLES,
    FieldMapping,
    as_code,
    map_fields,
    require_roles,
)
from gis.ingest.readers import Layer, read_upload
from gis.ingest.stored_checks import FIT_KINDS, check_stored, stored_regions
from gis.ingest.validation import Candidate, ParentInfo, Report, Tolerances, validate
from gis.settings import Settings
from gis.store.board import connection_board, publish
from gis.store.models import LEVELS
from gis.store.versions import (
    ATTRIBUTE_COLUMNS,
    STORAGE_GRID_DEG,
    RegionRecord,
    VersionSummary,
    commit_regions,
    lock_boundaries,
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class UploadRequest:
    """What the uploader asked for (``level`` and ``parent`` apply to boundaries only)."""

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
class UploadResult:
    """The recorded upload: its id, status, resulting version and report."""

    id: int
    status: str
    version: int | None
    report: dict[str, Any]


def tolerances(settings: Settings) -> Tolerances:
    """Validation tolerances from the settings."""
    return Tolerances(
        overlap_m2=settings.overlap_tolerance_m2,
        gap_m2=settings.gap_tolerance_m2,
        outside_m2=settings.outside_tolerance_m2,
        sliver_width_m=settings.sliver_width_m,
    )


def json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def free_attributes(values: dict[str, Any]) -> dict[str, Any]:
    """A feature's unmapped fields as free attributes; a field ``attributes`` holding a JSON
    object (as gridmap's GeoJSON has it) gives its members instead, so that a file written
    with nested attributes reads back as it was stored."""
    nested = values.get("attributes")
    if isinstance(nested, str) and nested.lstrip().startswith("{"):
        try:
            nested = json.loads(nested)
        except ValueError:
            return values
    if not isinstance(nested, dict):
        return values
    return {**{k: v for k, v in values.items() if k != "attributes"}, **nested}


def whole_number(value: Any) -> Any:
    """Integers as int; floats and digit strings that are whole numbers too; else as given."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return value


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
    layer: Layer, request: UploadRequest, chosen: tuple[CrsSpec, dict[str, Any]] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The layer's geometries in EPSG:4326 (read in ``chosen``, by default
    :func:`choose_crs`), and how their CRS was decided."""
    spec, decided = chosen or choose_crs(layer, request)
    geometries = to_wgs84(layer.geometries, spec)
    present = geometries[~shapely.is_missing(geometries)]
    coords = shapely.get_coordinates(present)
    lon, lat = coords[:, 0], coords[:, 1]
    if not np.isfinite(coords).all() or (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
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


def _candidates(
    layer: Layer, geometries: np.ndarray, mapping: FieldMapping, request: UploadRequest
) -> tuple[list[Candidate], list[dict[str, Any]]]:
    roles = mapping.roles
    candidates, problems = [], []
    for i, geom in enumerate(geometries):

        def value(role: str, i: int = i) -> Any:
            return layer.columns[roles[role]][i] if role in roles else None

        parent_field = as_code(value("parent_code"))
        parent = request.parent or parent_field
        code = as_code(value("code"))
        if request.parent and parent_field and parent_field != request.parent:
            problems.append(
                {
                    "kind": "parent_mismatch",
                    "severity": "error",
                    "code": code,
                    "feature": i + 1,
                    "message": f"上级编码字段为 {parent_field}，但上传指定上级为 {request.parent} "
                    "(the feature's parent code differs from the upload's parent)",
                    "location": [],
                }
            )
        name = value("name")
        candidates.append(
            Candidate(
                feature=i + 1,
                code=code,
                name=str(name).strip() if name is not None and str(name).strip() else None,
                parent_code=parent,
                geometry=geom,
                values={role: whole_number(value(role)) for role in INTEGER_ROLES if role in roles},
                attributes=free_attributes(
                    {
                        f: json_safe(layer.columns[f][i])
                        for f in mapping.unmapped
                        if layer.columns[f][i] is not None
                    }
                ),
            )
        )
        for role in ("grid_worker", "grid_worker_phone", "party_branch"):
            v = value(role)
            candidates[-1].values[role] = None if v is None else str(json_safe(v)).strip()
    return candidates, problems


def _parents(conn: Connection, codes: set[str]) -> dict[str, ParentInfo]:
    rows = conn.execute(
        text(
            "SELECT code, level, ST_AsBinary(geom) FROM regions "
            "WHERE valid_to IS NULL AND code = ANY(:codes)"
        ),
        {"codes": sorted(codes)},
    ).all()
    return {
        code: ParentInfo(code, level, shapely.from_wkb(bytes(wkb))) for code, level, wkb in rows
    }


def _removals(
    conn: Connection, level: str, parents: set[str], keep: set[str]
) -> tuple[list[str], dict[str, int]]:
    """Current regions of ``level`` under ``parents`` that the upload drops; and their children."""
    if not parents:
        return [], {}
    removed = [
        c
        for c in conn.scalars(
            text(
                "SELECT code FROM regions WHERE valid_to IS NULL AND level = :level "
                "AND parent_code = ANY(:parents) ORDER BY code"
            ),
            {"level": level, "parents": sorted(parents)},
        )
        if c not in keep
    ]
    orphans = dict(
        conn.execute(
            text(
                "SELECT parent_code, count(*) FROM regions WHERE valid_to IS NULL "
                "AND parent_code = ANY(:codes) GROUP BY parent_code"
            ),
            {"codes": removed},
        ).all()
    )
    return removed, orphans


def _references(
    candidates: list[Candidate], same: dict[int, Any], parents: dict[str, ParentInfo]
) -> References:
    """What the CRS doctor compares the file with: each feature's stored region of the same
    code, else its stored parent."""
    return References(
        same=same,
        parents={
            i: parents[c.parent_code].geometry
            for i, c in enumerate(candidates)
            if i not in same and c.parent_code in parents
        },
    )


def _suggestion(doctor: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The doctor's suggestion as a report problem (a warning: the errors it explains block)."""
    if not doctor or not doctor["suggestion"]:
        return []
    suggestion = doctor["suggestion"]
    return [
        {
            "kind": "crs_suggestion",
            "severity": "warning",
            "code": None,
            "feature": None,
            "message": suggestion["message"],
            "location": [],
            "crs": suggestion["crs"],
            "fit": suggestion["fit"],
        }
    ]


def _explain(
    engine: Engine,
    exc: InvalidInput,
    layer: Layer,
    mapping: FieldMapping,
    request: UploadRequest,
    used: CrsSpec,
) -> None:
    """Add the CRS doctor's finding to a ``coordinates_out_of_range`` error, comparing the raw
    file with the stored regions of its codes or its stored parents."""
    raw, _ = _candidates(layer, layer.geometries, mapping, request)
    with engine.connect() as conn:
        stored = stored_regions(conn, sorted({c.code for c in raw if c.code}))
        parents = _parents(conn, {c.parent_code for c in raw if c.parent_code})
    same = {
        i: stored[c.code].geometry
        for i, c in enumerate(raw)
        if c.code in stored and stored[c.code].level == request.level
    }
    doctor = diagnose(layer.geometries, used, _references(raw, same, parents))
    exc.details["crs_doctor"] = doctor
    if doctor and doctor["suggestion"]:
        exc.message = f"{exc.message}。{doctor['suggestion']['message']}"


def _record_moves(conn: Connection, number: int, moved: list[str]) -> None:
    """Record in the version the regions it moved (allowed with ``allow_moves``)."""
    conn.execute(
        text(
            "UPDATE boundary_versions SET changes = changes || jsonb_build_object('moved', "
            "CAST(:moved AS jsonb)) WHERE number = :n"
        ),
        {"n": number, "moved": json.dumps(sorted(moved))},
    )


def record_upload(
    conn: Connection,
    request: UploadRequest,
    status: str,
    report: dict[str, Any],
    version: int | None,
    features: dict[str, Any] | None = None,
) -> int:
    """Record an upload in the history; ``features`` (boundaries) as :func:`upload_features`."""
    return conn.scalar(
        text(
            "INSERT INTO uploads (author, filename, kind, level, parent_code, status, params, "
            "report, version, features) VALUES (:author, :filename, :kind, :level, :parent, "
            ":status, CAST(:params AS jsonb), CAST(:report AS jsonb), :version, "
            "CAST(:features AS jsonb)) RETURNING id"
        ),
        {
            "author": request.author,
            "filename": request.filename,
            "kind": request.kind,
            "level": request.level,
            "parent": request.parent,
            "status": status,
            "params": json.dumps(request.params(), ensure_ascii=False),
            "report": json.dumps(report, ensure_ascii=False),
            "version": version,
            "features": None if features is None else json.dumps(features, ensure_ascii=False),
        },
    )


def upload_features(candidates: list[Candidate], summary: VersionSummary | None) -> dict[str, Any]:
    """The file's regions as they would be stored, for the review map: a GeoJSON
    FeatureCollection (EPSG:4326, at storage precision) whose properties say what the upload
    does to each region — ``added``, ``modified``, ``unchanged``, or null when errors kept
    the change from being worked out."""

    def change(code: str | None) -> str | None:
        if summary is None:
            return None
        if code in added:
            return "added"
        return "modified" if code in modified else "unchanged"

    added, modified = (set(summary.added), set(summary.modified)) if summary else (set(), set())
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "feature": c.feature,
                    "code": c.code,
                    "name": c.name,
                    "change": change(c.code),
                },
                "geometry": None
                if c.geometry is None
                else mapping(shapely.set_precision(c.geometry, STORAGE_GRID_DEG)),
            }
            for c in candidates
        ],
    }


def sorted_problems(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems for a report: errors first, then by feature and kind."""
    return sorted(problems, key=lambda p: (p["severity"] != "error", p["feature"] or 0, p["kind"]))


def file_report(layer: Layer, crs: dict[str, Any], mapping: FieldMapping) -> dict[str, Any]:
    """What the report says about the file: format, encoding, CRS and field mapping."""
    return {
        "file": {"source": layer.source, "format": layer.driver, "layer": layer.layer},
        "encoding": None
        if layer.encoding is None
        else {
            "encoding": layer.encoding.encoding,
            "source": layer.encoding.source,
            "reason": layer.encoding.reason,
        },
        "crs": crs,
        "output_crs": "EPSG:4326",
        "fields": mapping.to_report(),
    }


def _report(
    layer: Layer,
    crs: dict[str, Any],
    mapping: FieldMapping,
    found: Report,
    tol: Tolerances,
    summary: VersionSummary | None,
) -> dict[str, Any]:
    return {
        "ok": found.errors == 0,
        "summary": {
            "features": len(layer),
            "errors": found.errors,
            "warnings": found.warnings,
            "repairs": len(found.repairs),
            "changes": None
            if summary is None
            else {"added": summary.added, "modified": summary.modified, "removed": summary.removed},
        },
        **file_report(layer, crs, mapping),
        "tolerances": {
            "overlap_m2": tol.overlap_m2,
            "gap_m2": tol.gap_m2,
            "outside_m2": tol.outside_m2,
            "sliver_width_m": tol.sliver_width_m,
        },
        "problems": sorted_problems(found.problems),
        "repairs": found.repairs,
    }


def read_layer(
    path: Path, request: UploadRequest, settings: Settings, geometry: str = "polygons"
) -> Layer:
    """Read the uploaded file (an archive is unpacked in a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="gridmap-upload-") as workdir:
        return read_upload(
            path,
            request.filename,
            Path(workdir),
            layer=request.layer,
            encoding=request.encoding,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_entries=settings.max_archive_entries,
            geometry=geometry,
        )


def process_upload(
    engine: Engine,
    path: Path,
    request: UploadRequest,
    settings: Settings,
    progress: Progress | None = None,
) -> UploadResult:
    """Validate the uploaded file at ``path`` and, unless a dry run, commit it as a version."""
    step = progress or (lambda _: None)
    if request.level not in LEVELS:
        raise InvalidInput(
            f"未知层级 {request.level} (unknown level; expected one of {list(LEVELS)})",
            code="invalid_level",
            details={"level": request.level},
        )
    step("reading")
    layer = read_layer(path, request, settings)
    mapping = map_fields(layer.fields, request.fields)
    required = ["code", "name"]
    if request.level != "county" and not request.parent:
        required.append("parent_code")
    require_roles(mapping, required, layer.fields)
    step("reprojecting")
    chosen = choose_crs(layer, request)
    try:
        geometries, crs = reproject(layer, request, chosen)
    except InvalidInput as exc:
        if exc.code == "coordinates_out_of_range":
            _explain(engine, exc, layer, mapping, request, chosen[0])
        raise
    candidates, early = _candidates(layer, geometries, mapping, request)
    tol = tolerances(settings)

    with engine.connect() as conn:
        with conn.begin() as tx:
            lock_boundaries(conn)
            parents = _parents(conn, {c.parent_code for c in candidates if c.parent_code})
            if request.parent and request.parent not in parents:
                raise NotFound(
                    f"上级区域 {request.parent} 不存在 (the parent region does not exist)",
                    code="parent_not_found",
                    details={"parent": request.parent},
                )
            step("validating")
            found = validate(
                candidates,
                level=request.level,
                parents=parents,
                tolerances=tol,
                repair=request.repair,
            )
            found.problems[:0] = early
            codes = {c.code for c in candidates if c.code}
            removed, orphans = (
                _removals(conn, request.level, set(parents), codes)
                if request.level != "county"
                else ([], {})
            )
            stored = check_stored(
                conn,
                candidates,
                level=request.level,
                removed=removed,
                tolerances=tol,
                allow_moves=request.allow_moves,
            )
            found.problems += stored.problems
            crs["doctor"] = None
            if any(p["kind"] in FIT_KINDS and p["severity"] == "error" for p in found.problems):
                step("diagnosing")
                references = _references(candidates, stored.same, parents)
                crs["doctor"] = diagnose(layer.geometries, chosen[0], references)
                found.problems += _suggestion(crs["doctor"])
            found.problems += [
                {
                    "kind": "would_orphan_children",
                    "severity": "error",
                    "code": code,
                    "feature": None,
                    "message": f"上传将删除 {code}，但它仍有 {n} 个下级区域 "
                    f"(the upload drops {code}, which still has {n} child regions)",
                    "location": [],
                }
                for code, n in sorted(orphans.items())
            ]
            summary = None
            if found.errors == 0:
                step("committing" if not request.dry_run else "previewing")
                wkbs = shapely.to_wkb(np.array([c.geometry for c in candidates], dtype=object))
                summary = commit_regions(
                    conn,
                    [
                        RegionRecord(
                            code=c.code,
                            level=request.level,
                            name=c.name,
                            parent_code=c.parent_code if request.level != "county" else None,
                            wkb=wkb,
                            attributes=c.attributes,
                            **c.values,
                        )
                        for c, wkb in zip(candidates, wkbs.tolist(), strict=True)
                    ],
                    author=request.author,
                    action="upload",
                    message=f"upload of {request.filename} ({request.level})",
                    remove=removed,
                    keep=[c for c in ATTRIBUTE_COLUMNS if c not in mapping.roles],
                    merge_attributes=True,
                )
            report = _report(layer, crs, mapping, found, tol, summary)
            features = upload_features(candidates, summary)
            if summary is not None and not request.dry_run:
                status = "committed" if summary.number is not None else "unchanged"
                if summary.number is not None and stored.moved:
                    _record_moves(conn, summary.number, stored.moved)
                upload_id = record_upload(conn, request, status, report, summary.number, features)
                board = connection_board(conn)
                tx.commit()
                publish(board, summary.number)
                return UploadResult(upload_id, status, summary.number, report)
            tx.rollback()
        status = "dry_run" if request.dry_run else "rejected"
        with conn.begin():
            upload_id = record_upload(conn, request, status, report, None, features)
    return UploadResult(upload_id, status, None, report)


def file_points(layer: Layer, mapping: FieldMapping) -> np.ndarray:
    """Each feature's point in the file's CRS (None where it has no usable one): its point
    geometry (a one-point MultiPoint too) or, in a layer without geometries, its lon/lat
    fields."""
    if not shapely.is_missing(layer.geometries).all():
        single = shapely.get_geometry(layer.geometries, 0)
        usable = (shapely.get_num_geometries(layer.geometries) == 1) & ~shapely.is_empty(single)
        return np.where(
            usable & (shapely.get_type_id(single) == shapely.GeometryType.POINT), single, None
        )

    def number(value: Any) -> float | None:
        try:
            x = float(str(value).strip())
        except ValueError:
            return None
        return x if np.isfinite(x) else None

    lon, lat = (layer.columns[mapping.roles[role]] for role in ("lon", "lat"))
    xy = [(number(x), number(y)) for x, y in zip(lon, lat, strict=True)]
    return np.array(
        [None if x is None or y is None else shapely.Point(x, y) for x, y in xy], dtype=object
    )


def write_all_or_nothing(
    engine: Engine,
    request: UploadRequest,
    report: dict[str, Any],
    problems: list[dict[str, Any]],
    check: Callable[[Connection], list[dict[str, Any]]],
    write: Callable[[Connection], dict[str, Any]],
    step: Progress,
) -> UploadResult:
    """Finish a non-boundary upload in one transaction: ``check`` adds the problems only the
    database can tell; without errors ``write`` makes the changes (kept for a commit, rolled
    back for a dry run's preview); the upload and its report are recorded either way.

    ``report`` holds the file's part (:func:`file_report`); this adds ``ok``, ``summary``
    (features, errors, warnings, changes — lists of keys or counts) and the sorted
    ``problems``.
    """
    with engine.connect() as conn:
        with conn.begin() as tx:
            step("validating")
            problems = problems + check(conn)
            errors = sum(p["severity"] == "error" for p in problems)
            changes = None
            if errors == 0:
                step("previewing" if request.dry_run else "committing")
                changes = write(conn)
            report = {
                "ok": errors == 0,
                "summary": {
                    "features": report.pop("features"),
                    "errors": errors,
                    "warnings": len(problems) - errors,
                    "changes": changes,
                },
                **report,
                "problems": sorted_problems(problems),
            }
            if changes is not None and not request.dry_run:
                status = "committed" if any(changes.values()) else "unchanged"
                upload_id = record_upload(conn, request, status, report, None)
                tx.commit()
                return UploadResult(upload_id, status, None, report)
            tx.rollback()
        status = "dry_run" if request.dry_run else "rejected"
        with conn.begin():
            upload_id = record_upload(conn, request, status, report, None)
    return UploadResult(upload_id, status, None, report)


def list_uploads(conn: Connection, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Uploads newest first (without their reports), and how many there are."""
    total = conn.scalar(text("SELECT count(*) FROM uploads")) or 0
    rows = conn.execute(
        text(
            "SELECT id, created_at, author, filename, kind, level, parent_code, status, version, "
            "report -> 'summary' AS summary FROM uploads ORDER BY id DESC "
            "LIMIT :limit OFFSET :offset"
        ),
        {"limit": limit, "offset": offset},
    ).mappings()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows], total


def get_upload(conn: Connection, upload_id: int) -> dict[str, Any]:
    """One upload with its parameters and full report."""
    row = (
        conn.execute(
            text(
                "SELECT id, created_at, author, filename, kind, level, parent_code, status, "
                "version, params, report, features FROM uploads WHERE id = :id"
            ),
            {"id": upload_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"上传记录 {upload_id} 不存在 (no upload {upload_id})",
            code="upload_not_found",
            details={"id": upload_id},
        )
    return {**row, "created_at": row["created_at"].isoformat()}
