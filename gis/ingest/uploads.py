"""Uploads of every kind: the kinds of the upload pipeline (``gis.ingest.pipeline``), by name.

One entry point, :func:`process_upload`, for the HTTP API, the ``gridmap import`` command
and the benchmarks: it runs the pipeline as the request's kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine

from gis.ingest.address_uploads import Addresses
from gis.ingest.boundary_uploads import Boundaries
from gis.ingest.layer_uploads import CAMERA_UPLOADS, CENTRE_UPLOADS, ROAD_UPLOADS
from gis.ingest.pipeline import Progress, UploadKind, UploadRequest, UploadResult, run
from gis.settings import Settings
from gis.store.models import UPLOAD_KINDS

KINDS: dict[str, UploadKind] = {
    "boundaries": Boundaries(),
    "addresses": Addresses(),
    "centres": CENTRE_UPLOADS,
    "cameras": CAMERA_UPLOADS,
    "roads": ROAD_UPLOADS,
}
"""Each kind of upload (:data:`gis.store.models.UPLOAD_KINDS`) and how the pipeline reads it."""
assert tuple(KINDS) == UPLOAD_KINDS, "every upload kind the database takes has its plug-in"


def process_upload(
    engine: Engine,
    source: Path | BinaryIO,
    request: UploadRequest,
    settings: Settings,
    progress: Progress | None = None,
) -> UploadResult:
    """Validate the uploaded file (at ``source``, or the bytes of an HTTP upload, saved once)
    as ``request.kind`` and, unless a dry run, commit it: boundaries as one new version,
    addresses inserted or updated by code, centres and cameras by name and device ID, roads
    replacing the stored ones."""
    return run(KINDS[request.kind], engine, source, request, settings, progress)
