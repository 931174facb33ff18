"""The upload history: every upload that got as far as a report, with its report.

Boundary uploads also keep their features as they would be stored (the review map's data),
as rows of ``upload_features`` written with COPY and read back as GeoJSON by PostGIS: no
document of a city's (or a province's) polygons is built or parsed in Python.  A committed
upload's rows hold no geometry: its regions are stored rows of ``regions``, read at the
upload's version (a province's 1 000 000 polygons are not written twice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from gis.errors import NotFound
from gis.query.cursor import count_matching
from gis.store.stored_form import GEOMETRY_COPY_TYPE
from gis.store.versions import valid_at

if TYPE_CHECKING:
    from gis.ingest.pipeline import UploadRequest


@dataclass(frozen=True)
class ReviewFeatures:
    """A boundary upload's features for the review map, column by column: the feature's
    number in the file, its code and name, what the upload does to it (``change``: added,
    modified, unchanged; None when errors blocked the change) and its geometry as stored,
    ready for COPY (``gis.store.stored_form.for_copy`` of ``stored_form``; None where it has
    none).  ``geometries`` is None for a committed upload's features: each is the stored
    region of its code at the version the upload made."""

    features: list[int]
    codes: list[str | None]
    names: list[str | None]
    changes: list[str | None]
    geometries: list[bytes | None] | None


def record_upload(
    conn: Connection,
    request: UploadRequest,
    status: str,
    report: dict[str, Any],
    version: int | None,
    features: ReviewFeatures | None = None,
) -> int:
    """Record an upload in the history, with the review map's ``features`` (boundaries;
    without geometries only when it made ``version``, whose rows hold them)."""
    upload_id = conn.scalar(
        text(
            "INSERT INTO uploads (author, filename, kind, level, parent_code, status, params, "
            "report, version) VALUES (:author, :filename, :kind, :level, :parent, "
            ":status, CAST(:params AS jsonb), CAST(:report AS jsonb), :version) RETURNING id"
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
        },
    )
    if features is not None:
        if features.geometries is None and version is None:
            raise ValueError("review features without geometries need the version holding them")
        _write_features(conn, upload_id, features)
    return upload_id


def _write_features(conn: Connection, upload_id: int, review: ReviewFeatures) -> None:
    geometries = review.geometries or [None] * len(review.features)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(
        "COPY upload_features (upload_id, feature, code, name, change, geom) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["int8", "int4", "text", "text", "text", GEOMETRY_COPY_TYPE])
        columns = (review.features, review.codes, review.names, review.changes)
        for row in zip(*columns, geometries, strict=True):
            copy.write_row((upload_id, *row))


_FEATURES_SQL = f"""
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
    json_build_object(
        'type', 'Feature',
        'properties', json_build_object(
            'feature', f.feature, 'code', f.code, 'name', f.name, 'change', f.change),
        'geometry', ST_AsGeoJSON(coalesce(f.geom, r.geom))::json)
    ORDER BY f.feature), '[]'::json))::text
FROM upload_features f JOIN uploads u ON u.id = f.upload_id
LEFT JOIN regions r ON f.geom IS NULL AND u.version IS NOT NULL AND r.code = f.code
    AND {valid_at("r", "u.version")}
WHERE f.upload_id = :id
"""


def review_collection(conn: Connection, upload_id: int) -> dict[str, Any]:
    """A boundary upload's features as a GeoJSON FeatureCollection (EPSG:4326, at storage
    precision), each feature's properties: ``feature``, ``code``, ``name``, ``change``."""
    return json.loads(conn.scalar(text(_FEATURES_SQL), {"id": upload_id}))


def list_uploads(
    conn: Connection,
    *,
    limit: int,
    offset: int = 0,
    after: int | None = None,
    exact_up_to: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Uploads newest first (without their reports), and how many there are.

    ``after``: the uploads older than that id (a keyset page: the primary key finds its
    start, no rows are skipped one by one).  ``exact_up_to``: the total is counted exactly up
    to it and estimated beyond (``gis.query.cursor.count_matching``)."""
    total = count_matching(conn, "uploads", {}, exact_up_to)
    older = "WHERE id < :after " if after is not None else ""
    rows = conn.execute(
        text(
            "SELECT id, created_at, author, filename, kind, level, parent_code, status, version, "
            f"report -> 'summary' AS summary FROM uploads {older}ORDER BY id DESC "
            "LIMIT :limit OFFSET :offset"
        ),
        {"limit": limit, "offset": offset, "after": after},
    ).mappings()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows], total


def get_upload(conn: Connection, upload_id: int) -> dict[str, Any]:
    """One upload with its parameters and full report."""
    row = (
        conn.execute(
            text(
                "SELECT id, created_at, author, filename, kind, level, parent_code, status, "
                "version, params, report FROM uploads WHERE id = :id"
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
    features = review_collection(conn, upload_id) if row["kind"] == "boundaries" else None
    return {**row, "created_at": row["created_at"].isoformat(), "features": features}
