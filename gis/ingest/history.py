"""The upload history: every upload that got as far as a report, with its report.

Boundary uploads also keep their features as they would be stored (the review map's data).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from gis.errors import NotFound

if TYPE_CHECKING:
    from gis.ingest.pipeline import UploadRequest


def record_upload(
    conn: Connection,
    request: UploadRequest,
    status: str,
    report: dict[str, Any],
    version: int | None,
    features: dict[str, Any] | None = None,
) -> int:
    """Record an upload in the history; ``features`` (boundaries) is the review map's GeoJSON."""
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
